//! `crosslock.public.v1.SwapService`: quotes, orders, reads, the watch stream and the reveal.
//!
//! Owns the maker-facing calls. A reveal goes through the state machine like any event, so the
//! secret is committed (with its event) before the resolver can learn it; the core refuses it
//! until both locks are final and enough time is left. An ETH -> BTC reveal's pre-signed claim
//! ladder is checked against the swap's dst HTLC (`ladder`) before anything is written, and the
//! write names the record version that was checked. This module must never log a secret.

use std::pin::Pin;
use std::time::Duration;

use crosslock_core::chain::{Asset, BtcPubkey, EthAddress};
use crosslock_core::order::Direction;
use crosslock_core::secret::{Secret, SwapId};
use crosslock_core::swap::{Event, PresignedClaim};
use crosslock_core::time::UnixTime;
use crosslock_core::validate::{OrderError, RawOrder, parse_order};
use crosslock_proto::public::v1 as pb;
use crosslock_proto::public::v1::swap_service_server::SwapService;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::debug;

use super::{
    Ctx, invalid, parse_address, parse_asset, parse_id16, parse_pubkey, parse_swap_id,
    store_status, transition_status,
};
use crate::ladder::{self, LadderRefusal};
use crate::quote::{price, windows};
use crate::store::{Input, NewSwap, StoreError, check_input, now_unix};
use crate::view::{asset_pb, direction_pb};

/// How often a watch stream re-reads Postgres, in case a pub/sub message was lost (Redis
/// flushed or down). One primary-key read per open stream.
const WATCH_RECHECK: Duration = Duration::from_secs(2);
/// Most claims in a maker's fee ladder.
const MAX_SIGNED_CLAIMS: usize = ladder::MAX_RUNGS;
/// Largest raw transaction accepted.
const MAX_RAW_TX: usize = 100_000;
/// Reads and checks of a reveal before a concurrent writer's changes make it give up.
const REVEAL_TRIES: u32 = 3;

/// The public service.
#[derive(Debug, Clone)]
pub struct Public {
    ctx: Ctx,
}

impl Public {
    /// A new service.
    pub fn new(ctx: Ctx) -> Public {
        Public { ctx }
    }
}

/// A quote as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredQuote {
    /// `BTC`, `ETH` or a token address.
    pub src_asset: String,
    /// Same.
    pub dst_asset: String,
    /// Base units.
    pub src_amount: String,
    /// Base units.
    pub dst_amount: String,
    /// Window promised, seconds.
    pub src_window_secs: u64,
    /// Window promised, seconds.
    pub dst_window_secs: u64,
}

fn asset_text(a: Asset) -> String {
    match a {
        Asset::Btc => "BTC".to_owned(),
        Asset::Eth => "ETH".to_owned(),
        Asset::Erc20(t) => t.checksummed(),
    }
}

fn amount_units(field: &str, s: &str) -> Result<u128, Status> {
    if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            field,
            "must be a decimal integer of base units (at most 39 digits)",
        ));
    }
    let n: u128 = s
        .parse()
        .map_err(|_| invalid(field, "does not fit in 128 bits"))?;
    if n == 0 {
        return Err(invalid(field, "must not be zero"));
    }
    Ok(n)
}

fn order_status(e: &OrderError) -> Status {
    match e {
        OrderError::ChainId { .. } => invalid("chain_id", e),
        // The quote supplied assets and amounts: a bound the quote did not check is ours.
        OrderError::GiveAsset(_)
        | OrderError::TakeAsset(_)
        | OrderError::SameChain
        | OrderError::GiveAmount(_)
        | OrderError::TakeAmount(_) => Status::failed_precondition(format!("quote_id: {e}")),
        // The other variants' messages start with the field's name.
        _ => Status::invalid_argument(e.to_string()),
    }
}

fn check_idempotency_key(k: &str) -> Result<(), Status> {
    if !(16..=64).contains(&k.len())
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "idempotency_key",
            "must be 16 to 64 characters of [A-Za-z0-9_-]",
        ));
    }
    Ok(())
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::SwapUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl SwapService for Public {
    async fn get_quote(
        &self,
        request: Request<pb::GetQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        self.ctx.rate_limit(&request).await?;
        let r = request.into_inner();
        let dir = match pb::Direction::try_from(r.direction) {
            Ok(pb::Direction::BtcToEth) => Direction::BtcToEth,
            Ok(pb::Direction::EthToBtc) => Direction::EthToBtc,
            _ => return Err(invalid("direction", "must be BTC_TO_ETH or ETH_TO_BTC")),
        };
        let src = parse_asset("src_asset", r.src_asset.as_ref())?;
        let dst = parse_asset("dst_asset", r.dst_asset.as_ref())?;
        if src.chain() != dir.src_chain() {
            return Err(invalid(
                "src_asset",
                "is not on the direction's source chain",
            ));
        }
        if dst.chain() != dir.dst_chain() {
            return Err(invalid(
                "dst_asset",
                "is not on the direction's destination chain",
            ));
        }
        let units = amount_units("src_amount", &r.src_amount)?;
        self.ctx.not_paused().await?;
        let out = price(&self.ctx.quote, src, dst, units)
            .ok_or_else(|| Status::failed_precondition("no price for this pair"))?;
        let p = self.ctx.network.params();
        // Check both amounts against the network's bounds now, with the core's own parser.
        let now = UnixTime(now_unix());
        let ttl = self.ctx.quote.ttl_secs.min(p.max_quote_ttl.0).max(1);
        let probe = RawOrder {
            chain_id: p.eth_chain_id.0,
            hashlock: "00".repeat(32),
            give_asset: asset_text(src),
            give_amount: units.to_string(),
            take_asset: asset_text(dst),
            take_amount: out.to_string(),
            maker_btc_pubkey: format!("02{}", "11".repeat(32)),
            maker_eth_address: format!("0x{}", "11".repeat(20)),
            quote_expires: now.0 + ttl,
        };
        match parse_order(&probe, self.ctx.network, now) {
            Ok(_) => {}
            Err(OrderError::GiveAmount(e)) => return Err(invalid("src_amount", e)),
            Err(OrderError::TakeAmount(e)) => {
                return Err(invalid(
                    "src_amount",
                    format!("the maker would receive: {e}"),
                ));
            }
            Err(e) => return Err(order_status(&e)),
        }
        let (src_window, dst_window) = windows(p, self.ctx.quote.dst_window_secs, dir);
        let stored = StoredQuote {
            src_asset: asset_text(src),
            dst_asset: asset_text(dst),
            src_amount: units.to_string(),
            dst_amount: out.to_string(),
            src_window_secs: src_window,
            dst_window_secs: dst_window,
        };
        let id = crate::random_id().map_err(|_| Status::internal("internal error"))?;
        let body =
            serde_json::to_string(&stored).map_err(|_| Status::internal("internal error"))?;
        let expires = now.0 + ttl;
        self.ctx
            .engine
            .store
            .put_quote(id, &body, expires)
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::Quote {
            quote_id: hex::encode(id),
            direction: direction_pb(dir).into(),
            src_asset: Some(asset_pb(src)),
            dst_asset: Some(asset_pb(dst)),
            src_amount: stored.src_amount,
            dst_amount: stored.dst_amount,
            expires_at: i64::try_from(expires).unwrap_or(i64::MAX),
            src_window_secs: src_window,
            dst_window_secs: dst_window,
            chain_id: p.eth_chain_id.0,
        }))
    }

    async fn submit_order(
        &self,
        request: Request<pb::SubmitOrderRequest>,
    ) -> Result<Response<pb::SubmitOrderResponse>, Status> {
        self.ctx.rate_limit(&request).await?;
        let r = request.into_inner();
        check_idempotency_key(&r.idempotency_key)?;
        let quote_id = parse_id16("quote_id", &r.quote_id)?;
        if r.hashlock.len() != 32 {
            return Err(invalid(
                "hashlock",
                format!("must be exactly 32 bytes, got {}", r.hashlock.len()),
            ));
        }
        let pubkey: BtcPubkey = parse_pubkey("maker_btc_pubkey", &r.maker_btc_pubkey)?;
        let address: EthAddress = parse_address("maker_eth_address", &r.maker_eth_address)?;
        let p = self.ctx.network.params();
        if r.chain_id != p.eth_chain_id.0 {
            return Err(invalid(
                "chain_id",
                format!("must be {} on {}", p.eth_chain_id.0, self.ctx.network),
            ));
        }
        let digest: [u8; 32] = {
            let mut h = Sha256::new();
            h.update(quote_id);
            h.update(&r.hashlock);
            h.update(pubkey.as_bytes());
            h.update(address.0);
            h.update(r.chain_id.to_be_bytes());
            h.finalize().into()
        };
        // A retry: answer from what was stored, whatever the quote's state now. Redis first;
        // Postgres (the unique idempotency_key column) is the truth when Redis has forgotten.
        if let Some(v) = self
            .ctx
            .engine
            .cache
            .idempotent_swap(&r.idempotency_key)
            .await
            && let Some((sid, d)) = v.split_once(':')
        {
            if d != hex::encode(digest) {
                return Err(store_status(StoreError::IdempotencyMismatch));
            }
            if let Ok(id) = parse_swap_id("swap_id", sid)
                && let Ok(view) = self.ctx.engine.view(id).await
            {
                return Ok(Response::new(pb::SubmitOrderResponse { swap: Some(view) }));
            }
        }
        if let Some((d, view)) = self
            .ctx
            .engine
            .store
            .by_idempotency_key(&r.idempotency_key)
            .await
            .map_err(store_status)?
        {
            if d != digest {
                return Err(store_status(StoreError::IdempotencyMismatch));
            }
            return Ok(Response::new(pb::SubmitOrderResponse { swap: Some(view) }));
        }
        self.ctx.not_paused().await?;
        let (body, expires) = self
            .ctx
            .engine
            .store
            .quote(quote_id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found("quote_id: no such quote"))?;
        let now = UnixTime(now_unix());
        if expires <= now.0 {
            return Err(Status::failed_precondition(
                "quote_id: the quote has expired",
            ));
        }
        let q: StoredQuote = serde_json::from_str(&body).map_err(|e| {
            tracing::error!(error = %e, "stored quote unreadable");
            Status::internal("internal error")
        })?;
        let raw = RawOrder {
            chain_id: r.chain_id,
            hashlock: hex::encode(&r.hashlock),
            give_asset: q.src_asset,
            give_amount: q.src_amount,
            take_asset: q.dst_asset,
            take_amount: q.dst_amount,
            maker_btc_pubkey: hex::encode(pubkey.as_bytes()),
            maker_eth_address: address.checksummed(),
            quote_expires: expires,
        };
        let order = parse_order(&raw, self.ctx.network, now).map_err(|e| order_status(&e))?;
        // A swap is created on the chains' clock; before both watchers ran there is none.
        if !self
            .ctx
            .engine
            .store
            .heads_known()
            .await
            .map_err(store_status)?
        {
            return Err(Status::unavailable(
                "chain heads not known yet; retry shortly",
            ));
        }
        let clock = self.ctx.engine.store.clock().await.map_err(store_status)?;
        let id = SwapId(crate::random_id().map_err(|_| Status::internal("internal error"))?);
        let created = self
            .ctx
            .engine
            .create(&NewSwap {
                id,
                order,
                clock,
                idempotency_key: r.idempotency_key,
                request_digest: digest,
            })
            .await
            .map_err(store_status)?;
        Ok(Response::new(pb::SubmitOrderResponse {
            swap: Some(created.view),
        }))
    }

    async fn get_swap(
        &self,
        request: Request<pb::GetSwapRequest>,
    ) -> Result<Response<pb::Swap>, Status> {
        let id = parse_swap_id("swap_id", &request.get_ref().swap_id)?;
        let s = self.ctx.engine.view(id).await.map_err(store_status)?;
        Ok(Response::new(s))
    }

    type WatchSwapStream = WatchStream;

    async fn watch_swap(
        &self,
        request: Request<pb::WatchSwapRequest>,
    ) -> Result<Response<Self::WatchSwapStream>, Status> {
        let r = request.into_inner();
        let id = parse_swap_id("swap_id", &r.swap_id)?;
        // Subscribe before reading, so no update falls between the read and the subscription.
        let mut updates = self.ctx.engine.cache.subscribe_local();
        let current = self.ctx.engine.store.view(id).await.map_err(store_status)?;
        let (tx, rx) = mpsc::channel(16);
        let store = self.ctx.engine.store.clone();
        let key = r.swap_id.clone();
        let mut last = r.after_version;
        let mut shutdown = self.ctx.shutdown.clone();
        tokio::spawn(async move {
            let send = |s: pb::Swap, event: String, last: &mut u64| {
                let done = is_terminal(&s);
                let fresh = s.version > *last;
                if fresh {
                    *last = s.version;
                }
                (
                    fresh,
                    done,
                    pb::SwapUpdate {
                        swap: Some(s),
                        event,
                    },
                )
            };
            let (fresh, done, u) = send(current, "current".to_owned(), &mut last);
            if fresh && tx.send(Ok(u)).await.is_err() {
                return;
            }
            if done {
                return;
            }
            let mut tick = tokio::time::interval(WATCH_RECHECK);
            loop {
                let next = tokio::select! {
                    () = tx.closed() => return,
                    _ = shutdown.changed() => return,
                    m = updates.recv() => match m {
                        Ok(u) => match u.swap {
                            Some(s) if s.swap_id == key => Some((s, u.event)),
                            _ => None,
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            store.view(id).await.ok().map(|s| (s, "updated".to_owned()))
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = tick.tick() => store.view(id).await.ok().map(|s| (s, "updated".to_owned())),
                };
                if let Some((s, event)) = next {
                    let (fresh, done, u) = send(s, event, &mut last);
                    if fresh && tx.send(Ok(u)).await.is_err() {
                        return;
                    }
                    if fresh && done {
                        debug!("watch ends: swap is terminal");
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_swaps(
        &self,
        request: Request<pb::ListSwapsRequest>,
    ) -> Result<Response<pb::ListSwapsResponse>, Status> {
        let r = request.into_inner();
        let (eth, btc) = if r.maker.starts_with("0x") || r.maker.starts_with("0X") {
            (Some(parse_address("maker", &r.maker)?.0.to_vec()), None)
        } else if r.maker.is_empty() {
            return Err(invalid("maker", "required"));
        } else {
            let k = BtcPubkey::from_hex(&r.maker).map_err(|e| invalid("maker", e))?;
            (None, Some(k.as_bytes().to_vec()))
        };
        let size = match r.page_size {
            0 => 20,
            n @ 1..=100 => n,
            _ => return Err(invalid("page_size", "must be 0 to 100")),
        };
        let after = if r.page_token.is_empty() {
            None
        } else {
            Some(parse_page_token(&r.page_token)?)
        };
        let rows = self
            .ctx
            .engine
            .store
            .list_by_maker(eth.as_deref(), btc.as_deref(), after, i64::from(size) + 1)
            .await
            .map_err(store_status)?;
        let more = rows.len() > usize::try_from(size).unwrap_or(usize::MAX);
        let mut swaps = Vec::new();
        let mut next = String::new();
        for (i, (s, ts, id)) in rows.into_iter().enumerate() {
            if i == usize::try_from(size).unwrap_or(usize::MAX) {
                break;
            }
            if more {
                next = format!("{ts}.{}", hex::encode(&id));
            }
            swaps.push(s);
        }
        Ok(Response::new(pb::ListSwapsResponse {
            swaps,
            next_page_token: if more { next } else { String::new() },
        }))
    }

    async fn reveal_secret(
        &self,
        request: Request<pb::RevealSecretRequest>,
    ) -> Result<Response<pb::RevealSecretResponse>, Status> {
        self.ctx.rate_limit(&request).await?;
        let r = request.into_inner();
        let id = parse_swap_id("swap_id", &r.swap_id)?;
        let secret = Secret::from_slice(&r.secret).map_err(|_| {
            invalid(
                "secret",
                format!("must be exactly 32 bytes, got {}", r.secret.len()),
            )
        })?;
        if r.signed_claims.len() > MAX_SIGNED_CLAIMS {
            return Err(invalid(
                "signed_claims",
                format!("at most {MAX_SIGNED_CLAIMS} transactions"),
            ));
        }
        if r.signed_claims
            .iter()
            .any(|t| t.is_empty() || t.len() > MAX_RAW_TX)
        {
            return Err(invalid(
                "signed_claims",
                format!("each transaction must be 1 to {MAX_RAW_TX} bytes"),
            ));
        }
        let maker_claim = if r.signed_claims.is_empty() {
            None
        } else {
            Some(PresignedClaim {
                fee_ladder: r.signed_claims,
            })
        };
        let clock = self.ctx.engine.store.clock().await.map_err(store_status)?;
        let mut input = Input::new(
            Event::SecretRevealed {
                secret: secret.clone(),
                maker_claim,
            },
            "maker",
        );
        input.clock = Some(clock);
        // Check, then write exactly the record that was checked: the write names the version
        // read, and a concurrent change (a block, a tick) means checking again.
        let mut tries = 0;
        loop {
            tries += 1;
            let loaded = self.ctx.engine.store.load(id).await.map_err(store_status)?;
            // The core's refusals first (locks not final, wrong secret, missing claims), as
            // the write would give them; then the ladder against the HTLC the record knows.
            check_input(&loaded.swap, &input).map_err(|e| transition_status(&e))?;
            if let Event::SecretRevealed {
                maker_claim: Some(c),
                ..
            } = &input.event
            {
                ladder::check(
                    &loaded.swap,
                    &c.fee_ladder,
                    &secret,
                    self.ctx.network,
                    &self.ctx.ladder,
                )
                .map_err(|e| ladder_status(&e))?;
            }
            input.expected_version = Some(loaded.version);
            match self.ctx.engine.apply(id, &input).await {
                Err(StoreError::Conflict { .. }) if tries < REVEAL_TRIES => {}
                Err(e) => return Err(store_status(e)),
                Ok(a) => {
                    return Ok(Response::new(pb::RevealSecretResponse {
                        swap: Some(a.view),
                    }));
                }
            }
        }
    }
}

/// The status for a refused ladder: the caller's bad `signed_claims`, or a swap whose HTLC
/// the relayer does not know (yet).
fn ladder_status(e: &LadderRefusal) -> Status {
    if e.is_caller_fault() {
        invalid("signed_claims", e)
    } else {
        Status::failed_precondition(e.to_string())
    }
}

fn is_terminal(s: &pb::Swap) -> bool {
    matches!(
        pb::SwapState::try_from(s.state),
        Ok(pb::SwapState::Completed | pb::SwapState::Refunded | pb::SwapState::Expired)
    )
}

fn parse_page_token(t: &str) -> Result<(i64, Vec<u8>), Status> {
    let bad = || invalid("page_token", "not a token from a previous response");
    if t.len() > 64 {
        return Err(bad());
    }
    let (ts, id) = t.split_once('.').ok_or_else(bad)?;
    let ts: i64 = ts.parse().map_err(|_| bad())?;
    let id = hex::decode(id).map_err(|_| bad())?;
    if id.len() != 16 {
        return Err(bad());
    }
    Ok((ts, id))
}

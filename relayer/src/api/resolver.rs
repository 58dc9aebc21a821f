//! `crosslock.resolver.v1.ResolverService`: offers, matching, the work stream and reported
//! transactions.
//!
//! Owns what a resolver sees and may do. Matching is one optimistic transition (`Matched` at the
//! version the resolver read), so of two resolvers taking one order exactly one wins. The stream
//! only ever carries committed facts: actions from the outbox and secrets from the `secrets`
//! table, written in the transaction of the event that made them due. It must never show a
//! resolver another resolver's swap or secret.

use std::collections::HashSet;
use std::pin::Pin;

use crosslock_core::chain::Chain;
use crosslock_core::order::{MatchParams, Terms};
use crosslock_core::secret::SwapId;
use crosslock_core::swap::{Event, OperatorCommand, SwapState};
use crosslock_core::time::{BtcHeight, UnixTime};
use crosslock_proto::public::v1 as pb;
use crosslock_proto::resolver::v1 as rpb;
use crosslock_proto::resolver::v1::resolver_service_server::ResolverService;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use super::{Ctx, invalid, parse_address, parse_asset, parse_pubkey, parse_swap_id, store_status};
use crate::auth::{Principal, principal};
use crate::quote::{btc_blocks_at_least, windows};
use crate::store::{Input, StoreError, StoredAction};
use crate::stored::lock_in;
use crate::view::lock_text;

/// Most open offers replayed to a resolver that (re)connects.
const OFFER_REPLAY_LIMIT: i64 = 1_000;
/// Seconds a resolver has to answer an offer (informational; the quote expiry is binding).
const ANSWER_WINDOW_SECS: i64 = 30;
/// Largest raw transaction accepted.
const MAX_RAW_TX: usize = 100_000;

/// The resolver service.
#[derive(Debug, Clone)]
pub struct Resolvers {
    ctx: Ctx,
}

impl Resolvers {
    /// A new service.
    pub fn new(ctx: Ctx) -> Resolvers {
        Resolvers { ctx }
    }

    /// Puts a decline in the timeline of a swap still waiting for a resolver, so an operator
    /// sees why it found none. Best effort: the answer to the resolver does not depend on it.
    async fn record_decline(&self, id: SwapId, resolver: &str, reason: &str) {
        let store = &self.ctx.engine.store;
        match store.load(id).await {
            Ok(l) if l.swap.state == SwapState::Created => {}
            _ => return,
        }
        let note = format!("declined by resolver {resolver}: {reason}");
        let mut input = Input::new(
            Event::Operator(OperatorCommand::Annotate { note }),
            format!("resolver:{resolver}"),
        );
        input.clock = store.clock().await.ok();
        if let Err(e) = self.ctx.engine.apply(id, &input).await {
            warn!(swap_id = %id, error = %e, "could not record the decline");
        }
    }
}

fn resolver_name<T>(req: &Request<T>) -> Result<String, Status> {
    match principal(req) {
        Principal::Resolver(n) => Ok(n),
        // The layer already refused anyone else; this is defence in depth.
        _ => Err(Status::permission_denied("not a resolver")),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<rpb::ResolverEvent, Status>> + Send>>;

fn action_kind(kind: &str) -> Option<rpb::ActionKind> {
    Some(match kind {
        "LockDst" => rpb::ActionKind::LockDst,
        "ClaimDst" => rpb::ActionKind::ClaimDst,
        "ClaimSrc" => rpb::ActionKind::ClaimSrc,
        "RefundDst" => rpb::ActionKind::RefundDst,
        "RefundSrc" => rpb::ActionKind::RefundSrc,
        _ => return None,
    })
}

fn akey(a: &pb::Asset) -> (i32, String) {
    (a.chain, a.token.to_ascii_lowercase())
}

fn ev(e: rpb::resolver_event::Event) -> Result<rpb::ResolverEvent, Status> {
    Ok(rpb::ResolverEvent { event: Some(e) })
}

/// Everything a resolver must know about one of its swaps now: the record, the actions due
/// (then marked delivered) and the secret once committed.
async fn catch_up(
    ctx: &Ctx,
    id: SwapId,
    view: pb::Swap,
    tx: &mpsc::Sender<Result<rpb::ResolverEvent, Status>>,
) -> Result<(), ()> {
    let store = &ctx.engine.store;
    let secret_known = view.secret_known;
    tx.send(ev(rpb::resolver_event::Event::Swap(view.clone())))
        .await
        .map_err(|_| ())?;
    let pending = store.pending_actions(id, "resolver").await.map_err(|e| {
        warn!(error = %e, "cannot read outbox");
    })?;
    let mut delivered = Vec::new();
    for (row, a) in pending {
        let StoredAction {
            kind,
            lock,
            fee_band,
            fee_checkpoint,
            ..
        } = a;
        if kind == "HandSecretOn" {
            delivered.push(row);
            continue;
        }
        let Some(k) = action_kind(&kind) else {
            delivered.push(row);
            continue;
        };
        let lock = lock
            .as_ref()
            .and_then(|l| lock_in(l).ok())
            .map(|l| lock_text(&l))
            .unwrap_or_default();
        let msg = rpb::ActionDue {
            swap_id: view.swap_id.clone(),
            action_id: u64::try_from(row).unwrap_or(0),
            kind: k.into(),
            lock,
            fee_band,
            fee_checkpoint,
            swap: Some(view.clone()),
        };
        tx.send(ev(rpb::resolver_event::Event::Action(msg)))
            .await
            .map_err(|_| ())?;
        delivered.push(row);
    }
    if secret_known && let Ok(Some(s)) = store.secret(id).await {
        tx.send(ev(rpb::resolver_event::Event::Secret(
            rpb::SecretReleased {
                swap_id: view.swap_id.clone(),
                secret: s.expose().to_vec(),
            },
        )))
        .await
        .map_err(|_| ())?;
    }
    if !delivered.is_empty()
        && let Err(e) = store.mark_delivered(&delivered).await
    {
        // Harmless: the actions are sent again on the next update or reconnect.
        warn!(error = %e, "cannot mark outbox delivered");
    }
    Ok(())
}

fn offer(view: pb::Swap) -> Result<rpb::ResolverEvent, Status> {
    let answer_by = crate::store::now_unix();
    ev(rpb::resolver_event::Event::Offer(rpb::OrderOffer {
        swap: Some(view),
        answer_by: i64::try_from(answer_by).unwrap_or(i64::MAX) + ANSWER_WINDOW_SECS,
    }))
}

#[tonic::async_trait]
impl ResolverService for Resolvers {
    type SubscribeOrdersStream = EventStream;

    async fn subscribe_orders(
        &self,
        request: Request<rpb::SubscribeOrdersRequest>,
    ) -> Result<Response<Self::SubscribeOrdersStream>, Status> {
        let me = resolver_name(&request)?;
        let r = request.into_inner();
        if r.pairs.len() > 32 {
            return Err(invalid("pairs", "at most 32"));
        }
        let mut pairs = HashSet::new();
        for (i, p) in r.pairs.iter().enumerate() {
            let s = parse_asset(&format!("pairs[{i}].src_asset"), p.src_asset.as_ref())?;
            let d = parse_asset(&format!("pairs[{i}].dst_asset"), p.dst_asset.as_ref())?;
            if s.chain() == d.chain() {
                return Err(invalid(&format!("pairs[{i}]"), "one side must be BTC"));
            }
            pairs.insert((
                akey(&crate::view::asset_pb(s)),
                akey(&crate::view::asset_pb(d)),
            ));
        }
        let wants = move |s: &pb::Swap| {
            pairs.is_empty()
                || s.src_asset
                    .as_ref()
                    .zip(s.dst_asset.as_ref())
                    .is_some_and(|(a, b)| pairs.contains(&(akey(a), akey(b))))
        };
        let mut updates = self.ctx.engine.cache.subscribe_local();
        let (tx, rx) = mpsc::channel(64);
        let ctx = self.ctx.clone();
        let mut shutdown = self.ctx.shutdown.clone();
        info!(resolver = %me, "resolver subscribed");
        tokio::spawn(async move {
            let store = &ctx.engine.store;
            // Replay: open offers, then every open swap of this resolver.
            match store.open_offers(OFFER_REPLAY_LIMIT).await {
                Ok(offers) => {
                    for o in offers.into_iter().filter(|o| wants(o)) {
                        if tx.send(offer(o)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => warn!(error = %e, "offer replay failed"),
            }
            match store.open_swaps_of(&me).await {
                Ok(ids) => {
                    for id in ids {
                        if let Ok(v) = store.view(id).await
                            && catch_up(&ctx, id, v, &tx).await.is_err()
                        {
                            return;
                        }
                    }
                }
                Err(e) => warn!(error = %e, "swap replay failed"),
            }
            loop {
                let u = tokio::select! {
                    () = tx.closed() => return,
                    _ = shutdown.changed() => return,
                    m = updates.recv() => m,
                };
                let s = match u {
                    Ok(pb::SwapUpdate { swap: Some(s), .. }) => s,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if s.state == i32::from(pb::SwapState::Created) {
                    if wants(&s) && tx.send(offer(s)).await.is_err() {
                        return;
                    }
                    continue;
                }
                let Ok(id) = parse_swap_id("swap_id", &s.swap_id) else {
                    continue;
                };
                if let Ok(Some(owner)) = store.resolver_of(id).await
                    && owner == me
                    && catch_up(&ctx, id, s, &tx).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn accept_order(
        &self,
        request: Request<rpb::AcceptOrderRequest>,
    ) -> Result<Response<rpb::AcceptOrderResponse>, Status> {
        let me = resolver_name(&request)?;
        let r = request.into_inner();
        let id = parse_swap_id("swap_id", &r.swap_id)?;
        if !r.accept {
            if r.decline_reason.is_empty()
                || r.decline_reason.len() > 64
                || !r
                    .decline_reason
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(invalid(
                    "decline_reason",
                    "required when declining: 1 to 64 characters of [a-z0-9_]",
                ));
            }
            info!(resolver = %me, swap_id = %r.swap_id, reason = %r.decline_reason, "order declined");
            metrics::counter!(
                "crosslock_order_declines_total",
                "resolver" => me.clone(),
                "reason" => r.decline_reason.clone()
            )
            .increment(1);
            self.record_decline(id, &me, &r.decline_reason).await;
            return Ok(Response::new(rpb::AcceptOrderResponse { swap: None }));
        }
        let btc_key = parse_pubkey("resolver_btc_pubkey", &r.resolver_btc_pubkey)?;
        let eth = parse_address("resolver_eth_address", &r.resolver_eth_address)?;
        let contract = self.ctx.escrow.ok_or_else(|| {
            Status::failed_precondition("the relayer has no escrow contract configured")
        })?;
        let store = &self.ctx.engine.store;
        if !store.heads_known().await.map_err(store_status)? {
            return Err(Status::unavailable(
                "chain heads not known yet; retry shortly",
            ));
        }
        let loaded = store.load(id).await.map_err(store_status)?;
        if loaded.swap.state != SwapState::Created {
            return Err(Status::failed_precondition("the order is no longer open"));
        }
        let clock = store.clock().await.map_err(store_status)?;
        let order = &loaded.swap.order;
        let p = self.ctx.network.params();
        let dir = order.direction();
        let (src_secs, dst_secs) = windows(p, self.ctx.quote.dst_window_secs, dir);
        let (btc_secs, eth_secs) = match dir.src_chain() {
            Chain::Bitcoin => (src_secs, dst_secs),
            Chain::Ethereum => (dst_secs, src_secs),
        };
        let m = MatchParams {
            resolver_btc_pubkey: btc_key,
            resolver_eth_address: eth,
            escrow_contract: contract,
            chain_id: p.eth_chain_id,
            btc_timeout: BtcHeight(
                clock
                    .btc_tip
                    .0
                    .saturating_add(btc_blocks_at_least(btc_secs)),
            ),
            eth_timeout: UnixTime(clock.eth_time.0.max(clock.wall.0).saturating_add(eth_secs)),
            finality: p.finality,
        };
        let terms = Terms::from_match(order, &m);
        let mut input = Input::new(
            Event::Matched { terms, at: clock },
            format!("resolver:{me}"),
        );
        input.expected_version = Some(loaded.version);
        input.resolver = Some(me.clone());
        match self.ctx.engine.apply(id, &input).await {
            Ok(a) => {
                info!(resolver = %me, swap_id = %r.swap_id, "order matched");
                Ok(Response::new(rpb::AcceptOrderResponse {
                    swap: Some(a.view),
                }))
            }
            Err(StoreError::Conflict { .. })
            | Err(StoreError::Transition(crosslock_core::swap::TransitionError::AlreadyMatched)) => {
                Err(Status::failed_precondition(
                    "the order was taken by another resolver",
                ))
            }
            Err(e) => Err(store_status(e)),
        }
    }

    async fn report_tx(
        &self,
        request: Request<rpb::ReportTxRequest>,
    ) -> Result<Response<rpb::ReportTxResponse>, Status> {
        let me = resolver_name(&request)?;
        let r = request.into_inner();
        let id = parse_swap_id("swap_id", &r.swap_id)?;
        let chain = match pb::Chain::try_from(r.chain) {
            Ok(pb::Chain::Bitcoin) => "bitcoin",
            Ok(pb::Chain::Ethereum) => "ethereum",
            _ => return Err(invalid("chain", "must be BITCOIN or ETHEREUM")),
        };
        let kind = match rpb::TxKind::try_from(r.kind) {
            Ok(rpb::TxKind::Lock) => "lock",
            Ok(rpb::TxKind::Claim) => "claim",
            Ok(rpb::TxKind::Refund) => "refund",
            _ => return Err(invalid("kind", "must be LOCK, CLAIM or REFUND")),
        };
        if r.tx_id.len() != 32 {
            return Err(invalid(
                "tx_id",
                format!("must be exactly 32 bytes, got {}", r.tx_id.len()),
            ));
        }
        if r.raw_tx.len() > MAX_RAW_TX {
            return Err(invalid("raw_tx", format!("at most {MAX_RAW_TX} bytes")));
        }
        let store = &self.ctx.engine.store;
        match store.resolver_of(id).await.map_err(store_status)? {
            Some(owner) if owner == me => {}
            _ => {
                return Err(Status::permission_denied(
                    "swap_id: not a swap of this resolver",
                ));
            }
        }
        let fresh = store
            .report_tx(id, chain, &r.tx_id, kind, &r.raw_tx, &me)
            .await
            .map_err(store_status)?;
        info!(resolver = %me, swap_id = %r.swap_id, chain, kind, fresh, "transaction reported");
        Ok(Response::new(rpb::ReportTxResponse {}))
    }
}

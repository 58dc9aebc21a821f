//! Maker commands: quote, swap (submit, fund, follow, reveal), fund, reveal, refund, status.
//!
//! Owns the order of a maker's steps: check every input, make the secret and the Bitcoin key,
//! persist them, and only then submit; fund only through [`crate::funding`] (checked, recorded,
//! then broadcast); reveal only through [`crate::gate`] and only when the destination lock pays
//! this maker. It must never send a secret the state file does not hold, and never submit an
//! order whose secret is not on disk.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use clap::{Args, Subcommand, ValueEnum};
use crosslock_core::chain::EthAddress;
use crosslock_core::time::UnixTime;
use crosslock_proto::public::v1::{
    Asset, Chain, Direction, GetQuoteRequest, GetSwapRequest, Quote, RevealSecretRequest,
    SubmitOrderRequest, Swap, SwapState, WatchSwapRequest,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;

use crate::admin::check_id;
use crate::render::{self, table};
use crate::state::{Entry, Hidden, StateError};
use crate::{Global, btc, check, emit, eth, funding, gate, rpc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Way {
    /// Sell BTC for ETH or an ERC-20.
    BtcToEth,
    /// Sell ETH or an ERC-20 for BTC.
    EthToBtc,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::BtcToEth => "btc-to-eth",
            Way::EthToBtc => "eth-to-btc",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct QuoteArgs {
    /// Which way.
    way: Way,
    #[command(flatten)]
    amount: AmountArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AmountArgs {
    /// What the maker pays, in base units of the source asset (satoshis, wei, token units).
    #[arg(long)]
    amount: String,
    /// The ERC-20 on the Ethereum side (its address); native ETH when absent.
    #[arg(long)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SwapWay {
    /// Sell BTC: --eth-address is where the ETH or tokens go; the BTC comes from the wallet.
    BtcToEth(SwapArgs),
    /// Sell ETH or tokens: they are locked from --eth-key-file's address (which gets a refund).
    EthToBtc(SwapArgs),
    /// Follow a swap of this state file again: fund it if that is still due (never twice),
    /// show progress, reveal with --auto-reveal.
    Resume(ResumeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SwapArgs {
    #[command(flatten)]
    amount: AmountArgs,
    /// The maker's Ethereum address (0x + 40 hex digits, EIP-55 if mixed case). For
    /// eth-to-btc it defaults to the address of --eth-key-file.
    #[arg(long)]
    eth_address: Option<String>,
    /// Where claimed (eth-to-btc) or refunded (btc-to-eth) BTC goes; a fresh address of the
    /// maker's wallet when absent.
    #[arg(long)]
    btc_payout_address: Option<String>,
    /// Submit and print the swap, then exit instead of following it.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    follow: FollowArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FollowArgs {
    /// Do not fund the source lock (fund it later with `swapctl fund`).
    #[arg(long)]
    no_fund: bool,
    /// Reveal the secret as soon as both locks are final and enough time is left; without it
    /// the command stops there and `swapctl reveal` does it.
    #[arg(long)]
    auto_reveal: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// Swap id.
    id: String,
    #[command(flatten)]
    follow: FollowArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RevealArgs {
    /// Swap id.
    id: String,
}

#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// Swap id.
    id: String,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Swap id; every swap in the state file when absent.
    id: Option<String>,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn status_err(what: &str, e: &tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{what}: {} ({:?})", e.message(), e.code())
}

/// Base units: 1 to 39 digits, no sign or point, not zero (the API's rule, checked locally).
fn check_amount(s: &str) -> anyhow::Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 39
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u128>().is_ok_and(|v| v > 0);
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "invalid --amount {s:?}: a whole number of base units (satoshis, wei, token units), above zero"
        )
    }
}

fn check_eth_address(flag: &str, s: &str) -> anyhow::Result<String> {
    let a = EthAddress::parse(s).map_err(|e| anyhow::anyhow!("invalid {flag} {s:?}: {e}"))?;
    if a.0 == [0; 20] {
        anyhow::bail!("invalid {flag}: the zero address");
    }
    Ok(a.checksummed())
}

fn quote_request(way: Way, a: &AmountArgs) -> anyhow::Result<GetQuoteRequest> {
    check_amount(&a.amount)?;
    let token = match &a.token {
        Some(t) => check_eth_address("--token", t)?,
        None => String::new(),
    };
    let btc = Asset {
        chain: Chain::Bitcoin as i32,
        token: String::new(),
    };
    let eth = Asset {
        chain: Chain::Ethereum as i32,
        token,
    };
    let (direction, src, dst) = match way {
        Way::BtcToEth => (Direction::BtcToEth, btc, eth),
        Way::EthToBtc => (Direction::EthToBtc, eth, btc),
    };
    Ok(GetQuoteRequest {
        direction: direction as i32,
        src_asset: Some(src),
        dst_asset: Some(dst),
        src_amount: a.amount.clone(),
    })
}

fn quote_text(q: &Quote) -> String {
    render::fields(&[
        ("quote", q.quote_id.clone()),
        ("direction", render::direction(q.direction).to_owned()),
        (
            "pay",
            format!("{} {}", q.src_amount, render::asset(q.src_asset.as_ref())),
        ),
        (
            "receive",
            format!("{} {}", q.dst_amount, render::asset(q.dst_asset.as_ref())),
        ),
        ("expires at", q.expires_at.to_string()),
        ("src window", format!("{} s", q.src_window_secs)),
        ("dst window", format!("{} s", q.dst_window_secs)),
        ("chain id", q.chain_id.to_string()),
    ])
}

pub(crate) async fn quote(g: &Global, a: QuoteArgs) -> anyhow::Result<()> {
    let req = quote_request(a.way, &a.amount)?;
    let mut c = rpc::public(&g.relayer_url)
        .await
        .context("failed to reach the relayer")?;
    let q = c
        .get_quote(req)
        .await
        .map_err(|e| status_err("quote refused", &e))?
        .into_inner();
    emit(g.json, render::quote_json(&q), || quote_text(&q));
    Ok(())
}

fn random32() -> anyhow::Result<[u8; 32]> {
    let mut b = [0_u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(b)
}

/// A Bitcoin key from the OS CSPRNG (retried in the negligible case it is not a valid scalar).
fn new_btc_key() -> anyhow::Result<SecretKey> {
    loop {
        if let Ok(k) = SecretKey::from_slice(&random32()?) {
            return Ok(k);
        }
    }
}

/// Refusals after which the relayer holds no swap for this key: the entry can go.
fn definitely_refused(code: tonic::Code) -> bool {
    use tonic::Code as C;
    matches!(
        code,
        C::InvalidArgument | C::FailedPrecondition | C::AlreadyExists | C::OutOfRange
    )
}

/// Checks that funding can work before an order exists: the wallet or key is there and holds
/// the amount. Nothing is written.
async fn preflight(g: &Global, way: Way, a: &SwapArgs, eth_address: &str) -> anyhow::Result<()> {
    match way {
        Way::BtcToEth => {
            let mut w = btc::open(g, false)?;
            btc::sync(g, &mut w)?;
            let b = w.balance();
            let have = b.confirmed.0.saturating_add(b.pending.0);
            let need: u64 = a.amount.amount.parse().unwrap_or(u64::MAX);
            if have < need {
                anyhow::bail!(
                    "the Bitcoin wallet holds {have} sat spendable, the swap needs {need} sat plus the fee (send coins to `swapctl wallet address`)"
                );
            }
        }
        Way::EthToBtc => {
            let me = eth::signer(g)?.address().to_checksum(None);
            if me != eth_address {
                anyhow::bail!(
                    "--eth-address {eth_address} is not the address of --eth-key-file ({me})"
                );
            }
            let p = eth::provider(g)?;
            let chain = {
                use alloy::providers::Provider;
                p.get_chain_id().await.with_context(|| {
                    format!("cannot reach the Ethereum node at {}", g.eth_rpc_url)
                })?
            };
            let want = g.network()?.params().eth_chain_id.0;
            if chain != want {
                anyhow::bail!(
                    "the Ethereum node is on chain {chain}, {} uses {want}",
                    g.network
                );
            }
            let token = a
                .amount
                .token
                .as_deref()
                .map(str::parse)
                .transpose()
                .context("invalid --token")?;
            let have = eth::balance(&p, me.parse()?, token).await?;
            let need: alloy::primitives::U256 = a.amount.amount.parse()?;
            if have < need {
                anyhow::bail!(
                    "{eth_address} holds {have} of the {}, the swap locks {need}",
                    if token.is_some() { "token" } else { "wei" }
                );
            }
            // The claim of the BTC pays the maker's wallet unless an address is given.
            if a.btc_payout_address.is_none() {
                btc::open(g, false).context("the BTC needs somewhere to go")?;
            }
        }
    }
    Ok(())
}

pub(crate) async fn swap(g: &Global, way: SwapWay) -> anyhow::Result<()> {
    let (way, a) = match way {
        SwapWay::BtcToEth(a) => (Way::BtcToEth, a),
        SwapWay::EthToBtc(a) => (Way::EthToBtc, a),
        SwapWay::Resume(r) => return resume(g, r).await,
    };
    // Every check before anything is written or sent.
    let qreq = quote_request(way, &a.amount)?;
    let eth_address = match (&a.eth_address, way) {
        (Some(x), _) => check_eth_address("--eth-address", x)?,
        (None, Way::EthToBtc) if g.eth_key_file.is_some() => {
            eth::signer(g)?.address().to_checksum(None)
        }
        (None, Way::EthToBtc) => {
            anyhow::bail!("--eth-key-file (or --eth-address with --no-fund) is required")
        }
        (None, Way::BtcToEth) => {
            anyhow::bail!("--eth-address is required: where the ETH or tokens are paid")
        }
    };
    let network = g.network()?;
    if let Some(p) = &a.btc_payout_address {
        btc::address_script(g, p).context("invalid --btc-payout-address")?;
    }
    let state = g.state()?;
    state.load().context("failed to read the state file")?;
    if !a.no_wait && !a.follow.no_fund {
        preflight(g, way, &a, &eth_address).await?;
    }

    let mut c = rpc::public(&g.relayer_url)
        .await
        .context("failed to reach the relayer")?;
    let q = c
        .get_quote(qreq)
        .await
        .map_err(|e| status_err("quote refused", &e))?
        .into_inner();
    let expected_chain = network.params().eth_chain_id.0;
    if q.chain_id != expected_chain {
        anyhow::bail!(
            "the relayer quotes for chain id {} but {} uses {expected_chain}; wrong --network or relayer",
            q.chain_id,
            g.network
        );
    }

    let secret = random32()?;
    let hashlock: [u8; 32] = Sha256::digest(secret).into();
    let key = new_btc_key()?;
    let pubkey = PublicKey::from_secret_key(&Secp256k1::new(), &key).serialize();
    let idempotency_key = hex::encode(&random32()?[..16]);
    let entry = Entry {
        idempotency_key: idempotency_key.clone(),
        swap_id: None,
        direction: way.name().to_owned(),
        quote_id: q.quote_id.clone(),
        hashlock: hex::encode(hashlock),
        secret: Hidden(hex::encode(secret)),
        btc_secret_key: Hidden(hex::encode(key.secret_bytes())),
        btc_pubkey: hex::encode(pubkey),
        eth_address: eth_address.clone(),
        btc_payout_address: a.btc_payout_address.clone(),
        created_at: now(),
        revealed: false,
        src_amount: Some(q.src_amount.clone()),
        dst_amount: Some(q.dst_amount.clone()),
        token: a
            .amount
            .token
            .as_deref()
            .map(|t| check_eth_address("--token", t))
            .transpose()?,
        funding: None,
        refunds: Vec::new(),
    };
    // Persist, then act: the secret and key are on disk before the order exists anywhere.
    state
        .update(|s| {
            s.push(entry);
            Ok(())
        })
        .context("failed to store the secret; nothing was submitted")?;

    let request = SubmitOrderRequest {
        idempotency_key: idempotency_key.clone(),
        quote_id: q.quote_id.clone(),
        hashlock: hashlock.to_vec(),
        maker_btc_pubkey: pubkey.to_vec(),
        maker_eth_address: eth_address,
        chain_id: q.chain_id,
    };
    // A relayer that has just started answers UNAVAILABLE until it knows the chain heads; the
    // idempotency key makes asking again safe.
    let mut submitted = c.submit_order(request.clone()).await;
    for _ in 0..20 {
        match &submitted {
            Err(e) if e.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                submitted = c.submit_order(request.clone()).await;
            }
            _ => break,
        }
    }
    let swap = match submitted {
        Ok(r) => r.into_inner().swap.context("the relayer sent no swap")?,
        Err(e) if definitely_refused(e.code()) => {
            let _ = state.update(|s| {
                s.retain(|x| x.idempotency_key != idempotency_key);
                Ok(())
            });
            return Err(status_err("order refused", &e));
        }
        Err(e) => {
            return Err(status_err("order outcome unknown", &e)).context(format!(
                "the secret is kept in {} under idempotency key {idempotency_key}",
                state.path().display()
            ));
        }
    };
    let id = swap.swap_id.clone();
    state
        .update(|s| {
            let e = s
                .iter_mut()
                .find(|x| x.idempotency_key == idempotency_key)
                .ok_or_else(|| StateError::NotFound(idempotency_key.clone()))?;
            e.swap_id = Some(id.clone());
            Ok(())
        })
        .context("failed to record the swap id")?;

    if a.no_wait {
        emit(g.json, render::swap_json(&swap), || {
            render::swap_text(&swap)
        });
        return Ok(());
    }
    follow(g, &mut c, &swap.swap_id, &a.follow).await
}

async fn resume(g: &Global, r: ResumeArgs) -> anyhow::Result<()> {
    check_id(&r.id)?;
    g.state()?
        .get(&r.id)
        .context("cannot resume a swap this state file did not create")?;
    let mut c = rpc::public(&g.relayer_url)
        .await
        .context("failed to reach the relayer")?;
    follow(g, &mut c, &r.id, &r.follow).await
}

/// One progress line: a JSON object with `type` on one line, or text.
fn progress(json: bool, kind: &str, mut value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        if let Some(o) = value.as_object_mut() {
            o.insert("type".to_owned(), json!(kind));
        }
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

type Public =
    crosslock_proto::public::v1::swap_service_client::SwapServiceClient<tonic::transport::Channel>;

/// The gate, with the Bitcoin tip from the maker's Electrum when the destination is Bitcoin.
fn gate_check(g: &Global, s: &Swap) -> anyhow::Result<()> {
    let network = g.network()?;
    let tip = if s.direction == Direction::EthToBtc as i32 {
        Some(btc::tip(&btc::electrum(g)?)?)
    } else {
        None
    };
    gate::check(s, network, UnixTime(now()), tip)?;
    Ok(())
}

/// Stream the swap's updates and print each; fund the source lock once the swap is matched;
/// at `DstLocked`, reveal with `--auto-reveal` (following on to the end), or stop and say so.
async fn follow(g: &Global, c: &mut Public, id: &str, opts: &FollowArgs) -> anyhow::Result<()> {
    let mut stream = c
        .watch_swap(WatchSwapRequest {
            swap_id: id.to_owned(),
            after_version: 0,
        })
        .await
        .map_err(|e| status_err("watch refused", &e))?
        .into_inner();
    let mut funded = false;
    let mut last = None;
    while let Some(u) = stream.next().await {
        let u = u.map_err(|e| status_err("watch ended", &e))?;
        let Some(s) = u.swap else { continue };
        progress(
            g.json,
            "update",
            json!({
                "swap_id": s.swap_id,
                "version": s.version,
                "state": render::state(s.state),
                "event": u.event,
                "swap": render::swap_json(&s),
            }),
            || {
                format!(
                    "[{}] v{}{}",
                    render::state(s.state),
                    s.version,
                    if u.event.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", u.event)
                    }
                )
            },
        );
        let state = SwapState::try_from(s.state).unwrap_or(SwapState::Unspecified);
        if state == SwapState::Matched && !funded {
            if opts.no_fund {
                progress(g.json, "fund_needed", json!({"swap_id": id}), || {
                    format!("matched: fund it with `swapctl fund {id}`")
                });
            } else {
                let f = funding::fund(g, &s).await?;
                progress(g.json, "funded", f.json(id), || f.text());
            }
            funded = true;
        }
        if state == SwapState::DstLocked && !s.secret_known {
            if !opts.auto_reveal {
                progress(g.json, "reveal_needed", json!({"swap_id": id}), || {
                    format!("both locks are final: reveal with `swapctl reveal {id}`")
                });
                return Ok(());
            }
            match gate_check(g, &s) {
                Ok(()) => {
                    let r = reveal_now(g, c, id, &s).await?;
                    progress(
                        g.json,
                        "revealed",
                        json!({"swap_id": id, "state": render::state(r.state)}),
                        || {
                            format!(
                                "revealed: the relayer has the secret ({})",
                                render::state(r.state)
                            )
                        },
                    );
                }
                Err(e) => progress(
                    g.json,
                    "not_revealing",
                    json!({"swap_id": id, "reason": e.to_string()}),
                    || format!("not revealing: {e}"),
                ),
            }
        }
        let done = render::is_terminal(s.state);
        last = Some(s);
        if done {
            break;
        }
    }
    if let Some(s) = last
        && !g.json
    {
        print!("{}", render::swap_text(&s));
    }
    Ok(())
}

async fn reveal_now(g: &Global, c: &mut Public, id: &str, swap: &Swap) -> anyhow::Result<Swap> {
    let state = g.state()?;
    let network = g.network()?;
    let e = state
        .get(id)
        .context("the state file has no secret for this swap")?;
    let secret = hex::decode(&e.secret.0).context("the stored secret is not hex")?;
    if hex::encode(Sha256::digest(&secret)) != hex::encode(&swap.hashlock) {
        anyhow::bail!("the stored secret does not open this swap's hashlock; not revealing");
    }
    check::dst_pays_us(swap, &e, network).map_err(|r| anyhow::anyhow!("not revealing: {r}"))?;
    let signed_claims = if swap.direction == Direction::EthToBtc as i32 {
        // The maker's claim of the resolver's HTLC, at several fee rates, signed before the
        // secret leaves: the relayer broadcasts it and bumps it while the maker is offline.
        let t = check::src_terms(swap, &e, network)?;
        let (params, amount) = check::htlc(swap, &t, network)?;
        let outpoint = swap
            .bitcoin
            .as_ref()
            .map(|b| b.outpoint.clone())
            .filter(|o| !o.is_empty())
            .context("the resolver's HTLC funding is not in the record yet")?;
        btc::claim_ladder(g, &state, &e, &params, &outpoint, amount)?
    } else {
        Vec::new()
    };
    let r = c
        .reveal_secret(RevealSecretRequest {
            swap_id: id.to_owned(),
            secret,
            signed_claims,
        })
        .await
        .map_err(|e| status_err("reveal refused", &e))?
        .into_inner()
        .swap
        .context("the relayer sent no swap")?;
    state
        .update(|s| {
            if let Some(x) = s.iter_mut().find(|x| x.is(id)) {
                x.revealed = true;
            }
            Ok(())
        })
        .context("failed to record the reveal")?;
    Ok(r)
}

pub(crate) async fn reveal(g: &Global, a: RevealArgs) -> anyhow::Result<()> {
    check_id(&a.id)?;
    g.network()?;
    g.state()?
        .get(&a.id)
        .context("cannot reveal a swap this state file did not create")?;
    let (mut c, s) = fetch(g, &a.id).await?;
    gate_check(g, &s)?;
    let r = reveal_now(g, &mut c, &a.id, &s).await?;
    emit(g.json, render::swap_json(&r), || render::swap_text(&r));
    Ok(())
}

/// The relayer's record of swap `id`, and the connection it came over.
async fn fetch(g: &Global, id: &str) -> anyhow::Result<(Public, Swap)> {
    let mut c = rpc::public(&g.relayer_url)
        .await
        .context("failed to reach the relayer")?;
    let s = c
        .get_swap(GetSwapRequest {
            swap_id: id.to_owned(),
        })
        .await
        .map_err(|e| status_err("swap not available", &e))?
        .into_inner();
    Ok((c, s))
}

/// `fund <id>`: fund the source lock now, once (a recorded funding is only sent again).
pub(crate) async fn fund(g: &Global, a: IdArgs) -> anyhow::Result<()> {
    check_id(&a.id)?;
    g.state()?
        .get(&a.id)
        .context("cannot fund a swap this state file did not create")?;
    let f = match funding::resume(g, &a.id).await? {
        Some(f) => f,
        None => funding::fund(g, &fetch(g, &a.id).await?.1).await?,
    };
    emit(g.json, f.json(&a.id), || format!("{}\n", f.text()));
    Ok(())
}

/// `refund <id>`: take the maker's source lock back once its timeout is reached.
pub(crate) async fn refund(g: &Global, a: IdArgs) -> anyhow::Result<()> {
    check_id(&a.id)?;
    let e = g
        .state()?
        .get(&a.id)
        .context("cannot refund a swap this state file did not create")?;
    // The recorded funding is enough: a refund must not depend on the relayer being up.
    let record = if e.funding.is_none() {
        let (_, s) = fetch(g, &a.id)
            .await
            .context("no funding is recorded, so the swap's terms must come from the relayer")?;
        Some(s)
    } else {
        None
    };
    let r = funding::refund(g, &a.id, record.as_ref()).await?;
    emit(g.json, r.json(&a.id), || r.text());
    Ok(())
}

pub(crate) async fn status(g: &Global, a: StatusArgs) -> anyhow::Result<()> {
    if let Some(id) = &a.id {
        check_id(id)?;
        let (_, s) = fetch(g, id).await?;
        emit(g.json, render::swap_json(&s), || render::swap_text(&s));
        return Ok(());
    }
    let entries = g.state()?.load().context("failed to read the state file")?;
    let mut c = if entries.iter().any(|e| e.swap_id.is_some()) {
        Some(
            rpc::public(&g.relayer_url)
                .await
                .context("failed to reach the relayer")?,
        )
    } else {
        None
    };
    let mut out = Vec::new();
    for e in &entries {
        let swap = match (&e.swap_id, c.as_mut()) {
            (Some(id), Some(c)) => c
                .get_swap(GetSwapRequest {
                    swap_id: id.clone(),
                })
                .await
                .ok()
                .map(|r| r.into_inner()),
            _ => None,
        };
        out.push((e, swap));
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|(e, s)| {
            vec![
                e.swap_id
                    .clone()
                    .unwrap_or_else(|| "(not submitted)".to_owned()),
                e.direction.clone(),
                s.as_ref()
                    .map_or("?", |s| render::state(s.state))
                    .to_owned(),
                if e.funding.is_some() { "yes" } else { "no" }.to_owned(),
                if e.revealed { "yes" } else { "no" }.to_owned(),
                e.created_at.to_string(),
            ]
        })
        .collect();
    let value = json!({
        "swaps": out.iter().map(|(e, s)| json!({
            "swap_id": e.swap_id,
            "idempotency_key": e.idempotency_key,
            "direction": e.direction,
            "hashlock": e.hashlock,
            "revealed": e.revealed,
            "funding": funding_json(e),
            "refunds": e.refunds.len(),
            "created_at": e.created_at,
            "relayer": s.as_ref().map(render::swap_json),
        })).collect::<Vec<_>>(),
    });
    emit(g.json, value, || {
        table(
            &[
                "SWAP",
                "DIRECTION",
                "STATE",
                "FUNDED",
                "REVEALED",
                "CREATED",
            ],
            &rows,
        )
    });
    Ok(())
}

/// The recorded funding, without the raw transaction.
fn funding_json(e: &Entry) -> serde_json::Value {
    use crate::state::Funding;
    match &e.funding {
        None => serde_json::Value::Null,
        Some(Funding::Bitcoin {
            address,
            amount,
            txid,
            outpoint,
            timeout_height,
            ..
        }) => json!({
            "chain": "bitcoin",
            "address": address,
            "amount": amount.to_string(),
            "txid": txid,
            "outpoint": outpoint,
            "timeout_height": timeout_height,
        }),
        Some(Funding::Ethereum {
            escrow,
            chain_id,
            params,
            escrow_id,
        }) => json!({
            "chain": "ethereum",
            "escrow": escrow,
            "chain_id": chain_id,
            "escrow_id": escrow_id,
            "amount": params.amount.to_string(),
            "timeout": params.timeout,
        }),
    }
}

//! The maker's Bitcoin side: its wallet (a `crosslock-btc` bdk wallet over a descriptor kept in
//! a 0600 key file), Electrum, funding the HTLC of a BTC -> ETH swap, refunding it after its
//! timeout, and signing the claim ladder of an ETH -> BTC swap.
//!
//! Owns the order "record, then broadcast" for every Bitcoin transaction the maker makes: the
//! signed funding or refund is in the state file before it reaches Electrum, and a rerun
//! broadcasts the recorded transaction again rather than building another. It must never fund
//! an HTLC that already holds coins, or that the wallet has already paid.
//!
//! Electrum is plain TCP (`tcp://host:port`): loopback, or a tunnel to a server of your own.
//! Blocking, like electrum-client; a CLI has nothing else to do meanwhile.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use bdk_electrum::BdkElectrumClient;
use bdk_electrum::electrum_client::{Client, ConfigBuilder, ElectrumApi};
use bitcoin::bip32::Xpriv;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::secp256k1::SecretKey;
use bitcoin::{Address, FeeRate, OutPoint, ScriptBuf, Transaction, Txid};
use crosslock_btc::electrum::{Broadcast, BroadcastError, ElectrumConfig, ElectrumWatcher};
use crosslock_btc::fund::{FundingRequest, find_htlc_outputs};
use crosslock_btc::htlc::HtlcParams;
use crosslock_btc::spend::{HtlcUtxo, SpendError};
use crosslock_btc::wallet::ResolverWallet;
use crosslock_core::amount::Sats;
use crosslock_core::chain::Network;
use crosslock_core::fees::HIGH_FEE_RATE_SAT_PER_VB;
use crosslock_core::secret::Secret;
use crosslock_core::time::UnixTime;
use serde::{Deserialize, Serialize};

use crate::Global;
use crate::state::{Entry, Funding, Hidden, Refund, StateFile};

/// The key file's layout version.
const WALLET_FILE_VERSION: u32 = 1;

/// Fallback funding and refund fee rate when none is given and Electrum has no estimate.
const FALLBACK_SAT_VB: u64 = 2;

/// The `bitcoin` crate's network for a protocol network.
pub(crate) fn network(n: Network) -> bitcoin::Network {
    match n {
        Network::Mainnet => bitcoin::Network::Bitcoin,
        Network::Testnet => bitcoin::Network::Testnet,
        Network::Signet => bitcoin::Network::Signet,
        Network::Regtest => bitcoin::Network::Regtest,
    }
}

/// The maker's wallet key file: two descriptors with their private keys. The wallet's own data
/// (addresses revealed, transactions seen) lives beside it in `<file>.bdk`.
#[derive(Serialize, Deserialize)]
struct WalletFile {
    version: u32,
    /// `mainnet`, `testnet`, `signet` or `regtest`.
    network: String,
    /// Receive descriptor with its private key, e.g. `wpkh(tprv.../84'/1'/0'/0/*)`.
    external: Hidden,
    /// Change descriptor.
    internal: Hidden,
}

/// Where the key file is: `--btc-wallet`, or `btc-wallet.json` beside the state file.
pub(crate) fn wallet_path(g: &Global) -> anyhow::Result<PathBuf> {
    if let Some(p) = &g.btc_wallet {
        return Ok(p.clone());
    }
    let state = g.state()?;
    let dir = state.path().parent().unwrap_or(Path::new("."));
    Ok(dir.join("btc-wallet.json"))
}

fn data_path(keys: &Path) -> PathBuf {
    let mut s = keys.as_os_str().to_owned();
    s.push(".bdk");
    PathBuf::from(s)
}

/// Creates the key file: the given descriptors, or fresh BIP84 ones from a new OS-random seed.
/// Refuses to overwrite an existing file.
pub(crate) fn init(g: &Global, descriptors: Option<(String, String)>) -> anyhow::Result<PathBuf> {
    let path = wallet_path(g)?;
    let net = g.network()?;
    let (external, internal) = match descriptors {
        Some(d) => d,
        None => {
            let mut seed = [0_u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let xprv = Xpriv::new_master(network(net), &seed)
                .map_err(|e| anyhow::anyhow!("cannot derive a master key: {e}"))?;
            let coin = u32::from(net != Network::Mainnet);
            (
                format!("wpkh({xprv}/84'/{coin}'/0'/0/*)"),
                format!("wpkh({xprv}/84'/{coin}'/0'/1/*)"),
            )
        }
    };
    if path.exists() {
        bail!("a wallet file exists at {} already", path.display());
    }
    let (external_check, internal_check) = (external.clone(), internal.clone());
    let body = serde_json::to_vec_pretty(&WalletFile {
        version: WALLET_FILE_VERSION,
        network: net.to_string(),
        external: Hidden(external),
        internal: Hidden(internal),
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create the wallet file {}", path.display()))?;
    f.write_all(&body)?;
    f.sync_all()?;
    drop(f);
    // A descriptor the wallet cannot use (or one that differs from the wallet data already
    // beside the file) takes the key file back out.
    if let Err(e) = ResolverWallet::open(
        &data_path(&path),
        &external_check,
        &internal_check,
        network(net),
    ) {
        let _ = fs::remove_file(&path);
        bail!("the descriptors are not usable: {e}");
    }
    Ok(path)
}

/// Opens the maker's wallet; with `create`, makes a fresh one first if there is none.
pub(crate) fn open(g: &Global, create: bool) -> anyhow::Result<ResolverWallet> {
    let path = wallet_path(g)?;
    if create && !path.exists() {
        init(g, None)?;
        eprintln!("created a new Bitcoin wallet in {}", path.display());
    }
    let bytes = fs::read(&path).with_context(|| {
        format!(
            "no Bitcoin wallet at {} (create one with `swapctl wallet init`, or pass --btc-wallet)",
            path.display()
        )
    })?;
    let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "wallet file {} has mode {mode:o}; it holds private keys and must be 0600 (chmod 600)",
            path.display()
        );
    }
    let f: WalletFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("wallet file {} is not valid", path.display()))?;
    if f.version != WALLET_FILE_VERSION {
        bail!("wallet file {} has version {}", path.display(), f.version);
    }
    let net = g.network()?;
    if f.network != net.to_string() {
        bail!(
            "wallet file {} is for {}, not {net}",
            path.display(),
            f.network
        );
    }
    ResolverWallet::open(
        &data_path(&path),
        &f.external.0,
        &f.internal.0,
        network(net),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the wallet {}: {e}", path.display()))
}

/// An Electrum client with a 10 s timeout.
pub(crate) fn electrum(g: &Global) -> anyhow::Result<Client> {
    let config = ConfigBuilder::new()
        .timeout(Some(Duration::from_secs(10)))
        .build();
    Client::from_config(&g.electrum_url, config)
        .with_context(|| format!("cannot reach the Electrum server at {}", g.electrum_url))
}

/// The chain tip's height.
pub(crate) fn tip(c: &Client) -> anyhow::Result<u32> {
    let h = c
        .block_headers_subscribe()
        .context("Electrum did not send the chain tip")?;
    u32::try_from(h.height).context("tip height out of range")
}

/// Brings the wallet up to date.
pub(crate) fn sync(g: &Global, w: &mut ResolverWallet) -> anyhow::Result<()> {
    w.sync(&BdkElectrumClient::new(electrum(g)?))
        .map_err(|e| anyhow::anyhow!("wallet sync failed: {e}"))
}

/// Hands `tx` to Electrum; a transaction the node already has counts as sent.
pub(crate) fn broadcast(g: &Global, tx: &Transaction) -> anyhow::Result<Txid> {
    let mut w = ElectrumWatcher::<()>::new(ElectrumConfig::new(g.electrum_url.clone()));
    match w.broadcast(tx) {
        Ok(Broadcast::Accepted(t) | Broadcast::AlreadyKnown(t)) => Ok(t),
        Err(BroadcastError::Rejected(why)) => {
            bail!("the node refused {}: {why}", tx.compute_txid())
        }
        Err(e) => Err(anyhow::anyhow!(
            "broadcast of {} failed (it is recorded; rerun to send it again): {e}",
            tx.compute_txid()
        )),
    }
}

/// sat/vB from Electrum's BTC/kvB, if it is a usable estimate.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn sat_per_vb(btc_per_kvb: f64) -> Option<u64> {
    let v = (btc_per_kvb * 100_000.0).ceil();
    // Checked to be a small positive whole number, so the cast is exact.
    (v.is_finite() && (1.0..=100_000.0).contains(&v)).then_some(v as u64)
}

/// The fee rate for fundings and refunds: `--btc-fee-rate`, else Electrum's 6-block estimate,
/// else its relay floor, else 2 sat/vB.
pub(crate) fn fee_rate(g: &Global, c: &Client) -> anyhow::Result<FeeRate> {
    let v = match g.btc_fee_rate {
        Some(v) => v,
        None => c
            .estimate_fee(6, None)
            .ok()
            .and_then(sat_per_vb)
            .or_else(|| c.relay_fee().ok().and_then(sat_per_vb))
            .unwrap_or(FALLBACK_SAT_VB),
    };
    FeeRate::from_sat_per_vb(v).with_context(|| format!("fee rate {v} sat/vB is out of range"))
}

/// The claim ladder's rates: `--claim-fee-rates`, ascending sat/vB.
pub(crate) fn ladder_rates(g: &Global) -> anyhow::Result<Vec<FeeRate>> {
    parse_rates(&g.claim_fee_rates)
}

fn parse_rates(list: &str) -> anyhow::Result<Vec<FeeRate>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let v: u64 = part
            .trim()
            .parse()
            .ok()
            .filter(|v| (1..=HIGH_FEE_RATE_SAT_PER_VB).contains(v))
            .with_context(|| {
                format!(
                    "--claim-fee-rates: {part:?} is not a rate of 1 to {HIGH_FEE_RATE_SAT_PER_VB} sat/vB"
                )
            })?;
        out.push(FeeRate::from_sat_per_vb(v).context("fee rate out of range")?);
    }
    if out.is_empty() || out.len() > 8 || out.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--claim-fee-rates must be 1 to 8 rising rates, e.g. 1,2,5,10,25,50");
    }
    Ok(out)
}

fn parse_outpoint(s: &str) -> anyhow::Result<OutPoint> {
    OutPoint::from_str(s).with_context(|| format!("not an outpoint: {s:?}"))
}

fn secret_key(e: &Entry) -> anyhow::Result<SecretKey> {
    let b = hex::decode(&e.btc_secret_key.0).context("the stored Bitcoin key is not hex")?;
    SecretKey::from_slice(&b).context("the stored Bitcoin key is not a valid key")
}

fn secret(e: &Entry) -> anyhow::Result<Secret> {
    let b = hex::decode(&e.secret.0).context("the stored secret is not hex")?;
    Secret::from_slice(&b).map_err(|_| anyhow::anyhow!("the stored secret is not 32 bytes"))
}

/// Where the maker's refunded or claimed BTC goes: the entry's payout address, or a fresh
/// address of the wallet (the caller records it with what it signs).
fn payout(g: &Global, e: &Entry) -> anyhow::Result<(Address, bool)> {
    if e.btc_payout_address.is_some() {
        return payout_with(g, e, None);
    }
    payout_with(g, e, Some(&mut open(g, false)?))
}

/// [`payout`] with the wallet already open (never two handles on its file).
fn payout_with(
    g: &Global,
    e: &Entry,
    wallet: Option<&mut ResolverWallet>,
) -> anyhow::Result<(Address, bool)> {
    let net = network(g.network()?);
    if let Some(a) = &e.btc_payout_address {
        let a = Address::from_str(a)
            .ok()
            .and_then(|a| a.require_network(net).ok())
            .with_context(|| format!("the stored payout address {a} is not a {net} address"))?;
        return Ok((a, false));
    }
    let w = wallet.context("no wallet to take a payout address from")?;
    let a = w
        .new_address()
        .map_err(|e| anyhow::anyhow!("wallet: {e}"))?;
    Ok((a, true))
}

/// The HTLC of a recorded funding.
pub(crate) fn recorded_params(e: &Entry) -> anyhow::Result<Option<HtlcParams>> {
    let Some(Funding::Bitcoin {
        claim_pubkey,
        refund_pubkey,
        timeout_height,
        ..
    }) = &e.funding
    else {
        return Ok(None);
    };
    let key = |h: &str| {
        hex::decode(h)
            .ok()
            .and_then(|b| bitcoin::secp256k1::PublicKey::from_slice(&b).ok())
            .context("the recorded HTLC key is not valid")
    };
    let hashlock = crosslock_core::secret::Hashlock::from_hex(&e.hashlock)
        .map_err(|_| anyhow::anyhow!("the stored hashlock is not valid"))?;
    let p = HtlcParams::new(
        hashlock,
        key(claim_pubkey)?,
        key(refund_pubkey)?,
        crosslock_core::time::BtcHeight(*timeout_height),
    )
    .map_err(|e| anyhow::anyhow!("the recorded HTLC is not valid: {e}"))?;
    Ok(Some(p))
}

/// What funding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BtcFunded {
    /// The funding transaction.
    pub txid: String,
    /// The HTLC output.
    pub outpoint: String,
    /// The deposit address.
    pub address: String,
    /// Satoshis locked.
    pub amount: u64,
    /// Signed now (false: found recorded, in the wallet or on chain, and sent again if needed).
    pub new: bool,
}

fn funding_record(
    params: &HtlcParams,
    amount: Sats,
    net: bitcoin::Network,
    tx: &Transaction,
    outpoint: OutPoint,
) -> Funding {
    Funding::Bitcoin {
        claim_pubkey: hex::encode(params.claim_pubkey().serialize()),
        refund_pubkey: hex::encode(params.refund_pubkey().serialize()),
        timeout_height: params.timeout().0,
        amount: amount.0,
        address: params.address(net).to_string(),
        tx: serialize_hex(tx),
        txid: tx.compute_txid().to_string(),
        outpoint: outpoint.to_string(),
    }
}

/// Broadcasts the recorded funding again unless the chain already has it.
pub(crate) fn resume_funding(g: &Global, e: &Entry) -> anyhow::Result<BtcFunded> {
    let Some(Funding::Bitcoin {
        address,
        amount,
        tx,
        txid,
        outpoint,
        ..
    }) = &e.funding
    else {
        bail!("no Bitcoin funding is recorded for this swap");
    };
    let params = recorded_params(e)?.context("no Bitcoin funding is recorded")?;
    let c = electrum(g)?;
    let seen = c
        .script_get_history(&params.script_pubkey())
        .context("Electrum history of the HTLC")?
        .iter()
        .any(|h| h.tx_hash.to_string() == *txid);
    if !seen {
        let tx: Transaction =
            deserialize_hex(tx).context("the recorded funding is not a transaction")?;
        broadcast(g, &tx)?;
    }
    Ok(BtcFunded {
        txid: txid.clone(),
        outpoint: outpoint.clone(),
        address: address.clone(),
        amount: *amount,
        new: false,
    })
}

/// Funds the checked HTLC from the maker's wallet, once: a transaction paying it that the chain
/// or the wallet already knows is adopted instead of paying again. The signed funding is in the
/// state file before it is broadcast.
pub(crate) fn fund(
    g: &Global,
    state: &StateFile,
    e: &Entry,
    params: &HtlcParams,
    amount: Sats,
) -> anyhow::Result<BtcFunded> {
    if e.funding.is_some() {
        return resume_funding(g, e);
    }
    let id = e.swap_id.clone().context("the order has no swap id yet")?;
    let net = network(g.network()?);
    let spk = params.script_pubkey();
    let c = electrum(g)?;

    // Coins already on the HTLC (ours from a run that died before recording, or sent by hand):
    // record them and pay nothing more.
    let history = c
        .script_get_history(&spk)
        .context("Electrum history of the HTLC")?;
    let mut known: Option<(Transaction, OutPoint, Sats)> = None;
    for h in &history {
        let tx = c
            .transaction_get(&h.tx_hash)
            .context("Electrum transaction")?;
        if let Some((op, paid)) = find_htlc_outputs(&tx, params).into_iter().next() {
            known = Some((tx, op, paid));
            break;
        }
    }
    let mut wallet = open(g, false)?;
    sync(g, &mut wallet)?;
    if known.is_none() {
        // Signed and kept by the wallet, but the state file was not written: the same one.
        known = wallet.inner().transactions().find_map(|t| {
            let tx = t.tx_node.tx.as_ref().clone();
            let (op, paid) = find_htlc_outputs(&tx, params).into_iter().next()?;
            Some((tx, op, paid))
        });
    }
    let mut fresh_payout = None;
    // What a found payment holds is recorded as it is, even when it is not the agreed amount
    // (a refund takes back whatever is there).
    let (tx, outpoint, amount, new) = match known {
        Some((tx, op, paid)) => (tx, op, paid, false),
        None => {
            let rate = fee_rate(g, &c)?;
            // The refund's destination sizes the smallest lock worth making.
            let (dest, fresh) = payout_with(g, e, Some(&mut wallet))?;
            if fresh {
                fresh_payout = Some(dest.to_string());
            }
            let max = FeeRate::from_sat_per_vb(HIGH_FEE_RATE_SAT_PER_VB)
                .context("fee rate out of range")?;
            let f = wallet
                .fund_htlc(
                    &FundingRequest {
                        htlc: *params,
                        amount,
                        fee_rate: rate,
                    },
                    &dest.script_pubkey(),
                    max,
                    UnixTime(crate::maker::now()),
                )
                .map_err(|e| anyhow::anyhow!("the wallet cannot fund the HTLC: {e}"))?;
            (f.tx, f.outpoint, amount, true)
        }
    };
    drop(wallet);
    let record = funding_record(params, amount, net, &tx, outpoint);
    state
        .update_entry(&id, |x| {
            x.funding = Some(record);
            if let Some(a) = fresh_payout {
                x.btc_payout_address = Some(a);
            }
        })
        .context("failed to record the funding; nothing was broadcast")?;
    if !history.iter().any(|h| h.tx_hash == tx.compute_txid()) {
        broadcast(g, &tx)?;
    }
    Ok(BtcFunded {
        txid: tx.compute_txid().to_string(),
        outpoint: outpoint.to_string(),
        address: params.address(net).to_string(),
        amount: amount.0,
        new,
    })
}

/// One refunded output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BtcRefunded {
    /// The HTLC output.
    pub outpoint: String,
    /// The refund.
    pub txid: String,
    /// Satoshis in the HTLC output.
    pub amount: u64,
    /// Signed now (false: recorded before).
    pub new: bool,
    /// In a block (false: in the mempool).
    pub mined: bool,
}

/// Refunds every output paying the HTLC (a double or wrong-amount funding included) to the
/// maker's payout address, once its timeout height is reached. Each refund is recorded before
/// it is broadcast; a rerun sends the recorded one again.
pub(crate) fn refund(
    g: &Global,
    state: &StateFile,
    e: &Entry,
    params: &HtlcParams,
) -> anyhow::Result<Vec<BtcRefunded>> {
    let id = e.swap_id.clone().context("the order has no swap id")?;
    let c = electrum(g)?;
    let tip = tip(&c)?;
    let timeout = params.timeout().0;
    if tip < timeout {
        bail!(
            "too early: the HTLC refunds from height {timeout} (its refund can be mined in block {}); the tip is {tip}, {} blocks to go",
            timeout.saturating_add(1),
            timeout - tip
        );
    }
    let spk = params.script_pubkey();
    let unspent = c
        .script_list_unspent(&spk)
        .context("Electrum unspent outputs of the HTLC")?;
    let key = secret_key(e)?;
    let mut out = Vec::new();
    let mut payout_addr: Option<(Address, bool)> = None;
    for u in unspent {
        let outpoint = OutPoint::new(u.tx_hash, u32::try_from(u.tx_pos)?);
        let recorded = e.refunds.iter().find_map(|r| match r {
            Refund::Bitcoin {
                outpoint: o, tx, ..
            } if *o == outpoint.to_string() => Some(tx.clone()),
            _ => None,
        });
        let (tx, new) = match recorded {
            Some(hex) => (
                deserialize_hex::<Transaction>(&hex).context("the recorded refund")?,
                false,
            ),
            None => {
                if payout_addr.is_none() {
                    payout_addr = Some(payout(g, e)?);
                }
                let (dest, fresh) = payout_addr.clone().context("payout")?;
                let utxo = HtlcUtxo {
                    outpoint,
                    amount: Sats(u.value),
                    params: *params,
                };
                let s = crosslock_btc::refund::build(
                    &utxo,
                    &dest.script_pubkey(),
                    fee_rate(g, &c)?,
                    &key,
                )
                .map_err(|e| anyhow::anyhow!("cannot build the refund of {outpoint}: {e}"))?;
                let rec = Refund::Bitcoin {
                    outpoint: outpoint.to_string(),
                    tx: serialize_hex(&s.tx),
                    txid: s.tx.compute_txid().to_string(),
                    amount: u.value,
                };
                let addr = dest.to_string();
                state
                    .update_entry(&id, |x| {
                        x.refunds.push(rec);
                        if fresh {
                            x.btc_payout_address = Some(addr);
                        }
                    })
                    .context("failed to record the refund; nothing was broadcast")?;
                (s.tx, true)
            }
        };
        broadcast(g, &tx)?;
        out.push(BtcRefunded {
            outpoint: outpoint.to_string(),
            txid: tx.compute_txid().to_string(),
            amount: u.value,
            new,
            mined: false,
        });
    }
    // Refunds made earlier that the chain or the mempool holds: reported, nothing to send.
    let history = c
        .script_get_history(&spk)
        .context("Electrum history of the HTLC")?;
    for r in &e.refunds {
        let Refund::Bitcoin {
            outpoint,
            txid,
            amount,
            ..
        } = r
        else {
            continue;
        };
        if out.iter().any(|o| o.outpoint == *outpoint) {
            continue;
        }
        if let Some(h) = history.iter().find(|h| h.tx_hash.to_string() == *txid) {
            out.push(BtcRefunded {
                outpoint: outpoint.clone(),
                txid: txid.clone(),
                amount: *amount,
                new: false,
                mined: h.height > 0,
            });
        }
    }
    Ok(out)
}

/// The maker's signed claims of the resolver's HTLC (ETH -> BTC), lowest fee first, as raw
/// transactions carrying the secret: what `RevealSecret` sends. The HTLC output is read from the
/// chain (never taken from the relayer) and must hold at least `amount`. Pays the entry's
/// payout address (a fresh wallet address the first time, recorded before anything is sent).
pub(crate) fn claim_ladder(
    g: &Global,
    state: &StateFile,
    e: &Entry,
    params: &HtlcParams,
    outpoint: &str,
    amount: Sats,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let id = e.swap_id.clone().context("the order has no swap id")?;
    let outpoint = parse_outpoint(outpoint)?;
    let c = electrum(g)?;
    let tx = c
        .transaction_get(&outpoint.txid)
        .with_context(|| format!("Electrum has no transaction {}", outpoint.txid))?;
    let out = usize::try_from(outpoint.vout)
        .ok()
        .and_then(|v| tx.output.get(v))
        .context("the HTLC outpoint is not in its transaction")?;
    if out.script_pubkey != params.script_pubkey() {
        bail!("the output {outpoint} does not pay the HTLC");
    }
    if out.value.to_sat() < amount.0 {
        bail!(
            "the HTLC output {outpoint} holds {} sat, the swap promised {}",
            out.value.to_sat(),
            amount.0
        );
    }
    let utxo = HtlcUtxo {
        outpoint,
        amount: Sats(out.value.to_sat()),
        params: *params,
    };
    let (dest, fresh) = payout(g, e)?;
    if fresh {
        let addr = dest.to_string();
        state
            .update_entry(&id, |x| x.btc_payout_address = Some(addr))
            .context("failed to record the payout address")?;
    }
    sign_claims(
        &utxo,
        &dest.script_pubkey(),
        ladder_rates(g)?,
        &secret_key(e)?,
        &secret(e)?,
    )
}

/// The claim of `utxo` to `dest` signed at each of `rates` (the top ones dropped when the HTLC
/// cannot pay them above dust), each completed with the secret, as raw transactions.
fn sign_claims(
    utxo: &HtlcUtxo,
    dest: &ScriptBuf,
    mut rates: Vec<FeeRate>,
    key: &SecretKey,
    secret: &Secret,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let ladder = loop {
        match crosslock_btc::claim::sign_ladder(utxo, dest, &rates, key) {
            Ok(l) => break l,
            Err(SpendError::Dust { .. }) if rates.len() > 1 => {
                rates.pop();
            }
            Err(e) => bail!("cannot sign the claim ladder: {e}"),
        }
    };
    let txs = ladder
        .complete_all(utxo, secret)
        .map_err(|e| anyhow::anyhow!("cannot complete the claim ladder: {e}"))?;
    Ok(txs.iter().map(bitcoin::consensus::serialize).collect())
}

/// `ScriptBuf` of an address string on this network.
pub(crate) fn address_script(g: &Global, a: &str) -> anyhow::Result<ScriptBuf> {
    let net = network(g.network()?);
    Address::from_str(a)
        .ok()
        .and_then(|a| a.require_network(net).ok())
        .map(|a| a.script_pubkey())
        .with_context(|| format!("{a:?} is not a {net} address"))
}

/// `swapctl wallet ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum WalletCommand {
    /// Create the wallet key file: fresh BIP84 descriptors from a new random seed, or yours.
    Init {
        /// Receive descriptor with its private key, e.g. `wpkh(tprv.../84'/1'/0'/0/*)`.
        #[arg(long, requires = "change_descriptor")]
        descriptor: Option<String>,
        /// Change descriptor with its private key.
        #[arg(long, requires = "descriptor")]
        change_descriptor: Option<String>,
    },
    /// Print a fresh receive address (the wallet is created first if there is none).
    Address,
    /// Sync through Electrum and print what the wallet holds.
    Balance,
}

/// Runs a wallet command.
pub(crate) fn wallet_command(g: &Global, what: WalletCommand) -> anyhow::Result<()> {
    let path = wallet_path(g)?;
    match what {
        WalletCommand::Init {
            descriptor,
            change_descriptor,
        } => {
            let path = init(g, descriptor.zip(change_descriptor))?;
            crate::emit(
                g.json,
                serde_json::json!({"wallet": path.display().to_string()}),
                || format!("created the wallet key file {}\n", path.display()),
            );
        }
        WalletCommand::Address => {
            let mut w = open(g, true)?;
            let a = w
                .new_address()
                .map_err(|e| anyhow::anyhow!("wallet: {e}"))?;
            crate::emit(
                g.json,
                serde_json::json!({
                    "address": a.to_string(),
                    "network": g.network()?.to_string(),
                    "wallet": path.display().to_string(),
                }),
                || format!("{a}\n"),
            );
        }
        WalletCommand::Balance => {
            let mut w = open(g, false)?;
            sync(g, &mut w)?;
            let b = w.balance();
            crate::emit(
                g.json,
                serde_json::json!({
                    "confirmed": b.confirmed.0.to_string(),
                    "pending": b.pending.0.to_string(),
                    "immature": b.immature.0.to_string(),
                    "reserved": b.reserved.0.to_string(),
                }),
                || {
                    crate::render::fields(&[
                        ("confirmed", format!("{} sat", b.confirmed.0)),
                        ("pending", format!("{} sat", b.pending.0)),
                        ("immature", format!("{} sat", b.immature.0)),
                    ])
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bitcoin::hashes::Hash;

    fn pk(k: &SecretKey) -> bitcoin::secp256k1::PublicKey {
        k.public_key(&bitcoin::secp256k1::Secp256k1::new())
    }

    /// The relayer's default ladder policy: lowest rung at least 1 sat/vB, top at least
    /// 10 sat/vB, no fee above 152 vB at 500 sat/vB, at most 8 rungs.
    fn relayer_policy() -> crosslock_btc::claim::LadderPolicy {
        crosslock_btc::claim::LadderPolicy {
            min_rate: FeeRate::from_sat_per_vb_u32(1),
            min_top_rate: FeeRate::from_sat_per_vb_u32(10),
            max_fee: crosslock_core::fees::max_fee(crosslock_core::fees::CLAIM_VSIZE),
            max_rungs: 8,
        }
    }

    fn utxo(amount: u64, claim: &SecretKey, secret: &Secret) -> HtlcUtxo {
        let refund = SecretKey::from_slice(&[9; 32]).unwrap();
        HtlcUtxo {
            outpoint: OutPoint::new(Txid::from_str(&"ab".repeat(32)).unwrap(), 1),
            amount: Sats(amount),
            params: HtlcParams::new(
                secret.hashlock(),
                pk(claim),
                pk(&refund),
                crosslock_core::time::BtcHeight(500),
            )
            .unwrap(),
        }
    }

    #[test]
    fn the_default_claim_ladder_passes_the_relayers_check_and_carries_the_secret() {
        let key = SecretKey::from_slice(&[3; 32]).unwrap();
        let secret = Secret::new([4; 32]);
        let u = utxo(100_000, &key, &secret);
        let dest = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([5; 20]));
        let raw = sign_claims(
            &u,
            &dest,
            parse_rates("1,2,5,10,25,50").unwrap(),
            &key,
            &secret,
        )
        .unwrap();
        assert_eq!(raw.len(), 6);
        let txs: Vec<Transaction> = raw
            .iter()
            .map(|r| bitcoin::consensus::deserialize(r).unwrap())
            .collect();
        let (ladder, got) = crosslock_btc::claim::ClaimLadder::from_completed(&txs, &u).unwrap();
        assert_eq!(got.expose(), secret.expose());
        crosslock_btc::claim::verify_ladder(&ladder, &u, &dest, &relayer_policy()).unwrap();
    }

    #[test]
    fn a_small_htlc_drops_the_rungs_it_cannot_pay_and_a_wrong_key_signs_nothing() {
        let key = SecretKey::from_slice(&[3; 32]).unwrap();
        let secret = Secret::new([4; 32]);
        let dest = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([5; 20]));
        // A claim is under 152 vB: at 25 sat/vB it costs more than 3,000 sat, at 10 sat/vB
        // it leaves more than dust.
        let small = utxo(3_000, &key, &secret);
        let raw = sign_claims(
            &small,
            &dest,
            parse_rates("1,2,5,10,25,50").unwrap(),
            &key,
            &secret,
        )
        .unwrap();
        assert_eq!(raw.len(), 4);
        let other = SecretKey::from_slice(&[8; 32]).unwrap();
        let u = utxo(100_000, &key, &secret);
        assert!(sign_claims(&u, &dest, parse_rates("1,2").unwrap(), &other, &secret).is_err());
    }

    #[test]
    fn claim_fee_rates_must_be_one_to_eight_rising_rates() {
        assert_eq!(parse_rates("1,2,5").unwrap().len(), 3);
        for bad in ["", "0,1", "2,1", "1,1", "1,x", "1,2,3,4,5,6,7,8,9", "501"] {
            assert!(parse_rates(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn electrum_estimates_become_whole_sat_per_vb_and_nonsense_is_dropped() {
        assert_eq!(sat_per_vb(0.00001), Some(1));
        assert_eq!(sat_per_vb(0.000_015), Some(2));
        assert_eq!(sat_per_vb(0.0002), Some(20));
        assert_eq!(sat_per_vb(-1.0), None);
        assert_eq!(sat_per_vb(0.0), None);
        assert_eq!(sat_per_vb(f64::NAN), None);
        assert_eq!(sat_per_vb(1e9), None);
    }
}

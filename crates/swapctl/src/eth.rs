//! The maker's Ethereum side: its key (a hex private key in a 0600 file), the escrow checks
//! before anything is sent (chain id, runtime code hash, configured address), locking ETH or an
//! ERC-20 (approve, then lock) for an ETH -> BTC swap, and refunding the lock after its timeout.
//!
//! Owns the maker's use of `crosslock-eth`'s sender. Its outbox is the state file's
//! `eth_outbox`: every transaction is signed and written there before it is broadcast, a rerun
//! sends the written one again, and one outbox key (`approve:`, `lock:`, `refund:` plus the swap
//! id) is one nonce for good. It must never lock a second time: the escrow's status of the lock
//! is read before anything is signed.

use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use anyhow::{Context, bail};
use crosslock_eth::contract::{Escrow, TestToken};
use crosslock_eth::{
    EthSigner, LocalKey, OutboxEntry, SenderConfig, StoreError, SwapParams, TxSender, TxStore,
};

use crate::Global;
use crate::state::{Entry, Funding, Refund, StateFile};

/// How long to wait for an `approve` to be mined before the lock that needs it.
const APPROVE_WAIT: Duration = Duration::from_secs(300);
/// How long to wait for a lock or refund to be mined before reporting it as sent.
const MINE_WAIT: Duration = Duration::from_secs(60);

/// The escrow's record of a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Never locked (with these exact parameters).
    None,
    /// Locked, neither claimed nor refunded.
    Locked,
    /// Claimed by the receiver.
    Claimed,
    /// Refunded to the sender.
    Refunded,
}

/// An escrow lock: where, on which chain, and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EscrowLock {
    /// The escrow contract.
    pub escrow: Address,
    /// Its chain.
    pub chain_id: u64,
    /// The lock, as the escrow hashes it.
    pub params: SwapParams,
}

/// The maker's signer, from `--eth-key-file`.
pub(crate) fn signer(g: &Global) -> anyhow::Result<EthSigner> {
    let path = g.eth_key_file.as_ref().context(
        "the maker's Ethereum key is needed: pass --eth-key-file (SWAPCTL_ETH_KEY_FILE)",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "key file {} has mode {mode:o}; it holds a private key and must be 0600 (chmod 600)",
                path.display()
            );
        }
    }
    let hex = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    EthSigner::local(&LocalKey::new(hex.trim()))
        .map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
}

/// The node at `--eth-rpc-url`.
pub(crate) fn provider(g: &Global) -> anyhow::Result<RootProvider> {
    let url = g
        .eth_rpc_url
        .parse()
        .with_context(|| format!("invalid --eth-rpc-url {:?}", g.eth_rpc_url))?;
    Ok(RootProvider::new_http(url))
}

/// The latest block's timestamp.
pub(crate) async fn chain_time(p: &RootProvider) -> anyhow::Result<u64> {
    let b = p
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .context("the Ethereum node did not answer")?
        .context("the Ethereum node has no latest block")?;
    Ok(b.header.timestamp)
}

async fn call(p: &RootProvider, to: Address, data: Vec<u8>) -> anyhow::Result<Bytes> {
    let req = TransactionRequest::default().to(to).input(data.into());
    p.call(req).await.context("eth_call failed")
}

/// The escrow's status of the lock `id`.
pub(crate) async fn status(p: &RootProvider, escrow: Address, id: B256) -> anyhow::Result<Status> {
    let out = call(p, escrow, Escrow::statusCall { id }.abi_encode()).await?;
    let s = Escrow::statusCall::abi_decode_returns(&out).context("escrow status")?;
    Ok(match s {
        0 => Status::None,
        1 => Status::Locked,
        2 => Status::Claimed,
        _ => Status::Refunded,
    })
}

async fn allowance(
    p: &RootProvider,
    token: Address,
    owner: Address,
    spender: Address,
) -> anyhow::Result<U256> {
    let out = call(
        p,
        token,
        TestToken::allowanceCall { owner, spender }.abi_encode(),
    )
    .await?;
    TestToken::allowanceCall::abi_decode_returns(&out).context("token allowance")
}

/// What `who` holds: wei, or base units of `token`.
pub(crate) async fn balance(
    p: &RootProvider,
    who: Address,
    token: Option<Address>,
) -> anyhow::Result<U256> {
    match token {
        None => p.get_balance(who).await.context("balance query failed"),
        Some(t) => {
            let out = call(p, t, TestToken::balanceOfCall { account: who }.abi_encode()).await?;
            TestToken::balanceOfCall::abi_decode_returns(&out).context("token balance")
        }
    }
}

/// The sender's outbox in the state file.
#[derive(Debug, Clone)]
struct Outbox(StateFile);

impl TxStore for Outbox {
    async fn load(&self, from: Address) -> Result<Vec<OutboxEntry>, StoreError> {
        let all = self.0.load_all().map_err(StoreError::new)?;
        Ok(all
            .eth_outbox
            .into_iter()
            .filter(|e| e.from == from && !e.state.is_final())
            .collect())
    }

    async fn save(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.0
            .update_all(|c| {
                match c
                    .eth_outbox
                    .iter_mut()
                    .find(|e| e.from == entry.from && e.nonce == entry.nonce)
                {
                    Some(e) => *e = entry.clone(),
                    None => c.eth_outbox.push(entry.clone()),
                }
                Ok(())
            })
            .map_err(StoreError::new)
    }
}

/// A sender over the state file's outbox, with everything unmined in it sent again.
async fn sender(
    g: &Global,
    p: &RootProvider,
    state: &StateFile,
    chain_id: u64,
) -> anyhow::Result<TxSender<RootProvider, Outbox>> {
    let mut s = TxSender::open(
        p.clone(),
        Outbox(state.clone()),
        signer(g)?,
        SenderConfig::new(chain_id),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot start the Ethereum sender: {e}"))?;
    s.resume()
        .await
        .map_err(|e| anyhow::anyhow!("re-sending recorded transactions failed: {e}"))?;
    // Marks what was mined meanwhile, and replaces what is stuck.
    if let Err(e) = s.poll().await {
        eprintln!("warning: could not follow earlier transactions: {e}");
    }
    Ok(s)
}

/// Waits up to `wait` for `hash` to be mined; `Some(success)` once it is.
async fn mined(p: &RootProvider, hash: B256, wait: Duration) -> anyhow::Result<Option<bool>> {
    let end = Instant::now() + wait;
    loop {
        if let Some(r) = p
            .get_transaction_receipt(hash)
            .await
            .context("receipt query failed")?
            && r.block_number.is_some()
        {
            return Ok(Some(r.status()));
        }
        if Instant::now() >= end {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The node, the chain id and the escrow's runtime code checked before a transaction is sent:
/// a contract that is not the committed escrow build could pay anyone.
async fn check_escrow(
    g: &Global,
    p: &RootProvider,
    escrow: Address,
    chain_id: u64,
) -> anyhow::Result<()> {
    let node = p
        .get_chain_id()
        .await
        .with_context(|| format!("cannot reach the Ethereum node at {}", g.eth_rpc_url))?;
    if node != chain_id {
        bail!("the Ethereum node is on chain {node}, the swap on chain {chain_id}");
    }
    if let Some(want) = &g.escrow_address {
        let want: Address = want
            .parse()
            .with_context(|| format!("invalid --escrow-address {want:?}"))?;
        if want != escrow {
            bail!(
                "the swap's escrow is {}, but --escrow-address is {}",
                escrow.to_checksum(None),
                want.to_checksum(None)
            );
        }
    }
    crosslock_eth::check_code_hash(p, escrow)
        .await
        .map_err(|e| anyhow::anyhow!("the escrow is not the expected contract: {e}"))
}

/// The entry's swap id, and the node with the escrow checked.
async fn connect(
    g: &Global,
    e: &Entry,
    lock: &EscrowLock,
) -> anyhow::Result<(String, RootProvider)> {
    let id = e.swap_id.clone().context("the order has no swap id yet")?;
    let p = provider(g)?;
    check_escrow(g, &p, lock.escrow, lock.chain_id).await?;
    Ok((id, p))
}

/// What locking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EthFunded {
    /// The escrow's id of the lock.
    pub escrow_id: B256,
    /// The lock transaction, when this run sent it or found it in the outbox.
    pub tx: Option<B256>,
    /// Whether it is mined (and succeeded).
    pub mined: bool,
    /// Sent by this run (false: the escrow holds it already).
    pub new: bool,
}

fn outbox_hash(state: &StateFile, key: &str) -> Option<B256> {
    state
        .load_all()
        .ok()?
        .eth_outbox
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.hash)
}

/// Locks the checked escrow parameters with the maker's key, once: the escrow's status is read
/// first, the funding is recorded before anything is signed, and the signed transactions are in
/// the outbox before they are sent.
pub(crate) async fn fund(
    g: &Global,
    state: &StateFile,
    e: &Entry,
    lock: &EscrowLock,
) -> anyhow::Result<EthFunded> {
    let (id, p) = connect(g, e, lock).await?;
    let (escrow, chain_id, params) = (lock.escrow, lock.chain_id, &lock.params);
    let me = signer(g)?.address();
    if me != params.sender {
        bail!(
            "the key file's address {} is not the swap's sender {}",
            me.to_checksum(None),
            params.sender.to_checksum(None)
        );
    }
    let escrow_id = params.id();
    let lock_key = format!("lock:{id}");
    match status(&p, escrow, escrow_id).await? {
        Status::None => {}
        _ => {
            return Ok(EthFunded {
                escrow_id,
                tx: outbox_hash(state, &lock_key),
                mined: true,
                new: false,
            });
        }
    }
    if e.funding.is_none() {
        let record = Funding::Ethereum {
            escrow: escrow.to_checksum(None),
            chain_id,
            params: params.clone(),
            escrow_id: escrow_id.to_string(),
        };
        state
            .update_entry(&id, |x| x.funding = Some(record))
            .context("failed to record the funding; nothing was sent")?;
    }
    let mut s = sender(g, &p, state, chain_id).await?;
    if let Some(token) = params.token
        && allowance(&p, token, me, escrow).await? < params.amount
    {
        let a = s
            .submit(
                &format!("approve:{id}"),
                crosslock_eth::lock::approve(token, escrow, params.amount),
            )
            .await
            .map_err(|e| anyhow::anyhow!("approve failed: {e}"))?;
        match mined(&p, a.hash, APPROVE_WAIT).await? {
            Some(true) => {}
            Some(false) => bail!("the token approval {} reverted", a.hash),
            None => bail!(
                "the token approval {} is not mined yet; rerun to lock once it is",
                a.hash
            ),
        }
    }
    let (hash, mined) = send(
        &mut s,
        &p,
        &lock_key,
        crosslock_eth::lock::lock(escrow, params),
    )
    .await?;
    Ok(EthFunded {
        escrow_id,
        tx: Some(hash),
        mined,
        new: true,
    })
}

/// Signs, records and sends the transaction for `key` (the recorded one, if there is one),
/// then waits a while for it: its hash, and whether it is mined. A revert is an error.
async fn send(
    s: &mut TxSender<RootProvider, Outbox>,
    p: &RootProvider,
    key: &str,
    intent: crosslock_eth::TxIntent,
) -> anyhow::Result<(B256, bool)> {
    let what = key.split(':').next().unwrap_or(key);
    let entry = s
        .submit(key, intent)
        .await
        .map_err(|e| anyhow::anyhow!("{what} failed: {e}"))?;
    let done = mined(p, entry.hash, MINE_WAIT).await?;
    if done == Some(false) {
        bail!("the {what} {} reverted", entry.hash);
    }
    Ok((entry.hash, done.is_some()))
}

/// The escrow lock recorded when the entry was funded.
pub(crate) fn recorded(e: &Entry) -> Option<EscrowLock> {
    match &e.funding {
        Some(Funding::Ethereum {
            escrow,
            chain_id,
            params,
            ..
        }) => Some(EscrowLock {
            escrow: escrow.parse().ok()?,
            chain_id: *chain_id,
            params: params.clone(),
        }),
        _ => None,
    }
}

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EthRefunded {
    /// The refund transaction (none when the escrow had refunded already).
    pub tx: Option<B256>,
    /// Mined and succeeded.
    pub mined: bool,
}

/// Calls the escrow's `refund` (anyone may; the maker's key pays the gas) once the lock's
/// timeout has passed on chain, refusing earlier with the time to wait.
pub(crate) async fn refund(
    g: &Global,
    state: &StateFile,
    e: &Entry,
    lock: &EscrowLock,
) -> anyhow::Result<EthRefunded> {
    let (id, p) = connect(g, e, lock).await?;
    let (escrow, chain_id, params) = (lock.escrow, lock.chain_id, &lock.params);
    let key = format!("refund:{id}");
    match status(&p, escrow, params.id()).await? {
        Status::None => bail!("the escrow holds no lock for this swap: nothing to refund"),
        Status::Claimed => bail!("the escrow lock was claimed by the receiver: nothing to refund"),
        Status::Refunded => {
            return Ok(EthRefunded {
                tx: outbox_hash(state, &key),
                mined: true,
            });
        }
        Status::Locked => {}
    }
    let t = chain_time(&p).await?;
    if t < params.timeout {
        bail!(
            "too early: the escrow refunds from {} (unix); the chain's time is {t}, {} s to go",
            params.timeout,
            params.timeout - t
        );
    }
    if !e
        .refunds
        .iter()
        .any(|r| matches!(r, Refund::Ethereum { key: k } if *k == key))
    {
        let rec = Refund::Ethereum { key: key.clone() };
        state
            .update_entry(&id, |x| x.refunds.push(rec))
            .context("failed to record the refund; nothing was sent")?;
    }
    let mut s = sender(g, &p, state, chain_id).await?;
    let (hash, mined) = send(
        &mut s,
        &p,
        &key,
        crosslock_eth::refund::refund(escrow, params),
    )
    .await?;
    Ok(EthRefunded {
        tx: Some(hash),
        mined,
    })
}

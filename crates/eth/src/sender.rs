//! The transaction sender: assigns nonces, signs, writes the signed transaction to the caller's
//! outbox, and only then broadcasts; re-broadcasts after a restart; replaces a stuck transaction
//! with higher EIP-1559 fees; follows each one until it is final.
//!
//! It never broadcasts a transaction that is not in the outbox, and never signs two different
//! actions with one nonce: one idempotency key is one nonce for good, and a replacement only
//! changes the fees. One sender per address at a time: electing it among replicas is the
//! caller's job.

use std::collections::BTreeMap;

use alloy::consensus::{Transaction, TxEip1559, TxEnvelope, TypedTransaction};
use alloy::eips::{BlockNumberOrTag, Decodable2718, Encodable2718};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolInterface;
use alloy::transports::TransportError;
use serde::{Deserialize, Serialize};

use crate::contract::Escrow;
use crate::signer::{EthSigner, SignerError};
use crate::store::{StoreError, TxStore};

/// What to send: the part of a transaction the caller decides. Nonce, gas and fees are the
/// sender's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxIntent {
    /// A call to a contract, or `Create` to deploy one.
    pub to: TxKind,
    /// Wei sent along.
    pub value: U256,
    /// Calldata (or creation code).
    pub input: Bytes,
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxState {
    /// Signed and persisted; broadcast zero or more times; not seen in a block.
    Pending,
    /// In a block that is not final yet; a reorg can move it back to `Pending`.
    Mined {
        /// The version that was mined (the original or a replacement).
        hash: B256,
        /// Its block.
        block_number: u64,
        /// Whether it succeeded (status 1).
        success: bool,
    },
    /// The nonce was used by a transaction that is not in the outbox (another process signing
    /// with the same key). Nothing of ours can be mined any more; the caller must decide
    /// whether the action is still needed and submit it under a new key.
    NonceTaken,
    /// In a finalized block: nothing will change any more.
    Final {
        /// The version that was mined.
        hash: B256,
        /// Its block.
        block_number: u64,
        /// Whether it succeeded (status 1).
        success: bool,
    },
}

impl TxState {
    /// Whether nothing can change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, TxState::Final { .. } | TxState::NonceTaken)
    }
}

/// One nonce of one sender, as persisted before anything is broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The caller's idempotency key (for example `claim:<swap id>`): asking again with the same
    /// key returns this entry instead of signing a second transaction.
    pub key: String,
    /// The signing address.
    pub from: Address,
    /// The nonce, fixed for good.
    pub nonce: u64,
    /// The current signed EIP-2718 envelope.
    pub raw: Bytes,
    /// Its hash.
    pub hash: B256,
    /// Hashes of the versions it replaced; any of them may still be the one that is mined.
    pub replaced: Vec<B256>,
    /// Head block when the current version was signed; the stuck timer runs from here.
    pub signed_at_block: u64,
    /// Unix seconds by which it must be mined (a claim before the swap's timeout), if any;
    /// close to it the sender replaces the transaction every block.
    #[serde(default)]
    pub deadline: Option<u64>,
    /// State on the chain.
    pub state: TxState,
}

/// How the sender prices and follows transactions.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The chain the signer signs for; checked against the node at start.
    pub chain_id: u64,
    /// Extra gas on top of the node's estimate, in percent.
    pub gas_margin_percent: u64,
    /// Blocks without inclusion after which a pending transaction is replaced.
    pub stuck_after_blocks: u64,
    /// Fee increase per replacement, in percent. Nodes require at least 10.
    pub bump_percent: u64,
    /// Never offer more than this per gas (wei), whatever the market or the bumps say.
    pub max_fee_cap: u128,
    /// Depth at which a mined transaction counts as final when the node has no `finalized` block.
    pub fallback_final_depth: u64,
    /// Seconds before an entry's deadline from which it is replaced after every block that
    /// does not include it.
    pub urgent_window_secs: u64,
}

impl SenderConfig {
    /// Defaults for `chain_id`: 20% gas margin, replace after 3 blocks by 15% (every block in the
    /// last hour before a deadline), cap at 1000 gwei.
    pub fn new(chain_id: u64) -> SenderConfig {
        SenderConfig {
            chain_id,
            gas_margin_percent: 20,
            stuck_after_blocks: 3,
            bump_percent: 15,
            max_fee_cap: 1_000_000_000_000,
            fallback_final_depth: 64,
            urgent_window_secs: 3600,
        }
    }
}

/// Why sending failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The node did not answer, or refused a call other than a broadcast.
    #[error("rpc failed: {0}")]
    Rpc(#[from] TransportError),
    /// The node is on another chain than the one configured.
    #[error("node is on chain {node}, the sender is configured for chain {configured}")]
    WrongChain {
        /// The node's chain id.
        node: u64,
        /// The configured chain id.
        configured: u64,
    },
    /// Gas estimation says the call would revert; nothing was signed.
    #[error("call would revert: {reason}")]
    WouldRevert {
        /// The escrow's custom error, decoded when it is one; the node's message otherwise.
        reason: String,
        /// The escrow's custom error, when it is one.
        escrow_error: Option<Escrow::EscrowErrors>,
    },
    /// The market fee is above the configured cap; nothing was signed.
    #[error("fee {needed} wei/gas is above the cap of {cap}")]
    FeeAboveCap {
        /// The fee the transaction would need.
        needed: u128,
        /// The configured cap.
        cap: u128,
    },
    /// Signing failed (KMS unreachable, key refused).
    #[error(transparent)]
    Sign(#[from] SignerError),
    /// The outbox could not be written or read; nothing was broadcast.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An outbox entry holds bytes that are not a signed EIP-1559 transaction.
    #[error("outbox entry for nonce {nonce} is not a signed EIP-1559 transaction")]
    CorruptEntry {
        /// The nonce of the entry.
        nonce: u64,
    },
    /// No entry has that nonce.
    #[error("no pending entry with nonce {0}")]
    UnknownNonce(u64),
}

/// Signs, persists, sends and follows the transactions of one address.
#[derive(Debug)]
pub struct TxSender<P, S> {
    provider: P,
    store: S,
    signer: EthSigner,
    config: SenderConfig,
    /// Entries that are not final, by nonce.
    entries: BTreeMap<u64, OutboxEntry>,
}

impl<P: Provider, S: TxStore> TxSender<P, S> {
    /// Loads the outbox for the signer's address and checks the node's chain id. Call
    /// [`TxSender::resume`] next to put every unmined transaction back on the wire.
    pub async fn open(
        provider: P,
        store: S,
        signer: EthSigner,
        config: SenderConfig,
    ) -> Result<TxSender<P, S>, SendError> {
        let node = provider.get_chain_id().await?;
        if node != config.chain_id {
            return Err(SendError::WrongChain {
                node,
                configured: config.chain_id,
            });
        }
        let entries = store
            .load(signer.address())
            .await?
            .into_iter()
            .map(|e| (e.nonce, e))
            .collect();
        Ok(TxSender {
            provider,
            store,
            signer,
            config,
            entries,
        })
    }

    /// The signing address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The entries that are not final, by nonce.
    pub fn entries(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries.values()
    }

    /// Broadcasts every pending entry again, lowest nonce first. Harmless for ones the node has.
    pub async fn resume(&mut self) -> Result<Vec<B256>, SendError> {
        let pending: Vec<OutboxEntry> = self
            .entries
            .values()
            .filter(|e| e.state == TxState::Pending)
            .cloned()
            .collect();
        for entry in &pending {
            self.broadcast(entry).await?;
        }
        Ok(pending.iter().map(|e| e.hash).collect())
    }

    /// Signs and persists the transaction for `key`, without broadcasting it. With a key that
    /// already has an entry, returns that entry and signs nothing.
    pub async fn prepare(&mut self, key: &str, intent: TxIntent) -> Result<OutboxEntry, SendError> {
        self.prepare_with_deadline(key, intent, None).await
    }

    /// [`TxSender::prepare`] for a transaction that must be mined by `deadline` (unix seconds):
    /// near it, fees are raised after every block that does not include it.
    pub async fn prepare_with_deadline(
        &mut self,
        key: &str,
        intent: TxIntent,
        deadline: Option<u64>,
    ) -> Result<OutboxEntry, SendError> {
        if let Some(existing) = self.entries.values().find(|e| e.key == key) {
            return Ok(existing.clone());
        }
        let from = self.address();
        let on_chain = self.provider.get_transaction_count(from).await?;
        let nonce = self
            .entries
            .keys()
            .next_back()
            .map_or(on_chain, |n| on_chain.max(n + 1));

        let mut request = TransactionRequest::default().from(from);
        request.to = Some(intent.to);
        let request = request
            .value(intent.value)
            .input(intent.input.clone().into())
            .nonce(nonce);
        let estimate = self
            .provider
            .estimate_gas(request)
            .await
            .map_err(would_revert)?;
        let gas_limit = estimate.saturating_add(estimate * self.config.gas_margin_percent / 100);
        let fees = self.provider.estimate_eip1559_fees().await?;
        if fees.max_fee_per_gas > self.config.max_fee_cap {
            return Err(SendError::FeeAboveCap {
                needed: fees.max_fee_per_gas,
                cap: self.config.max_fee_cap,
            });
        }
        let tx = TxEip1559 {
            chain_id: self.config.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.min(fees.max_fee_per_gas),
            to: intent.to,
            value: intent.value,
            access_list: Default::default(),
            input: intent.input,
        };
        let envelope = self.signer.sign(TypedTransaction::Eip1559(tx)).await?;
        let entry = OutboxEntry {
            key: key.to_owned(),
            from,
            nonce,
            raw: envelope.encoded_2718().into(),
            hash: *envelope.tx_hash(),
            replaced: Vec::new(),
            signed_at_block: self.provider.get_block_number().await?,
            deadline,
            state: TxState::Pending,
        };
        self.store.save(&entry).await?;
        self.entries.insert(nonce, entry.clone());
        Ok(entry)
    }

    /// [`TxSender::prepare`], then broadcast.
    pub async fn submit(&mut self, key: &str, intent: TxIntent) -> Result<OutboxEntry, SendError> {
        self.submit_with_deadline(key, intent, None).await
    }

    /// [`TxSender::prepare_with_deadline`], then broadcast.
    pub async fn submit_with_deadline(
        &mut self,
        key: &str,
        intent: TxIntent,
        deadline: Option<u64>,
    ) -> Result<OutboxEntry, SendError> {
        let entry = self.prepare_with_deadline(key, intent, deadline).await?;
        if entry.state == TxState::Pending {
            self.broadcast(&entry).await?;
        }
        Ok(entry)
    }

    /// Hands the persisted raw transaction to the node. Answers that mean the node already has
    /// it, or has already mined this nonce, are not errors: re-broadcasting must be harmless.
    pub async fn broadcast(&self, entry: &OutboxEntry) -> Result<(), SendError> {
        match self.provider.send_raw_transaction(&entry.raw).await {
            Ok(_) => Ok(()),
            Err(e) if is_harmless_rebroadcast(&e) => {
                tracing::debug!(nonce = entry.nonce, hash = %entry.hash, error = %e, "rebroadcast refused harmlessly");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Re-signs the pending entry at `nonce` with fees raised by `bump_percent` (or to the
    /// market, if higher), persists it, then broadcasts it. The earlier version may still win.
    pub async fn bump(&mut self, nonce: u64) -> Result<OutboxEntry, SendError> {
        let entry = self
            .entries
            .get(&nonce)
            .cloned()
            .ok_or(SendError::UnknownNonce(nonce))?;
        let TxEnvelope::Eip1559(signed) = TxEnvelope::decode_2718(&mut entry.raw.as_ref())
            .map_err(|_| SendError::CorruptEntry { nonce })?
        else {
            return Err(SendError::CorruptEntry { nonce });
        };
        let mut tx = signed.strip_signature();
        let market = self.provider.estimate_eip1559_fees().await?;
        let bump = |fee: u128| {
            fee.saturating_add((fee * u128::from(self.config.bump_percent)).div_ceil(100))
        };
        let wanted = bump(tx.max_fee_per_gas()).max(market.max_fee_per_gas);
        // Up to the cap, as long as the node still takes it as a replacement (+10%).
        let max_fee = wanted.min(self.config.max_fee_cap);
        let old = tx.max_fee_per_gas();
        if max_fee < old.saturating_add(old.div_ceil(10)) {
            return Err(SendError::FeeAboveCap {
                needed: wanted,
                cap: self.config.max_fee_cap,
            });
        }
        tx.max_fee_per_gas = max_fee;
        tx.max_priority_fee_per_gas = bump(tx.max_priority_fee_per_gas)
            .max(market.max_priority_fee_per_gas)
            .min(max_fee);
        let envelope = self.signer.sign(TypedTransaction::Eip1559(tx)).await?;
        let mut next = entry.clone();
        next.replaced.push(entry.hash);
        next.raw = envelope.encoded_2718().into();
        next.hash = *envelope.tx_hash();
        next.signed_at_block = self.provider.get_block_number().await?;
        self.store.save(&next).await?;
        self.entries.insert(nonce, next.clone());
        tracing::info!(nonce, old = %entry.hash, new = %next.hash, max_fee, "replaced stuck transaction");
        self.broadcast(&next).await?;
        Ok(next)
    }

    /// Follows every entry that is not final: records inclusion, moves reorged-out ones back to
    /// pending and re-broadcasts them, replaces stuck ones, and finalizes the rest. Returns the
    /// entries whose state changed.
    pub async fn poll(&mut self) -> Result<Vec<OutboxEntry>, SendError> {
        let latest = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .map(|b| (b.header.number, b.header.timestamp));
        let (head, now) = match latest {
            Some(latest) => latest,
            None => (self.provider.get_block_number().await?, 0),
        };
        let finalized = match self
            .provider
            .get_block_by_number(BlockNumberOrTag::Finalized)
            .await?
        {
            Some(block) => block.header.number,
            None => head.saturating_sub(self.config.fallback_final_depth),
        };
        let used = self.provider.get_transaction_count(self.address()).await?;
        let mut changed = Vec::new();
        let nonces: Vec<u64> = self.entries.keys().copied().collect();
        for nonce in nonces {
            let Some(entry) = self.entries.get(&nonce).cloned() else {
                continue;
            };
            let mut next = entry.clone();
            next.state = self.inclusion(&entry, finalized).await?;
            // The count was read before the receipts, so a version of ours mined in between has
            // a receipt by now; a used nonce without one was taken by someone else.
            if next.state == TxState::Pending && nonce < used {
                tracing::error!(nonce, hash = %entry.hash, "nonce used by a transaction outside the outbox");
                next.state = TxState::NonceTaken;
            }
            let stuck = next.state == TxState::Pending
                && head
                    >= entry.signed_at_block.saturating_add(patience(
                        &self.config,
                        entry.deadline,
                        now,
                    ));
            if next.state != entry.state {
                self.store.save(&next).await?;
                if next.state.is_final() {
                    self.entries.remove(&nonce);
                } else {
                    self.entries.insert(nonce, next.clone());
                }
                if next.state == TxState::Pending {
                    tracing::warn!(nonce, hash = %next.hash, "mined transaction reorged out; re-broadcasting");
                    self.broadcast(&next).await?;
                }
                changed.push(next);
            } else if stuck {
                match self.bump(nonce).await {
                    Ok(bumped) => changed.push(bumped),
                    Err(SendError::FeeAboveCap { needed, cap }) => {
                        tracing::error!(nonce, needed, cap, "stuck transaction is at the fee cap");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(changed)
    }

    async fn inclusion(&self, entry: &OutboxEntry, finalized: u64) -> Result<TxState, SendError> {
        for hash in std::iter::once(&entry.hash).chain(entry.replaced.iter().rev()) {
            let Some(receipt) = self.provider.get_transaction_receipt(*hash).await? else {
                continue;
            };
            let Some(block_number) = receipt.block_number else {
                continue;
            };
            let success = receipt.status();
            return Ok(if block_number <= finalized {
                TxState::Final {
                    hash: *hash,
                    block_number,
                    success,
                }
            } else {
                TxState::Mined {
                    hash: *hash,
                    block_number,
                    success,
                }
            });
        }
        Ok(TxState::Pending)
    }
}

/// Blocks to wait for inclusion before replacing: the configured patience, or one block once
/// the deadline is within the urgent window (LDK re-bumps every block near a deadline too).
fn patience(config: &SenderConfig, deadline: Option<u64>, now: u64) -> u64 {
    match deadline {
        Some(d) if now.saturating_add(config.urgent_window_secs) >= d => {
            config.stuck_after_blocks.min(1)
        }
        _ => config.stuck_after_blocks,
    }
}

fn would_revert(e: TransportError) -> SendError {
    let Some(payload) = e.as_error_resp() else {
        return SendError::Rpc(e);
    };
    let escrow_error = payload
        .as_revert_data()
        .and_then(|data| Escrow::EscrowErrors::abi_decode(&data).ok());
    match escrow_error {
        Some(err) => SendError::WouldRevert {
            reason: format!("{err:?}"),
            escrow_error: Some(err),
        },
        None if payload.message.contains("revert") => SendError::WouldRevert {
            reason: payload.message.to_string(),
            escrow_error: None,
        },
        None => SendError::Rpc(e),
    }
}

fn is_harmless_rebroadcast(e: &TransportError) -> bool {
    let Some(payload) = e.as_error_resp() else {
        return false;
    };
    let message = payload.message.to_lowercase();
    // geth, reth, anvil and erigon wordings for "I have it" and "this nonce is used".
    [
        "already known",
        "already imported",
        "known transaction",
        "nonce too low",
        "replacement transaction underpriced",
        "already exists",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_drops_to_one_block_inside_the_urgent_window() {
        let config = SenderConfig::new(1);
        assert_eq!(patience(&config, None, 1_000_000), 3);
        assert_eq!(patience(&config, Some(1_000_000 + 3601), 1_000_000), 3);
        assert_eq!(patience(&config, Some(1_000_000 + 3600), 1_000_000), 1);
        assert_eq!(
            patience(&config, Some(999_000), 1_000_000),
            1,
            "past the deadline too"
        );
    }
}

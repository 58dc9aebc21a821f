//! The resolver's hot Bitcoin wallet: a `bdk_wallet` descriptor wallet persisted in a
//! `bdk_file_store` file, synced through Electrum, that funds HTLCs and keeps coins reserved for
//! fee bumps.
//!
//! Owns the wallet file and the signing keys of the resolver's own coins (not HTLC keys). It
//! persists every change before returning a transaction, so a funding that is broadcast after a
//! crash is one the wallet already knows (persist, then act); it must never broadcast itself.
//! Reserved coins are BDK "locked outpoints", persisted with the rest, and never picked to fund.

use std::path::Path;

use bdk_electrum::BdkElectrumClient;
use bdk_electrum::electrum_client::ElectrumApi;
use bdk_wallet::descriptor::IntoWalletDescriptor;
use bdk_wallet::file_store::Store;
use bdk_wallet::miniscript::descriptor::{KeyMap, KeyMapWrapper};
use bdk_wallet::{ChangeSet, KeychainKind, PersistedWallet, SignOptions, Wallet};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, FeeRate, Network, OutPoint, ScriptBuf, Transaction};
use thiserror::Error;

use crate::fund::{self, FundError, FundingRequest, FundingTx};
use crate::types::{Sats, UnixTime, sats};

/// Identifies our files; a different file at the path is refused on load.
const MAGIC: &[u8] = b"crosslock-resolver-wallet-v1";

/// How many unused addresses a first full scan looks past (BDK's default stop gap).
const STOP_GAP: usize = 20;

/// Requests per Electrum batch during a sync.
const BATCH_SIZE: usize = 10;

/// Why a wallet operation failed.
#[derive(Debug, Error)]
pub enum WalletError {
    /// The wallet file could not be read (corrupt, or another program's file).
    #[error("wallet file: {0}")]
    Load(String),
    /// Writing the staged changes failed; nothing may be broadcast.
    #[error("wallet persist failed: {0}")]
    Persist(String),
    /// A descriptor could not be parsed or does not match the stored wallet.
    #[error("descriptor: {0}")]
    Descriptor(String),
    /// The Electrum sync failed.
    #[error("electrum sync: {0}")]
    Sync(String),
    /// The synced data does not connect to the wallet's chain.
    #[error("cannot apply sync: {0}")]
    Apply(String),
    /// Building the funding failed.
    #[error(transparent)]
    Fund(#[from] FundError),
    /// The wallet's keys could not sign every input.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The funding could not be replaced (unknown, already confirmed, or the rate not higher).
    #[error("fee bump refused: {0}")]
    Bump(String),
}

/// What the wallet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletBalance {
    /// Confirmed and spendable (not reserved).
    pub confirmed: Sats,
    /// Unconfirmed: our own change plus incoming.
    pub pending: Sats,
    /// Immature coinbase outputs.
    pub immature: Sats,
    /// Confirmed but reserved for fee bumps.
    pub reserved: Sats,
}

/// The resolver's wallet.
pub struct ResolverWallet {
    wallet: PersistedWallet<Store<ChangeSet>>,
    store: Store<ChangeSet>,
    signer: KeyMapWrapper,
}

impl std::fmt::Debug for ResolverWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverWallet")
            .field("network", &self.wallet.network())
            .field("keys", &"***")
            .finish()
    }
}

impl ResolverWallet {
    /// Opens the wallet file at `path`, creating it if absent. The descriptors carry the private
    /// keys (e.g. `wpkh(tprv.../84'/1'/0'/0/*)`); only their public halves are stored.
    pub fn open(
        path: &Path,
        external: &str,
        internal: &str,
        network: Network,
    ) -> Result<Self, WalletError> {
        let secp = Secp256k1::new();
        let (ext, mut keys): (_, KeyMap) = external
            .into_wallet_descriptor(&secp, network.into())
            .map_err(|e| WalletError::Descriptor(e.to_string()))?;
        let (int, int_keys) = internal
            .into_wallet_descriptor(&secp, network.into())
            .map_err(|e| WalletError::Descriptor(e.to_string()))?;
        keys.extend(int_keys);
        let (mut store, _) =
            Store::load_or_create(MAGIC, path).map_err(|e| WalletError::Load(e.to_string()))?;
        let loaded = Wallet::load()
            .descriptor(KeychainKind::External, Some(ext.clone()))
            .descriptor(KeychainKind::Internal, Some(int.clone()))
            .check_network(network)
            .load_wallet(&mut store)
            .map_err(|e| WalletError::Load(e.to_string()))?;
        let wallet = match loaded {
            Some(w) => w,
            None => Wallet::create(ext, int)
                .network(network)
                .create_wallet(&mut store)
                .map_err(|e| WalletError::Load(e.to_string()))?,
        };
        Ok(Self {
            wallet,
            store,
            signer: KeyMapWrapper::from(keys),
        })
    }

    fn persist(&mut self) -> Result<(), WalletError> {
        self.wallet
            .persist(&mut self.store)
            .map(|_| ())
            .map_err(|e| WalletError::Persist(e.to_string()))
    }

    /// Brings the wallet up to date through Electrum: a full scan the first time (nothing seen
    /// yet), then a sync of the revealed scripts. Persists the result.
    pub fn sync<E: ElectrumApi>(
        &mut self,
        client: &BdkElectrumClient<E>,
    ) -> Result<(), WalletError> {
        client.populate_tx_cache(self.wallet.tx_graph().full_txs().map(|t| t.tx));
        if self.wallet.latest_checkpoint().height() == 0 {
            let req = self.wallet.start_full_scan();
            let update = client
                .full_scan(req, STOP_GAP, BATCH_SIZE, true)
                .map_err(|e| WalletError::Sync(e.to_string()))?;
            self.wallet
                .apply_update(update)
                .map_err(|e| WalletError::Apply(e.to_string()))?;
        } else {
            let req = self.wallet.start_sync_with_revealed_spks();
            let update = client
                .sync(req, BATCH_SIZE, true)
                .map_err(|e| WalletError::Sync(e.to_string()))?;
            self.wallet
                .apply_update(update)
                .map_err(|e| WalletError::Apply(e.to_string()))?;
        }
        self.persist()
    }

    /// A fresh receive address (persisted, so it is watched after a restart).
    pub fn new_address(&mut self) -> Result<Address, WalletError> {
        let a = self
            .wallet
            .reveal_next_address(KeychainKind::External)
            .address;
        self.persist()?;
        Ok(a)
    }

    /// The network the wallet is on.
    pub fn network(&self) -> Network {
        self.wallet.network()
    }

    /// What the wallet holds, with reserved coins counted apart.
    pub fn balance(&self) -> WalletBalance {
        let b = self.wallet.balance();
        let reserved: u64 = self
            .wallet
            .list_unspent()
            .filter(|u| self.wallet.is_outpoint_locked(u.outpoint))
            .map(|u| u.txout.value.to_sat())
            .sum();
        WalletBalance {
            confirmed: Sats(b.confirmed.to_sat().saturating_sub(reserved)),
            pending: Sats((b.trusted_pending + b.untrusted_pending).to_sat()),
            immature: sats(b.immature),
            reserved: Sats(reserved),
        }
    }

    /// Builds, signs and records the funding of an HTLC. The transaction is stored in the wallet
    /// as unconfirmed and persisted before it is returned, so its coins are not spent twice and
    /// its change is watched; the caller broadcasts it.
    pub fn fund_htlc(
        &mut self,
        req: &FundingRequest,
        claim_dest: &ScriptBuf,
        max_spend_rate: FeeRate,
        now: UnixTime,
    ) -> Result<FundingTx, WalletError> {
        let mut psbt = fund::build_psbt(&mut self.wallet, req, claim_dest, max_spend_rate)?;
        let (tx, fee) = self.sign(&mut psbt)?;
        let outpoint = fund::locate(&tx, req)?;
        self.record(&tx, now)?;
        Ok(FundingTx { tx, outpoint, fee })
    }

    /// Replaces an unconfirmed funding with one paying `fee_rate` (BIP125): the same HTLC output,
    /// less change, and if the change does not cover it, more inputs, the reserved coins
    /// included (this is what they are kept for). The HTLC outpoint changes with the txid; the
    /// watcher reports the old one gone and the new one seen. Persisted before it is returned.
    pub fn bump_funding(
        &mut self,
        prev: &FundingTx,
        req: &FundingRequest,
        fee_rate: FeeRate,
        now: UnixTime,
    ) -> Result<FundingTx, WalletError> {
        let reserved = self.reserved();
        for op in &reserved {
            self.wallet.unlock_outpoint(*op);
        }
        let built = self.sign_bump(prev, fee_rate);
        // Whatever happened, coins the replacement does not spend go back into the reserve.
        let spent: Vec<OutPoint> = built
            .as_ref()
            .map(|(tx, _)| tx.input.iter().map(|i| i.previous_output).collect())
            .unwrap_or_default();
        for op in reserved.iter().filter(|op| !spent.contains(op)) {
            self.wallet.lock_outpoint(*op);
        }
        let (tx, fee) = match built {
            Ok(b) => b,
            Err(e) => {
                self.persist()?;
                return Err(e);
            }
        };
        let outpoint = fund::locate(&tx, req)?;
        self.record(&tx, now)?;
        Ok(FundingTx { tx, outpoint, fee })
    }

    fn sign_bump(
        &mut self,
        prev: &FundingTx,
        fee_rate: FeeRate,
    ) -> Result<(Transaction, Sats), WalletError> {
        let mut b = self
            .wallet
            .build_fee_bump(prev.tx.compute_txid())
            .map_err(|e| WalletError::Bump(e.to_string()))?;
        b.fee_rate(fee_rate);
        let mut psbt = b.finish().map_err(|e| WalletError::Bump(e.to_string()))?;
        self.sign(&mut psbt)
    }

    fn sign(
        &self,
        psbt: &mut bdk_wallet::bitcoin::Psbt,
    ) -> Result<(Transaction, Sats), WalletError> {
        psbt.sign(&self.signer, &Secp256k1::new())
            .map_err(|(_, e)| WalletError::Sign(format!("{e:?}")))?;
        let done = self
            .wallet
            .finalize_psbt(psbt, SignOptions::default())
            .map_err(|e| WalletError::Sign(e.to_string()))?;
        if !done {
            return Err(WalletError::Sign(
                "not every input could be finalized".into(),
            ));
        }
        let fee = psbt
            .fee()
            .map_err(|e| WalletError::Sign(format!("fee: {e}")))?;
        let tx = psbt
            .clone()
            .extract_tx()
            .map_err(|e| WalletError::Sign(e.to_string()))?;
        Ok((tx, sats(fee)))
    }

    /// Records a transaction of ours as seen unconfirmed at `now` and persists it.
    pub fn record(&mut self, tx: &Transaction, now: UnixTime) -> Result<(), WalletError> {
        self.wallet.apply_unconfirmed_txs([(tx.clone(), now.0)]);
        self.persist()
    }

    /// Reserves confirmed coins worth at least `target` for fee bumps (largest first, on top
    /// of what is already reserved), persists, and returns the reserved set.
    pub fn reserve_for_fee_bumps(&mut self, target: Sats) -> Result<Vec<OutPoint>, WalletError> {
        let mut have = self.balance().reserved.0;
        let mut free: Vec<_> = self
            .wallet
            .list_unspent()
            .filter(|u| {
                u.chain_position.is_confirmed() && !self.wallet.is_outpoint_locked(u.outpoint)
            })
            .map(|u| (u.txout.value, u.outpoint))
            .collect();
        free.sort_by(|a, b| b.cmp(a));
        for (value, op) in free {
            if have >= target.0 {
                break;
            }
            self.wallet.lock_outpoint(op);
            have = have.saturating_add(value.to_sat());
        }
        self.persist()?;
        Ok(self.reserved())
    }

    /// Returns a reserved coin to the spendable set.
    pub fn release(&mut self, outpoint: OutPoint) -> Result<(), WalletError> {
        self.wallet.unlock_outpoint(outpoint);
        self.persist()
    }

    /// The reserved coins that are still unspent.
    pub fn reserved(&self) -> Vec<OutPoint> {
        self.wallet.list_locked_unspent().collect()
    }

    /// The underlying BDK wallet, for read-only queries.
    pub fn inner(&self) -> &Wallet {
        &self.wallet
    }
}

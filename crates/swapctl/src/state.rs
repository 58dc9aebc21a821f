//! The maker's local state file: one entry per order with its secret and its Bitcoin key.
//!
//! Owns reading and writing that file. It is written (0600, fsync, atomic rename) before an
//! order is sent anywhere, so a client killed at any later point can still reveal, claim or
//! refund. It must never print a secret or a key: [`Hidden`] shows `***` in `Debug`, and the
//! file is the only place either is written.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bumped when the file's layout changes. Version 2 added the funding and refund records and the
/// Ethereum outbox; a version-1 file is read as one with none of them. A newer file is refused
/// rather than misread (an older swapctl rewriting it would drop the funding records, and a
/// rerun could then fund twice).
const FORMAT_VERSION: u32 = 2;
/// Versions this build reads.
const READABLE: [u32; 2] = [1, 2];

/// How long to wait for another swapctl holding the file's lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Why the state file could not be used.
#[derive(Debug, Error)]
pub(crate) enum StateError {
    /// Reading, writing or renaming failed.
    #[error("state file {path}")]
    Io {
        /// The file or its lock.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a state file this version understands.
    #[error("state file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Others may read the file: it holds secrets, so it is refused until fixed.
    #[error("state file {path} has mode {mode:o}; it holds secrets and must be 0600 (chmod 600)")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// Another swapctl kept the lock too long (or died holding it).
    #[error("state file lock {path} is held; if no other swapctl runs, remove it")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// No entry matches.
    #[error("no swap {0} in the state file")]
    NotFound(String),
}

/// Hex of secret bytes that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One order the maker made, from before it was sent until it is settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Sent with SubmitOrder; a retry with the same key returns the same swap.
    pub idempotency_key: String,
    /// Set once the relayer answered; `None` while the outcome of the submission is unknown.
    pub swap_id: Option<String>,
    /// `btc-to-eth` or `eth-to-btc`.
    pub direction: String,
    /// The quote the order cites.
    pub quote_id: String,
    /// SHA-256 of the secret, hex.
    pub hashlock: String,
    /// The 32-byte secret, hex.
    pub secret: Hidden,
    /// The maker's Bitcoin secret key (refund key for BTC->ETH, claim key for ETH->BTC), hex.
    pub btc_secret_key: Hidden,
    /// Its compressed public key, hex.
    pub btc_pubkey: String,
    /// The maker's Ethereum address (receive for BTC->ETH, sender for ETH->BTC).
    pub eth_address: String,
    /// Where the maker's claimed or refunded BTC goes, if given.
    #[serde(default)]
    pub btc_payout_address: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Whether the secret was handed to the relayer.
    #[serde(default)]
    pub revealed: bool,
    /// What the maker pays, base units, as quoted; the source lock must hold exactly this.
    #[serde(default)]
    pub src_amount: Option<String>,
    /// What the quote said the maker receives, base units; the destination lock must hold it.
    #[serde(default)]
    pub dst_amount: Option<String>,
    /// The ERC-20 on the Ethereum side (EIP-55); `None` for native ETH.
    #[serde(default)]
    pub token: Option<String>,
    /// The maker's source lock, recorded before it is broadcast (persist, then act).
    #[serde(default)]
    pub funding: Option<Funding>,
    /// Refunds of the source lock, each recorded before it is broadcast.
    #[serde(default)]
    pub refunds: Vec<Refund>,
}

/// The maker's source lock as checked and signed, written before any broadcast, so a rerun
/// broadcasts the same transaction again instead of funding twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "snake_case")]
pub(crate) enum Funding {
    /// BTC -> ETH: the P2WSH HTLC and the transaction that pays it.
    Bitcoin {
        /// The resolver's key (claims with the secret), compressed, hex.
        claim_pubkey: String,
        /// Ours (refunds after the timeout), compressed, hex.
        refund_pubkey: String,
        /// The CLTV height.
        timeout_height: u32,
        /// Satoshis locked.
        amount: u64,
        /// The P2WSH deposit address.
        address: String,
        /// The signed funding transaction, consensus hex.
        tx: String,
        /// Its txid.
        txid: String,
        /// The HTLC output, `txid:vout`.
        outpoint: String,
    },
    /// ETH -> BTC: the escrow lock. The signed transactions are in the file's Ethereum outbox
    /// under `approve:<swap id>` and `lock:<swap id>`.
    Ethereum {
        /// The escrow contract, EIP-55.
        escrow: String,
        /// The EVM chain id.
        chain_id: u64,
        /// The lock's parameters as the escrow hashes them.
        params: crosslock_eth::SwapParams,
        /// The escrow's id of the lock, 0x hex.
        escrow_id: String,
    },
}

/// A refund of the maker's source lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "chain", rename_all = "snake_case")]
pub(crate) enum Refund {
    /// One HTLC output refunded to the maker's wallet.
    Bitcoin {
        /// The HTLC output spent, `txid:vout`.
        outpoint: String,
        /// The signed refund, consensus hex.
        tx: String,
        /// Its txid.
        txid: String,
        /// Satoshis in the HTLC output.
        #[serde(default)]
        amount: u64,
    },
    /// The escrow's `refund`; the signed transaction is in the outbox under `refund:<swap id>`.
    Ethereum {
        /// The outbox key.
        key: String,
    },
}

impl Entry {
    /// Does `id` name this entry (swap id, or idempotency key before the swap id is known)?
    pub(crate) fn is(&self, id: &str) -> bool {
        self.swap_id.as_deref() == Some(id) || self.idempotency_key == id
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    swaps: Vec<Entry>,
    #[serde(default)]
    eth_outbox: Vec<crosslock_eth::OutboxEntry>,
}

/// Everything the file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Contents {
    /// One entry per order.
    pub swaps: Vec<Entry>,
    /// The maker's signed Ethereum transactions (the `crosslock-eth` sender's outbox), one per
    /// nonce, written before each is broadcast.
    pub eth_outbox: Vec<crosslock_eth::OutboxEntry>,
}

/// The state file at a path. Every change is a locked read-modify-write.
#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The file at `path` (created on first write).
    pub(crate) fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    /// Where it lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Every entry; none when the file does not exist yet.
    pub(crate) fn load(&self) -> Result<Vec<Entry>, StateError> {
        Ok(self.load_all()?.swaps)
    }

    /// The whole file; empty when it does not exist yet.
    pub(crate) fn load_all(&self) -> Result<Contents, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(self.io(e)),
        };
        let mode = fs::metadata(&self.path)
            .map_err(|e| self.io(e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(StateError::Permissions {
                path: self.path.clone(),
                mode,
            });
        }
        let f: OnDisk = serde_json::from_slice(&bytes).map_err(|e| StateError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if !READABLE.contains(&f.version) {
            return Err(StateError::Invalid {
                path: self.path.clone(),
                reason: format!(
                    "format version {} (this swapctl reads {READABLE:?}); use a newer swapctl",
                    f.version
                ),
            });
        }
        Ok(Contents {
            swaps: f.swaps,
            eth_outbox: f.eth_outbox,
        })
    }

    /// The entry for a swap id or idempotency key.
    pub(crate) fn get(&self, id: &str) -> Result<Entry, StateError> {
        self.load()?
            .into_iter()
            .find(|e| e.is(id))
            .ok_or_else(|| StateError::NotFound(id.to_owned()))
    }

    /// Apply `change` to the entries under the lock and write the result durably.
    pub(crate) fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<Entry>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.update_all(|c| change(&mut c.swaps))
    }

    /// [`StateFile::update`] over the whole file.
    pub(crate) fn update_all<T>(
        &self,
        change: impl FnOnce(&mut Contents) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let _lock = self.lock()?;
        let mut all = self.load_all()?;
        let out = change(&mut all)?;
        self.write(&all)?;
        Ok(out)
    }

    /// Changes the entry of swap `id` under the lock and writes the result durably.
    pub(crate) fn update_entry<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Entry) -> T,
    ) -> Result<T, StateError> {
        self.update(|s| {
            let e = s
                .iter_mut()
                .find(|x| x.is(id))
                .ok_or_else(|| StateError::NotFound(id.to_owned()))?;
            Ok(change(e))
        })
    }

    fn lock(&self) -> Result<LockGuard, StateError> {
        self.ensure_dir()?;
        let path = with_suffix(&self.path, ".lock");
        let started = std::time::Instant::now();
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(LockGuard { path }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if started.elapsed() > LOCK_WAIT {
                        return Err(StateError::Locked { path });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(source) => return Err(StateError::Io { path, source }),
            }
        }
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            fs::create_dir_all(dir).map_err(|e| self.io(e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Write to a 0600 temporary file, fsync it, rename it over the old one, fsync the folder:
    /// a crash leaves either the old or the new file, never a torn one.
    fn write(&self, all: &Contents) -> Result<(), StateError> {
        let body = serde_json::to_vec_pretty(&OnDisk {
            version: FORMAT_VERSION,
            swaps: all.swaps.clone(),
            eth_outbox: all.eth_outbox.clone(),
        })
        .map_err(|e| StateError::Invalid {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = with_suffix(&self.path, ".tmp");
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.io(e))?;
        f.write_all(&body).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(key: &str) -> Entry {
        Entry {
            idempotency_key: key.to_owned(),
            swap_id: None,
            direction: "btc-to-eth".to_owned(),
            quote_id: "q".to_owned(),
            hashlock: "00".to_owned(),
            secret: Hidden("11".repeat(32)),
            btc_secret_key: Hidden("22".repeat(32)),
            btc_pubkey: "02".to_owned(),
            eth_address: "0x".to_owned(),
            btc_payout_address: None,
            created_at: 1,
            revealed: false,
            src_amount: None,
            dst_amount: None,
            token: None,
            funding: None,
            refunds: Vec::new(),
        }
    }

    #[test]
    fn entries_round_trip_with_mode_0600_and_debug_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("sub/state.json"));
        f.update(|s| {
            s.push(entry("key-one-0123456789"));
            Ok(())
        })
        .unwrap();
        let mode = fs::metadata(f.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let got = f.get("key-one-0123456789").unwrap();
        assert_eq!(got, entry("key-one-0123456789"));
        let dbg = format!("{got:?}");
        assert!(!dbg.contains(&"11".repeat(32)) && !dbg.contains(&"22".repeat(32)));
        assert!(!with_suffix(f.path(), ".lock").exists());
    }

    #[test]
    fn a_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("state.json"));
        f.update(|s| {
            s.push(entry("k"));
            Ok(())
        })
        .unwrap();
        fs::set_permissions(f.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(f.load(), Err(StateError::Permissions { .. })));
    }

    #[test]
    fn a_version_1_file_is_read_and_rewritten_as_2_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("state.json"));
        let mut v1 = serde_json::to_value(entry("k-0123456789abcdef")).unwrap();
        for k in ["src_amount", "dst_amount", "token", "funding", "refunds"] {
            v1.as_object_mut().unwrap().remove(k);
        }
        let body = serde_json::json!({"version": 1, "swaps": [v1]});
        fs::write(f.path(), serde_json::to_vec(&body).unwrap()).unwrap();
        fs::set_permissions(f.path(), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            f.get("k-0123456789abcdef").unwrap(),
            entry("k-0123456789abcdef")
        );
        f.update(|_| Ok(())).unwrap();
        let now: serde_json::Value = serde_json::from_slice(&fs::read(f.path()).unwrap()).unwrap();
        assert_eq!(now["version"], 2);
        assert_eq!(now["eth_outbox"], serde_json::json!([]));
        fs::write(f.path(), br#"{"version": 3, "swaps": []}"#).unwrap();
        assert!(matches!(f.load(), Err(StateError::Invalid { .. })));
    }
}

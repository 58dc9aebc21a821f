//! The node: the block store (the only persistent state), the kernel that validates and connects
//! blocks, the chain index that mirrors the kernel's active chain, and the mempool. It serialises
//! every change behind one lock and announces changes on a broadcast channel for the servers.
//!
//! It must never put a block into the index that the kernel did not connect. The kernel has no
//! `invalidateblock`, so invalidating or reconsidering a block rebuilds a fresh kernel from the
//! store, skipping blocks marked invalid and their descendants; a restart does the same.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash as _;
use bitcoin::{Amount, Block, BlockHash, ScriptBuf, Transaction, Txid};
use tokio::sync::broadcast;

use crate::chain::{ChainIndex, ScriptHash};
use crate::kernel::{self, Kernel};
use crate::mempool::{self, Accepted, Mempool, Reject};
use crate::miner;

/// Errors from node operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel could not be set up, or refused a block we built.
    #[error(transparent)]
    Kernel(#[from] kernel::Error),
    /// The block store could not be read or written.
    #[error("block store: {0}")]
    Store(#[from] std::io::Error),
    /// The block store holds bytes that are not a block.
    #[error("block store is corrupt: {0}")]
    Corrupt(String),
    /// No block with this hash is known.
    #[error("Block not found")]
    BlockNotFound,
    /// A mined block was accepted but did not become the tip.
    #[error("mined block {0} did not become the tip")]
    NotTip(BlockHash),
    /// A transaction given to `generateblock` cannot go into the block.
    #[error("{0}")]
    BadBlockTx(String),
    /// The state lock was poisoned by a panic in another thread.
    #[error("node state lock poisoned")]
    Poisoned,
}

/// What changed, for the Electrum and RPC servers.
#[derive(Debug, Clone)]
pub enum Event {
    /// A block was connected on top of the previous tip.
    Tip {
        /// New tip height.
        height: u32,
        /// New tip header.
        header: bitcoin::block::Header,
    },
    /// These scripts' histories changed (block or mempool).
    Scripts(Arc<HashSet<ScriptHash>>),
    /// The active chain was rebuilt (reorg): anything may have changed.
    Reorg,
}

const TAG_BLOCK: u8 = 0;
const TAG_INVALIDATE: u8 = 1;
const TAG_RECONSIDER: u8 = 2;

/// Every block ever accepted, in arrival order, plus the operator's invalidations.
#[derive(Default)]
struct BlockStore {
    blocks: HashMap<BlockHash, Arc<Block>>,
    arrival: Vec<BlockHash>,
    invalid: HashSet<BlockHash>,
    file: Option<File>,
}

impl BlockStore {
    fn open(path: Option<&Path>) -> Result<Self, Error> {
        let mut store = Self::default();
        let Some(path) = path else { return Ok(store) };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut buf = vec![];
        file.read_to_end(&mut buf)?;
        let mut at = 0usize;
        while at + 5 <= buf.len() {
            let tag = buf[at];
            let len =
                u32::from_le_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
            if at + 5 + len > buf.len() {
                break; // a record cut short by a crash: dropped below
            }
            let body = &buf[at + 5..at + 5 + len];
            match tag {
                TAG_BLOCK => {
                    let block: Block =
                        deserialize(body).map_err(|e| Error::Corrupt(e.to_string()))?;
                    store.insert(block);
                }
                TAG_INVALIDATE | TAG_RECONSIDER => {
                    let hash =
                        BlockHash::from_slice(body).map_err(|e| Error::Corrupt(e.to_string()))?;
                    if tag == TAG_INVALIDATE {
                        store.invalid.insert(hash);
                    } else {
                        store.invalid.remove(&hash);
                    }
                }
                t => return Err(Error::Corrupt(format!("unknown record tag {t}"))),
            }
            at += 5 + len;
        }
        if at != buf.len() {
            file.set_len(u64::try_from(at).unwrap_or(0))?;
        }
        store.file = Some(file);
        Ok(store)
    }

    fn insert(&mut self, block: Block) -> bool {
        let hash = block.block_hash();
        if self.blocks.contains_key(&hash) {
            return false;
        }
        self.blocks.insert(hash, Arc::new(block));
        self.arrival.push(hash);
        true
    }

    fn append(&mut self, tag: u8, body: &[u8]) -> Result<(), Error> {
        if let Some(f) = &mut self.file {
            let len =
                u32::try_from(body.len()).map_err(|_| Error::Corrupt("record too large".into()))?;
            let mut rec = Vec::with_capacity(body.len() + 5);
            rec.push(tag);
            rec.extend_from_slice(&len.to_le_bytes());
            rec.extend_from_slice(body);
            f.write_all(&rec)?;
            f.sync_data()?;
        }
        Ok(())
    }

    /// Blocks the kernel should see: all but the invalid ones and their descendants.
    fn valid_in_arrival_order(&self) -> Vec<Arc<Block>> {
        let mut excluded: HashSet<BlockHash> = HashSet::new();
        let mut out = vec![];
        for hash in &self.arrival {
            let Some(block) = self.blocks.get(hash) else {
                continue;
            };
            if self.invalid.contains(hash) || excluded.contains(&block.header.prev_blockhash) {
                excluded.insert(*hash);
            } else {
                out.push(block.clone());
            }
        }
        out
    }

    fn is_ancestor(&self, ancestor: &BlockHash, of: &BlockHash) -> bool {
        let mut cur = *of;
        while let Some(b) = self.blocks.get(&cur) {
            if cur == *ancestor {
                return true;
            }
            cur = b.header.prev_blockhash;
        }
        cur == *ancestor
    }
}

/// A stored block and its height when it is on the active chain.
pub(crate) type StoredBlock = (Arc<Block>, Option<u32>);

pub(crate) struct State {
    kernel: Kernel,
    store: BlockStore,
    pub(crate) index: ChainIndex,
    pub(crate) mempool: Mempool,
}

/// A regtest node. Cheap to share: wrap it in an `Arc`.
pub struct Node {
    state: Mutex<State>,
    datadir: Option<PathBuf>,
    events: broadcast::Sender<Event>,
}

fn genesis() -> Block {
    bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest)
}

fn unix_now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl Node {
    /// Opens a node. With a data directory, the chain in its block store is replayed through
    /// the kernel; without one, the node starts at genesis and keeps nothing.
    pub fn open(datadir: Option<&Path>) -> Result<Self, Error> {
        if let Some(d) = datadir {
            std::fs::create_dir_all(d)?;
            // Scratch kernels of a previous run that did not shut down cleanly.
            for entry in std::fs::read_dir(d)?.flatten() {
                if entry.file_name().to_string_lossy().starts_with("kernel-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let store = BlockStore::open(datadir.map(|d| d.join("blocks.dat")).as_deref())?;
        let kernel = Kernel::new(datadir)?;
        let (events, _) = broadcast::channel(4096);
        let node = Self {
            state: Mutex::new(State {
                kernel,
                store,
                index: ChainIndex::default(),
                mempool: Mempool::default(),
            }),
            datadir: datadir.map(Path::to_path_buf),
            events,
        };
        {
            let mut s = node.lock()?;
            node.rebuild(&mut s)?;
        }
        Ok(node)
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, State>, Error> {
        self.state.lock().map_err(|_| Error::Poisoned)
    }

    /// Subscribes to chain and mempool changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Height of the active chain's tip.
    pub fn tip_height(&self) -> Result<u32, Error> {
        Ok(self.lock()?.index.tip_height())
    }

    /// Replays the store into a fresh kernel and rebuilds the index; transactions of
    /// disconnected blocks and the old mempool go back through acceptance.
    fn rebuild(&self, s: &mut State) -> Result<(), Error> {
        let old_blocks = std::mem::take(&mut s.index.blocks);
        let old_pool = s.mempool.drain();
        // A fresh kernel: 0.3 cannot forget a block it connected (no invalidateblock).
        s.kernel = Kernel::new(self.datadir.as_deref())?;
        for block in s.store.valid_in_arrival_order() {
            if let Err(e) = s.kernel.submit(&block) {
                tracing::warn!(error = %e, "stored block no longer accepted by the kernel");
            }
        }
        let mut index = ChainIndex::default();
        let genesis = Arc::new(genesis());
        let (_, tip_height) = s.kernel.tip();
        index.connect(genesis);
        for h in 1..=tip_height {
            let block = s
                .kernel
                .hash_at(h)
                .and_then(|hash| s.store.blocks.get(&hash).cloned())
                .ok_or_else(|| {
                    Error::Corrupt(format!("kernel chain has a block at {h} we do not store"))
                })?;
            index.connect(block);
        }
        s.index = index;
        let disconnected = old_blocks
            .iter()
            .filter(|b| s.index.height_of(&b.block_hash()).is_none());
        let readd: Vec<Transaction> = disconnected
            .flat_map(|b| b.txdata.iter().skip(1).cloned())
            .chain(old_pool)
            .collect();
        for tx in readd {
            let _ = s.mempool.accept(&s.index, &tx, false);
        }
        self.emit(Event::Reorg);
        Ok(())
    }

    /// Hands a block to the kernel; on success stores it and brings the index to the kernel's tip.
    fn submit_locked(&self, s: &mut State, block: Block) -> Result<BlockHash, Error> {
        let hash = block.block_hash();
        s.kernel.submit(&block)?;
        let raw = serialize(&block);
        if s.store.insert(block) {
            s.store.append(TAG_BLOCK, &raw)?;
        }
        let (kernel_tip, _) = s.kernel.tip();
        if kernel_tip == s.index.tip_hash() {
            return Ok(hash); // a side branch with no more work
        }
        let extends = s
            .store
            .blocks
            .get(&kernel_tip)
            .is_some_and(|b| b.header.prev_blockhash == s.index.tip_hash());
        if !extends {
            self.rebuild(s)?;
            return Ok(hash);
        }
        let block = s
            .store
            .blocks
            .get(&kernel_tip)
            .cloned()
            .ok_or(Error::BlockNotFound)?;
        let mut touched = s.index.connect(block.clone());
        touched.extend(s.mempool.remove_for_block(&block));
        self.emit(Event::Tip {
            height: s.index.tip_height(),
            header: block.header,
        });
        self.emit(Event::Scripts(Arc::new(touched)));
        Ok(hash)
    }

    fn next_time(s: &State) -> u32 {
        unix_now().max(s.index.mtp_at(s.index.tip_height()) + 1)
    }

    /// Mines `count` blocks paying `payout`, each filled from the mempool.
    pub fn generate(&self, count: u32, payout: &ScriptBuf) -> Result<Vec<BlockHash>, Error> {
        let mut hashes = vec![];
        for _ in 0..count {
            let mut s = self.lock()?;
            let mut weight = miner::COINBASE_RESERVED_WEIGHT;
            let mut fees = Amount::ZERO;
            let mut txs = vec![];
            let mut included: HashSet<Txid> = HashSet::new();
            for e in s.mempool.iter() {
                let w = e.weight.to_wu();
                if weight + w > miner::MAX_BLOCK_WEIGHT
                    || !e.parents.iter().all(|p| included.contains(p))
                {
                    continue;
                }
                weight += w;
                fees += e.fee;
                included.insert(e.txid);
                txs.push(e.tx.clone());
            }
            hashes.push(self.mine_locked(&mut s, payout, txs, fees)?);
        }
        Ok(hashes)
    }

    fn mine_locked(
        &self,
        s: &mut State,
        payout: &ScriptBuf,
        txs: Vec<Transaction>,
        fees: Amount,
    ) -> Result<BlockHash, Error> {
        let height = s.index.tip_height() + 1;
        let block = miner::build_block(
            s.index.tip_hash(),
            height,
            Self::next_time(s),
            payout.clone(),
            txs,
            fees,
        );
        let hash = self.submit_locked(s, block)?;
        if s.index.tip_hash() != hash {
            return Err(Error::NotTip(hash));
        }
        Ok(hash)
    }

    /// Mines one block with exactly `txs` (mempool or not), in order, paying `payout`.
    pub fn generate_block(
        &self,
        payout: &ScriptBuf,
        txs: Vec<Transaction>,
    ) -> Result<BlockHash, Error> {
        let mut s = self.lock()?;
        let mut created: HashMap<bitcoin::OutPoint, u64> = HashMap::new();
        let mut fees = Amount::ZERO;
        for tx in &txs {
            let mut value_in = 0u64;
            for input in &tx.input {
                let v = created
                    .remove(&input.previous_output)
                    .or_else(|| {
                        s.index
                            .utxos
                            .get(&input.previous_output)
                            .map(|c| c.txout.value.to_sat())
                    })
                    .ok_or_else(|| {
                        Error::BadBlockTx(
                            "TestBlockValidity failed: bad-txns-inputs-missingorspent".into(),
                        )
                    })?;
                value_in += v;
            }
            let out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            let fee = value_in.checked_sub(out).ok_or_else(|| {
                Error::BadBlockTx("TestBlockValidity failed: bad-txns-in-belowout".into())
            })?;
            fees += Amount::from_sat(fee);
            let txid = tx.compute_txid();
            for (i, o) in tx.output.iter().enumerate() {
                created.insert(
                    bitcoin::OutPoint::new(txid, u32::try_from(i).unwrap_or(0)),
                    o.value.to_sat(),
                );
            }
        }
        self.mine_locked(&mut s, payout, txs, fees)
    }

    /// Submits a transaction to the mempool (`dry_run`: only checks it).
    pub fn submit_tx(
        &self,
        tx: &Transaction,
        dry_run: bool,
    ) -> Result<Result<Accepted, Reject>, Error> {
        let mut s = self.lock()?;
        let st = &mut *s;
        let res = st.mempool.accept(&st.index, tx, dry_run);
        if let (Ok(a), false) = (&res, dry_run) {
            // Replaced transactions are gone with their entries, so their scripts are not
            // known here any more: ask every subscriber to recheck.
            let event = if a.replaced.is_empty() {
                let touched = st
                    .mempool
                    .get(&a.txid)
                    .map(|e| mempool::touched_scripts(&e.tx, &e.spent))
                    .unwrap_or_default();
                Event::Scripts(Arc::new(touched))
            } else {
                Event::Reorg
            };
            drop(s);
            self.emit(event);
        }
        Ok(res)
    }

    /// Removes a transaction and its descendants from the mempool (not a Core RPC: tests use
    /// it to simulate a transaction being evicted or never relayed).
    pub fn drop_mempool_tx(&self, txid: &Txid) -> Result<Vec<Txid>, Error> {
        let mut s = self.lock()?;
        let (removed, touched) = s.mempool.remove_with_descendants(txid);
        drop(s);
        if !removed.is_empty() {
            self.emit(Event::Scripts(Arc::new(touched)));
        }
        Ok(removed)
    }

    /// Marks a block invalid (Core's `invalidateblock`): the chain falls back to the best chain
    /// without it; its transactions return to the mempool unless conflicted.
    pub fn invalidate_block(&self, hash: &BlockHash) -> Result<(), Error> {
        let mut s = self.lock()?;
        if !s.store.blocks.contains_key(hash) {
            return if *hash == genesis().block_hash() {
                Err(Error::BadBlockTx(
                    "Cannot invalidate the genesis block".into(),
                ))
            } else {
                Err(Error::BlockNotFound)
            };
        }
        s.store.append(TAG_INVALIDATE, hash.as_byte_array())?;
        s.store.invalid.insert(*hash);
        self.rebuild(&mut s)
    }

    /// Clears invalidity of a block, its ancestors and descendants (Core's `reconsiderblock`).
    pub fn reconsider_block(&self, hash: &BlockHash) -> Result<(), Error> {
        let mut s = self.lock()?;
        if !s.store.blocks.contains_key(hash) && *hash != genesis().block_hash() {
            return Err(Error::BlockNotFound);
        }
        let cleared: Vec<BlockHash> = s
            .store
            .invalid
            .iter()
            .filter(|i| s.store.is_ancestor(i, hash) || s.store.is_ancestor(hash, i))
            .copied()
            .collect();
        for c in &cleared {
            s.store.append(TAG_RECONSIDER, c.as_byte_array())?;
            s.store.invalid.remove(c);
        }
        self.rebuild(&mut s)
    }

    /// A block we store, on the active chain or not, with its height if active.
    pub(crate) fn block(&self, hash: &BlockHash) -> Result<Option<StoredBlock>, Error> {
        let s = self.lock()?;
        Ok(s.store
            .blocks
            .get(hash)
            .cloned()
            .or_else(|| {
                (s.index.block_at(0).map(|g| g.block_hash()) == Some(*hash))
                    .then(|| s.index.blocks[0].clone())
            })
            .map(|b| (b, s.index.height_of(hash))))
    }
}

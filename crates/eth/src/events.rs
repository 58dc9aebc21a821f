//! Decoding the escrow's logs into swap events.
//!
//! Pure: it turns an RPC log into an [`EscrowLog`] and never fetches anything. A log the escrow
//! did not emit, or one that does not decode, is refused rather than guessed at.

use alloy::primitives::{B256, Log as PrimitiveLog};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use serde::{Deserialize, Serialize};

use crate::contract::Escrow;
use crate::swap::SwapParams;

/// What happened to a swap, as the escrow logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscrowEvent {
    /// Funds were locked; the parameters are complete, so the swap can be rebuilt from this.
    Locked {
        /// The escrow's id of the swap.
        id: B256,
        /// Everything `claim` and `refund` need.
        params: SwapParams,
    },
    /// The swap was claimed; the secret is public.
    Claimed {
        /// The escrow's id of the swap.
        id: B256,
        /// The 32-byte secret.
        preimage: B256,
    },
    /// The swap was refunded to its sender.
    Refunded {
        /// The escrow's id of the swap.
        id: B256,
    },
}

impl EscrowEvent {
    /// The swap this event is about.
    pub fn id(&self) -> B256 {
        match self {
            EscrowEvent::Locked { id, .. }
            | EscrowEvent::Claimed { id, .. }
            | EscrowEvent::Refunded { id } => *id,
        }
    }
}

/// An escrow event and where on the chain it sits. `(tx_hash, log_index)` identifies it within a
/// block; `block_hash` tells which fork it was seen on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowLog {
    /// The decoded event.
    pub event: EscrowEvent,
    /// Height of the block that holds it.
    pub block_number: u64,
    /// Hash of that block.
    pub block_hash: B256,
    /// The transaction that emitted it.
    pub tx_hash: B256,
    /// Its index in the block.
    pub log_index: u64,
}

/// Why a log was not turned into an [`EscrowLog`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The node left out the block or transaction fields (a pending log).
    #[error("log has no block number, block hash, transaction hash or index")]
    Unplaced,
    /// topic0 is none of the escrow's events.
    #[error("log is not an escrow event (topic0 {0:?})")]
    UnknownEvent(Option<B256>),
    /// The topics or data do not decode as the event they claim to be.
    #[error("escrow log does not decode: {0}")]
    Malformed(#[from] alloy::sol_types::Error),
    /// A `Locked` log whose id is not the hash of its own parameters.
    #[error("Locked log's id {0} does not match its parameters")]
    IdMismatch(B256),
}

/// Decodes one escrow log.
pub fn decode(log: &Log) -> Result<EscrowLog, DecodeError> {
    let (Some(block_number), Some(block_hash), Some(tx_hash), Some(log_index)) = (
        log.block_number,
        log.block_hash,
        log.transaction_hash,
        log.log_index,
    ) else {
        return Err(DecodeError::Unplaced);
    };
    let event = decode_event(&log.inner)?;
    Ok(EscrowLog {
        event,
        block_number,
        block_hash,
        tx_hash,
        log_index,
    })
}

fn decode_event(log: &PrimitiveLog) -> Result<EscrowEvent, DecodeError> {
    let topic0 = log.topics().first().copied();
    match topic0 {
        Some(Escrow::Locked::SIGNATURE_HASH) => {
            let e = Escrow::Locked::decode_log(log)?.data;
            let params = SwapParams::from_locked(&e).ok_or(DecodeError::IdMismatch(e.id))?;
            if params.id() != e.id {
                return Err(DecodeError::IdMismatch(e.id));
            }
            Ok(EscrowEvent::Locked { id: e.id, params })
        }
        Some(Escrow::Claimed::SIGNATURE_HASH) => {
            let e = Escrow::Claimed::decode_log(log)?.data;
            Ok(EscrowEvent::Claimed {
                id: e.id,
                preimage: e.preimage,
            })
        }
        Some(Escrow::Refunded::SIGNATURE_HASH) => {
            let e = Escrow::Refunded::decode_log(log)?.data;
            Ok(EscrowEvent::Refunded { id: e.id })
        }
        other => Err(DecodeError::UnknownEvent(other)),
    }
}

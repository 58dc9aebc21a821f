//! The gRPC edge: the three services, input validation and the mapping of errors to statuses.
//!
//! Owns the translation between wire messages and core inputs. Every field is checked here
//! before anything is written, and a bad one is refused with `INVALID_ARGUMENT` naming the field;
//! server faults become `INTERNAL` with no detail (the detail goes to the log). This module must
//! never write to Postgres or Redis except through the engine, and never return an internal
//! error's text to a caller.

pub mod admin;
pub mod public;
pub mod resolver;

use std::sync::Arc;

use crosslock_core::chain::{Asset, BtcPubkey, EthAddress, Network};
use crosslock_core::secret::SwapId;
use crosslock_core::swap::TransitionError;
use crosslock_proto::public::v1 as pb;
use tonic::Status;
use tracing::error;

use crate::config::QuoteConfig;
use crate::engine::Engine;
use crate::store::StoreError;

/// What every service needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Store, cache, replica name.
    pub engine: Engine,
    /// The network.
    pub network: Network,
    /// Pricing.
    pub quote: Arc<QuoteConfig>,
    /// The escrow contract, if configured.
    pub escrow: Option<EthAddress>,
    /// Calls per minute per client on the public listener.
    pub rate_limit: u64,
    /// What a maker's pre-signed claim ladder must meet.
    pub ladder: crosslock_btc::claim::LadderPolicy,
    /// Becomes `true` at shutdown: open streams end so that graceful shutdown does not wait on
    /// clients that never hang up.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// `INVALID_ARGUMENT` naming the field.
pub fn invalid(field: &str, why: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {why}"))
}

/// The status for a store error. Faults are logged here and returned without detail.
pub fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::NotFound => Status::not_found("swap_id: no such swap"),
        StoreError::Conflict { .. } => {
            Status::aborted("the swap changed concurrently; read it again and retry")
        }
        StoreError::Transition(t) => transition_status(&t),
        StoreError::HashlockTaken => {
            Status::already_exists("hashlock: a swap with this hashlock already exists")
        }
        StoreError::IdempotencyMismatch => {
            Status::already_exists("idempotency_key: already used with a different request")
        }
        StoreError::LockTaken => {
            Status::failed_precondition("the lock already belongs to another swap")
        }
        e @ (StoreError::Db(_) | StoreError::Stored(_) | StoreError::Replay(_)) => {
            error!(error = %e, "store fault");
            Status::internal("internal error")
        }
    }
}

/// The status for a refused event: the client's fault where it is one, otherwise a
/// precondition the swap does not meet (yet).
pub fn transition_status(t: &TransitionError) -> Status {
    match t {
        TransitionError::BadSecret => {
            invalid("secret", "SHA-256 of the secret is not the swap's hashlock")
        }
        TransitionError::MissingMakerClaim => invalid(
            "signed_claims",
            "an ETH -> BTC reveal must carry the maker's signed claims",
        ),
        TransitionError::UnexpectedMakerClaim => {
            invalid("signed_claims", "a BTC -> ETH reveal carries no claims")
        }
        TransitionError::NoteTooLong => invalid("note", t),
        other => Status::failed_precondition(other.to_string()),
    }
}

/// A swap id: 32 lowercase hex digits.
pub fn parse_swap_id(field: &str, s: &str) -> Result<SwapId, Status> {
    if s.len() != 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid(field, "must be 32 lowercase hex digits"));
    }
    let mut b = [0_u8; 16];
    hex::decode_to_slice(s, &mut b).map_err(|_| invalid(field, "must be hex"))?;
    Ok(SwapId(b))
}

/// A 16-byte id in hex (quotes).
pub fn parse_id16(field: &str, s: &str) -> Result<[u8; 16], Status> {
    parse_swap_id(field, s).map(|i| i.0)
}

/// A compressed Bitcoin key from raw bytes.
pub fn parse_pubkey(field: &str, b: &[u8]) -> Result<BtcPubkey, Status> {
    BtcPubkey::from_bytes(b).map_err(|e| invalid(field, e))
}

/// An Ethereum address.
pub fn parse_address(field: &str, s: &str) -> Result<EthAddress, Status> {
    EthAddress::parse(s).map_err(|e| invalid(field, e))
}

/// A reason or note: 1 to `max` bytes of text.
pub fn parse_text(field: &str, s: &str, max: usize) -> Result<(), Status> {
    if s.trim().is_empty() {
        return Err(invalid(field, "required"));
    }
    if s.len() > max {
        return Err(invalid(field, format!("at most {max} bytes")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// An API asset, checked against the chain it must be on.
pub fn parse_asset(field: &str, a: Option<&pb::Asset>) -> Result<Asset, Status> {
    let a = a.ok_or_else(|| invalid(field, "required"))?;
    match pb::Chain::try_from(a.chain) {
        Ok(pb::Chain::Bitcoin) if a.token.is_empty() => Ok(Asset::Btc),
        Ok(pb::Chain::Bitcoin) => Err(invalid(field, "bitcoin has no tokens; leave token empty")),
        Ok(pb::Chain::Ethereum) if a.token.is_empty() => Ok(Asset::Eth),
        Ok(pb::Chain::Ethereum) => Ok(Asset::Erc20(parse_address(
            &format!("{field}.token"),
            &a.token,
        )?)),
        _ => Err(invalid(
            &format!("{field}.chain"),
            "must be BITCOIN or ETHEREUM",
        )),
    }
}

/// The caller's address for rate limiting.
pub fn client_key<T>(req: &tonic::Request<T>) -> String {
    req.remote_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

impl Ctx {
    /// Refuse a call over the per-client rate.
    pub async fn rate_limit<T>(&self, req: &tonic::Request<T>) -> Result<(), Status> {
        if self
            .engine
            .cache
            .allow(&client_key(req), self.rate_limit)
            .await
        {
            Ok(())
        } else {
            Err(Status::resource_exhausted(
                "rate limit exceeded; retry in a minute",
            ))
        }
    }

    /// Refuse new business while an operator has paused it.
    pub async fn not_paused(&self) -> Result<(), Status> {
        if self.engine.store.paused().await.map_err(store_status)? {
            Err(Status::unavailable("new orders are paused by the operator"))
        } else {
            Ok(())
        }
    }
}

//! Output: the JSON shapes scripts rely on and the tables people read.
//!
//! Owns how relayer records are shown. JSON keys are snake_case and stable; amounts stay decimal
//! strings of base units; byte fields are lowercase hex. Nothing secret ever reaches here: the
//! relayer's records carry no secret, and local entries are rendered without theirs.

use crosslock_proto::admin::v1::{StuckSwap, TimelineEvent};
use crosslock_proto::public::v1::{Asset, Chain, Direction, Quote, Swap, SwapState};
use serde_json::{Value, json};

/// `btc-to-eth` / `eth-to-btc`.
pub(crate) fn direction(d: i32) -> &'static str {
    match Direction::try_from(d) {
        Ok(Direction::BtcToEth) => "btc-to-eth",
        Ok(Direction::EthToBtc) => "eth-to-btc",
        _ => "unspecified",
    }
}

/// The protocol's past-tense state names (`SrcLocked`).
pub(crate) fn state(s: i32) -> &'static str {
    match SwapState::try_from(s) {
        Ok(SwapState::Created) => "Created",
        Ok(SwapState::Matched) => "Matched",
        Ok(SwapState::SrcLockSeen) => "SrcLockSeen",
        Ok(SwapState::SrcLocked) => "SrcLocked",
        Ok(SwapState::DstLockSeen) => "DstLockSeen",
        Ok(SwapState::DstLocked) => "DstLocked",
        Ok(SwapState::SecretRevealed) => "SecretRevealed",
        Ok(SwapState::DstClaimed) => "DstClaimed",
        Ok(SwapState::SrcClaimed) => "SrcClaimed",
        Ok(SwapState::Completed) => "Completed",
        Ok(SwapState::Expired) => "Expired",
        Ok(SwapState::DstRefunded) => "DstRefunded",
        Ok(SwapState::SrcRefunded) => "SrcRefunded",
        Ok(SwapState::Refunded) => "Refunded",
        Ok(SwapState::NeedsOperator) => "NeedsOperator",
        _ => "Unspecified",
    }
}

/// Terminal states end a watch.
pub(crate) fn is_terminal(s: i32) -> bool {
    matches!(
        SwapState::try_from(s),
        Ok(SwapState::Completed | SwapState::Refunded | SwapState::Expired)
    )
}

/// `btc`, `eth`, or `erc20:<address>`.
pub(crate) fn asset(a: Option<&Asset>) -> String {
    match a {
        None => "-".to_owned(),
        Some(a) => match (Chain::try_from(a.chain), a.token.is_empty()) {
            (Ok(Chain::Bitcoin), _) => "btc".to_owned(),
            (Ok(Chain::Ethereum), true) => "eth".to_owned(),
            (Ok(Chain::Ethereum), false) => format!("erc20:{}", a.token),
            _ => "-".to_owned(),
        },
    }
}

/// A quote as JSON.
pub(crate) fn quote_json(q: &Quote) -> Value {
    json!({
        "quote_id": q.quote_id,
        "direction": direction(q.direction),
        "src_asset": asset(q.src_asset.as_ref()),
        "dst_asset": asset(q.dst_asset.as_ref()),
        "src_amount": q.src_amount,
        "dst_amount": q.dst_amount,
        "expires_at": q.expires_at,
        "src_window_secs": q.src_window_secs,
        "dst_window_secs": q.dst_window_secs,
        "chain_id": q.chain_id,
    })
}

/// A swap record as JSON.
pub(crate) fn swap_json(s: &Swap) -> Value {
    let btc = s.bitcoin.as_ref().map(|b| {
        json!({
            "address": b.address,
            "witness_script": hex::encode(&b.witness_script),
            "timeout_height": b.timeout_height,
            "amount": b.amount,
            "outpoint": b.outpoint,
            "confirmations": b.confirmations,
            "claim_pubkey": hex::encode(&b.claim_pubkey),
            "refund_pubkey": hex::encode(&b.refund_pubkey),
        })
    });
    let eth = s.ethereum.as_ref().map(|e| {
        json!({
            "contract": e.contract,
            "escrow_id": hex::encode(&e.escrow_id),
            "token": e.token,
            "amount": e.amount,
            "sender": e.sender,
            "receiver": e.receiver,
            "timeout": e.timeout,
            "chain_id": e.chain_id,
            "depth": e.depth,
        })
    });
    json!({
        "swap_id": s.swap_id,
        "direction": direction(s.direction),
        "state": state(s.state),
        "state_reason": s.state_reason,
        "version": s.version,
        "hashlock": hex::encode(&s.hashlock),
        "src_asset": asset(s.src_asset.as_ref()),
        "dst_asset": asset(s.dst_asset.as_ref()),
        "src_amount": s.src_amount,
        "dst_amount": s.dst_amount,
        "bitcoin": btc,
        "ethereum": eth,
        "fund_by": s.fund_by,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "maker_btc_pubkey": hex::encode(&s.maker_btc_pubkey),
        "maker_eth_address": s.maker_eth_address,
        "secret_known": s.secret_known,
    })
}

/// A stuck swap as JSON.
pub(crate) fn stuck_json(s: &StuckSwap) -> Value {
    json!({
        "swap": s.swap.as_ref().map(swap_json),
        "reason": s.reason,
        "seconds_to_deadline": s.seconds_to_deadline,
    })
}

/// A timeline event as JSON (the detail parsed when it is JSON).
pub(crate) fn event_json(e: &TimelineEvent) -> Value {
    let detail = serde_json::from_str::<Value>(&e.detail_json)
        .unwrap_or_else(|_| Value::String(e.detail_json.clone()));
    json!({
        "seq": e.seq,
        "kind": e.kind,
        "actor": e.actor,
        "recorded_at": e.recorded_at,
        "detail": detail,
    })
}

/// A plain text table: a header row, then rows, columns padded to the widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Key/value lines for one record.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}

/// A swap for people.
pub(crate) fn swap_text(s: &Swap) -> String {
    let mut p = vec![
        ("swap", s.swap_id.clone()),
        ("direction", direction(s.direction).to_owned()),
        ("state", state(s.state).to_owned()),
    ];
    if !s.state_reason.is_empty() {
        p.push(("reason", s.state_reason.clone()));
    }
    p.push((
        "pays",
        format!("{} {}", s.src_amount, asset(s.src_asset.as_ref())),
    ));
    p.push((
        "receives",
        format!("{} {}", s.dst_amount, asset(s.dst_asset.as_ref())),
    ));
    p.push(("hashlock", hex::encode(&s.hashlock)));
    if let Some(b) = &s.bitcoin {
        p.push((
            "btc htlc",
            format!(
                "{} timeout height {} amount {} sat{}",
                if b.address.is_empty() {
                    "(address not set yet)"
                } else {
                    &b.address
                },
                b.timeout_height,
                b.amount,
                if b.outpoint.is_empty() {
                    String::new()
                } else {
                    format!(", funded {} ({} conf)", b.outpoint, b.confirmations)
                }
            ),
        ));
    }
    if let Some(e) = &s.ethereum {
        p.push((
            "eth escrow",
            format!(
                "{} amount {} timeout {}{}",
                e.contract,
                e.amount,
                e.timeout,
                if e.depth.is_empty() {
                    String::new()
                } else {
                    format!(", lock {}", e.depth)
                }
            ),
        ));
    }
    p.push(("fund by", s.fund_by.to_string()));
    p.push((
        "secret known",
        if s.secret_known { "yes" } else { "no" }.to_owned(),
    ));
    fields(&p)
}

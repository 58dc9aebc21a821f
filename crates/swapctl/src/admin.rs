//! Operator commands: thin calls to the relayer's AdminService, one per subcommand.
//!
//! Owns argument checks and output for `swapctl admin ...`. It never decides anything itself:
//! every command becomes an event in the swap's log on the relayer, under the operator's name.

use anyhow::Context;
use clap::{Args, Subcommand};
use crosslock_proto::admin::v1::{
    AnnotateRequest, ForceRefundRequest, GetTimelineRequest, ListStuckRequest, PauseRequest,
    ResolveRequest, ResumeRequest, RetryRequest,
};
use serde_json::json;

use crate::render::{self, table};
use crate::{Global, emit, rpc};

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Swaps in NeedsOperator, and swaps whose deadline nears without progress.
    Stuck {
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Every event of one swap.
    Timeline(Id),
    /// Re-run the action the swap's state calls for.
    Retry(IdReason),
    /// Move a swap towards refund (refused while a claim can still win).
    ForceRefund(IdReason),
    /// Add a note to the swap's timeline.
    Annotate {
        /// Swap id (32 lowercase hex digits).
        id: String,
        /// The note (1 to 1,000 bytes).
        text: String,
    },
    /// Settle a swap in NeedsOperator: resume automatic handling, or close it with --close.
    Resolve {
        #[command(flatten)]
        it: IdReason,
        /// Close the swap; the operator takes the remaining funds over by hand.
        #[arg(long)]
        close: bool,
    },
    /// Stop taking new orders and quotes; running swaps go on.
    Pause(Reason),
    /// Take new orders again.
    Resume(Reason),
}

#[derive(Debug, Args)]
pub(crate) struct Id {
    /// Swap id (32 lowercase hex digits).
    id: String,
}

#[derive(Debug, Args)]
pub(crate) struct IdReason {
    /// Swap id (32 lowercase hex digits).
    id: String,
    /// Why, for the timeline (1 to 500 characters).
    #[arg(long, default_value = "swapctl admin")]
    reason: String,
}

#[derive(Debug, Args)]
pub(crate) struct Reason {
    /// Why, for the audit log (1 to 500 characters).
    #[arg(long, default_value = "swapctl admin")]
    reason: String,
}

/// Swap ids are 32 lowercase hex digits: checked here so a typo never reaches the server.
pub(crate) fn check_id(id: &str) -> anyhow::Result<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        anyhow::bail!("invalid swap id {id:?}: expected 32 lowercase hex digits")
    }
}

fn check_text(what: &str, s: &str, max: usize) -> anyhow::Result<()> {
    if s.trim().is_empty() || s.len() > max {
        anyhow::bail!("{what} must be 1 to {max} bytes");
    }
    Ok(())
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("relayer refused: {} ({:?})", e.message(), e.code())
}

fn show(g: &Global, s: Option<crosslock_proto::public::v1::Swap>) {
    let s = s.unwrap_or_default();
    emit(g.json, render::swap_json(&s), || render::swap_text(&s));
}

pub(crate) async fn run(g: &Global, cmd: AdminCommand) -> anyhow::Result<()> {
    // Validate before connecting: bad input never costs a round trip or leaves a trace.
    match &cmd {
        AdminCommand::Stuck { limit } if !(1..=500).contains(limit) => {
            anyhow::bail!("--limit must be 1 to 500")
        }
        AdminCommand::Timeline(Id { id }) => check_id(id)?,
        AdminCommand::Retry(r)
        | AdminCommand::ForceRefund(r)
        | AdminCommand::Resolve { it: r, .. } => {
            check_id(&r.id)?;
            check_text("--reason", &r.reason, 500)?;
        }
        AdminCommand::Annotate { id, text } => {
            check_id(id)?;
            check_text("the note", text, 1000)?;
        }
        AdminCommand::Pause(r) | AdminCommand::Resume(r) => check_text("--reason", &r.reason, 500)?,
        AdminCommand::Stuck { .. } => {}
    }
    let auth = g.admin_auth()?;
    if auth.token.is_none() && auth.cert_file.is_none() {
        anyhow::bail!(
            "admin commands need credentials: --admin-token-file (SWAPCTL_ADMIN_TOKEN_FILE) or --admin-token"
        );
    }
    let mut c = rpc::admin(&g.admin_url, &auth)
        .await
        .context("failed to reach the admin API")?;
    match cmd {
        AdminCommand::Stuck { limit } => {
            let r = c
                .list_stuck(ListStuckRequest { limit })
                .await
                .map_err(status)?
                .into_inner();
            let rows: Vec<Vec<String>> = r
                .swaps
                .iter()
                .map(|s| {
                    let sw = s.swap.clone().unwrap_or_default();
                    vec![
                        sw.swap_id,
                        render::state(sw.state).to_owned(),
                        render::direction(sw.direction).to_owned(),
                        s.seconds_to_deadline.to_string(),
                        s.reason.clone(),
                    ]
                })
                .collect();
            emit(
                g.json,
                json!({ "swaps": r.swaps.iter().map(render::stuck_json).collect::<Vec<_>>() }),
                || {
                    if rows.is_empty() {
                        "no stuck swaps\n".to_owned()
                    } else {
                        table(
                            &["SWAP", "STATE", "DIRECTION", "DEADLINE_S", "REASON"],
                            &rows,
                        )
                    }
                },
            );
        }
        AdminCommand::Timeline(Id { id }) => {
            let r = c
                .get_timeline(GetTimelineRequest { swap_id: id })
                .await
                .map_err(status)?
                .into_inner();
            let rows: Vec<Vec<String>> = r
                .events
                .iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        e.recorded_at.to_string(),
                        e.kind.clone(),
                        e.actor.clone(),
                        e.detail_json.clone(),
                    ]
                })
                .collect();
            let swap = r.swap.clone().unwrap_or_default();
            emit(
                g.json,
                json!({
                    "swap": r.swap.as_ref().map(render::swap_json),
                    "events": r.events.iter().map(render::event_json).collect::<Vec<_>>(),
                }),
                || {
                    format!(
                        "{}\n{}",
                        render::swap_text(&swap),
                        table(&["SEQ", "AT", "EVENT", "ACTOR", "DETAIL"], &rows)
                    )
                },
            );
        }
        AdminCommand::Retry(IdReason { id, reason }) => {
            let s = c
                .retry(RetryRequest {
                    swap_id: id,
                    reason,
                })
                .await
                .map_err(status)?
                .into_inner()
                .swap;
            show(g, s);
        }
        AdminCommand::ForceRefund(IdReason { id, reason }) => {
            let s = c
                .force_refund(ForceRefundRequest {
                    swap_id: id,
                    reason,
                })
                .await
                .map_err(status)?
                .into_inner()
                .swap;
            show(g, s);
        }
        AdminCommand::Annotate { id, text } => {
            let s = c
                .annotate(AnnotateRequest {
                    swap_id: id,
                    note: text,
                })
                .await
                .map_err(status)?
                .into_inner()
                .swap;
            show(g, s);
        }
        AdminCommand::Resolve {
            it: IdReason { id, reason },
            close,
        } => {
            let s = c
                .resolve(ResolveRequest {
                    swap_id: id,
                    close,
                    reason,
                })
                .await
                .map_err(status)?
                .into_inner()
                .swap;
            show(g, s);
        }
        AdminCommand::Pause(Reason { reason }) => {
            c.pause(PauseRequest { reason }).await.map_err(status)?;
            emit(g.json, json!({ "paused": true }), || "paused\n".to_owned());
        }
        AdminCommand::Resume(Reason { reason }) => {
            c.resume(ResumeRequest { reason }).await.map_err(status)?;
            emit(g.json, json!({ "paused": false }), || {
                "resumed\n".to_owned()
            });
        }
    }
    Ok(())
}

//! `crosslock.admin.v1.AdminService`: what an operator can see and do (via `swapctl`).
//!
//! Owns the operator commands. Each one is an event in the swap's log, with the operator's name
//! as the actor and their reason, through the same state machine as everything else, so the
//! core's refusals (no force-refund while the maker's claim can win, no close while a claim is
//! due) hold for people too. It must never edit a swap's record directly.

use crosslock_core::swap::{Event, MAX_NOTE_LEN, OperatorCommand};
use crosslock_proto::admin::v1 as apb;
use crosslock_proto::admin::v1::admin_service_server::AdminService;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{Ctx, invalid, parse_swap_id, parse_text, store_status};
use crate::auth::principal;
use crate::store::{Applied, Input, now_unix};

/// Longest operator reason.
const MAX_REASON: usize = 500;
/// ListStuck also lists swaps whose deadline is this close.
const STUCK_HORIZON_SECS: u64 = 3_600;

/// The admin service.
#[derive(Debug, Clone)]
pub struct Admin {
    ctx: Ctx,
}

impl Admin {
    /// A new service.
    pub fn new(ctx: Ctx) -> Admin {
        Admin { ctx }
    }

    async fn command<T>(
        &self,
        req: &Request<T>,
        swap_id: &str,
        cmd: OperatorCommand,
        reason: &str,
    ) -> Result<Applied, Status> {
        let id = parse_swap_id("swap_id", swap_id)?;
        let actor = principal(req).actor();
        let clock = self.ctx.engine.store.clock().await.map_err(store_status)?;
        let mut input = Input::new(Event::Operator(cmd), actor.clone());
        input.reason = reason.to_owned();
        input.clock = Some(clock);
        let a = self
            .ctx
            .engine
            .apply(id, &input)
            .await
            .map_err(store_status)?;
        info!(%actor, swap_id, "operator command applied");
        Ok(a)
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn list_stuck(
        &self,
        request: Request<apb::ListStuckRequest>,
    ) -> Result<Response<apb::ListStuckResponse>, Status> {
        let limit = match request.get_ref().limit {
            0 => 100,
            n @ 1..=500 => n,
            _ => return Err(invalid("limit", "must be 0 to 500")),
        };
        let rows = self
            .ctx
            .engine
            .store
            .stuck(now_unix(), STUCK_HORIZON_SECS, i64::from(limit))
            .await
            .map_err(store_status)?;
        Ok(Response::new(apb::ListStuckResponse {
            swaps: rows
                .into_iter()
                .map(|(swap, reason, left)| apb::StuckSwap {
                    swap: Some(swap),
                    reason,
                    seconds_to_deadline: left,
                })
                .collect(),
        }))
    }

    async fn get_timeline(
        &self,
        request: Request<apb::GetTimelineRequest>,
    ) -> Result<Response<apb::GetTimelineResponse>, Status> {
        let id = parse_swap_id("swap_id", &request.get_ref().swap_id)?;
        let store = &self.ctx.engine.store;
        let swap = store.view(id).await.map_err(store_status)?;
        let events = store.timeline(id).await.map_err(store_status)?;
        Ok(Response::new(apb::GetTimelineResponse {
            swap: Some(swap),
            events: events
                .into_iter()
                .map(|e| apb::TimelineEvent {
                    seq: e.seq,
                    kind: e.kind,
                    detail_json: e.detail_json,
                    recorded_at: e.recorded_at,
                    actor: e.actor,
                })
                .collect(),
        }))
    }

    async fn retry(
        &self,
        request: Request<apb::RetryRequest>,
    ) -> Result<Response<apb::RetryResponse>, Status> {
        let r = request.get_ref();
        parse_swap_id("swap_id", &r.swap_id)?;
        parse_text("reason", &r.reason, MAX_REASON)?;
        let a = self
            .command(&request, &r.swap_id, OperatorCommand::Retry, &r.reason)
            .await?;
        Ok(Response::new(apb::RetryResponse { swap: Some(a.view) }))
    }

    async fn force_refund(
        &self,
        request: Request<apb::ForceRefundRequest>,
    ) -> Result<Response<apb::ForceRefundResponse>, Status> {
        let r = request.get_ref();
        parse_swap_id("swap_id", &r.swap_id)?;
        parse_text("reason", &r.reason, MAX_REASON)?;
        let a = self
            .command(
                &request,
                &r.swap_id,
                OperatorCommand::ForceRefund,
                &r.reason,
            )
            .await?;
        Ok(Response::new(apb::ForceRefundResponse {
            swap: Some(a.view),
        }))
    }

    async fn annotate(
        &self,
        request: Request<apb::AnnotateRequest>,
    ) -> Result<Response<apb::AnnotateResponse>, Status> {
        let r = request.get_ref();
        parse_swap_id("swap_id", &r.swap_id)?;
        parse_text("note", &r.note, MAX_NOTE_LEN)?;
        let cmd = OperatorCommand::Annotate {
            note: r.note.clone(),
        };
        let a = self.command(&request, &r.swap_id, cmd, "").await?;
        Ok(Response::new(apb::AnnotateResponse { swap: Some(a.view) }))
    }

    async fn resolve(
        &self,
        request: Request<apb::ResolveRequest>,
    ) -> Result<Response<apb::ResolveResponse>, Status> {
        let r = request.get_ref();
        parse_swap_id("swap_id", &r.swap_id)?;
        parse_text("reason", &r.reason, MAX_REASON)?;
        let cmd = OperatorCommand::Resolve { close: r.close };
        let a = self.command(&request, &r.swap_id, cmd, &r.reason).await?;
        Ok(Response::new(apb::ResolveResponse { swap: Some(a.view) }))
    }

    async fn pause(
        &self,
        request: Request<apb::PauseRequest>,
    ) -> Result<Response<apb::PauseResponse>, Status> {
        parse_text("reason", &request.get_ref().reason, MAX_REASON)?;
        let actor = principal(&request).actor();
        self.ctx
            .engine
            .store
            .set_paused(true, &request.get_ref().reason, &actor)
            .await
            .map_err(store_status)?;
        info!(%actor, "new orders paused");
        Ok(Response::new(apb::PauseResponse {}))
    }

    async fn resume(
        &self,
        request: Request<apb::ResumeRequest>,
    ) -> Result<Response<apb::ResumeResponse>, Status> {
        parse_text("reason", &request.get_ref().reason, MAX_REASON)?;
        let actor = principal(&request).actor();
        self.ctx
            .engine
            .store
            .set_paused(false, &request.get_ref().reason, &actor)
            .await
            .map_err(store_status)?;
        info!(%actor, "new orders resumed");
        Ok(Response::new(apb::ResumeResponse {}))
    }
}

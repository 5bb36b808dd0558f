//! Approval flows (`compat-wave2.md` §15): the environment's definitions (CRUD; a flow
//! belongs to the account named by `frontegg-tenant-id`, else to the environment), their
//! execution by a user (by id, or the step-up execution that needs a freshly stepped-up
//! user token), and the public approver endpoints the mailed page calls (the three ids are
//! the capability). An execution's outcome is posted to its webhook. The rules live in
//! `model::approval`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::Params;
use crate::model::approval::{self, Capability, Flow, FlowRequest, Status};

/// `ApprovalFlowResponseDto`: the flow and the environment it belongs to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FlowDto {
    #[serde(flatten)]
    flow: Flow,
    vendor_id: String,
}

fn dto(state: &AppState, flow: Flow) -> FlowDto {
    FlowDto {
        flow,
        vendor_id: state.env.client_id().to_owned(),
    }
}

/// A step-up execution needs a second factor proven this recently, seconds.
const STEP_UP_MAX_AGE: i64 = 600;

pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<FlowRequest>,
) -> Result<Json<FlowDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = caller.tenant_opt();
    if let Some(t) = &tenant {
        crate::model::tenant::require(&state.db, t)?;
    }
    let f = approval::create(&state.db, &state.clock, tenant.as_deref(), req).await?;
    Ok(Json(dto(&state, f)))
}

/// `ApprovalFlowsListResponseDto`.
#[derive(Serialize)]
pub(super) struct FlowList {
    items: Vec<FlowDto>,
    total: usize,
}

pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<FlowList>, ApiError> {
    caller.require(Perm::Environment)?;
    let items: Vec<FlowDto> = approval::list(&state.db, caller.tenant_opt().as_deref())?
        .into_iter()
        .map(|f| dto(&state, f))
        .collect();
    Ok(Json(FlowList {
        total: items.len(),
        items,
    }))
}

pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FlowDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let f = approval::get(&state.db, caller.tenant_opt().as_deref(), &id)?;
    Ok(Json(dto(&state, f)))
}

pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FlowRequest>,
) -> Result<Json<FlowDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let f = approval::update(
        &state.db,
        &state.clock,
        caller.tenant_opt().as_deref(),
        &id,
        req,
    )
    .await?;
    Ok(Json(dto(&state, f)))
}

pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    approval::delete(&state.db, caller.tenant_opt().as_deref(), &id).await?;
    Ok(StatusCode::OK)
}

/// `ExecuteApprovalFlowDto`.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExecuteRequest {
    execution_data: Option<Map<String, Value>>,
    webhook_url: Option<String>,
}

/// What an execution request gets back.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Executed {
    approval_flow_execution_id: String,
    status: Status,
}

async fn run(
    state: &AppState,
    caller: &Caller,
    flow: Option<&str>,
    req: ExecuteRequest,
) -> Result<Json<Executed>, ApiError> {
    let tenant = caller.tenant()?;
    crate::model::tenant::require(&state.db, &tenant)?;
    let user_id = caller.acting_user(state, &tenant)?;
    let requester = crate::model::user::get(&state.db, &user_id)?;
    let flow = match flow {
        Some(id) => approval::get(&state.db, Some(&tenant), id)?,
        None => approval::step_up_flow(&state.db, &tenant)?,
    };
    let e = approval::execute(
        &state.db,
        &state.clock,
        state.links(),
        &flow,
        &tenant,
        &requester,
        approval::Attached {
            data: req.execution_data,
            webhook_url: req.webhook_url,
        },
    )
    .await?;
    Ok(Json(Executed {
        approval_flow_execution_id: e.id,
        status: e.status,
    }))
}

/// A user (or the environment for `frontegg-user-id`) asks for flow `id`'s approval.
pub(super) async fn execute(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Json<Executed>, ApiError> {
    run(&state, &caller, Some(&id), req).await
}

/// A user who stepped up within the last ten minutes asks for the account's active flow.
pub(super) async fn execute_step_up(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Json<Executed>, ApiError> {
    if caller.user().is_none() {
        return Err(ApiError::forbidden(
            "a step-up execution needs the user's own stepped-up token",
        ));
    }
    let token = crate::http::extract::bearer(&headers)?.unwrap_or_default();
    let claims: shared::claims::AccessClaims = state
        .issuer
        .verify(token)
        .map_err(|_| ApiError::unauthorized("Unauthorized"))?;
    let now = state.clock.unix();
    let stepped_up = claims.acr.as_deref() == Some(shared::claims::STEP_UP_ACR)
        && claims
            .auth_time
            .is_some_and(|t| t <= now + 60 && now - t <= STEP_UP_MAX_AGE);
    if !stepped_up {
        return Err(ApiError::forbidden(
            "step-up required: prove a second factor first",
        ));
    }
    run(&state, &caller, None, req).await
}

/// The approver page's query: the capability.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CapabilityQuery {
    approval_flow_execution_id: String,
    approver_id: String,
    approval_flow_step_id: String,
}

/// `ExecutionDataResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExecutionData {
    approval_flow_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_flow_description: Option<String>,
    requester: String,
    approval_flow_request_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_data: Option<Map<String, Value>>,
}

/// Public (the capability): what the approver decides on.
pub(super) async fn execution_data(
    State(state): State<AppState>,
    Params(q): Params<CapabilityQuery>,
) -> Result<Json<ExecutionData>, ApiError> {
    let e = approval::view(
        &state.db,
        &state.clock,
        Capability {
            execution: &q.approval_flow_execution_id,
            approver: &q.approver_id,
            step: &q.approval_flow_step_id,
        },
    )?;
    Ok(Json(ExecutionData {
        approval_flow_name: e.flow_name,
        approval_flow_description: e.flow_description,
        requester: e.requester_email,
        approval_flow_request_date: e.requested_at,
        execution_data: e.data,
    }))
}

/// `ApproverActionDto`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActionRequest {
    approved: bool,
    approval_flow_execution_id: String,
    approver_id: String,
    approval_flow_step_id: String,
}

#[derive(Serialize)]
pub(super) struct Success {
    success: bool,
}

/// Public (the capability): the approver's decision.
pub(super) async fn approver_action(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Json<Success>, ApiError> {
    approval::decide(
        &state.db,
        &state.clock,
        state.links(),
        Capability {
            execution: &req.approval_flow_execution_id,
            approver: &req.approver_id,
            step: &req.approval_flow_step_id,
        },
        req.approved,
    )
    .await?;
    // A completing decision queued the outcome in its transaction; the delivery task posts it.
    Ok(Json(Success { success: true }))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("ApprovalFlowsController_createApprovalFlow", create)
        .add("ApprovalFlowsController_getApprovalFlows", list)
        .add("ApprovalFlowsController_getApprovalFlowById", get)
        .add("ApprovalFlowsController_updateApprovalFlow", update)
        .add("ApprovalFlowsController_deleteApprovalFlow", delete)
        .add("ApprovalFlowsController_executeApprovalFlow", execute)
        .add(
            "ApprovalFlowsController_executeStepUpApprovalFlow",
            execute_step_up,
        )
        .add("ApprovalFlowsController_getExecutionData", execution_data)
        .add("ApprovalFlowsController_approverAction", approver_action)
}

//! Reconcile one Rollout: observe, plan, execute; and the error policy that sorts failures.
//!
//! - A malformed Rollout (one that does not decode) is reported once on its status as `InvalidSpec` and otherwise
//!   left alone; it never stalls the watch for the others.
//! - A cache older than our own last write: wait for the watch to catch up (it does within milliseconds).
//! - A 409 conflict: requeue at once; the next plan sees the newer object.
//! - Any other failure: per-object exponential backoff (250 ms doubling to 5 minutes), reset on success.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, Patch};
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use serin_api::Rollout;
use serin_planner::Observed;
use serin_planner::analysis::build::Templates;
use tracing::{debug, info, instrument, warn};

use crate::context::Context;
use crate::execute::{self, ExecuteError};
use crate::observe;

/// How soon to look again when the cache has not caught up with our own write yet (the watch event for that write
/// normally triggers a reconcile well before this).
const STALE_CACHE_RETRY: Duration = Duration::from_secs(1);
/// Requeue delay after a 409 conflict.
const CONFLICT_RETRY: Duration = Duration::from_millis(20);

/// A failed reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A write of the plan failed.
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    /// Reporting a malformed Rollout failed.
    #[error("reporting malformed Rollout: {0}")]
    ReportMalformed(kube::Error),
}

impl ReconcileError {
    /// Stable label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Execute(err) => err.metric_label(),
            Self::ReportMalformed(_) => "report_malformed",
        }
    }
}

/// Reconciles one Rollout.
#[instrument(skip_all, fields(rollout = %guarded_name(&obj), namespace = %obj_namespace(&obj)))]
pub async fn reconcile(obj: Arc<DeserializeGuard<Rollout>>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let rollout = match &obj.0 {
        Ok(rollout) => rollout,
        Err(invalid) => return report_malformed(&ctx, invalid).await,
    };
    let key = execute::key(rollout);
    if rollout.meta().deletion_timestamp.is_some() {
        ctx.freshness.forget(&key);
        return Ok(Action::await_change());
    }
    let replica_sets = observe::replica_sets(rollout, &ctx.replica_sets);
    let analysis_runs = observe::analysis_runs(rollout, &ctx.analysis_runs);
    let routing = ctx.routers.snapshot(rollout);
    let cached_rv = |name: &str| match name.strip_prefix("analysisrun/") {
        None if name.starts_with("service/") || name.starts_with("router/") => routing.resource_version(name),
        Some(run) => {
            analysis_runs.iter().find(|r| r.metadata.name.as_deref() == Some(run)).and_then(|r| r.metadata.resource_version.as_deref())
        }
        None => {
            replica_sets.iter().find(|rs| rs.metadata.name.as_deref() == Some(name)).and_then(|rs| rs.metadata.resource_version.as_deref())
        }
    };
    if ctx.freshness.is_stale(&key, rollout.metadata.resource_version.as_deref(), cached_rv) {
        debug!("cache older than our last write; waiting for the watch");
        return Ok(Action::requeue(STALE_CACHE_RETRY));
    }
    let evicting = ctx.freshness.evicting(&key, |name| {
        let pod = ctx.pods.get(&kube::runtime::reflector::ObjectRef::new(name).within(&rollout.namespace().unwrap_or_default()));
        pod.is_some_and(|p| p.metadata.deletion_timestamp.is_none())
    });
    let pods = observe::pods(rollout, &replica_sets, &ctx.pods, &evicting);
    let templates = observe::analysis_templates(rollout, &ctx.analysis_templates);
    let cluster_templates = observe::cluster_analysis_templates(rollout, &ctx.cluster_analysis_templates);
    let observed = Observed {
        rollout,
        replica_sets: &replica_sets,
        pods: &pods,
        analysis_runs: &analysis_runs,
        templates: Templates { namespaced: &templates, cluster: &cluster_templates },
        routing: routing.objects(),
    };
    let plan = serin_planner::plan(&observed, Timestamp::now());
    let written = execute::execute(&ctx, rollout, &plan).await?;
    if written || !plan.actions.is_empty() {
        let status = &plan.status;
        info!(
            phase = status.phase.as_ref().map_or("", |p| p.as_str()),
            message = status.message.as_deref().unwrap_or_default(),
            step = ?status.current_step_index,
            actions = plan.actions.len(),
            "reconciled"
        );
    }
    ctx.succeeded(&key);
    let requeue = plan.requeue_after.map_or(ctx.resync, |after| after.min(ctx.resync));
    Ok(Action::requeue(requeue))
}

/// Sorts a failure: conflicts are retried at once, everything else backs off per Rollout.
pub fn error_policy(obj: Arc<DeserializeGuard<Rollout>>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", obj_namespace(&obj), guarded_name(&obj));
    if let ReconcileError::Execute(e) = err
        && e.is_conflict()
    {
        debug!(%err, "conflict; re-planning");
        return Action::requeue(CONFLICT_RETRY);
    }
    let delay = ctx.backoff(&key);
    warn!(error = %err, kind = err.metric_label(), retry_in = ?delay, rollout = %key, "reconcile failed");
    Action::requeue(delay)
}

/// Writes `InvalidSpec` (phase Degraded) on a Rollout that does not decode, once per distinct error.
async fn report_malformed(ctx: &Context, invalid: &InvalidObject) -> Result<Action, ReconcileError> {
    let uid = invalid.metadata.uid.clone().unwrap_or_default();
    if ctx.malformed_reported.lock().get(&uid) == Some(&invalid.error) {
        return Ok(Action::await_change());
    }
    let name = invalid.metadata.name.clone().unwrap_or_default();
    let namespace = invalid.metadata.namespace.clone().unwrap_or_default();
    // Patched and read as untyped JSON: the typed client would have to decode the very object that does not decode.
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &kube::api::ApiResource::erase::<Rollout>(&()));
    let message = format!("The Rollout \"{name}\" is invalid: {}", decode_error_with_path(&api, &name, &invalid.error).await);
    warn!(%message, "malformed Rollout");
    let now = Timestamp::now().to_string();
    let patch = json!({"status": {
        "phase": "Degraded",
        "message": format!("InvalidSpec: {message}"),
        "observedGeneration": invalid.metadata.generation.unwrap_or_default().to_string(),
        "conditions": [{
            "type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now,
        }],
    }});
    // Patched as untyped JSON: the typed client would have to decode the very object that does not decode.
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &kube::api::ApiResource::erase::<Rollout>(&()));
    api.patch_status(&name, &execute::patch_params(), &Patch::Merge(&patch)).await.map_err(ReconcileError::ReportMalformed)?;
    ctx.malformed_reported.lock().insert(uid, invalid.error.clone());
    Ok(Action::await_change())
}

/// The decoding error with the field path it occurred at (`spec.template.spec.containers[0].image: invalid type:
/// ...`), found by decoding the raw object again; the watcher's error alone carries no path.
async fn decode_error_with_path(api: &Api<kube::api::DynamicObject>, name: &str, fallback: &str) -> String {
    let Ok(object) = api.get(name).await else { return fallback.to_owned() };
    let Ok(value) = serde_json::to_value(&object) else { return fallback.to_owned() };
    match serde_path_to_error::deserialize::<_, Rollout>(value) {
        Err(err) => format!("{}: {}", err.path(), err.inner()),
        Ok(_) => fallback.to_owned(),
    }
}

fn guarded_name(obj: &DeserializeGuard<Rollout>) -> String {
    match &obj.0 {
        Ok(ro) => ro.name_any(),
        Err(invalid) => invalid.metadata.name.clone().unwrap_or_default(),
    }
}

fn obj_namespace(obj: &DeserializeGuard<Rollout>) -> String {
    match &obj.0 {
        Ok(ro) => ro.namespace().unwrap_or_default(),
        Err(invalid) => invalid.metadata.namespace.clone().unwrap_or_default(),
    }
}

//! Execute: carry out a [`Plan`] for one Rollout. The only module that writes to the cluster.
//!
//! Contract: actions run in plan order and the first failure stops the rest (the next reconcile re-plans from
//! fresh observations). The status is written last, as a merge patch of only the fields that changed, with the
//! observed `resourceVersion` as a precondition, so a user command that landed in between (abort, promote) causes
//! a 409 and a re-plan instead of being overwritten. Nothing is written when nothing changed. Events are recorded
//! last and never fail a reconcile.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, EvictParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;
use serin_api::common::ConditionStatus;
use serin_api::labels::{DESIRED_REPLICAS, MANAGED_BY_ROLLOUTS, POD_TEMPLATE_HASH, REVISION, REVISION_HISTORY, SCALE_DOWN_DEADLINE};
use serin_api::rollout::status::RolloutConditionType;
use serin_api::{AnalysisRun, Rollout, RolloutStatus};
use serin_planner::conditions;
use serin_planner::status_patch::merge_diff;
use serin_planner::traffic::{RouterKind, RouterWrite};
use serin_planner::{Action, Plan};
use tracing::{debug, info, warn};

use crate::FIELD_MANAGER;
use crate::context::Context;

/// A failed write, naming the operation and the object.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// Creating the desired ReplicaSet failed.
    #[error("creating ReplicaSet {name}: {source}")]
    CreateReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// A ReplicaSet of that name exists and is not this Rollout's template: `status.collisionCount` was bumped.
    #[error("ReplicaSet {name} exists with another template (hash collision); collisionCount bumped")]
    HashCollision {
        /// ReplicaSet name.
        name: String,
    },
    /// Patching a ReplicaSet failed.
    #[error("patching ReplicaSet {name}: {source}")]
    PatchReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Evicting a pod failed (a PodDisruptionBudget answers 429 until it allows it).
    #[error("evicting pod {name}: {source}")]
    EvictPod {
        /// Pod name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Deleting a ReplicaSet failed.
    #[error("deleting ReplicaSet {name}: {source}")]
    DeleteReplicaSet {
        /// ReplicaSet name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Creating, terminating or deleting an AnalysisRun failed.
    #[error("{verb} AnalysisRun {name}: {source}")]
    AnalysisRun {
        /// What was attempted.
        verb: &'static str,
        /// AnalysisRun name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Writing a Service selector failed.
    #[error("patching Service {name}: {source}")]
    PatchService {
        /// Service name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Writing a traffic-router object failed.
    #[error("writing {target}: {source}")]
    WriteRouter {
        /// `Kind/name`.
        target: String,
        /// API error.
        source: kube::Error,
    },
    /// Patching the Rollout's metadata or spec failed.
    #[error("patching Rollout: {source}")]
    PatchRollout {
        /// API error.
        source: kube::Error,
    },
    /// Writing the Rollout's status failed.
    #[error("patching Rollout status: {source}")]
    PatchStatus {
        /// API error.
        source: kube::Error,
    },
    /// A status could not be encoded (a bug).
    #[error("encoding status: {0}")]
    Encode(#[from] serde_json::Error),
}

impl ExecuteError {
    /// Stable label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::CreateReplicaSet { .. } => "create_replicaset",
            Self::HashCollision { .. } => "hash_collision",
            Self::PatchReplicaSet { .. } => "patch_replicaset",
            Self::DeleteReplicaSet { .. } => "delete_replicaset",
            Self::AnalysisRun { .. } => "analysisrun",
            Self::PatchService { .. } => "patch_service",
            Self::WriteRouter { .. } => "write_router",
            Self::EvictPod { .. } => "evict_pod",
            Self::PatchRollout { .. } => "patch_rollout",
            Self::PatchStatus { .. } => "patch_status",
            Self::Encode(_) => "encode",
        }
    }

    /// A 409 (or the collision it led to): the cache was behind the cluster; retry at once with fresh data.
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::HashCollision { .. } => true,
            Self::CreateReplicaSet { source, .. }
            | Self::PatchReplicaSet { source, .. }
            | Self::DeleteReplicaSet { source, .. }
            | Self::AnalysisRun { source, .. }
            | Self::PatchService { source, .. }
            | Self::WriteRouter { source, .. }
            | Self::EvictPod { source, .. }
            | Self::PatchRollout { source }
            | Self::PatchStatus { source } => status_code(source) == Some(409),
            Self::Encode(_) => false,
        }
    }
}

fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Parameters of every merge patch the controller sends: its field manager, nothing else.
pub fn patch_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() }
}

/// `namespace/name` of a Rollout: the key of per-object bookkeeping.
pub fn key(rollout: &Rollout) -> String {
    format!("{}/{}", rollout.namespace().unwrap_or_default(), rollout.name_any())
}

/// Performs `plan` for `rollout`. Returns whether the status was written.
pub async fn execute(ctx: &Context, rollout: &Rollout, plan: &Plan) -> Result<bool, ExecuteError> {
    let namespace = rollout.namespace().unwrap_or_default();
    let rollouts: Api<Rollout> = Api::namespaced(ctx.client.clone(), &namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = key(rollout);
    let patch_params = patch_params();
    // The status precondition must be the Rollout's version after our own metadata/spec patches, not before.
    let mut resource_version = rollout.resource_version();
    for action in &plan.actions {
        debug!(?action, "executing");
        match action {
            Action::DefaultReplicas => {
                let patch = json!({"spec": {"replicas": 1}});
                let ro = rollouts
                    .patch(&rollout.name_any(), &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ExecuteError::PatchRollout { source })?;
                ctx.freshness.wrote_rollout(&key, ro.resource_version().as_deref());
                resource_version = ro.resource_version();
            }
            Action::SetRolloutRevision { revision } => {
                let patch = json!({"metadata": {"annotations": {REVISION: revision}}});
                let ro = rollouts
                    .patch(&rollout.name_any(), &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ExecuteError::PatchRollout { source })?;
                ctx.freshness.wrote_rollout(&key, ro.resource_version().as_deref());
                resource_version = ro.resource_version();
            }
            Action::AdoptReplicaSet { name, uid } => {
                let owner = rollout.controller_owner_ref(&()).unwrap_or_default();
                let patch = json!({"metadata": {"uid": uid, "ownerReferences": [owner]}});
                let rs = replica_sets
                    .patch(name, &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ExecuteError::PatchReplicaSet { name: name.clone(), source })?;
                info!(replicaset = %name, "adopted orphan ReplicaSet");
                ctx.freshness.wrote_replica_set(&key, name, rs.resource_version().as_deref());
            }
            Action::CreateReplicaSet(rs) => {
                if let Err(err) = create(ctx, rollout, &replica_sets, &rollouts, rs).await {
                    if let ExecuteError::CreateReplicaSet { name, source } = &err
                        && status_code(source) != Some(409)
                    {
                        report_create_error(ctx, rollout, resource_version.clone(), &rollouts, plan, name, source).await;
                    }
                    return Err(err);
                }
            }
            Action::UpdateReplicaSet { name, revision, revision_history, min_ready_seconds } => {
                let mut patch = json!({});
                if let Some(revision) = revision {
                    patch["metadata"]["annotations"][REVISION] = json!(revision);
                }
                if let Some(history) = revision_history {
                    patch["metadata"]["annotations"][REVISION_HISTORY] = json!(history);
                }
                if let Some(seconds) = min_ready_seconds {
                    patch["spec"]["minReadySeconds"] = json!(seconds);
                }
                let rs = replica_sets
                    .patch(name, &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ExecuteError::PatchReplicaSet { name: name.clone(), source })?;
                ctx.freshness.wrote_replica_set(&key, name, rs.resource_version().as_deref());
            }
            Action::ScaleReplicaSet { name, from, to, rollout_replicas, .. } => {
                let patch = json!({
                    "metadata": {"annotations": {DESIRED_REPLICAS: rollout_replicas.to_string()}},
                    "spec": {"replicas": to},
                });
                let rs = replica_sets
                    .patch(name, &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ExecuteError::PatchReplicaSet { name: name.clone(), source })?;
                if from != to {
                    info!(replicaset = %name, from, to, "scaled ReplicaSet");
                }
                ctx.freshness.wrote_replica_set(&key, name, rs.resource_version().as_deref());
            }
            Action::EvictPod { name } => {
                let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
                match pods.evict(name, &EvictParams::default()).await {
                    Ok(_) => {
                        info!(pod = %name, "evicted pod for spec.restartAt");
                        ctx.freshness.evicted_pod(&key, name);
                    }
                    Err(err) if status_code(&err) == Some(404) => {}
                    // A PodDisruptionBudget refuses the eviction for now: not a failure, the restart tries again
                    // (the planner requeues while pods wait for their restart).
                    Err(err) if status_code(&err) == Some(429) => {
                        warn!(pod = %name, error = %err, "eviction refused by a PodDisruptionBudget; retrying later");
                    }
                    Err(source) => return Err(ExecuteError::EvictPod { name: name.clone(), source }),
                }
            }
            Action::DeleteReplicaSet { name, uid } => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match replica_sets.delete(name, &params).await {
                    Ok(_) => info!(replicaset = %name, "deleted old ReplicaSet beyond revisionHistoryLimit"),
                    Err(err) if status_code(&err) == Some(404) => {}
                    Err(source) => return Err(ExecuteError::DeleteReplicaSet { name: name.clone(), source }),
                }
                ctx.freshness.deleted_replica_set(&key, name);
            }
            Action::CreateAnalysisRun(run) => create_analysis_run(ctx, rollout, &key, run).await?,
            Action::TerminateAnalysisRun { name } => {
                let runs: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), &namespace);
                let patch = json!({"spec": {"terminate": true}});
                match runs.patch(name, &patch_params, &Patch::Merge(&patch)).await {
                    Ok(run) => {
                        info!(analysisrun = %name, "terminated AnalysisRun");
                        ctx.freshness.wrote_replica_set(&key, &analysis_run_key(name), run.resource_version().as_deref());
                    }
                    Err(err) if status_code(&err) == Some(404) => {}
                    Err(source) => return Err(ExecuteError::AnalysisRun { verb: "terminating", name: name.clone(), source }),
                }
            }
            Action::DeleteAnalysisRun { name, uid } => {
                let runs: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), &namespace);
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match runs.delete(name, &params).await {
                    Ok(_) => info!(analysisrun = %name, "deleted old AnalysisRun beyond the run history limits"),
                    Err(err) if matches!(status_code(&err), Some(404 | 409)) => {}
                    Err(source) => return Err(ExecuteError::AnalysisRun { verb: "deleting", name: name.clone(), source }),
                }
                ctx.freshness.deleted_replica_set(&key, &analysis_run_key(name));
            }
            Action::SelectService { name, hash, resource_version } => {
                let patch = json!({
                    "metadata": {"resourceVersion": resource_version, "annotations": {MANAGED_BY_ROLLOUTS: rollout.name_any()}},
                    "spec": {"selector": {POD_TEMPLATE_HASH: hash}},
                });
                let rv = patch_service(ctx, &namespace, name, &patch).await?;
                ctx.freshness.wrote_replica_set(&key, &service_key(name), rv.as_deref());
                info!(service = %name, %hash, "switched Service selector");
            }
            Action::ReleaseService { name, resource_version } => {
                let patch = json!({
                    "metadata": {"resourceVersion": resource_version, "annotations": {MANAGED_BY_ROLLOUTS: null}},
                    "spec": {"selector": {POD_TEMPLATE_HASH: null}},
                });
                let rv = patch_service(ctx, &namespace, name, &patch).await?;
                ctx.freshness.wrote_replica_set(&key, &service_key(name), rv.as_deref());
                info!(service = %name, "released Service no longer referenced");
            }
            Action::WriteRouter(write) => {
                let rv = write_router(ctx, &namespace, write).await?;
                ctx.freshness.wrote_replica_set(&key, &router_key(write.kind(), &write.name()), rv.as_deref());
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                let patch = json!({"metadata": {"annotations": {SCALE_DOWN_DEADLINE: deadline}}});
                let rs = replica_sets
                    .patch(name, &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ExecuteError::PatchReplicaSet { name: name.clone(), source })?;
                ctx.freshness.wrote_replica_set(&key, name, rs.resource_version().as_deref());
            }
        }
    }
    let written = write_status(ctx, rollout, resource_version, &rollouts, &plan.status).await?;
    record_events(ctx, rollout, plan).await;
    Ok(written)
}

/// The freshness key of a Service we wrote.
pub fn service_key(name: &str) -> String {
    format!("service/{name}")
}

/// The freshness key of a router object we wrote.
pub fn router_key(kind: RouterKind, name: &str) -> String {
    format!("router/{}/{name}", kind.kind())
}

/// Patches a Service; returns its new `resourceVersion`.
async fn patch_service(ctx: &Context, namespace: &str, name: &str, patch: &serde_json::Value) -> Result<Option<String>, ExecuteError> {
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
    let svc = services
        .patch(name, &patch_params(), &Patch::Merge(patch))
        .await
        .map_err(|source| ExecuteError::PatchService { name: name.to_owned(), source })?;
    Ok(svc.resource_version())
}

/// Writes a router object: a JSON patch pinned to the observed `resourceVersion`, or a create. Returns the
/// object's new `resourceVersion`.
async fn write_router(ctx: &Context, namespace: &str, write: &RouterWrite) -> Result<Option<String>, ExecuteError> {
    let target = write.target();
    let err = |source| ExecuteError::WriteRouter { target: target.clone(), source };
    let resource = |kind: RouterKind| ApiResource {
        group: kind.group().to_owned(),
        version: kind.version().to_owned(),
        api_version: kind.api_version(),
        kind: kind.kind().to_owned(),
        plural: kind.plural().to_owned(),
    };
    match write {
        RouterWrite::Patch { kind, name, patch } => {
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &resource(*kind));
            let patch: json_patch_kube::Patch = serde_json::from_value(patch.clone())?;
            let written = api.patch(name, &patch_params(), &Patch::Json::<()>(patch)).await.map_err(err)?;
            info!(%target, "updated traffic router");
            Ok(written.resource_version())
        }
        RouterWrite::Create { kind, object } => {
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &resource(*kind));
            let object: DynamicObject = serde_json::from_value(object.clone())?;
            let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
            let created = api.create(&params, &object).await.map_err(err)?;
            info!(%target, "created traffic router object");
            Ok(created.resource_version())
        }
    }
}

/// The freshness key of an AnalysisRun (the guard tracks ReplicaSets and runs in one map).
pub fn analysis_run_key(name: &str) -> String {
    format!("analysisrun/{name}")
}

/// Creates an AnalysisRun. An `AlreadyExists` for a run of this Rollout means the cache was behind: nothing to do.
async fn create_analysis_run(ctx: &Context, rollout: &Rollout, key: &str, run: &AnalysisRun) -> Result<(), ExecuteError> {
    let name = run.name_any();
    let runs: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), &rollout.namespace().unwrap_or_default());
    match runs.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() }, run).await {
        Ok(created) => {
            info!(analysisrun = %name, "created AnalysisRun");
            ctx.freshness.wrote_replica_set(key, &analysis_run_key(&name), created.resource_version().as_deref());
            Ok(())
        }
        Err(err) if status_code(&err) == Some(409) => {
            let existing =
                runs.get(&name).await.map_err(|source| ExecuteError::AnalysisRun { verb: "creating", name: name.clone(), source })?;
            let ours = existing.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == rollout.uid().as_ref());
            if ours {
                ctx.freshness.wrote_replica_set(key, &analysis_run_key(&name), existing.resource_version().as_deref());
                return Ok(());
            }
            Err(ExecuteError::AnalysisRun { verb: "creating", name, source: err })
        }
        Err(source) => Err(ExecuteError::AnalysisRun { verb: "creating", name, source }),
    }
}

/// Creates the desired ReplicaSet. An `AlreadyExists` from a copy of ours means the cache was behind (fine); from
/// anything else it is a hash collision, resolved as Argo does by bumping `status.collisionCount`.
async fn create(
    ctx: &Context,
    rollout: &Rollout,
    replica_sets: &Api<ReplicaSet>,
    rollouts: &Api<Rollout>,
    rs: &ReplicaSet,
) -> Result<(), ExecuteError> {
    let name = rs.name_any();
    let key = key(rollout);
    match replica_sets.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() }, rs).await {
        Ok(created) => {
            info!(replicaset = %name, replicas = ?created.spec.as_ref().and_then(|s| s.replicas), "created ReplicaSet");
            ctx.freshness.wrote_replica_set(&key, &name, created.resource_version().as_deref());
            Ok(())
        }
        Err(err) if status_code(&err) == Some(409) => {
            let existing = replica_sets.get(&name).await.map_err(|source| ExecuteError::CreateReplicaSet { name: name.clone(), source })?;
            let ours = existing.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == rollout.uid().as_ref());
            if ours {
                ctx.freshness.wrote_replica_set(&key, &name, existing.resource_version().as_deref());
                return Err(ExecuteError::CreateReplicaSet { name, source: err });
            }
            let count = rollout.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0) + 1;
            warn!(replicaset = %name, collision_count = count, "hash collision with a foreign ReplicaSet");
            let patch = json!({"metadata": {"resourceVersion": rollout.resource_version()}, "status": {"collisionCount": count}});
            let ro = rollouts
                .patch_status(&rollout.name_any(), &patch_params(), &Patch::Merge(&patch))
                .await
                .map_err(|source| ExecuteError::PatchStatus { source })?;
            ctx.freshness.wrote_rollout(&key, ro.resource_version().as_deref());
            Err(ExecuteError::HashCollision { name })
        }
        Err(source) => Err(ExecuteError::CreateReplicaSet { name, source }),
    }
}

/// Argo's `ReplicaSetCreateError`: a failed create is shown on the Rollout as Progressing False with the API's
/// reason, on top of the planned status. Best effort: the create error itself is what the reconcile returns.
async fn report_create_error(
    ctx: &Context,
    rollout: &Rollout,
    resource_version: Option<String>,
    rollouts: &Api<Rollout>,
    plan: &Plan,
    name: &str,
    source: &kube::Error,
) {
    let mut status = plan.status.clone();
    let now = serin_planner::plan::seconds(jiff::Timestamp::now());
    let message = format!("Failed to create new replica set \"{name}\": {source}");
    conditions::set_condition(
        &mut status,
        conditions::new_condition(
            RolloutConditionType::Progressing,
            ConditionStatus::False,
            conditions::RS_CREATE_ERROR_REASON,
            message,
            &now,
        ),
    );
    let (phase, message) = serin_planner::phase::rollout_phase(&rollout.spec, &status);
    status.phase = Some(phase);
    status.message = Some(message);
    if let Err(err) = write_status(ctx, rollout, resource_version, rollouts, &status).await {
        debug!(%err, "could not report the ReplicaSet create error");
    }
}

/// Writes the difference between the observed and the planned status, if any.
async fn write_status(
    ctx: &Context,
    rollout: &Rollout,
    resource_version: Option<String>,
    rollouts: &Api<Rollout>,
    planned: &RolloutStatus,
) -> Result<bool, ExecuteError> {
    let observed = serde_json::to_value(rollout.status.clone().unwrap_or_default())?;
    let planned = serde_json::to_value(planned)?;
    let Some(diff) = merge_diff(&observed, &planned) else { return Ok(false) };
    let patch = json!({"metadata": {"resourceVersion": resource_version}, "status": diff});
    debug!(%patch, "status patch");
    let ro = rollouts
        .patch_status(&rollout.name_any(), &patch_params(), &Patch::Merge(&patch))
        .await
        .map_err(|source| ExecuteError::PatchStatus { source })?;
    ctx.freshness.wrote_rollout(&key(rollout), ro.resource_version().as_deref());
    Ok(true)
}

async fn record_events(ctx: &Context, rollout: &Rollout, plan: &Plan) {
    if plan.events.is_empty() {
        return;
    }
    let reference: ObjectReference = rollout.object_ref(&());
    for event in &plan.events {
        ctx.metrics.rollout_event(&rollout.namespace().unwrap_or_default(), &rollout.name_any(), event.warning, event.reason);
        let ev = KubeEvent {
            type_: if event.warning { EventType::Warning } else { EventType::Normal },
            reason: event.reason.to_owned(),
            note: Some(event.note.clone()),
            // kube's recorder folds events with the same (reason, action) into one series showing the first note
            // only; the note as action keeps `kubectl describe` listing every distinct message, as Argo's does.
            action: event.note.chars().take(128).collect(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&ev, &reference).await {
            debug!(%err, reason = event.reason, "could not record event");
        }
    }
}

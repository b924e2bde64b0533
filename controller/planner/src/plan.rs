//! The planner's contract: [`Observed`] in, [`Plan`] out.
//!
//! `plan(&Observed, now)` is pure and deterministic: the same snapshot and the same `now` always give the same
//! plan. It never performs anything; the controller's executor carries out [`Plan::actions`] in order, stops at the
//! first error, then writes [`Plan::status`] (only its difference from the observed status, see
//! [`crate::status_patch`]), then records [`Plan::events`], and requeues after [`Plan::requeue_after`].

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serin_api::common::ConditionStatus;
use serin_api::rollout::status::RolloutConditionType;
use serin_api::{AnalysisRun, Rollout, RolloutStatus};

use crate::analysis::build::Templates;
use crate::conditions::{self, INVALID_SPEC_REASON};
use crate::phase::rollout_phase;
use crate::traffic::{RouterObjects, RouterWrite};
use crate::validate::{SpecError, invalid_spec_message, unsupported_features, validate_rollout};
use crate::{canary, pod_hash, pod_template};

/// Everything the planner may look at for one Rollout, taken from the controller's caches.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The Rollout as last seen.
    pub rollout: &'a Rollout,
    /// The ReplicaSets this Rollout controls, plus orphans (no controller owner) whose labels match its selector;
    /// the planner adopts those. ReplicaSets being deleted may be included; they are ignored.
    pub replica_sets: &'a [Arc<ReplicaSet>],
    /// The pods of those ReplicaSets (only needed for `spec.restartAt`; may be empty otherwise).
    pub pods: &'a [PodInfo],
    /// The AnalysisRuns in the Rollout's namespace (the planner keeps those it controls; the others only reserve
    /// their names).
    pub analysis_runs: &'a [Arc<AnalysisRun>],
    /// The analysis templates the Rollout may reference.
    pub templates: Templates<'a>,
    /// The Services and traffic-router objects of the Rollout's namespace (only needed with `canaryService`,
    /// `stableService` or `trafficRouting`).
    pub routing: RouterObjects<'a>,
}

/// What the planner needs to know of a pod: enough to restart pods created before `spec.restartAt` within the
/// Rollout's disruption budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// `metadata.name`.
    pub name: String,
    /// Its `rollouts-pod-template-hash` label: the ReplicaSet it belongs to.
    pub pod_hash: String,
    /// `metadata.creationTimestamp`.
    pub created: Timestamp,
    /// `metadata.deletionTimestamp` is set (or we evicted it and the cache does not show that yet): it is going away.
    pub deleting: bool,
    /// Since when its `Ready` condition is `True` (the condition's `lastTransitionTime`); `None` while not ready.
    pub ready_since: Option<Timestamp>,
}

// === impl PodInfo ===

impl PodInfo {
    /// Kubernetes' `IsPodAvailable`: ready, for at least `min_ready_seconds`, and not going away.
    pub fn is_available(&self, min_ready_seconds: i32, now: Timestamp) -> bool {
        let Some(since) = self.ready_since.filter(|_| !self.deleting) else { return false };
        min_ready_seconds <= 0 || since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)) < now
    }
}

/// What to do for one Rollout now.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Writes to perform, in order; the executor stops at the first failure.
    pub actions: Vec<Action>,
    /// The full status the Rollout should have once the actions succeeded. The executor writes only its difference
    /// from the observed status, and nothing at all when there is none.
    pub status: RolloutStatus,
    /// Events to record on the Rollout once the status is written.
    pub events: Vec<Event>,
    /// Plan again after this long even if nothing changes (a pause expiring, a progress deadline); `None` leaves it
    /// to watch events and the controller's periodic resync.
    pub requeue_after: Option<Duration>,
}

/// One write. A closed set: everything the controller may do to the cluster for a Rollout is listed here.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Write `spec.replicas: 1` into a Rollout that leaves it unset, so an autoscaler can scale it (as Argo does).
    DefaultReplicas,
    /// Set the Rollout's `rollout.argoproj.io/revision` annotation.
    SetRolloutRevision {
        /// The revision of the desired ReplicaSet.
        revision: String,
    },
    /// Take ownership of an orphan ReplicaSet that matches the Rollout's selector.
    AdoptReplicaSet {
        /// Its name.
        name: String,
        /// Its uid, as a precondition: a ReplicaSet recreated under the same name is not adopted by mistake.
        uid: String,
    },
    /// Create the ReplicaSet of the desired pod template.
    CreateReplicaSet(Box<ReplicaSet>),
    /// Rewrite the revision bookkeeping or `minReadySeconds` of an existing ReplicaSet.
    UpdateReplicaSet {
        /// Its name.
        name: String,
        /// New `rollout.argoproj.io/revision`, when it changes.
        revision: Option<String>,
        /// New `rollout.argoproj.io/revision-history`, when it changes.
        revision_history: Option<String>,
        /// New `spec.minReadySeconds`, when it changes.
        min_ready_seconds: Option<i32>,
    },
    /// Set `spec.replicas` of a ReplicaSet, and its `desired-replicas` annotation to the Rollout's `spec.replicas`.
    ScaleReplicaSet {
        /// Its name.
        name: String,
        /// `spec.replicas` as observed, for the event text.
        from: i32,
        /// The new `spec.replicas`.
        to: i32,
        /// The Rollout's `spec.replicas`, for the `rollout.argoproj.io/desired-replicas` annotation.
        rollout_replicas: i32,
        /// Its revision, for the event text.
        revision: i64,
    },
    /// Evict a pod through the Eviction API (`PodDisruptionBudgets` apply) so its ReplicaSet replaces it.
    EvictPod {
        /// Its name.
        name: String,
    },
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit`.
    DeleteReplicaSet {
        /// Its name.
        name: String,
        /// Its uid, as a deletion precondition.
        uid: String,
    },
    /// Create an AnalysisRun (a step's or the background analysis).
    CreateAnalysisRun(Box<AnalysisRun>),
    /// Ask an AnalysisRun to stop: `spec.terminate: true`.
    TerminateAnalysisRun {
        /// Its name.
        name: String,
    },
    /// Delete an old AnalysisRun beyond the history limits.
    DeleteAnalysisRun {
        /// Its name.
        name: String,
        /// Its uid, as a deletion precondition.
        uid: String,
    },
    /// Narrow a Service's selector to one ReplicaSet (`rollouts-pod-template-hash`) and mark it managed by the
    /// Rollout.
    SelectService {
        /// The Service.
        name: String,
        /// The pod-template hash to select.
        hash: String,
        /// Observed `resourceVersion`, a precondition.
        resource_version: String,
    },
    /// Give a Service the Rollout no longer references its full selector back (hash and mark removed).
    ReleaseService {
        /// The Service.
        name: String,
        /// Observed `resourceVersion`, a precondition.
        resource_version: String,
    },
    /// Write a traffic-router object (weights, managed routes, the NGINX canary Ingress).
    WriteRouter(RouterWrite),
    /// Set (or remove, with `None`) a ReplicaSet's `scale-down-deadline` annotation.
    SetScaleDownDeadline {
        /// The ReplicaSet.
        name: String,
        /// RFC 3339 instant after which it is scaled down.
        deadline: Option<String>,
    },
}

/// A Kubernetes Event to record on the Rollout (`kubectl describe rollout` shows them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub warning: bool,
    /// Argo's event reason, e.g. `RolloutStepCompleted`.
    pub reason: &'static str,
    /// Human-readable text.
    pub note: String,
}

// === impl Event ===

impl Event {
    /// A `Normal` event.
    pub fn normal(reason: &'static str, note: impl Into<String>) -> Self {
        Self { warning: false, reason, note: note.into() }
    }

    /// A `Warning` event.
    pub fn warning(reason: &'static str, note: impl Into<String>) -> Self {
        Self { warning: true, reason, note: note.into() }
    }
}

/// Plans one reconcile of `observed.rollout` at time `now`.
///
/// An invalid spec (including fields this version does not implement yet) yields only an `InvalidSpec` condition
/// and phase `Degraded`: nothing that runs is touched, and the next valid spec is planned normally.
pub fn plan(observed: &Observed<'_>, now: Timestamp) -> Plan {
    let rollout = observed.rollout;
    let mut errors = validate_rollout(rollout);
    if errors.is_empty() {
        errors = unsupported_features(rollout);
    }
    let template = rollout.spec.template.clone().unwrap_or_default();
    let collision_count = rollout.status.as_ref().and_then(|s| s.collision_count);
    let pod_hash = match pod_hash::pod_template_hash(&template, collision_count) {
        // The ReplicaSet already running this template keeps its name and hash, whichever Argo Rollouts (or Serin)
        // version named it: a migration adopts it instead of restarting every pod.
        Ok(hash) => Some(
            pod_template::find_replica_set(observed.replica_sets, &template, &hash)
                .and_then(pod_template::hash_label)
                .map_or(hash, str::to_owned),
        ),
        Err(err) => {
            errors.push(SpecError::not_implemented(pod_hash_error_path(&err), err.to_string()));
            None
        }
    };
    match (errors.is_empty(), pod_hash) {
        (true, Some(pod_hash)) => canary::plan(observed, &pod_hash, now),
        _ => invalid_spec(rollout, &errors, now),
    }
}

/// The template path of a pod-hash error, made absolute.
fn pod_hash_error_path(err: &pod_hash::PodHashError) -> String {
    let path = match err {
        pod_hash::PodHashError::UnsupportedField { path }
        | pod_hash::PodHashError::InvalidQuantity { path, .. }
        | pod_hash::PodHashError::InvalidTime { path } => path,
    };
    format!("spec.template.{path}")
}

/// The plan for an invalid Rollout: the `InvalidSpec` condition (replaced when the reason changes), the observed
/// generation and the phase; no other field and no object is touched.
pub(crate) fn invalid_spec(rollout: &Rollout, errors: &[SpecError], now: Timestamp) -> Plan {
    let stamp = seconds(now);
    let mut status = rollout.status.clone().unwrap_or_default();
    let name = rollout.metadata.name.as_deref().unwrap_or_default();
    let message = invalid_spec_message(name, errors);
    let previous = conditions::get(&status, &RolloutConditionType::InvalidSpec).map(|c| c.message.clone());
    let mut events = Vec::new();
    if previous.as_deref() != Some(message.as_str()) {
        conditions::remove(&mut status, &RolloutConditionType::InvalidSpec);
        conditions::set_condition(
            &mut status,
            conditions::new_condition(
                RolloutConditionType::InvalidSpec,
                ConditionStatus::True,
                INVALID_SPEC_REASON,
                message.clone(),
                &stamp,
            ),
        );
        events.push(Event::warning(INVALID_SPEC_REASON, message));
    }
    status.observed_generation = Some(rollout.metadata.generation.unwrap_or_default().to_string());
    let (phase, message) = rollout_phase(&rollout.spec, &status);
    status.phase = Some(phase);
    status.message = Some(message);
    Plan { actions: Vec::new(), status, events, requeue_after: None }
}

/// `now` truncated to whole seconds: Kubernetes stores times with second precision, so planning with the stored
/// value keeps a plan identical to the one made after the status round-trips through the API server.
pub fn seconds(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

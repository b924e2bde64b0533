//! Step walking for the canary strategy: which ReplicaSet to create or scale, when a step is done, and the status
//! that results. A port of Argo Rollouts' `rolloutCanary` and `syncRolloutStatusCanary` (with `pauseContext`,
//! `calculateRolloutConditions` and `shouldFullPromote`), restated as one pure function.
//!
//! Contract: pure and deterministic. Reads the [`Observed`] snapshot and `now`, returns a [`Plan`]. The reconcile
//! order is Argo's: new template or steps → reset and stop; otherwise create/sync the new ReplicaSet, clean up
//! history, scale one group of ReplicaSets (stable, else canary, else older ones), reconcile the pause step, and
//! then compute the status: full promotion, abort, or the next step. Scaling reads the status as observed; the
//! step advances only once the observed ReplicaSets are at the counts the current step asks for, so every step
//! boundary is witnessed by the cluster, never assumed.
//!
//! Deliberate differences from Argo, all in the direction of fewer writes and no flapping:
//! - The new ReplicaSet is created at the size the current step allows (Argo creates it at 0 and scales it in the
//!   same reconcile with a second write).
//! - The `Paused` condition and the `RolloutPaused`/`RolloutResumed`/`RolloutRetry` Progressing reasons are
//!   computed from the status being written, in the same write (Argo patches them in a separate, earlier write).
//!   While paused, progress and deadline checks are skipped, so Progressing does not flap between reasons.
//! - `Healthy` counts the generation being written as observed (Argo needs one more reconcile for that).
//! - A pause step is over when `now >= start + duration` (Argo: strictly after), so a requeue at the expiry
//!   instant completes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference, Time};
use serin_api::common::ConditionStatus;
use serin_api::labels::{DESIRED_REPLICAS, POD_TEMPLATE_HASH, REVISION, REVISION_HISTORY};
use serin_api::rollout::canary::CanaryStrategy;
use serin_api::rollout::status::{PauseCondition, PauseReason, RolloutConditionType};
use serin_api::rollout::steps::{CanaryStep, RolloutPause};
use serin_api::{AnalysisRun, Rollout, RolloutStatus};

use crate::analysis::build::Templates;
use crate::conditions::{self as cond};
use crate::phase::rollout_phase;
use crate::plan::{Action, Event, Observed, Plan, PodInfo, seconds};
use crate::pod_hash::fnv32a_safe_encoded;
use crate::replicas::{self, CanaryInput, OtherReplicaSet, ReplicaPlan, ReplicaSetCounts};
use crate::traffic::RouterObjects;

mod analysis_runs;
mod traffic;

pub use traffic::{DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS, DEFAULT_SCALE_DOWN_DELAY_SECONDS};

/// How long after its creation a Rollout's missing Service or route is taken for cache lag, not a mistake.
pub const REFERENCE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);
/// How soon to look again within [`REFERENCE_GRACE`].
const REFERENCE_GRACE_RETRY: Duration = Duration::from_secs(1);

fn recently_created(rollout: &Rollout, now: Timestamp) -> bool {
    rollout.metadata.creation_timestamp.as_ref().is_some_and(|created| now < created.0 + REFERENCE_GRACE)
}

/// `progressDeadlineSeconds` when unset.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// `revisionHistoryLimit` when unset.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Argo's `ComputeStepHash`: FNV-32a over the JSON of `canary.steps`, safe-encoded. A change resets the step index.
pub fn step_hash(steps: &[CanaryStep]) -> String {
    let json = serde_json::to_vec(steps).unwrap_or_default();
    fnv32a_safe_encoded(&json)
}

/// Argo's `CanaryStepString`, used in the `RolloutStepCompleted` event.
pub fn step_string(step: &CanaryStep) -> String {
    if let Some(weight) = step.set_weight {
        return format!("setWeight: {weight}");
    }
    if let Some(pause) = &step.pause {
        return match &pause.duration {
            Some(serin_api::PauseDuration::Int(seconds)) => format!("pause: {seconds}"),
            Some(serin_api::PauseDuration::String(text)) => format!("pause: {text}"),
            None => "pause".to_owned(),
        };
    }
    let kind = [
        (step.experiment.is_some(), "experiment"),
        (step.analysis.is_some(), "analysis"),
        (step.set_canary_scale.is_some(), "setCanaryScale"),
        (step.set_header_route.is_some(), "setHeaderRoute"),
        (step.set_mirror_route.is_some(), "setMirrorRoute"),
        (step.plugin.is_some(), "plugin"),
    ];
    kind.iter().find(|(set, _)| *set).map_or("invalid", |(_, name)| name).to_owned()
}

/// A ReplicaSet as the planner reads it.
#[derive(Clone, Debug)]
struct Rs<'a> {
    obj: &'a ReplicaSet,
    name: &'a str,
    hash: &'a str,
    revision: i64,
    spec_replicas: i32,
    replicas: i32,
    ready: i32,
    available: i32,
}

impl<'a> Rs<'a> {
    fn new(obj: &'a ReplicaSet) -> Self {
        let meta = &obj.metadata;
        let status = obj.status.as_ref();
        Self {
            obj,
            name: meta.name.as_deref().unwrap_or_default(),
            hash: meta.labels.as_ref().and_then(|l| l.get(POD_TEMPLATE_HASH)).map_or("", String::as_str),
            revision: revision_of(meta),
            spec_replicas: obj.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            replicas: status.map_or(0, |s| s.replicas),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        }
    }

    fn counts(&self) -> ReplicaSetCounts {
        ReplicaSetCounts::new(self.name, self.spec_replicas, self.available)
    }

    fn desired_replicas_annotation(&self) -> Option<i32> {
        self.obj.metadata.annotations.as_ref()?.get(DESIRED_REPLICAS)?.parse().ok()
    }

    fn uid(&self) -> String {
        self.obj.metadata.uid.clone().unwrap_or_default()
    }

    fn created(&self) -> Option<Timestamp> {
        self.obj.metadata.creation_timestamp.as_ref().map(|t| t.0)
    }
}

/// When a timed pause that started at `start` ends; `None` for an indefinite (or unparsable) pause.
fn pause_expiry(pause: &RolloutPause, start: Timestamp) -> Option<Timestamp> {
    let seconds = pause.duration.as_ref()?.seconds().ok()?;
    Some(start + jiff::SignedDuration::from_secs(i64::from(seconds)))
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations.as_ref().and_then(|a| a.get(REVISION)).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// Argo's `pauseContext`: pause and abort changes requested during one reconcile, applied to the status at the end.
#[derive(Default)]
struct PauseChanges {
    add: Vec<PauseReason>,
    remove: Vec<PauseReason>,
    clear: bool,
    add_abort: bool,
    /// Why the rollout aborts (a failed AnalysisRun's message), for the `RolloutAborted` condition.
    abort_message: Option<String>,
    remove_abort: bool,
}

impl PauseChanges {
    fn is_aborted(&self, old: &RolloutStatus) -> bool {
        !self.remove_abort && (self.add_abort || old.abort == Some(true))
    }

    /// Argo's `CalculatePauseStatus`.
    fn apply(&self, old: &RolloutStatus, new: &mut RolloutStatus, stamp: &Time) {
        new.pause_conditions = Vec::new();
        new.controller_pause = None;
        if self.is_aborted(old) {
            new.abort = Some(true);
            new.aborted_at = Some(old.aborted_at.clone().unwrap_or_else(|| stamp.clone()));
            return;
        }
        new.abort = None;
        new.aborted_at = None;
        if self.clear {
            return;
        }
        let mut controller_pause = old.controller_pause == Some(true);
        let mut conditions: Vec<PauseCondition> =
            old.pause_conditions.iter().filter(|c| !self.remove.contains(&c.reason)).cloned().collect();
        for reason in &self.add {
            if !old.pause_conditions.iter().any(|c| &c.reason == reason) {
                conditions.push(PauseCondition { reason: reason.clone(), start_time: stamp.clone() });
                controller_pause = true;
            }
        }
        if !conditions.is_empty() {
            new.controller_pause = controller_pause.then_some(true);
            new.pause_conditions = conditions;
        }
    }
}

/// The state of one reconcile.
struct Ctx<'a> {
    rollout: &'a Rollout,
    canary: &'a CanaryStrategy,
    old: RolloutStatus,
    now: Timestamp,
    stamp: Time,
    replicas: i32,
    pod_hash: &'a str,
    new_rs: Option<Rs<'a>>,
    stable_rs: Option<Rs<'a>>,
    others: Vec<Rs<'a>>,
    all: Vec<Rs<'a>>,
    pods: &'a [PodInfo],
    analysis_runs: &'a [Arc<AnalysisRun>],
    templates: Templates<'a>,
    /// The current step's AnalysisRun after this reconcile's analysis pass (decides an analysis step's completion).
    step_run: Option<analysis_runs::Current<'a>>,
    /// Services and router objects of the namespace.
    routing_objects: RouterObjects<'a>,
    /// Older ReplicaSets the router-aware scale-down keeps for now (a Service selects them, or their scale-down
    /// delay runs).
    held: BTreeSet<String>,
    pause: PauseChanges,
    actions: Vec<Action>,
    events: Vec<Event>,
    requeue: Option<Duration>,
    status: Option<RolloutStatus>,
}

/// Plans one reconcile of a valid canary Rollout whose desired pod template hashes to `pod_hash`.
pub(crate) fn plan(observed: &Observed<'_>, pod_hash: &str, now: Timestamp) -> Plan {
    let rollout = observed.rollout;
    let Some(canary) = rollout.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()) else {
        // Validation guarantees a canary strategy; an empty plan is the safe answer if that ever changes.
        return Plan { actions: Vec::new(), status: rollout.status.clone().unwrap_or_default(), events: Vec::new(), requeue_after: None };
    };
    let mut ctx = Ctx::new(observed, canary, pod_hash, now);
    match ctx.run() {
        Ok(()) => ctx.into_plan(),
        // A Service or route applied with the Rollout may not be in the controller's cache yet: look again
        // shortly (its arrival triggers a reconcile anyway) before calling the reference invalid.
        Err(err) if err.only_not_found && recently_created(rollout, now) => Plan {
            actions: Vec::new(),
            status: rollout.status.clone().unwrap_or_default(),
            events: Vec::new(),
            requeue_after: Some(REFERENCE_GRACE_RETRY),
        },
        // A reference the routers cannot resolve: report it and touch nothing.
        Err(err) => crate::plan::invalid_spec(rollout, &err.errors, now),
    }
}

impl<'a> Ctx<'a> {
    fn new(observed: &Observed<'a>, canary: &'a CanaryStrategy, pod_hash: &'a str, now: Timestamp) -> Self {
        let rollout = observed.rollout;
        let old = rollout.status.clone().unwrap_or_default();
        let uid = rollout.metadata.uid.as_deref().unwrap_or_default();
        let mut actions = Vec::new();
        let mut all = Vec::new();
        for rs in observed.replica_sets.iter().map(Arc::as_ref) {
            if rs.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match rs.metadata.owner_references.as_deref().unwrap_or_default().iter().find(|o| o.controller == Some(true)) {
                Some(owner) if owner.uid != uid => continue,
                Some(_) => {}
                None => actions.push(Action::AdoptReplicaSet {
                    name: rs.metadata.name.clone().unwrap_or_default(),
                    uid: rs.metadata.uid.clone().unwrap_or_default(),
                }),
            }
            all.push(Rs::new(rs));
        }
        // Deterministic whatever order the cache lists them in.
        all.sort_by(|a, b| a.name.cmp(b.name));
        let stable_hash = old.stable_rs.as_deref().unwrap_or_default();
        let new_rs = all.iter().find(|rs| rs.hash == pod_hash).cloned();
        let stable_rs = if stable_hash.is_empty() { None } else { all.iter().find(|rs| rs.hash == stable_hash).cloned() };
        let others = all.iter().filter(|rs| rs.hash != pod_hash && (stable_hash.is_empty() || rs.hash != stable_hash)).cloned().collect();
        Self {
            rollout,
            canary,
            old,
            now,
            stamp: seconds(now),
            replicas: rollout.spec.desired_replicas(),
            pod_hash,
            new_rs,
            stable_rs,
            others,
            all,
            pods: observed.pods,
            analysis_runs: observed.analysis_runs,
            templates: observed.templates,
            step_run: None,
            routing_objects: observed.routing,
            held: BTreeSet::new(),
            pause: PauseChanges::default(),
            actions,
            events: Vec::new(),
            requeue: None,
            status: None,
        }
    }

    fn steps(&self) -> &'a [CanaryStep] {
        &self.canary.steps
    }

    fn step_count(&self) -> i32 {
        i32::try_from(self.steps().len()).unwrap_or(i32::MAX)
    }

    /// Argo's `GetCurrentCanaryStep` on the observed status: the step index (0 when unset) and its step, if any.
    fn current_step(&self) -> (Option<i32>, Option<&'a CanaryStep>) {
        if self.steps().is_empty() {
            return (None, None);
        }
        let index = self.old.current_step_index.unwrap_or(0).max(0);
        let step = usize::try_from(index).ok().and_then(|i| self.steps().get(i));
        (Some(index), step)
    }

    fn stable_hash(&self) -> &str {
        self.old.stable_rs.as_deref().unwrap_or_default()
    }

    fn revision(&self) -> i64 {
        self.new_rs.as_ref().map_or_else(|| self.max_old_revision() + 1, |rs| rs.revision.max(1))
    }

    fn max_old_revision(&self) -> i64 {
        self.all.iter().filter(|rs| rs.hash != self.pod_hash).map(|rs| rs.revision).max().unwrap_or(0)
    }

    fn rollout_name(&self) -> &'a str {
        self.rollout.metadata.name.as_deref().unwrap_or_default()
    }

    fn new_rs_name(&self) -> String {
        self.new_rs.as_ref().map_or_else(|| format!("{}-{}", self.rollout_name(), self.pod_hash), |rs| rs.name.to_owned())
    }

    fn run(&mut self) -> Result<(), traffic::TrafficError> {
        if self.rollout.spec.replicas.is_none() {
            self.actions.push(Action::DefaultReplicas);
        }
        let mut status = self.base_status();
        if self.template_or_steps_changed() {
            self.reset(&mut status);
            self.ensure_new_replica_set(&mut status, true);
            self.persist(status);
            return Ok(());
        }
        let created = self.ensure_new_replica_set(&mut status, false);
        self.restart_pods(&mut status);
        self.cleanup_history();
        self.reconcile_traffic(&mut status)?;
        self.plan_scale_down_delays();
        let scaled = created || self.scale_replica_sets();
        if !scaled {
            self.reconcile_pause_step();
        }
        self.reconcile_analysis_runs(&mut status);
        self.step_status(&mut status);
        self.persist(status);
        Ok(())
    }

    /// Argo's `calculateBaseStatus` plus the canary fields of `syncRolloutStatusCanary`.
    fn base_status(&self) -> RolloutStatus {
        let old = &self.old;
        let mut status = RolloutStatus {
            current_pod_hash: Some(self.pod_hash.to_owned()),
            current_step_hash: Some(step_hash(self.steps())),
            replicas: Some(self.all.iter().map(|rs| rs.replicas).sum()),
            updated_replicas: Some(self.new_rs.as_ref().map_or(0, |rs| rs.replicas)),
            ready_replicas: Some(self.all.iter().map(|rs| rs.ready).sum()),
            available_replicas: Some(self.all.iter().map(|rs| rs.available).sum()),
            hpa_replicas: Some(self.all.iter().map(|rs| rs.replicas).sum()),
            selector: self.rollout.spec.selector.as_ref().map(format_selector),
            collision_count: old.collision_count,
            conditions: old.conditions.iter().filter(|c| c.type_ != RolloutConditionType::InvalidSpec).cloned().collect(),
            canary: Some(old.canary.clone().unwrap_or_default()),
            blue_green: Some(old.blue_green.clone().unwrap_or_default()),
            stable_rs: old.stable_rs.clone(),
            restarted_at: old.restarted_at.clone(),
            promote_full: (self.stable_hash() != self.pod_hash && old.promote_full == Some(true)).then_some(true),
            current_step_index: if self.steps().is_empty() { None } else { Some(old.current_step_index.unwrap_or(0)) },
            alb: old.alb.clone(),
            albs: old.albs.clone(),
            duration: old.duration.clone(),
            ..RolloutStatus::default()
        };
        // Fields the controller does not write (yet) are carried over rather than erased.
        status.workload_observed_generation.clone_from(&old.workload_observed_generation);
        status
    }

    /// Argo's `PodTemplateOrStepsChanged`: the observed status was written for another template or other steps.
    fn template_or_steps_changed(&self) -> bool {
        let steps_changed = self.old.current_step_hash.as_deref().is_some_and(|h| !h.is_empty() && h != step_hash(self.steps()));
        let template_changed = self.old.current_pod_hash.as_deref().is_some_and(|h| !h.is_empty() && h != self.pod_hash);
        steps_changed || template_changed
    }

    /// Argo's `resetRolloutStatus`: a new update starts from step 0, unpaused and not aborted. Going back to the
    /// stable template skips the steps.
    fn reset(&mut self, status: &mut RolloutStatus) {
        self.pause.clear = true;
        self.pause.remove_abort = true;
        // A new template replaces every pod anyway: a pending restart is done (Argo's `SetRestartedAt`).
        if let Some(restart_at) = &self.rollout.spec.restart_at
            && restart_at.0 <= self.now
        {
            status.restarted_at = Some(restart_at.clone());
        }
        status.promote_full = None;
        if let Some(canary) = status.canary.as_mut() {
            canary.current_step_analysis_run_status = None;
            canary.current_background_analysis_run_status = None;
            canary.current_experiment = None;
        }
        status.current_step_index = if self.steps().is_empty() { None } else { Some(0) };
        if self.new_rs.is_some() && !self.steps().is_empty() && self.stable_hash() == self.pod_hash {
            status.current_step_index = Some(self.step_count());
            self.events.push(Event::normal("SkipSteps", "Rollback to stable ReplicaSets"));
        }
    }

    /// Creates the desired ReplicaSet if missing (sized for the current step unless `at_zero`), or brings an existing
    /// one's revision and `minReadySeconds` up to date. Returns true if it created one.
    fn ensure_new_replica_set(&mut self, status: &mut RolloutStatus, at_zero: bool) -> bool {
        let new_revision = self.max_old_revision() + 1;
        let min_ready = self.rollout.spec.min_ready_seconds;
        if let Some(rs) = self.new_rs.clone() {
            let (revision, history) = if rs.revision < new_revision {
                let history = rs.obj.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_HISTORY)).cloned();
                let history = match (history, rs.revision) {
                    (_, 0) => None,
                    (Some(h), old) if !h.is_empty() => Some(format!("{h},{old}")),
                    (_, old) => Some(old.to_string()),
                };
                (Some(new_revision.to_string()), history)
            } else {
                (None, None)
            };
            let rs_min_ready = rs.obj.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let min_ready_change = (rs_min_ready.unwrap_or(0) != min_ready.unwrap_or(0)).then(|| min_ready.unwrap_or(0));
            if revision.is_some() || min_ready_change.is_some() {
                self.actions.push(Action::UpdateReplicaSet {
                    name: rs.name.to_owned(),
                    revision: revision.clone(),
                    revision_history: history,
                    min_ready_seconds: min_ready_change,
                });
            }
            let revision = revision.unwrap_or_else(|| rs.revision.to_string());
            self.sync_rollout_revision(&revision);
            if cond::get(status, &RolloutConditionType::Progressing).is_none() {
                cond::set_condition(
                    status,
                    cond::new_condition(
                        RolloutConditionType::Progressing,
                        ConditionStatus::True,
                        cond::FOUND_NEW_RS_REASON,
                        cond::found_new_rs_message(rs.name),
                        &self.stamp,
                    ),
                );
            }
            return false;
        }
        let size = if at_zero { 0 } else { self.initial_size() };
        let rs = self.desired_replica_set(new_revision, size);
        let name = rs.metadata.name.clone().unwrap_or_default();
        self.actions.push(Action::CreateReplicaSet(Box::new(rs)));
        self.sync_rollout_revision(&new_revision.to_string());
        self.events.push(Event::normal(cond::NEW_RS_CREATED_REASON, format!("Created ReplicaSet {name} (revision {new_revision})")));
        if size > 0 {
            self.events.push(Event::normal(
                "ScalingReplicaSet",
                format!("Scaled up ReplicaSet {name} (revision {new_revision}) from 0 to {size}"),
            ));
        }
        cond::set_condition(
            status,
            cond::new_condition(
                RolloutConditionType::Progressing,
                ConditionStatus::True,
                cond::NEW_RS_CREATED_REASON,
                cond::new_rs_created_message(&name),
                &self.stamp,
            ),
        );
        true
    }

    fn sync_rollout_revision(&mut self, revision: &str) {
        let current = self.rollout.metadata.annotations.as_ref().and_then(|a| a.get(REVISION));
        if current.map(String::as_str) != Some(revision) {
            self.actions.push(Action::SetRolloutRevision { revision: revision.to_owned() });
            self.events.push(Event::normal("RolloutUpdated", format!("Rollout updated to revision {revision}")));
        }
    }

    /// The size of a ReplicaSet about to be created: what the replica arithmetic gives it from 0.
    fn initial_size(&self) -> i32 {
        let mut input = self.canary_input();
        input.canary = Some(ReplicaSetCounts::new(self.new_rs_name(), 0, 0));
        match self.traffic_scaling() {
            Some(routing) => replicas::traffic_routed_canary(&input, &routing).canary,
            None => replicas::basic_canary(&input).canary,
        }
    }

    /// The controller owner reference to the Rollout, for the objects it creates.
    fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: format!("{}/{}", serin_api::GROUP, serin_api::VERSION),
            kind: "Rollout".to_owned(),
            name: self.rollout_name().to_owned(),
            uid: self.rollout.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn desired_replica_set(&self, revision: i64, size: i32) -> ReplicaSet {
        let rollout = self.rollout;
        let mut template: PodTemplateSpec = rollout.spec.template.clone().unwrap_or_default();
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.to_owned(), self.pod_hash.to_owned());
        let labels = meta.labels.clone();
        let mut selector: LabelSelector = rollout.spec.selector.clone().unwrap_or_default();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH.to_owned(), self.pod_hash.to_owned());
        let annotations =
            BTreeMap::from([(REVISION.to_owned(), revision.to_string()), (DESIRED_REPLICAS.to_owned(), self.replicas.to_string())]);
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(self.new_rs_name()),
                namespace: rollout.metadata.namespace.clone(),
                labels,
                annotations: Some(annotations),
                owner_references: Some(vec![self.owner_reference()]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(size),
                min_ready_seconds: rollout.spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        }
    }

    /// Argo's pod restarter (`spec.restartAt`, `rollout/restart.go`): once the time has come, evict the pods created
    /// before it within **one** disruption budget across every ReplicaSet of the Rollout: at least
    /// `max(replicas, total) - max(1, maxUnavailable)` pods stay available, where `total` is the sum of the
    /// ReplicaSets' sizes (a canary at an uneven weight may run more pods than `spec.replicas`). Pods go stable
    /// first, then the desired ReplicaSet's, then older ones, oldest first. When no pod created before `restartAt` is
    /// left, `status.restartedAt` records the restart as done.
    fn restart_pods(&mut self, status: &mut RolloutStatus) {
        /// How soon to look again while pods still wait for their restart, should no ReplicaSet change say so
        /// first (Argo's `restartPodCheckTime`).
        const RESTART_CHECK: Duration = Duration::from_secs(30);
        let Some(restart_at) = self.rollout.spec.restart_at.clone() else { return };
        if self.old.restarted_at.as_ref().is_some_and(|done| done.0 >= restart_at.0) {
            return;
        }
        if restart_at.0 > self.now {
            self.requeue_at(restart_at.0);
            return;
        }
        // Priority of a ReplicaSet's pods: stable, desired, then older ReplicaSets by creation.
        let rank = |hash: &str| -> Option<(u8, Option<Timestamp>, &str)> {
            let rs = self.all.iter().find(|rs| rs.hash == hash)?;
            let role = if self.stable_rs.as_ref().is_some_and(|s| s.hash == hash) {
                0
            } else if self.new_rs.as_ref().is_some_and(|n| n.hash == hash) {
                1
            } else {
                2
            };
            Some((role, rs.created(), rs.name))
        };
        let pods: Vec<&PodInfo> = self.pods.iter().filter(|p| rank(&p.pod_hash).is_some()).collect();
        let min_ready = self.rollout.spec.min_ready_seconds.unwrap_or(0);
        let available = i32::try_from(pods.iter().filter(|p| p.is_available(min_ready, self.now)).count()).unwrap_or(i32::MAX);
        let total: i32 = self.all.iter().map(|rs| rs.spec_replicas).sum();
        let concurrent = self.canary_input().fenceposts.max_unavailable.max(1);
        let mut budget = available - (self.replicas.max(total) - concurrent);

        let mut old: Vec<&PodInfo> = pods.iter().copied().filter(|p| p.created < restart_at.0).collect();
        if old.is_empty() {
            status.restarted_at = Some(restart_at);
            self.events.push(Event::normal("RolloutRestarted", "Rollout restarted: every pod was created after spec.restartAt"));
            return;
        }
        old.sort_by(|a, b| rank(&a.pod_hash).cmp(&rank(&b.pod_hash)).then(a.created.cmp(&b.created)).then_with(|| a.name.cmp(&b.name)));
        for pod in old.into_iter().filter(|p| !p.deleting) {
            if budget <= 0 {
                break;
            }
            self.actions.push(Action::EvictPod { name: pod.name.clone() });
            budget -= 1;
        }
        // Replaced pods becoming available, or ready pods passing minReadySeconds, free the budget again; their
        // ReplicaSet's status changes trigger a reconcile, and this requeue covers a missed one.
        let pending_available = pods
            .iter()
            .filter_map(|p| p.ready_since.filter(|_| !p.deleting && !p.is_available(min_ready, self.now)))
            .map(|since| since + jiff::SignedDuration::from_secs(i64::from(min_ready) + 1))
            .min();
        if let Some(at) = pending_available {
            self.requeue_at(at);
        }
        self.requeue_at(self.now + jiff::SignedDuration::try_from(RESTART_CHECK).unwrap_or_default());
    }

    /// Argo's `reconcileRevisionHistoryLimit`: delete the oldest scaled-down older ReplicaSets beyond the limit.
    fn cleanup_history(&mut self) {
        let limit = usize::try_from(self.rollout.spec.revision_history_limit.unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT).max(0)).unwrap_or(0);
        let mut candidates: Vec<&Rs<'a>> = self.others.iter().collect();
        if candidates.len() <= limit {
            return;
        }
        let excess = candidates.len() - limit;
        candidates.sort_by(|a, b| a.created().cmp(&b.created()).then_with(|| a.name.cmp(b.name)));
        let mut deletions = Vec::new();
        for rs in candidates.into_iter().take(excess) {
            let observed_generation = rs.obj.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            let settled = observed_generation >= rs.obj.metadata.generation.unwrap_or(0);
            if rs.replicas == 0 && rs.spec_replicas == 0 && settled {
                deletions.push(Action::DeleteReplicaSet { name: rs.name.to_owned(), uid: rs.uid() });
            }
        }
        self.actions.extend(deletions);
    }

    fn canary_input(&self) -> CanaryInput<'a> {
        let fenceposts =
            replicas::resolve_surge_unavailable(self.replicas, self.canary.max_surge.as_ref(), self.canary.max_unavailable.as_ref())
                .unwrap_or_default();
        CanaryInput {
            replicas: self.replicas,
            fenceposts,
            steps: self.steps(),
            current_step_index: self.old.current_step_index,
            abort: self.pause.is_aborted(&self.old),
            promote_full: self.old.promote_full == Some(true),
            stable_hash: self.rollout.status.as_ref().and_then(|s| s.stable_rs.as_deref()).unwrap_or_default(),
            current_pod_hash: self.pod_hash,
            canary: self.new_rs.as_ref().map(Rs::counts),
            stable: self.stable_rs.as_ref().map(Rs::counts),
            others: self
                .others
                .iter()
                .map(|rs| OtherReplicaSet {
                    hold: self.held.contains(rs.name),
                    ..OtherReplicaSet::new(rs.name, rs.revision, rs.spec_replicas, rs.available)
                })
                .collect(),
        }
    }

    fn replica_plan(&self) -> ReplicaPlan {
        match self.traffic_scaling() {
            Some(routing) => replicas::traffic_routed_canary(&self.canary_input(), &routing),
            None => replicas::basic_canary(&self.canary_input()),
        }
    }

    fn stable_apart(&self) -> bool {
        match (&self.stable_rs, &self.new_rs) {
            (Some(stable), Some(new)) => stable.name != new.name,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Argo's `reconcileCanaryReplicaSets`: one group per reconcile, stable first, then the canary, then the older
    /// ReplicaSets, each re-planned from fresh observations. Returns true if a ReplicaSet's size changed.
    fn scale_replica_sets(&mut self) -> bool {
        if self.rollout.spec.paused == Some(true)
            || self.old.pause_conditions.iter().any(|c| c.reason == PauseReason::InconclusiveAnalysisRun)
        {
            return false;
        }
        let plan = self.replica_plan();
        if self.stable_apart()
            && let Some(stable) = self.stable_rs.clone()
            && self.scale(&stable, plan.stable)
        {
            return true;
        }
        if let Some(new) = self.new_rs.clone()
            && let size = self.aborted_canary_size(&new, plan.canary)
            && self.scale(&new, size)
        {
            return true;
        }
        let mut scaled = false;
        for (name, size) in &plan.others {
            if let Some(rs) = self.others.iter().find(|rs| rs.name == name).cloned() {
                scaled |= self.scale(&rs, *size);
            }
        }
        scaled
    }

    /// Argo's `scaleReplicaSetAndRecordEvent`: true if the size changes. An annotation-only refresh (the Rollout
    /// was rescaled) is written too but does not count as scaling.
    fn scale(&mut self, rs: &Rs<'a>, size: i32) -> bool {
        let size_changes = rs.spec_replicas != size;
        if !size_changes && rs.desired_replicas_annotation() == Some(self.replicas) {
            return false;
        }
        self.actions.push(Action::ScaleReplicaSet {
            name: rs.name.to_owned(),
            from: rs.spec_replicas,
            to: size,
            rollout_replicas: self.replicas,
            revision: rs.revision,
        });
        if size_changes {
            let direction = if size > rs.spec_replicas { "up" } else { "down" };
            self.events.push(Event::normal(
                "ScalingReplicaSet",
                format!("Scaled {direction} ReplicaSet {} (revision {}) from {} to {size}", rs.name, rs.revision, rs.spec_replicas),
            ));
        }
        size_changes
    }

    /// Argo's `reconcileCanaryPause`: arriving at a pause step pauses the rollout; a timed pause is requeued at its
    /// expiry.
    fn reconcile_pause_step(&mut self) {
        if self.rollout.spec.paused == Some(true) || self.old.promote_full == Some(true) {
            return;
        }
        let (_, Some(step)) = self.current_step() else { return };
        let Some(pause) = &step.pause else { return };
        let Some(condition) = self.old.pause_conditions.iter().find(|c| c.reason == PauseReason::CanaryPauseStep) else {
            if self.old.controller_pause != Some(true) {
                self.pause.add.push(PauseReason::CanaryPauseStep);
                if let Some(expiry) = pause_expiry(pause, self.stamp.0) {
                    self.requeue_at(expiry);
                }
            }
            return;
        };
        if let Some(expiry) = pause_expiry(pause, condition.start_time.0) {
            self.requeue_at(expiry);
        }
    }

    fn requeue_at(&mut self, at: Timestamp) {
        let after = at.duration_since(self.now);
        let after = Duration::try_from(after).unwrap_or(Duration::ZERO);
        self.requeue = Some(self.requeue.map_or(after, |current| current.min(after)));
    }

    /// Argo's `AtDesiredReplicaCountsForCanary` on the observed ReplicaSets: the canary's pods available, the
    /// stable's pods *created* (available too with `dynamicStableScale`, where the stable's size is its capacity).
    /// A stable version that never becomes ready must not hold the step: that is exactly the fix-forward a team
    /// makes during an incident (Argo's `allDesiredAreCreated`).
    fn at_desired_replica_counts(&self) -> bool {
        let plan = self.replica_plan();
        let Some(new) = &self.new_rs else { return false };
        if new.spec_replicas != plan.canary || new.available != plan.canary {
            return false;
        }
        if self.stable_apart() {
            let Some(stable) = &self.stable_rs else { return false };
            let dynamic = self.routing().is_some() && self.dynamic_stable_scale();
            let stable_count = if dynamic { stable.available } else { stable.replicas };
            if stable.spec_replicas != plan.stable || stable_count != plan.stable {
                return false;
            }
        } else if self.stable_rs.is_none() {
            return false;
        }
        // Without a router every older pod takes traffic; with one, older ReplicaSets waiting out their scale-down
        // delay take none.
        self.routing().is_some() || self.others.iter().map(|rs| rs.available).sum::<i32>() == 0
    }

    /// Argo's `completedCurrentCanaryStep`.
    fn completed_current_step(&self) -> bool {
        if self.rollout.spec.paused == Some(true) {
            return false;
        }
        let (_, Some(step)) = self.current_step() else { return false };
        if let Some(pause) = &step.pause {
            let condition = self.old.pause_conditions.iter().find(|c| c.reason == PauseReason::CanaryPauseStep);
            return match condition {
                None => self.old.controller_pause == Some(true),
                Some(condition) => pause_expiry(pause, condition.start_time.0).is_some_and(|expiry| self.now >= expiry),
            };
        }
        if step.set_weight.is_some() || step.set_canary_scale.is_some() {
            return self.at_desired_replica_counts();
        }
        if step.analysis.is_some() {
            return self.step_run.as_ref().is_some_and(|run| run.phase() == serin_api::AnalysisPhase::Successful);
        }
        // Header and mirror routes complete at once; experiment and plugin steps never do here (they are rejected
        // as not implemented before planning gets this far).
        step.set_header_route.is_some() || step.set_mirror_route.is_some()
    }

    /// Argo's `shouldFullPromote`: the reason to make the desired ReplicaSet the stable one, if any.
    fn full_promotion_reason(&self) -> Option<String> {
        if self.stable_rs.is_none() {
            return Some("Initial deploy".to_owned());
        }
        if self.pause.is_aborted(&self.old) {
            return None;
        }
        if self.new_rs.as_ref().is_none_or(|rs| rs.available != self.replicas) {
            return None;
        }
        if self.old.promote_full == Some(true) {
            return Some("Full promotion requested".to_owned());
        }
        if self.rollback_within_window() {
            return Some("Rollback within window".to_owned());
        }
        let (index, _) = self.current_step();
        if self.steps().is_empty() || index == Some(self.step_count()) {
            return Some(format!("Completed all {} canary steps", self.steps().len()));
        }
        None
    }

    /// Argo's `isRollbackWithinWindow`: the desired ReplicaSet predates the stable one by fewer than
    /// `rollbackWindow.revisions` ReplicaSets.
    fn rollback_within_window(&self) -> bool {
        let (Some(new), Some(stable)) = (&self.new_rs, &self.stable_rs) else { return false };
        let Some(window) = self.rollout.spec.rollback_window.as_ref().and_then(|w| w.revisions).filter(|r| *r > 0) else {
            return false;
        };
        let (Some(new_created), Some(stable_created)) = (new.created(), stable.created()) else { return false };
        if new_created >= stable_created {
            return false;
        }
        let between = self.all.iter().filter(|rs| rs.created().is_some_and(|c| new_created < c && c < stable_created)).count();
        i32::try_from(between).unwrap_or(i32::MAX) < window
    }

    /// The rest of `syncRolloutStatusCanary`: full promotion, abort, or advancing the step.
    fn step_status(&mut self, status: &mut RolloutStatus) {
        let step_count = self.step_count();
        let (mut index, step) = self.current_step();
        if self.old.promote_full == Some(true) || self.rollback_within_window() {
            self.pause.clear = true;
            self.pause.remove_abort = true;
            if step_count > 0 {
                index = Some(step_count);
            }
        }
        if let Some(reason) = self.full_promotion_reason() {
            self.pause.clear = true;
            self.pause.remove_abort = true;
            status.promote_full = None;
            status.current_step_index = (step_count > 0).then_some(step_count);
            if self.stable_hash() != self.pod_hash {
                status.stable_rs = Some(self.pod_hash.to_owned());
                self.events.push(Event::normal(
                    cond::COMPLETED_REASON,
                    format!("Rollout completed update to revision {} ({}): {reason}", self.revision(), self.pod_hash),
                ));
            }
            return;
        }
        if self.pause.is_aborted(&self.old) {
            if step_count > 0 {
                status.current_step_index = Some(if self.stable_hash() == self.pod_hash { step_count } else { 0 });
            }
            return;
        }
        if let Some(step) = step
            && index.is_some_and(|i| i < step_count)
            && self.completed_current_step()
        {
            let next = index.unwrap_or(0) + 1;
            index = Some(next);
            if let Some(canary) = status.canary.as_mut() {
                canary.current_step_analysis_run_status = None;
            }
            self.events
                .push(Event::normal("RolloutStepCompleted", format!("Rollout step {next}/{step_count} completed ({})", step_string(step))));
            self.pause.remove.push(PauseReason::CanaryPauseStep);
        }
        status.current_step_index = index;
    }

    /// Conditions, pause state, observed generation and phase; the final status of the plan.
    fn persist(&mut self, mut status: RolloutStatus) {
        let old = self.old.clone();
        self.pause.apply(&old, &mut status, &self.stamp);
        status.observed_generation = Some(self.rollout.metadata.generation.unwrap_or_default().to_string());
        self.conditions(&mut status);
        let (phase, message) = rollout_phase(&self.rollout.spec, &status);
        status.phase = Some(phase);
        status.message = Some(message);
        self.pause_events(&status);
        self.deadline_requeue(&status);
        self.status = Some(status);
    }

    fn pause_events(&mut self, status: &RolloutStatus) {
        let was_paused = !self.old.pause_conditions.is_empty();
        match (was_paused, status.pause_conditions.first()) {
            (false, Some(first)) => {
                self.events.push(Event::normal(cond::PAUSED_REASON, format!("{} ({})", cond::PAUSED_MESSAGE, first.reason.as_str())));
            }
            (true, None) if status.aborted_at.is_none() => self.events.push(Event::normal(cond::RESUMED_REASON, cond::RESUMED_MESSAGE)),
            _ => {}
        }
    }

    /// Argo's `calculateRolloutConditions` and `checkPausedConditions`, applied to the status being written.
    fn conditions(&mut self, status: &mut RolloutStatus) {
        let stamp = self.stamp.clone();
        let new_rs_name = self.new_rs_name();
        let paused = self.rollout.spec.paused == Some(true) || !status.pause_conditions.is_empty();
        let aborted = status.abort == Some(true);
        let healthy = !paused && self.healthy(status);

        let had_healthy = cond::get(&self.old, &RolloutConditionType::Healthy).is_some();
        let mut became_unhealthy = false;
        if healthy {
            cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Healthy,
                    ConditionStatus::True,
                    cond::HEALTHY_REASON,
                    cond::HEALTHY_MESSAGE,
                    &stamp,
                ),
            );
        } else if had_healthy {
            became_unhealthy = cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Healthy,
                    ConditionStatus::False,
                    cond::HEALTHY_REASON,
                    cond::NOT_HEALTHY_MESSAGE,
                    &stamp,
                ),
            );
        }

        let progressing = cond::get(status, &RolloutConditionType::Progressing).cloned();
        let reason_was = |reason: &str| progressing.as_ref().is_some_and(|c| c.reason == reason);
        if aborted {
            // Keep the first abort message (it may carry why); a later reconcile does not know it any more.
            if !reason_was(cond::ABORTED_REASON) {
                let why = self.pause.abort_message.clone();
                self.set_aborted(status, why.as_deref());
            }
        } else if reason_was(cond::ABORTED_REASON) {
            cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Progressing,
                    ConditionStatus::Unknown,
                    cond::RETRY_REASON,
                    cond::RETRY_MESSAGE,
                    &stamp,
                ),
            );
        } else if paused {
            cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Progressing,
                    ConditionStatus::Unknown,
                    cond::PAUSED_REASON,
                    cond::PAUSED_MESSAGE,
                    &stamp,
                ),
            );
        } else if reason_was(cond::PAUSED_REASON) {
            cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Progressing,
                    ConditionStatus::Unknown,
                    cond::RESUMED_REASON,
                    cond::RESUMED_MESSAGE,
                    &stamp,
                ),
            );
        } else if healthy {
            cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Progressing,
                    ConditionStatus::True,
                    cond::NEW_RS_AVAILABLE_REASON,
                    cond::rs_completed_message(&new_rs_name),
                    &stamp,
                ),
            );
        } else if self.made_progress(status) || became_unhealthy {
            let fully_promoted = status.stable_rs.as_deref() == Some(self.pod_hash);
            let (reason, message) = if fully_promoted && became_unhealthy {
                (cond::RS_NOT_AVAILABLE_REASON, cond::NOT_AVAILABLE_MESSAGE.to_owned())
            } else {
                (cond::RS_UPDATED_REASON, cond::rs_progressing_message(&new_rs_name))
            };
            let mut condition = cond::new_condition(RolloutConditionType::Progressing, ConditionStatus::True, reason, message, &stamp);
            if let Some(current) = &progressing
                && current.status == ConditionStatus::True
            {
                condition.last_transition_time = current.last_transition_time.clone();
            }
            // Progress always moves lastUpdateTime (the deadline clock), even with the same reason and message.
            cond::remove(status, &RolloutConditionType::Progressing);
            cond::set_condition(status, condition);
        } else if !self.at_indefinite_step() && self.timed_out(status) {
            let message = cond::rs_timed_out_message(&new_rs_name);
            let changed = cond::set_condition(
                status,
                cond::new_condition(
                    RolloutConditionType::Progressing,
                    ConditionStatus::False,
                    cond::TIMED_OUT_REASON,
                    message.clone(),
                    &stamp,
                ),
            );
            if changed {
                self.events.push(Event::warning(cond::TIMED_OUT_REASON, message.clone()));
            }
            if self.rollout.spec.progress_deadline_abort == Some(true) {
                // Abort now: the canary is scaled down on the next reconcile, which sees status.abort.
                self.pause.add_abort = true;
                self.pause.apply(&self.old, status, &stamp);
                self.set_aborted(status, Some(&message));
            }
        }

        let available = status.available_replicas.unwrap_or(0) >= self.replicas;
        let (available_status, available_message) = if available {
            (ConditionStatus::True, cond::AVAILABLE_MESSAGE)
        } else {
            (ConditionStatus::False, cond::NOT_AVAILABLE_MESSAGE)
        };
        cond::set_condition(
            status,
            cond::new_condition(RolloutConditionType::Available, available_status, cond::AVAILABLE_REASON, available_message, &stamp),
        );

        match self.replica_failure() {
            Some(failure) => {
                cond::set_condition(status, failure);
            }
            None => {
                cond::remove(status, &RolloutConditionType::ReplicaFailure);
            }
        }

        let completed = status.stable_rs.as_deref().is_some_and(|s| !s.is_empty() && s == self.pod_hash);
        let completed_status = if completed { ConditionStatus::True } else { ConditionStatus::False };
        let changed = cond::set_condition(
            status,
            cond::new_condition(RolloutConditionType::Completed, completed_status, cond::COMPLETED_REASON, cond::COMPLETED_REASON, &stamp),
        );
        if changed && !completed {
            // First, as Argo records it: the update starts, then its revision and ReplicaSet follow.
            self.events.insert(
                0,
                Event::normal(
                    "RolloutNotCompleted",
                    format!("Rollout went to not completed state started update to revision {} ({})", self.revision(), self.pod_hash),
                ),
            );
        }

        let paused_status = if paused { ConditionStatus::True } else { ConditionStatus::False };
        let paused_known = cond::get(&self.old, &RolloutConditionType::Paused).is_some();
        if paused || paused_known {
            cond::set_condition(
                status,
                cond::new_condition(RolloutConditionType::Paused, paused_status, cond::PAUSED_REASON, cond::PAUSED_MESSAGE, &stamp),
            );
        }
    }

    /// Progressing False `RolloutAborted` ("Rollout aborted update to revision N[: why]") and its warning event.
    fn set_aborted(&mut self, status: &mut RolloutStatus, why: Option<&str>) {
        let mut message = cond::aborted_message(self.revision());
        if let Some(why) = why {
            message = format!("{message}: {why}");
        }
        let condition = cond::new_condition(
            RolloutConditionType::Progressing,
            ConditionStatus::False,
            cond::ABORTED_REASON,
            message.clone(),
            &self.stamp,
        );
        cond::set_condition(status, condition);
        self.events.push(Event::warning(cond::ABORTED_REASON, message));
    }

    /// Argo's `RolloutHealthy` for a canary, with the generation being written counted as observed.
    fn healthy(&self, status: &RolloutStatus) -> bool {
        let replicas = self.replicas;
        let executed_all_steps = self.steps().is_empty() || status.current_step_index == Some(self.step_count());
        let stable_is_current = status.stable_rs.as_deref().is_some_and(|s| !s.is_empty() && s == self.pod_hash);
        status.updated_replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
            && status.replicas == Some(replicas)
            && executed_all_steps
            && stable_is_current
    }

    /// Argo's `RolloutProgressing`: observable progress since the observed status.
    fn made_progress(&self, new: &RolloutStatus) -> bool {
        let old = &self.old;
        let n = |v: Option<i32>| v.unwrap_or(0);
        let old_old_replicas = n(old.replicas) - n(old.updated_replicas);
        let new_old_replicas = n(new.replicas) - n(new.updated_replicas);
        n(new.updated_replicas) != n(old.updated_replicas)
            || new_old_replicas < old_old_replicas
            || n(new.ready_replicas) > n(old.ready_replicas)
            || n(new.available_replicas) > n(old.available_replicas)
            || new.stable_rs != old.stable_rs
            || new.current_step_index != old.current_step_index
            || new.current_step_hash != old.current_step_hash
    }

    /// Argo's `isIndefiniteStep`: pause, analysis and experiment steps do not count against the deadline.
    fn at_indefinite_step(&self) -> bool {
        let (_, step) = self.current_step();
        step.is_some_and(|s| s.pause.is_some() || s.analysis.is_some() || s.experiment.is_some())
    }

    fn deadline(&self) -> jiff::SignedDuration {
        let seconds = self.rollout.spec.progress_deadline_seconds.unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        jiff::SignedDuration::from_secs(i64::from(seconds))
    }

    /// Argo's `RolloutTimedOut`.
    fn timed_out(&self, status: &RolloutStatus) -> bool {
        let Some(progressing) = cond::get(status, &RolloutConditionType::Progressing) else { return false };
        match progressing.reason.as_str() {
            cond::NEW_RS_AVAILABLE_REASON => false,
            cond::TIMED_OUT_REASON => true,
            _ => progressing.last_update_time.0 + self.deadline() < self.now,
        }
    }

    /// Argo's `requeueStuckRollout`: come back when the progress deadline would pass.
    fn deadline_requeue(&mut self, status: &RolloutStatus) {
        let Some(progressing) = cond::get(status, &RolloutConditionType::Progressing) else { return };
        let paused = self.rollout.spec.paused == Some(true) || !status.pause_conditions.is_empty();
        let done = matches!(progressing.reason.as_str(), cond::NEW_RS_AVAILABLE_REASON | cond::TIMED_OUT_REASON | cond::ABORTED_REASON);
        if done || paused || status.abort == Some(true) || self.at_indefinite_step() {
            return;
        }
        let at = progressing.last_update_time.0 + self.deadline() + jiff::SignedDuration::from_secs(1);
        self.requeue_at(at);
    }

    /// The `ReplicaFailure` condition to copy from the ReplicaSets, the new one's first.
    fn replica_failure(&self) -> Option<serin_api::rollout::status::RolloutCondition> {
        let failure_of = |rs: &Rs<'_>| {
            rs.obj.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "ReplicaFailure").map(|c| {
                let at = c.last_transition_time.clone().unwrap_or_else(|| self.stamp.clone());
                serin_api::rollout::status::RolloutCondition {
                    type_: RolloutConditionType::ReplicaFailure,
                    status: ConditionStatus::from(c.status.as_str()),
                    last_update_time: at.clone(),
                    last_transition_time: at,
                    reason: c.reason.clone().unwrap_or_default(),
                    message: c.message.clone().unwrap_or_default(),
                }
            })
        };
        self.new_rs.as_ref().and_then(failure_of).or_else(|| self.all.iter().find_map(failure_of))
    }

    fn into_plan(self) -> Plan {
        Plan { actions: self.actions, status: self.status.unwrap_or_default(), events: self.events, requeue_after: self.requeue }
    }
}

/// `metav1.FormatLabelSelector`: `app=x,tier in (a,b)`, as the scale subresource's `status.selector` expects.
pub fn format_selector(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.clone().unwrap_or_default();
        let part = match expr.operator.as_str() {
            "In" => format!("{} in ({})", expr.key, values.join(",")),
            "NotIn" => format!("{} notin ({})", expr.key, values.join(",")),
            "Exists" => expr.key.clone(),
            "DoesNotExist" => format!("!{}", expr.key),
            other => format!("{} {other} ({})", expr.key, values.join(",")),
        };
        parts.push(part);
    }
    if parts.is_empty() { "<none>".to_owned() } else { parts.join(",") }
}

//! Step walking, pause/promote/abort/retry, deadlines and status, on the toy cluster of `support`.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use proptest::prelude::*;
use serin_api::rollout::status::{PauseReason, RolloutConditionType as C, RolloutPhase};
use serin_planner::Action;
use support::{World, canary};

const STEPS: &str = "[{setWeight: 20}, {pause: {}}, {setWeight: 60}, {pause: {duration: 5s}}]";

fn deployed(replicas: i32, steps: &str) -> World {
    let mut w = World::new(canary(replicas, steps));
    w.converge();
    w
}

#[test]
fn initial_deploy_goes_straight_to_healthy() {
    let w = deployed(5, STEPS);
    assert_eq!(w.sizes(), vec![("web:1".into(), 5)]);
    let s = w.status();
    assert_eq!(w.phase(), (RolloutPhase::Healthy, String::new()));
    assert_eq!(s.stable_rs, s.current_pod_hash);
    assert_eq!(s.current_step_index, Some(4));
    assert_eq!(s.observed_generation.as_deref(), Some("1"));
    assert_eq!(
        (s.replicas, s.updated_replicas, s.ready_replicas, s.available_replicas, s.hpa_replicas),
        (Some(5), Some(5), Some(5), Some(5), Some(5))
    );
    assert_eq!(s.selector.as_deref(), Some("app=web"));
    assert_eq!(w.condition(C::Healthy), Some(("True".into(), "RolloutHealthy".into())));
    assert_eq!(w.condition(C::Completed), Some(("True".into(), "RolloutCompleted".into())));
    assert_eq!(w.condition(C::Available), Some(("True".into(), "AvailableReason".into())));
    assert_eq!(w.condition(C::Progressing), Some(("True".into(), "NewReplicaSetAvailable".into())));
    let rs = &w.rss[0];
    assert_eq!(rs.metadata.name.as_deref(), Some(format!("web-{}", s.current_pod_hash.unwrap()).as_str()));
    assert_eq!(rs.metadata.annotations.as_ref().unwrap()["rollout.argoproj.io/revision"], "1");
    assert_eq!(w.rollout.metadata.annotations.as_ref().unwrap()["rollout.argoproj.io/revision"], "1");
    assert!(w.events.iter().any(|e| e.contains("Rollout completed update to revision 1") && e.contains("Initial deploy")));
}

#[test]
fn idle_rollout_plans_no_writes() {
    let w = deployed(5, STEPS);
    let plan = w.plan();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let before = serde_json::to_value(w.status()).unwrap();
    let after = serde_json::to_value(&plan.status).unwrap();
    assert_eq!(serin_planner::status_patch::merge_diff(&before, &after), None);
    assert!(plan.events.is_empty());
}

#[test]
fn planning_is_deterministic() {
    let mut w = deployed(5, STEPS);
    w.set_image("web:2");
    for _ in 0..6 {
        assert_eq!(w.plan(), w.plan());
        w.reconcile();
        w.settle();
    }
}

#[test]
fn image_update_walks_the_steps() {
    let mut w = deployed(5, STEPS);
    w.set_image("web:2");
    w.converge();
    // setWeight 20 done (1 of 5), then paused indefinitely at step 1.
    assert_eq!(w.sizes(), vec![("web:1".into(), 4), ("web:2".into(), 1)]);
    assert_eq!(w.step_index(), Some(1));
    assert_eq!(w.phase(), (RolloutPhase::Paused, "CanaryPauseStep".into()));
    let s = w.status();
    assert_eq!(s.pause_conditions[0].reason, PauseReason::CanaryPauseStep);
    assert_eq!(s.controller_pause, Some(true));
    assert_eq!(w.condition(C::Paused), Some(("True".into(), "RolloutPaused".into())));
    assert_eq!(w.condition(C::Progressing), Some(("Unknown".into(), "RolloutPaused".into())));
    assert_eq!(w.condition(C::Completed), Some(("False".into(), "RolloutCompleted".into())));
    // Time alone does not end an indefinite pause.
    w.advance(Duration::from_secs(3600));
    w.converge();
    assert_eq!(w.step_index(), Some(1));

    w.promote();
    w.converge();
    assert_eq!(w.sizes(), vec![("web:1".into(), 2), ("web:2".into(), 3)]);
    assert_eq!(w.step_index(), Some(3));
    assert_eq!(w.phase(), (RolloutPhase::Paused, "CanaryPauseStep".into()));
    let requeue = w.last_plan.as_ref().unwrap().requeue_after.unwrap();
    assert!(requeue <= Duration::from_secs(5), "{requeue:?}");

    w.advance(requeue);
    w.converge();
    assert_eq!(w.sizes(), vec![("web:2".into(), 5)]);
    assert_eq!(w.phase(), (RolloutPhase::Healthy, String::new()));
    let s = w.status();
    assert_eq!(s.stable_rs, s.current_pod_hash);
    assert_eq!(s.current_step_index, Some(4));
    assert!(s.pause_conditions.is_empty() && s.controller_pause.is_none());
    assert_eq!(w.condition(C::Paused), Some(("False".into(), "RolloutPaused".into())));
    assert!(w.events.iter().any(|e| e == "RolloutStepCompleted: Rollout step 4/4 completed (pause: 5s)"));
    assert!(w.events.iter().any(|e| e.contains("Rollout completed update to revision 2") && e.contains("Completed all 4 canary steps")));
}

#[test]
fn timed_pause_requeues_exactly_at_expiry() {
    let mut w = deployed(2, "[{setWeight: 50}, {pause: {duration: 30s}}]");
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.step_index(), Some(1));
    let start = w.status().pause_conditions[0].start_time.0;
    let requeue = w.plan().requeue_after.unwrap();
    assert_eq!(w.now + jiff::SignedDuration::try_from(requeue).unwrap(), start + jiff::SignedDuration::from_secs(30));
    w.advance(requeue.checked_sub(Duration::from_millis(1)).unwrap());
    w.converge();
    assert_eq!(w.step_index(), Some(1), "a millisecond early must not complete the pause");
    w.advance(Duration::from_millis(1));
    w.converge();
    assert_eq!(w.step_index(), Some(2));
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
}

#[test]
fn promote_skips_a_timed_pause_too() {
    let mut w = deployed(2, "[{setWeight: 50}, {pause: {duration: 1h}}]");
    w.set_image("web:2");
    w.converge();
    w.promote();
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
}

#[test]
fn promote_full_skips_remaining_steps() {
    let mut w = deployed(4, STEPS);
    w.set_image("web:2");
    w.converge();
    w.patch_status(serde_json::json!({"promoteFull": true}));
    w.converge();
    assert_eq!(w.sizes(), vec![("web:2".into(), 4)]);
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert_eq!(w.status().promote_full, None);
    assert!(w.events.iter().any(|e| e.contains("Full promotion requested")));
}

#[test]
fn manual_pause_halts_scaling_and_resume_continues() {
    let mut w = deployed(5, "[{setWeight: 40}, {setWeight: 80}]");
    w.rollout.spec.paused = Some(true);
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.phase(), (RolloutPhase::Paused, "manually paused".into()));
    // The new ReplicaSet exists but nothing was scaled.
    assert_eq!(w.sizes(), vec![("web:1".into(), 5)]);
    assert_eq!(w.condition(C::Paused), Some(("True".into(), "RolloutPaused".into())));
    w.rollout.spec.paused = Some(false);
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert_eq!(w.sizes(), vec![("web:2".into(), 5)]);
}

#[test]
fn abort_returns_to_stable_and_retry_resumes() {
    let mut w = deployed(5, STEPS);
    w.set_image("web:2");
    w.converge();
    w.promote();
    w.reconcile();
    w.settle();
    w.reconcile();
    w.settle();
    assert!(w.step_index().unwrap() >= 2);

    w.patch_status(serde_json::json!({"abort": true}));
    w.converge();
    assert_eq!(w.sizes(), vec![("web:1".into(), 5)]);
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert_eq!(message, "RolloutAborted: Rollout aborted update to revision 2");
    let s = w.status();
    assert_eq!(s.current_step_index, Some(0));
    assert!(s.aborted_at.is_some() && s.abort == Some(true));
    assert!(s.pause_conditions.is_empty());
    assert_ne!(s.stable_rs, s.current_pod_hash, "stable untouched");
    assert_eq!(w.condition(C::Progressing), Some(("False".into(), "RolloutAborted".into())));

    // Retry: the controller never clears `abort` itself, the user does.
    w.patch_status(serde_json::json!({"abort": false}));
    w.reconcile();
    assert_eq!(w.condition(C::Progressing), Some(("Unknown".into(), "RolloutRetry".into())));
    assert_eq!(w.status().aborted_at, None);
    w.settle();
    w.converge();
    assert_eq!(w.step_index(), Some(1));
    assert_eq!(w.phase(), (RolloutPhase::Paused, "CanaryPauseStep".into()));
    assert_eq!(w.sizes(), vec![("web:1".into(), 4), ("web:2".into(), 1)]);
}

#[test]
fn abort_scales_the_canary_down_within_max_unavailable() {
    let mut w = deployed(10, "[{setWeight: 50}, {pause: {}}]");
    w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().max_unavailable = Some(serin_api::IntOrPercent::Int(1));
    w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().max_surge = Some(serin_api::IntOrPercent::Int(1));
    w.set_image("web:2");
    w.converge();
    w.patch_status(serde_json::json!({"abort": true}));
    loop {
        w.reconcile();
        let available: i32 = w.rss.iter().map(|rs| rs.spec.as_ref().unwrap().replicas.unwrap()).sum();
        // Before pods catch up, spec sizes may drop at most one below 10 (maxUnavailable 1)...
        assert!(available >= 9, "{:?}", w.sizes());
        // ...and exceed 10 by at most one (maxSurge 1).
        assert!(available <= 11, "{:?}", w.sizes());
        w.settle();
        if w.sizes() == vec![("web:1".to_string(), 10)] {
            break;
        }
    }
}

#[test]
fn never_ready_canary_hits_the_progress_deadline() {
    let mut w = deployed(4, "[{setWeight: 50}, {pause: {}}]");
    w.rollout.spec.progress_deadline_seconds = Some(60);
    w.broken_images.insert("web:2".into());
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Progressing);
    let requeue = w.last_plan.as_ref().unwrap().requeue_after.unwrap();
    assert!(requeue <= Duration::from_secs(61) && requeue >= Duration::from_secs(59), "{requeue:?}");
    w.advance(requeue);
    w.converge();
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert!(message.starts_with("ProgressDeadlineExceeded: ReplicaSet \"web-"), "{message}");
    assert!(message.ends_with("\" has timed out progressing."), "{message}");
    // Without progressDeadlineAbort the canary stays where it is.
    assert_eq!(w.status().abort, None);
    assert!(w.sizes().contains(&("web:2".into(), 2)));

    // Fixing the image is progress: the new update starts cleanly.
    w.broken_images.clear();
    w.set_image("web:3");
    w.converge();
    assert_eq!(w.phase(), (RolloutPhase::Paused, "CanaryPauseStep".into()));
}

#[test]
fn progress_deadline_abort_aborts() {
    let mut w = deployed(4, "[{setWeight: 50}, {pause: {}}]");
    w.rollout.spec.progress_deadline_seconds = Some(30);
    w.rollout.spec.progress_deadline_abort = Some(true);
    w.broken_images.insert("web:2".into());
    w.set_image("web:2");
    w.converge();
    w.advance(Duration::from_secs(40));
    w.converge();
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert!(message.starts_with("RolloutAborted: Rollout aborted update to revision 2: ReplicaSet"), "{message}");
    assert_eq!(w.status().abort, Some(true));
    assert_eq!(w.sizes(), vec![("web:1".into(), 4)]);
}

#[test]
fn invalid_spec_touches_nothing_and_recovers() {
    let mut w = deployed(3, "[{setWeight: 50}, {pause: {}}]");
    w.set_image("web:2");
    w.converge();
    let sizes = w.sizes();
    w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().steps[0].set_weight = Some(150);
    *w.rollout.metadata.generation.as_mut().unwrap() += 1;
    let plan = w.reconcile();
    assert!(plan.actions.is_empty());
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert_eq!(
        message,
        "InvalidSpec: The Rollout \"web\" is invalid: spec.strategy.steps[0].setWeight: Invalid value: 150: SetWeight needs to be between 0 and 100"
    );
    assert_eq!(w.status().observed_generation.as_deref(), Some("3"));
    w.converge();
    assert_eq!(w.sizes(), sizes);
    w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().steps[0].set_weight = Some(50);
    *w.rollout.metadata.generation.as_mut().unwrap() += 1;
    w.converge();
    assert_eq!(w.condition(C::InvalidSpec), None);
    assert_eq!(w.phase().0, RolloutPhase::Paused);
}

#[test]
fn not_yet_implemented_fields_are_reported_with_their_path() {
    let mut w = World::new(support::rollout(
        r"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: 'web:1'}]}
  strategy:
    canary:
      steps: [{setWeight: 20}, {experiment: {templates: [{name: t, specRef: canary}]}}]
",
    ));
    let plan = w.reconcile();
    assert!(plan.actions.is_empty());
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert!(message.contains("spec.strategy.canary.steps[1].experiment: Not implemented"), "{message}");
}

#[test]
fn bad_quantity_is_an_invalid_spec_not_a_crash() {
    let mut ro = canary(2, "[]");
    let container = &mut ro.spec.template.as_mut().unwrap().spec.as_mut().unwrap().containers[0];
    container.resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
        limits: Some([("cpu".to_string(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("lots".into()))].into()),
        ..Default::default()
    });
    let mut w = World::new(ro);
    let plan = w.reconcile();
    assert!(plan.actions.is_empty());
    let (phase, message) = w.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert!(message.contains("spec.template.spec.containers[0].resources.limits[cpu]"), "{message}");
}

#[test]
fn changing_steps_restarts_at_step_zero() {
    let mut w = deployed(4, "[{setWeight: 25}, {pause: {}}, {setWeight: 50}, {pause: {}}]");
    w.set_image("web:2");
    w.converge();
    w.promote();
    w.converge();
    assert_eq!(w.step_index(), Some(3));
    w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().steps.remove(3);
    *w.rollout.metadata.generation.as_mut().unwrap() += 1;
    w.reconcile();
    assert_eq!(w.step_index(), Some(0));
    assert_eq!(
        w.status().current_step_hash,
        Some(serin_planner::canary::step_hash(&w.rollout.spec.strategy.as_ref().unwrap().canary.as_ref().unwrap().steps))
    );
    w.converge();
    assert_eq!(w.step_index(), Some(1));
}

#[test]
fn rollback_to_stable_skips_the_steps() {
    let mut w = deployed(4, "[{setWeight: 25}, {pause: {}}]");
    w.set_image("web:2");
    w.converge();
    w.set_image("web:1");
    w.reconcile();
    assert_eq!(w.step_index(), Some(2));
    assert!(w.events.iter().any(|e| e == "SkipSteps: Rollback to stable ReplicaSets"));
    w.settle();
    w.converge();
    assert_eq!(w.sizes(), vec![("web:1".into(), 4)]);
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
}

#[test]
fn update_during_update_drains_the_intermediate_first() {
    let mut w = deployed(4, "[{setWeight: 50}, {pause: {}}]");
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.sizes(), vec![("web:1".into(), 2), ("web:2".into(), 2)]);
    w.set_image("web:3");
    w.reconcile();
    w.settle();
    let mut seen_v1_below_2 = false;
    for _ in 0..20 {
        w.reconcile();
        w.settle();
        let v1 = w.sizes().iter().find(|(i, _)| i == "web:1").map_or(0, |(_, n)| *n);
        seen_v1_below_2 |= v1 < 2;
    }
    assert!(!seen_v1_below_2, "the stable must not shrink while the intermediate drains");
    assert_eq!(w.sizes(), vec![("web:1".into(), 2), ("web:3".into(), 2)]);
    assert_eq!(w.step_index(), Some(1));
    // The intermediate revision is kept, scaled to zero, for rollback.
    assert_eq!(w.rss.len(), 3);
}

#[test]
fn revision_history_limit_deletes_the_oldest_scaled_down() {
    let mut w = deployed(1, "[]");
    w.rollout.spec.revision_history_limit = Some(1);
    for v in 2..=4 {
        w.set_image(&format!("web:{v}"));
        w.converge();
    }
    let mut images: Vec<String> = w
        .rss
        .iter()
        .map(|rs| rs.spec.as_ref().unwrap().template.as_ref().unwrap().spec.as_ref().unwrap().containers[0].image.clone().unwrap())
        .collect();
    images.sort();
    assert_eq!(images, vec!["web:3", "web:4"]);
}

#[test]
fn reusing_an_old_replica_set_bumps_its_revision() {
    let mut w = deployed(1, "[]");
    w.set_image("web:2");
    w.converge();
    w.set_image("web:1");
    w.converge();
    let rs = w.rss.iter().find(|rs| rs.metadata.labels.as_ref().unwrap()["rollouts-pod-template-hash"] == w.hash_of("web:1")).unwrap();
    let annotations = rs.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations["rollout.argoproj.io/revision"], "3");
    assert_eq!(annotations["rollout.argoproj.io/revision-history"], "1");
}

#[test]
fn orphan_replica_sets_are_adopted() {
    let mut w = deployed(2, "[]");
    let mut rs = w.rss[0].clone();
    rs.metadata.owner_references = None;
    w.rss[0] = rs;
    let plan = w.plan();
    assert!(matches!(&plan.actions[0], Action::AdoptReplicaSet { .. }), "{:?}", plan.actions);
    w.converge();
    assert!(w.rss[0].metadata.owner_references.is_some());
}

#[test]
fn missing_replicas_is_defaulted_to_one() {
    let mut ro = canary(1, "[]");
    ro.spec.replicas = None;
    let mut w = World::new(ro);
    let plan = w.reconcile();
    assert_eq!(plan.actions[0], Action::DefaultReplicas);
    w.converge();
    assert_eq!(w.sizes(), vec![("web:1".into(), 1)]);
}

#[test]
fn no_steps_is_a_rolling_update() {
    let mut w = deployed(4, "[]");
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.sizes(), vec![("web:2".into(), 4)]);
    assert_eq!(w.step_index(), None);
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
}

#[test]
fn replica_set_failure_is_copied() {
    let mut w = deployed(2, "[]");
    w.rss[0].status.as_mut().unwrap().conditions = Some(vec![k8s_openapi::api::apps::v1::ReplicaSetCondition {
        type_: "ReplicaFailure".into(),
        status: "True".into(),
        reason: Some("FailedCreate".into()),
        message: Some("pods \"x\" is forbidden: exceeded quota".into()),
        last_transition_time: None,
    }]);
    w.reconcile();
    assert_eq!(w.condition(C::ReplicaFailure), Some(("True".into(), "FailedCreate".into())));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Walking any setWeight/pause steps with any surge/unavailable settings never exceeds `replicas + maxSurge`
    /// pods in spec, never drops below `replicas - maxUnavailable` available pods once deployed, and ends Healthy.
    #[test]
    fn walks_stay_within_surge_and_availability(
        replicas in 1..12_i32,
        surge in 0..4_i32,
        unavailable in 0..4_i32,
        weights in proptest::collection::vec(0..=100_i32, 0..5),
    ) {
        prop_assume!(surge + unavailable > 0);
        let steps: Vec<String> = weights.iter().map(|w| format!("{{setWeight: {w}}}")).collect();
        let mut w = World::new(canary(replicas, &format!("[{}]", steps.join(", "))));
        {
            let canary = w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap();
            canary.max_surge = Some(serin_api::IntOrPercent::Int(surge));
            canary.max_unavailable = Some(serin_api::IntOrPercent::Int(unavailable));
        }
        w.converge();
        w.set_image("web:2");
        let fenceposts = serin_planner::replicas::resolve_surge_unavailable(replicas, Some(&serin_api::IntOrPercent::Int(surge)), Some(&serin_api::IntOrPercent::Int(unavailable))).unwrap();
        for _ in 0..200 {
            prop_assert_eq!(w.plan(), w.plan());
            w.reconcile();
            let total: i32 = w.rss.iter().map(|rs| rs.spec.as_ref().unwrap().replicas.unwrap()).sum();
            prop_assert!(total <= replicas + fenceposts.max_surge, "total {} > {} + {}", total, replicas, fenceposts.max_surge);
            let min_available: i32 = w.rss.iter().map(|rs| rs.spec.as_ref().unwrap().replicas.unwrap().min(rs.status.as_ref().unwrap().available_replicas.unwrap_or(0))).sum();
            prop_assert!(min_available >= replicas - fenceposts.max_unavailable, "available {} < {} - {}", min_available, replicas, fenceposts.max_unavailable);
            w.settle();
            if w.phase().0 == RolloutPhase::Healthy && w.sizes() == vec![("web:2".to_string(), replicas)] {
                return Ok(());
            }
        }
        prop_assert!(false, "did not finish: {:?} {:?}", w.sizes(), w.phase());
    }
}

#[test]
fn restart_at_evicts_old_pods_a_few_at_a_time_then_records_it() {
    let mut w = deployed(4, "[]");
    let canary = w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap();
    canary.max_unavailable = Some(serin_api::IntOrPercent::Int(2));
    w.advance(Duration::from_secs(10));
    let restart_at = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(w.now + jiff::SignedDuration::from_secs(5));
    w.rollout.spec.restart_at = Some(restart_at.clone());
    // Not yet: the restart is scheduled for later.
    let plan = w.reconcile();
    assert!(plan.actions.is_empty());
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(5)));
    assert_eq!(w.phase(), (RolloutPhase::Progressing, "rollout is restarting".into()));
    w.advance(Duration::from_secs(5));
    let mut rounds = 0;
    while w.status().restarted_at.as_ref() != Some(&restart_at) {
        let plan = w.reconcile();
        let evictions = plan.actions.iter().filter(|a| matches!(a, Action::EvictPod { .. })).count();
        assert!(evictions <= 2, "at most maxUnavailable pods at a time: {:?}", plan.actions);
        w.settle();
        w.advance(Duration::from_secs(1));
        rounds += 1;
        assert!(rounds < 20, "restart did not finish");
    }
    assert_eq!(w.evicted.len(), 4, "every old pod once");
    assert!(w.pods.iter().all(|p| p.created >= restart_at.0));
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert!(w.events.iter().any(|e| e.starts_with("RolloutRestarted")));
}

/// Argo's `TestRolloutRestart`: 4 pods with `maxUnavailable: 75%`, paused at `setWeight: 25` (1 canary, 3 stable),
/// new pods ready 5 s after they start. One budget across both ReplicaSets: 3 pods go at once and at least one
/// stays available throughout (a per-ReplicaSet budget evicted all four).
#[test]
fn restart_at_keeps_one_disruption_budget_across_every_replica_set() {
    let mut w = deployed(4, "[{setWeight: 25}, {pause: {}}]");
    let canary = w.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap();
    canary.max_unavailable = Some(serin_api::IntOrPercent::from("75%"));
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.phase().1, "CanaryPauseStep");
    assert_eq!(w.sizes(), vec![("web:1".into(), 3), ("web:2".into(), 1)]);
    w.ready_delay = Duration::from_secs(5);
    w.advance(Duration::from_secs(6));
    w.settle();
    assert_eq!(w.pods.iter().filter(|p| p.is_available(0, w.now)).count(), 4);
    let restart_at = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(w.now);
    w.rollout.spec.restart_at = Some(restart_at.clone());

    let available = |w: &World| w.pods.iter().filter(|p| p.is_available(0, w.now)).count();
    let mut first = true;
    let mut rounds = 0;
    while w.status().restarted_at.as_ref() != Some(&restart_at) {
        let plan = w.reconcile();
        let evictions = plan.actions.iter().filter(|a| matches!(a, Action::EvictPod { .. })).count();
        if first {
            assert_eq!(evictions, 3, "available 4 - (max(4, 4) - 3) = 3 at once: {:?}", plan.actions);
            first = false;
        }
        w.settle();
        assert!(available(&w) >= 1, "every pod restarted at once: {:?}", w.pods);
        w.advance(Duration::from_secs(1));
        rounds += 1;
        assert!(rounds < 30, "restart did not finish");
    }
    assert_eq!(w.evicted.len(), 4, "every old pod once");
    assert_eq!(w.phase().1, "CanaryPauseStep", "still paused at its step");
}

/// Argo's `TestRolloutBadToGoodSetWeightUpdate`: the running version never becomes ready; the fix goes out through
/// `setWeight: 50`, whose step needs the stable pods it keeps created, not available.
#[test]
fn a_set_weight_step_completes_while_the_stable_version_is_broken() {
    let mut rollout = canary(4, "[{setWeight: 50}, {pause: {duration: 5s}}]");
    let strategy = rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap();
    strategy.max_surge = Some(serin_api::IntOrPercent::Int(1));
    strategy.max_unavailable = Some(serin_api::IntOrPercent::Int(0));
    let mut w = World::new(rollout);
    w.broken_images.insert("web:1".into());
    w.converge();
    w.set_image("web:2");
    w.converge();
    assert_eq!(w.step_index(), Some(1), "setWeight 50 completed: {:?} {:?}", w.sizes(), w.phase());
    w.advance(Duration::from_secs(5));
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert_eq!(w.sizes(), vec![("web:2".into(), 4)]);
}

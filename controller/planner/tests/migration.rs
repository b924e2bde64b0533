//! Taking over from Argo Rollouts: ReplicaSets named by Argo 1.8's hash (`"creationTimestamp":null` in the hashed
//! template) or 1.9's (without it) are found by their template and kept, with no new ReplicaSet and no pod
//! restarted; the next update is named with the current hash.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use serin_api::labels::POD_TEMPLATE_HASH;
use serin_api::rollout::status::RolloutPhase;
use serin_planner::Action;
use serin_planner::pod_hash::{legacy_pod_template_hash, pod_template_hash};
use support::{World, canary};

const STEPS: &str = "[{setWeight: 20}, {pause: {}}]";

/// A healthy Rollout whose ReplicaSet and status carry `hash`, as a controller that named it so left them.
fn left_with(hash: &str) -> World {
    let mut w = World::new(canary(3, STEPS));
    w.converge();
    let own = w.status().stable_rs.unwrap();
    let rs = &mut w.rss[0];
    rs.metadata.name = Some(format!("web-{hash}"));
    rs.metadata.labels.as_mut().unwrap().insert(POD_TEMPLATE_HASH.into(), hash.into());
    let spec = rs.spec.as_mut().unwrap();
    spec.selector.match_labels.as_mut().unwrap().insert(POD_TEMPLATE_HASH.into(), hash.into());
    spec.template.as_mut().unwrap().metadata.as_mut().unwrap().labels.as_mut().unwrap().insert(POD_TEMPLATE_HASH.into(), hash.into());
    for pod in &mut w.pods {
        assert_eq!(pod.pod_hash, own);
        pod.pod_hash = hash.into();
    }
    w.patch_status(json!({"stableRS": hash, "currentPodHash": hash}));
    w
}

fn takes_over_without_a_restart(hash: &str) {
    let mut w = left_with(hash);
    let pods_before = w.pods.clone();
    let plan = w.reconcile();
    assert!(
        !plan.actions.iter().any(|a| matches!(a, Action::CreateReplicaSet(_) | Action::ScaleReplicaSet { .. } | Action::EvictPod { .. })),
        "{:?}",
        plan.actions
    );
    w.converge();
    assert_eq!(w.phase().0, RolloutPhase::Healthy);
    assert_eq!(w.rss.len(), 1, "no new ReplicaSet");
    assert_eq!(w.pods, pods_before, "no pod restarted");
    assert_eq!(w.status().current_pod_hash.as_deref(), Some(hash));

    // The next update gets a ReplicaSet named with the current (Argo 1.9) hash.
    w.set_image("web:2");
    w.converge();
    let template = w.rollout.spec.template.clone().unwrap();
    let new_hash = pod_template_hash(&template, None).unwrap();
    assert!(w.rss.iter().any(|rs| rs.metadata.name.as_deref() == Some(format!("web-{new_hash}").as_str())));
    assert_eq!(w.phase(), (RolloutPhase::Paused, "CanaryPauseStep".into()));
}

#[test]
fn replica_sets_left_by_argo_18_are_adopted_without_a_restart() {
    let template = canary(3, STEPS).spec.template.unwrap();
    let legacy = legacy_pod_template_hash(&template, None).unwrap();
    assert_ne!(legacy, pod_template_hash(&template, None).unwrap());
    takes_over_without_a_restart(&legacy);
}

#[test]
fn replica_sets_left_by_argo_19_are_adopted_without_a_restart() {
    let template = canary(3, STEPS).spec.template.unwrap();
    takes_over_without_a_restart(&pod_template_hash(&template, None).unwrap());
}

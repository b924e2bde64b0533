//! The Rollout `status.phase` and `status.message`, computed exactly as Argo Rollouts computes them
//! (`CalculateRolloutPhase`), because Argo CD's health check copies them verbatim (Paused → Suspended) and users
//! alert on the messages. [`client_phase`] adds the client-side wrapper (`GetRolloutPhase`) that the CLI uses.
//!
//! Pure: spec and status in, `(phase, message)` out. The order of the checks is the contract — first match wins.

use serin_api::rollout::status::{RolloutConditionType, RolloutPhase};
use serin_api::{Rollout, RolloutSpec, RolloutStatus};

/// `Progressing` condition reasons that make a rollout Degraded.
const ABORTED: &str = "RolloutAborted";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";

/// Phase and message the controller writes into `status` (Argo's `CalculateRolloutPhase`).
pub fn rollout_phase(spec: &RolloutSpec, status: &RolloutStatus) -> (RolloutPhase, String) {
    for cond in &status.conditions {
        if cond.type_ == RolloutConditionType::InvalidSpec {
            return (RolloutPhase::Degraded, format!("InvalidSpec: {}", cond.message));
        }
        if cond.reason == ABORTED || cond.reason == TIMED_OUT {
            return (RolloutPhase::Degraded, format!("{}: {}", cond.reason, cond.message));
        }
    }
    if spec.paused == Some(true) {
        return (RolloutPhase::Paused, "manually paused".into());
    }
    if let Some(first) = status.pause_conditions.first() {
        return (RolloutPhase::Paused, first.reason.as_str().to_owned());
    }
    if let Some(restart) = &spec.restart_at
        && status.restarted_at.as_ref() != Some(restart)
    {
        return (RolloutPhase::Progressing, "rollout is restarting".into());
    }
    let updated = status.updated_replicas.unwrap_or(0);
    if updated < spec.desired_replicas() {
        return (RolloutPhase::Progressing, "more replicas need to be updated".into());
    }
    if status.available_replicas.unwrap_or(0) < updated {
        return (RolloutPhase::Progressing, "updated replicas are still becoming available".into());
    }
    let stable = status.stable_rs.as_deref().unwrap_or_default();
    let current = status.current_pod_hash.as_deref().unwrap_or_default();
    let fully_promoted = !stable.is_empty() && stable == current;
    let strategy = spec.strategy.as_ref();
    if let Some(bg) = strategy.and_then(|s| s.blue_green.as_ref()) {
        let bg_status = status.blue_green.as_ref();
        let active = bg_status.and_then(|b| b.active_selector.as_deref()).unwrap_or_default();
        if active.is_empty() || active != current {
            return (RolloutPhase::Progressing, "active service cutover pending".into());
        }
        if !fully_promoted {
            let post_analysis_pending = bg.post_promotion_analysis.is_some()
                && bg_status.and_then(|b| b.post_promotion_analysis_run_status.as_ref()).is_none_or(|r| !r.status.is_completed());
            let message = if post_analysis_pending {
                "waiting for analysis to complete"
            } else {
                "waiting for post-promotion verification to complete"
            };
            return (RolloutPhase::Progressing, message.into());
        }
    } else if let Some(canary) = strategy.and_then(|s| s.canary.as_ref()) {
        // Only a basic canary waits for old pods: with a router they may stay up for scaleDownDelaySeconds.
        if canary.traffic_routing.is_none() && status.replicas.unwrap_or(0) > updated {
            return (RolloutPhase::Progressing, "old replicas are pending termination".into());
        }
        if !fully_promoted {
            return (RolloutPhase::Progressing, "waiting for all steps to complete".into());
        }
    }
    (RolloutPhase::Healthy, String::new())
}

/// Phase as clients show it (Argo's `GetRolloutPhase`): an unobserved generation or a resume the controller has not
/// acted on yet reads as Progressing; otherwise the controller's phase, or [`rollout_phase`] for a status without
/// one (controllers older than v1.0).
pub fn client_phase(rollout: &Rollout) -> (RolloutPhase, String) {
    let status = rollout.status.clone().unwrap_or_default();
    if !generation_observed(rollout, &status) {
        return (RolloutPhase::Progressing, "waiting for rollout spec update to be observed".into());
    }
    if status.controller_pause == Some(true) && status.pause_conditions.is_empty() {
        return (RolloutPhase::Progressing, "waiting for rollout to unpause".into());
    }
    match &status.phase {
        Some(phase) => (phase.clone(), status.message.clone().unwrap_or_default()),
        None => rollout_phase(&rollout.spec, &status),
    }
}

/// `observedGeneration` is a decimal string; non-numeric (v0.9 hash) or larger values count as observed.
fn generation_observed(rollout: &Rollout, status: &RolloutStatus) -> bool {
    let Some(observed) = status.observed_generation.as_deref().and_then(|g| g.parse::<i64>().ok()) else { return true };
    let generation = rollout.metadata.generation.unwrap_or(0);
    observed >= generation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(yaml: &str) -> Rollout {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const CANARY: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, generation: 2}\nspec:\n  replicas: 5\n  strategy: {canary: {steps: [{setWeight: 20}]}}\n";
    const BLUE_GREEN: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r, generation: 2}\nspec:\n  replicas: 5\n  strategy: {blueGreen: {activeService: a}}\n";

    fn phase(base: &str, spec_extra: &str, status: &str) -> (String, String) {
        let mut text = base.to_owned();
        text.push_str(spec_extra);
        text.push_str("status:\n");
        text.push_str(status);
        let r = rollout(&text);
        let (p, m) = rollout_phase(&r.spec, r.status.as_ref().unwrap());
        (p.as_str().to_owned(), m)
    }

    const DONE: &str = "  replicas: 5\n  updatedReplicas: 5\n  availableReplicas: 5\n  currentPodHash: abc\n  stableRS: abc\n";

    #[test]
    fn degraded_conditions_win_in_order() {
        let cond = |t: &str, r: &str, m: &str| {
            format!(
                "  conditions:\n  - {{type: {t}, status: \"False\", reason: {r}, message: \"{m}\", lastUpdateTime: \"2026-01-01T00:00:00Z\", lastTransitionTime: \"2026-01-01T00:00:00Z\"}}\n"
            )
        };
        assert_eq!(
            phase(CANARY, "", &format!("{DONE}{}", cond("InvalidSpec", "InvalidSpec", "The Rollout \\\"r\\\" is invalid: x"))),
            ("Degraded".into(), "InvalidSpec: The Rollout \"r\" is invalid: x".into())
        );
        assert_eq!(
            phase(CANARY, "", &format!("{DONE}{}", cond("Progressing", "RolloutAborted", "Rollout aborted update to revision 2"))),
            ("Degraded".into(), "RolloutAborted: Rollout aborted update to revision 2".into())
        );
        assert_eq!(
            phase(
                CANARY,
                "  paused: true\n",
                &format!(
                    "{DONE}{}",
                    cond("Progressing", "ProgressDeadlineExceeded", "ReplicaSet \\\"r-abc\\\" has timed out progressing.")
                )
            ),
            ("Degraded".into(), "ProgressDeadlineExceeded: ReplicaSet \"r-abc\" has timed out progressing.".into())
        );
    }

    #[test]
    fn pauses_then_restart_then_replicas() {
        assert_eq!(phase(CANARY, "  paused: true\n", DONE), ("Paused".into(), "manually paused".into()));
        let paused = format!("{DONE}  pauseConditions: [{{reason: CanaryPauseStep, startTime: \"2026-01-01T00:00:00Z\"}}]\n");
        assert_eq!(phase(CANARY, "", &paused), ("Paused".into(), "CanaryPauseStep".into()));
        assert_eq!(phase(CANARY, "  restartAt: \"2026-01-01T00:00:00Z\"\n", DONE), ("Progressing".into(), "rollout is restarting".into()));
        let restarted = format!("{DONE}  restartedAt: \"2026-01-01T00:00:00Z\"\n");
        assert_eq!(phase(CANARY, "  restartAt: \"2026-01-01T00:00:00Z\"\n", &restarted).0, "Healthy");
        assert_eq!(
            phase(CANARY, "", "  replicas: 5\n  updatedReplicas: 1\n  availableReplicas: 1\n"),
            ("Progressing".into(), "more replicas need to be updated".into())
        );
        assert_eq!(
            phase(CANARY, "", "  replicas: 5\n  updatedReplicas: 5\n  availableReplicas: 4\n"),
            ("Progressing".into(), "updated replicas are still becoming available".into())
        );
    }

    #[test]
    fn canary_waits_for_old_pods_and_steps() {
        let old = "  replicas: 7\n  updatedReplicas: 5\n  availableReplicas: 5\n  currentPodHash: abc\n  stableRS: abc\n";
        assert_eq!(phase(CANARY, "", old), ("Progressing".into(), "old replicas are pending termination".into()));
        let routed = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  replicas: 5\n  strategy: {canary: {canaryService: c, stableService: s, trafficRouting: {nginx: {stableIngress: i}}}}\n";
        assert_eq!(phase(routed, "", old), ("Healthy".into(), String::new()), "a routed canary keeps old pods during scale-down delay");
        let mid = "  replicas: 5\n  updatedReplicas: 5\n  availableReplicas: 5\n  currentPodHash: def\n  stableRS: abc\n";
        assert_eq!(phase(CANARY, "", mid), ("Progressing".into(), "waiting for all steps to complete".into()));
        assert_eq!(phase(CANARY, "", DONE), ("Healthy".into(), String::new()));
    }

    #[test]
    fn blue_green_cutover_and_post_promotion() {
        assert_eq!(phase(BLUE_GREEN, "", DONE), ("Progressing".into(), "active service cutover pending".into()));
        let switched = "  replicas: 5\n  updatedReplicas: 5\n  availableReplicas: 5\n  currentPodHash: def\n  stableRS: abc\n  blueGreen: {activeSelector: def}\n";
        assert_eq!(phase(BLUE_GREEN, "", switched), ("Progressing".into(), "waiting for post-promotion verification to complete".into()));
        let bg_post = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  replicas: 5\n  strategy: {blueGreen: {activeService: a, postPromotionAnalysis: {templates: [{templateName: t}]}}}\n";
        assert_eq!(phase(bg_post, "", switched), ("Progressing".into(), "waiting for analysis to complete".into()));
        let done = format!("{DONE}  blueGreen: {{activeSelector: abc}}\n");
        assert_eq!(phase(BLUE_GREEN, "", &done), ("Healthy".into(), String::new()));
    }

    #[test]
    fn client_side_wrapper() {
        let unobserved = rollout(&format!("{CANARY}status:\n{DONE}  observedGeneration: \"1\"\n  phase: Healthy\n"));
        assert_eq!(client_phase(&unobserved), (RolloutPhase::Progressing, "waiting for rollout spec update to be observed".into()));
        let legacy_hash = rollout(&format!("{CANARY}status:\n{DONE}  observedGeneration: 7c8d9f\n  phase: Healthy\n"));
        assert_eq!(client_phase(&legacy_hash).0, RolloutPhase::Healthy);
        let unpausing = rollout(&format!("{CANARY}status:\n{DONE}  observedGeneration: \"2\"\n  controllerPause: true\n  phase: Paused\n"));
        assert_eq!(client_phase(&unpausing), (RolloutPhase::Progressing, "waiting for rollout to unpause".into()));
        let written =
            rollout(&format!("{CANARY}status:\n{DONE}  observedGeneration: \"2\"\n  phase: Paused\n  message: CanaryPauseStep\n"));
        assert_eq!(client_phase(&written), (RolloutPhase::Paused, "CanaryPauseStep".into()));
        let no_phase = rollout(&format!("{CANARY}status:\n{DONE}  observedGeneration: \"2\"\n"));
        assert_eq!(client_phase(&no_phase).0, RolloutPhase::Healthy);
    }
}

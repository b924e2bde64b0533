//! The controller under API faults (kube-sim fault injection; skipped on a real cluster): a failing ReplicaSet
//! create is reported as Argo's `ReplicaSetCreateError` and retried with backoff until it succeeds; 409 storms on
//! status writes are re-planned, never lost.

#![allow(clippy::unwrap_used)]

use anyhow::Result;
use serde_json::json;
use serin_api::rollout::status::{RolloutConditionType, RolloutPhase};
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};

const STEPS: &str = "[{setWeight: 50}, {pause: {}}]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_set_create_errors_are_reported_then_retried() -> Result<()> {
    let s = Scenario::start("create-error").await?;
    let Some(sim) = s.cluster.sim() else { return Ok(()) };
    s.apply(&rollout_manifest(2, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    sim.post("/sim/faults", json!({"resource": "replicasets", "verb": "create", "code": 500, "count": 1000})).await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_for("web", "ReplicaSetCreateError", |ro| {
        ro.status.as_ref().is_some_and(|st| {
            st.conditions.iter().any(|c| {
                c.type_ == RolloutConditionType::Progressing
                    && c.reason == "ReplicaSetCreateError"
                    && c.message.starts_with("Failed to create new replica set \"web-")
            })
        })
    })
    .await?;
    sim.delete("/sim/faults").await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_on_status_writes_are_replanned() -> Result<()> {
    let s = Scenario::start("status-conflicts").await?;
    let Some(sim) = s.cluster.sim() else { return Ok(()) };
    s.apply(&rollout_manifest(2, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    sim.post("/sim/faults", json!({"resource": "rollouts/status", "verb": "patch", "code": 409, "count": 5})).await?;
    s.set_image("web", IMAGE_V2).await?;
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    assert_eq!(ro.status.unwrap().current_step_index, Some(1));
    s.finish().await;
    Ok(())
}

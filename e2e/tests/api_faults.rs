//! The controller under API faults: a failing ReplicaSet create is reported as Argo's `ReplicaSetCreateError` and
//! retried with backoff until it succeeds (kube-sim injects 500s; a real cluster refuses with a `ResourceQuota`); 409
//! storms on status writes are re-planned, never lost (kube-sim injects them; on a real cluster another writer
//! keeps changing the Rollout).

#![allow(clippy::unwrap_used)]

use anyhow::Result;
use serde_json::json;
use serin_api::rollout::status::{RolloutConditionType, RolloutPhase};
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};

const STEPS: &str = "[{setWeight: 50}, {pause: {}}]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_set_create_errors_are_reported_then_retried() -> Result<()> {
    let s = Scenario::start("create-error").await?;
    let sim = s.cluster.sim();
    s.apply(&rollout_manifest(2, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    match &sim {
        Some(sim) => {
            sim.post("/sim/faults", json!({"resource": "replicasets", "verb": "create", "code": 500, "count": 1000})).await?;
        }
        // One ReplicaSet (the stable one) is all the namespace may hold: the canary's create is refused (403).
        None => {
            s.apply(
                "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: one-replicaset}\nspec: {hard: {count/replicasets.apps: \"1\"}}\n",
            )?;
        }
    }
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
    match &sim {
        Some(sim) => {
            sim.delete("/sim/faults").await?;
        }
        None => {
            s.cluster.kubectl_ok(&["delete", "resourcequota", "one-replicaset"])?;
        }
    }
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_on_status_writes_are_replanned() -> Result<()> {
    let s = Scenario::start("status-conflicts").await?;
    s.apply(&rollout_manifest(2, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    let sim = s.cluster.sim();
    // kube-sim answers the next five status patches with 409. A real API server conflicts on its own when another
    // writer gets in between: a second client annotates the Rollout without pause, so the controller's status
    // writes (preconditioned on the resourceVersion it planned from) keep meeting newer versions.
    let churn = if let Some(sim) = &sim {
        sim.post("/sim/faults", json!({"resource": "rollouts/status", "verb": "patch", "code": 409, "count": 5})).await?;
        None
    } else {
        let rollouts: kube::Api<serin_api::rollout::Rollout> = s.cluster.api();
        Some(tokio::spawn(async move {
            for i in 0u64.. {
                let patch = json!({"metadata": {"annotations": {"e2e.serin.dev/churn": i.to_string()}}});
                let _ = rollouts.patch("web", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch)).await;
            }
        }))
    };
    s.set_image("web", IMAGE_V2).await?;
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    if let Some(churn) = churn {
        churn.abort();
        let metrics = s.metrics().await?;
        let conflicts: u64 = metrics
            .lines()
            .filter(|l| l.starts_with("controller_clientset_k8s_request_total{kind=\"rollouts\"") && l.contains("status_code=\"409\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(conflicts > 0, "the churn made no status write conflict:\n{metrics}");
    }
    assert_eq!(ro.status.unwrap().current_step_index, Some(1));
    s.finish().await;
    Ok(())
}

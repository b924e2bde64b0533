//! Kubernetes Events: Argo Rollouts' reasons, in Argo's order, one per transition and none on a no-op reconcile.
//! The sequence is Argo's own e2e expectation (`functional_test.go`, `TestRolloutAbortRetryPromote`) with two
//! events left out: `RolloutAddedToInformer`, which Argo emits for every Rollout each time its controller starts (an
//! event storm at scale), and the `RolloutNotCompleted` "started update to revision 0" of a first deploy, which Argo
//! records because its first reconcile writes an incomplete status that Serin never writes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::Mutex;
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::scenario::{Scenario, rollout_manifest};

/// `(reason, note)` of every Event emission seen.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Records `(reason, note)` each time an Event about Rollout `web` is created or its series count grows.
fn record(s: &Scenario) -> (Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let out = seen.clone();
    let api = s.cluster.api::<Event>();
    let task = tokio::spawn(async move {
        let mut counts = std::collections::HashMap::<String, i32>::new();
        let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff().applied_objects());
        while let Some(Ok(event)) = stream.next().await {
            if event.regarding.as_ref().and_then(|r| r.name.as_deref()) != Some("web") {
                continue;
            }
            let count = event.series.as_ref().map_or(1, |s| s.count);
            let name = event.metadata.name.clone().unwrap_or_default();
            let before = counts.insert(name, count).unwrap_or(0);
            for _ in before..count {
                out.lock().push((event.reason.clone().unwrap_or_default(), event.note.clone().unwrap_or_default()));
            }
        }
    });
    (seen, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_retry_promote_emits_argos_events_in_argos_order() -> Result<()> {
    let s = Scenario::start("events-abort-retry").await?;
    let (seen, watch) = record(&s);
    s.apply(&rollout_manifest(1, "[{setWeight: 50}, {pause: {duration: 3s}}]", ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", serin_e2e::scenario::IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.patch_status("web", serde_json::json!({"abort": true})).await?;
    s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted").await?;
    s.patch_status("web", serde_json::json!({"abort": false})).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    // Idle reconciles (a resync, a no-op spec touch) add nothing.
    s.cluster.kubectl_ok(&["annotate", "rollout", "web", "touched=yes"])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    watch.abort();

    let seen = seen.lock().clone();
    let reasons: Vec<&str> = seen.iter().map(|(r, _)| r.as_str()).collect();
    let argo = [
        "RolloutUpdated",
        "NewReplicaSetCreated",
        "ScalingReplicaSet",
        "RolloutCompleted",
        "RolloutNotCompleted",
        "RolloutUpdated",
        "NewReplicaSetCreated",
        "ScalingReplicaSet",
        "RolloutStepCompleted",
        "RolloutPaused",
        "ScalingReplicaSet",
        "RolloutAborted",
        "ScalingReplicaSet",
        "RolloutStepCompleted",
        "RolloutPaused",
        "RolloutStepCompleted",
        "RolloutResumed",
        "ScalingReplicaSet",
        "RolloutCompleted",
    ];
    assert_eq!(reasons, argo, "events as emitted: {seen:#?}");
    s.finish().await;
    Ok(())
}

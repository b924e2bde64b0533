//! Canary scenarios: the Serin controller against the cluster (kube-sim, or a real one with `make e2e-real`),
//! driven only through the Kubernetes API, as users and Argo CD drive it.

#![allow(clippy::unwrap_used)]

use anyhow::Result;
use serde_json::json;
use serin_api::rollout::status::{PauseReason, RolloutPhase};
use serin_e2e::scenario::{IMAGE_V1, IMAGE_V2, Scenario, rollout_manifest};

/// The scenarios' Rollout: [`rollout_manifest`] keeping three old revisions.
fn rollout(replicas: i32, steps: &str, extra_spec: &str) -> String {
    rollout_manifest(replicas, steps, &format!("  revisionHistoryLimit: 3\n{extra_spec}"))
}

/// Expected `(image, replicas)` pairs in the order `Scenario::replica_sets` lists them.
fn sorted(mut v: Vec<(String, i32)>) -> Vec<(String, i32)> {
    v.sort();
    v
}

const STEPS: &str = "[{setWeight: 20}, {pause: {}}, {setWeight: 60}, {pause: {duration: 5s}}]";

async fn deployed(test: &str, replicas: i32, steps: &str, extra_spec: &str) -> Result<Scenario> {
    let s = Scenario::start(test).await?;
    s.apply(&rollout(replicas, steps, extra_spec))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    Ok(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_deploy_becomes_healthy() -> Result<()> {
    let s = deployed("initial-deploy", 3, STEPS, "").await?;
    let ro = s.rollout("web").await?;
    let st = ro.status.unwrap();
    assert_eq!(st.stable_rs, st.current_pod_hash);
    assert_eq!(st.current_step_index, Some(4));
    assert_eq!((st.replicas, st.updated_replicas, st.available_replicas), (Some(3), Some(3), Some(3)));
    assert_eq!(st.observed_generation.as_deref(), Some("1"));
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 3)]));
    // Argo CD health and scripts use these.
    s.cluster.kubectl_ok(&["wait", "--for=condition=Healthy", "rollout/web", "--timeout=10s"])?;
    s.cluster.kubectl_ok(&["wait", "--for=condition=Completed", "rollout/web", "--timeout=10s"])?;
    let rs_name = format!("web-{}", st.current_pod_hash.unwrap());
    let revision =
        s.cluster.kubectl_ok(&["get", "rs", &rs_name, "-o", "jsonpath={.metadata.annotations.rollout\\.argoproj\\.io/revision}"])?;
    assert_eq!(revision, "1");
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_update_walks_steps_with_promote() -> Result<()> {
    let s = deployed("walk-steps", 5, STEPS, "").await?;
    s.set_image("web", IMAGE_V2).await?;

    // Given setWeight 20 then an indefinite pause, the rollout pauses with 1 of 5 pods updated.
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let st = ro.status.unwrap();
    assert_eq!(st.current_step_index, Some(1));
    assert_eq!(st.pause_conditions[0].reason, PauseReason::CanaryPauseStep);
    assert_eq!(st.controller_pause, Some(true));
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 4), (IMAGE_V2.into(), 1)]));
    s.cluster.kubectl_ok(&["wait", "--for=condition=Paused", "rollout/web", "--timeout=10s"])?;

    // When promoted, it goes to 60% and pauses 5 s.
    s.promote("web").await?;
    s.wait_for("web", "step 3 (timed pause)", |ro| {
        ro.status.as_ref().is_some_and(|st| st.current_step_index == Some(3) && st.phase == Some(RolloutPhase::Paused))
    })
    .await?;
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 2), (IMAGE_V2.into(), 3)]));

    // Then it finishes by itself: healthy, the new ReplicaSet stable, the old one scaled down.
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    let st = ro.status.unwrap();
    assert_eq!(st.stable_rs, st.current_pod_hash);
    assert_eq!(st.current_step_index, Some(4));
    assert!(st.pause_conditions.is_empty());
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V2.into(), 5)]));
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_returns_to_stable_and_retry_resumes() -> Result<()> {
    let s = deployed("abort-retry", 5, STEPS, "").await?;
    let stable = s.rollout("web").await?.status.unwrap().stable_rs;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;

    s.patch_status("web", json!({"abort": true})).await?;
    let ro = s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 2").await?;
    let st = ro.status.unwrap();
    assert_eq!(st.current_step_index, Some(0));
    assert_eq!(st.stable_rs, stable, "the stable ReplicaSet is untouched");
    assert!(st.aborted_at.is_some());
    s.wait_for("web", "canary scaled down", |ro| ro.status.as_ref().and_then(|st| st.updated_replicas) == Some(0)).await?;
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 5)]));

    // Retry (what `kubectl serin retry` does) resumes the update from step 0.
    s.patch_status("web", json!({"abort": false})).await?;
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    assert_eq!(ro.status.unwrap().current_step_index, Some(1));
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 4), (IMAGE_V2.into(), 1)]));
    s.finish().await;
    Ok(())
}

/// A pod template whose pods never become ready: kube-sim's behaviour annotation, and an image that cannot be
/// pulled on a real cluster.
async fn break_canary(s: &Scenario) -> Result<()> {
    s.patch_spec(
        "web",
        json!({"template": {
            "metadata": {"annotations": {"sim.serin.dev/behavior": "never-ready"}},
            "spec": {"containers": [{"name": "web", "image": "registry.invalid/serin/never-ready:1"}]},
        }}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_ready_canary_exceeds_the_progress_deadline() -> Result<()> {
    let s = deployed("progress-deadline", 2, "[{setWeight: 50}, {pause: {}}]", "  progressDeadlineSeconds: 3\n").await?;
    break_canary(&s).await?;
    let ro = s.wait_phase("web", RolloutPhase::Degraded, "ProgressDeadlineExceeded: ReplicaSet \"web-").await?;
    assert_eq!(ro.status.unwrap().abort, None, "without progressDeadlineAbort the update is only marked failed");
    // Fixing the template starts a clean update.
    s.set_image("web", IMAGE_V2).await?;
    s.patch_spec("web", json!({"template": {"metadata": {"annotations": null}}})).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_abort_aborts() -> Result<()> {
    let s =
        deployed("deadline-abort", 2, "[{setWeight: 50}, {pause: {}}]", "  progressDeadlineSeconds: 3\n  progressDeadlineAbort: true\n")
            .await?;
    break_canary(&s).await?;
    let ro = s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted: Rollout aborted update to revision 2: ReplicaSet").await?;
    assert_eq!(ro.status.unwrap().abort, Some(true));
    s.wait_for("web", "canary scaled down", |ro| ro.status.as_ref().and_then(|st| st.updated_replicas) == Some(0)).await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_is_reported_then_fixed() -> Result<()> {
    let s = deployed("invalid-spec", 2, "[{setWeight: 50}, {pause: {}}]", "").await?;
    let before = s.replica_sets().await?;
    s.patch_spec("web", json!({"strategy": {"canary": {"steps": [{"setWeight": 150}], "maxSurge": 0, "maxUnavailable": 0}}})).await?;
    let ro = s.wait_phase("web", RolloutPhase::Degraded, "InvalidSpec: The Rollout \"web\" is invalid: ").await?;
    let message = ro.status.unwrap().message.unwrap();
    assert!(message.contains("spec.strategy.steps[0].setWeight: Invalid value: 150"), "{message}");
    assert!(message.contains("MaxSurge and MaxUnavailable both can not be zero"), "{message}");
    assert_eq!(s.replica_sets().await?, before, "nothing running is touched");
    s.patch_spec("web", json!({"strategy": {"canary": {"steps": [{"setWeight": 50}], "maxSurge": null, "maxUnavailable": null}}})).await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_restart_mid_pause_neither_repeats_nor_skips() -> Result<()> {
    let mut s = deployed("restart-mid-pause", 4, "[{setWeight: 25}, {pause: {duration: 4s}}, {setWeight: 50}, {pause: {}}]", "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let ro = s
        .wait_for("web", "timed pause", |ro| {
            ro.status.as_ref().is_some_and(|st| st.current_step_index == Some(1) && !st.pause_conditions.is_empty())
        })
        .await?;
    let started = ro.status.unwrap().pause_conditions[0].start_time.clone();
    s.stop_controller().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    s.start_controller();
    // The pause keeps its original start (it is not restarted by the new controller)...
    let now = s.rollout("web").await?.status.unwrap();
    if now.current_step_index == Some(1) {
        assert_eq!(now.pause_conditions.first().map(|c| c.start_time.clone()), Some(started.clone()));
    }
    // ...then the rollout moves on to exactly the next step.
    let ro = s
        .wait_for("web", "step 3", |ro| {
            ro.status.as_ref().is_some_and(|st| st.current_step_index == Some(3) && !st.pause_conditions.is_empty())
        })
        .await?;
    let st = ro.status.unwrap();
    assert_eq!(st.current_step_index, Some(3), "no step skipped or repeated");
    assert_ne!(st.pause_conditions[0].start_time, started);
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 2), (IMAGE_V2.into(), 2)]));
    let events = s.cluster.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "jsonpath={range .items[*]}{.reason}|{.message}{\"\\n\"}{end}",
    ])?;
    let step_2_completions = events.lines().filter(|l| l.starts_with("RolloutStepCompleted|Rollout step 2/4 completed")).count();
    assert_eq!(step_2_completions, 1, "{events}");
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_pause_and_resume() -> Result<()> {
    let s = deployed("manual-pause", 2, "[{setWeight: 50}]", "").await?;
    s.patch_spec("web", json!({"paused": true})).await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "manually paused").await?;
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V1.into(), 2)]));
    s.patch_spec("web", json!({"paused": false})).await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V2.into(), 2)]));
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_rollout_is_reported_and_does_not_stall_the_others() -> Result<()> {
    let s = Scenario::start("malformed").await?;
    // The pod template is schema-light (as in Argo's CRD), so the API server accepts a container field of the wrong
    // type; the object cannot be decoded as a Rollout.
    s.apply(
        &rollout(2, "[]", "")
            .replace("name: web\n", "name: bad\n")
            .replace(&format!("image: {IMAGE_V1}\n"), &format!("image: {IMAGE_V1}\n        imagePullPolicy: [Always]\n")),
    )?;
    s.apply(&rollout(2, "[]", ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    // Read with kubectl: a typed client cannot decode this object either.
    let status = serin_e2e::harness::eventually("bad reported", serin_e2e::harness::wait_timeout(), || async {
        let out = s.cluster.kubectl_ok(&["get", "rollout", "bad", "-o", "jsonpath={.status.phase}|{.status.message}"])?;
        Ok(out.starts_with("Degraded|").then_some(out))
    })
    .await?;
    assert!(status.starts_with("Degraded|InvalidSpec: The Rollout \"bad\" is invalid: "), "{status}");
    assert!(status.contains("spec.template.spec.containers[0].imagePullPolicy: invalid type"), "{status}");
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_at_replaces_every_pod() -> Result<()> {
    let s = deployed("restart-at", 3, "[]", "").await?;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = s.cluster.api();
    let before: Vec<String> = pods.list(&kube::api::ListParams::default()).await?.items.iter().map(kube::ResourceExt::name_any).collect();
    assert_eq!(before.len(), 3);
    // What `kubectl serin restart` (and Argo CD's restart action) writes. Times have whole seconds, so a pod
    // created in the current second is not "before" it: restart from the next second (the controller waits for it).
    let restart_at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1)).to_string();
    let restart_at = &restart_at[..19];
    s.patch_spec("web", json!({"restartAt": format!("{restart_at}Z")})).await?;
    s.wait_for("web", "status.restartedAt", |ro| ro.status.as_ref().is_some_and(|st| st.restarted_at.is_some())).await?;
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(ro.status.unwrap().restarted_at, ro.spec.restart_at);
    let after: Vec<String> = pods
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(kube::ResourceExt::name_any)
        .collect();
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|p| !before.contains(p)), "every pod replaced: {before:?} -> {after:?}");
    s.finish().await;
    Ok(())
}

/// Argo's `TestRolloutBadToGoodSetWeightUpdate`: the running version never becomes ready, and the fix goes out
/// through `setWeight: 50`. The step completes once the stable pods it keeps are created (Argo's
/// `allDesiredAreCreated`), not available, which they never will be: the fix-forward reaches Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_weight_step_completes_while_the_old_version_is_broken() -> Result<()> {
    let s = Scenario::start("bad-to-good-set-weight").await?;
    let broken = rollout(4, "[{setWeight: 50}, {pause: {duration: 2s}}]", "  progressDeadlineSeconds: 5\n")
        .replace("    canary:\n", "    canary:\n      maxSurge: 1\n      maxUnavailable: 0\n")
        .replace(
            "    metadata:\n      labels: {app: web}\n",
            "    metadata:\n      labels: {app: web}\n      annotations: {sim.serin.dev/behavior: never-ready}\n",
        );
    s.apply(&broken)?;
    s.wait_phase("web", RolloutPhase::Degraded, "ProgressDeadlineExceeded").await?;

    // The fix: a good image, the broken behaviour gone.
    s.patch_spec(
        "web",
        json!({"template": {"metadata": {"annotations": null}, "spec": {"containers": [{"name": "web", "image": IMAGE_V2}]}}}),
    )
    .await?;
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(ro.status.unwrap().current_step_index, Some(2));
    assert_eq!(s.replica_sets().await?, sorted(vec![(IMAGE_V2.into(), 4)]));
    s.finish().await;
    Ok(())
}

/// Ready, not-terminating pods of the test namespace.
async fn ready_pods(s: &Scenario) -> Result<usize> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = s.cluster.api();
    Ok(pods
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|st| st.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count())
}

/// Argo's `TestRolloutRestart`: 4 pods with `maxUnavailable: 75%`, paused at `setWeight: 25`, pods ready 3 s after
/// they start. The restart evicts within one budget across the canary and stable ReplicaSets: 3 pods at once, and
/// at least one pod serves throughout (a per-ReplicaSet budget evicted all four within a millisecond).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_one_disruption_budget_across_replica_sets() -> Result<()> {
    let s = Scenario::start("restart-budget").await?;
    let manifest =
        rollout(4, "[{setWeight: 25}, {pause: {}}]", "").replace("    canary:\n", "    canary:\n      maxUnavailable: 75%\n").replace(
            "    metadata:\n      labels: {app: web}\n",
            "    metadata:\n      labels: {app: web}\n      annotations: {sim.serin.dev/behavior: ready-after=3s}\n",
        );
    s.apply(&manifest)?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.wait_for("web", "4 pods available", |ro| ro.status.as_ref().and_then(|st| st.available_replicas) == Some(4)).await?;

    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = s.cluster.api();
    let before: Vec<String> = pods.list(&kube::api::ListParams::default()).await?.items.iter().map(kube::ResourceExt::name_any).collect();
    let restart_at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1)).to_string();
    s.patch_spec("web", json!({"restartAt": format!("{}Z", &restart_at[..19])})).await?;

    let mut fewest = usize::MAX;
    let deadline = tokio::time::Instant::now() + serin_e2e::harness::wait_timeout();
    loop {
        fewest = fewest.min(ready_pods(&s).await?);
        let ro = s.rollout("web").await?;
        if ro.status.as_ref().and_then(|st| st.restarted_at.as_ref()).is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "restart did not finish; status {:#?}", ro.status);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(fewest >= 1, "every pod was down at once during the restart");
    let after: Vec<String> = pods
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(kube::ResourceExt::name_any)
        .collect();
    assert_eq!(after.len(), 4);
    assert!(after.iter().all(|p| !before.contains(p)), "every pod replaced: {before:?} -> {after:?}");
    assert_eq!(s.rollout("web").await?.status.unwrap().phase, Some(RolloutPhase::Paused), "still paused at its step");
    s.finish().await;
    Ok(())
}

/// A controller stopped before its caches are filled (a SIGTERM during start-up) shuts down instead of waiting for
/// a first list its stopped watches will never deliver; one stopped while running finishes its work and stops too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_stops_whether_or_not_its_caches_are_filled() -> Result<()> {
    let mut s = Scenario::start("stop-while-starting").await?;
    assert!(s.stop_controller().await, "stopped during start-up, the controller never finished");
    s.start_controller();
    s.apply(&rollout(1, "[]", ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert!(s.stop_controller().await, "stopped while running, the controller never finished");
    s.finish().await;
    Ok(())
}

//! High availability: two `serin-controller` processes electing a leader on a Lease. Only the leader writes; a
//! leader killed mid-rollout (SIGKILL) is replaced within the lease duration and the rollout finishes with every step
//! completed exactly once; a leader frozen (SIGSTOP) past its lease wakes up (SIGCONT) to a closed fence and sends
//! nothing before it exits.
//!
//! On kube-sim, every request is attributed to the process that sent it (its User-Agent) through `/sim/requests`;
//! on a real API server the processes' own request counters and the Events' `reportingInstance` tell them apart.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::harness::{SimControls, TempDir, eventually, wait_timeout};
use serin_e2e::process::{ControllerProcess, LeaseTimings};
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};

const STEPS: &str = "[{setWeight: 25}, {pause: {}}, {setWeight: 50}, {pause: {duration: 4s}}, {setWeight: 75}, {pause: {duration: 2s}}]";
const STEP_COUNT: usize = 6;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_serin-controller-e2e"))
}

/// Write requests kube-sim saw from client `name`.
async fn writes_by(sim: &SimControls, name: &str) -> Result<u64> {
    let requests = sim.get("/sim/requests").await?;
    Ok(requests["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["client"] == name && ["create", "update", "patch", "delete"].contains(&e["verb"].as_str().unwrap_or_default()))
        .filter(|e| e["resource"] != "leases")
        .filter_map(|e| e["count"].as_u64())
        .sum())
}

/// The Rollout's Events of `reason`: `(note, count, reportingInstance)`.
async fn events(s: &Scenario, reason: &str) -> Result<Vec<(String, i32, String)>> {
    let list = s.cluster.api::<Event>().list(&ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
        .map(|e| {
            let count = e.series.as_ref().map_or(1, |s| s.count);
            (e.note.unwrap_or_default(), count, e.reporting_instance.unwrap_or_default())
        })
        .collect())
}

/// Starts replica `name` and waits until its caches are synced.
async fn replica(s: &Scenario, dir: &TempDir, name: &str) -> Result<ControllerProcess> {
    let process = ControllerProcess::start(
        binary(),
        name,
        s.cluster.kubeconfig(),
        &s.cluster.namespace,
        &s.instance_id,
        LeaseTimings::default(),
        dir.path(),
    )?;
    eventually(&format!("{name} ready"), wait_timeout(), || async { Ok(process.ready().await.then_some(())) }).await?;
    Ok(process)
}

async fn leads(process: &ControllerProcess) -> Result<()> {
    eventually(&format!("{} to lead", process.name), wait_timeout(), || async { Ok(process.leads().await.then_some(())) })
        .await
        .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", process.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_killed_leader_is_replaced_mid_rollout() -> Result<()> {
    let mut s = Scenario::start("ha-failover").await?;
    assert!(s.stop_controller().await);
    let dir = TempDir::new("ha-failover")?;
    let a = replica(&s, &dir, "serin-a").await?;
    leads(&a).await?;
    let b = replica(&s, &dir, "serin-b").await?;
    assert!(!b.leads().await, "two leaders");

    s.apply(&rollout_manifest(4, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.promote("web").await?;
    s.wait_for("web", "in the timed pause at step 3", |ro| ro.status.as_ref().and_then(|st| st.current_step_index) == Some(3)).await?;

    // Only the leader wrote so far.
    assert_eq!(b.reported_writes().await, Some(0), "the standby reports writes");
    assert!(a.reported_writes().await.unwrap_or(0) > 0);
    if let Some(sim) = s.cluster.sim() {
        assert_eq!(writes_by(&sim, "serin-b").await?, 0, "kube-sim saw writes from the standby");
        assert!(writes_by(&sim, "serin-a").await? > 0);
    }

    // The leader dies without releasing its Lease; the standby takes over once the lease has run out.
    a.signal("KILL")?;
    leads(&b).await?;
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(ro.status.unwrap().current_step_index, Some(i32::try_from(STEP_COUNT).unwrap()));

    // Every step completed exactly once, across both leaders.
    let completed = events(&s, "RolloutStepCompleted").await?;
    for step in 1..=STEP_COUNT {
        let prefix = format!("Rollout step {step}/{STEP_COUNT} completed");
        let matching: Vec<_> = completed.iter().filter(|(note, _, _)| note.starts_with(&prefix)).collect();
        assert_eq!(matching.len(), 1, "step {step}: {completed:?}");
        assert_eq!(matching[0].1, 1, "step {step} completed more than once: {completed:?}");
    }
    assert!(completed.iter().any(|(_, _, who)| who == "serin-a") && completed.iter().any(|(_, _, who)| who == "serin-b"), "{completed:?}");
    // One update, one new ReplicaSet.
    assert_eq!(s.cluster.api::<ReplicaSet>().list(&ListParams::default()).await?.items.len(), 2);
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_sends_nothing_after_its_lease_is_taken() -> Result<()> {
    let mut s = Scenario::start("ha-frozen").await?;
    assert!(s.stop_controller().await);
    let dir = TempDir::new("ha-frozen")?;
    let mut a = replica(&s, &dir, "serin-a").await?;
    leads(&a).await?;
    let b = replica(&s, &dir, "serin-b").await?;

    s.apply(&rollout_manifest(4, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    s.promote("web").await?;
    s.wait_for("web", "in the timed pause at step 3", |ro| ro.status.as_ref().and_then(|st| st.current_step_index) == Some(3)).await?;

    // Frozen in the middle of a timed pause: its requeue at the pause's end is due while it sleeps.
    a.signal("STOP")?;
    let sim = s.cluster.sim();
    let frozen_writes = match &sim {
        Some(sim) => Some(writes_by(sim, "serin-a").await?),
        None => None,
    };
    leads(&b).await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;

    // It wakes up to a closed fence: it sends nothing and exits, to come back as a candidate.
    a.signal("CONT")?;
    let status = a.wait_exit(wait_timeout()).await;
    assert!(status.is_some_and(|st| !st.success()), "the deposed leader did not exit: {status:?}\n{}", a.log());
    assert!(a.log().contains("lost leadership"), "{}", a.log());
    if let (Some(sim), Some(before)) = (&sim, frozen_writes) {
        assert_eq!(writes_by(sim, "serin-a").await?, before, "the deposed leader wrote after waking up");
    }
    // Nothing it would have recorded either: every Event after the freeze comes from the new leader.
    let from_a =
        events(&s, "RolloutCompleted").await?.into_iter().filter(|(note, _, who)| who == "serin-a" && note.contains("revision 2")).count();
    assert_eq!(from_a, 0);
    assert!(b.leads().await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.finish().await;
    Ok(())
}

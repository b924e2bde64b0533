//! `kubectl serin` through the real `kubectl` (plugin discovery on `PATH`) against the cluster (kube-sim, or a real
//! one with `make e2e-real`) with the Serin controller running: the commands operators and CI pipelines use.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use anyhow::Result;
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::scenario::{IMAGE_V1, IMAGE_V2, Scenario, rollout_manifest};

/// Runs `kubectl serin <args>` in the scenario's namespace, with this build's `kubectl-serin` first on `PATH`.
fn serin(s: &Scenario, args: &[&str]) -> Result<Output> {
    let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-serin"));
    let path = format!("{}:{}", plugin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut full = vec!["serin"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-n", &s.cluster.namespace]);
    Ok(std::process::Command::new("kubectl").env("KUBECONFIG", s.cluster.kubeconfig()).env("PATH", path).args(&full).output()?)
}

fn ok(s: &Scenario, args: &[&str]) -> Result<String> {
    let out = serin(s, args)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "kubectl serin {} failed: {}{stdout}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(stdout)
}

const STEPS: &str = "[{setWeight: 20}, {pause: {}}, {setWeight: 60}, {pause: {}}]";

async fn deployed(test: &str) -> Result<Scenario> {
    let s = Scenario::start(test).await?;
    s.apply(&rollout_manifest(5, STEPS, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    Ok(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_promote_abort_retry_and_promote_full() -> Result<()> {
    let s = deployed("plugin-walk").await?;
    let out = ok(&s, &["set", "image", "web", &format!("web={IMAGE_V2}")])?;
    assert!(out.contains("image updated"), "{out}");
    s.wait_for("web", "paused at step 1", |ro| {
        ro.status.as_ref().is_some_and(|st| st.current_step_index == Some(1) && st.phase == Some(RolloutPhase::Paused))
    })
    .await?;

    assert!(ok(&s, &["promote", "web"])?.contains("rollout 'web' promoted"));
    s.wait_for("web", "paused at step 3", |ro| {
        ro.status.as_ref().is_some_and(|st| st.current_step_index == Some(3) && st.phase == Some(RolloutPhase::Paused))
    })
    .await?;

    ok(&s, &["abort", "web"])?;
    s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted").await?;
    // CI gate: a Degraded rollout fails `status`.
    let status = serin(&s, &["status", "web", "--timeout", "10s"])?;
    assert_eq!(status.status.code(), Some(1), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(String::from_utf8_lossy(&status.stderr).contains("The rollout is in a degraded state with message: RolloutAborted"));

    ok(&s, &["retry", "rollout", "web"])?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    assert!(ok(&s, &["promote", "web", "--full"])?.contains("fully promoted"));
    let out = ok(&s, &["status", "web", "--timeout", "60s"])?;
    assert!(out.trim_end().ends_with("Healthy"), "{out}");
    assert_eq!(s.replica_sets().await?, vec![(IMAGE_V2.to_owned(), 5)]);
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_times_out_on_a_paused_rollout_and_pause_resume_work() -> Result<()> {
    let s = deployed("plugin-status").await?;
    ok(&s, &["set", "image", "web", &format!("*={IMAGE_V2}")])?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let out = serin(&s, &["status", "web", "--timeout", "2s"])?;
    assert_eq!(out.status.code(), Some(3), "timeout exit code");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Rollout status watch exceeded timeout"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Paused - CanaryPauseStep"));

    // --timeout 0 waits forever (as Argo's): here, until the --watch=false print-once returns.
    let once = serin(&s, &["status", "web", "--watch=false", "--timeout", "0"])?;
    assert_eq!(once.status.code(), Some(0));

    // pause / resume touch spec.paused only: the rollout stays at its step.
    ok(&s, &["pause", "web"])?;
    assert_eq!(s.rollout("web").await?.spec.paused, Some(true));
    ok(&s, &["resume", "web"])?;
    let ro = s.rollout("web").await?;
    assert_ne!(ro.spec.paused, Some(true));
    assert_eq!(ro.status.unwrap().current_step_index, Some(1), "resume does not skip a step");
    // -w takes no value from the next word.
    let out = serin(&s, &["status", "-w", "web", "--timeout", "1s"])?;
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_goes_back_to_the_previous_template() -> Result<()> {
    let s = Scenario::start("plugin-undo").await?;
    s.apply(&rollout_manifest(3, "[]", ""))?;
    let v1 = s.wait_phase("web", RolloutPhase::Healthy, "").await?.status.unwrap().stable_rs.unwrap();
    ok(&s, &["set", "image", "web", &format!("web={IMAGE_V2}")])?;
    s.wait_for("web", "v2 healthy", |ro| {
        ro.status.as_ref().is_some_and(|st| st.phase == Some(RolloutPhase::Healthy) && st.stable_rs == st.current_pod_hash)
            && ro.metadata.annotations.as_ref().and_then(|a| a.get("rollout.argoproj.io/revision")).map(String::as_str) == Some("2")
    })
    .await?;
    ok(&s, &["undo", "web"])?;
    s.wait_for("web", "back on v1", |ro| {
        ro.spec.template.as_ref().and_then(|t| t.spec.as_ref()).and_then(|sp| sp.containers[0].image.as_deref()) == Some(IMAGE_V1)
            && ro.status.as_ref().is_some_and(|st| st.phase == Some(RolloutPhase::Healthy) && st.stable_rs == st.current_pod_hash)
    })
    .await?;
    assert_eq!(s.replica_sets().await?, vec![(IMAGE_V1.to_owned(), 3)]);
    // The old ReplicaSet is back in service (same pod-template hash), not a copy of it.
    let ro = s.rollout("web").await?;
    assert_eq!(ro.status.unwrap().stable_rs.as_deref(), Some(v1.as_str()));
    let rss = s.cluster.api::<k8s_openapi::api::apps::v1::ReplicaSet>().list(&kube::api::ListParams::default()).await?;
    assert_eq!(rss.items.len(), 2, "no third ReplicaSet");
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_rollout_and_namespace() -> Result<()> {
    let s = Scenario::start("plugin-errors").await?;
    let out = serin(&s, &["promote", "nope"])?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("rollout \"nope\" not found in namespace \"{}\"", s.cluster.namespace)), "{stderr}");
    let out = serin(&s, &["set", "image", "nope", "web"])?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected CONTAINER=IMAGE"), "{}", String::from_utf8_lossy(&out.stderr));
    s.finish().await;
    Ok(())
}

/// `get rollout --watch` in a pseudo-terminal (`script`), over a live canary: frames are redrawn in place and
/// follow the rollout from Healthy to the pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_rollout_watch_redraws_in_place_in_a_terminal() -> Result<()> {
    let s = deployed("plugin-get-watch").await?;
    let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-serin"));
    let path = format!("{}:{}", plugin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let command = format!("kubectl serin get rollout web --watch --no-color -n {}", s.cluster.namespace);
    let child = tokio::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("KUBECONFIG", s.cluster.kubeconfig())
        .env("PATH", path)
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    ok(&s, &["set", "image", "web", &format!("web={IMAGE_V2}")])?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let pid = child.id().unwrap();
    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    let out = child.wait_with_output().await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\u{1b}[H\u{1b}[2J"), "redrawn in place (clear screen between frames)");
    let frames: Vec<&str> = text.split("\u{1b}[H\u{1b}[2J").collect();
    assert!(frames.first().is_some_and(|f| f.contains("✔ Healthy")), "first frame: {}", frames[0]);
    let last = frames.last().unwrap();
    assert!(last.contains("॥ Paused") && last.contains("Step:          1/4") && last.contains("canary"), "last frame: {last}");
    s.finish().await;
    Ok(())
}

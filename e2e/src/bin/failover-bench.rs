//! `failover-bench`: how long Rollouts go unattended when the leader goes away. Two `serin-controller` processes
//! (the e2e package's copy, the same program) with Argo's lease timings (15 s lease, 10 s renew deadline, 2 s retry)
//! over kube-sim; the leader is stopped, gracefully (SIGTERM: it releases the Lease) or not (SIGKILL), while a
//! Rollout waits at a pause. Reported per run: until the standby leads, and until a promote sent right after the
//! stop is acted on (the step index moves). Figures, not pass/fail: `make bench` writes `target/bench/failover.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use serin_api::Rollout;
use serin_e2e::harness::{Cluster, TempDir};
use serin_e2e::process::{ControllerProcess, LeaseTimings};
use serin_e2e::scenario::IMAGE_V2;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Failover timing of two serin-controller replicas.
#[derive(Debug, Parser)]
struct Args {
    /// Runs per kind of stop.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const STEPS: &str = "[{setWeight: 25}, {pause: {}}, {setWeight: 50}, {pause: {}}, {setWeight: 75}, {pause: {}}]";

fn controller_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let binary = me.with_file_name("serin-controller-e2e");
    if !binary.is_file() {
        bail!("{} is missing: build it with `cargo build --release -p serin-e2e --bin serin-controller-e2e`", binary.display());
    }
    Ok(binary)
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{what}: not within {limit:?}")
}

async fn step_index(cluster: &Cluster) -> Option<i32> {
    cluster.api::<Rollout>().get("web").await.ok()?.status?.current_step_index
}

/// One failover: `(until the standby leads, until a promote sent at the stop is acted on)`.
async fn failover(signal: &str, run: usize, binary: &std::path::Path) -> Result<(Duration, Duration)> {
    let cluster = Cluster::new(&format!("failover-{}-{run}", signal.to_ascii_lowercase())).await?;
    let dir = TempDir::new("failover-bench")?;
    cluster.kubectl_ok(&["apply", "-k", concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/crds")])?;
    cluster.kubectl_ok(&["wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=30s"])?;
    let ns = cluster.namespace.clone();
    let timings = LeaseTimings { lease: Duration::from_secs(15), renew: Duration::from_secs(10), retry: Duration::from_secs(2) };
    let a = ControllerProcess::start(binary, "serin-a", cluster.kubeconfig(), &ns, &ns, timings, dir.path())?;
    until("serin-a leads", Duration::from_secs(60), async || a.leads().await).await?;
    let b = ControllerProcess::start(binary, "serin-b", cluster.kubeconfig(), &ns, &ns, timings, dir.path())?;
    until("serin-b ready", Duration::from_secs(60), async || b.ready().await).await?;

    let manifest = serin_e2e::scenario::rollout_manifest(2, STEPS, "").replace(
        "kind: Rollout\nmetadata:\n",
        &format!("kind: Rollout\nmetadata:\n  labels:\n    {}: {ns}\n", serin_api::labels::CONTROLLER_INSTANCE_ID),
    );
    cluster.apply_yaml(&manifest, &[])?;
    let rollouts = cluster.api::<Rollout>();
    until("Healthy", Duration::from_secs(60), async || {
        rollouts.get("web").await.ok().and_then(|r| r.status?.phase).is_some_and(|p| p.as_str() == "Healthy")
    })
    .await?;
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": IMAGE_V2}]}}}});
    rollouts.patch("web", &PatchParams::default(), &Patch::Merge(&image)).await?;
    until("paused at step 1", Duration::from_secs(60), async || step_index(&cluster).await == Some(1)).await?;
    // Let the standby see the Lease renewed a few times, as it would in a long-running install.
    tokio::time::sleep(Duration::from_secs(5)).await;

    a.signal(signal)?;
    let stopped = Instant::now();
    rollouts.patch_status("web", &PatchParams::default(), &Patch::Merge(&json!({"status": {"pauseConditions": null}}))).await?;
    until("serin-b leads", Duration::from_secs(60), async || b.leads().await).await?;
    let leads = stopped.elapsed();
    until("the promote acted on", Duration::from_secs(60), async || step_index(&cluster).await.is_some_and(|i| i >= 3)).await?;
    let acted = stopped.elapsed();
    drop((a, b));
    cluster.cleanup().await;
    Ok((leads, acted))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = controller_binary()?;
    let mut table = String::from(
        "| leader stopped by | runs | standby leads after (min / median / max) | promote acted on after (min / median / max) |\n|---|---|---|---|\n",
    );
    for (signal, label) in [("TERM", "SIGTERM (graceful: Lease released)"), ("KILL", "SIGKILL (Lease runs out)")] {
        let mut leads = Vec::new();
        let mut acted = Vec::new();
        for run in 0..args.runs {
            let (l, a) = failover(signal, run, &binary).await.with_context(|| format!("{label}, run {run}"))?;
            eprintln!("{label} run {run}: leads after {l:.2?}, promote acted on after {a:.2?}");
            leads.push(l);
            acted.push(a);
        }
        leads.sort();
        acted.sort();
        let fmt = |v: &[Duration]| {
            format!("{:.1} s / {:.1} s / {:.1} s", v[0].as_secs_f64(), v[v.len() / 2].as_secs_f64(), v[v.len() - 1].as_secs_f64())
        };
        let _ = writeln!(table, "| {label} | {} | {} | {} |", args.runs, fmt(&leads), fmt(&acted));
    }
    let report = format!(
        "# Leader failover\n\nTwo serin-controller processes on kube-sim, Argo's lease timings (lease 15 s, renew deadline 10 s, \
         retry 2 s); a Rollout paused at a step, promoted right after the leader is stopped.\n\n{table}"
    );
    println!("{report}");
    let out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/failover.md"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &report)?;
    eprintln!("written to {}", out.display());
    Ok(())
}

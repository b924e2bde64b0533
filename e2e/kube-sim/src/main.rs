//! `kube-sim`: runs the simulated Kubernetes API server until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kube_sim::control_plane::{ControlPlaneConfig, parse_duration};
use kube_sim::{KubeSim, SimConfig};

// mimalloc returns freed memory to the OS far better than glibc malloc under many tokio workers, so RSS
// tracks the objects stored instead of transient request parsing (measured by `make bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A simulated Kubernetes API server and control plane for Serin's tests and demo.
#[derive(Debug, Parser)]
#[command(name = "kube-sim", version)]
struct Args {
    /// Port to bind on 127.0.0.1 (0 = pick a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig for this server here (usable by kubectl, kube-rs and kubectl-serin).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Persist the object store in this directory (loaded at start, saved every 2 s and at shutdown).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Disable the simulated controllers (`ReplicaSet`, kubelet, Job, Endpoints, garbage collector).
    #[arg(long)]
    no_control_plane: bool,
    /// Delay before a healthy pod becomes Ready (Go duration: 500ms, 2s).
    #[arg(long, default_value = "500ms", value_parser = duration)]
    pod_ready_delay: Duration,
    /// Default run time of a Job without a behaviour annotation.
    #[arg(long, default_value = "1s", value_parser = duration)]
    job_duration: Duration,
    /// Watch history length; resuming from an older revision gets 410 Gone.
    #[arg(long, default_value_t = 50_000)]
    history_limit: usize,
    /// Interval between watch bookmarks.
    #[arg(long, default_value = "5s", value_parser = duration)]
    bookmark_interval: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("invalid duration {s:?} (examples: 500ms, 2s, 1m)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let args = Args::parse();
    let sim = KubeSim::start_with(SimConfig {
        port: args.port,
        control_plane: !args.no_control_plane,
        timings: ControlPlaneConfig {
            pod_ready_delay: args.pod_ready_delay,
            job_duration: args.job_duration,
            ..ControlPlaneConfig::default()
        },
        history_limit: args.history_limit,
        bookmark_interval: args.bookmark_interval,
        state_dir: args.state_dir,
    })
    .await
    .context("starting kube-sim")?;
    if let Some(path) = &args.kubeconfig {
        sim.write_kubeconfig(path).with_context(|| format!("writing kubeconfig {}", path.display()))?;
    }
    println!("kube-sim listening on {}", sim.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    sim.shutdown().await.context("shutting down")?;
    Ok(())
}

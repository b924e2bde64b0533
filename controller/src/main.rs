//! `serin-controller`: the Serin Rollout controller binary.

// Doc comments on the arguments are the `--help` text, where backticks would show literally.
#![allow(clippy::doc_markdown)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serin_controller::telemetry::{self, LogFormat};
use serin_controller::{Settings, run};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Progressive delivery for Kubernetes: runs Argo Rollouts-compatible Rollouts.
#[derive(Debug, Parser)]
#[command(name = "serin-controller", version)]
struct Args {
    /// Kubeconfig file; default: in-cluster config, else $KUBECONFIG, else ~/.kube/config.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (namespaced install); default: all namespaces.
    #[arg(long, env = "SERIN_NAMESPACE")]
    namespace: Option<String>,
    /// Handle only Rollouts labelled argo-rollouts.argoproj.io/controller-instance-id=<ID>; without it, only
    /// Rollouts without that label.
    #[arg(long, env = "SERIN_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Log filter (an EnvFilter directive such as `info` or `serin_controller=debug`); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    health_addr: SocketAddr,
    /// Seconds between resyncs of an idle Rollout.
    #[arg(long, default_value_t = 900)]
    resync_seconds: u64,
    /// Rollouts reconciled concurrently.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(&args.log_level, args.log_format);
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await.context("no kubeconfig: pass --kubeconfig or run in a cluster")?,
    };
    let client = kube::Client::try_from(config)?;
    let settings = Settings {
        namespace: args.namespace,
        instance_id: args.instance_id,
        health_addr: Some(args.health_addr),
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        concurrency: args.concurrency.max(1),
    };
    run(client, settings, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

//! The `serin-controller` command line: flags (Argo Rollouts' where they exist), the client, leader election, and
//! [`crate::run`]. Shared by the `serin-controller` binary and the e2e tests' copy of it, which must be the same
//! program.

// Doc comments on the arguments are the `--help` text, where backticks would show literally.
#![allow(clippy::doc_markdown)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::leader::LeaderElection;
use crate::telemetry::{self, LogFormat};
use crate::{Settings, run};

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The kubeconfig could not be read.
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: kube::config::KubeconfigError,
    },
    /// No configuration: neither a kubeconfig nor an in-cluster environment.
    #[error("no kubeconfig: pass --kubeconfig or run in a cluster: {0}")]
    Infer(#[source] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The controller stopped with an error (lost leadership included).
    #[error(transparent)]
    Run(#[from] crate::watch::RunError),
}

/// Progressive delivery for Kubernetes: runs Argo Rollouts-compatible Rollouts.
#[derive(Debug, Parser)]
#[command(name = "serin-controller", version)]
pub struct Args {
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
    /// User-Agent of the controller's API requests (what audit logs and API priority rules see).
    #[arg(long, default_value = concat!("serin-controller/", env!("CARGO_PKG_VERSION")))]
    user_agent: String,
    /// Address of /metrics (Argo Rollouts' metric names).
    #[arg(long, default_value = "0.0.0.0:8090")]
    metrics_addr: SocketAddr,
    /// Elect a leader among replicas on a coordination.k8s.io/v1 Lease; only the leader writes.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the Lease (Argo Rollouts' own, so the two never both lead during a migration).
    #[arg(long, default_value = crate::leader::DEFAULT_LEASE_NAME)]
    leader_election_lease_name: String,
    /// Namespace of the Lease; default: the controller's own (POD_NAMESPACE, else the service account's).
    #[arg(long, env = "POD_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// How long a Lease holds without renewal before a standby may take it (Go duration).
    #[arg(long, default_value = "15s", value_parser = go_duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader keeps writing after its last successful renewal; must be below the lease duration.
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    leader_election_renew_deadline: Duration,
    /// How often standbys try to acquire and the leader renews.
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    leader_election_retry_period: Duration,
}

/// A Go duration flag (`15s`, `1m30s`).
fn go_duration(text: &str) -> Result<Duration, String> {
    let parsed = serin_api::GoDuration::parse(text).map_err(|e| e.to_string())?;
    parsed.to_std().ok_or_else(|| format!("{text}: must not be negative"))
}

/// The namespace the controller runs in, when it runs in a cluster.
fn own_namespace() -> Option<String> {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok().map(|ns| ns.trim().to_owned())
}

/// This process's identity in the Lease: the pod name (or host name) and a random suffix, unique per process.
fn identity() -> String {
    let host = std::env::var("POD_NAME").ok().or_else(|| std::fs::read_to_string("/etc/hostname").ok()).unwrap_or_default();
    let suffix: String = (0..8).map(|_| char::from(b"bcdfghjklmnpqrstvwxz2456789"[rand::random_range(0..27)])).collect();
    format!("{}_{suffix}", host.trim())
}

/// Parses the process's arguments, installs logging and runs the controller until SIGINT or SIGTERM.
pub async fn main() -> Result<(), CliError> {
    let args = Args::parse();
    telemetry::init(&args.log_level, args.log_format);
    run_with(args, shutdown_signal()).await
}

/// Runs the controller with `args` until `shutdown`.
pub async fn run_with(args: Args, shutdown: impl Future<Output = ()> + Send + Sync + 'static) -> Result<(), CliError> {
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig =
                kube::config::Kubeconfig::read_from(path).map_err(|source| CliError::Kubeconfig { path: path.clone(), source })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|source| CliError::Kubeconfig { path: path.clone(), source })?
        }
        None => kube::Config::infer().await.map_err(CliError::Infer)?,
    };
    if let Ok(agent) = http::HeaderValue::from_str(&args.user_agent) {
        config.headers.push((http::header::USER_AGENT, agent));
    }
    let default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config).map_err(CliError::Client)?;
    let leader_election = args.leader_elect.then(|| {
        let namespace = args.leader_election_namespace.clone().or_else(own_namespace).unwrap_or(default_namespace);
        LeaderElection {
            lease_name: args.leader_election_lease_name.clone(),
            namespace,
            identity: identity(),
            lease_duration: args.leader_election_lease_duration,
            renew_deadline: args.leader_election_renew_deadline,
            retry_period: args.leader_election_retry_period,
        }
    });
    let settings = Settings {
        namespace: args.namespace,
        instance_id: args.instance_id,
        health_addr: Some(args.health_addr),
        metrics_addr: Some(args.metrics_addr),
        resync: Duration::from_secs(args.resync_seconds.max(1)),
        concurrency: args.concurrency.max(1),
        leader_election,
        reporting_instance: std::env::var("POD_NAME").ok(),
    };
    run(client, settings, shutdown).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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

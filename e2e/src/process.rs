//! `serin-controller` as a separate process (the e2e package's copy, `serin-controller-e2e`, the same program), for
//! what an in-process controller cannot show: two replicas electing a leader, a leader killed with SIGKILL or
//! frozen with SIGSTOP. Each process gets its own User-Agent, so kube-sim's `/sim/requests` attributes every request
//! to the replica that sent it, and its own pod name (`POD_NAME`, the Events' `reportingInstance`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Lease timings for tests: failover within seconds instead of Argo's 15 s lease.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTimings {
    /// `--leader-election-lease-duration`.
    pub lease: Duration,
    /// `--leader-election-renew-deadline`.
    pub renew: Duration,
    /// `--leader-election-retry-period`.
    pub retry: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self { lease: Duration::from_secs(3), renew: Duration::from_secs(2), retry: Duration::from_millis(500) }
    }
}

fn go(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// A running controller process.
pub struct ControllerProcess {
    /// Its name: User-Agent product and `POD_NAME`.
    pub name: String,
    child: Child,
    metrics_port: u16,
    health_port: u16,
    log: PathBuf,
}

impl ControllerProcess {
    /// Starts `binary` (the test's `env!("CARGO_BIN_EXE_serin-controller-e2e")`) as a replica named `name` against the
    /// cluster of `kubeconfig`, handling Rollouts of `namespace` labelled with `instance_id`, electing its leader on
    /// a Lease in `namespace`. Its log goes to `log_dir/<name>.log`.
    pub fn start(
        binary: &Path,
        name: &str,
        kubeconfig: &Path,
        namespace: &str,
        instance_id: &str,
        timings: LeaseTimings,
        log_dir: &Path,
    ) -> Result<Self> {
        let (metrics_port, health_port) = (free_port()?, free_port()?);
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(binary)
            .args(["--kubeconfig", &kubeconfig.display().to_string()])
            .args(["--namespace", namespace, "--instance-id", instance_id])
            .args(["--leader-election-namespace", namespace])
            .args(["--leader-election-lease-duration", &go(timings.lease)])
            .args(["--leader-election-renew-deadline", &go(timings.renew)])
            .args(["--leader-election-retry-period", &go(timings.retry)])
            .args(["--user-agent", &format!("{name}/e2e")])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,serin_controller=debug")
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { name: name.to_owned(), child, metrics_port, health_port, log })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `/metrics`, or `None` when it does not answer.
    pub async fn metrics(&self) -> Option<String> {
        http_get(self.metrics_port, "/metrics").await.ok()
    }

    /// Whether it reports itself the leader.
    pub async fn leads(&self) -> bool {
        self.metrics().await.is_some_and(|m| m.lines().any(|l| l == "serin_controller_leader 1.0"))
    }

    /// Whether `/readyz` answers 200 (caches synced).
    pub async fn ready(&self) -> bool {
        http_get(self.health_port, "/readyz").await.is_ok()
    }

    /// Write requests (Create, Update, Patch, Delete) it reports having sent, Lease renewals aside.
    pub async fn reported_writes(&self) -> Option<u64> {
        let metrics = self.metrics().await?;
        Some(
            metrics
                .lines()
                .filter(|l| l.starts_with("controller_clientset_k8s_request_total{") && !l.contains("kind=\"leases\""))
                .filter(|l| ["Create", "Update", "Patch", "Delete"].iter().any(|v| l.contains(&format!("verb=\"{v}\""))))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum(),
        )
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -{signal} {} failed", self.child.id());
        }
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET on loopback; the body when the status is 2xx.
async fn http_get(port: u16, path: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let mut stream = tokio::time::timeout(Duration::from_secs(2), connect).await??;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 2") {
        bail!("GET {path}: {head}");
    }
    // axum answers with a Content-Length body; nothing chunked to undo.
    Ok(body.to_owned())
}

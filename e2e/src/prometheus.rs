//! A real Prometheus server for tests and the demo: the `prometheus` binary, started on a free loopback port with a
//! generated configuration (one job `traffic`, scraping the given targets every second) and its own temporary
//! storage, stopped and removed on drop. Each test starts its own, so tests run side by side.
//!
//! What it touches: it runs one child process and writes only inside its temporary directory. The binary comes from
//! `SERIN_PROMETHEUS_BIN`, else `PATH`, else `/usr/bin/prometheus`; without it, starting fails with the install hint
//! (CI installs the Debian package).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use prometheus_http_query::response::Data;

use crate::harness::{TempDir, eventually};

/// Environment variable naming the `prometheus` binary to use.
pub const PROMETHEUS_BIN_ENV: &str = "SERIN_PROMETHEUS_BIN";
/// The scrape job of the targets given to [`PrometheusServer::start`].
pub const JOB: &str = "traffic";
const FALLBACK_BIN: &str = "/usr/bin/prometheus";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const TARGETS_TIMEOUT: Duration = Duration::from_secs(20);
const LAUNCH_ATTEMPTS: u32 = 3;

/// Runs Prometheus (`"$@"`) as a child of a shell that kills it with SIGKILL as soon as its standard input closes:
/// when the handle is dropped, and also when the test process dies without unwinding (a timeout's SIGKILL), so no
/// Prometheus outlives its test. The shell exits with Prometheus' status, which is how an early exit is noticed.
/// (A background job's stdin is /dev/null unless redirected, hence the copy on fd 3.)
const SUPERVISOR: &str = r#"exec 3<&0
"$@" </dev/null &
child=$!
( read -r _ <&3; kill -9 "$child" 2>/dev/null ) &
watcher=$!
wait "$child"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// The `prometheus` binary: `$SERIN_PROMETHEUS_BIN`, else the first on `PATH`, else `/usr/bin/prometheus`.
pub fn find_binary() -> anyhow::Result<PathBuf> {
    if let Some(explicit) = std::env::var_os(PROMETHEUS_BIN_ENV) {
        let path = PathBuf::from(explicit);
        if path.is_file() {
            return Ok(path);
        }
        bail!("{PROMETHEUS_BIN_ENV}={} is not a file: point it at a prometheus binary, or unset it", path.display());
    }
    let on_path =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("prometheus")).find(|p| p.is_file()));
    if let Some(path) = on_path {
        return Ok(path);
    }
    let fallback = Path::new(FALLBACK_BIN);
    if fallback.is_file() {
        return Ok(fallback.to_owned());
    }
    bail!(
        "the prometheus binary was not found (looked at ${PROMETHEUS_BIN_ENV}, PATH and {FALLBACK_BIN}): \
         install it with `apt-get install prometheus` (CI does), or set {PROMETHEUS_BIN_ENV} to its path"
    )
}

/// The configuration file: 1 s scrape and evaluation intervals, job [`JOB`] with the static targets.
pub fn config_yaml(job: &str, targets: &[String]) -> String {
    // JSON is YAML: this quotes the targets correctly whatever they contain.
    let targets = serde_json::to_string(targets).unwrap_or_else(|_| "[]".to_owned());
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: {targets}\n"
    )
}

/// A free port on 127.0.0.1 (free when asked: Prometheus binds it a moment later, so a clash is retried).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port for Prometheus")?;
    Ok(listener.local_addr()?.port())
}

/// reqwest is built with rustls but no bundled crypto provider, and panics when it finds no process default, even
/// for plain http. Building a kube client installs the one the workspace's rustls features name (ring) as the
/// process default; do that, without any I/O, before the first reqwest client. (serin-e2e does not depend on rustls
/// directly, so it cannot install the provider itself.)
fn ensure_crypto_provider() -> anyhow::Result<()> {
    let config = kube::Config::new(http::Uri::from_static("http://127.0.0.1:1"));
    drop(kube::Client::try_from(config).context("initialising the TLS crypto provider")?);
    Ok(())
}

fn read_log(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    // The tail says why it stopped; a full log would drown the test output.
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Why one launch failed.
enum LaunchError {
    /// Another process took the port between [`free_port`] and Prometheus binding it.
    PortTaken(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for LaunchError {
    fn from(err: anyhow::Error) -> Self {
        Self::Other(err)
    }
}

impl From<std::io::Error> for LaunchError {
    fn from(err: std::io::Error) -> Self {
        Self::Other(err.into())
    }
}

// === impl PrometheusServer ===

/// A running Prometheus. Dropping it kills the process and removes its directory.
pub struct PrometheusServer {
    url: String,
    job: String,
    targets: Vec<String>,
    client: prometheus_http_query::Client,
    /// The supervising shell (see [`SUPERVISOR`]) and the pipe whose closing stops Prometheus.
    process: Option<(Child, ChildStdin)>,
    log: PathBuf,
    // Declared last: removed after the process is gone.
    dir: TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `scrape_targets` (`host:port`, e.g. a `SocketAddr`) as job [`JOB`], and waits
    /// until it is ready (`/-/ready`), up to 30 s.
    pub async fn start<T: ToString>(scrape_targets: &[T]) -> anyhow::Result<Self> {
        Self::start_job(JOB, scrape_targets).await
    }

    /// As [`PrometheusServer::start`], with the scrape job named `job` (its `job` label).
    pub async fn start_job<T: ToString>(job: &str, scrape_targets: &[T]) -> anyhow::Result<Self> {
        let binary = find_binary()?;
        ensure_crypto_provider()?;
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().context("building the HTTP client")?;
        let targets: Vec<String> = scrape_targets.iter().map(ToString::to_string).collect();
        let mut attempt = 1;
        loop {
            match Self::launch(&binary, job, &targets, &http).await {
                Ok(server) => return Ok(server),
                Err(LaunchError::PortTaken(err)) if attempt < LAUNCH_ATTEMPTS => {
                    tracing::debug!(error = %err, attempt, "prometheus port taken; retrying on another");
                    attempt += 1;
                }
                Err(LaunchError::PortTaken(err) | LaunchError::Other(err)) => return Err(err),
            }
        }
    }

    async fn launch(binary: &Path, job: &str, targets: &[String], http: &reqwest::Client) -> Result<Self, LaunchError> {
        let dir = TempDir::new("prometheus")?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(job, targets)).context("writing the Prometheus configuration")?;
        let log = dir.path().join("prometheus.log");
        let log_file = std::fs::File::create(&log).context("creating the Prometheus log")?;
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("prometheus-supervisor")
            .arg(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdin = child.stdin.take().context("no pipe to the Prometheus supervisor")?;
        let client = prometheus_http_query::Client::from(http.clone(), &url).context("building the Prometheus client")?;
        // From here on, dropping `server` stops the process.
        let mut server = Self { url, job: job.to_owned(), targets: targets.to_vec(), client, process: Some((child, stdin)), log, dir };
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some((child, _)) = server.process.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = read_log(&server.log);
                let err = anyhow::anyhow!("prometheus exited ({status}) before becoming ready; its log ({}):\n{log}", server.log.display());
                return Err(if log.contains("address already in use") { LaunchError::PortTaken(err) } else { LaunchError::Other(err) });
            }
            if let Ok(response) = http.get(format!("{}/-/ready", server.url)).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                tracing::info!(url = %server.url, targets = ?server.targets, "prometheus ready");
                return Ok(server);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LaunchError::Other(anyhow::anyhow!(
                    "prometheus at {} not ready after {READY_TIMEOUT:?}; its log ({}):\n{}",
                    server.url,
                    server.log.display(),
                    read_log(&server.log)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Base URL, `http://127.0.0.1:PORT` (what an AnalysisTemplate's `prometheus.address` takes).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The scrape targets of job [`JOB`].
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// The HTTP API client.
    pub fn client(&self) -> &prometheus_http_query::Client {
        &self.client
    }

    /// The server's directory (configuration, `prometheus.log`, storage).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs an instant query and returns its series as `(labels, value)`; a scalar result is one series without
    /// labels. A range-vector result is an error (an instant query cannot return one).
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<(BTreeMap<String, String>, f64)>> {
        let result = self.client.query(promql).get().await.with_context(|| format!("query {promql}"))?;
        match result.data() {
            Data::Vector(series) => {
                Ok(series.iter().map(|s| (s.metric().iter().map(|(k, v)| (k.clone(), v.clone())).collect(), s.sample().value())).collect())
            }
            Data::Scalar(sample) => Ok(vec![(BTreeMap::new(), sample.value())]),
            Data::Matrix(_) => bail!("query {promql} returned a range vector; use an instant vector or a scalar"),
        }
    }

    /// The value of the first series of an instant query (or its scalar), `None` for an empty result.
    pub async fn query_scalar(&self, promql: &str) -> anyhow::Result<Option<f64>> {
        Ok(self.query(promql).await?.first().map(|(_, value)| *value))
    }

    /// Waits (up to 20 s) until every target of job [`JOB`] is up (`up{job="traffic"} == 1`), failing with each
    /// target's health and last scrape error.
    pub async fn wait_for_targets_up(&self) -> anyhow::Result<()> {
        let want = self.targets.len();
        let job = &self.job;
        let query = format!("count(up{{job=\"{job}\"}} == 1)");
        let waited = eventually(&format!("{want} {job} target(s) up in Prometheus"), TARGETS_TIMEOUT, || async {
            let up = self.query_scalar(&query).await?.unwrap_or(0.0);
            Ok((up >= f64::from(u32::try_from(want).unwrap_or(u32::MAX))).then_some(()))
        })
        .await;
        if let Err(err) = waited {
            let mut health = String::new();
            if let Ok(targets) = self.client.targets(None).await {
                for t in targets.active() {
                    let _ = write!(health, "\n  {} {:?} {}", t.scrape_url(), t.health(), t.last_error());
                }
            }
            bail!("{err}; targets:{health}");
        }
        Ok(())
    }

    /// Stops Prometheus and removes its directory.
    pub async fn stop(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }

    fn kill(&mut self) {
        let Some((mut child, stdin)) = self.process.take() else { return };
        // Closing the pipe makes the supervisor kill Prometheus and exit.
        drop(stdin);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::warn!(url = %self.url, "prometheus supervisor did not exit; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_scrapes_the_targets_every_second() {
        let yaml = config_yaml(JOB, &["127.0.0.1:9100".to_owned(), "localhost:8080".to_owned()]);
        assert_eq!(
            yaml,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: traffic\n    \
             static_configs:\n      - targets: [\"127.0.0.1:9100\",\"localhost:8080\"]\n"
        );
    }
}

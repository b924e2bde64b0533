//! Test harness: one [`Cluster`] per test, backed by an in-process kube-sim by default or by the real cluster
//! in `KUBECONFIG` when `SERIN_E2E_REAL=1` (`make e2e-real`). Each test gets its own namespace, so tests run in
//! parallel and leave nothing behind. Tests talk to the cluster only through the Kubernetes API (kube-rs or the
//! real `kubectl` binary); kube-sim's `/sim/` controls are reachable only through [`Cluster::sim`], which is
//! `None` on a real cluster so such tests skip themselves.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

use crate::{KubeSim, SimConfig};

/// Handle on kube-sim's test controls (`/sim/...`).
#[derive(Debug, Clone)]
pub struct SimControls {
    base: String,
}

impl SimControls {
    /// POSTs JSON to a `/sim/` path.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        http_json("POST", &format!("{}{path}", self.base), Some(body)).await
    }

    /// GETs a `/sim/` path.
    pub async fn get(&self, path: &str) -> Result<Value> {
        http_json("GET", &format!("{}{path}", self.base), None).await
    }

    /// DELETEs a `/sim/` path (e.g. `/sim/faults` clears pending faults).
    pub async fn delete(&self, path: &str) -> Result<Value> {
        http_json("DELETE", &format!("{}{path}", self.base), None).await
    }

    /// Request count for a verb/resource (all clients).
    pub async fn count(&self, verb: &str, resource: &str) -> Result<u64> {
        let v = self.get("/sim/requests").await?;
        Ok(v["entries"]
            .as_array()
            .map_or(0, |es| es.iter().filter(|e| e["verb"] == verb && e["resource"] == resource).filter_map(|e| e["count"].as_u64()).sum()))
    }
}

/// Minimal HTTP/1.1 JSON client for the control endpoints (no extra dependency: plain TCP on loopback).
async fn http_json(method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connecting to {host}"))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 2") {
        bail!("{method} {url}: {head}: {body}");
    }
    Ok(serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A cluster for one test.
pub struct Cluster {
    /// kube client.
    pub client: kube::Client,
    /// The test's own namespace.
    pub namespace: String,
    kubeconfig: PathBuf,
    sim: Option<KubeSim>,
    _tmp: Option<TempDir>,
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(prefix: &str) -> Result<Self> {
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), crate::store::random_suffix(8)));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }

    /// Path of the directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether tests target a real cluster.
pub fn real_cluster() -> bool {
    std::env::var("SERIN_E2E_REAL").is_ok_and(|v| v == "1")
}

impl Cluster {
    /// Starts kube-sim (or connects to the real cluster) and creates a namespace named after the test.
    pub async fn new(test: &str) -> Result<Self> {
        Self::with_config(test, SimConfig::default()).await
    }

    /// As [`Cluster::new`] with a kube-sim configuration (ignored on a real cluster).
    pub async fn with_config(test: &str, config: SimConfig) -> Result<Self> {
        let namespace = format!("{}-{}", test.replace('_', "-").chars().take(40).collect::<String>(), crate::store::random_suffix(5));
        let (client, kubeconfig, sim, tmp) = if real_cluster() {
            let kc = std::env::var("KUBECONFIG").context("SERIN_E2E_REAL=1 needs KUBECONFIG")?;
            (kube::Client::try_default().await?, PathBuf::from(kc), None, None)
        } else {
            let sim = KubeSim::start_with(config).await?;
            let tmp = TempDir::new("kube-sim")?;
            let kc = tmp.path().join("kubeconfig");
            sim.write_kubeconfig(&kc)?;
            (sim.client()?, kc, Some(sim), Some(tmp))
        };
        let ns: Api<Namespace> = Api::all(client.clone());
        ns.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": namespace, "labels": {"serin.dev/e2e": "true"}}}))?,
        )
        .await?;
        // As Kubernetes' own e2e framework does: a namespace is ready for a test once kube-controller-manager's
        // publishers have given it its `default` ServiceAccount and its `kube-root-ca.crt` ConfigMap, so tests
        // that list a namespace's content see the same objects on every run.
        let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &namespace);
        eventually("the namespace's default ServiceAccount and kube-root-ca.crt", wait_timeout(), || async {
            Ok((accounts.get_opt("default").await?.is_some() && maps.get_opt("kube-root-ca.crt").await?.is_some()).then_some(()))
        })
        .await?;
        Ok(Self { client, namespace, kubeconfig, sim, _tmp: tmp })
    }

    /// A client that surfaces 429/503 to the caller instead of retrying them (kube-rs retries them by default, as
    /// client-go does), for tests that observe a refusal.
    pub async fn client_without_retries(&self) -> Result<kube::Client> {
        let mut config = match &self.sim {
            Some(sim) => return Ok(sim.client_with_retries(false)?),
            None => kube::Config::infer().await?,
        };
        config.default_retry = false;
        Ok(kube::Client::try_from(config)?)
    }

    /// kube-sim controls, or `None` on a real cluster.
    pub fn sim(&self) -> Option<SimControls> {
        self.sim.as_ref().map(|s| SimControls { base: s.url() })
    }

    /// The kube-sim instance, when there is one.
    pub fn kube_sim(&self) -> Option<&KubeSim> {
        self.sim.as_ref()
    }

    /// Path of a kubeconfig for this cluster.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Runs the real `kubectl` with this cluster's kubeconfig in the test namespace.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        self.kubectl_stdin(args, None)
    }

    /// Runs `kubectl` feeding `stdin`.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        use std::io::Write;
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig).arg("-n").arg(&self.namespace).args(args);
        cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("running kubectl (is it installed?)")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }

    /// Runs `kubectl` and fails the test with its stderr unless it exits 0; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl(args)?;
        if !out.status.success() {
            bail!("kubectl {} failed: {}{}", args.join(" "), String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply -f -` with inline YAML.
    pub fn apply_yaml(&self, yaml: &str, extra: &[&str]) -> Result<String> {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        let out = self.kubectl_stdin(&args, Some(yaml))?;
        if !out.status.success() {
            bail!("kubectl apply failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply <args>` of cluster-scoped definitions (CRDs) that tests running in parallel share, then
    /// waits until each named CRD is Established. Whoever loses the race to create one retries as an update.
    pub async fn apply_shared(&self, args: &[&str], crds: &[&str]) -> Result<()> {
        let mut apply = vec!["apply"];
        apply.extend_from_slice(args);
        eventually(&format!("kubectl {}", apply.join(" ")), wait_timeout(), || async {
            let out = self.kubectl(&apply)?;
            if out.status.success() { Ok(Some(())) } else { bail!("{}", String::from_utf8_lossy(&out.stderr)) }
        })
        .await?;
        for crd in crds {
            self.kubectl_ok(&["wait", "--for=condition=Established", &format!("crd/{crd}"), "--timeout=30s"])?;
        }
        Ok(())
    }

    /// A namespaced API in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Deletes the test namespace (best effort; kube-sim is discarded anyway).
    pub async fn cleanup(self) {
        if self.sim.is_none() {
            let ns: Api<Namespace> = Api::all(self.client.clone());
            let _ = ns.delete(&self.namespace, &DeleteParams::default()).await;
        }
    }
}

/// Polls `check` until it returns `Some`, failing after `timeout` with `what` in the message.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            match last_err {
                Some(e) => bail!("timed out waiting for {what}: last error: {e:#}"),
                None => bail!("timed out waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Standard wait budget for scenario steps (`SERIN_E2E_TIMEOUT` seconds, default 30).
pub fn wait_timeout() -> Duration {
    Duration::from_secs(std::env::var("SERIN_E2E_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(30))
}

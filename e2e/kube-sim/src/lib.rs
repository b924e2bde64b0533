//! kube-sim: a faithful emulation of the Kubernetes API server and of the control-plane behaviour Serin,
//! kube-rs and `kubectl` rely on, for tests and the demo on machines without Kubernetes.
//!
//! Layout: [`store`] (storage semantics, watch), [`admission`] (defaulting/validation), [`schema`] (CRD
//! structural schemas), [`patch`] (strategic merge, server-side apply), [`api`] (HTTP paths), [`table`]
//! (server-side printing), [`control_plane`] (ReplicaSet/kubelet/Job/Endpoints/GC controllers), [`control`]
//! (`/sim/` test controls). See `docs/kube-sim.md` for what is and is not emulated.

pub mod admission;
pub mod api;
pub mod control;
pub mod control_plane;
pub mod disruption;
pub mod harness;

pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod status;
pub mod store;
pub mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::api::ApiState;
use self::control::Controls;
use self::control_plane::{ControlPlane, ControlPlaneConfig};
use self::resources::GroupResource;
use self::store::{Store, StoreConfig};

/// Why kube-sim could not start or persist.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listener failed.
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
    /// Reading or writing a file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A state snapshot could not be parsed.
    #[error("state snapshot {path} is not valid: {source}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// The server URL did not parse (cannot happen for a bound socket address).
    #[error("invalid server url {url}: {source}")]
    Url {
        /// Server URL.
        url: String,
        /// Cause.
        source: http::uri::InvalidUri,
    },
    /// Building the kube client failed.
    #[error("cannot build a kube client for {url}: {source}")]
    Client {
        /// Server URL.
        url: String,
        /// Cause.
        source: kube::Error,
    },
}

/// Start-up configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Run the simulated controllers (`ReplicaSet`, kubelet, Job, Endpoints, GC).
    pub control_plane: bool,
    /// Controller timings.
    pub timings: ControlPlaneConfig,
    /// Watch history length (older resumes get 410).
    pub history_limit: usize,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// Persist state here (loaded at start, saved periodically and at shutdown).
    pub state_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            control_plane: true,
            timings: ControlPlaneConfig::default(),
            history_limit: StoreConfig::default().history_limit,
            bookmark_interval: Duration::from_secs(5),
            state_dir: None,
        }
    }
}

/// A running kube-sim. Dropping it stops the server.
pub struct KubeSim {
    addr: SocketAddr,
    store: Arc<Store>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    state_dir: Option<PathBuf>,
}

impl KubeSim {
    /// Starts with defaults on a free port.
    pub async fn start() -> Result<Self, SimError> {
        Self::start_with(SimConfig::default()).await
    }

    /// Starts with a configuration.
    pub async fn start_with(config: SimConfig) -> Result<Self, SimError> {
        let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
        let store = Arc::new(Store::new(StoreConfig { history_limit: config.history_limit }, ctrl_tx));
        let controls = Arc::new(Controls::new(config.control_plane));
        let mut tasks = Vec::new();
        if let Some(dir) = &config.state_dir {
            load_snapshot(&store, dir)?;
        }
        // The control plane starts on the restored state, so its first pass sees every object at once.
        let plane = ControlPlane::new(store.clone(), controls.clone(), config.timings.clone());
        tasks.push(tokio::spawn(plane.run(ctrl_rx)));
        if let Some(dir) = &config.state_dir {
            let (store2, dir2) = (store.clone(), dir.clone());
            tasks.push(tokio::spawn(async move {
                let mut last = store2.revision();
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let rv = store2.revision();
                    if rv != last {
                        if let Err(e) = save_snapshot(&store2, &dir2) {
                            tracing::warn!(error = %e, "snapshot failed");
                        }
                        last = rv;
                    }
                }
            }));
        }
        let state = ApiState { store: store.clone(), controls, bookmark_interval: config.bookmark_interval };
        let app = Router::new()
            .route("/sim/requests", get(control::requests))
            .route("/sim/reset", post(control::reset))
            .route("/sim/faults", post(control::add_fault).get(control::list_faults).delete(control::clear_faults))
            .route("/sim/watches/drop", post(control::drop_watches))
            .route("/sim/history/expire", post(control::expire_history))
            .route("/sim/latency", post(control::latency))
            .route("/sim/restart", post(control::restart))
            .route("/sim/controllers", get(control::get_controllers).post(control::set_controllers))
            .route("/sim/clock", get(control::clock))
            .route("/sim/stats", get(control::stats))
            .fallback(api::handle)
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| SimError::Bind { port: config.port, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { port: config.port, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self { addr, store, shutdown: Some(tx), server: Some(server), tasks, state_dir: config.state_dir })
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client talking to this server (with kube-rs's default retries of 429/503/504).
    pub fn client(&self) -> Result<kube::Client, SimError> {
        self.client_with_retries(true)
    }

    /// A kube client; `retries: false` surfaces 429/503 to the caller instead of retrying them.
    pub fn client_with_retries(&self, retries: bool) -> Result<kube::Client, SimError> {
        self.client_with(retries, None)
    }

    /// A kube client that identifies itself as `user_agent`, so `/sim/requests` counts its requests apart
    /// (`byClient`, `entries[].client`).
    pub fn client_as(&self, user_agent: &str) -> Result<kube::Client, SimError> {
        self.client_with(true, Some(user_agent))
    }

    fn client_with(&self, retries: bool, user_agent: Option<&str>) -> Result<kube::Client, SimError> {
        let url = self.url();
        let uri: http::Uri = url.parse().map_err(|source| SimError::Url { url: url.clone(), source })?;
        let mut cfg = kube::Config::new(uri);
        cfg.default_namespace = "default".into();
        cfg.default_retry = retries;
        if let Some(agent) = user_agent.and_then(|a| http::HeaderValue::from_str(a).ok()) {
            cfg.headers.push((http::header::USER_AGENT, agent));
        }
        kube::Client::try_from(cfg).map_err(|source| SimError::Client { url, source })
    }

    /// Kubeconfig text for this server (context `kube-sim`, namespace `default`).
    pub fn kubeconfig(&self) -> String {
        kubeconfig_for(&self.url())
    }

    /// Writes the kubeconfig to a file.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        std::fs::write(path, self.kubeconfig()).map_err(|source| SimError::Io { path: path.to_owned(), source })
    }

    /// The store, for in-process inspection by kube-sim's own tests (scenario tests use the API only).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stops the server, saving state when a state dir is configured.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        self.stop_now();
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        if let Some(dir) = &self.state_dir {
            save_snapshot(&self.store, dir)?;
        }
        Ok(())
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in &self.tasks {
            t.abort();
        }
        // Open watch streams would hold graceful shutdown forever: close them.
        self.store.drop_watches();
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

/// Kubeconfig YAML for a kube-sim URL.
pub fn kubeconfig_for(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {url}\nusers:\n- name: kube-sim\n  user: {{}}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: kube-sim\n    namespace: default\ncurrent-context: kube-sim\n"
    )
}

const SNAPSHOT: &str = "kube-sim-state.json";

fn save_snapshot(store: &Store, dir: &Path) -> Result<(), SimError> {
    std::fs::create_dir_all(dir).map_err(|source| SimError::Io { path: dir.to_owned(), source })?;
    let mut objects: Vec<Value> =
        store.dump().into_iter().map(|(gr, o)| json!({"group": gr.group, "resource": gr.resource, "object": *o})).collect();
    // CRDs first so their types exist when the snapshot is loaded.
    objects.sort_by_key(|o| o["resource"] != "customresourcedefinitions");
    let path = dir.join(SNAPSHOT);
    let tmp = dir.join(format!("{SNAPSHOT}.tmp"));
    let body = serde_json::to_vec(&json!({"revision": store.revision(), "objects": objects})).unwrap_or_default();
    std::fs::write(&tmp, body).map_err(|source| SimError::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, &path).map_err(|source| SimError::Io { path, source })
}

fn load_snapshot(store: &Store, dir: &Path) -> Result<(), SimError> {
    let path = dir.join(SNAPSHOT);
    let Ok(bytes) = std::fs::read(&path) else { return Ok(()) };
    let snap: Value = serde_json::from_slice(&bytes).map_err(|source| SimError::Snapshot { path: path.clone(), source })?;
    for entry in snap.get("objects").and_then(Value::as_array).into_iter().flatten() {
        let gr = GroupResource::new(entry["group"].as_str().unwrap_or_default(), entry["resource"].as_str().unwrap_or_default());
        let obj = entry["object"].clone();
        if gr.resource == "customresourcedefinitions"
            && let Ok(rt) = resources::from_crd(&obj)
        {
            store.register(rt);
        }
        store.restore(&gr, obj);
    }
    Ok(())
}

//! The traffic simulator: synthetic HTTP requests to a workload's pods, split the way the cluster currently routes
//! them, with each version's error rate and latency taken from its pods' annotations, counted on `/metrics` for a
//! real Prometheus to scrape (what the `prometheus` analysis provider then measures).
//!
//! What it touches: it *lists pods* through the Kubernetes API (so it runs unchanged against kube-sim and a real
//! cluster) and writes nothing there; it serves `/metrics` on its own loopback port. No request leaves the process:
//! each one is decided (version, status code, latency) and recorded as if the pod had served it.
//!
//! Pipeline, every tick: pod view (I/O, refreshed every [`TrafficConfig::refresh`]) -> [`split`] (pure: shares per
//! version) -> [`pick`] / [`status_code`] / [`latency_seconds`] (pure, fed with random draws) -> metrics.
//!
//! The split is proportional to Ready pods per `rollouts-pod-template-hash`, which is what a Service without a
//! traffic router does (and Argo's replica-count approximation of a weight). Routers (HTTPRoute weights and header
//! matches, VirtualService, NGINX canary annotations) will replace [`split`]'s input, not its callers.
//!
//! Per-version behaviour comes from pod annotations, which kube-sim copies from the ReplicaSet's (hence the
//! Rollout's) pod template: [`ERROR_RATE_ANNOTATION`] (probability of a 500, e.g. `"0.05"`, default 0) and
//! [`LATENCY_ANNOTATION`] (mean latency in milliseconds, e.g. `"120"`, default [`DEFAULT_LATENCY_MS`]).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rand::rngs::SmallRng;
use rand::{RngExt as _, SeedableRng as _};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Pod annotation: the probability (0..=1) that a request to this version answers 500.
pub const ERROR_RATE_ANNOTATION: &str = "sim.serin.dev/error-rate";
/// Pod annotation: the mean latency of this version in milliseconds.
pub const LATENCY_ANNOTATION: &str = "sim.serin.dev/latency-ms";
/// Mean latency of a version without [`LATENCY_ANNOTATION`].
pub const DEFAULT_LATENCY_MS: f64 = 20.0;
/// The label that tells versions apart (Argo's; a Deployment's `pod-template-hash` is the fallback).
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
const DEPLOYMENT_HASH_LABEL: &str = "pod-template-hash";
/// Standard deviation of a request's latency, relative to the version's mean.
const LATENCY_JITTER: f64 = 0.1;
/// Buckets of `http_request_duration_seconds`: 5 ms to 10 s, fine enough around typical service latencies that
/// `histogram_quantile` lands within a bucket's width of the truth.
pub const DURATION_BUCKETS: [f64; 16] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0];
/// The text format prometheus-client writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A workload to send traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Namespace of the pods (and the `namespace` label of the metrics).
    pub namespace: String,
    /// The `service` label of the metrics (usually the Service the requests would go through).
    pub service: String,
    /// Label selector of the pods, e.g. `app=web`.
    pub selector: String,
}

impl Target {
    /// A target from its parts.
    pub fn new(namespace: impl Into<String>, service: impl Into<String>, selector: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), service: service.into(), selector: selector.into() }
    }
}

/// How the simulator runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficConfig {
    /// Requests per second, per target.
    pub rps: u32,
    /// Seed of the random draws (`None`: a fresh seed). Note that which pods are visible at each tick still depends
    /// on timing, so a seed makes a run reproducible only while the pods stay put.
    pub seed: Option<u64>,
    /// Interval between request batches.
    pub tick: Duration,
    /// Interval between pod listings.
    pub refresh: Duration,
}

impl TrafficConfig {
    /// `rps` requests per second per target, in batches every 100 ms, pods listed every 250 ms.
    pub fn new(rps: u32) -> Self {
        Self { rps, seed: None, tick: Duration::from_millis(100), refresh: Duration::from_millis(250) }
    }

    /// Seeds the random draws.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

// === pure model ===

/// How a version behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Probability (0..=1) of a 500.
    pub error_rate: f64,
    /// Mean latency in milliseconds (>= 0).
    pub latency_ms: f64,
}

impl Default for Profile {
    fn default() -> Self {
        Self { error_rate: 0.0, latency_ms: DEFAULT_LATENCY_MS }
    }
}

/// An annotation whose value could not be used (the default applies instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAnnotation {
    /// The annotation key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
}

impl Profile {
    /// The profile given by a pod's annotations, and the annotations that were present but unusable (not a number,
    /// an error rate outside 0..=1, a negative or non-finite latency).
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> (Self, Vec<BadAnnotation>) {
        let mut profile = Self::default();
        let mut bad = Vec::new();
        let value = |key: &str| annotations.and_then(|a| a.get(key));
        if let Some(raw) = value(ERROR_RATE_ANNOTATION) {
            match raw.trim().parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => profile.error_rate = rate,
                _ => bad.push(BadAnnotation { key: ERROR_RATE_ANNOTATION, value: raw.clone() }),
            }
        }
        if let Some(raw) = value(LATENCY_ANNOTATION) {
            match raw.trim().parse::<f64>() {
                Ok(ms) if ms.is_finite() && ms >= 0.0 => profile.latency_ms = ms,
                _ => bad.push(BadAnnotation { key: LATENCY_ANNOTATION, value: raw.clone() }),
            }
        }
        (profile, bad)
    }
}

/// A pod that receives traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingPod {
    /// Pod name.
    pub name: String,
    /// Its version: the [`HASH_LABEL`] value (empty when the pod has none).
    pub hash: String,
    /// Its behaviour.
    pub profile: Profile,
}

/// The pod as a traffic receiver: `None` unless it is Ready (condition `Ready=True`) and not being deleted, as an
/// Endpoints controller would see it. Unusable annotations are returned alongside (their defaults apply).
pub fn serving_pod(pod: &Pod) -> Option<(ServingPod, Vec<BadAnnotation>)> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        return None;
    }
    let labels = pod.metadata.labels.as_ref();
    let hash = labels.and_then(|l| l.get(HASH_LABEL).or_else(|| l.get(DEPLOYMENT_HASH_LABEL))).cloned().unwrap_or_default();
    let (profile, bad) = Profile::from_annotations(pod.metadata.annotations.as_ref());
    Some((ServingPod { name: pod.metadata.name.clone().unwrap_or_default(), hash, profile }, bad))
}

/// One version's part of the traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionShare {
    /// The version ([`HASH_LABEL`] value).
    pub hash: String,
    /// Fraction of the requests it receives (the shares of a split sum to 1).
    pub share: f64,
    /// Serving pods of this version.
    pub pods: u32,
    /// Its behaviour: the mean of its pods' profiles (requests spread evenly over the pods).
    pub profile: Profile,
}

/// The split by Ready pods: each version gets its fraction of the serving pods, in hash order. No pods, no split.
pub fn split(pods: &[ServingPod]) -> Vec<VersionShare> {
    let mut by_hash: BTreeMap<&str, (u32, f64, f64)> = BTreeMap::new();
    for pod in pods {
        let entry = by_hash.entry(pod.hash.as_str()).or_default();
        entry.0 += 1;
        entry.1 += pod.profile.error_rate;
        entry.2 += pod.profile.latency_ms;
    }
    let total: u32 = by_hash.values().map(|(n, _, _)| n).sum();
    by_hash
        .into_iter()
        .map(|(hash, (n, error_sum, latency_sum))| VersionShare {
            hash: hash.to_owned(),
            share: f64::from(n) / f64::from(total),
            pods: n,
            profile: Profile { error_rate: error_sum / f64::from(n), latency_ms: latency_sum / f64::from(n) },
        })
        .collect()
}

/// The version a request goes to, given a uniform draw `u` in `[0, 1)`: the first whose cumulative share exceeds `u`
/// (the last one absorbs rounding). `None` for an empty split.
pub fn pick(shares: &[VersionShare], u: f64) -> Option<&VersionShare> {
    let mut cumulative = 0.0;
    for version in shares {
        cumulative += version.share;
        if u < cumulative {
            return Some(version);
        }
    }
    shares.last()
}

/// The status code of a request, given a uniform draw `u` in `[0, 1)`: 500 with probability `error_rate`, else 200.
pub fn status_code(error_rate: f64, u: f64) -> u16 {
    if u < error_rate { 500 } else { 200 }
}

/// A request's latency in seconds: the mean `latency_ms` jittered by a standard-normal draw `z` (10 % relative
/// standard deviation), never negative.
pub fn latency_seconds(latency_ms: f64, z: f64) -> f64 {
    (latency_ms * (1.0 + LATENCY_JITTER * z)).max(0.0) / 1000.0
}

/// A standard-normal value from two uniform draws in `[0, 1)` (Box-Muller).
pub fn standard_normal(u1: f64, u2: f64) -> f64 {
    // 1 - u1 is in (0, 1], so the logarithm is finite.
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// One simulated request.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Request<'a> {
    hash: &'a str,
    code: u16,
    seconds: f64,
}

/// Draws requests from a split.
struct Sampler {
    rng: SmallRng,
}

impl Sampler {
    fn new(seed: Option<u64>) -> Self {
        Self { rng: seed.map_or_else(rand::make_rng, SmallRng::seed_from_u64) }
    }

    fn request<'a>(&mut self, shares: &'a [VersionShare]) -> Option<Request<'a>> {
        let version = pick(shares, self.rng.random())?;
        let code = status_code(version.profile.error_rate, self.rng.random());
        let seconds = latency_seconds(version.profile.latency_ms, standard_normal(self.rng.random(), self.rng.random()));
        Some(Request { hash: &version.hash, code, seconds })
    }
}

// === metrics ===

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    namespace: String,
    service: String,
    rollouts_pod_template_hash: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    namespace: String,
    service: String,
    rollouts_pod_template_hash: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The exposed metrics, plus a plain tally for [`TrafficSimulator::counts`].
struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    counts: Mutex<BTreeMap<(String, u16), u64>>,
}

impl Metrics {
    fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        let mut registry = Registry::default();
        // prometheus-client appends `_total` to counters: this is exposed as `http_requests_total`.
        registry.register("http_requests", "Simulated HTTP requests by version and status code.", requests.clone());
        registry.register("http_request_duration_seconds", "Latency of simulated HTTP requests by version.", durations.clone());
        Self { registry, requests, durations, counts: Mutex::new(BTreeMap::new()) }
    }

    fn record(&self, target: &Target, request: Request<'_>) {
        let Request { hash, code, seconds } = request;
        self.requests
            .get_or_create(&RequestLabels {
                namespace: target.namespace.clone(),
                service: target.service.clone(),
                rollouts_pod_template_hash: hash.to_owned(),
                code: code.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels {
                namespace: target.namespace.clone(),
                service: target.service.clone(),
                rollouts_pod_template_hash: hash.to_owned(),
            })
            .observe(seconds);
        *self.counts.lock().entry((hash.to_owned(), code)).or_default() += 1;
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, &self.registry)?;
        Ok(body)
    }
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

// === pod view (I/O) ===

/// The current split of every target, in target order.
type View = Arc<RwLock<Vec<Vec<VersionShare>>>>;

/// Lists the target's pods and returns those that serve, warning once per pod and annotation about unusable values.
async fn serving_pods(
    client: &kube::Client,
    target: &Target,
    warned: &mut HashSet<(String, String, &'static str)>,
) -> kube::Result<Vec<ServingPod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    let list = pods.list(&ListParams::default().labels(&target.selector)).await?;
    let mut serving = Vec::new();
    for pod in &list.items {
        let Some((pod, bad)) = serving_pod(pod) else { continue };
        for BadAnnotation { key, value } in bad {
            if warned.insert((target.namespace.clone(), pod.name.clone(), key)) {
                tracing::warn!(namespace = %target.namespace, pod = %pod.name, annotation = key, %value, "unusable traffic annotation, using the default");
            }
        }
        serving.push(pod);
    }
    Ok(serving)
}

/// Re-lists the pods of every target until aborted. A failed listing keeps the last view (and is logged once until
/// the next success), as a router keeps its endpoints when the API server is unreachable.
async fn refresh_view(client: kube::Client, targets: Vec<Target>, view: View, every: Duration) {
    let mut warned = HashSet::new();
    let mut failing = vec![false; targets.len()];
    loop {
        tokio::time::sleep(every).await;
        for (i, target) in targets.iter().enumerate() {
            match serving_pods(&client, target, &mut warned).await {
                Ok(pods) => {
                    failing[i] = false;
                    view.write()[i] = split(&pods);
                }
                Err(err) => {
                    if !std::mem::replace(&mut failing[i], true) {
                        tracing::warn!(namespace = %target.namespace, selector = %target.selector, error = %err, "listing pods failed; keeping the last traffic split");
                    }
                }
            }
        }
    }
}

/// Generates requests until aborted: `rps` per second per target, in batches every `tick`. The batch size follows
/// the elapsed time (with the fraction carried over), so a late tick does not lose requests.
async fn generate(targets: Vec<Target>, view: View, metrics: Arc<Metrics>, config: TrafficConfig) {
    let mut sampler = Sampler::new(config.seed);
    let mut ticker = tokio::time::interval(config.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut due = 0.0;
    loop {
        ticker.tick().await;
        let now = Instant::now();
        due += f64::from(config.rps) * (now - last).as_secs_f64();
        last = now;
        let shares = view.read().clone();
        while due >= 1.0 {
            due -= 1.0;
            for (target, shares) in targets.iter().zip(&shares) {
                if let Some(request) = sampler.request(shares) {
                    metrics.record(target, request);
                }
            }
        }
    }
}

// === impl TrafficSimulator ===

/// A running traffic simulator. Dropping it stops it.
pub struct TrafficSimulator {
    addr: SocketAddr,
    targets: Vec<Target>,
    view: View,
    metrics: Arc<Metrics>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TrafficSimulator {
    /// Starts sending `rps` requests per second to each target (see [`TrafficConfig::new`]).
    pub async fn start(client: kube::Client, targets: Vec<Target>, rps: u32) -> anyhow::Result<Self> {
        Self::start_with(client, targets, TrafficConfig::new(rps)).await
    }

    /// Starts with a configuration. The pods are listed once before this returns (so a bad selector or an
    /// unreachable cluster fails here), and `/metrics` is served on a free loopback port.
    pub async fn start_with(client: kube::Client, targets: Vec<Target>, config: TrafficConfig) -> anyhow::Result<Self> {
        let mut warned = HashSet::new();
        let mut initial = Vec::with_capacity(targets.len());
        for target in &targets {
            let pods = serving_pods(&client, target, &mut warned)
                .await
                .with_context(|| format!("listing pods {:?} in namespace {}", target.selector, target.namespace))?;
            initial.push(split(&pods));
        }
        let view: View = Arc::new(RwLock::new(initial));
        let metrics = Arc::new(Metrics::new());

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the traffic simulator's metrics port")?;
        let addr = listener.local_addr()?;
        let app = Router::new().route("/metrics", get(serve_metrics)).with_state(metrics.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                tracing::warn!(error = %err, "traffic simulator metrics server failed");
            }
        });
        let tasks = vec![
            tokio::spawn(refresh_view(client, targets.clone(), view.clone(), config.refresh)),
            tokio::spawn(generate(targets.clone(), view.clone(), metrics.clone(), config)),
        ];
        tracing::info!(%addr, targets = targets.len(), "traffic simulator started");
        Ok(Self { addr, targets, view, metrics, shutdown: Some(shutdown), server: Some(server), tasks })
    }

    /// Address of the `/metrics` endpoint, e.g. as a Prometheus scrape target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// URL of the metrics, `http://127.0.0.1:PORT/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// The targets, in the order of [`TrafficSimulator::shares`].
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The split currently applied to each target.
    pub fn shares(&self) -> Vec<Vec<VersionShare>> {
        self.view.read().clone()
    }

    /// Requests generated so far by `(rollouts-pod-template-hash, status code)`, over all targets.
    pub fn counts(&self) -> BTreeMap<(String, u16), u64> {
        self.metrics.counts.lock().clone()
    }

    /// The `/metrics` exposition as served.
    pub fn exposition(&self) -> anyhow::Result<String> {
        Ok(self.metrics.encode()?)
    }

    /// Stops generating and serving.
    pub async fn stop(mut self) {
        self.stop_tasks();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop_tasks(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for TrafficSimulator {
    fn drop(&mut self) {
        self.stop_tasks();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, hash: &str, profile: Profile) -> ServingPod {
        ServingPod { name: name.into(), hash: hash.into(), profile }
    }

    fn profile(error_rate: f64, latency_ms: f64) -> Profile {
        Profile { error_rate, latency_ms }
    }

    fn ratio(part: usize, whole: usize) -> f64 {
        f64::from(u32::try_from(part).unwrap()) / f64::from(u32::try_from(whole).unwrap())
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn split_is_proportional_to_serving_pods_per_version() {
        let pods = [
            pod("a-1", "aaa", Profile::default()),
            pod("b-1", "bbb", profile(0.5, 100.0)),
            pod("a-2", "aaa", Profile::default()),
            pod("a-3", "aaa", Profile::default()),
        ];
        let shares = split(&pods);
        assert_eq!(
            shares,
            vec![
                VersionShare { hash: "aaa".into(), share: 0.75, pods: 3, profile: Profile::default() },
                VersionShare { hash: "bbb".into(), share: 0.25, pods: 1, profile: profile(0.5, 100.0) },
            ]
        );
        assert!((shares.iter().map(|s| s.share).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn split_of_no_pods_is_empty_and_picks_nothing() {
        assert!(split(&[]).is_empty());
        assert_eq!(pick(&[], 0.3), None);
    }

    #[test]
    fn a_version_behaves_as_the_mean_of_its_pods() {
        let shares = split(&[pod("a-1", "aaa", profile(0.0, 10.0)), pod("a-2", "aaa", profile(0.5, 30.0))]);
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0].profile, profile(0.25, 20.0));
        assert!((shares[0].share - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn pick_follows_cumulative_shares() {
        let shares = split(&[
            pod("a", "aaa", Profile::default()),
            pod("a2", "aaa", Profile::default()),
            pod("a3", "aaa", Profile::default()),
            pod("b", "bbb", Profile::default()),
        ]);
        let hash = |u| pick(&shares, u).map(|v| v.hash.as_str());
        assert_eq!(hash(0.0), Some("aaa"));
        assert_eq!(hash(0.749), Some("aaa"));
        assert_eq!(hash(0.75), Some("bbb"));
        assert_eq!(hash(0.999_999), Some("bbb"));
        // Rounding never leaves a draw without a version.
        assert_eq!(hash(1.0), Some("bbb"));
    }

    #[test]
    fn status_code_is_500_with_the_error_probability() {
        assert_eq!(status_code(0.0, 0.0), 200);
        assert_eq!(status_code(0.5, 0.49), 500);
        assert_eq!(status_code(0.5, 0.5), 200);
        assert_eq!(status_code(1.0, 0.999), 500);
    }

    #[test]
    fn latency_is_jittered_around_the_mean_and_never_negative() {
        assert!((latency_seconds(120.0, 0.0) - 0.12).abs() < 1e-12);
        assert!((latency_seconds(100.0, 1.0) - 0.11).abs() < 1e-12);
        assert!((latency_seconds(100.0, -2.0) - 0.08).abs() < 1e-12);
        assert!(latency_seconds(100.0, -50.0).abs() < f64::EPSILON);
        assert!(latency_seconds(0.0, 3.0).abs() < f64::EPSILON);
    }

    #[test]
    fn standard_normal_is_finite_at_the_edges() {
        assert!(standard_normal(0.0, 0.0).is_finite());
        assert!(standard_normal(0.999_999_999, 0.5).is_finite());
        assert!((standard_normal(0.0, 0.25)).abs() < 1e-12);
    }

    #[test]
    fn seeded_sampler_reproduces_and_matches_the_profile() {
        let shares = split(&[
            pod("a", "aaa", profile(0.0, 20.0)),
            pod("a2", "aaa", profile(0.0, 20.0)),
            pod("a3", "aaa", profile(0.0, 20.0)),
            pod("b", "bbb", profile(0.5, 200.0)),
        ]);
        let draw = |seed| {
            let mut sampler = Sampler::new(Some(seed));
            (0..20_000)
                .map(|_| sampler.request(&shares).map(|r| (r.hash.to_owned(), r.code, r.seconds)))
                .collect::<Option<Vec<_>>>()
                .unwrap()
        };
        let requests = draw(7);
        assert_eq!(requests, draw(7));
        let b: Vec<_> = requests.iter().filter(|r| r.0 == "bbb").collect();
        let b_share = ratio(b.len(), requests.len());
        assert!((b_share - 0.25).abs() < 0.02, "share of bbb: {b_share}");
        let b_errors = ratio(b.iter().filter(|r| r.1 == 500).count(), b.len());
        assert!((b_errors - 0.5).abs() < 0.03, "error ratio of bbb: {b_errors}");
        assert!(requests.iter().filter(|r| r.0 == "aaa").all(|r| r.1 == 200));
        let b_mean = b.iter().map(|r| r.2).sum::<f64>() / f64::from(u32::try_from(b.len()).unwrap());
        assert!((b_mean - 0.2).abs() < 0.005, "mean latency of bbb: {b_mean}");
        assert!(requests.iter().all(|r| r.2 >= 0.0));
        // 10 % jitter: a 20 ms version stays far below a 200 ms one.
        assert!(requests.iter().filter(|r| r.0 == "aaa").all(|r| r.2 < 0.05));
    }

    #[test]
    fn profile_from_annotations_with_defaults_and_bad_values() {
        assert_eq!(Profile::from_annotations(None), (Profile::default(), vec![]));
        assert_eq!(
            Profile::from_annotations(Some(&annotations(&[(ERROR_RATE_ANNOTATION, "0.05"), (LATENCY_ANNOTATION, " 120 ")]))),
            (profile(0.05, 120.0), vec![])
        );
        let (got, bad) = Profile::from_annotations(Some(&annotations(&[(ERROR_RATE_ANNOTATION, "5%"), (LATENCY_ANNOTATION, "-3")])));
        assert_eq!(got, Profile::default());
        assert_eq!(
            bad,
            vec![
                BadAnnotation { key: ERROR_RATE_ANNOTATION, value: "5%".into() },
                BadAnnotation { key: LATENCY_ANNOTATION, value: "-3".into() }
            ]
        );
        let (got, bad) = Profile::from_annotations(Some(&annotations(&[(ERROR_RATE_ANNOTATION, "1.5"), (LATENCY_ANNOTATION, "NaN")])));
        assert_eq!((got, bad.len()), (Profile::default(), 2));
    }

    fn k8s_pod(ready: &str, deleting: bool, labels: serde_json::Value) -> Pod {
        let mut pod = json!({
            "metadata": {"name": "web-1", "labels": labels, "annotations": {ERROR_RATE_ANNOTATION: "0.2", LATENCY_ANNOTATION: "oops"}},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": ready}]}
        });
        if deleting {
            pod["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        }
        serde_json::from_value(pod).unwrap()
    }

    #[test]
    fn only_ready_pods_not_being_deleted_serve() {
        let labels = json!({HASH_LABEL: "abc", DEPLOYMENT_HASH_LABEL: "zzz"});
        let (serving, bad) = serving_pod(&k8s_pod("True", false, labels.clone())).unwrap();
        assert_eq!(serving, pod("web-1", "abc", profile(0.2, DEFAULT_LATENCY_MS)));
        assert_eq!(bad, vec![BadAnnotation { key: LATENCY_ANNOTATION, value: "oops".into() }]);
        assert_eq!(serving_pod(&k8s_pod("False", false, labels.clone())), None);
        assert_eq!(serving_pod(&k8s_pod("True", true, labels)), None);
        // A Deployment's pods are told apart by pod-template-hash.
        assert_eq!(serving_pod(&k8s_pod("True", false, json!({DEPLOYMENT_HASH_LABEL: "zzz"}))).unwrap().0.hash, "zzz");
        assert_eq!(serving_pod(&k8s_pod("True", false, json!({}))).unwrap().0.hash, "");
    }

    #[test]
    fn exposition_names_are_exactly_the_documented_ones() {
        let metrics = Metrics::new();
        let target = Target::new("ns", "web", "app=web");
        metrics.record(&target, Request { hash: "abc", code: 500, seconds: 0.12 });
        metrics.record(&target, Request { hash: "abc", code: 200, seconds: 0.02 });
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"http_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="abc",code="500"} 1"#),
            "{text}"
        );
        assert!(!text.contains("_total_total"), "{text}");
        assert!(
            text.contains(
                r#"http_request_duration_seconds_bucket{le="0.15",namespace="ns",service="web",rollouts_pod_template_hash="abc"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_request_duration_seconds_bucket{le="0.1",namespace="ns",service="web",rollouts_pod_template_hash="abc"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"http_request_duration_seconds_count{namespace="ns",service="web",rollouts_pod_template_hash="abc"} 2"#),
            "{text}"
        );
        assert_eq!(metrics.counts.lock().clone(), BTreeMap::from([(("abc".to_owned(), 200), 1), (("abc".to_owned(), 500), 1)]));
    }
}

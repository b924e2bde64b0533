//! The traffic simulator: synthetic HTTP requests to a workload's pods, split the way the cluster currently routes
//! them, with each version's error rate and latency taken from its pods' annotations, counted on `/metrics` for a
//! real Prometheus to scrape (what the `prometheus` analysis provider then measures).
//!
//! What it touches: it *reads* pods, Services and router objects (HTTPRoute, VirtualService and `DestinationRules`,
//! Ingresses, `TraefikService`) through the Kubernetes API (so it runs unchanged against kube-sim and a real cluster)
//! and writes nothing there; it serves `/metrics` on its own loopback port. No request leaves the process: each one
//! is decided (backend, version, status code, latency) and recorded as if the data plane and the pod had served it.
//!
//! Pipeline: view (I/O, refreshed every [`TrafficConfig::refresh`]: pods, plus the target's [`Router`] objects and
//! Services) -> [`routers::resolve`] (pure: a weighted route per request class, with or without the header) ->
//! [`split`] (pure: shares per version among a backend's ready pods) -> per request [`Route::pick`] / [`pick`] /
//! [`status_code`] / [`latency_seconds`] (pure, fed with random draws) -> metrics. Routes are resolved once per
//! refresh for each of the two request classes, so a request costs a few draws and a counter increment.
//!
//! Without a router ([`Router::Pods`], the default) the split is proportional to Ready pods per
//! `rollouts-pod-template-hash` among the pods of the target's selector, which is what a Service without a traffic
//! router does (and Argo's replica-count approximation of a weight); no pods, no requests. With a router, the
//! router picks a backend Service (see [`crate::routers`] for each data plane's rules and the status codes it
//! answers by itself), then the Service's Ready pods (among those of the target's selector) share its requests by
//! version; a backend without ready pods answers 503. Requests a data plane answers by itself are counted with
//! `rollouts_pod_template_hash=""` and a latency of 0.
//!
//! [`TrafficConfig::header`] makes a fraction of the requests carry a header (e.g. `X-Canary: yes`), which header
//! routes can match.
//!
//! Metrics, each with the labels `namespace`, `service` (the target's), `rollouts_pod_template_hash` and `code`:
//! - `http_requests_total`: every response (mirrored copies excluded);
//! - `http_request_duration_seconds` (histogram, without `code`): their latency;
//! - `http_header_requests_total`: the responses to requests that carried the header. A separate counter rather
//!   than a `header` label on `http_requests_total`, because that label would change the series the scenario tests
//!   and the documented queries match exactly;
//! - `http_mirrored_requests_total`: copies sent by a mirror route, answered by the mirror's pods and discarded.
//!
//! Per-version behaviour comes from pod annotations, which kube-sim copies from the ReplicaSet's (hence the
//! Rollout's) pod template: [`ERROR_RATE_ANNOTATION`] (probability of a 500, e.g. `"0.05"`, default 0) and
//! [`LATENCY_ANNOTATION`] (mean latency in milliseconds, e.g. `"120"`, default [`DEFAULT_LATENCY_MS`]).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
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

pub use crate::routers::Router;
use crate::routers::{self, Backend, HttpRequest, NO_ENDPOINTS, NO_ROUTE, Outcome, Route, RouterObjects};

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
    /// Namespace of the pods and router objects (and the `namespace` label of the metrics).
    pub namespace: String,
    /// The `service` label of the metrics (usually the Service the requests would go through).
    pub service: String,
    /// Label selector of the pods, e.g. `app=web` (`""`: every pod of the namespace). With a router, the backend
    /// Services choose among these pods.
    pub selector: String,
    /// How the requests reach the pods.
    pub router: Router,
}

impl Target {
    /// A target from its parts, without a router ([`Router::Pods`]).
    pub fn new(namespace: impl Into<String>, service: impl Into<String>, selector: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), service: service.into(), selector: selector.into(), router: Router::Pods }
    }

    /// The same target, its requests routed by `router` (objects in the target's namespace).
    #[must_use]
    pub fn via(mut self, router: Router) -> Self {
        self.router = router;
        self
    }
}

/// A header carried by a fraction of the requests.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderProfile {
    /// Header name (matched case-insensitively by the routers).
    pub name: String,
    /// Header value.
    pub value: String,
    /// Fraction (0..=1) of the requests that carry it.
    pub fraction: f64,
}

/// How the simulator runs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Requests per second, per target.
    pub rps: u32,
    /// Seed of the random draws (`None`: a fresh seed). Note that which pods are visible at each tick still depends
    /// on timing, so a seed makes a run reproducible only while the pods stay put.
    pub seed: Option<u64>,
    /// Interval between request batches.
    pub tick: Duration,
    /// Interval between readings of the pods (and router objects and Services).
    pub refresh: Duration,
    /// The header a fraction of the requests carries (`None`: no request carries one).
    pub header: Option<HeaderProfile>,
}

impl TrafficConfig {
    /// `rps` requests per second per target, in batches every 100 ms, pods listed every 250 ms.
    pub fn new(rps: u32) -> Self {
        Self { rps, seed: None, tick: Duration::from_millis(100), refresh: Duration::from_millis(250), header: None }
    }

    /// Seeds the random draws.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Makes a `fraction` of the requests (clamped to 0..=1; NaN counts as 0) carry the header `name: value`; the
    /// others carry none.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>, fraction: f64) -> Self {
        let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        self.header = Some(HeaderProfile { name: name.into(), value: value.into(), fraction });
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
    /// Fraction of the requests it receives (the shares of a [`split`] sum to 1).
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

/// One simulated response.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Request<'a> {
    hash: &'a str,
    code: u16,
    seconds: f64,
}

impl Request<'static> {
    /// A response the data plane gives by itself: no version, at once.
    fn answered(code: u16) -> Self {
        Self { hash: "", code, seconds: 0.0 }
    }
}

/// The ready pods behind one backend of a route.
#[derive(Debug, Clone, PartialEq)]
struct Endpoints {
    /// Their split by version (empty: no ready endpoints).
    shares: Vec<VersionShare>,
    /// What a request gets when there are none: 503, or the route's code for a Service that does not exist.
    empty_code: u16,
}

/// A router's route with the endpoints of its backends.
#[derive(Debug, Clone, PartialEq)]
struct RoutedLane {
    route: Route,
    /// The endpoints of `route.backends`, in order.
    endpoints: Vec<Endpoints>,
    /// The mirror's percentage and endpoints.
    mirror: Option<(f64, Endpoints)>,
}

/// What one class of requests (with or without the header) meets.
#[derive(Debug, Clone, PartialEq)]
enum Lane {
    /// No router: the split by ready pods; no pods, no requests.
    Pods(Vec<VersionShare>),
    /// The data plane answers this status code by itself.
    Answered(u16),
    /// A router's route.
    Routed(RoutedLane),
}

impl Lane {
    /// The share of the requests each version receives, in hash order. With a router, the shares sum to the
    /// fraction of requests that reach a pod (below 1 when the data plane answers some by itself).
    fn split(&self) -> Vec<VersionShare> {
        let routed = match self {
            Self::Pods(shares) => return shares.clone(),
            Self::Answered(_) => return Vec::new(),
            Self::Routed(routed) => routed,
        };
        let mut by_hash: BTreeMap<&str, VersionShare> = BTreeMap::new();
        for (i, endpoints) in routed.endpoints.iter().enumerate() {
            let backend_share = routed.route.share(i);
            for version in &endpoints.shares {
                let part = backend_share * version.share;
                let entry = by_hash.entry(&version.hash).or_insert_with(|| VersionShare {
                    hash: version.hash.clone(),
                    share: 0.0,
                    pods: 0,
                    profile: Profile { error_rate: 0.0, latency_ms: 0.0 },
                });
                // A version reached through several backends behaves as the request-weighted mean of them.
                let total = entry.share + part;
                if total > 0.0 {
                    let mean = |old: f64, new: f64| (old * entry.share + new * part) / total;
                    entry.profile = Profile {
                        error_rate: mean(entry.profile.error_rate, version.profile.error_rate),
                        latency_ms: mean(entry.profile.latency_ms, version.profile.latency_ms),
                    };
                }
                entry.share = total;
                entry.pods = entry.pods.max(version.pods);
            }
        }
        by_hash.into_values().collect()
    }
}

/// What a target's requests meet.
#[derive(Debug, Clone, PartialEq)]
struct Routing {
    /// Requests without the header.
    plain: Lane,
    /// Requests with the header (`None`: the same as `plain`).
    header: Option<Lane>,
}

impl Routing {
    fn lane(&self, header: bool) -> &Lane {
        if header { self.header.as_ref().unwrap_or(&self.plain) } else { &self.plain }
    }
}

/// One simulated request: the response and, when mirrored, the mirror's `(hash, code)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Served<'a> {
    response: Request<'a>,
    mirrored: Option<(&'a str, u16)>,
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

    /// Whether the next request carries the header. No draw without a header profile, so that a seeded run
    /// without one draws exactly as before headers existed.
    fn carries_header(&mut self, header: Option<&HeaderProfile>) -> bool {
        header.is_some_and(|h| self.rng.random::<f64>() < h.fraction)
    }

    fn serve<'a>(&mut self, endpoints: &'a Endpoints) -> Request<'a> {
        self.request(&endpoints.shares).unwrap_or_else(|| Request::answered(endpoints.empty_code))
    }

    /// A request through `lane`; `None` only without a router and without pods.
    fn route<'a>(&mut self, lane: &'a Lane) -> Option<Served<'a>> {
        match lane {
            Lane::Pods(shares) => self.request(shares).map(|response| Served { response, mirrored: None }),
            Lane::Answered(code) => Some(Served { response: Request::answered(*code), mirrored: None }),
            Lane::Routed(routed) => {
                // A single backend takes no draw.
                let i = if routed.endpoints.len() > 1 { routed.route.pick(self.rng.random()) } else { 0 };
                let response = self.serve(routed.endpoints.get(i)?);
                let mirrored = match &routed.mirror {
                    Some((percent, endpoints)) if self.rng.random::<f64>() * 100.0 < *percent => {
                        let copy = self.serve(endpoints);
                        Some((copy.hash, copy.code))
                    }
                    Some(_) | None => None,
                };
                Some(Served { response, mirrored })
            }
        }
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

impl RequestLabels {
    fn new(target: &Target, hash: &str, code: u16) -> Self {
        Self {
            namespace: target.namespace.clone(),
            service: target.service.clone(),
            rollouts_pod_template_hash: hash.to_owned(),
            code: code.to_string(),
        }
    }
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

/// What the simulator has counted, over all targets, as of one instant (a request and its mirrored copy are
/// counted together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficCounts {
    /// Responses by `(request carried the header, rollouts-pod-template-hash, status code)`: what
    /// `http_requests_total` counts, `http_header_requests_total` being the `true` part. Responses the data plane
    /// gives by itself have the hash `""`.
    pub responses: BTreeMap<(bool, String, u16), u64>,
    /// Mirrored copies by `(rollouts-pod-template-hash, status code)`: what `http_mirrored_requests_total` counts.
    pub mirrored: BTreeMap<(String, u16), u64>,
}

impl TrafficCounts {
    /// Responses by `(rollouts-pod-template-hash, status code)`, with and without the header.
    pub fn counts(&self) -> BTreeMap<(String, u16), u64> {
        let mut counts = BTreeMap::new();
        for ((_, hash, code), n) in &self.responses {
            *counts.entry((hash.clone(), *code)).or_default() += n;
        }
        counts
    }
}

/// The exposed metrics, plus a plain tally for [`TrafficSimulator::counts`] and [`TrafficSimulator::tally`].
struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    header_requests: Family<RequestLabels, Counter>,
    mirrored_requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    tally: Mutex<TrafficCounts>,
}

impl Metrics {
    fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let header_requests = Family::<RequestLabels, Counter>::default();
        let mirrored_requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        let mut registry = Registry::default();
        // prometheus-client appends `_total` to counters: these are exposed as `http_requests_total`,
        // `http_header_requests_total` and `http_mirrored_requests_total`.
        registry.register("http_requests", "Simulated HTTP requests by version and status code.", requests.clone());
        registry.register(
            "http_header_requests",
            "Simulated HTTP requests that carried the configured header, by version and status code.",
            header_requests.clone(),
        );
        registry.register(
            "http_mirrored_requests",
            "Copies of simulated HTTP requests sent by a mirror route, by version and status code.",
            mirrored_requests.clone(),
        );
        registry.register("http_request_duration_seconds", "Latency of simulated HTTP requests by version.", durations.clone());
        Self { registry, requests, header_requests, mirrored_requests, durations, tally: Mutex::new(TrafficCounts::default()) }
    }

    /// Counts a response (and whether its request carried the header) and its mirrored copy.
    fn record(&self, target: &Target, served: Served<'_>, header: bool) {
        let Served { response: Request { hash, code, seconds }, mirrored } = served;
        let labels = RequestLabels::new(target, hash, code);
        self.requests.get_or_create(&labels).inc();
        if header {
            self.header_requests.get_or_create(&labels).inc();
        }
        self.durations
            .get_or_create(&DurationLabels {
                namespace: target.namespace.clone(),
                service: target.service.clone(),
                rollouts_pod_template_hash: hash.to_owned(),
            })
            .observe(seconds);
        if let Some((hash, code)) = mirrored {
            self.mirrored_requests.get_or_create(&RequestLabels::new(target, hash, code)).inc();
        }
        let mut tally = self.tally.lock();
        *tally.responses.entry((header, hash.to_owned(), code)).or_default() += 1;
        if let Some((hash, code)) = mirrored {
            *tally.mirrored.entry((hash.to_owned(), code)).or_default() += 1;
        }
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

// === view (I/O) ===

/// What every target's requests currently meet, in target order.
type View = Arc<RwLock<Vec<Arc<Routing>>>>;

/// Why a target's view could not be read.
#[derive(Debug, thiserror::Error)]
enum ViewError {
    #[error("listing pods {selector:?}")]
    ListPods { selector: String, source: kube::Error },
    #[error("reading {kind} {name:?}")]
    ReadRouter { kind: &'static str, name: String, source: kube::Error },
    #[error("listing {resource}")]
    List { resource: &'static str, source: kube::Error },
    #[error("decoding {kind} {name:?}")]
    Decode { kind: &'static str, name: String, source: serde_json::Error },
}

impl ViewError {
    /// Whether the router object does not exist (which a data plane answers with 404).
    fn router_missing(&self) -> bool {
        matches!(self, Self::ReadRouter { source: kube::Error::Api(status), .. } if status.code == 404)
    }
}

/// A router object type, read with a dynamic client (kube-sim serves the CRDs of `e2e/crds/`).
struct RouterKind {
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
}

const HTTP_ROUTE: RouterKind = RouterKind { kind: "HTTPRoute", group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes" };
const VIRTUAL_SERVICE: RouterKind =
    RouterKind { kind: "VirtualService", group: "networking.istio.io", version: "v1", plural: "virtualservices" };
const DESTINATION_RULE: RouterKind =
    RouterKind { kind: "DestinationRule", group: "networking.istio.io", version: "v1", plural: "destinationrules" };
const INGRESS: RouterKind = RouterKind { kind: "Ingress", group: "networking.k8s.io", version: "v1", plural: "ingresses" };
const TRAEFIK_SERVICE: RouterKind =
    RouterKind { kind: "TraefikService", group: "traefik.io", version: "v1alpha1", plural: "traefikservices" };

impl RouterKind {
    fn api(&self, client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural);
        Api::namespaced_with(client.clone(), namespace, &resource)
    }

    async fn get(&self, client: &kube::Client, namespace: &str, name: &str) -> Result<serde_json::Value, ViewError> {
        let object = self.api(client, namespace).get(name).await.map_err(|source| ViewError::ReadRouter {
            kind: self.kind,
            name: name.to_owned(),
            source,
        })?;
        serde_json::to_value(object).map_err(|source| ViewError::Decode { kind: self.kind, name: name.to_owned(), source })
    }

    async fn list(&self, client: &kube::Client, namespace: &str) -> Result<Vec<serde_json::Value>, ViewError> {
        let list = self
            .api(client, namespace)
            .list(&ListParams::default())
            .await
            .map_err(|source| ViewError::List { resource: self.plural, source })?;
        list.items
            .into_iter()
            .map(|object| {
                let name = object.metadata.name.clone().unwrap_or_default();
                serde_json::to_value(object).map_err(|source| ViewError::Decode { kind: self.kind, name, source })
            })
            .collect()
    }
}

/// A pod of a target that serves, with its labels (for Service selectors and subsets).
struct ListedPod {
    pod: ServingPod,
    labels: BTreeMap<String, String>,
}

/// Lists the target's pods and returns those that serve, warning once per pod and annotation about unusable values.
async fn serving_pods(
    client: &kube::Client,
    target: &Target,
    warned: &mut HashSet<(String, String, &'static str)>,
) -> Result<Vec<ListedPod>, ViewError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    let list = pods
        .list(&ListParams::default().labels(&target.selector))
        .await
        .map_err(|source| ViewError::ListPods { selector: target.selector.clone(), source })?;
    let mut serving = Vec::new();
    for pod in list.items {
        let Some((serving_pod, bad)) = serving_pod(&pod) else { continue };
        for BadAnnotation { key, value } in bad {
            if warned.insert((target.namespace.clone(), serving_pod.name.clone(), key)) {
                tracing::warn!(namespace = %target.namespace, pod = %serving_pod.name, annotation = key, %value, "unusable traffic annotation, using the default");
            }
        }
        serving.push(ListedPod { pod: serving_pod, labels: pod.metadata.labels.unwrap_or_default() });
    }
    Ok(serving)
}

/// The selector of every Service of the namespace, by name (a Service without one maps to an empty selector).
async fn service_selectors(client: &kube::Client, namespace: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, ViewError> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let list = services.list(&ListParams::default()).await.map_err(|source| ViewError::List { resource: "services", source })?;
    Ok(list.items.into_iter().filter_map(|s| Some((s.metadata.name?, s.spec.and_then(|spec| spec.selector).unwrap_or_default()))).collect())
}

/// The ready pods behind `backend`.
fn endpoints(
    backend: &Backend,
    missing_service: u16,
    services: &BTreeMap<String, BTreeMap<String, String>>,
    pods: &[ListedPod],
) -> Endpoints {
    let Some(selector) = services.get(&backend.service) else { return Endpoints { shares: Vec::new(), empty_code: missing_service } };
    let serving: Vec<ServingPod> = pods.iter().filter(|p| backend.selects(selector, &p.labels)).map(|p| p.pod.clone()).collect();
    Endpoints { shares: split(&serving), empty_code: NO_ENDPOINTS }
}

/// The lane of a resolved request class.
fn lane(outcome: Outcome, services: &BTreeMap<String, BTreeMap<String, String>>, pods: &[ListedPod]) -> Lane {
    match outcome {
        Outcome::Reject(code) => Lane::Answered(code),
        Outcome::Route(route) => {
            let of = |backend: &Backend| endpoints(backend, route.missing_service, services, pods);
            let endpoints = route.backends.iter().map(|b| of(&b.backend)).collect();
            let mirror = route.mirror.as_ref().map(|m| (m.percent, of(&m.backend)));
            Lane::Routed(RoutedLane { route, endpoints, mirror })
        }
    }
}

/// Reads what the target's requests meet: its pods and, with a router, the router objects and the Services.
async fn observe(
    client: &kube::Client,
    target: &Target,
    header: Option<&HeaderProfile>,
    warned: &mut HashSet<(String, String, &'static str)>,
) -> Result<Routing, ViewError> {
    let pods = serving_pods(client, target, warned).await?;
    let ns = target.namespace.as_str();
    let objects = match &target.router {
        Router::Pods => {
            let pods: Vec<ServingPod> = pods.into_iter().map(|p| p.pod).collect();
            return Ok(Routing { plain: Lane::Pods(split(&pods)), header: None });
        }
        Router::Service { name } => RouterObjects::Service { name: name.clone() },
        Router::HttpRoute { name } => RouterObjects::HttpRoute(HTTP_ROUTE.get(client, ns, name).await?),
        Router::VirtualService { name } => RouterObjects::VirtualService {
            virtual_service: VIRTUAL_SERVICE.get(client, ns, name).await?,
            destination_rules: DESTINATION_RULE.list(client, ns).await?,
        },
        Router::NginxIngress { stable_ingress } => {
            RouterObjects::Nginx { stable: INGRESS.get(client, ns, stable_ingress).await?, ingresses: INGRESS.list(client, ns).await? }
        }
        Router::TraefikService { name } => RouterObjects::TraefikService(TRAEFIK_SERVICE.get(client, ns, name).await?),
    };
    let services = service_selectors(client, ns).await?;
    let lane_of = |request| lane(routers::resolve(&objects, request), &services, &pods);
    Ok(Routing { plain: lane_of(HttpRequest::PLAIN), header: header.map(|h| lane_of(HttpRequest::with_header(&h.name, &h.value))) })
}

/// Re-reads every target's routing until aborted. A failed reading keeps the last view (and is logged once until
/// the next success), as a router keeps its endpoints when the API server is unreachable; a router object that
/// no longer exists routes nothing (404), as a data plane whose route was deleted.
async fn refresh_view(client: kube::Client, targets: Vec<Target>, header: Option<HeaderProfile>, view: View, every: Duration) {
    let mut warned = HashSet::new();
    let mut failing = vec![false; targets.len()];
    loop {
        tokio::time::sleep(every).await;
        for (i, target) in targets.iter().enumerate() {
            let routing = match observe(&client, target, header.as_ref(), &mut warned).await {
                Ok(routing) => routing,
                Err(err) if err.router_missing() => Routing { plain: Lane::Answered(NO_ROUTE), header: None },
                Err(err) => {
                    if !std::mem::replace(&mut failing[i], true) {
                        let err = anyhow::Error::new(err);
                        tracing::warn!(namespace = %target.namespace, selector = %target.selector, router = ?target.router, error = format!("{err:#}"), "reading the traffic routing failed; keeping the last one");
                    }
                    continue;
                }
            };
            failing[i] = false;
            view.write()[i] = Arc::new(routing);
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
        let routings = view.read().clone();
        while due >= 1.0 {
            due -= 1.0;
            for (target, routing) in targets.iter().zip(&routings) {
                let header = sampler.carries_header(config.header.as_ref());
                if let Some(served) = sampler.route(routing.lane(header)) {
                    metrics.record(target, served, header);
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

    /// Starts with a configuration. The pods (and router objects and Services) are read once before this returns
    /// (so a bad selector, a missing router object or an unreachable cluster fails here), and `/metrics` is served
    /// on a free loopback port.
    pub async fn start_with(client: kube::Client, targets: Vec<Target>, config: TrafficConfig) -> anyhow::Result<Self> {
        let mut warned = HashSet::new();
        let mut initial = Vec::with_capacity(targets.len());
        for target in &targets {
            let routing = observe(&client, target, config.header.as_ref(), &mut warned)
                .await
                .with_context(|| format!("reading the traffic routing of {:?} in namespace {}", target.service, target.namespace))?;
            initial.push(Arc::new(routing));
        }
        let view: View = Arc::new(RwLock::new(initial));
        let metrics = Arc::new(Metrics::new());

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the traffic simulator's metrics port")?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().route("/metrics", get(serve_metrics)).with_state(metrics.clone());
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
            tokio::spawn(refresh_view(client, targets.clone(), config.header.clone(), view.clone(), config.refresh)),
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

    /// The split currently applied to each target's requests (those without the header), per version. Without a
    /// router it is the split by ready pods; with one, each version's share of all requests, which sums to less
    /// than 1 when the data plane answers some by itself (no route, no backend, no endpoints).
    pub fn shares(&self) -> Vec<Vec<VersionShare>> {
        self.view.read().iter().map(|routing| routing.lane(false).split()).collect()
    }

    /// As [`TrafficSimulator::shares`], for the requests that carry the header.
    pub fn header_shares(&self) -> Vec<Vec<VersionShare>> {
        self.view.read().iter().map(|routing| routing.lane(true).split()).collect()
    }

    /// Responses so far by `(rollouts-pod-template-hash, status code)`, over all targets (what
    /// `http_requests_total` counts; mirrored copies excluded). Answered by the data plane itself: hash `""`.
    pub fn counts(&self) -> BTreeMap<(String, u16), u64> {
        self.metrics.tally.lock().counts()
    }

    /// Everything counted so far, over all targets: responses split by whether their request carried the header,
    /// and mirrored copies.
    pub fn tally(&self) -> TrafficCounts {
        self.metrics.tally.lock().clone()
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
        metrics.record(&target, Served { response: Request { hash: "abc", code: 500, seconds: 0.12 }, mirrored: None }, false);
        metrics.record(&target, Served { response: Request { hash: "abc", code: 200, seconds: 0.02 }, mirrored: None }, false);
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
        assert_eq!(metrics.tally.lock().counts(), BTreeMap::from([(("abc".to_owned(), 200), 1), (("abc".to_owned(), 500), 1)]));
    }

    fn listed(name: &str, labels: &[(&str, &str)], profile: Profile) -> ListedPod {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let hash = labels.get(HASH_LABEL).cloned().unwrap_or_default();
        ListedPod { pod: pod(name, &hash, profile), labels }
    }

    /// Two versions of app `web`: stable `aaa` with 2 pods, canary `bbb` with 1 pod (failing half its requests).
    fn web_pods() -> Vec<ListedPod> {
        vec![
            listed("a-1", &[("app", "web"), (HASH_LABEL, "aaa")], Profile::default()),
            listed("a-2", &[("app", "web"), (HASH_LABEL, "aaa")], Profile::default()),
            listed("b-1", &[("app", "web"), (HASH_LABEL, "bbb")], profile(0.5, 20.0)),
        ]
    }

    /// Services `web` (both versions), `web-stable`, `web-canary` and `web-preview` (selecting no pod).
    fn web_services() -> BTreeMap<String, BTreeMap<String, String>> {
        let selector = |hash: Option<&str>| {
            let mut s = annotations(&[("app", "web")]);
            if let Some(hash) = hash {
                s.insert(HASH_LABEL.to_owned(), hash.to_owned());
            }
            s
        };
        BTreeMap::from([
            ("web".to_owned(), selector(None)),
            ("web-stable".to_owned(), selector(Some("aaa"))),
            ("web-canary".to_owned(), selector(Some("bbb"))),
            ("web-preview".to_owned(), selector(Some("ccc"))),
        ])
    }

    fn http_route_lane(rule: serde_json::Value, request: HttpRequest<'_>) -> Lane {
        let route = json!({"spec": {"rules": [rule]}});
        lane(routers::http_route(&route, request), &web_services(), &web_pods())
    }

    /// A drawn request: `(hash, code, mirrored (hash, code))`.
    type Drawn = (String, u16, Option<(String, u16)>);

    /// `n` requests through `lane`.
    fn draw(lane: &Lane, seed: u64, n: usize) -> Vec<Drawn> {
        let mut sampler = Sampler::new(Some(seed));
        (0..n)
            .map(|_| {
                let served = sampler.route(lane).unwrap();
                (served.response.hash.to_owned(), served.response.code, served.mirrored.map(|(h, c)| (h.to_owned(), c)))
            })
            .collect()
    }

    fn share_of(requests: &[Drawn], hash: &str) -> f64 {
        ratio(requests.iter().filter(|r| r.0 == hash).count(), requests.len())
    }

    #[test]
    fn a_routed_lane_splits_by_backend_weight_not_by_pods() {
        let lane = http_route_lane(
            json!({"backendRefs": [{"name": "web-stable", "weight": 80}, {"name": "web-canary", "weight": 20}]}),
            HttpRequest::PLAIN,
        );
        let split = lane.split();
        assert_eq!(split.iter().map(|v| (v.hash.as_str(), v.pods)).collect::<Vec<_>>(), vec![("aaa", 2), ("bbb", 1)]);
        assert!((split[0].share - 0.8).abs() < 1e-12 && (split[1].share - 0.2).abs() < 1e-12, "{split:?}");
        assert_eq!(split[1].profile, profile(0.5, 20.0));
        let requests = draw(&lane, 11, 20_000);
        assert_eq!(requests, draw(&lane, 11, 20_000), "a seed reproduces the requests");
        let canary = share_of(&requests, "bbb");
        assert!((canary - 0.2).abs() < 0.015, "canary share {canary}, pods alone would give 1/3");
        let canary_errors =
            ratio(requests.iter().filter(|r| r.0 == "bbb" && r.1 == 500).count(), requests.iter().filter(|r| r.0 == "bbb").count());
        assert!((canary_errors - 0.5).abs() < 0.03, "{canary_errors}");
        assert!(requests.iter().all(|r| r.2.is_none()));
    }

    #[test]
    fn a_service_backend_shares_its_requests_by_ready_pods_and_subsets_narrow_it() {
        let lane_of = |outcome| lane(outcome, &web_services(), &web_pods());
        let whole = lane_of(Outcome::service("web"));
        let canary = share_of(&draw(&whole, 3, 20_000), "bbb");
        assert!((canary - 1.0 / 3.0).abs() < 0.015, "{canary}");
        let vs = json!({"spec": {"http": [{"route": [{"destination": {"host": "web", "subset": "canary"}}]}]}});
        let dr = json!({"spec": {"host": "web", "subsets": [{"name": "canary", "labels": {HASH_LABEL: "bbb"}}]}});
        let subset = lane_of(routers::virtual_service(&vs, &[dr], HttpRequest::PLAIN));
        assert_eq!(subset.split().iter().map(|v| (v.hash.as_str(), v.share)).collect::<Vec<_>>(), vec![("bbb", 1.0)]);
    }

    #[test]
    fn backends_without_endpoints_are_answered_by_the_data_plane() {
        // No ready pods behind the Service: 503, no version.
        let lane = http_route_lane(json!({"backendRefs": [{"name": "web-preview"}]}), HttpRequest::PLAIN);
        assert!(lane.split().is_empty());
        assert!(draw(&lane, 1, 100).iter().all(|r| (r.0.as_str(), r.1) == ("", 503)));
        // A Service that does not exist is an invalid backend for Gateway API: 500 for its share only.
        let lane = http_route_lane(json!({"backendRefs": [{"name": "web-stable"}, {"name": "gone"}]}), HttpRequest::PLAIN);
        let requests = draw(&lane, 2, 10_000);
        let invalid = ratio(requests.iter().filter(|r| (r.0.as_str(), r.1) == ("", 500)).count(), requests.len());
        assert!((invalid - 0.5).abs() < 0.02, "{invalid}");
        assert!((lane.split()[0].share - 0.5).abs() < 1e-12, "the split leaves out what the data plane answers");
        // No route at all: 404.
        let no_route = super::lane(Outcome::Reject(routers::NO_ROUTE), &web_services(), &web_pods());
        assert_eq!(draw(&no_route, 1, 3), vec![(String::new(), 404, None); 3]);
    }

    #[test]
    fn mirrored_copies_follow_the_percentage_and_the_mirror_pods() {
        let lane = http_route_lane(
            json!({"backendRefs": [{"name": "web-stable"}],
                   "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-canary"}, "percent": 40}}]}),
            HttpRequest::PLAIN,
        );
        let requests = draw(&lane, 5, 20_000);
        assert!(requests.iter().all(|r| r.0 == "aaa"), "responses come from the chosen backend only");
        let mirrored: Vec<_> = requests.iter().filter_map(|r| r.2.clone()).collect();
        let mirrored_share = ratio(mirrored.len(), requests.len());
        assert!((mirrored_share - 0.4).abs() < 0.015, "{mirrored_share}");
        assert!(mirrored.iter().all(|(hash, _)| hash == "bbb"));
        let mirror_errors = ratio(mirrored.iter().filter(|(_, code)| *code == 500).count(), mirrored.len());
        assert!((mirror_errors - 0.5).abs() < 0.03, "the copies are answered by the mirror's pods: {mirror_errors}");
    }

    #[test]
    fn the_header_is_drawn_only_with_a_profile_and_selects_its_lane() {
        let shares = split(&[pod("a", "aaa", Profile::default()), pod("b", "bbb", Profile::default())]);
        let without = |seed| {
            let mut sampler = Sampler::new(Some(seed));
            (0..1000).map(|_| (sampler.carries_header(None), sampler.request(&shares).unwrap().hash.to_owned())).collect::<Vec<_>>()
        };
        let mut plain = Sampler::new(Some(9));
        let expected: Vec<_> = (0..1000).map(|_| (false, plain.request(&shares).unwrap().hash.to_owned())).collect();
        assert_eq!(without(9), expected, "no header profile, no extra draw: seeded runs are unchanged");
        let profile = HeaderProfile { name: "x-canary".into(), value: "yes".into(), fraction: 0.3 };
        let mut sampler = Sampler::new(Some(4));
        let carried = (0..20_000).filter(|_| sampler.carries_header(Some(&profile))).count();
        assert!((ratio(carried, 20_000) - 0.3).abs() < 0.015);
        let routing = Routing {
            plain: Lane::Answered(404),
            header: Some(http_route_lane(json!({"backendRefs": [{"name": "web-canary"}]}), HttpRequest::PLAIN)),
        };
        assert_eq!(routing.lane(false), &Lane::Answered(404));
        assert_eq!(routing.lane(true).split()[0].hash, "bbb");
        assert_eq!(Routing { plain: Lane::Answered(404), header: None }.lane(true), &Lane::Answered(404));
        assert_eq!(TrafficConfig::new(1).header("x", "y", 1.5).header.map(|h| h.fraction), Some(1.0));
        assert_eq!(TrafficConfig::new(1).header("x", "y", f64::NAN).header.map(|h| h.fraction), Some(0.0));
    }

    #[test]
    fn header_and_mirrored_requests_have_their_own_counters() {
        let metrics = Metrics::new();
        let target = Target::new("ns", "web", "app=web").via(Router::HttpRoute { name: "web".into() });
        metrics.record(&target, Served { response: Request { hash: "bbb", code: 200, seconds: 0.02 }, mirrored: None }, true);
        metrics.record(
            &target,
            Served { response: Request { hash: "aaa", code: 200, seconds: 0.02 }, mirrored: Some(("bbb", 500)) },
            false,
        );
        let text = metrics.encode().unwrap();
        for line in [
            r#"http_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="bbb",code="200"} 1"#,
            r#"http_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="aaa",code="200"} 1"#,
            r#"http_header_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="bbb",code="200"} 1"#,
            r#"http_mirrored_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="bbb",code="500"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains(r#"http_header_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="aaa""#), "{text}");
        assert!(
            !text.contains(r#"http_requests_total{namespace="ns",service="web",rollouts_pod_template_hash="bbb",code="500"}"#),
            "{text}"
        );
        let tally = metrics.tally.lock();
        assert_eq!(tally.responses, BTreeMap::from([((false, "aaa".to_owned(), 200), 1), ((true, "bbb".to_owned(), 200), 1)]));
        assert_eq!(tally.mirrored, BTreeMap::from([(("bbb".to_owned(), 500), 1)]));
    }
}

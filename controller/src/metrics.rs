//! `/metrics`: Argo Rollouts' controller metrics, same names, types, labels and values, so the dashboards and alerts
//! teams already have keep working (`controller/metrics/*.go` in Argo Rollouts).
//!
//! - **State**, read from the caches at scrape time and reported by the leader only (a standby's caches are as warm
//!   as the leader's, and two replicas reporting the same Rollouts would double every `sum()`): `rollout_info`,
//!   `rollout_info_replicas_{available,unavailable,desired,updated}`, `rollout_phase` (deprecated by Argo, still
//!   used by dashboards), `analysis_run_info`, `analysis_run_phase`, `analysis_run_metric_type`,
//!   `analysis_run_metric_phase`, `analysis_template_info`, `analysis_template_metric_info`.
//! - **Activity**, recorded as it happens: `rollout_reconcile` and `analysis_run_reconcile` (histograms, Argo's
//!   buckets), `rollout_reconcile_error` and `analysis_run_reconcile_error` (counters under Argo's names, which lack
//!   `_total`), `rollout_events_total`, and `controller_clientset_k8s_request_total` with bounded cardinality:
//!   `name` is always `N/A` (Argo's per-object names made it a memory leak at scale, argo-rollouts #3929).
//! - **Process**: `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//!   `process_open_fds`, `process_max_fds`, `process_start_time_seconds`, plus `argo_rollouts_controller_info`
//!   and `serin_controller_leader` (1 on the replica that leads).
//!
//! Series of a deleted Rollout or AnalysisRun are dropped when its deletion is seen, so the registry does not grow
//! with churn.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serin_api::analysis_template::Metric;
use serin_api::rollout::status::RolloutConditionType;
use serin_api::{AnalysisPhase, AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use serin_planner::conditions as cond;
use tokio::net::TcpListener;

/// Argo's reconcile histogram buckets, in seconds.
pub const RECONCILE_BUCKETS: [f64; 5] = [0.01, 0.15, 0.25, 0.5, 1.0];

/// `namespace`, `name`: the labels of the per-object activity metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ObjectLabels {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

/// Labels of `rollout_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct EventLabels {
    /// Namespace of the Rollout.
    pub namespace: String,
    /// Name of the Rollout.
    pub name: String,
    /// `Normal` or `Warning`.
    pub r#type: String,
    /// The event's reason.
    pub reason: String,
}

/// Labels of `controller_clientset_k8s_request_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The resource (plural), e.g. `rollouts`, `replicasets`, `leases`.
    pub kind: String,
    /// The namespace of the request (empty for cluster-wide requests).
    pub namespace: String,
    /// Always `N/A`: per-object names are not recorded.
    pub name: String,
    /// `Get`, `List`, `Watch`, `Create`, `Update`, `Patch`, `Delete` or `Unknown`.
    pub verb: String,
    /// The HTTP status of the answer; `0` when none came.
    pub status_code: String,
}

type HistogramFamily = Family<ObjectLabels, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

/// The caches the state metrics are read from.
#[derive(Clone)]
pub struct StateSource {
    /// Rollouts (malformed ones are skipped).
    pub rollouts: Store<DeserializeGuard<Rollout>>,
    /// AnalysisRuns.
    pub analysis_runs: Store<AnalysisRun>,
    /// AnalysisTemplates.
    pub analysis_templates: Store<AnalysisTemplate>,
    /// ClusterAnalysisTemplates.
    pub cluster_analysis_templates: Store<ClusterAnalysisTemplate>,
}

/// The controller's metrics registry. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rollout_reconcile: HistogramFamily,
    analysis_run_reconcile: HistogramFamily,
    rollout_errors: Arc<CounterMap<ObjectLabels>>,
    run_errors: Arc<CounterMap<ObjectLabels>>,
    events: Arc<CounterMap<EventLabels>>,
    requests: Family<RequestLabels, Counter>,
    state: Arc<StateCollector>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let rollout_reconcile: HistogramFamily = Family::new_with_constructor(reconcile_histogram);
        let analysis_run_reconcile: HistogramFamily = Family::new_with_constructor(reconcile_histogram);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("rollout_reconcile", "Rollout reconciliation performance", rollout_reconcile.clone());
        registry.register("analysis_run_reconcile", "Analysis Run reconciliation performance", analysis_run_reconcile.clone());
        registry.register(
            "controller_clientset_k8s_request",
            "Number of kubernetes requests executed during application reconciliation",
            requests.clone(),
        );
        // Argo's error counters are named without `_total`: exposed with the `unknown` type, which OpenMetrics allows
        // under any name.
        let rollout_errors =
            Arc::new(CounterMap::new("rollout_reconcile_error", "Error occurring during the rollout", MetricType::Unknown));
        let run_errors =
            Arc::new(CounterMap::new("analysis_run_reconcile_error", "Error occurring during the analysis run", MetricType::Unknown));
        let events = Arc::new(CounterMap::new("rollout_events", "Count of rollout events", MetricType::Counter));
        registry.register_collector(Box::new(rollout_errors.clone()));
        registry.register_collector(Box::new(run_errors.clone()));
        registry.register_collector(Box::new(events.clone()));
        let state = Arc::new(StateCollector::default());
        registry.register_collector(Box::new(state.clone()));
        registry.register_collector(Box::new(ProcessCollector));
        Self { registry, rollout_reconcile, analysis_run_reconcile, rollout_errors, run_errors, events, requests, state }
    }

    /// Gives the state metrics their caches.
    pub fn set_state_source(&self, source: StateSource) {
        *self.state.source.write() = Some(source);
    }

    /// Marks this replica as the leader (state metrics reported) or not.
    pub fn set_leading(&self, leading: bool) {
        self.state.leading.store(leading, Ordering::Release);
    }

    /// Records one Rollout reconcile: its duration, and whether it failed.
    pub fn rollout_reconciled(&self, namespace: &str, name: &str, seconds: f64, failed: bool) {
        let labels = ObjectLabels { namespace: namespace.to_owned(), name: name.to_owned() };
        self.rollout_reconcile.get_or_create(&labels).observe(seconds);
        if failed {
            self.rollout_errors.bump(labels);
        }
    }

    /// Records one AnalysisRun reconcile.
    pub fn analysis_run_reconciled(&self, namespace: &str, name: &str, seconds: f64, failed: bool) {
        let labels = ObjectLabels { namespace: namespace.to_owned(), name: name.to_owned() };
        self.analysis_run_reconcile.get_or_create(&labels).observe(seconds);
        if failed {
            self.run_errors.bump(labels);
        }
    }

    /// Counts an Event recorded on a Rollout.
    pub fn rollout_event(&self, namespace: &str, name: &str, warning: bool, reason: &str) {
        let labels = EventLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            r#type: if warning { "Warning" } else { "Normal" }.to_owned(),
            reason: reason.to_owned(),
        };
        self.events.bump(labels);
    }

    /// Counts one API request.
    pub fn request(&self, kind: &str, namespace: &str, verb: &str, status_code: u16) {
        let labels = RequestLabels {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: "N/A".to_owned(),
            verb: verb.to_owned(),
            status_code: status_code.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// Drops the series of a deleted Rollout.
    pub fn forget_rollout(&self, namespace: &str, name: &str) {
        let labels = ObjectLabels { namespace: namespace.to_owned(), name: name.to_owned() };
        self.rollout_reconcile.remove(&labels);
        self.rollout_errors.retain(|l| *l != labels);
        self.events.retain(|l| l.namespace != namespace || l.name != name);
    }

    /// Drops the series of a deleted AnalysisRun.
    pub fn forget_analysis_run(&self, namespace: &str, name: &str) {
        let labels = ObjectLabels { namespace: namespace.to_owned(), name: name.to_owned() };
        self.analysis_run_reconcile.remove(&labels);
        self.run_errors.retain(|l| *l != labels);
    }

    /// The exposition, in the `OpenMetrics` text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `/metrics` on `addr`; returns the bound address and the server future.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = metrics.encode();
            async move { ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body) }
        }),
    );
    Ok((bound, async move { axum::serve(listener, app).await }))
}

// === counters ===

/// A counter family kept in a map, so a deleted object's series can be dropped, and exposed as `counter` (sample
/// `<name>_total`) or `unknown` (sample `<name>`, for Argo's counters that lack the suffix).
#[derive(Debug)]
struct CounterMap<L> {
    name: &'static str,
    help: &'static str,
    metric_type: MetricType,
    values: Mutex<BTreeMap<L, u64>>,
}

impl<L: Ord> CounterMap<L> {
    fn new(name: &'static str, help: &'static str, metric_type: MetricType) -> Self {
        Self { name, help, metric_type, values: Mutex::new(BTreeMap::new()) }
    }

    fn bump(&self, labels: L) {
        *self.values.lock().entry(labels).or_insert(0) += 1;
    }

    fn retain(&self, keep: impl Fn(&L) -> bool) {
        self.values.lock().retain(|labels, _| keep(labels));
    }
}

impl<L: EncodeLabelSet + Ord + std::fmt::Debug + Send + Sync + 'static> prometheus_client::collector::Collector for CounterMap<L> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let values = self.values.lock();
        let mut family = encoder.encode_descriptor(self.name, self.help, None, self.metric_type)?;
        for (labels, count) in values.iter() {
            let mut sample = family.encode_family(labels)?;
            if matches!(self.metric_type, MetricType::Counter) {
                sample.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(count, None)?;
            } else {
                #[allow(clippy::cast_precision_loss)]
                sample.encode_gauge(&(*count as f64))?;
            }
        }
        Ok(())
    }
}

// === state ===

/// The metrics read from the caches at each scrape, by the leader only.
#[derive(Default)]
struct StateCollector {
    source: RwLock<Option<StateSource>>,
    leading: AtomicBool,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector").field("leading", &self.leading).finish_non_exhaustive()
    }
}

/// Argo's `calculatePhase` for `rollout_info` and `rollout_phase`.
const ROLLOUT_PHASES: [&str; 6] = ["Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"];
const ANALYSIS_PHASES: [&str; 6] = ["Pending", "Error", "Failed", "Successful", "Running", "Inconclusive"];

fn rollout_metric_phase(rollout: &Rollout) -> &'static str {
    let status = rollout.status.as_ref();
    if status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == RolloutConditionType::InvalidSpec)) {
        return "InvalidSpec";
    }
    let progressing = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == RolloutConditionType::Progressing));
    match progressing.map(|c| c.reason.as_str()) {
        Some(cond::NEW_RS_AVAILABLE_REASON) => "Completed",
        Some(cond::PAUSED_REASON) => "Paused",
        Some(cond::RS_CREATE_ERROR_REASON) => "Error",
        Some(cond::TIMED_OUT_REASON) => "Timeout",
        Some(cond::ABORTED_REASON) => "Abort",
        _ => "Progressing",
    }
}

/// Argo's `getStrategyAndTrafficRouter` (Serin's routers that Argo runs as plugins get their own names).
fn strategy_and_router(rollout: &Rollout) -> (&'static str, &'static str) {
    let Some(strategy) = rollout.spec.strategy.as_ref() else { return ("none", "") };
    if strategy.blue_green.is_some() {
        return ("blueGreen", "");
    }
    let Some(canary) = strategy.canary.as_ref() else { return ("none", "") };
    let Some(routing) = canary.traffic_routing.as_ref() else { return ("canary", "") };
    let router = if routing.app_mesh.is_some() {
        "AppMesh"
    } else if routing.smi.is_some() {
        "SMI"
    } else if routing.nginx.is_some() {
        "Nginx"
    } else if routing.istio.is_some() {
        "Istio"
    } else if routing.ambassador.is_some() {
        "Ambassador"
    } else if routing.alb.is_some() {
        "ALB"
    } else if routing.traefik.is_some() {
        "Traefik"
    } else if routing.gateway_api.is_some() || routing.plugins.contains_key("argoproj-labs/gatewayAPI") {
        "GatewayAPI"
    } else {
        ""
    };
    ("canary", router)
}

/// Argo's `metricproviders.Type`.
fn provider_type(metric: &Metric) -> &'static str {
    let p = &metric.provider;
    if p.prometheus.is_some() {
        "Prometheus"
    } else if p.job.is_some() {
        "Job"
    } else if p.kayenta.is_some() {
        "Kayenta"
    } else if p.web.is_some() {
        "Web"
    } else if p.datadog.is_some() {
        "Datadog"
    } else if p.wavefront.is_some() {
        "Wavefront"
    } else if p.new_relic.is_some() {
        "NewRelic"
    } else if p.cloud_watch.is_some() {
        "CloudWatch"
    } else if p.graphite.is_some() {
        "Graphite"
    } else if p.influxdb.is_some() {
        "Influxdb"
    } else if p.skywalking.is_some() {
        "SkyWalking"
    } else if !p.plugin.is_empty() {
        "RpcPlugin"
    } else {
        "Unknown Provider"
    }
}

/// Writes `name` as a gauge family with one sample per `(labels, value)`.
fn gauges(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        if labels.is_empty() {
            family.encode_gauge(&value)?;
        } else {
            family.encode_family(&labels)?.encode_gauge(&value)?;
        }
    }
    Ok(())
}

type Labels = Vec<(&'static str, String)>;

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

impl prometheus_client::collector::Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let leading = self.leading.load(Ordering::Acquire);
        let version = format!("v{}+serin", env!("CARGO_PKG_VERSION"));
        gauges(&mut encoder, "argo_rollouts_controller_info", "Running Argo-rollouts version", [(labels(&[("version", &version)]), 1.0)])?;
        gauges(
            &mut encoder,
            "serin_controller_leader",
            "1 on the replica that leads (writes), 0 on standbys",
            [(Labels::new(), flag(leading))],
        )?;
        let source = self.source.read().clone();
        let Some(source) = source.filter(|_| leading) else { return Ok(()) };

        let rollouts: Vec<Arc<DeserializeGuard<Rollout>>> = source.rollouts.state();
        let valid = || rollouts.iter().filter_map(|g| g.0.as_ref().ok());
        let key = |r: &Rollout| (r.metadata.namespace.clone().unwrap_or_default(), r.metadata.name.clone().unwrap_or_default());
        gauges(
            &mut encoder,
            "rollout_info",
            "Information about rollout.",
            valid().map(|r| {
                let (ns, name) = key(r);
                let (strategy, router) = strategy_and_router(r);
                (
                    labels(&[
                        ("namespace", &ns),
                        ("name", &name),
                        ("strategy", strategy),
                        ("traffic_router", router),
                        ("phase", rollout_metric_phase(r)),
                    ]),
                    1.0,
                )
            }),
        )?;
        let status_number =
            |r: &Rollout, f: fn(&serin_api::RolloutStatus) -> Option<i32>| f64::from(r.status.as_ref().and_then(f).unwrap_or(0));
        let per_rollout = |r: &Rollout, value: f64| {
            let (ns, name) = key(r);
            (labels(&[("namespace", &ns), ("name", &name)]), value)
        };
        gauges(
            &mut encoder,
            "rollout_info_replicas_available",
            "The number of available replicas per rollout.",
            valid().map(|r| per_rollout(r, status_number(r, |s| s.available_replicas))),
        )?;
        gauges(
            &mut encoder,
            "rollout_info_replicas_unavailable",
            "The number of unavailable replicas per rollout.",
            valid().map(|r| per_rollout(r, status_number(r, |s| s.replicas) - status_number(r, |s| s.available_replicas))),
        )?;
        gauges(
            &mut encoder,
            "rollout_info_replicas_desired",
            "The number of desired replicas per rollout.",
            valid().map(|r| per_rollout(r, f64::from(r.spec.replicas.unwrap_or(1)))),
        )?;
        gauges(
            &mut encoder,
            "rollout_info_replicas_updated",
            "The number of updated replicas per rollout.",
            valid().map(|r| per_rollout(r, status_number(r, |s| s.updated_replicas))),
        )?;
        gauges(
            &mut encoder,
            "rollout_phase",
            "Information on the state of the rollout (DEPRECATED - use rollout_info)",
            valid().flat_map(|r| {
                let (ns, name) = key(r);
                let (strategy, _) = strategy_and_router(r);
                let current = rollout_metric_phase(r);
                ROLLOUT_PHASES.map(|phase| {
                    (labels(&[("namespace", &ns), ("name", &name), ("strategy", strategy), ("phase", phase)]), flag(current == phase))
                })
            }),
        )?;

        let runs = source.analysis_runs.state();
        let run_key = |r: &AnalysisRun| (r.metadata.namespace.clone().unwrap_or_default(), r.metadata.name.clone().unwrap_or_default());
        let run_phase = |r: &AnalysisRun| {
            r.status.as_ref().and_then(|s| s.phase.clone()).map_or_else(|| "Pending".to_owned(), |p| p.as_str().to_owned())
        };
        gauges(
            &mut encoder,
            "analysis_run_info",
            "Information about analysis run.",
            runs.iter().map(|r| {
                let (ns, name) = run_key(r);
                (labels(&[("namespace", &ns), ("name", &name), ("phase", &run_phase(r))]), 1.0)
            }),
        )?;
        gauges(
            &mut encoder,
            "analysis_run_phase",
            "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
            runs.iter().flat_map(|r| {
                let (ns, name) = run_key(r);
                let current = run_phase(r);
                ANALYSIS_PHASES.map(|phase| (labels(&[("namespace", &ns), ("name", &name), ("phase", phase)]), flag(current == phase)))
            }),
        )?;
        gauges(
            &mut encoder,
            "analysis_run_metric_type",
            "Information on the type of a specific metric in the Analysis Runs",
            runs.iter().flat_map(|r| {
                let (ns, name) = run_key(r);
                r.spec
                    .metrics
                    .iter()
                    .map(|m| (labels(&[("namespace", &ns), ("name", &name), ("metric", &m.name), ("type", provider_type(m))]), 1.0))
                    .collect::<Vec<_>>()
            }),
        )?;
        gauges(
            &mut encoder,
            "analysis_run_metric_phase",
            "Information on the duration of a specific metric in the Analysis Run",
            runs.iter().flat_map(|r| {
                let (ns, name) = run_key(r);
                let results = r.status.as_ref().map(|s| s.metric_results.as_slice()).unwrap_or_default();
                r.spec
                    .metrics
                    .iter()
                    .flat_map(|m| {
                        let result = results.iter().find(|res| res.name == m.name);
                        let current = result.map_or(AnalysisPhase::Pending, |res| res.phase.clone());
                        let current = if current.as_str().is_empty() { "Pending".to_owned() } else { current.as_str().to_owned() };
                        let dry_run = result.and_then(|res| res.dry_run).unwrap_or(false).to_string();
                        ANALYSIS_PHASES.map(|phase| {
                            (
                                labels(&[
                                    ("namespace", &ns),
                                    ("name", &name),
                                    ("metric", &m.name),
                                    ("type", provider_type(m)),
                                    ("dry_run", &dry_run),
                                    ("phase", phase),
                                ]),
                                flag(current == phase),
                            )
                        })
                    })
                    .collect::<Vec<_>>()
            }),
        )?;

        let templates: Vec<(String, String, Vec<Metric>)> = source
            .analysis_templates
            .state()
            .iter()
            .map(|t| {
                (t.metadata.namespace.clone().unwrap_or_default(), t.metadata.name.clone().unwrap_or_default(), t.spec.metrics.clone())
            })
            .chain(
                source
                    .cluster_analysis_templates
                    .state()
                    .iter()
                    .map(|t| (String::new(), t.metadata.name.clone().unwrap_or_default(), t.spec.metrics.clone())),
            )
            .collect();
        gauges(
            &mut encoder,
            "analysis_template_info",
            "Information about analysis templates.",
            templates.iter().map(|(ns, name, _)| (labels(&[("namespace", ns), ("name", name)]), 1.0)),
        )?;
        gauges(
            &mut encoder,
            "analysis_template_metric_info",
            "Information on metrics in analysis templates.",
            templates.iter().flat_map(|(ns, name, metrics)| {
                metrics.iter().map(|m| (labels(&[("namespace", ns), ("name", name), ("type", provider_type(m)), ("metric", &m.name)]), 1.0))
            }),
        )?;
        Ok(())
    }
}

// === process ===

/// `process_*` from `/proc/self` (Linux), as the Go client's process collector reports them.
#[derive(Debug)]
struct ProcessCollector;

/// Kernel clock ticks per second as `/proc` reports them (`USER_HZ`, 100 on every Linux architecture Serin runs on).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    open_fds: f64,
    max_fds: f64,
}

impl ProcessStats {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
        Self::parse(&stat, &status, &boot, &limits, open_fds)
    }

    fn parse(stat: &str, status: &str, boot: &str, limits: &str, open_fds: usize) -> Option<Self> {
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
        let (utime, stime, start_ticks) = (field(14)?, field(15)?, field(22)?);
        let kib = |key: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|v| v * 1024.0)
        };
        let btime: f64 = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
        let max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        #[allow(clippy::cast_precision_loss)]
        let open_fds = open_fds as f64;
        Some(Self {
            cpu_seconds: (utime + stime) / USER_HZ,
            resident_bytes: kib("VmRSS:").unwrap_or(0.0),
            virtual_bytes: kib("VmSize:").unwrap_or(0.0),
            start_time_seconds: btime + start_ticks / USER_HZ,
            open_fds,
            max_fds,
        })
    }
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = ProcessStats::read() else { return Ok(()) };
        let cpu = ConstCounter::new(stats.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        for (name, help, value) in [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", stats.resident_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", stats.virtual_bytes),
            ("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", stats.start_time_seconds),
            ("process_open_fds", "Number of open file descriptors.", stats.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors.", stats.max_fds),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_argos_names_and_series_go_with_their_rollout() {
        let metrics = Metrics::new();
        metrics.rollout_reconciled("ns", "web", 0.02, false);
        metrics.rollout_reconciled("ns", "web", 0.3, true);
        metrics.rollout_event("ns", "web", false, "RolloutUpdated");
        metrics.request("rollouts", "ns", "Patch", 200);
        let text = metrics.encode();
        assert!(text.contains("# TYPE rollout_reconcile_error unknown"), "{text}");
        assert!(text.contains("rollout_reconcile_error{namespace=\"ns\",name=\"web\"} 1.0"), "{text}");
        assert!(
            text.contains("rollout_reconcile_bucket{le=\"0.15\",namespace=\"ns\",name=\"web\"} 1")
                || text.contains("rollout_reconcile_bucket{namespace=\"ns\",name=\"web\",le=\"0.15\"} 1"),
            "{text}"
        );
        assert!(text.contains("rollout_reconcile_count{namespace=\"ns\",name=\"web\"} 2"), "{text}");
        assert!(text.contains("rollout_events_total{namespace=\"ns\",name=\"web\",type=\"Normal\",reason=\"RolloutUpdated\"} 1"), "{text}");
        assert!(
            text.contains("controller_clientset_k8s_request_total{kind=\"rollouts\",namespace=\"ns\",name=\"N/A\",verb=\"Patch\",status_code=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("serin_controller_leader 0.0"), "{text}");
        assert!(text.contains("# HELP rollout_reconcile Rollout reconciliation performance.\n"), "{text}");
        assert!(!text.contains("rollout_info{"), "a standby reports no state: {text}");
        metrics.forget_rollout("ns", "web");
        let text = metrics.encode();
        assert!(!text.contains("rollout_reconcile_error{namespace=\"ns\",name=\"web\"}"), "{text}");
        assert!(!text.contains("rollout_reconcile_count{namespace=\"ns\",name=\"web\"}"), "{text}");
        assert!(!text.contains("rollout_events_total{namespace=\"ns\",name=\"web\""), "{text}");
    }

    #[test]
    fn process_stats_parse_procfs() {
        let stat =
            "4242 (serin controller) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 50 0 0 20 0 17 0 123456 1000000 2500 18446744073709551615";
        let status = "Name:\tserin\nVmSize:\t  102400 kB\nVmRSS:\t   20480 kB\n";
        let boot = "cpu  1 2 3\nbtime 1800000000\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1048576              1048576              files\n";
        let stats = ProcessStats::parse(stat, status, boot, limits, 12).expect("parses");
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 2.0,
                resident_bytes: 20_971_520.0,
                virtual_bytes: 104_857_600.0,
                start_time_seconds: 1_800_001_234.56,
                open_fds: 12.0,
                max_fds: 1_048_576.0,
            }
        );
        assert!(ProcessStats::read().is_some(), "this machine has /proc");
    }

    #[test]
    fn phases_follow_argos_calculate_phase() {
        let rollout = |reason: &str, invalid: bool| -> Rollout {
            let mut conditions = vec![serde_json::json!({"type": "Progressing", "status": "True", "reason": reason, "message": "",
                "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"})];
            if invalid {
                conditions.push(serde_json::json!({"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "",
                    "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}));
            }
            serde_json::from_value(serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
                "spec": {"strategy": {"canary": {"trafficRouting": {"istio": {}}}}}, "status": {"conditions": conditions}}))
            .expect("rollout")
        };
        assert_eq!(rollout_metric_phase(&rollout("NewReplicaSetAvailable", false)), "Completed");
        assert_eq!(rollout_metric_phase(&rollout("RolloutPaused", false)), "Paused");
        assert_eq!(rollout_metric_phase(&rollout("ProgressDeadlineExceeded", false)), "Timeout");
        assert_eq!(rollout_metric_phase(&rollout("RolloutAborted", false)), "Abort");
        assert_eq!(rollout_metric_phase(&rollout("ReplicaSetUpdated", false)), "Progressing");
        assert_eq!(rollout_metric_phase(&rollout("RolloutAborted", true)), "InvalidSpec");
        assert_eq!(strategy_and_router(&rollout("x", false)), ("canary", "Istio"));
    }
}

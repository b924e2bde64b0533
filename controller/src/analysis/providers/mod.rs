//! Metric providers: where measurements come from. One trait, [`Provider`], implemented per provider kind and
//! dispatched through the [`AnyProvider`] enum (no boxed futures, no `dyn`).
//!
//! A provider only measures. It never judges: it returns a [`Reading`], and the AnalysisRun reconciler evaluates
//! the metric's conditions on a [`Reading::Value`]. Only the job provider decides a phase itself (a Job's outcome
//! *is* the verdict). A provider failure is a [`ProviderError`], which becomes a measurement with phase `Error`:
//! measurement errors are data, never a failed reconcile.
//!
//! The metric a provider receives has its `{{args.x}}` placeholders substituted, secrets included, so provider
//! requests carry the real values. The reconciler redacts every secret value from whatever comes back (values,
//! messages, metadata) before it is stored, logged or emitted.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serin_api::AnalysisPhase;
use serin_api::AnalysisRun;
use serin_api::analysis_run::Measurement;
use serin_api::analysis_template::Metric;
use serin_planner::analysis::MetricValue;

pub mod http;
pub mod job;
pub mod prometheus;
pub mod web;

/// What one measurement produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// A value for the success/failure conditions to judge.
    Value {
        /// The measured value.
        value: MetricValue,
        /// Provider details to keep on the measurement (never secrets).
        metadata: BTreeMap<String, String>,
    },
    /// The provider decided the outcome itself (the job provider: Complete means Successful).
    Decided {
        /// The outcome.
        phase: AnalysisPhase,
        /// Why, for the measurement's message.
        message: Option<String>,
        /// Provider details to keep on the measurement.
        metadata: BTreeMap<String, String>,
    },
    /// The measurement is still in flight (a running Job): the reconciler keeps it open and resumes it.
    InFlight {
        /// Provider details identifying the in-flight work (e.g. the Job name).
        metadata: BTreeMap<String, String>,
        /// When to look again; `None` waits for an event (the Job changing) or the next resync.
        resume_at: Option<Timestamp>,
    },
}

/// A provider could not measure. The message is user-facing (it lands on the measurement).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

impl ProviderError {
    /// An error from a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What a provider needs to take one measurement.
#[derive(Clone, Copy, Debug)]
pub struct MeasureContext<'a> {
    /// The run being measured (namespace, name, uid for owned objects).
    pub run: &'a AnalysisRun,
    /// The metric, arguments substituted (secret values included).
    pub metric: &'a Metric,
    /// The reconcile's clock.
    pub now: Timestamp,
}

/// One provider kind.
// `async fn` in a public trait hides the futures' auto traits from generic callers; Serin never calls it
// generically, only through `AnyProvider` on concrete types, where `Send` is inferred.
#[allow(async_fn_in_trait)]
pub trait Provider {
    /// The provider's name as in the metric spec (`prometheus`, `web`, `job`).
    fn kind(&self) -> &'static str;

    /// Starts (and for synchronous providers, completes) a measurement.
    async fn run(&self, cx: MeasureContext<'_>) -> Result<Reading, ProviderError>;

    /// Continues an in-flight measurement. Synchronous providers never leave one in flight.
    async fn resume(&self, cx: MeasureContext<'_>, measurement: &Measurement) -> Result<Reading, ProviderError> {
        let _ = (cx, measurement);
        Err(ProviderError::new(format!("the {} provider has no in-flight measurements to resume", self.kind())))
    }

    /// Stops an in-flight measurement because the run is terminating.
    async fn terminate(&self, cx: MeasureContext<'_>, measurement: &Measurement) -> Result<Reading, ProviderError> {
        let _ = (cx, measurement);
        Ok(Reading::Decided {
            phase: AnalysisPhase::Successful,
            message: Some(format!("{} measurement terminated", self.kind())),
            metadata: BTreeMap::new(),
        })
    }

    /// Deletes provider-side objects of measurements no longer retained (the job provider's Jobs).
    async fn garbage_collect(&self, cx: MeasureContext<'_>, keep: usize) -> Result<(), ProviderError> {
        let _ = (cx, keep);
        Ok(())
    }

    /// Details of the metric worth showing on its result, e.g. the resolved Prometheus query. Called with the
    /// metric whose secret arguments are still placeholders.
    fn metric_metadata(&self, metric: &Metric) -> BTreeMap<String, String> {
        let _ = metric;
        BTreeMap::new()
    }
}

/// What providers are built from: the HTTP clients and the Kubernetes client.
#[derive(Clone)]
pub struct Clients {
    /// HTTP clients of the web and prometheus providers.
    pub http: http::HttpClients,
    /// Kubernetes client of the job provider.
    pub kube: kube::Client,
}

/// Every provider, dispatched by kind.
pub enum AnyProvider {
    /// `prometheus`.
    Prometheus(prometheus::PrometheusProvider),
    /// `web`.
    Web(web::WebProvider),
    /// `job`.
    Job(job::JobProvider),
}

impl AnyProvider {
    /// The provider of a metric (arguments substituted). Metrics are validated before, so an unsupported or
    /// missing provider is only reported here as a measurement error.
    pub fn new(metric: &Metric, clients: &Clients) -> Result<Self, ProviderError> {
        let p = &metric.provider;
        if let Some(m) = &p.prometheus {
            return Ok(Self::Prometheus(prometheus::PrometheusProvider::new(m, &clients.http)?));
        }
        if let Some(m) = &p.web {
            return Ok(Self::Web(web::WebProvider::new(m, &clients.http)?));
        }
        if let Some(m) = &p.job {
            return Ok(Self::Job(job::JobProvider::new(m, &clients.kube)));
        }
        Err(ProviderError::new(format!("metric {:?} has no supported provider", metric.name)))
    }
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyProvider::Prometheus($p) => $e,
            AnyProvider::Web($p) => $e,
            AnyProvider::Job($p) => $e,
        }
    };
}

impl Provider for AnyProvider {
    fn kind(&self) -> &'static str {
        dispatch!(self, p => p.kind())
    }

    async fn run(&self, cx: MeasureContext<'_>) -> Result<Reading, ProviderError> {
        dispatch!(self, p => p.run(cx).await)
    }

    async fn resume(&self, cx: MeasureContext<'_>, measurement: &Measurement) -> Result<Reading, ProviderError> {
        dispatch!(self, p => p.resume(cx, measurement).await)
    }

    async fn terminate(&self, cx: MeasureContext<'_>, measurement: &Measurement) -> Result<Reading, ProviderError> {
        dispatch!(self, p => p.terminate(cx, measurement).await)
    }

    async fn garbage_collect(&self, cx: MeasureContext<'_>, keep: usize) -> Result<(), ProviderError> {
        dispatch!(self, p => p.garbage_collect(cx, keep).await)
    }

    fn metric_metadata(&self, metric: &Metric) -> BTreeMap<String, String> {
        dispatch!(self, p => p.metric_metadata(metric))
    }
}

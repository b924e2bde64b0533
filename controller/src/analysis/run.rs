//! Reconciling one AnalysisRun: resolve arguments, take the measurements that are due (in parallel), judge them,
//! assess the run, write the status, and requeue at the exact instant the next measurement is due.
//!
//! Everything that decides is in `serin_planner::analysis`; this module does the I/O around it. Measurement
//! errors are data: a provider failure is a measurement with phase `Error`, never a failed reconcile. Secret
//! argument values reach provider requests only: every text a provider returns is redacted before it is stored,
//! logged or emitted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::{Resource, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;
use serin_api::analysis_run::{AnalysisRunStatus, Measurement, MetricResult};
use serin_api::analysis_template::Metric;
use serin_api::{AnalysisPhase, AnalysisRun};
use serin_planner::analysis::args::Args;
use serin_planner::analysis::assess::{self, RunMetric};
use serin_planner::analysis::condition;
use serin_planner::analysis::metric::MetricSettings;
use serin_planner::analysis::schedule::{self, Scheduled, Task};
use serin_planner::plan::seconds;
use serin_planner::status_patch::merge_diff;
use tracing::{debug, info, instrument, warn};

use super::providers::{AnyProvider, Clients, MeasureContext, Provider, Reading};
use crate::context::Failures;
use crate::execute::patch_params;

/// Shared state of the AnalysisRun reconciler.
pub struct RunContext {
    /// Provider clients (HTTP, Kubernetes).
    pub clients: Clients,
    /// Event recorder.
    pub recorder: Recorder,
    /// The `resourceVersion` of our last status write per run (`namespace/name`): a cached copy older than that
    /// would make us measure twice.
    pub written: Mutex<HashMap<String, u64>>,
    /// Consecutive failed reconciles per run, for backoff.
    pub failures: Failures,
    /// Requeue interval when nothing is scheduled.
    pub resync: Duration,
    /// The controller's `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A failed reconcile: only writes to the API fail one; measurement failures are recorded on the run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing the status failed.
    #[error("writing AnalysisRun status: {0}")]
    WriteStatus(#[source] kube::Error),
    /// Reading a Secret behind a `secretKeyRef` argument failed (not "not found": that fails the run).
    #[error("reading secret {name}: {source}")]
    ReadSecret {
        /// The Secret.
        name: String,
        /// API error.
        #[source]
        source: kube::Error,
    },
    /// Deleting an expired run failed.
    #[error("deleting expired AnalysisRun: {0}")]
    Delete(#[source] kube::Error),
}

fn key(run: &AnalysisRun) -> String {
    format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any())
}

fn rv(run: &AnalysisRun) -> Option<u64> {
    run.metadata.resource_version.as_deref()?.parse().ok()
}

/// The metrics of a run, resolved.
struct Resolved {
    args: Args,
    /// Per metric: real (for the provider), public (secrets redacted), settings, dry run, retention.
    metrics: Vec<ResolvedMetric>,
}

struct ResolvedMetric {
    real: Metric,
    public: Metric,
    settings: MetricSettings,
    dry_run: bool,
    retention: usize,
}

/// Reconciles one AnalysisRun.
#[instrument(skip_all, fields(analysisrun = %run.name_any(), namespace = %run.namespace().unwrap_or_default()))]
pub async fn reconcile(run: Arc<AnalysisRun>, ctx: Arc<RunContext>) -> Result<Action, RunError> {
    let key = key(&run);
    if run.metadata.deletion_timestamp.is_some() {
        ctx.written.lock().remove(&key);
        return Ok(Action::await_change());
    }
    if let (Some(written), Some(seen)) = (ctx.written.lock().get(&key).copied(), rv(&run))
        && seen < written
    {
        debug!("cache older than our last write; waiting for the watch");
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let now = Timestamp::now();
    let status = run.status.clone().unwrap_or_default();
    if status.phase.as_ref().is_some_and(AnalysisPhase::is_completed) {
        return expire(&run, &ctx, &status, now).await;
    }

    let mut new = status.clone();
    let started_at = new.started_at.get_or_insert_with(|| seconds(now)).0;
    let next = match resolve(&run, &ctx).await {
        Err(Unresolved::Transient(err)) => return Err(err),
        Err(Unresolved::Invalid(message)) => {
            warn!(%message, "analysis run cannot run");
            new.phase = Some(AnalysisPhase::Error);
            new.message = Some(message);
            new.completed_at = Some(seconds(now));
            None
        }
        Ok(resolved) => measure_and_assess(&run, &ctx, &resolved, &mut new, started_at, now).await,
    };

    if new.phase != status.phase && new.phase.as_ref().is_some_and(AnalysisPhase::is_completed) {
        let phase = new.phase.clone().unwrap_or_default();
        let warning = matches!(phase, AnalysisPhase::Failed | AnalysisPhase::Error);
        let note = match &new.message {
            Some(message) => format!("Analysis Run Completed. Result: {phase}: {message}"),
            None => format!("Analysis Run Completed. Result: {phase}"),
        };
        event(&ctx, &run, warning, &format!("AnalysisRun{phase}"), note).await;
    }
    write_status(&run, &ctx, &status, &new).await?;
    ctx.failures.succeeded(&key);

    if new.phase.as_ref().is_some_and(AnalysisPhase::is_completed) {
        return Ok(match ttl_expiry(&run, &new) {
            Some(at) => Action::requeue(until(at)),
            None => Action::await_change(),
        });
    }
    Ok(Action::requeue(next.map_or(ctx.resync, until).min(ctx.resync)))
}

/// Time from now until `at` (zero if past), measured after the writes so the requeue lands on the instant.
fn until(at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
}

/// Why a run's metrics could not be resolved.
enum Unresolved {
    /// The run cannot work as written (a missing Secret, an invalid metric): its Error message.
    Invalid(String),
    /// The API failed reading a Secret: retried with backoff, the run is not failed for it.
    Transient(RunError),
}

impl From<String> for Unresolved {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

/// Resolves arguments (reading Secrets) and parses every metric.
async fn resolve(run: &AnalysisRun, ctx: &RunContext) -> Result<Resolved, Unresolved> {
    let namespace = run.namespace().unwrap_or_default();
    let mut secrets: BTreeMap<(String, String), Result<String, String>> = BTreeMap::new();
    for arg in &run.spec.args {
        let Some(key_ref) = arg.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) else { continue };
        let id = (key_ref.name.clone(), key_ref.key.clone());
        if secrets.contains_key(&id) {
            continue;
        }
        let api: Api<Secret> = Api::namespaced(ctx.clients.kube.clone(), &namespace);
        let value = match api.get_opt(&key_ref.name).await {
            Ok(Some(secret)) => secret
                .data
                .as_ref()
                .and_then(|d| d.get(&key_ref.key))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(&key_ref.key)).cloned())
                .ok_or_else(|| format!("key \"{}\" not found in secret \"{}\"", key_ref.key, key_ref.name)),
            Ok(None) => Err(format!("secret \"{}\" not found", key_ref.name)),
            Err(err) => return Err(Unresolved::Transient(RunError::ReadSecret { name: key_ref.name.clone(), source: err })),
        };
        secrets.insert(id, value);
    }
    let args = Args::resolve(&run.spec.args, |name, key| {
        secrets.get(&(name.to_owned(), key.to_owned())).cloned().unwrap_or_else(|| Err("secret not read".to_owned()))
    })
    .map_err(|e| format!("unable to resolve metric arguments: {e}"))?;

    if run.spec.metrics.is_empty() {
        return Err("analysis spec invalid: no metrics specified".to_owned().into());
    }
    let mut metrics = Vec::with_capacity(run.spec.metrics.len());
    for (i, metric) in run.spec.metrics.iter().enumerate() {
        if run.spec.metrics[..i].iter().any(|m| m.name == metric.name) {
            return Err(format!("analysis spec invalid: metrics[{i}]: duplicate name \"{}\"", metric.name).into());
        }
        let real = args.all(metric).map_err(|e| format!("unable to resolve metric arguments: {}", args.redact(&e.to_string())))?;
        let public = args.public(metric).map_err(|e| format!("unable to resolve metric arguments: {e}"))?;
        let settings = MetricSettings::parse(i, &real).map_err(|e| format!("analysis spec invalid: {}", args.redact(&e)))?;
        let dry_run = assess::is_dry_run(&run.spec.dry_run, &metric.name).map_err(|e| format!("analysis spec invalid: dryRun: {e}"))?;
        let retention = assess::retention(&run.spec.measurement_retention, &metric.name)
            .map_err(|e| format!("analysis spec invalid: measurementRetention: {e}"))?;
        metrics.push(ResolvedMetric { real, public, settings, dry_run, retention });
    }
    Ok(Resolved { args, metrics })
}

/// Takes the due measurements, assesses the run into `new`, and returns when to come back.
async fn measure_and_assess(
    run: &AnalysisRun,
    ctx: &RunContext,
    resolved: &Resolved,
    new: &mut AnalysisRunStatus,
    started_at: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    let run_metrics: Vec<RunMetric<'_>> =
        resolved.metrics.iter().map(|m| RunMetric { name: &m.real.name, settings: &m.settings, dry_run: m.dry_run }).collect();
    let scheduled: Vec<Scheduled<'_>> = resolved.metrics.iter().map(|m| Scheduled { name: &m.real.name, settings: &m.settings }).collect();
    let terminate = run.spec.terminate == Some(true);
    let terminating = assess::is_terminating(new, terminate, &run_metrics);
    let tasks = schedule::tasks(new, &scheduled, terminating, started_at, now);
    if !tasks.is_empty() {
        debug!(count = tasks.len(), "taking measurements");
    }
    let taken = join_all(tasks.iter().map(|&(index, task)| {
        let metric = &resolved.metrics[index];
        let in_flight = new.metric_results.iter().find(|r| r.name == metric.real.name).and_then(|r| r.measurements.last()).cloned();
        async move { (index, task, take(run, ctx, resolved, metric, task, in_flight.as_ref(), now).await) }
    }))
    .await;

    for (index, task, (measurement, metric_metadata)) in taken {
        let metric = &resolved.metrics[index];
        if !new.metric_results.iter().any(|r| r.name == metric.real.name) {
            new.metric_results.push(MetricResult {
                name: metric.real.name.clone(),
                phase: AnalysisPhase::Running,
                dry_run: metric.dry_run.then_some(true),
                ..MetricResult::default()
            });
        }
        let Some(result) = new.metric_results.iter_mut().find(|r| r.name == metric.real.name) else { continue };
        if result.metadata.is_empty() {
            result.metadata = metric_metadata;
        }
        if measurement.phase == AnalysisPhase::Error {
            warn!(metric = %metric.real.name, message = measurement.message.as_deref().unwrap_or_default(), "measurement error");
        } else if measurement.phase.is_completed() {
            debug!(metric = %metric.real.name, phase = %measurement.phase, value = measurement.value.as_deref().unwrap_or_default(), "measured");
        }
        assess::record(result, measurement, !matches!(task, Task::Measure { .. }));
    }

    let assessment = assess::assess_run(new, terminate, &run_metrics);
    for transition in &assessment.transitions {
        let warning = matches!(transition.phase, AnalysisPhase::Failed | AnalysisPhase::Error);
        let message = new.metric_results.iter().find(|r| r.name == transition.metric).and_then(|r| r.message.clone());
        let note = match message {
            Some(m) => format!("Metric '{}' Completed. Result: {}: {m}", transition.metric, transition.phase),
            None => format!("Metric '{}' Completed. Result: {}", transition.metric, transition.phase),
        };
        event(ctx, run, warning, &format!("Metric{}", transition.phase), note).await;
    }
    if new.phase.as_ref() != Some(&assessment.phase) {
        info!(from = new.phase.as_ref().map_or("", |p| p.as_str()), to = %assessment.phase, "analysis run phase");
    }
    new.phase = Some(assessment.phase.clone());
    new.message = match assessment.message {
        None if terminate && assessment.phase == AnalysisPhase::Successful => Some("Run Terminated".to_owned()),
        message => message,
    };
    if assessment.phase.is_completed() {
        new.completed_at = Some(seconds(now));
    }

    for metric in &resolved.metrics {
        let Some(result) = new.metric_results.iter_mut().find(|r| r.name == metric.real.name) else { continue };
        assess::trim(result, metric.retention);
        if metric.real.provider.job.is_some() && tasks.iter().any(|(i, _)| resolved.metrics[*i].real.name == metric.real.name) {
            let provider = AnyProvider::new(&metric.real, &ctx.clients);
            let cx = MeasureContext { run, metric: &metric.real, now };
            if let Ok(provider) = provider
                && let Err(err) = provider.garbage_collect(cx, metric.retention).await
            {
                warn!(metric = %metric.real.name, error = %resolved.args.redact(&err.to_string()), "garbage collecting jobs");
            }
        }
    }
    if assessment.phase.is_completed() {
        return None;
    }
    let terminating = assess::is_terminating(new, terminate, &run_metrics);
    schedule::next_reconcile(new, &scheduled, terminating, started_at, now)
}

/// Takes (or resumes, or stops) one measurement; never fails: errors are measurements with phase Error.
async fn take(
    run: &AnalysisRun,
    ctx: &RunContext,
    resolved: &Resolved,
    metric: &ResolvedMetric,
    task: Task,
    in_flight: Option<&Measurement>,
    now: Timestamp,
) -> (Measurement, BTreeMap<String, String>) {
    let redact = |text: &str| resolved.args.redact(text);
    let mut measurement = match (task, in_flight) {
        (Task::Resume | Task::Terminate, Some(m)) => m.clone(),
        (Task::Measure { due }, _) => Measurement {
            phase: AnalysisPhase::Running,
            started_at: Some(Time(schedule::recorded_start(due, now, metric.settings.interval))),
            ..Measurement::default()
        },
        (_, None) => Measurement { phase: AnalysisPhase::Running, started_at: Some(seconds(now)), ..Measurement::default() },
    };
    let cx = MeasureContext { run, metric: &metric.real, now };
    let (reading, metric_metadata) = match AnyProvider::new(&metric.real, &ctx.clients) {
        Err(err) => (Err(err), BTreeMap::new()),
        Ok(provider) => {
            let metadata = provider.metric_metadata(&metric.public);
            let reading = match (task, in_flight) {
                (Task::Resume, Some(m)) => provider.resume(cx, m).await,
                (Task::Terminate, Some(m)) => provider.terminate(cx, m).await,
                _ => provider.run(cx).await,
            };
            (reading, metadata)
        }
    };
    let redact_map = |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k, redact(&v))).collect::<BTreeMap<_, _>>();
    let finished = Some(seconds(Timestamp::now()));
    match reading {
        Ok(Reading::Value { value, metadata }) => {
            measurement.value = Some(redact(&value.to_string()));
            measurement.metadata.extend(redact_map(metadata));
            match condition::evaluate(metric.real.success_condition.as_deref(), metric.real.failure_condition.as_deref(), &value) {
                Ok(phase) => measurement.phase = phase,
                Err(err) => {
                    measurement.phase = AnalysisPhase::Error;
                    measurement.message = Some(redact(&err.to_string()));
                }
            }
            measurement.finished_at = finished;
        }
        Ok(Reading::Decided { phase, message, metadata }) => {
            measurement.phase = phase;
            measurement.message = message.map(|m| redact(&m));
            measurement.metadata.extend(redact_map(metadata));
            measurement.finished_at = finished;
        }
        Ok(Reading::InFlight { metadata, resume_at }) => {
            measurement.phase = AnalysisPhase::Running;
            measurement.metadata.extend(redact_map(metadata));
            measurement.resume_at = resume_at.map(Time);
        }
        Err(err) => {
            measurement.phase = AnalysisPhase::Error;
            measurement.message = Some(redact(&err.to_string()));
            measurement.finished_at = finished;
        }
    }
    (measurement, redact_map(metric_metadata))
}

/// Writes the status difference as a merge patch (the CRD has no status subresource, as in Argo).
async fn write_status(run: &AnalysisRun, ctx: &RunContext, old: &AnalysisRunStatus, new: &AnalysisRunStatus) -> Result<(), RunError> {
    let (Ok(old_json), Ok(new_json)) = (serde_json::to_value(old), serde_json::to_value(new)) else { return Ok(()) };
    let Some(diff) = merge_diff(&old_json, &new_json) else { return Ok(()) };
    let api: Api<AnalysisRun> = Api::namespaced(ctx.clients.kube.clone(), &run.namespace().unwrap_or_default());
    let mut patch = json!({ "status": diff });
    if let Some(rv) = &run.metadata.resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let written = api.patch(&run.name_any(), &patch_params(), &Patch::Merge(&patch)).await.map_err(RunError::WriteStatus)?;
    if let Some(rv) = rv(&written) {
        ctx.written.lock().insert(key(run), rv);
    }
    Ok(())
}

/// When a completed run's `ttlStrategy` deletes it.
fn ttl_expiry(run: &AnalysisRun, status: &AnalysisRunStatus) -> Option<Timestamp> {
    let ttl = run.spec.ttl_strategy.as_ref()?;
    let completed = status.completed_at.as_ref()?.0;
    let seconds = match status.phase.as_ref()? {
        AnalysisPhase::Successful => ttl.seconds_after_success.or(ttl.seconds_after_completion),
        AnalysisPhase::Failed | AnalysisPhase::Error => ttl.seconds_after_failure.or(ttl.seconds_after_completion),
        _ => ttl.seconds_after_completion,
    }?;
    Some(completed + jiff::SignedDuration::from_secs(i64::from(seconds.max(0))))
}

/// A completed run: delete it once its TTL has passed.
async fn expire(run: &AnalysisRun, ctx: &RunContext, status: &AnalysisRunStatus, now: Timestamp) -> Result<Action, RunError> {
    let Some(at) = ttl_expiry(run, status) else { return Ok(Action::await_change()) };
    if at > now {
        return Ok(Action::requeue(until(at)));
    }
    info!("deleting AnalysisRun: ttlStrategy expired");
    let api: Api<AnalysisRun> = Api::namespaced(ctx.clients.kube.clone(), &run.namespace().unwrap_or_default());
    match api.delete(&run.name_any(), &DeleteParams::default()).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Action::await_change()),
        Err(err) => Err(RunError::Delete(err)),
    }
}

async fn event(ctx: &RunContext, run: &AnalysisRun, warning: bool, reason: &str, note: String) {
    let ev = KubeEvent {
        type_: if warning { EventType::Warning } else { EventType::Normal },
        reason: reason.to_owned(),
        note: Some(note),
        action: reason.to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &run.object_ref(&())).await {
        warn!(error = %err, reason, "recording event");
    }
}

/// Backoff on failed writes: 250 ms doubling to 5 minutes.
pub fn error_policy(run: Arc<AnalysisRun>, err: &RunError, ctx: Arc<RunContext>) -> Action {
    if let RunError::WriteStatus(kube::Error::Api(s)) = err
        && s.code == 409
    {
        return Action::requeue(Duration::from_millis(20));
    }
    let delay = ctx.failures.backoff(&key(&run));
    warn!(error = %err, retry_in = ?delay, "analysis run reconcile failed");
    Action::requeue(delay)
}

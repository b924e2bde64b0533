//! How measurements add up: counters per metric ([`record`]), a metric's phase from its counters and limits
//! ([`assess_metric`]), a run's phase from its metrics ([`assess_run`]), dry-run and retention selection.
//!
//! Rules (Argo's `assessMetricStatus` / `assessRunStatus`):
//! - a metric with an in-flight last measurement is Running; with none yet, Pending (Successful if terminating);
//! - `failed > failureLimit` is Failed, `inconclusive > inconclusiveLimit` Inconclusive, `consecutiveError >
//!   consecutiveErrorLimit` Error; when several hold, the later one in that order wins; a negative limit is off;
//! - then `consecutiveSuccess >= consecutiveSuccessLimit` (when set) is Successful;
//! - reaching `count` is Successful, unless a consecutive-success limit was set and not reached: then Failed when
//!   `failureLimit` is disabled (-1), Inconclusive otherwise;
//! - an unbounded metric (interval, no count) runs until the run terminates, then is Successful;
//! - a run is Running while any metric is; then it takes its worst metric phase, in the order
//!   Successful < Inconclusive < Error < Failed. Dry-run metrics are counted apart and never decide the phase;
//! - a run is terminating when `spec.terminate` is set or any non-dry-run metric ended Failed, Error or
//!   Inconclusive: no further measurements are started, in-flight ones are stopped, and unfinished metrics end
//!   Successful. A terminating run is decided as soon as no measurement is in flight: metrics that never started
//!   (a long `initialDelay`, a `count` still to reach) do not hold it, so one failed metric fails the run at once
//!   (Argo's `assessRunStatus` returns the worst phase as soon as the run is terminating).

use regex::Regex;
use serin_api::AnalysisPhase;
use serin_api::analysis_run::{AnalysisRunStatus, Measurement, MetricResult, RunSummary};
use serin_api::analysis_template::{DryRun, MeasurementRetention};

use super::metric::{DEFAULT_MEASUREMENT_RETENTION, MetricSettings};

/// Adds a measurement to a metric's result: appended, or replacing the in-flight last one. Counters move only
/// when the measurement is complete.
pub fn record(result: &mut MetricResult, measurement: Measurement, replaces_in_flight: bool) {
    let counter = |c: &mut Option<i32>| *c = Some(c.unwrap_or(0) + 1);
    match &measurement.phase {
        AnalysisPhase::Successful => {
            counter(&mut result.successful);
            counter(&mut result.count);
            counter(&mut result.consecutive_success);
            result.consecutive_error = Some(0);
        }
        AnalysisPhase::Failed | AnalysisPhase::Inconclusive => {
            if measurement.phase == AnalysisPhase::Failed {
                counter(&mut result.failed);
            } else {
                counter(&mut result.inconclusive);
            }
            counter(&mut result.count);
            result.consecutive_success = Some(0);
            result.consecutive_error = Some(0);
        }
        AnalysisPhase::Error => {
            counter(&mut result.error);
            counter(&mut result.consecutive_error);
            // An error breaks a streak of successes: they are no longer consecutive.
            result.consecutive_success = Some(0);
        }
        _ => {}
    }
    if replaces_in_flight && let Some(last) = result.measurements.last_mut() {
        *last = measurement;
    } else {
        result.measurements.push(measurement);
    }
}

/// A metric's phase and, for a decided one, why.
pub fn assess_metric(settings: &MetricSettings, result: &MetricResult, terminating: bool) -> (AnalysisPhase, Option<String>) {
    if result.phase.is_completed() {
        return (result.phase.clone(), None);
    }
    let Some(last) = result.measurements.last() else {
        return if terminating { (AnalysisPhase::Successful, None) } else { (AnalysisPhase::Pending, None) };
    };
    if !last.phase.is_completed() {
        return (AnalysisPhase::Running, None);
    }
    let n = |c: Option<i32>| c.unwrap_or(0);
    let mut decided = None;
    if settings.failure_limit >= 0 && n(result.failed) > settings.failure_limit {
        decided = Some((AnalysisPhase::Failed, format!("failed ({}) > failureLimit ({})", n(result.failed), settings.failure_limit)));
    }
    if settings.inconclusive_limit >= 0 && n(result.inconclusive) > settings.inconclusive_limit {
        decided = Some((
            AnalysisPhase::Inconclusive,
            format!("inconclusive ({}) > inconclusiveLimit ({})", n(result.inconclusive), settings.inconclusive_limit),
        ));
    }
    if n(result.consecutive_error) > settings.consecutive_error_limit {
        decided = Some((
            AnalysisPhase::Error,
            format!("consecutiveErrors ({}) > consecutiveErrorLimit ({})", n(result.consecutive_error), settings.consecutive_error_limit),
        ));
    }
    if let Some((phase, message)) = decided {
        return (phase, Some(message));
    }
    let streak = settings.consecutive_success_limit;
    if streak > 0 && n(result.consecutive_success) >= streak {
        return (
            AnalysisPhase::Successful,
            Some(format!("consecutiveSuccessful ({}) >= consecutiveSuccessLimit ({streak})", n(result.consecutive_success))),
        );
    }
    if let Some(count) = settings.count
        && n(result.count) >= count
    {
        if streak > 0 {
            let phase = if settings.failure_limit < 0 { AnalysisPhase::Failed } else { AnalysisPhase::Inconclusive };
            return (
                phase,
                Some(format!(
                    "count ({count}) reached without consecutiveSuccessful ({}) >= consecutiveSuccessLimit ({streak})",
                    n(result.consecutive_success)
                )),
            );
        }
        return (AnalysisPhase::Successful, None);
    }
    if terminating {
        return (AnalysisPhase::Successful, Some("Metric Terminated".to_owned()));
    }
    (AnalysisPhase::Running, None)
}

/// Rank of a completed phase: higher is worse.
fn severity(phase: &AnalysisPhase) -> u8 {
    match phase {
        AnalysisPhase::Inconclusive => 1,
        AnalysisPhase::Error => 2,
        AnalysisPhase::Failed => 3,
        _ => 0,
    }
}

/// A metric of the run, as the assessment needs it.
#[derive(Clone, Debug)]
pub struct RunMetric<'a> {
    /// Name.
    pub name: &'a str,
    /// Parsed settings.
    pub settings: &'a MetricSettings,
    /// Runs in dry-run mode.
    pub dry_run: bool,
}

/// A metric whose phase changed in this assessment (for events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The metric.
    pub metric: String,
    /// Its new phase.
    pub phase: AnalysisPhase,
    /// Whether it is a dry-run metric.
    pub dry_run: bool,
}

/// The outcome of assessing a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunAssessment {
    /// The run's phase.
    pub phase: AnalysisPhase,
    /// Why, for a decided run (`Metric "x" assessed Failed due to failed (1) > failureLimit (0)`).
    pub message: Option<String>,
    /// Metric phases that changed.
    pub transitions: Vec<Transition>,
}

/// Whether the run stops taking new measurements.
pub fn is_terminating(status: &AnalysisRunStatus, terminate: bool, metrics: &[RunMetric<'_>]) -> bool {
    terminate
        || status.metric_results.iter().any(|r| {
            matches!(r.phase, AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive)
                && metrics.iter().any(|m| m.name == r.name && !m.dry_run)
        })
}

/// Updates every metric result's phase and the summaries, and returns the run's phase.
pub fn assess_run(status: &mut AnalysisRunStatus, terminate: bool, metrics: &[RunMetric<'_>]) -> RunAssessment {
    let mut transitions = Vec::new();
    // Two passes at most: a metric failing in the first makes the run terminating for the second, so the run
    // completes in this reconcile instead of the next.
    for _ in 0..2 {
        let terminating = is_terminating(status, terminate, metrics);
        for metric in metrics {
            let Some(result) = status.metric_results.iter_mut().find(|r| r.name == metric.name) else { continue };
            let (phase, message) = assess_metric(metric.settings, result, terminating);
            if phase != result.phase {
                if phase.is_completed() {
                    transitions.push(Transition { metric: metric.name.to_owned(), phase: phase.clone(), dry_run: metric.dry_run });
                    let last_message = result.measurements.last().and_then(|m| m.message.clone());
                    result.message = match (message, last_message) {
                        (Some(why), Some(last)) if phase != AnalysisPhase::Successful => Some(format!("{why}: \"Error Message: {last}\"")),
                        (Some(why), _) => Some(why),
                        (None, last) => last,
                    };
                } else if let Some(last) = result.measurements.last() {
                    result.message.clone_from(&last.message);
                }
                result.phase = phase;
            }
        }
        if is_terminating(status, terminate, metrics) == terminating {
            break;
        }
    }

    let mut summary = RunSummary::default();
    let mut dry_summary = RunSummary::default();
    let mut running = false;
    let mut worst: Option<(&str, &MetricResult)> = None;
    for metric in metrics {
        let result = status.metric_results.iter().find(|r| r.name == metric.name);
        let phase = result.map_or(AnalysisPhase::Pending, |r| r.phase.clone());
        let target = if metric.dry_run { &mut dry_summary } else { &mut summary };
        count_phase(target, &phase);
        if metric.dry_run {
            continue;
        }
        match result {
            Some(result) if phase.is_completed() => {
                if worst.is_none_or(|(_, w)| severity(&phase) > severity(&w.phase)) {
                    worst = Some((metric.name, result));
                }
            }
            _ => running = true,
        }
    }
    status.run_summary = Some(summary);
    status.dry_run_summary = metrics.iter().any(|m| m.dry_run).then_some(dry_summary);

    // A terminating run waits only for the measurements still in flight (stopped on the next pass), never for
    // metrics that are merely unfinished: their verdict can no longer change the run's.
    let decided = if is_terminating(status, terminate, metrics) { !any_in_flight(status, metrics) } else { !running };
    if !decided {
        return RunAssessment { phase: AnalysisPhase::Running, message: None, transitions };
    }
    let (phase, message) = match worst {
        None => (AnalysisPhase::Successful, None),
        Some((name, result)) => {
            let message = (result.phase != AnalysisPhase::Successful).then(|| match &result.message {
                Some(why) => format!("Metric \"{name}\" assessed {} due to {why}", result.phase),
                None => format!("Metric \"{name}\" assessed {}", result.phase),
            });
            (result.phase.clone(), message)
        }
    };
    RunAssessment { phase, message, transitions }
}

/// Whether a metric of the run (dry-run or not) has a measurement in flight (a running Job): a terminating run
/// stops it before completing, so nothing keeps running on the run's behalf.
fn any_in_flight(status: &AnalysisRunStatus, metrics: &[RunMetric<'_>]) -> bool {
    status.metric_results.iter().any(|result| {
        !result.phase.is_completed()
            && metrics.iter().any(|m| m.name == result.name)
            && result.measurements.last().is_some_and(|last| !last.phase.is_completed())
    })
}

fn count_phase(summary: &mut RunSummary, phase: &AnalysisPhase) {
    let bump = |c: &mut Option<i32>| *c = Some(c.unwrap_or(0) + 1);
    bump(&mut summary.count);
    match phase {
        AnalysisPhase::Successful => bump(&mut summary.successful),
        AnalysisPhase::Failed => bump(&mut summary.failed),
        AnalysisPhase::Inconclusive => bump(&mut summary.inconclusive),
        AnalysisPhase::Error => bump(&mut summary.error),
        _ => {}
    }
}

/// Whether `pattern` (a `dryRun` or `measurementRetention` metric name) selects `metric`: `*` selects all,
/// anything else is an unanchored regular expression, as in Argo (`error` also selects `error-rate`).
pub fn selects(pattern: &str, metric: &str) -> Result<bool, String> {
    if pattern == "*" {
        return Ok(true);
    }
    Regex::new(pattern).map(|re| re.is_match(metric)).map_err(|e| format!("invalid metric name pattern {pattern:?}: {e}"))
}

/// Whether `metric` runs in dry-run mode.
pub fn is_dry_run(dry_run: &[DryRun], metric: &str) -> Result<bool, String> {
    for entry in dry_run {
        if selects(&entry.metric_name, metric)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How many measurements of `metric` to keep: the first matching `measurementRetention`, else 10.
pub fn retention(retention: &[MeasurementRetention], metric: &str) -> Result<usize, String> {
    for entry in retention {
        if selects(&entry.metric_name, metric)? {
            return Ok(usize::try_from(entry.limit).unwrap_or(0).max(1));
        }
    }
    Ok(DEFAULT_MEASUREMENT_RETENTION)
}

/// Drops the oldest measurements beyond `limit` (counters keep the totals).
pub fn trim(result: &mut MetricResult, limit: usize) {
    let excess = result.measurements.len().saturating_sub(limit);
    result.measurements.drain(..excess);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> MetricSettings {
        MetricSettings {
            interval: Some(Duration::from_secs(10)),
            initial_delay: None,
            count: Some(3),
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: 0,
        }
    }

    fn measured(phases: &[AnalysisPhase]) -> MetricResult {
        let mut result = MetricResult { name: "m".into(), phase: AnalysisPhase::Running, ..MetricResult::default() };
        for phase in phases {
            record(&mut result, Measurement { phase: phase.clone(), ..Measurement::default() }, false);
        }
        result
    }

    use AnalysisPhase::{Error as E, Failed as F, Inconclusive as I, Running as R, Successful as S};

    type Case = (MetricSettings, Vec<AnalysisPhase>, bool, AnalysisPhase, Option<&'static str>);

    #[test]
    fn metric_outcome_table() {
        let with = |f: fn(&mut MetricSettings)| {
            let mut s = settings();
            f(&mut s);
            s
        };
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            (settings(), vec![], false, AnalysisPhase::Pending, None),
            (settings(), vec![], true, S, None),
            (settings(), vec![R], false, R, None),
            (settings(), vec![S], false, R, None),
            (settings(), vec![S, S, S], false, S, None),
            (settings(), vec![S, F], false, F, Some("failed (1) > failureLimit (0)")),
            (with(|s| s.failure_limit = 1), vec![F, S], false, R, None),
            (with(|s| s.failure_limit = 1), vec![F, F], false, F, Some("failed (2) > failureLimit (1)")),
            (settings(), vec![I], false, I, Some("inconclusive (1) > inconclusiveLimit (0)")),
            (with(|s| s.inconclusive_limit = 2), vec![I, I, S], false, S, None),
            (settings(), vec![E, E, E, E], false, R, None),
            (settings(), vec![E, E, E, E, E], false, E, Some("consecutiveErrors (5) > consecutiveErrorLimit (4)")),
            (settings(), vec![E, E, S, E, E, E], false, R, None),
            (with(|s| s.consecutive_error_limit = 0), vec![E], false, E, Some("consecutiveErrors (1) > consecutiveErrorLimit (0)")),
            (with(|s| { s.count = Some(5); s.consecutive_success_limit = 2; }), vec![F, S, S], false, F, Some("failed (1) > failureLimit (0)")),
            (with(|s| { s.count = Some(5); s.failure_limit = -1; s.consecutive_success_limit = 2; }), vec![F, S, S], false, S, Some("consecutiveSuccessful (2) >= consecutiveSuccessLimit (2)")),
            (with(|s| { s.count = Some(3); s.failure_limit = -1; s.consecutive_success_limit = 2; }), vec![S, F, S], false, F, Some("count (3) reached without consecutiveSuccessful (1) >= consecutiveSuccessLimit (2)")),
            (with(|s| { s.count = Some(3); s.failure_limit = 5; s.consecutive_success_limit = 2; }), vec![S, F, S], false, I, Some("count (3) reached without consecutiveSuccessful (1) >= consecutiveSuccessLimit (2)")),
            (with(|s| s.count = None), vec![S, S, S, S], false, R, None),
            (with(|s| s.count = None), vec![S], true, S, Some("Metric Terminated")),
            (with(|s| s.count = None), vec![S, R], true, R, None),
            // Failed, then Inconclusive and Error over their limits too: the last rule checked wins.
            (settings(), vec![F, I, E, E, E, E, E], false, E, Some("consecutiveErrors (5) > consecutiveErrorLimit (4)")),
        ];
        for (settings, phases, terminating, phase, message) in cases {
            let result = measured(&phases);
            let got = assess_metric(&settings, &result, terminating);
            assert_eq!(got, (phase, message.map(str::to_owned)), "measurements {phases:?} terminating {terminating}");
        }
    }

    fn status(results: Vec<MetricResult>) -> AnalysisRunStatus {
        AnalysisRunStatus { metric_results: results, ..AnalysisRunStatus::default() }
    }

    fn named(name: &str, phases: &[AnalysisPhase]) -> MetricResult {
        MetricResult { name: name.into(), ..measured(phases) }
    }

    #[test]
    fn run_takes_the_worst_metric_and_stops_early() {
        let s = settings();
        let unbounded = MetricSettings { count: None, ..settings() };
        let metrics = [
            RunMetric { name: "ok", settings: &s, dry_run: false },
            RunMetric { name: "bad", settings: &s, dry_run: false },
            RunMetric { name: "forever", settings: &unbounded, dry_run: false },
        ];
        let mut st = status(vec![named("ok", &[S]), named("bad", &[F]), named("forever", &[S])]);
        let outcome = assess_run(&mut st, false, &metrics);
        assert_eq!(outcome.phase, F);
        assert_eq!(outcome.message.as_deref(), Some("Metric \"bad\" assessed Failed due to failed (1) > failureLimit (0)"));
        // `ok` had not reached its count: terminating made it Successful; `forever` too.
        assert_eq!(st.metric_results[0].phase, S);
        assert_eq!(st.metric_results[2].message.as_deref(), Some("Metric Terminated"));
        let summary = st.run_summary.expect("summary");
        assert_eq!((summary.count, summary.successful, summary.failed), (Some(3), Some(2), Some(1)));
        assert!(outcome.transitions.iter().any(|t| t.metric == "bad" && t.phase == F));
    }

    /// Argo's `TestCanaryFailInlineMultipleAnalysis` (template `multiple-job-fail`): `sleep-job-rep` fails twice
    /// (`failureLimit: 1`) while `sleep-job` still waits on `initialDelay: 10000s`. The run fails at once; the metric
    /// that never started does not hold it. The same holds for a metric decided Error or Inconclusive.
    #[test]
    fn a_decided_metric_ends_the_run_while_another_still_waits_on_its_initial_delay() {
        let delayed = MetricSettings { count: Some(1), interval: None, initial_delay: Some(Duration::from_secs(10_000)), ..settings() };
        let failing = MetricSettings { count: Some(2), failure_limit: 1, ..settings() };
        let metrics = [
            RunMetric { name: "sleep-job", settings: &delayed, dry_run: false },
            RunMetric { name: "sleep-job-rep", settings: &failing, dry_run: false },
        ];
        let mut st = status(vec![named("sleep-job-rep", &[F, F])]);
        let outcome = assess_run(&mut st, false, &metrics);
        assert_eq!(outcome.phase, F);
        assert_eq!(outcome.message.as_deref(), Some("Metric \"sleep-job-rep\" assessed Failed due to failed (2) > failureLimit (1)"));
        let summary = st.run_summary.expect("summary");
        assert_eq!((summary.count, summary.failed, summary.successful), (Some(2), Some(1), None));

        let erroring = MetricSettings { consecutive_error_limit: 1, ..settings() };
        let metrics = [
            RunMetric { name: "sleep-job", settings: &delayed, dry_run: false },
            RunMetric { name: "errors", settings: &erroring, dry_run: false },
        ];
        let mut st = status(vec![named("errors", &[E, E])]);
        assert_eq!(assess_run(&mut st, false, &metrics).phase, E);

        let plain = settings();
        let metrics = [
            RunMetric { name: "sleep-job", settings: &delayed, dry_run: false },
            RunMetric { name: "unsure", settings: &plain, dry_run: false },
        ];
        let mut st = status(vec![named("unsure", &[I])]);
        assert_eq!(assess_run(&mut st, false, &metrics).phase, I);

        // A dry-run metric's failure decides nothing: the run keeps waiting for the delayed one.
        let metrics = [
            RunMetric { name: "sleep-job", settings: &delayed, dry_run: false },
            RunMetric { name: "trial", settings: &failing, dry_run: true },
        ];
        let mut st = status(vec![named("trial", &[F, F])]);
        assert_eq!(assess_run(&mut st, false, &metrics).phase, R);
    }

    /// A terminating run first stops what is in flight (a running Job), then completes with its worst phase.
    #[test]
    fn a_terminating_run_completes_once_nothing_is_in_flight() {
        let s = settings();
        let metrics = [RunMetric { name: "bad", settings: &s, dry_run: false }, RunMetric { name: "job", settings: &s, dry_run: false }];
        let mut st = status(vec![named("bad", &[F]), named("job", &[R])]);
        assert_eq!(assess_run(&mut st, false, &metrics).phase, R, "the job measurement is still running");
        // The next pass terminated it (the job provider answers Inconclusive).
        let last = st.metric_results[1].measurements.len() - 1;
        let stopped = Measurement { phase: I, ..st.metric_results[1].measurements[last].clone() };
        record(&mut st.metric_results[1], stopped, true);
        assert_eq!(assess_run(&mut st, false, &metrics).phase, F);
    }

    #[test]
    fn dry_run_metrics_never_decide() {
        let s = MetricSettings { count: Some(1), ..settings() };
        let metrics = [RunMetric { name: "real", settings: &s, dry_run: false }, RunMetric { name: "trial", settings: &s, dry_run: true }];
        let mut st = status(vec![named("real", &[S]), named("trial", &[F])]);
        let outcome = assess_run(&mut st, false, &metrics);
        assert_eq!(outcome.phase, S);
        assert_eq!(st.dry_run_summary.expect("dry").failed, Some(1));
        assert_eq!(st.run_summary.expect("run").count, Some(1));
    }

    #[test]
    fn error_messages_carry_the_measurement_message() {
        let s = MetricSettings { consecutive_error_limit: 0, ..settings() };
        let metrics = [RunMetric { name: "q", settings: &s, dry_run: false }];
        let mut result = named("q", &[]);
        record(&mut result, Measurement { phase: E, message: Some("connection refused".into()), ..Measurement::default() }, false);
        let mut st = status(vec![result]);
        let outcome = assess_run(&mut st, false, &metrics);
        assert_eq!(
            outcome.message.as_deref(),
            Some(
                "Metric \"q\" assessed Error due to consecutiveErrors (1) > consecutiveErrorLimit (0): \"Error Message: connection refused\""
            )
        );
    }

    #[test]
    fn terminate_completes_unfinished_metrics_successfully() {
        let unbounded = MetricSettings { count: None, ..settings() };
        let metrics = [RunMetric { name: "a", settings: &unbounded, dry_run: false }];
        let mut st = status(vec![named("a", &[S, S])]);
        assert_eq!(assess_run(&mut st, false, &metrics).phase, R);
        assert_eq!(assess_run(&mut st, true, &metrics).phase, S);
    }

    #[test]
    fn selection_and_retention() {
        assert_eq!(selects("*", "x"), Ok(true));
        assert_eq!(selects("error", "error-rate"), Ok(true));
        assert_eq!(selects("^latency$", "latency-p99"), Ok(false));
        assert!(selects("(", "x").is_err());
        let keep = [MeasurementRetention { metric_name: "lat.*".into(), limit: 3 }];
        assert_eq!(retention(&keep, "latency"), Ok(3));
        assert_eq!(retention(&keep, "errors"), Ok(10));
        let mut result = measured(&[S, S, S, S, S]);
        trim(&mut result, 3);
        assert_eq!((result.measurements.len(), result.count), (3, Some(5)));
    }
}

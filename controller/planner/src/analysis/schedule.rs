//! When each metric is measured: which measurements to take, resume or stop now ([`tasks`]), and when the run
//! needs its next reconcile ([`next_reconcile`]).
//!
//! Measurements are anchored to their start times: the next one is due `interval` after the previous one
//! *started* (Argo counts from when it finished). The reconcile is requeued for the exact due instant, and a
//! measurement taken late (a busy controller, hundreds of runs due in the same second) records its *due* instant
//! as `startedAt` as long as it is less than one interval late ([`Task::Measure`] carries it), so lateness never
//! accumulates and the schedule does not drift however long the run lasts. A measurement later than a whole
//! interval starts a new schedule from when it is taken, rather than firing a burst of catch-up measurements. A
//! measurement that outlasts its interval (a slow Job) is followed by the next as soon as it finishes.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serin_api::analysis_run::{AnalysisRunStatus, Measurement, MetricResult};

use super::metric::{ERROR_RETRY_INTERVAL, MetricSettings};

/// What to do for one metric in this reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Take a new measurement, scheduled for `due` (already passed).
    Measure {
        /// The instant the measurement was due; recorded as its start unless a whole interval late.
        due: Timestamp,
    },
    /// Continue the in-flight measurement.
    Resume,
    /// Stop the in-flight measurement: the run is terminating.
    Terminate,
}

/// A metric of the run, as the scheduler needs it.
#[derive(Clone, Copy, Debug)]
pub struct Scheduled<'a> {
    /// Name.
    pub name: &'a str,
    /// Parsed settings.
    pub settings: &'a MetricSettings,
}

/// The tasks due at `now`, as `(metric index, task)`. `started_at` is the run's start.
pub fn tasks(
    status: &AnalysisRunStatus,
    metrics: &[Scheduled<'_>],
    terminating: bool,
    started_at: Timestamp,
    now: Timestamp,
) -> Vec<(usize, Task)> {
    let mut due = Vec::new();
    for (index, metric) in metrics.iter().enumerate() {
        let result = status.metric_results.iter().find(|r| r.name == metric.name);
        if result.is_some_and(|r| r.phase.is_completed()) {
            continue;
        }
        let last = result.and_then(|r| r.measurements.last());
        if let Some(last) = last.filter(|m| m.finished_at.is_none()) {
            // A terminating run stops its in-flight measurements at once, whenever they meant to be looked at again.
            if terminating {
                due.push((index, Task::Terminate));
            } else if last.resume_at.as_ref().is_none_or(|at| at.0 <= now) {
                due.push((index, Task::Resume));
            }
            continue;
        }
        if terminating {
            continue;
        }
        if let Some(at) = next_measurement(result, metric.settings, started_at).filter(|at| *at <= now) {
            due.push((index, Task::Measure { due: at }));
        }
    }
    due
}

/// The `startedAt` to record for a measurement due at `due` and taken at `now`: the due instant while less than one
/// interval late (so lateness does not accumulate), else `now`. Whole seconds, as Kubernetes stores times.
pub fn recorded_start(due: Timestamp, now: Timestamp, interval: Option<Duration>) -> Timestamp {
    let late = now.duration_since(due);
    let tolerated = interval.and_then(|i| SignedDuration::try_from(i).ok()).unwrap_or(SignedDuration::ZERO);
    let start = if late >= SignedDuration::ZERO && late < tolerated { due } else { now };
    Timestamp::from_second(start.as_second()).unwrap_or(start)
}

/// When the next measurement of a metric without one in flight is due; `None` when it needs no more.
fn next_measurement(result: Option<&MetricResult>, settings: &MetricSettings, started_at: Timestamp) -> Option<Timestamp> {
    let Some(last) = result.and_then(|r| r.measurements.last()) else {
        return Some(started_at + signed(settings.initial_delay.unwrap_or_default()));
    };
    let taken = result.and_then(|r| r.count).unwrap_or(0);
    if last.phase != serin_api::AnalysisPhase::Error && settings.count.is_some_and(|count| taken >= count) {
        return None;
    }
    // After an error, retry after the interval, or 10 s without one (Argo's DefaultErrorRetryInterval).
    let interval = match (settings.interval, &last.phase) {
        (Some(interval), _) => interval,
        (None, serin_api::AnalysisPhase::Error) => ERROR_RETRY_INTERVAL,
        (None, _) => return None,
    };
    Some(anchored_due(last, interval))
}

fn anchored_due(last: &Measurement, interval: Duration) -> Timestamp {
    let start = last.started_at.as_ref().or(last.finished_at.as_ref()).map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    let due = start + signed(interval);
    match &last.finished_at {
        Some(finished) if finished.0 > due => finished.0,
        _ => due,
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// When the run must be reconciled again (the earliest due measurement, resume or initial delay), if ever. A
/// terminating run with a measurement still in flight is due at `now`: it is stopped on the next pass.
pub fn next_reconcile(
    status: &AnalysisRunStatus,
    metrics: &[Scheduled<'_>],
    terminating: bool,
    started_at: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    let mut next: Option<Timestamp> = None;
    let mut consider = |at: Timestamp| next = Some(next.map_or(at, |n| n.min(at)));
    for metric in metrics {
        let result = status.metric_results.iter().find(|r| r.name == metric.name);
        if result.is_some_and(|r| r.phase.is_completed()) {
            continue;
        }
        let last = result.and_then(|r| r.measurements.last());
        if let Some(last) = last.filter(|m| m.finished_at.is_none()) {
            if terminating {
                consider(now);
            } else if let Some(at) = &last.resume_at {
                consider(at.0);
            }
            continue;
        }
        if terminating {
            continue;
        }
        if let Some(at) = next_measurement(result, metric.settings, started_at) {
            consider(at);
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serin_api::AnalysisPhase;

    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    fn settings(interval: Option<u64>, count: Option<i32>, delay: Option<u64>) -> MetricSettings {
        MetricSettings {
            interval: interval.map(Duration::from_secs),
            initial_delay: delay.map(Duration::from_secs),
            count,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: 0,
        }
    }

    fn status(measurements: &[(i64, Option<i64>, AnalysisPhase)]) -> AnalysisRunStatus {
        let mut result = MetricResult { name: "m".into(), phase: AnalysisPhase::Running, ..MetricResult::default() };
        for (start, finish, phase) in measurements {
            let m = Measurement {
                phase: phase.clone(),
                started_at: Some(Time(at(*start))),
                finished_at: finish.map(|f| Time(at(f))),
                ..Measurement::default()
            };
            super::super::assess::record(&mut result, m, false);
        }
        AnalysisRunStatus { metric_results: vec![result], ..AnalysisRunStatus::default() }
    }

    #[test]
    fn first_measurement_waits_for_the_initial_delay() {
        let s = settings(Some(60), Some(3), Some(30));
        let metrics = [Scheduled { name: "m", settings: &s }];
        let empty = AnalysisRunStatus::default();
        assert!(tasks(&empty, &metrics, false, at(0), at(29)).is_empty());
        assert_eq!(tasks(&empty, &metrics, false, at(0), at(30)), vec![(0, Task::Measure { due: at(30) })]);
        assert_eq!(next_reconcile(&empty, &metrics, false, at(0), at(0)), Some(at(30)));
    }

    #[test]
    fn intervals_are_anchored_to_starts_not_finishes() {
        let s = settings(Some(60), None, None);
        let metrics = [Scheduled { name: "m", settings: &s }];
        // Started at 0, took 2 s: still due at 60, not 62.
        let st = status(&[(0, Some(2), AnalysisPhase::Successful)]);
        assert_eq!(next_reconcile(&st, &metrics, false, at(0), at(0)), Some(at(60)));
        assert!(tasks(&st, &metrics, false, at(0), at(59)).is_empty());
        assert_eq!(tasks(&st, &metrics, false, at(0), at(61)), vec![(0, Task::Measure { due: at(60) })]);
        // A measurement that outlasted its interval is followed at once.
        let slow = status(&[(0, Some(90), AnalysisPhase::Successful)]);
        assert_eq!(next_reconcile(&slow, &metrics, false, at(0), at(0)), Some(at(90)));
    }

    #[test]
    fn count_reached_needs_nothing_more_but_errors_are_retried() {
        let s = settings(Some(60), Some(1), None);
        let metrics = [Scheduled { name: "m", settings: &s }];
        let done = status(&[(0, Some(0), AnalysisPhase::Successful)]);
        assert_eq!(next_reconcile(&done, &metrics, false, at(0), at(0)), None);
        let errored = status(&[(0, Some(0), AnalysisPhase::Error)]);
        assert_eq!(next_reconcile(&errored, &metrics, false, at(0), at(0)), Some(at(60)));
        let single = settings(None, Some(1), None);
        let metrics = [Scheduled { name: "m", settings: &single }];
        assert_eq!(next_reconcile(&errored, &metrics, false, at(0), at(0)), Some(at(10)));
    }

    #[test]
    fn in_flight_measurements_resume_or_terminate() {
        let s = settings(Some(60), Some(3), None);
        let metrics = [Scheduled { name: "m", settings: &s }];
        let mut st = status(&[(0, None, AnalysisPhase::Running)]);
        assert_eq!(tasks(&st, &metrics, false, at(0), at(5)), vec![(0, Task::Resume)]);
        assert_eq!(tasks(&st, &metrics, true, at(0), at(5)), vec![(0, Task::Terminate)]);
        st.metric_results[0].measurements[0].resume_at = Some(Time(at(20)));
        assert!(tasks(&st, &metrics, false, at(0), at(5)).is_empty());
        assert_eq!(next_reconcile(&st, &metrics, false, at(0), at(0)), Some(at(20)));
        // Terminating: stopped now, not when it meant to be looked at again.
        assert_eq!(tasks(&st, &metrics, true, at(0), at(5)), vec![(0, Task::Terminate)]);
        assert_eq!(next_reconcile(&st, &metrics, true, at(0), at(5)), Some(at(5)));
    }

    #[test]
    fn late_measurements_record_their_due_instant_so_lateness_does_not_accumulate() {
        let interval = Some(Duration::from_secs(5));
        let late_ms = |ms: i64| at(10) + SignedDuration::from_millis(ms);
        assert_eq!(recorded_start(at(10), late_ms(20), interval), at(10));
        assert_eq!(recorded_start(at(10), late_ms(1_400), interval), at(10), "a second late: still the due instant");
        assert_eq!(recorded_start(at(10), late_ms(5_000), interval), at(15), "a whole interval late: a new schedule");
        assert_eq!(recorded_start(at(10), late_ms(300), None), at(10), "no interval: when it is taken, in seconds");
        // Over many late measurements the recorded starts stay on the 5 s grid.
        let metric = settings(Some(5), None, None);
        let metrics = [Scheduled { name: "m", settings: &metric }];
        let mut st = status(&[(0, Some(0), AnalysisPhase::Successful)]);
        for k in 1..=100 {
            let now = at(5 * k) + SignedDuration::from_millis(900);
            let [(0, Task::Measure { due })] = tasks(&st, &metrics, false, at(0), now)[..] else { panic!("due at {k}") };
            let start = recorded_start(due, now, metric.interval);
            let m = Measurement {
                phase: AnalysisPhase::Successful,
                started_at: Some(Time(start)),
                finished_at: Some(Time(start)),
                ..Measurement::default()
            };
            super::super::assess::record(&mut st.metric_results[0], m, false);
        }
        assert_eq!(st.metric_results[0].measurements.last().and_then(|m| m.started_at.clone()).map(|t| t.0), Some(at(500)));
    }

    #[test]
    fn terminating_runs_start_nothing_new() {
        let s = settings(Some(60), None, None);
        let metrics = [Scheduled { name: "m", settings: &s }];
        let st = status(&[(0, Some(0), AnalysisPhase::Successful)]);
        assert!(tasks(&st, &metrics, true, at(0), at(600)).is_empty());
        assert_eq!(next_reconcile(&st, &metrics, true, at(0), at(0)), None);
    }
}

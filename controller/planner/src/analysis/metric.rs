//! A metric's settings, parsed and validated after argument substitution (Argo's `ValidateMetrics` plus the
//! parsing it does lazily): intervals, counts and limits as numbers, conditions compiled, exactly one supported
//! provider. Any problem is a field-path message, and the run goes to `Error` with it.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serin_api::DurationString;
use serin_api::analysis_template::Metric;
use serin_api::metric_provider::ConfiguredProvider;

use super::condition;

/// Argo's default `consecutiveErrorLimit`.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i32 = 4;
/// Retry delay after a measurement error when the metric has no interval (Argo's `DefaultErrorRetryInterval`).
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Measurements kept per metric when no `measurementRetention` applies.
pub const DEFAULT_MEASUREMENT_RETENTION: usize = 10;

/// The providers this controller can measure with.
pub const SUPPORTED_PROVIDERS: &[&str] = &["prometheus", "web", "job"];

/// A metric's scheduling and judging settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSettings {
    /// Time between measurement starts; `None` means a single measurement.
    pub interval: Option<Duration>,
    /// Wait before the first measurement.
    pub initial_delay: Option<Duration>,
    /// Measurements to take; `None` means until the run is terminated (interval without count).
    pub count: Option<i32>,
    /// Failed measurements tolerated; negative disables the limit.
    pub failure_limit: i32,
    /// Inconclusive measurements tolerated; negative disables the limit.
    pub inconclusive_limit: i32,
    /// Consecutive errors tolerated.
    pub consecutive_error_limit: i32,
    /// Consecutive successes that complete the metric; 0 disables.
    pub consecutive_success_limit: i32,
}

impl MetricSettings {
    /// Parses and validates metric `index` of a run (after substitution).
    pub fn parse(index: usize, metric: &Metric) -> Result<Self, String> {
        let at = |field: &str| format!("metrics[{index}].{field}");
        match metric.provider.configured().as_slice() {
            [] => return Err(format!("{}: no provider specified", at("provider"))),
            [only] if !SUPPORTED_PROVIDERS.contains(&only.key()) => {
                let name = match only {
                    ConfiguredProvider::Plugin(name, _) => format!("plugin {name}"),
                    other => other.key().to_owned(),
                };
                return Err(format!(
                    "{}: the {name} provider is not implemented in Serin (supported: {})",
                    at("provider"),
                    SUPPORTED_PROVIDERS.join(", ")
                ));
            }
            [_] => {}
            _ => return Err(format!("{}: exactly one provider must be specified", at("provider"))),
        }
        let interval = duration(metric.interval.as_ref(), &at("interval"))?;
        let initial_delay = duration(metric.initial_delay.as_ref(), &at("initialDelay"))?;
        let count = metric.count.as_ref().map(|c| int(c, &at("count"))).transpose()?;
        let failure_limit = limit(metric.failure_limit.as_ref(), 0, &at("failureLimit"))?;
        let inconclusive_limit = limit(metric.inconclusive_limit.as_ref(), 0, &at("inconclusiveLimit"))?;
        let consecutive_error_limit =
            limit(metric.consecutive_error_limit.as_ref(), DEFAULT_CONSECUTIVE_ERROR_LIMIT, &at("consecutiveErrorLimit"))?;
        let consecutive_success_limit = limit(metric.consecutive_success_limit.as_ref(), 0, &at("consecutiveSuccessLimit"))?;

        if let Some(count) = count {
            if count < 0 {
                return Err(format!("{}: must be >= 0", at("count")));
            }
            if count > 1 && interval.is_none() {
                return Err(format!("{}: interval must be specified when count > 1", at("count")));
            }
            if count > 0 && count < failure_limit {
                return Err(format!("{}: count must be >= failureLimit", at("count")));
            }
            if count > 0 && count < inconclusive_limit {
                return Err(format!("{}: count must be >= inconclusiveLimit", at("count")));
            }
            if count > 0 && count < consecutive_success_limit {
                return Err(format!("{}: count must be >= consecutiveSuccessLimit", at("count")));
            }
        }
        if failure_limit < -1 {
            return Err(format!("{}: must be >= -1", at("failureLimit")));
        }
        if failure_limit == -1 && consecutive_success_limit <= 0 {
            return Err(format!("{}: -1 (disabled) requires consecutiveSuccessLimit", at("failureLimit")));
        }
        if inconclusive_limit < -1 {
            return Err(format!("{}: must be >= -1", at("inconclusiveLimit")));
        }
        if consecutive_error_limit < 0 {
            return Err(format!("{}: must be >= 0", at("consecutiveErrorLimit")));
        }
        if consecutive_success_limit < 0 {
            return Err(format!("{}: must be >= 0", at("consecutiveSuccessLimit")));
        }
        if metric.provider.job.is_none() {
            for (field, expr) in [("successCondition", &metric.success_condition), ("failureCondition", &metric.failure_condition)] {
                // Only "" is unset (as in Argo): whitespace would fail every measurement, so it is refused here.
                if let Some(expr) = expr.as_deref().filter(|e| !e.is_empty()) {
                    condition::check(expr).map_err(|e| format!("{}: {e}", at(field)))?;
                }
            }
        }
        Ok(Self {
            interval,
            initial_delay,
            count: effective_count(count, interval),
            failure_limit,
            inconclusive_limit,
            consecutive_error_limit,
            consecutive_success_limit,
        })
    }
}

/// Argo's `EffectiveCount`: an explicit count (0 means unset), else 1 without an interval, else unbounded.
fn effective_count(count: Option<i32>, interval: Option<Duration>) -> Option<i32> {
    match (count.filter(|c| *c > 0), interval) {
        (Some(count), _) => Some(count),
        (None, None) => Some(1),
        (None, Some(_)) => None,
    }
}

fn duration(text: Option<&DurationString>, at: &str) -> Result<Option<Duration>, String> {
    let Some(text) = text.filter(|t| !t.as_str().is_empty()) else { return Ok(None) };
    let parsed = text.parse().map_err(|e| format!("{at}: {e}"))?;
    if parsed.is_negative() {
        return Err(format!("{at}: must not be negative"));
    }
    Ok(parsed.to_std())
}

fn int(value: &IntOrString, at: &str) -> Result<i32, String> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => s.trim().parse().map_err(|_| format!("{at}: {s:?} is not an integer")),
    }
}

fn limit(value: Option<&IntOrString>, default: i32, at: &str) -> Result<i32, String> {
    value.map_or(Ok(default), |v| int(v, at))
}

#[cfg(test)]
mod tests {
    use serin_api::metric_provider::{MetricProvider, PrometheusMetric};

    use super::*;

    fn metric() -> Metric {
        Metric {
            name: "m".into(),
            provider: MetricProvider { prometheus: Some(PrometheusMetric::default()), ..MetricProvider::default() },
            ..Metric::default()
        }
    }

    #[test]
    fn defaults_are_argos() {
        let settings = MetricSettings::parse(0, &metric()).expect("valid");
        assert_eq!(settings.count, Some(1));
        assert_eq!(settings.failure_limit, 0);
        assert_eq!(settings.inconclusive_limit, 0);
        assert_eq!(settings.consecutive_error_limit, 4);
        assert_eq!(settings.consecutive_success_limit, 0);
        let unbounded = Metric { interval: Some("30s".into()), ..metric() };
        assert_eq!(MetricSettings::parse(0, &unbounded).expect("valid").count, None);
    }

    #[test]
    fn templated_numbers_parse_after_substitution() {
        let m = Metric {
            interval: Some("1m".into()),
            count: Some(IntOrString::String("5".into())),
            failure_limit: Some(IntOrString::String("2".into())),
            ..metric()
        };
        let settings = MetricSettings::parse(0, &m).expect("valid");
        assert_eq!((settings.count, settings.failure_limit), (Some(5), 2));
        assert_eq!(settings.interval, Some(Duration::from_secs(60)));
    }

    #[test]
    fn invalid_metrics_name_the_field() {
        let cases = vec![
            (Metric { count: Some(IntOrString::Int(3)), ..metric() }, "metrics[0].count: interval must be specified when count > 1"),
            (Metric { interval: Some("5 minutes".into()), ..metric() }, "metrics[0].interval: time: unknown unit"),
            (
                Metric { failure_limit: Some(IntOrString::String("x".into())), ..metric() },
                "metrics[0].failureLimit: \"x\" is not an integer",
            ),
            (Metric { failure_limit: Some(IntOrString::Int(-1)), ..metric() }, "requires consecutiveSuccessLimit"),
            (Metric { provider: MetricProvider::default(), ..metric() }, "metrics[0].provider: no provider specified"),
            (Metric { success_condition: Some("  ".into()), ..metric() }, "metrics[0].successCondition: "),
            (Metric { failure_condition: Some("result >".into()), ..metric() }, "metrics[0].failureCondition: "),
            (
                Metric {
                    provider: MetricProvider {
                        datadog: Some(serin_api::metric_provider::DatadogMetric::default()),
                        ..MetricProvider::default()
                    },
                    ..metric()
                },
                "the datadog provider is not implemented in Serin",
            ),
            (
                Metric {
                    interval: Some("1m".into()),
                    count: Some(IntOrString::Int(2)),
                    failure_limit: Some(IntOrString::Int(3)),
                    ..metric()
                },
                "count must be >= failureLimit",
            ),
        ];
        for (m, expected) in cases {
            let err = MetricSettings::parse(0, &m).expect_err(expected);
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        }
    }
}

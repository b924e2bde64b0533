//! The prometheus provider (`provider.prometheus`): one `PromQL` query per measurement.
//!
//! As in Argo:
//! - the server is `address`, else the controller's `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS` environment variable (Argo's
//!   name, kept so a migrated deployment's configuration still applies);
//! - an instant query is evaluated at the measurement's time. With `rangeQuery`, `start` and `end` are expr
//!   expressions giving a time (`now() - duration("1h")`, where `now()` is the measurement's time) and `step` is a Go
//!   duration; Prometheus receives both bounds in whole seconds;
//! - a scalar is a float, an instant vector the list of its sample values, a matrix the list of all its samples'
//!   values, series after series. NaN and infinities are kept. A string result is an error;
//! - `timeout` (seconds, default 30) bounds the whole query; a negative timeout is refused;
//! - warnings from Prometheus do not fail the measurement: they are kept in its `warnings` metadata (`"w1", "w2"`);
//! - the query is sent as a `POST`, and again as a `GET` if the server refuses `POST` (what Argo's Go client does).
//!
//! The query, headers and credentials may carry substituted secrets: logs name the metric and the outcome only.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use expr::{Context, Environment, Program};
use jiff::Timestamp;
use prometheus_http_query::response::{Data, Sample};
use prometheus_http_query::{InstantQueryBuilder, RangeQueryBuilder};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serin_api::GoDuration;
use serin_api::analysis_template::Metric;
use serin_api::metric_provider::{PrometheusMetric, PrometheusRangeQueryArgs};
use serin_planner::analysis::MetricValue;

use super::http::{self, HttpClients};
use super::{MeasureContext, Provider, ProviderError, Reading};

/// The controller's fallback server address when a metric sets none (Argo's variable).
pub const ADDRESS_ENV: &str = "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS";

/// Metadata key of the query after argument substitution (Argo's key).
pub const RESOLVED_QUERY_KEY: &str = "ResolvedPrometheusQuery";

/// Measurement metadata key of the warnings Prometheus returned (Argo's key).
pub const WARNINGS_KEY: &str = "warnings";

/// Timeout when the metric sets none (Argo's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A prometheus metric, validated and ready to query.
#[derive(Clone)]
pub struct PrometheusProvider {
    client: prometheus_http_query::Client,
    query: String,
    headers: HeaderMap,
    timeout: Duration,
    range: Option<RangeQuery>,
}

/// A range query's bounds (expressions) and resolution.
#[derive(Clone, Debug)]
struct RangeQuery {
    start: Program,
    end: Program,
    /// Seconds.
    step: f64,
}

/// What one query returned.
#[derive(Debug, PartialEq)]
struct Answer {
    value: MetricValue,
    warnings: Vec<String>,
}

// === impl PrometheusProvider ===

impl PrometheusProvider {
    /// Validates the metric and prepares its query; with no `address`, the server is `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`.
    pub fn new(metric: &PrometheusMetric, clients: &HttpClients) -> Result<Self, ProviderError> {
        let default_address = std::env::var(ADDRESS_ENV).ok();
        Self::with_default_address(metric, clients, default_address.as_deref())
    }

    /// As [`Self::new`], with the fallback address given rather than read from the environment.
    pub fn with_default_address(
        metric: &PrometheusMetric,
        clients: &HttpClients,
        default_address: Option<&str>,
    ) -> Result<Self, ProviderError> {
        let address = metric
            .address
            .as_deref()
            .filter(|address| !address.is_empty())
            .or(default_address.filter(|address| !address.is_empty()))
            .ok_or_else(|| ProviderError::new(format!("prometheus address is not configured: set address or {ADDRESS_ENV}")))?;
        // The address may hold credentials (`https://user:pass@host`): errors never repeat it.
        let is_url = Url::parse(address)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|host| !host.is_empty()));
        if !is_url {
            return Err(ProviderError::new("prometheus address is not an http(s) URL"));
        }

        let query = metric
            .query
            .as_deref()
            .filter(|query| !query.trim().is_empty())
            .ok_or_else(|| ProviderError::new("prometheus query is required"))?;

        let timeout = match metric.timeout {
            None => DEFAULT_TIMEOUT,
            Some(seconds) if seconds < 0 => return Err(ProviderError::new("prometheus timeout should not be negative")),
            // Argo accepts 0 and every query then fails on its expired deadline; say why instead.
            Some(0) => return Err(ProviderError::new("prometheus timeout must be at least 1 second")),
            Some(seconds) => Duration::from_secs(seconds.unsigned_abs()),
        };

        let mut headers = http::header_map(&metric.headers)?;
        http::apply_authentication(&mut headers, metric.authentication.as_ref())?;

        let range = metric.range_query.as_ref().map(RangeQuery::new).transpose()?;

        let reqwest_client = clients.client(metric.insecure.unwrap_or(false)).clone();
        // A trailing slash would double the one before `api/v1/...` in the request path.
        let client = prometheus_http_query::Client::from(reqwest_client, address.trim_end_matches('/'))
            .map_err(|e| ProviderError::new(format!("prometheus address is not usable: {e}")))?;

        Ok(Self { client, query: query.to_owned(), headers, timeout, range })
    }

    async fn measure(&self, now: Timestamp) -> Result<Answer, ProviderError> {
        let request = match &self.range {
            None => Request::Instant(self.client.query(&self.query).at(now.as_second())),
            Some(range) => {
                let (start, end) = range.bounds(now)?;
                Request::Range(self.client.query_range(&self.query, start, end, range.step))
            }
        }
        .with_headers(&self.headers);

        let mut response = request.clone().send(Verb::Post).await?;
        if matches!(response.status(), StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED) {
            response = request.send(Verb::Get).await?;
        }
        let status = response.status();
        let body = response.bytes().await.map_err(|e| query_failed(&http::describe_error(&e, self.timeout)))?;
        parse_response(status, &body)
    }
}

impl Provider for PrometheusProvider {
    fn kind(&self) -> &'static str {
        "prometheus"
    }

    async fn run(&self, cx: MeasureContext<'_>) -> Result<Reading, ProviderError> {
        let measured = tokio::time::timeout(self.timeout, self.measure(cx.now))
            .await
            .unwrap_or_else(|_elapsed| Err(query_failed(&format!("timed out after {}", http::seconds(self.timeout)))));
        let answer = match measured {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(metric = %cx.metric.name, "prometheus measurement failed");
                return Err(error);
            }
        };
        if answer.warnings.is_empty() {
            tracing::debug!(metric = %cx.metric.name, "prometheus measurement taken");
        } else {
            // The texts go to the measurement's metadata, where the reconciler redacts secrets; the log gets a count.
            tracing::warn!(metric = %cx.metric.name, warnings = answer.warnings.len(), "prometheus returned warnings");
        }
        Ok(Reading::Value { value: answer.value, metadata: warnings_metadata(&answer.warnings) })
    }

    fn metric_metadata(&self, metric: &Metric) -> BTreeMap<String, String> {
        metric
            .provider
            .prometheus
            .as_ref()
            .and_then(|prometheus| prometheus.query.as_deref())
            .filter(|query| !query.is_empty())
            .map(|query| BTreeMap::from([(RESOLVED_QUERY_KEY.to_owned(), query.to_owned())]))
            .unwrap_or_default()
    }
}

/// Only the timeout and whether it is a range query: the rest may carry secrets.
impl fmt::Debug for PrometheusProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusProvider").field("timeout", &self.timeout).field("range", &self.range.is_some()).finish_non_exhaustive()
    }
}

// === impl RangeQuery ===

impl RangeQuery {
    fn new(args: &PrometheusRangeQueryArgs) -> Result<Self, ProviderError> {
        let compile = |field: &str, code: Option<&str>| {
            let code =
                code.filter(|code| !code.trim().is_empty()).ok_or_else(|| ProviderError::new(format!("rangeQuery.{field} is required")))?;
            expr::compile(code)
                .map_err(|e| ProviderError::new(format!("rangeQuery.{field} is not a valid expression: {}", one_line(&e.to_string()))))
        };
        let start = compile("start", args.start.as_deref())?;
        let end = compile("end", args.end.as_deref())?;

        let step = args.step.as_deref().filter(|step| !step.is_empty()).ok_or_else(|| ProviderError::new("rangeQuery.step is required"))?;
        let step = GoDuration::parse(step)
            .map_err(|e| ProviderError::new(format!("rangeQuery.step {step:?} is not a duration: {e}")))?
            .to_std()
            .filter(|step| !step.is_zero())
            .ok_or_else(|| ProviderError::new("rangeQuery.step must be positive"))?;

        Ok(Self { start, end, step: step.as_secs_f64() })
    }

    /// Start and end, evaluated with `now()` at `now`, in whole seconds.
    fn bounds(&self, now: Timestamp) -> Result<(i64, i64), ProviderError> {
        let environment = time_environment(now)?;
        let start = eval_time(&environment, &self.start, "start")?;
        let end = eval_time(&environment, &self.end, "end")?;
        Ok((start.as_second(), end.as_second()))
    }
}

/// expr's standard functions, with `now()` answering the measurement's time rather than the wall clock.
fn time_environment(now: Timestamp) -> Result<Environment<'static>, ProviderError> {
    // expr builds times from text (this crate does not depend on its chrono): `date()` parses RFC 3339.
    let now_value = expr::eval(&format!("date(\"{now}\")"), &Context::default())
        .map_err(|e| ProviderError::new(format!("could not represent the time {now} in expr: {e}")))?;
    let mut environment = Environment::new();
    environment.add_function("now", move |_call| Ok(now_value.clone()));
    Ok(environment)
}

/// Evaluates a bound; it must give a time.
fn eval_time(environment: &Environment<'_>, program: &Program, field: &str) -> Result<Timestamp, ProviderError> {
    let value = environment
        .run(program, &Context::default())
        .map_err(|e| ProviderError::new(format!("rangeQuery.{field} could not be evaluated: {}", one_line(&e.to_string()))))?;
    let Some(time) = value.as_datetime() else {
        return Err(ProviderError::new(format!("rangeQuery.{field} must evaluate to a time, not {value}")));
    };
    let nanos = i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0);
    Timestamp::new(time.timestamp(), nanos).map_err(|e| ProviderError::new(format!("rangeQuery.{field} is out of range: {e}")))
}

/// An instant or range query, ready to send.
#[derive(Clone)]
enum Request {
    Instant(InstantQueryBuilder),
    Range(RangeQueryBuilder),
}

#[derive(Clone, Copy, Debug)]
enum Verb {
    Get,
    Post,
}

impl Request {
    fn with_headers(self, headers: &HeaderMap) -> Self {
        headers.iter().fold(self, |request, (name, value)| match request {
            Self::Instant(builder) => Self::Instant(builder.header(name.clone(), value.clone())),
            Self::Range(builder) => Self::Range(builder.header(name.clone(), value.clone())),
        })
    }

    async fn send(self, verb: Verb) -> Result<reqwest::Response, ProviderError> {
        let sent = match (self, verb) {
            (Self::Instant(builder), Verb::Post) => builder.post_raw().await,
            (Self::Instant(builder), Verb::Get) => builder.get_raw().await,
            (Self::Range(builder), Verb::Post) => builder.post_raw().await,
            (Self::Range(builder), Verb::Get) => builder.get_raw().await,
        };
        sent.map_err(|e| query_failed(&describe_client_error(&e)))
    }
}

/// The library's error, without the URL its reqwest error would print.
fn describe_client_error(error: &prometheus_http_query::Error) -> String {
    match error {
        prometheus_http_query::Error::Client(client) => match client.inner() {
            // The library applies no timeout of its own; the provider's bounds the whole query.
            Some(source) => http::describe_error(source, Duration::ZERO),
            None => client.to_string(),
        },
        other => other.to_string(),
    }
}

fn query_failed(reason: &str) -> ProviderError {
    ProviderError::new(format!("prometheus query failed: {reason}"))
}

/// The envelope of every Prometheus HTTP API response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// Reads a query response: Prometheus's own errors (`bad_data: parse error ...`) become the message.
fn parse_response(status: StatusCode, body: &[u8]) -> Result<Answer, ProviderError> {
    let response: ApiResponse = match serde_json::from_slice(body) {
        Ok(response) => response,
        // A proxy in front of Prometheus answering with its own error page.
        Err(_) if !status.is_success() => return Err(query_failed(&format!("server returned HTTP {status}"))),
        Err(e) => return Err(query_failed(&format!("the response is not a Prometheus API response: {e}"))),
    };
    if response.status != "success" {
        let error_type = response.error_type.as_deref().unwrap_or("error");
        let message = response.error.as_deref().unwrap_or("no message");
        return Err(query_failed(&format!("{error_type}: {message}")));
    }
    if !status.is_success() {
        return Err(query_failed(&format!("server returned HTTP {status}")));
    }
    let data = response.data.ok_or_else(|| query_failed("the response holds no data"))?;
    if data.get("resultType").and_then(serde_json::Value::as_str) == Some("string") {
        return Err(ProviderError::new("prometheus result type string is not supported"));
    }
    let data: Data = serde_json::from_value(data).map_err(|e| query_failed(&format!("could not read the result: {e}")))?;
    Ok(Answer { value: value_of(&data), warnings: response.warnings })
}

/// The measured value of a result, shaped as Argo hands it to conditions: a scalar is a float, a vector the list
/// of its samples' values, a matrix the list of every sample value of every series, in order.
fn value_of(data: &Data) -> MetricValue {
    match data {
        Data::Scalar(sample) => MetricValue::Float(sample.value()),
        Data::Vector(vector) => MetricValue::floats(vector.iter().map(|series| series.sample().value())),
        Data::Matrix(matrix) => MetricValue::floats(matrix.iter().flat_map(|series| series.samples().iter().map(Sample::value))),
    }
}

/// Argo's `warnings` metadata: each warning quoted, joined by `, `; nothing when there are none.
fn warnings_metadata(warnings: &[String]) -> BTreeMap<String, String> {
    if warnings.is_empty() {
        return BTreeMap::new();
    }
    let joined = warnings.iter().map(|warning| format!("\"{warning}\"")).collect::<Vec<_>>().join(", ");
    BTreeMap::from([(WARNINGS_KEY.to_owned(), joined)])
}

/// Parser errors span several lines; a measurement message should not.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};

    use serin_api::AnalysisRun;
    use serin_api::metric_provider::{Authentication, MetricProvider, OAuth2Config, WebMetricHeader};

    use super::*;

    fn ok(body: &str) -> Result<Answer, ProviderError> {
        parse_response(StatusCode::OK, body.as_bytes())
    }

    fn metric(query: &str) -> PrometheusMetric {
        PrometheusMetric {
            address: Some("http://prometheus.local:9090".to_owned()),
            query: Some(query.to_owned()),
            ..PrometheusMetric::default()
        }
    }

    fn clients() -> HttpClients {
        HttpClients::new().expect("clients")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn a_scalar_is_a_float() {
        let answer = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1717243200.5,"0.5"]}}"#);
        assert_eq!(answer, Ok(Answer { value: MetricValue::Float(0.5), warnings: vec![] }));
    }

    #[test]
    fn a_vector_is_a_list_of_floats_keeping_nan_and_infinities() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"pod":"a"},"value":[1717243200,"0.99"]},
            {"metric":{"pod":"b"},"value":[1717243200,"1"]},
            {"metric":{},"value":[1717243200,"NaN"]},
            {"metric":{},"value":[1717243200,"+Inf"]},
            {"metric":{},"value":[1717243200,"-Inf"]}]}}"#;
        let value = ok(body).expect("a vector").value;
        assert_eq!(value.to_string(), "[0.99,1,NaN,+Inf,-Inf]");
        let MetricValue::Array(items) = value else { panic!("a list") };
        assert!(matches!(items[2], MetricValue::Float(f) if f.is_nan()));
        assert_eq!(items[3], MetricValue::Float(f64::INFINITY));
    }

    #[test]
    fn an_empty_vector_is_an_empty_list() {
        let answer = ok(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#).expect("empty");
        assert!(answer.value.is_empty());
        assert_eq!(answer.value.to_string(), "[]");
    }

    #[test]
    fn a_matrix_is_flattened_series_after_series() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"a"},"values":[[1717243200,"1"],[1717243260,"2"]]},
            {"metric":{"pod":"b"},"values":[[1717243200,"3"],[1717243260,"NaN"]]}]}}"#;
        assert_eq!(ok(body).expect("a matrix").value.to_string(), "[1,2,3,NaN]");
    }

    #[test]
    fn a_string_result_is_not_supported() {
        let error = ok(r#"{"status":"success","data":{"resultType":"string","result":[1717243200,"hello"]}}"#).expect_err("string");
        assert_eq!(error.0, "prometheus result type string is not supported");
    }

    #[test]
    fn prometheus_errors_name_their_type_and_message() {
        let body =
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}"#;
        let error = parse_response(StatusCode::BAD_REQUEST, body.as_bytes()).expect_err("bad query");
        assert_eq!(error.0, r#"prometheus query failed: bad_data: invalid parameter "query": 1:5: parse error: unexpected end of input"#);
        let proxy = parse_response(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>").expect_err("proxy");
        assert_eq!(proxy.0, "prometheus query failed: server returned HTTP 502 Bad Gateway");
        let garbage = ok("not json").expect_err("garbage");
        assert!(garbage.0.starts_with("prometheus query failed: the response is not a Prometheus API response"));
    }

    #[test]
    fn warnings_are_kept_as_argo_formats_them() {
        let body = r#"{"status":"success","warnings":["w1","w2"],"data":{"resultType":"scalar","result":[1,"2"]}}"#;
        let answer = ok(body).expect("with warnings");
        assert_eq!(answer.warnings, ["w1", "w2"]);
        assert_eq!(warnings_metadata(&answer.warnings), BTreeMap::from([("warnings".to_owned(), r#""w1", "w2""#.to_owned())]));
        assert!(warnings_metadata(&[]).is_empty());
    }

    #[test]
    fn range_bounds_evaluate_now_and_durations_at_the_measurement_time() {
        let args = PrometheusRangeQueryArgs {
            start: Some(r#"now() - duration("1h")"#.to_owned()),
            end: Some("now()".to_owned()),
            step: Some("1m30s".to_owned()),
        };
        let range = RangeQuery::new(&args).expect("valid range");
        assert!((range.step - 90.0).abs() < f64::EPSILON);
        let now = at("2024-06-01T12:00:00.750Z");
        assert_eq!(range.bounds(now), Ok((now.as_second() - 3600, now.as_second())));

        let fixed = PrometheusRangeQueryArgs {
            start: Some(r#"date("2024-06-01T10:00:00Z")"#.to_owned()),
            end: Some(r#"now() - duration("30m")"#.to_owned()),
            ..args
        };
        let (start, end) = RangeQuery::new(&fixed).expect("valid").bounds(now).expect("bounds");
        assert_eq!(start, at("2024-06-01T10:00:00Z").as_second());
        assert_eq!(end, at("2024-06-01T11:30:00Z").as_second());
    }

    #[test]
    fn range_arguments_are_validated() {
        let valid =
            PrometheusRangeQueryArgs { start: Some("now()".to_owned()), end: Some("now()".to_owned()), step: Some("1m".to_owned()) };
        let reject = |args: PrometheusRangeQueryArgs| RangeQuery::new(&args).expect_err("invalid").0;
        assert_eq!(reject(PrometheusRangeQueryArgs { start: None, ..valid.clone() }), "rangeQuery.start is required");
        assert_eq!(reject(PrometheusRangeQueryArgs { step: None, ..valid.clone() }), "rangeQuery.step is required");
        assert!(reject(PrometheusRangeQueryArgs { step: Some("1d".to_owned()), ..valid.clone() }).contains("not a duration"));
        assert_eq!(reject(PrometheusRangeQueryArgs { step: Some("0s".to_owned()), ..valid.clone() }), "rangeQuery.step must be positive");
        assert!(reject(PrometheusRangeQueryArgs { end: Some("now() -".to_owned()), ..valid.clone() }).contains("not a valid expression"));

        let number = RangeQuery::new(&PrometheusRangeQueryArgs { end: Some("1 + 2".to_owned()), ..valid }).expect("compiles");
        let error = number.bounds(Timestamp::UNIX_EPOCH).expect_err("not a time");
        assert_eq!(error.0, "rangeQuery.end must evaluate to a time, not 3");
    }

    #[test]
    fn the_address_falls_back_to_the_controller_default() {
        let clients = clients();
        let no_address = PrometheusMetric { address: None, ..metric("up") };
        let error = PrometheusProvider::with_default_address(&no_address, &clients, None).expect_err("no address");
        assert!(error.0.contains(ADDRESS_ENV), "{error}");
        let provider = PrometheusProvider::with_default_address(&no_address, &clients, Some("http://prom:9090/")).expect("fallback");
        assert_eq!(provider.client.base_url().as_str(), "http://prom:9090/");
        let proxied = PrometheusMetric { address: Some("https://proxy.local/prometheus/".to_owned()), ..metric("up") };
        let provider = PrometheusProvider::with_default_address(&proxied, &clients, Some("http://ignored")).expect("address wins");
        assert_eq!(provider.client.base_url().as_str(), "https://proxy.local/prometheus");
    }

    #[test]
    fn invalid_metrics_are_rejected() {
        let clients = clients();
        let reject = |metric: PrometheusMetric| PrometheusProvider::with_default_address(&metric, &clients, None).expect_err("invalid").0;
        let secret_address = PrometheusMetric { address: Some("prom:s3cret@9090".to_owned()), ..metric("up") };
        assert_eq!(reject(secret_address), "prometheus address is not an http(s) URL");
        assert_eq!(reject(PrometheusMetric { query: None, ..metric("") }), "prometheus query is required");
        assert_eq!(reject(PrometheusMetric { timeout: Some(-1), ..metric("up") }), "prometheus timeout should not be negative");
        assert!(reject(PrometheusMetric { timeout: Some(0), ..metric("up") }).contains("at least 1 second"));
        let oauth2 = PrometheusMetric {
            authentication: Some(Authentication { oauth2: Some(OAuth2Config::default()), ..Authentication::default() }),
            ..metric("up")
        };
        assert!(reject(oauth2).contains("oauth2"));
        let header = PrometheusMetric {
            headers: vec![WebMetricHeader { key: "X-Token".to_owned(), value: "s3cret\r\n".to_owned() }],
            ..metric("up")
        };
        let error = reject(header);
        assert!(error.contains("x-token") && !error.contains("s3cret"), "{error}");

        let provider = PrometheusProvider::with_default_address(&metric("up"), &clients, None).expect("valid");
        assert_eq!(provider.timeout, DEFAULT_TIMEOUT);
        let provider = PrometheusProvider::with_default_address(&PrometheusMetric { timeout: Some(5), ..metric("up") }, &clients, None)
            .expect("valid");
        assert_eq!(provider.timeout, Duration::from_secs(5));
    }

    #[test]
    fn metric_metadata_is_the_resolved_query() {
        let provider = PrometheusProvider::with_default_address(&metric("up"), &clients(), None).expect("valid");
        let template = Metric {
            provider: MetricProvider { prometheus: Some(metric("sum(up{job=\"shop\"})")), ..MetricProvider::default() },
            ..Metric::default()
        };
        assert_eq!(
            provider.metric_metadata(&template),
            BTreeMap::from([(RESOLVED_QUERY_KEY.to_owned(), "sum(up{job=\"shop\"})".to_owned())])
        );
        assert!(provider.metric_metadata(&Metric::default()).is_empty());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_without_the_address() {
        let unreachable = PrometheusMetric { address: Some("http://user:s3cret@127.0.0.1:9".to_owned()), ..metric("up") };
        let provider = PrometheusProvider::with_default_address(&unreachable, &clients(), None).expect("valid");
        let error = measure(&provider, Timestamp::now()).await.expect_err("connection refused");
        assert!(error.0.starts_with("prometheus query failed: could not connect"), "{error}");
        assert!(!error.0.contains("s3cret") && !error.0.contains("127.0.0.1"), "{error}");
    }

    async fn measure(provider: &PrometheusProvider, now: Timestamp) -> Result<Reading, ProviderError> {
        let run = AnalysisRun::default();
        let metric = Metric { name: "prometheus-test".to_owned(), ..Metric::default() };
        provider.run(MeasureContext { run: &run, metric: &metric, now }).await
    }

    /// A Prometheus server on a free local port with an empty configuration, stopped and removed on drop.
    struct LocalPrometheus {
        child: Child,
        dir: PathBuf,
        address: String,
    }

    impl LocalPrometheus {
        fn start(binary: &Path) -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let dir = std::env::temp_dir().join(format!("serin-prometheus-test-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let config = dir.join("prometheus.yml");
            std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("config");
            let child = Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=error")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus starts");
            Self { child, dir, address: format!("http://127.0.0.1:{port}") }
        }

        async fn wait_ready(&self) {
            let client = reqwest::Client::new();
            for _ in 0..100 {
                let ready = client.get(format!("{}/-/ready", self.address)).send().await;
                if ready.is_ok_and(|response| response.status().is_success()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("prometheus did not become ready within 10s");
        }
    }

    impl Drop for LocalPrometheus {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test]
    async fn a_real_prometheus_answers_instant_and_range_queries() {
        let binary = Path::new("/usr/bin/prometheus");
        if !binary.exists() {
            println!("skipped: {} is not installed", binary.display());
            return;
        }
        let clients = clients();
        let server = LocalPrometheus::start(binary);
        server.wait_ready().await;
        let now = Timestamp::now();
        let value = |reading: Reading| match reading {
            Reading::Value { value, .. } => value,
            other => panic!("a value, got {other:?}"),
        };
        let query = |query: &str| PrometheusMetric { address: Some(server.address.clone()), ..metric(query) };
        let provider = |metric: PrometheusMetric| PrometheusProvider::with_default_address(&metric, &clients, None).expect("valid metric");

        let vector = measure(&provider(query("vector(0.99)")), now).await.expect("vector");
        assert_eq!(value(vector).to_string(), "[0.99]");
        let scalar = measure(&provider(query("scalar(vector(0.5))")), now).await.expect("scalar");
        assert_eq!(value(scalar), MetricValue::Float(0.5));
        let nan = measure(&provider(query("vector(0)/0")), now).await.expect("NaN");
        assert_eq!(value(nan).to_string(), "[NaN]");

        let range = PrometheusMetric {
            range_query: Some(PrometheusRangeQueryArgs {
                start: Some(r#"now() - duration("1m")"#.to_owned()),
                end: Some("now()".to_owned()),
                step: Some("30s".to_owned()),
            }),
            ..query("vector(1)")
        };
        let matrix = measure(&provider(range), now).await.expect("range");
        assert_eq!(value(matrix).to_string(), "[1,1,1]");

        let error = measure(&provider(query("sum(")), now).await.expect_err("bad query");
        assert!(error.0.starts_with("prometheus query failed: bad_data: "), "{error}");
        drop(server);
    }
}

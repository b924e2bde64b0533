//! Metric providers (`metrics[].provider`): where a measurement comes from. Exactly one is set per metric;
//! [`MetricProvider::configured`] tells which.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::go_duration::DurationString;
use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// Which external system measures the metric. Only one field may be set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    /// Query a Prometheus server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    /// Run a Kayenta canary judgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kayenta: Option<KayentaMetric>,
    /// Call an HTTP endpoint and read a JSON value from the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebMetric>,
    /// Query Datadog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogMetric>,
    /// Query Wavefront.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wavefront: Option<WavefrontMetric>,
    /// Run a New Relic NRQL query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_relic: Option<NewRelicMetric>,
    /// Run a Kubernetes Job; its success or failure is the measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetric>,
    /// Query AWS CloudWatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch: Option<CloudWatchMetric>,
    /// Query Graphite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graphite: Option<GraphiteMetric>,
    /// Run an InfluxDB Flux query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub influxdb: Option<InfluxdbMetric>,
    /// Run an Apache SkyWalking GraphQL query.
    #[serde(rename = "skywalking", skip_serializing_if = "Option::is_none")]
    pub skywalking: Option<SkyWalkingMetric>,
    /// Metric plugins by name (as configured in the controller's ConfigMap), each with free-form config.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub plugin: BTreeMap<String, Value>,
}

/// A provider that is set, by reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConfiguredProvider<'a> {
    /// `prometheus`.
    Prometheus(&'a PrometheusMetric),
    /// `kayenta`.
    Kayenta(&'a KayentaMetric),
    /// `web`.
    Web(&'a WebMetric),
    /// `datadog`.
    Datadog(&'a DatadogMetric),
    /// `wavefront`.
    Wavefront(&'a WavefrontMetric),
    /// `newRelic`.
    NewRelic(&'a NewRelicMetric),
    /// `job`.
    Job(&'a JobMetric),
    /// `cloudWatch`.
    CloudWatch(&'a CloudWatchMetric),
    /// `graphite`.
    Graphite(&'a GraphiteMetric),
    /// `influxdb`.
    Influxdb(&'a InfluxdbMetric),
    /// `skywalking`.
    SkyWalking(&'a SkyWalkingMetric),
    /// `plugin`: the plugin's name and config.
    Plugin(&'a str, &'a Value),
}

impl ConfiguredProvider<'_> {
    /// The provider's JSON key (`plugin` for plugins), as used in Argo's metric-type metric label.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Prometheus(_) => "prometheus",
            Self::Kayenta(_) => "kayenta",
            Self::Web(_) => "web",
            Self::Datadog(_) => "datadog",
            Self::Wavefront(_) => "wavefront",
            Self::NewRelic(_) => "newRelic",
            Self::Job(_) => "job",
            Self::CloudWatch(_) => "cloudWatch",
            Self::Graphite(_) => "graphite",
            Self::Influxdb(_) => "influxdb",
            Self::SkyWalking(_) => "skywalking",
            Self::Plugin(..) => "plugin",
        }
    }
}

// === impl MetricProvider ===

impl MetricProvider {
    /// Every provider that is set, in declaration order (each plugin counts as one).
    pub fn configured(&self) -> Vec<ConfiguredProvider<'_>> {
        let mut set = Vec::new();
        set.extend(self.prometheus.as_ref().map(ConfiguredProvider::Prometheus));
        set.extend(self.kayenta.as_ref().map(ConfiguredProvider::Kayenta));
        set.extend(self.web.as_ref().map(ConfiguredProvider::Web));
        set.extend(self.datadog.as_ref().map(ConfiguredProvider::Datadog));
        set.extend(self.wavefront.as_ref().map(ConfiguredProvider::Wavefront));
        set.extend(self.new_relic.as_ref().map(ConfiguredProvider::NewRelic));
        set.extend(self.job.as_ref().map(ConfiguredProvider::Job));
        set.extend(self.cloud_watch.as_ref().map(ConfiguredProvider::CloudWatch));
        set.extend(self.graphite.as_ref().map(ConfiguredProvider::Graphite));
        set.extend(self.influxdb.as_ref().map(ConfiguredProvider::Influxdb));
        set.extend(self.skywalking.as_ref().map(ConfiguredProvider::SkyWalking));
        set.extend(self.plugin.iter().map(|(name, config)| ConfiguredProvider::Plugin(name, config)));
        set
    }

    /// The single provider, or `None` when zero or several are set (an invalid metric).
    pub fn single(&self) -> Option<ConfiguredProvider<'_>> {
        match self.configured().as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }
}

/// A Prometheus query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    /// Base URL of the Prometheus server (falls back to the controller's `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// PromQL query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// How to authenticate to the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// Query timeout in seconds (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Skip TLS certificate verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Extra HTTP headers sent with the query.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebMetricHeader>,
    /// Run a range query instead of an instant query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_query: Option<PrometheusRangeQueryArgs>,
}

/// Bounds of a Prometheus range query; `start`/`end` are expressions such as `now() - duration("1h")`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRangeQueryArgs {
    /// Start of the range (expression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End of the range (expression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Resolution step (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// Authentication for the Prometheus and web providers; set one method.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// AWS SigV4 request signing (Amazon Managed Prometheus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<Sigv4Config>,
    /// OAuth2 client-credentials flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    /// HTTP basic authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
}

/// AWS SigV4 signing settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sigv4Config {
    /// AWS region to sign for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Credentials profile to sign with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// IAM role to assume for signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// OAuth2 client-credentials settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    /// Token endpoint URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Client ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Client secret (usually `{{args.secret}}` from a secretKeyRef argument).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes to request.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// HTTP basic-auth credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password (usually from a secretKeyRef argument).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// An HTTP request whose JSON response holds the measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    /// HTTP method: GET (default), POST or PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<WebMetricMethod>,
    /// URL to call.
    pub url: String,
    /// HTTP headers to send.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<WebMetricHeader>,
    /// Request body as text (POST/PUT only; not with jsonBody).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Request timeout in seconds (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// JSONPath selecting the result from the response (default `{$}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// Skip TLS certificate verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Request body as JSON (POST/PUT only; not with body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub json_body: Option<Value>,
    /// How to authenticate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
}

open_string_enum! {
    /// HTTP method of a web metric.
    pub enum WebMetricMethod {
        /// GET.
        Get = "GET",
        /// POST.
        Post = "POST",
        /// PUT.
        Put = "PUT",
    }
}

/// An HTTP header.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetricHeader {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: String,
}

/// A Datadog query (v1 `query`, or v2 `queries` plus `formula`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatadogMetric {
    /// Time window queried (Go duration, default `5m`); not the polling rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationString>,
    /// Query (API v1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Named queries referenced by the formula (API v2).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
    /// Formula over the named queries (API v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// Datadog API version: `v1` (default) or `v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Aggregation of the series (v2): avg, min, max, sum, last, percentile, mean, l2norm or area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<String>,
    /// Secret holding the API and application keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<DatadogSecretRef>,
    /// Request timeout (Go duration, default `10s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<DurationString>,
}

/// The Secret holding Datadog credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatadogSecretRef {
    /// Name of the Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Read the Secret from the run's namespace instead of the controller's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaced: Option<bool>,
}

/// A Wavefront query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WavefrontMetric {
    /// Address of the Wavefront server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// A New Relic NRQL query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRelicMetric {
    /// Name of the Secret holding the account configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// NRQL query.
    pub query: String,
    /// Query timeout in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// A Kubernetes Job run as a measurement: Complete is Successful, Failed is Failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetric {
    /// Labels and annotations for the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::job_metadata")]
    pub metadata: Option<ObjectMeta>,
    /// Spec of the Job.
    #[schemars(schema_with = "crate::schema::job_spec")]
    pub spec: JobSpec,
}

/// A Graphite query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphiteMetric {
    /// Address of the Graphite server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// An InfluxDB Flux query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InfluxdbMetric {
    /// Name of the Secret holding the InfluxDB configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Flux query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// An Apache SkyWalking GraphQL query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkyWalkingMetric {
    /// Address of the SkyWalking OAP server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// GraphQL query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Time window queried (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationString>,
}

/// A Kayenta canary judgement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KayentaMetric {
    /// Address of the Kayenta server.
    pub address: String,
    /// Application name.
    pub application: String,
    /// Canary configuration to judge with.
    pub canary_config_name: String,
    /// Metrics account.
    pub metrics_account_name: String,
    /// Configuration account.
    pub configuration_account_name: String,
    /// Storage account.
    pub storage_account_name: String,
    /// Score thresholds.
    pub threshold: KayentaThreshold,
    /// Scopes compared.
    #[serde(deserialize_with = "null_as_default")]
    pub scopes: Vec<KayentaScope>,
}

/// Kayenta score thresholds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KayentaThreshold {
    /// Score at or above which the canary passes.
    pub pass: i64,
    /// Score below which the canary fails.
    pub marginal: i64,
}

/// A Kayenta scope: control and experiment query settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KayentaScope {
    /// Scope name.
    pub name: String,
    /// Control (baseline) scope.
    pub control_scope: ScopeDetail,
    /// Experiment (canary) scope.
    pub experiment_scope: ScopeDetail,
}

/// Query settings of a Kayenta scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDetail {
    /// Scope selector.
    pub scope: String,
    /// Region.
    pub region: String,
    /// Step in seconds.
    pub step: i64,
    /// Start time.
    pub start: String,
    /// End time.
    pub end: String,
}

/// An AWS CloudWatch GetMetricData request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetric {
    /// Time window queried (Go duration, default `5m`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationString>,
    /// The metric data queries.
    #[serde(deserialize_with = "null_as_default")]
    pub metric_data_queries: Vec<CloudWatchMetricDataQuery>,
}

/// One CloudWatch metric data query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricDataQuery {
    /// Query ID, referenced by expressions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Math expression over other queries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Label of the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The metric and statistic to retrieve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<CloudWatchMetricStat>,
    /// Granularity in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<IntOrString>,
    /// Whether this query's result is returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
}

/// A CloudWatch metric and statistic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricStat {
    /// The metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<CloudWatchMetricStatMetric>,
    /// Granularity in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<IntOrString>,
    /// Statistic, e.g. `Average` or `p99`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Unit, e.g. `Seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A CloudWatch metric identity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricStatMetric {
    /// Dimensions of the metric.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<CloudWatchMetricStatMetricDimension>,
    /// Metric name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Metric namespace, e.g. `AWS/ApplicationELB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A CloudWatch metric dimension.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMetricStatMetricDimension {
    /// Dimension name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Dimension value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_provider_detection() {
        let none = MetricProvider::default();
        assert!(none.configured().is_empty());
        assert_eq!(none.single(), None);

        let web = MetricProvider { web: Some(WebMetric { url: "http://x".into(), ..WebMetric::default() }), ..MetricProvider::default() };
        assert_eq!(web.single().map(|p| p.key()), Some("web"));

        let mut two = web.clone();
        two.plugin.insert("argoproj-labs/sample".into(), serde_json::json!({"q": 1}));
        assert_eq!(two.configured().iter().map(ConfiguredProvider::key).collect::<Vec<_>>(), ["web", "plugin"]);
        assert_eq!(two.single(), None);
    }
}

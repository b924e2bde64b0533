//! `AnalysisRun`: one instantiation of analysis templates, with its measurements.
//!
//! As in Argo, the CRD has no status subresource: status is written with a plain (merge) patch on the object,
//! which also bumps `metadata.generation`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis_template::{Argument, DryRun, MeasurementRetention, Metric};
use crate::common::AnalysisPhase;
use crate::serde_null::null_as_default;

/// Spec of an AnalysisRun.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AnalysisRun",
    plural = "analysisruns",
    shortname = "ar",
    namespaced,
    status = "AnalysisRunStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "AnalysisRun measures metrics against success and failure conditions; it is created from analysis templates",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.phase", description = "AnalysisRun status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp", description = "Time since resource was created"),
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    /// Metrics to measure.
    #[serde(deserialize_with = "null_as_default")]
    pub metrics: Vec<Metric>,
    /// Arguments, all resolved to a value or a valueFrom.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Stop the run early; remaining metrics finish as Successful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    /// Metrics to run in dry-run mode.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements to keep per metric (default 10).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Delete the run this long after it completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<TtlStrategy>,
    /// Fields of a newer Argo API that this version does not know, kept so that nothing written is lost.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// When a completed AnalysisRun is deleted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TtlStrategy {
    /// Seconds after completion, whatever the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_completion: Option<i32>,
    /// Seconds after a failed completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_failure: Option<i32>,
    /// Seconds after a successful completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_after_success: Option<i32>,
}

/// Observed state of an AnalysisRun.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatus {
    /// Phase of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// Why the run is in its phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Results per metric.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub metric_results: Vec<MetricResult>,
    /// When the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Counts of metric outcomes, dry-run metrics excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
    /// Counts of dry-run metric outcomes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
    /// When the run completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}

/// Counts of metric outcomes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Metrics in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// Successful metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful: Option<i32>,
    /// Failed metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Inconclusive metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<i32>,
    /// Errored metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
}

/// Recent measurements of one metric, and counters over all of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// Name of the metric.
    pub name: String,
    /// Aggregate phase of the metric.
    pub phase: AnalysisPhase,
    /// The most recent measurements (see measurementRetention).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Details, e.g. an error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Measurements taken without error (successful + failed + inconclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// Successful measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful: Option<i32>,
    /// Failed measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<i32>,
    /// Inconclusive measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive: Option<i32>,
    /// Measurements that errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
    /// Errors in a row; reset by a measurement without error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_error: Option<i32>,
    /// The metric runs in dry-run mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Provider state, e.g. the resolved Prometheus query (never secrets).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Successes in a row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_success: Option<i32>,
}

/// One measurement of a metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// Outcome of the measurement.
    pub phase: AnalysisPhase,
    /// Details, e.g. an error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the measurement started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the measurement finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// The measured value, as text (e.g. `[0.99]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Provider state, e.g. a Job name.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When to resume an in-flight measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<Time>,
}

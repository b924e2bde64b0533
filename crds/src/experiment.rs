//! `Experiment`: run one or more ReplicaSets side by side for a while, optionally with analyses.
//!
//! As in Argo, the CRD has no status subresource: status is written with a plain (merge) patch on the object,
//! and `retry experiment` clears it by writing `status: null`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::analysis_template::{Argument, DryRun, MeasurementRetention};
use crate::common::{AnalysisPhase, AnalysisRunMetadata, ConditionStatus, TemplateService};
use crate::go_duration::DurationString;
use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// Spec of an Experiment.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Experiment",
    plural = "experiments",
    shortname = "exp",
    namespaced,
    status = "ExperimentStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Experiment runs ReplicaSets side by side for a limited time, optionally judged by analyses",
    printcolumn(name = "Status", type_ = "string", json_path = ".status.phase", description = "Experiment status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp", description = "Time since resource was created"),
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentSpec {
    /// ReplicaSets to run.
    #[serde(deserialize_with = "null_as_default")]
    pub templates: Vec<TemplateSpec>,
    /// How long to run once every template is available (Go duration). Unset runs until terminated or an analysis
    /// fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationString>,
    /// Seconds the templates may take to become available before the experiment fails (default 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Stop the experiment early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    /// Analyses to run during the experiment.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<ExperimentAnalysisTemplateRef>,
    /// Seconds to keep the ReplicaSets up after the experiment ends (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Metrics to run in dry-run mode.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements to keep per metric.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels and annotations for the experiment's AnalysisRuns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
    /// Fields of a newer Argo API that this version does not know, kept so that nothing written is lost.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A ReplicaSet of an experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Name of the template; the ReplicaSet is named `<experiment>-<name>`.
    pub name: String,
    /// Number of pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a new pod must be ready to count as available (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Selector of the pods; must match the template's labels and be unique among the templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Template of the pods.
    #[schemars(schema_with = "crate::schema::pod_template_spec")]
    pub template: PodTemplateSpec,
    /// Create a Service for these pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TemplateService>,
}

/// An analysis of an experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentAnalysisTemplateRef {
    /// Name of this analysis; the AnalysisRun is named `<experiment>-<name>`.
    pub name: String,
    /// Name of the AnalysisTemplate (or ClusterAnalysisTemplate with clusterScope).
    pub template_name: String,
    /// Look the name up among ClusterAnalysisTemplates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    /// Values for the template's arguments.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// The experiment does not complete before this analysis does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_for_completion: Option<bool>,
}

/// Observed state of an Experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentStatus {
    /// Phase, from the ReplicaSets' health and the AnalysisRuns' phases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    /// Why the experiment is in its phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// State of each template's ReplicaSet.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub template_statuses: Vec<TemplateStatus>,
    /// When every template became available; the duration counts from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_at: Option<Time>,
    /// Conditions: InvalidSpec, Completed, Progressing, Running, ReplicaFailure.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ExperimentCondition>,
    /// State of each analysis.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub analysis_runs: Vec<ExperimentAnalysisRunStatus>,
}

/// State of a template's ReplicaSet. The replica counts are always written, zeros included, as Argo does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    /// Name of the template.
    pub name: String,
    /// Non-terminated pods.
    #[serde(default)]
    pub replicas: i32,
    /// Non-terminated pods with the desired template.
    #[serde(default)]
    pub updated_replicas: i32,
    /// Ready pods.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Pods ready for at least minReadySeconds.
    #[serde(default)]
    pub available_replicas: i32,
    /// Hash-collision counter for the ReplicaSet name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Progressing, Running, Successful, Failed or Error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TemplateStatusCode>,
    /// Why the template is in its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Last time the state changed; restarts the progress deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Name of the template's Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Pod template hash of the ReplicaSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

open_string_enum! {
    /// State of an experiment template.
    pub enum TemplateStatusCode {
        /// Pods are being created or are not yet available.
        Progressing = "Progressing",
        /// All pods are available.
        Running = "Running",
        /// Finished successfully.
        Successful = "Successful",
        /// Failed, e.g. out of progress deadline.
        Failed = "Failed",
        /// Could not be run.
        Error = "Error",
    }
}

/// A condition of an Experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: ExperimentConditionType,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// Last time the condition was updated.
    pub last_update_time: Time,
    /// Last time the status changed.
    pub last_transition_time: Time,
    /// Machine-readable reason for the last transition.
    pub reason: String,
    /// Human-readable details.
    pub message: String,
}

open_string_enum! {
    /// Type of an Experiment condition.
    pub enum ExperimentConditionType {
        /// The spec is invalid.
        InvalidSpec = "InvalidSpec",
        /// The experiment finished.
        Completed = "Completed",
        /// Templates are becoming available.
        Progressing = "Progressing",
        /// Every template is available and the duration is counting.
        Running = "Running",
        /// Pods could not be created or deleted.
        ReplicaFailure = "ReplicaFailure",
    }
}

/// An AnalysisRun of an experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentAnalysisRunStatus {
    /// Name of the analysis in the spec.
    pub name: String,
    /// Name of the AnalysisRun.
    pub analysis_run: String,
    /// Its phase.
    pub phase: AnalysisPhase,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

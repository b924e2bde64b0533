//! How a Rollout asks for analysis: which templates to combine into an AnalysisRun, with which arguments.
//! Used by canary `analysis` steps, canary background analysis and blue-green pre/post-promotion analysis.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis_template::{DryRun, MeasurementRetention};
use crate::common::{AnalysisRunMetadata, FieldRef};
use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// Templates to combine into one AnalysisRun, and its arguments and settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    /// Templates whose metrics and arguments are merged into the run.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<RolloutAnalysisTemplate>,
    /// Values for the templates' arguments.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    /// Metrics to run in dry-run mode.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// How many measurements to keep per metric.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels and annotations for the AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
}

/// Background analysis of a canary: runs for the whole update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisBackground {
    /// The templates, arguments and settings.
    #[serde(flatten)]
    pub analysis: RolloutAnalysis,
    /// Index of the step at which to start the analysis (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
}

/// A template to use in an AnalysisRun.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisTemplate {
    /// Name of the AnalysisTemplate (or ClusterAnalysisTemplate with clusterScope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    /// Look the name up among ClusterAnalysisTemplates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
}

/// An argument value supplied by a Rollout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    /// Name of the template argument.
    pub name: String,
    /// Literal value; or use valueFrom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where to read the value from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ArgumentValueFrom>,
}

/// Source of a Rollout-supplied argument value; exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentValueFrom {
    /// The `rollouts-pod-template-hash` of the Stable or Latest ReplicaSet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash_value: Option<ValueFromPodTemplateHash>,
    /// A field of the Rollout: `metadata.*` downward-API paths, or any spec/status path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

open_string_enum! {
    /// Which ReplicaSet's pod template hash to pass.
    pub enum ValueFromPodTemplateHash {
        /// The stable ReplicaSet.
        Stable = "Stable",
        /// The newest ReplicaSet.
        Latest = "Latest",
    }
}

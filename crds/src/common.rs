//! Small types shared by several kinds: pod/AnalysisRun metadata, field references, experiment Services,
//! phases, condition status, and [`FieldError`], the path-qualified error the accessors return.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// Labels and annotations to add to pods (canary/stable/preview/active metadata, experiment templates).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateMetadata {
    /// Labels to add to the pods.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to add to the pods.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Labels and annotations to add to the AnalysisRuns a Rollout or Experiment creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunMetadata {
    /// Labels to add to the AnalysisRun.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to add to the AnalysisRun.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A reference to a field of the owning object, e.g. `metadata.labels['region']` or
/// `spec.template.spec.containers[0].image`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    /// Path of the field to read.
    pub field_path: String,
}

/// A Service generated for an experiment template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateService {
    /// Name of the Service (defaults to the ReplicaSet's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

open_string_enum! {
    /// Phase of an AnalysisRun, one of its metrics or measurements, or an Experiment.
    #[derive(Default)]
    pub enum AnalysisPhase {
        /// Not started yet.
        #[default]
        Pending = "Pending",
        /// In progress.
        Running = "Running",
        /// Completed and passed.
        Successful = "Successful",
        /// Completed and failed.
        Failed = "Failed",
        /// Could not be measured (provider or spec error).
        Error = "Error",
        /// Completed, but neither success nor failure condition held.
        Inconclusive = "Inconclusive",
    }
}

impl AnalysisPhase {
    /// Whether the phase is terminal (Argo's `AnalysisPhase.Completed`).
    pub fn is_completed(&self) -> bool {
        match self {
            Self::Successful | Self::Failed | Self::Error | Self::Inconclusive => true,
            Self::Pending | Self::Running | Self::Other(_) => false,
        }
    }
}

open_string_enum! {
    /// Status of a condition.
    pub enum ConditionStatus {
        /// The condition holds.
        True = "True",
        /// The condition does not hold.
        False = "False",
        /// Not known.
        Unknown = "Unknown",
    }
}

/// An invalid value at a field path, e.g. `spec.strategy.canary.steps[2]: step must have exactly one action`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// The JSON path of the offending field, as Argo prints it.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_phase_completion() {
        assert!(AnalysisPhase::Inconclusive.is_completed());
        assert!(!AnalysisPhase::Running.is_completed());
        assert!(!AnalysisPhase::from("Paused").is_completed());
    }

    #[test]
    fn condition_status_keeps_kubernetes_spelling() {
        assert_eq!(ConditionStatus::from("Unknown"), ConditionStatus::Unknown);
        assert_eq!(ConditionStatus::Unknown.as_str(), "Unknown");
        assert_eq!(ConditionStatus::from("Maybe"), ConditionStatus::Other("Maybe".into()));
    }

    #[test]
    fn field_error_formats_path_first() {
        let err = FieldError::new("spec.strategy", "Multiple Strategies can not be listed");
        assert_eq!(err.to_string(), "spec.strategy: Multiple Strategies can not be listed");
    }
}

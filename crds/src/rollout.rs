//! The `Rollout` kind: a Deployment replacement that moves a new version in by canary steps or blue-green.
//!
//! Wire-compatible with Argo Rollouts' `argoproj.io/v1alpha1` Rollout. Submodules hold the strategies, steps,
//! traffic routing, analysis references and status.

pub mod analysis_ref;
pub mod blue_green;
pub mod canary;
pub mod status;
pub mod steps;
pub mod traffic_routing;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::blue_green::BlueGreenStrategy;
use self::canary::CanaryStrategy;
use self::status::RolloutStatus;
use crate::common::FieldError;
use crate::string_enum::open_string_enum;

/// Spec of a Rollout.
// The lint mistakes the repeated `type_ = ...` keys of separate printcolumn(...) groups for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Rollout",
    plural = "rollouts",
    shortname = "ro",
    namespaced,
    status = "RolloutStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Rollout replaces a Deployment and moves a new version in step by step (canary) or by switching services (blue-green)",
    scale(spec_replicas_path = ".spec.replicas", status_replicas_path = ".status.HPAReplicas", label_selector_path = ".status.selector"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".spec.replicas", description = "Number of desired pods"),
    printcolumn(
        name = "Current",
        type_ = "integer",
        json_path = ".status.replicas",
        description = "Total number of non-terminated pods targeted by this rollout"
    ),
    printcolumn(
        name = "Up-to-date",
        type_ = "integer",
        json_path = ".status.updatedReplicas",
        description = "Total number of non-terminated pods targeted by this rollout that have the desired template spec"
    ),
    printcolumn(
        name = "Available",
        type_ = "integer",
        json_path = ".status.availableReplicas",
        description = "Total number of available pods (ready for at least minReadySeconds) targeted by this rollout"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp", description = "Time since resource was created"),
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Number of desired pods. Unset means 1; the controller then writes 1 so an autoscaler can scale it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label selector for the pods; must match the template's labels. Immutable. Not needed with workloadRef.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{ "rule": "self == oldSelf", "message": "spec.selector is immutable" }]))]
    pub selector: Option<LabelSelector>,
    /// Template of the pods to run. Must be empty when workloadRef is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::pod_template_spec")]
    pub template: Option<PodTemplateSpec>,
    /// A Deployment, ReplicaSet or PodTemplate that provides the pod template (and selector) instead of template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<WorkloadRef>,
    /// Seconds a new pod must be ready, without crashing, to count as available (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Rolling back to a recent revision skips steps and analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<RollbackWindow>,
    /// How to replace the running version: canary or blueGreen, exactly one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RolloutStrategy>,
    /// Old ReplicaSets to keep for rollback (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Pauses the rollout at its current step; autoscaling still applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Seconds an update may go without progress before it is marked failed (default 600). Not counted while
    /// paused or waiting on analysis or an experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Abort the update, rather than only marking it degraded, when the progress deadline is exceeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_abort: Option<bool>,
    /// Restart (evict) every pod created before this time, a few at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<Time>,
    /// How many finished AnalysisRuns and Experiments to keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRunStrategy>,
    /// Fields of a newer Argo API that this version does not know, kept so that nothing written is lost.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// A workload that provides the pod template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// API version of the workload (`apps/v1` or `v1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the workload: Deployment, ReplicaSet or PodTemplate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the workload, in the Rollout's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When to scale a referenced Deployment down: never (default), onsuccess or progressively.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<WorkloadScaleDown>,
}

open_string_enum! {
    /// When a referenced Deployment is scaled down.
    pub enum WorkloadScaleDown {
        /// Never scaled down (the default).
        Never = "never",
        /// Scaled to zero once the Rollout is first healthy.
        OnSuccess = "onsuccess",
        /// Scaled down as the Rollout's pods scale up.
        Progressively = "progressively",
    }
}

/// The window in which a rollback is fast-tracked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackWindow {
    /// A rollback to any of the last N revisions skips steps and analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<i32>,
}

/// How many finished AnalysisRuns and Experiments a Rollout keeps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStrategy {
    /// Successful runs to keep (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_run_history_limit: Option<i32>,
    /// Unsuccessful (Error, Failed, Inconclusive) runs to keep (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsuccessful_run_history_limit: Option<i32>,
}

/// The update strategy; exactly one of canary and blueGreen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// Blue-green: run the new version beside the old one and switch the active Service over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
    /// Canary: shift replicas or traffic to the new version step by step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
}

/// The strategy a Rollout uses, by reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy<'a> {
    /// `spec.strategy.canary`.
    Canary(&'a CanaryStrategy),
    /// `spec.strategy.blueGreen`.
    BlueGreen(&'a BlueGreenStrategy),
}

/// Which strategy a Rollout uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    /// `spec.strategy.canary`.
    Canary,
    /// `spec.strategy.blueGreen`.
    BlueGreen,
}

impl StrategyKind {
    /// The strategy's JSON key, as in Argo's `rollout_info{strategy=...}` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canary => "canary",
            Self::BlueGreen => "blueGreen",
        }
    }
}

// === impl RolloutSpec ===

impl RolloutSpec {
    /// The configured strategy, or an error at `spec.strategy` when none or both are set (Argo's InvalidSpec
    /// messages).
    pub fn strategy(&self) -> Result<Strategy<'_>, FieldError> {
        let strategy = self.strategy.as_ref();
        match (strategy.and_then(|s| s.canary.as_ref()), strategy.and_then(|s| s.blue_green.as_ref())) {
            (Some(canary), None) => Ok(Strategy::Canary(canary)),
            (None, Some(blue_green)) => Ok(Strategy::BlueGreen(blue_green)),
            (Some(_), Some(_)) => Err(FieldError::new("spec.strategy", "Multiple Strategies can not be listed")),
            (None, None) => {
                Err(FieldError::new("spec.strategy", "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"))
            }
        }
    }

    /// The desired replica count; unset means 1.
    pub fn desired_replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

// === impl Rollout ===

impl Rollout {
    /// The strategy kind, or an error at `spec.strategy` when none or both are set.
    pub fn strategy_kind(&self) -> Result<StrategyKind, FieldError> {
        self.spec.strategy().map(|strategy| match strategy {
            Strategy::Canary(_) => StrategyKind::Canary,
            Strategy::BlueGreen(_) => StrategyKind::BlueGreen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_strategy(canary: bool, blue_green: bool) -> Rollout {
        let strategy = RolloutStrategy {
            canary: canary.then(CanaryStrategy::default),
            blue_green: blue_green.then(|| BlueGreenStrategy { active_service: "active".into(), ..BlueGreenStrategy::default() }),
        };
        Rollout::new("app", RolloutSpec { strategy: Some(strategy), ..RolloutSpec::default() })
    }

    #[test]
    fn strategy_kind_requires_exactly_one_strategy() {
        assert_eq!(with_strategy(true, false).strategy_kind(), Ok(StrategyKind::Canary));
        assert_eq!(with_strategy(false, true).strategy_kind(), Ok(StrategyKind::BlueGreen));
        assert_eq!(
            with_strategy(true, true).strategy_kind().unwrap_err().to_string(),
            "spec.strategy: Multiple Strategies can not be listed"
        );
        let missing = with_strategy(false, false).strategy_kind().unwrap_err();
        assert_eq!(missing.path, "spec.strategy");
        assert!(Rollout::new("app", RolloutSpec::default()).strategy_kind().is_err());
        assert_eq!(StrategyKind::BlueGreen.as_str(), "blueGreen");
    }

    #[test]
    fn replicas_default_to_one() {
        assert_eq!(RolloutSpec::default().desired_replicas(), 1);
        assert_eq!(RolloutSpec { replicas: Some(0), ..RolloutSpec::default() }.desired_replicas(), 0);
    }
}

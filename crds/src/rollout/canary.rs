//! The canary strategy: services, surge limits, background analysis, anti-affinity, scale-down delays and the
//! knobs of traffic-routed canaries. Steps and traffic routing live in their own modules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analysis_ref::RolloutAnalysisBackground;
use super::steps::{CanaryStep, StepAction};
use super::traffic_routing::RolloutTrafficRouting;
use crate::common::{FieldError, PodTemplateMetadata};
use crate::int_or_percent::IntOrPercent;
use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// Parameters of a canary update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Service whose selector is pointed at the canary pods only. Required with trafficRouting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    /// Service whose selector is pointed at the stable pods only. Required with trafficRouting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    /// Steps of the update, in order. No steps means a rolling update straight to 100%.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    /// Traffic router(s) to shift traffic with. Unset means replica-count weighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<RolloutTrafficRouting>,
    /// Pods that may be unavailable during the update: a number, or a percentage rounded down (default 25%).
    /// Cannot be 0 when maxSurge is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Pods that may run above the desired count: a number, or a percentage rounded up (default 25%).
    /// Cannot be 0 when maxUnavailable is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrPercent>,
    /// Analysis that runs in the background for the whole update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysisBackground>,
    /// Keep new pods off nodes that run the stable version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Labels and annotations added to canary pods while they are the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_metadata: Option<PodTemplateMetadata>,
    /// Labels and annotations added to stable pods while they are stable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_metadata: Option<PodTemplateMetadata>,
    /// With trafficRouting: seconds to keep the old stable ReplicaSet up after the stable Service switched
    /// (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Old ReplicaSets that may stay up during their scale-down delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// With trafficRouting: seconds before canary pods are scaled down after an abort (default 30; 0 means never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// With trafficRouting: scale the stable ReplicaSet down as canary traffic grows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_stable_scale: Option<bool>,
    /// Alternate two Services (ping and pong) instead of switching stable and canary selectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_pong: Option<PingPongSpec>,
    /// With trafficRouting: the fewest pods a non-empty canary or stable ReplicaSet may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_pods_per_replica_set: Option<i32>,
    /// Share of canary pods that must be available before a step completes (default 100%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_progress_threshold: Option<ReplicaProgressThreshold>,
}

/// Which anti-affinity rule to inject into new pods; set exactly one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AntiAffinity {
    /// A preferred rule with the given weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_during_scheduling_ignored_during_execution: Option<PreferredDuringSchedulingIgnoredDuringExecution>,
    /// A required rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<RequiredDuringSchedulingIgnoredDuringExecution>,
}

/// Weight of the injected preferred anti-affinity rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferredDuringSchedulingIgnoredDuringExecution {
    /// Weight of the rule, 1-100.
    pub weight: i32,
}

/// Marker for the injected required anti-affinity rule (written `{}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequiredDuringSchedulingIgnoredDuringExecution {}

/// The two Services of a ping-pong canary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingPongSpec {
    /// Name of the ping Service.
    pub ping_service: String,
    /// Name of the pong Service.
    pub pong_service: String,
}

/// How many canary pods must be available before the rollout moves on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaProgressThreshold {
    /// Percent or Pods.
    #[serde(rename = "type")]
    pub type_: ReplicaProgressThresholdType,
    /// Percentage (0-100) or number of pods.
    pub value: i32,
}

open_string_enum! {
    /// Unit of a replica progress threshold.
    #[derive(Default)]
    pub enum ReplicaProgressThresholdType {
        /// A percentage of the step's desired canary pods.
        #[default]
        Percent = "Percent",
        /// An absolute number of pods.
        Pods = "Pods",
    }
}

// === impl CanaryStrategy ===

impl CanaryStrategy {
    /// The action of every step, or the first step that has none or several, as
    /// `spec.strategy.canary.steps[i]: step must have exactly one action`.
    pub fn step_actions(&self) -> Result<Vec<StepAction<'_>>, FieldError> {
        self.steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                step.action().map_err(|err| FieldError::new(format!("spec.strategy.canary.steps[{index}]"), err.to_string()))
            })
            .collect()
    }
}

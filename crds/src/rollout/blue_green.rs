//! The blue-green strategy: run the new version behind a preview Service, then switch the active Service to it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::analysis_ref::RolloutAnalysis;
use super::canary::AntiAffinity;
use crate::common::PodTemplateMetadata;
use crate::int_or_percent::IntOrPercent;

/// Parameters of a blue-green update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Service switched to the new version on promotion.
    pub active_service: String,
    /// Service pointed at the new version before promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    /// Pods to run for the preview before promotion; scaled to full on promotion (default full).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i32>,
    /// Promote automatically once the new version is ready (default true); false pauses until promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
    /// Promote automatically this many seconds after the pause began (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    /// Pods that may be unavailable during a restart: a number or a percentage (default 25%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Seconds to keep the previous active ReplicaSet up after the switch (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Old ReplicaSets that may stay up during their scale-down delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// Analysis to pass before the active Service is switched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    /// Keep new pods off nodes that run the active version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Analysis to pass after the switch; failure switches back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
    /// Labels and annotations added to preview pods while they are the preview.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_metadata: Option<PodTemplateMetadata>,
    /// Labels and annotations added to active pods while they are active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_metadata: Option<PodTemplateMetadata>,
    /// Seconds before the preview ReplicaSet is scaled down after an abort (default 30; 0 means never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
}

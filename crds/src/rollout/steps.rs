//! Canary steps. A step is a struct of optional actions on the wire (as in Argo), of which exactly one must be
//! set; [`CanaryStep::action`] turns it into a [`StepAction`] to match on, or says why it cannot.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::analysis_ref::{AnalysisRunArgument, RolloutAnalysis};
use crate::analysis_template::DryRun;
use crate::common::{AnalysisRunMetadata, PodTemplateMetadata, TemplateService};
use crate::go_duration::DurationString;
use crate::pause_duration::PauseDuration;
use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// One step of a canary update; set exactly one action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Percentage of traffic (with trafficRouting) or of replicas (without) to send to the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    /// Pause the update, for a duration or (`{}`) until promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
    /// Run an Experiment and wait for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<RolloutExperimentStep>,
    /// Run an AnalysisRun and wait for it to succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
    /// Scale the canary without changing its traffic weight (trafficRouting only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<SetCanaryScale>,
    /// Send requests that match headers to the canary; no match removes the route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_header_route: Option<SetHeaderRoute>,
    /// Mirror matching requests to the canary; no match removes the route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_mirror_route: Option<SetMirrorRoute>,
    /// Run a step plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginStep>,
}

/// The action of a well-formed step, by reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepAction<'a> {
    /// `setWeight`.
    SetWeight(i32),
    /// `pause`.
    Pause(&'a RolloutPause),
    /// `experiment`.
    Experiment(&'a RolloutExperimentStep),
    /// `analysis`.
    Analysis(&'a RolloutAnalysis),
    /// `setCanaryScale`.
    SetCanaryScale(&'a SetCanaryScale),
    /// `setHeaderRoute`.
    SetHeaderRoute(&'a SetHeaderRoute),
    /// `setMirrorRoute`.
    SetMirrorRoute(&'a SetMirrorRoute),
    /// `plugin`.
    Plugin(&'a PluginStep),
}

impl StepAction<'_> {
    /// The action's JSON key.
    pub fn key(&self) -> &'static str {
        match self {
            Self::SetWeight(_) => "setWeight",
            Self::Pause(_) => "pause",
            Self::Experiment(_) => "experiment",
            Self::Analysis(_) => "analysis",
            Self::SetCanaryScale(_) => "setCanaryScale",
            Self::SetHeaderRoute(_) => "setHeaderRoute",
            Self::SetMirrorRoute(_) => "setMirrorRoute",
            Self::Plugin(_) => "plugin",
        }
    }
}

/// A step without exactly one action.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("step must have exactly one action")]
pub struct StepActionError {
    /// The keys of the actions that are set (none, or several).
    pub found: Vec<&'static str>,
}

// === impl CanaryStep ===

impl CanaryStep {
    /// Every action that is set, in declaration order.
    pub fn actions(&self) -> Vec<StepAction<'_>> {
        let mut set = Vec::new();
        set.extend(self.set_weight.map(StepAction::SetWeight));
        set.extend(self.pause.as_ref().map(StepAction::Pause));
        set.extend(self.experiment.as_ref().map(StepAction::Experiment));
        set.extend(self.analysis.as_ref().map(StepAction::Analysis));
        set.extend(self.set_canary_scale.as_ref().map(StepAction::SetCanaryScale));
        set.extend(self.set_header_route.as_ref().map(StepAction::SetHeaderRoute));
        set.extend(self.set_mirror_route.as_ref().map(StepAction::SetMirrorRoute));
        set.extend(self.plugin.as_ref().map(StepAction::Plugin));
        set
    }

    /// The step's single action, or an error listing what was found when none or several are set.
    pub fn action(&self) -> Result<StepAction<'_>, StepActionError> {
        match self.actions().as_slice() {
            [only] => Ok(*only),
            several => Err(StepActionError { found: several.iter().map(StepAction::key).collect() }),
        }
    }
}

/// A pause step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    /// How long to pause: seconds (`30`, `"30"`) or a Go duration (`"30s"`, `"1h"`). Unset pauses until promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<PauseDuration>,
}

/// How to scale the canary without changing traffic; set one field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    /// Canary size as a percentage of spec.replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Canary size as a number of pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Go back to sizing the canary by its traffic weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_traffic_weight: Option<bool>,
}

/// A header-based route to the canary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetHeaderRoute {
    /// Name of the route; must be listed in trafficRouting.managedRoutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Header conditions, all of which must hold. Empty removes the route.
    #[serde(rename = "match", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<HeaderRoutingMatch>,
}

/// A header condition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoutingMatch {
    /// Name of the request header.
    pub header_name: String,
    /// How the header value must match.
    pub header_value: StringMatch,
}

/// A mirror (shadow) route: matching requests are copied to the canary and the copies' responses discarded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetMirrorRoute {
    /// Name of the route; must be listed in trafficRouting.managedRoutes.
    pub name: String,
    /// Request conditions; a request matching any entry is mirrored. Empty removes the route.
    #[serde(rename = "match", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<RouteMatch>,
    /// Percentage of matching requests to mirror.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<i32>,
}

/// Conditions on a request; all that are set must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    /// HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// URL path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
    /// Request headers, by name.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}

/// A string condition; set exactly one of exact, prefix and regex.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    /// The value must equal this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The value must start with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The value must match this regular expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// The single condition of a [`StringMatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringMatcher<'a> {
    /// `exact`.
    Exact(&'a str),
    /// `prefix`.
    Prefix(&'a str),
    /// `regex`.
    Regex(&'a str),
}

impl StringMatch {
    /// The single condition, or `None` when zero or several are set (an invalid match).
    pub fn matcher(&self) -> Option<StringMatcher<'_>> {
        match (self.exact.as_deref(), self.prefix.as_deref(), self.regex.as_deref()) {
            (Some(exact), None, None) => Some(StringMatcher::Exact(exact)),
            (None, Some(prefix), None) => Some(StringMatcher::Prefix(prefix)),
            (None, None, Some(regex)) => Some(StringMatcher::Regex(regex)),
            _ => None,
        }
    }
}

/// A step plugin invocation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginStep {
    /// Name of the plugin, as configured in the controller's ConfigMap.
    pub name: String,
    /// Free-form configuration passed to the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub config: Option<Value>,
}

/// An experiment step: the ReplicaSets and analyses of an Experiment created for this step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentStep {
    /// ReplicaSets to run, from the canary's or the stable's pod template.
    #[serde(deserialize_with = "null_as_default")]
    pub templates: Vec<RolloutExperimentTemplate>,
    /// How long the experiment runs (Go duration). Unset runs until its analyses finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationString>,
    /// Analyses to run against the experiment's ReplicaSets.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<RolloutExperimentStepAnalysisTemplateRef>,
    /// Metrics to run in dry-run mode.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Labels and annotations for the experiment's AnalysisRuns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis_run_metadata: Option<AnalysisRunMetadata>,
    /// Seconds to keep the experiment's ReplicaSets up after it finishes (default 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
}

/// An analysis of an experiment step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentStepAnalysisTemplateRef {
    /// Name of this analysis within the experiment.
    pub name: String,
    /// Name of the AnalysisTemplate (or ClusterAnalysisTemplate with clusterScope).
    pub template_name: String,
    /// Look the name up among ClusterAnalysisTemplates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    /// Values for the template's arguments.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    /// The experiment does not complete before this analysis does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_for_completion: Option<bool>,
}

/// A ReplicaSet of an experiment step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutExperimentTemplate {
    /// Name of the template.
    pub name: String,
    /// Whose pod template to run: canary or stable.
    pub spec_ref: ReplicaSetSpecRef,
    /// Number of pods (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Labels and annotations for the ReplicaSet's pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PodTemplateMetadata>,
    /// Selector of the ReplicaSet; defaults to the Rollout's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Percentage of traffic for these pods (trafficRouting only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Create a Service for these pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TemplateService>,
}

open_string_enum! {
    /// Which ReplicaSet's pod template an experiment template runs.
    #[derive(Default)]
    pub enum ReplicaSetSpecRef {
        /// The new (canary) ReplicaSet's.
        #[default]
        Canary = "canary",
        /// The stable ReplicaSet's.
        Stable = "stable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::canary::CanaryStrategy;

    fn step(json: serde_json::Value) -> CanaryStep {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_step_with_one_action_yields_it() {
        assert_eq!(step(serde_json::json!({"setWeight": 20})).action(), Ok(StepAction::SetWeight(20)));
        let pause = step(serde_json::json!({"pause": {}}));
        assert!(matches!(pause.action(), Ok(StepAction::Pause(RolloutPause { duration: None }))));
        let plugin = step(serde_json::json!({"plugin": {"name": "x", "config": {"a": 1}}}));
        assert_eq!(plugin.action().map(|a| a.key()), Ok("plugin"));
    }

    #[test]
    fn a_step_without_exactly_one_action_is_an_error() {
        let empty = step(serde_json::json!({}));
        assert_eq!(empty.action(), Err(StepActionError { found: vec![] }));
        let both = step(serde_json::json!({"setWeight": 20, "pause": {"duration": "1m"}}));
        assert_eq!(both.action(), Err(StepActionError { found: vec!["setWeight", "pause"] }));
    }

    #[test]
    fn canary_step_errors_carry_the_field_path() {
        let canary: CanaryStrategy = serde_json::from_value(serde_json::json!({
            "steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50, "pause": {}}, {}]
        }))
        .unwrap();
        assert_eq!(canary.step_actions().unwrap_err().to_string(), "spec.strategy.canary.steps[2]: step must have exactly one action");
        let good: CanaryStrategy = serde_json::from_value(serde_json::json!({"steps": [{"setWeight": 10}, {"pause": {}}]})).unwrap();
        assert_eq!(good.step_actions().unwrap().iter().map(StepAction::key).collect::<Vec<_>>(), ["setWeight", "pause"]);
    }

    #[test]
    fn string_match_needs_exactly_one_condition() {
        let exact = StringMatch { exact: Some("GET".into()), ..StringMatch::default() };
        assert_eq!(exact.matcher(), Some(StringMatcher::Exact("GET")));
        assert_eq!(StringMatch::default().matcher(), None);
        let two = StringMatch { exact: Some("a".into()), regex: Some("b.*".into()), ..StringMatch::default() };
        assert_eq!(two.matcher(), None);
    }

    #[test]
    fn null_lists_decode_as_empty() {
        let canary: CanaryStrategy = serde_json::from_value(serde_json::json!({"steps": null})).unwrap();
        assert!(canary.steps.is_empty());
        let route: SetHeaderRoute = serde_json::from_value(serde_json::json!({"name": "h", "match": null})).unwrap();
        assert!(route.match_.is_empty());
    }
}

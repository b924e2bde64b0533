//! Rollout status: the contract Argo CD's health checks, the kubectl plugin and dashboards read and patch.
//! Keys are exactly Argo's, including the capitalised `HPAReplicas` (the scale subresource's status path).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{AnalysisPhase, ConditionStatus};
use crate::go_duration::DurationString;
use crate::serde_null::null_as_default;
use crate::string_enum::open_string_enum;

/// Observed state of a Rollout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Abort the update in progress: set by a user (or by the controller on failed analysis), cleared to retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<bool>,
    /// Why the controller paused the rollout. Clearing the list (e.g. a promote) resumes it.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub pause_conditions: Vec<PauseCondition>,
    /// The controller paused the rollout; true with no pauseConditions means a user resumed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_pause: Option<bool>,
    /// When the controller reconciled the abort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<Time>,
    /// Hash of the desired pod template (the new ReplicaSet's `rollouts-pod-template-hash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_pod_hash: Option<String>,
    /// Hash of the canary steps; a change restarts the steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_hash: Option<String>,
    /// Non-terminated pods targeted by this rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Non-terminated pods that have the desired template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Ready pods targeted by this rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods ready for at least minReadySeconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Index of the current canary step; equals the number of steps when all are done. Unset without steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Hash-collision counter folded into the pod template hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// metadata.generation last observed, as a decimal string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<String>,
    /// Conditions: Progressing, Available, Completed, Healthy, Paused, InvalidSpec, ReplicaFailure.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RolloutCondition>,
    /// State of a canary update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// State of a blue-green update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStatus>,
    /// Non-terminated pods receiving active traffic; the scale subresource's replica count.
    #[serde(rename = "HPAReplicas", skip_serializing_if = "Option::is_none")]
    pub hpa_replicas: Option<i32>,
    /// Label selector (string form) of the pods receiving active traffic; the scale subresource's selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Pod template hash of the stable ReplicaSet.
    #[serde(rename = "stableRS", skip_serializing_if = "Option::is_none")]
    pub stable_rs: Option<String>,
    /// The spec.restartAt that was last carried out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<Time>,
    /// Skip the remaining steps, analyses and pauses and promote fully.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_full: Option<bool>,
    /// Healthy, Progressing, Paused or Degraded; meaningful only when observedGeneration matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolloutPhase>,
    /// Why the rollout is in its phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Generation of the workloadRef last observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_observed_generation: Option<String>,
    /// ALB load balancer and target groups (single Ingress).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb: Option<AlbStatus>,
    /// ALB load balancers and target groups, one per Ingress.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub albs: Vec<AlbStatus>,
    /// Timing of the current or last update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<RolloutDurationStatus>,
}

open_string_enum! {
    /// Phase of a Rollout.
    pub enum RolloutPhase {
        /// Fully rolled out and healthy.
        Healthy = "Healthy",
        /// Updating.
        Progressing = "Progressing",
        /// Paused by a user or a step.
        Paused = "Paused",
        /// Invalid spec, aborted, or out of progress deadline.
        Degraded = "Degraded",
    }
}

/// Why and since when the controller paused a rollout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// Why the rollout paused.
    pub reason: PauseReason,
    /// When the pause began.
    pub start_time: Time,
}

open_string_enum! {
    /// Why the controller paused a rollout.
    pub enum PauseReason {
        /// A canary pause step.
        CanaryPauseStep = "CanaryPauseStep",
        /// A blue-green rollout waiting for promotion.
        BlueGreenPause = "BlueGreenPause",
        /// An AnalysisRun ended Inconclusive.
        InconclusiveAnalysisRun = "InconclusiveAnalysisRun",
        /// An Experiment ended Inconclusive.
        InconclusiveExperiment = "InconclusiveExperiment",
    }
}

/// A condition of a Rollout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: RolloutConditionType,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// Last time the condition was updated (for Progressing: last progress, the deadline clock).
    pub last_update_time: Time,
    /// Last time the status changed.
    pub last_transition_time: Time,
    /// Machine-readable reason for the last transition.
    pub reason: String,
    /// Human-readable details.
    pub message: String,
}

open_string_enum! {
    /// Type of a Rollout condition.
    pub enum RolloutConditionType {
        /// The spec is invalid; the rollout does not progress until it is fixed.
        InvalidSpec = "InvalidSpec",
        /// The rollout has minimum availability.
        Available = "Available",
        /// The rollout is making progress (or failed to, with reason ProgressDeadlineExceeded or RolloutAborted).
        Progressing = "Progressing",
        /// Pods could not be created or deleted.
        ReplicaFailure = "ReplicaFailure",
        /// The rollout is paused.
        Paused = "Paused",
        /// The update to the desired revision is complete.
        Completed = "Completed",
        /// Completed and every pod is updated and available.
        Healthy = "Healthy",
    }
}

/// State of a canary update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The AnalysisRun of the current analysis step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The background AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// Name of the Experiment of the current experiment step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_experiment: Option<String>,
    /// Weights last applied to the traffic router(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    /// Which ping-pong Service is stable: ping or pong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_ping_pong: Option<PingPongType>,
    /// State of each step plugin run.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub step_plugin_statuses: Vec<StepPluginStatus>,
}

open_string_enum! {
    /// A ping-pong Service.
    pub enum PingPongType {
        /// The ping Service.
        Ping = "ping",
        /// The pong Service.
        Pong = "pong",
    }
}

/// An AnalysisRun a rollout waits on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisRunStatus {
    /// Name of the AnalysisRun.
    pub name: String,
    /// Its phase.
    pub status: AnalysisPhase,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How traffic is split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    /// Weight of the canary.
    pub canary: WeightDestination,
    /// Weight of the stable version.
    pub stable: WeightDestination,
    /// Weights of other ReplicaSets, such as an experiment's.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<WeightDestination>,
    /// Whether the router confirmed the weights took effect (ALB only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// A traffic destination and its weight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    /// Percentage of traffic (of maxTrafficWeight).
    pub weight: i32,
    /// Service the traffic goes to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Pod template hash of the destination pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
}

/// State of one step plugin run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepPluginStatus {
    /// Index of the step.
    pub index: i32,
    /// Name of the plugin.
    pub name: String,
    /// Operation run: Run, Terminate or Abort.
    pub operation: StepPluginOperation,
    /// Running, Successful, Failed or Error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<StepPluginPhase>,
    /// Message from the plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the operation started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the status last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
    /// When the operation finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Time to wait before calling the plugin again (Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<DurationString>,
    /// How many times the operation ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executions: Option<i32>,
    /// The plugin is disabled in the controller's configuration; the step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// The plugin's own state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub status: Option<Value>,
}

open_string_enum! {
    /// Operation of a step plugin.
    pub enum StepPluginOperation {
        /// Run the step.
        Run = "Run",
        /// Stop a running step.
        Terminate = "Terminate",
        /// Undo the step after an abort.
        Abort = "Abort",
    }
}

open_string_enum! {
    /// Phase of a step plugin run.
    pub enum StepPluginPhase {
        /// In progress.
        Running = "Running",
        /// Finished and passed.
        Successful = "Successful",
        /// Finished and failed.
        Failed = "Failed",
        /// Could not run.
        Error = "Error",
    }
}

/// State of a blue-green update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// Pod template hash in the preview Service's selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_selector: Option<String>,
    /// Pod template hash in the active Service's selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_selector: Option<String>,
    /// The preview ReplicaSet may be scaled to full now that the rollout was resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up_preview_check_point: Option<bool>,
    /// The pre-promotion AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The post-promotion AnalysisRun.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
}

/// ALB resources of an Ingress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlbStatus {
    /// The load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<AwsResourceRef>,
    /// The canary target group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_target_group: Option<AwsResourceRef>,
    /// The stable target group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_target_group: Option<AwsResourceRef>,
    /// Name of the Ingress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
}

/// An AWS resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsResourceRef {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

/// Timing of an update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutDurationStatus {
    /// When the update started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_started_at: Option<Time>,
    /// When the current manual pause started, if paused by a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_pause_started_at: Option<Time>,
    /// Seconds spent in finished manual pauses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_manual_pause_duration_seconds: Option<i64>,
    /// When the update finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// How it finished, e.g. Promoted, FastPromoted, Aborted, Superseded, RolledBack, FastRolledBack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_status: Option<String>,
}

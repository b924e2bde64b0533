//! Serin's API types: `Rollout`, `AnalysisTemplate`, `ClusterAnalysisTemplate`, `AnalysisRun` and `Experiment`
//! in `argoproj.io/v1alpha1`, wire-compatible with Argo Rollouts, plus their CRD manifests.
//!
//! Types only: no client, no I/O (the `crdgen` binary writes the manifests). Validation belongs to the planner;
//! this crate offers a few pure accessors it needs, such as [`Rollout::strategy_kind`] and
//! [`CanaryStrategy::step_actions`](rollout::canary::CanaryStrategy::step_actions).
//!
//! # Wire rules
//! Decoding an Argo manifest and encoding it again gives the same JSON, with no defaults injected:
//! - Optional scalars and objects are `Option`s, skipped when `None`, so an explicit `false`, `0` or `{}` written
//!   by a user (`paused: false`, `pause: {}`) survives. Defaults live in accessors (`desired_replicas()`).
//! - Optional lists and maps are skipped when empty, as Go's `omitempty` does, and accept `null`.
//! - Go-syntax values keep the form they were written in: [`DurationString`], [`PauseDuration`],
//!   [`IntOrPercent`]. Argo-string enums are open ([`AnalysisPhase::Other`] and friends), so a value from a newer
//!   controller is kept, not rejected.
//! - Unknown fields at the top of each spec are kept in its `unknown` map (and the CRD preserves them there).
//!
//! Known, deliberate losses: a pod template is a k8s-openapi `PodTemplateSpec` for Kubernetes 1.33, so pod fields
//! newer than 1.33 are dropped when a Rollout is decoded and encoded again; a numeric resource quantity
//! (`cpu: 1`) comes back as the string `"1"`; times come back with second precision in UTC (`Z`), as Go writes
//! them.

// Every field's doc comment becomes its `kubectl explain` text, so none may be missing.
#![warn(missing_docs)]
// Field docs become `kubectl explain` text, where kind names (AnalysisRun, IntOrString) read better without
// Markdown backticks.
#![allow(clippy::doc_markdown, reason = "doc comments are kubectl explain text")]

pub mod analysis_run;
pub mod analysis_template;
pub mod common;
pub mod crd;
pub mod experiment;
pub mod go_duration;
pub mod int_or_percent;
pub mod labels;
pub mod metric_provider;
pub mod pause_duration;
pub mod rollout;
mod schema;
mod serde_null;
mod string_enum;

pub use analysis_run::{AnalysisRun, AnalysisRunSpec, AnalysisRunStatus};
pub use analysis_template::{AnalysisTemplate, AnalysisTemplateSpec, ClusterAnalysisTemplate, ClusterAnalysisTemplateSpec};
pub use common::{AnalysisPhase, FieldError};
pub use experiment::{Experiment, ExperimentSpec, ExperimentStatus};
pub use go_duration::{DurationString, GoDuration, GoDurationError};
pub use int_or_percent::{IntOrPercent, IntOrPercentError};
pub use pause_duration::{PauseDuration, PauseDurationError};
pub use rollout::status::RolloutStatus;
pub use rollout::{Rollout, RolloutSpec, StrategyKind};

/// The API group of every kind here.
pub const GROUP: &str = "argoproj.io";
/// The API version of every kind here.
pub const VERSION: &str = "v1alpha1";

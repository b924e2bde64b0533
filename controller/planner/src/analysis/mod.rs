//! Analysis: the pure half of AnalysisRuns. What a measurement's value is ([`value`]), how conditions judge it
//! ([`condition`]), how arguments are resolved and substituted ([`args`]), when each metric is measured next
//! ([`schedule`]), how measurements add up to a metric and a run phase ([`assess`]), and how a Rollout builds its
//! runs from templates ([`build`]).
//!
//! The controller crate takes the measurements (providers do I/O); everything that decides lives here.

pub mod args;
pub mod assess;
pub mod build;
pub mod condition;
pub mod metric;
pub mod schedule;
pub mod value;

pub use value::MetricValue;

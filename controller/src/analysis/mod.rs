//! The AnalysisRun controller: takes measurements with the metric [`providers`] and records them ([`run`]),
//! judged by the planner's analysis module.

pub mod providers;
pub mod run;

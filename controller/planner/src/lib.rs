//! `serin-planner`: the pure decision logic of the Serin controller.
//!
//! Contract: no async, no Kubernetes client, no clock (time is an argument), no I/O. Given the same input every
//! function returns the same output, so the controller's behaviour is tested here with plain table and property
//! tests. The controller crate observes the cluster, calls into this crate, and executes what it returns.

pub mod analysis;
pub mod canary;
pub mod conditions;
pub mod phase;
pub mod plan;
pub mod pod_hash;
pub mod pod_template;
pub mod replicas;
pub mod status_patch;
pub mod traffic;
pub mod validate;

pub use plan::{Action, Event, Observed, Plan, PodInfo, plan};

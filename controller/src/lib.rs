//! `serin-controller`: the Rollout controller.
//!
//! The reconcile loop is a pipeline of named steps, each its own module with its own contract:
//!
//! - [`watch`]: kube-runtime `Controller` over Rollouts (malformed ones included, through `DeserializeGuard`),
//!   triggered by the ReplicaSets they own, from one shared ReplicaSet reflector.
//! - [`observe`]: the snapshot the planner sees, from the reflector caches only, refused when the cache is older
//!   than our own last write ([`freshness`]).
//! - `serin_planner::plan`: pure decision (separate crate, no I/O).
//! - [`execute`]: performs the plan's actions in order, writes the status difference last, records events.
//! - [`routers`]: caches of Services and traffic-router objects (their changes trigger the Rollouts using them),
//!   and the release of Services whose Rollout was deleted.
//! - [`reconcile`]: ties them together and sorts failures (conflict: requeue at once; other: per-object backoff).

pub mod analysis;
pub mod caches;
pub mod cli;
pub mod client;
pub mod context;
pub mod execute;
pub mod freshness;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod reconcile;
pub mod routers;
pub mod telemetry;
pub mod watch;

pub use context::Context;
pub use watch::{Settings, run};

/// The field manager (and event reporter) name on every write.
pub const FIELD_MANAGER: &str = "serin-controller";

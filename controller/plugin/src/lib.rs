//! `kubectl-serin`: the kubectl plugin for Rollouts.
//!
//! - [`patches`]: the exact patches each command sends, as Argo's `kubectl argo rollouts` sends them (pure).
//! - [`render`]: `get rollout` and `list rollouts` output from fetched objects (pure).

pub mod patches;
pub mod render;

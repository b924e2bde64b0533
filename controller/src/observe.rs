//! Observe: the snapshot the planner sees for one Rollout, read from the reflector caches only (no LIST calls).
//!
//! A ReplicaSet belongs to the snapshot when the Rollout is its controller, or when it has no controller and its
//! labels match the Rollout's selector (the planner adopts it). ReplicaSets controlled by anything else are never
//! touched.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::Store;
use serin_api::Rollout;

/// The ReplicaSets of `rollout` in `store`, sorted by name.
pub fn replica_sets(rollout: &Rollout, store: &Store<ReplicaSet>) -> Vec<Arc<ReplicaSet>> {
    let namespace = rollout.namespace();
    let uid = rollout.uid();
    let selector = rollout.spec.selector.clone().and_then(|s| Selector::try_from(s).ok());
    let mut rss: Vec<Arc<ReplicaSet>> = store
        .state()
        .into_iter()
        .filter(|rs| rs.namespace() == namespace)
        .filter(|rs| match rs.owner_references().iter().find(|o| o.controller == Some(true)) {
            Some(owner) => Some(&owner.uid) == uid.as_ref(),
            // An empty selector would match everything: validation rejects it, and adoption must not rely on it.
            None => selector.as_ref().is_some_and(|s| !s.selects_all() && s.matches(rs.labels())),
        })
        .collect();
    rss.sort_by_key(|rs| rs.name_any());
    rss
}

//! Observe: the snapshot the planner sees for one Rollout, read from the reflector caches only (no LIST calls).
//!
//! A ReplicaSet belongs to the snapshot when the Rollout is its controller, or when it has no controller and its
//! labels match the Rollout's selector (the planner adopts it). ReplicaSets controlled by anything else are never
//! touched.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};
use kube::runtime::reflector::Store;
use serin_api::labels::POD_TEMPLATE_HASH;
use serin_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use serin_planner::PodInfo;

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

/// The pods of `replica_sets`, only when the Rollout asks for a restart (nothing else needs them). Pods in
/// `evicting` (evicted by us, the cache not showing it yet) count as going away.
pub fn pods(
    rollout: &Rollout,
    replica_sets: &[Arc<ReplicaSet>],
    store: &Store<Pod>,
    evicting: &std::collections::HashSet<String, impl std::hash::BuildHasher>,
) -> Vec<PodInfo> {
    if rollout.spec.restart_at.is_none() {
        return Vec::new();
    }
    let namespace = rollout.namespace();
    let owners: Vec<Option<String>> = replica_sets.iter().map(|rs| rs.uid()).collect();
    let mut pods: Vec<PodInfo> = store
        .state()
        .into_iter()
        .filter(|pod| pod.namespace() == namespace)
        .filter(|pod| pod.owner_references().iter().any(|o| o.controller == Some(true) && owners.contains(&Some(o.uid.clone()))))
        .map(|pod| PodInfo {
            name: pod.name_any(),
            pod_hash: pod.labels().get(POD_TEMPLATE_HASH).cloned().unwrap_or_default(),
            created: pod.metadata.creation_timestamp.as_ref().map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
            deleting: pod.metadata.deletion_timestamp.is_some() || evicting.contains(&pod.name_any()),
            ready_since: ready_since(&pod),
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    pods
}

/// Since when the pod's `Ready` condition is `True` (its `lastTransitionTime`; the epoch when the time is missing).
fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    let ready = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref().map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0))
}

/// The AnalysisRuns in the Rollout's namespace (the planner picks its own by owner; the rest reserve names).
pub fn analysis_runs(rollout: &Rollout, store: &Store<AnalysisRun>) -> Vec<Arc<AnalysisRun>> {
    let namespace = rollout.namespace();
    store.state().into_iter().filter(|run| run.namespace() == namespace).collect()
}

/// The AnalysisTemplates of the Rollout's namespace, only when the Rollout uses analysis.
pub fn analysis_templates(rollout: &Rollout, store: &Store<AnalysisTemplate>) -> Vec<Arc<AnalysisTemplate>> {
    if !uses_analysis(rollout) {
        return Vec::new();
    }
    let namespace = rollout.namespace();
    store.state().into_iter().filter(|t| t.namespace() == namespace).collect()
}

/// The ClusterAnalysisTemplates, only when the Rollout uses analysis.
pub fn cluster_analysis_templates(rollout: &Rollout, store: &Store<ClusterAnalysisTemplate>) -> Vec<Arc<ClusterAnalysisTemplate>> {
    if uses_analysis(rollout) { store.state() } else { Vec::new() }
}

fn uses_analysis(rollout: &Rollout) -> bool {
    let Some(canary) = rollout.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()) else { return false };
    canary.analysis.is_some() || canary.steps.iter().any(|s| s.analysis.is_some())
}

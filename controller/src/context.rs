//! Shared state of the reconcilers: the client, the caches, and the bookkeeping that outlives one reconcile.
//! Holds no decision logic.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use parking_lot::Mutex;

use serin_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};

use crate::freshness::Freshness;

/// Everything a reconcile may use besides the Rollout itself.
pub struct Context {
    /// The API client; only [`crate::execute`] writes with it.
    pub client: Client,
    /// Reflector cache of the ReplicaSets Serin manages (label `rollouts-pod-template-hash`).
    pub replica_sets: Store<ReplicaSet>,
    /// Slim cache of the pods of those ReplicaSets, for `spec.restartAt`: metadata and the `Ready` condition only
    /// (see [`crate::watch::slim_pod`]).
    pub pods: Store<Pod>,
    /// Reflector cache of AnalysisRuns (shared with the AnalysisRun controller).
    pub analysis_runs: Store<AnalysisRun>,
    /// Reflector cache of AnalysisTemplates.
    pub analysis_templates: Store<AnalysisTemplate>,
    /// Reflector cache of ClusterAnalysisTemplates.
    pub cluster_analysis_templates: Store<ClusterAnalysisTemplate>,
    /// Caches of Services and traffic-router objects.
    pub routers: crate::routers::RouterCaches,
    /// Event recorder (reporting controller `serin-controller`).
    pub recorder: Recorder,
    /// Our last writes, to refuse planning from a cache that has not caught up with them.
    pub freshness: Freshness,
    /// Consecutive failures per Rollout (`namespace/name`), for per-object exponential backoff.
    pub failures: Failures,
    /// Malformed Rollouts already reported (`uid` -> error), so each is reported once per change.
    pub malformed_reported: Mutex<HashMap<String, String>>,
    /// Requeue interval when nothing is pending: a level-triggered safety net, not a polling loop.
    pub resync: Duration,
    /// The controller's `/metrics`.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Context {
    /// Records a failure of `key` and returns the delay before the next attempt: 250 ms doubling to 5 minutes.
    pub fn backoff(&self, key: &str) -> Duration {
        self.failures.backoff(key)
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        self.failures.succeeded(key);
    }
}

/// Consecutive failed reconciles per object (`namespace/name`), for per-object exponential backoff. Shared by the
/// Rollout and the AnalysisRun reconcilers.
#[derive(Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Records a failure of `key` and returns the delay before the next attempt: 250 ms doubling to 5 minutes.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.0.lock();
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        let exponent = (*n - 1).min(11);
        Duration::from_millis(250u64 << exponent).min(Duration::from_secs(300))
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        self.0.lock().remove(key);
    }
}

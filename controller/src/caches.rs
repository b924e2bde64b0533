//! The reflector caches the controller reads, and the triggers they produce.
//!
//! Every watched kind has exactly one reflector, started when the process starts, leader or not: a standby keeps
//! warm caches, so a failover reconciles from memory instead of listing the cluster again. Each reflector turns the
//! changes it sees into reconcile triggers: a Rollout for its own changes, its ReplicaSets', AnalysisRuns', Services'
//! and routes'; an AnalysisRun for its own and its Jobs'. Triggers are only sent while this replica leads
//! ([`Triggers`]); when it starts leading, every object is reconciled once anyway.
//!
//! Watch streams drop `managedFields` before caching (never read, a large share of each object's memory), and pods
//! are slimmed to what the planner reads ([`slim_pod`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serin_api::labels::POD_TEMPLATE_HASH;
use serin_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use crate::analysis::providers::job::RUN_UID_LABEL;
use crate::metrics::{Metrics, StateSource};
use crate::routers::RouterCaches;
use crate::watch::{api, instance_selector};

/// A Rollout to reconcile.
pub type RolloutRef = ObjectRef<DeserializeGuard<Rollout>>;

/// Sends reconcile triggers, only while this replica leads.
#[derive(Clone)]
pub struct Triggers {
    leading: Arc<AtomicBool>,
    rollouts: UnboundedSender<RolloutRef>,
    analysis_runs: UnboundedSender<ObjectRef<AnalysisRun>>,
}

impl Triggers {
    /// Whether this replica leads (reconciles).
    pub fn leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Asks for a reconcile of the Rollout `namespace/name`.
    pub fn rollout(&self, namespace: Option<&str>, name: &str) {
        if self.leading() {
            let mut reference = RolloutRef::new(name);
            if let Some(ns) = namespace {
                reference = reference.within(ns);
            }
            let _ = self.rollouts.send(reference);
        }
    }

    /// Asks for a reconcile of the Rollout that controls `object`, if one does.
    fn owner_rollout<K: Resource>(&self, object: &K) {
        let meta = object.meta();
        let owner = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true) && o.kind == "Rollout");
        if let Some(owner) = owner {
            self.rollout(meta.namespace.as_deref(), &owner.name);
        }
    }

    fn analysis_run(&self, namespace: Option<&str>, name: &str) {
        if self.leading() {
            let mut reference = ObjectRef::<AnalysisRun>::new(name);
            if let Some(ns) = namespace {
                reference = reference.within(ns);
            }
            let _ = self.analysis_runs.send(reference);
        }
    }
}

/// The receiving ends of [`Triggers`], consumed by the controllers once this replica leads.
pub struct TriggerStreams {
    /// Rollouts to reconcile.
    pub rollouts: UnboundedReceiver<RolloutRef>,
    /// AnalysisRuns to reconcile.
    pub analysis_runs: UnboundedReceiver<ObjectRef<AnalysisRun>>,
}

/// Every cache the controller reads.
#[derive(Clone)]
pub struct Caches {
    /// Rollouts of this instance (`--instance-id`), malformed ones included.
    pub rollouts: Store<DeserializeGuard<Rollout>>,
    /// ReplicaSets carrying `rollouts-pod-template-hash`.
    pub replica_sets: Store<ReplicaSet>,
    /// Pods carrying `rollouts-pod-template-hash`, slimmed ([`slim_pod`]).
    pub pods: Store<Pod>,
    /// AnalysisRuns of this instance.
    pub analysis_runs: Store<AnalysisRun>,
    /// AnalysisTemplates.
    pub analysis_templates: Store<AnalysisTemplate>,
    /// ClusterAnalysisTemplates.
    pub cluster_analysis_templates: Store<ClusterAnalysisTemplate>,
    /// Services and traffic-router objects.
    pub routers: RouterCaches,
    /// Where reflectors send triggers.
    pub triggers: Triggers,
}

impl Caches {
    /// Starts every reflector. `leading` gates the triggers.
    pub fn start(
        client: &Client,
        namespace: Option<&str>,
        instance_id: Option<&str>,
        metrics: &Arc<Metrics>,
        leading: Arc<AtomicBool>,
    ) -> (Self, TriggerStreams, Vec<JoinHandle<()>>) {
        let (rollout_tx, rollout_rx) = unbounded_channel();
        let (run_tx, run_rx) = unbounded_channel();
        let triggers = Triggers { leading, rollouts: rollout_tx, analysis_runs: run_tx };
        let instance = instance_selector(instance_id);
        let mut tasks = Vec::new();

        let (rollouts, writer) = reflector::store::<DeserializeGuard<Rollout>>();
        let stream =
            watcher(api::<DeserializeGuard<Rollout>>(client, namespace), watcher::Config::default().labels(&instance).any_semantic())
                .default_backoff()
                .modify(|guarded: &mut DeserializeGuard<Rollout>| {
                    if let Ok(rollout) = &mut guarded.0 {
                        rollout.metadata.managed_fields = None;
                    }
                })
                .reflect(writer);
        tasks.push(tokio::spawn(drive(stream, {
            let (triggers, metrics) = (triggers.clone(), metrics.clone());
            move |event| match event {
                Change::Applied(guarded) => triggers.rollout(guarded.meta().namespace.as_deref(), &guarded.name_any()),
                Change::Deleted(guarded) => metrics.forget_rollout(&guarded.namespace().unwrap_or_default(), &guarded.name_any()),
            }
        })));

        let (replica_sets, writer) = reflector::store::<ReplicaSet>();
        let stream = watcher(api::<ReplicaSet>(client, namespace), watcher::Config::default().labels(POD_TEMPLATE_HASH).any_semantic())
            .default_backoff()
            .modify(|rs: &mut ReplicaSet| rs.metadata.managed_fields = None)
            .reflect(writer);
        tasks.push(tokio::spawn(drive(stream, {
            let triggers = triggers.clone();
            move |event| match event {
                Change::Applied(rs) | Change::Deleted(rs) => triggers.owner_rollout(&rs),
            }
        })));

        let (pods, writer) = reflector::store::<Pod>();
        let stream = watcher(api::<Pod>(client, namespace), watcher::Config::default().labels(POD_TEMPLATE_HASH).any_semantic())
            .default_backoff()
            .modify(slim_pod)
            .reflect(writer);
        tasks.push(tokio::spawn(drive(stream, |_| {})));

        let (analysis_runs, writer) = reflector::store::<AnalysisRun>();
        let stream = watcher(api::<AnalysisRun>(client, namespace), watcher::Config::default().labels(&instance).any_semantic())
            .default_backoff()
            .modify(|run: &mut AnalysisRun| run.metadata.managed_fields = None)
            .reflect(writer);
        tasks.push(tokio::spawn(drive(stream, {
            let (triggers, metrics) = (triggers.clone(), metrics.clone());
            move |event| match event {
                Change::Applied(run) => {
                    triggers.analysis_run(run.meta().namespace.as_deref(), &run.name_any());
                    triggers.owner_rollout(&run);
                }
                Change::Deleted(run) => {
                    metrics.forget_analysis_run(&run.namespace().unwrap_or_default(), &run.name_any());
                    triggers.owner_rollout(&run);
                }
            }
        })));

        // Jobs of the job metric provider: only their changes matter (the provider reads the Job itself).
        let (_, writer) = reflector::store::<PartialObjectMeta<Job>>();
        let stream =
            watcher(api::<PartialObjectMeta<Job>>(client, namespace), watcher::Config::default().labels(RUN_UID_LABEL).any_semantic())
                .default_backoff()
                .reflect(writer);
        tasks.push(tokio::spawn(drive(stream, {
            let triggers = triggers.clone();
            move |event| match event {
                Change::Applied(job) | Change::Deleted(job) => {
                    let meta = job.meta();
                    if let Some(owner) = meta.owner_references.iter().flatten().find(|o| o.kind == "AnalysisRun") {
                        triggers.analysis_run(meta.namespace.as_deref(), &owner.name);
                    }
                }
            }
        })));

        let (analysis_templates, task) = cache(api::<AnalysisTemplate>(client, namespace), watcher::Config::default());
        tasks.push(task);
        let (cluster_analysis_templates, task) = cache(Api::<ClusterAnalysisTemplate>::all(client.clone()), watcher::Config::default());
        tasks.push(task);

        let (routers, router_tasks) = crate::routers::start(client, namespace, rollouts.clone(), triggers.clone());
        tasks.extend(router_tasks);

        let caches =
            Self { rollouts, replica_sets, pods, analysis_runs, analysis_templates, cluster_analysis_templates, routers, triggers };
        (caches, TriggerStreams { rollouts: rollout_rx, analysis_runs: run_rx }, tasks)
    }

    /// What the state metrics read.
    pub fn state_source(&self) -> StateSource {
        StateSource {
            rollouts: self.rollouts.clone(),
            analysis_runs: self.analysis_runs.clone(),
            analysis_templates: self.analysis_templates.clone(),
            cluster_analysis_templates: self.cluster_analysis_templates.clone(),
        }
    }

    /// Waits until every cache has listed once; false if a writer is gone.
    pub async fn synced(&self) -> bool {
        use crate::watch::until_ready;
        until_ready(&self.rollouts).await
            && until_ready(&self.replica_sets).await
            && until_ready(&self.pods).await
            && until_ready(&self.analysis_runs).await
            && until_ready(&self.analysis_templates).await
            && until_ready(&self.cluster_analysis_templates).await
            && until_ready(&self.routers.services).await
            && until_ready(&self.routers.ingresses).await
    }
}

/// A change a reflector saw, as the triggers need it.
pub(crate) enum Change<K> {
    /// Created, updated, or listed.
    Applied(K),
    /// Deleted.
    Deleted(K),
}

/// Polls a reflected watch stream for ever, handing each object change to `on_change`.
pub(crate) async fn drive<K>(
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    mut on_change: impl FnMut(Change<K>),
) {
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => on_change(Change::Applied(object)),
            Ok(watcher::Event::Delete(object)) => on_change(Change::Deleted(object)),
            Ok(watcher::Event::Init | watcher::Event::InitDone) | Err(_) => {}
        }
    }
}

/// A cache-only reflector (its events trigger nothing): the store, and the task driving its watch.
fn cache<K>(api: Api<K>, config: watcher::Config) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store::<K>();
    let stream =
        watcher(api, config.any_semantic()).default_backoff().modify(|obj: &mut K| obj.meta_mut().managed_fields = None).reflect(writer);
    (store, tokio::spawn(drive(stream, |_| {})))
}

/// Keeps of a pod only what the planner reads (name, namespace, labels, owners, creation and deletion times, the
/// `Ready` condition): a cached pod costs a few hundred bytes however large its spec.
pub fn slim_pod(pod: &mut Pod) {
    let meta = &mut pod.metadata;
    meta.managed_fields = None;
    meta.annotations = None;
    meta.finalizers = None;
    meta.generate_name = None;
    pod.spec = None;
    let ready = pod.status.take().and_then(|status| status.conditions).and_then(|conditions| {
        conditions.into_iter().find(|c| c.type_ == "Ready").map(|c| PodCondition { message: None, reason: None, ..c })
    });
    pod.status = ready.map(|c| PodStatus { conditions: Some(vec![c]), ..PodStatus::default() });
}

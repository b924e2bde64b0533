//! Watch: wiring of the kube-runtime `Controller`. Rollouts are watched through `DeserializeGuard`, so a malformed
//! one reaches the reconciler as an error value instead of breaking the stream for every other Rollout.
//! ReplicaSets are watched once, by a reflector whose cache the observer reads and whose events trigger the
//! owning Rollout. Both streams drop `managedFields` before caching: they are never read and are a large share of
//! each object's memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};
use serin_api::labels::{CONTROLLER_INSTANCE_ID, POD_TEMPLATE_HASH};
use serin_api::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Rollout};
use tracing::{info, warn};

use crate::FIELD_MANAGER;
use crate::analysis::providers::Clients;
use crate::analysis::providers::http::HttpClients;
use crate::analysis::providers::job::RUN_UID_LABEL;
use crate::analysis::run::RunContext;
use crate::context::Context;
use crate::health::{self, Readiness};
use crate::reconcile::{error_policy, reconcile};

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Only this namespace (namespaced install), or all when `None`.
    pub namespace: Option<String>,
    /// Only Rollouts labelled `argo-rollouts.argoproj.io/controller-instance-id=<id>`; without an id, only Rollouts
    /// without that label (Argo's sharding rule).
    pub instance_id: Option<String>,
    /// Address of `/healthz` and `/readyz`, if served.
    pub health_addr: Option<SocketAddr>,
    /// Requeue interval when nothing is pending.
    pub resync: Duration,
    /// Rollouts reconciled at once (each Rollout is only ever reconciled by one worker at a time).
    pub concurrency: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self { namespace: None, instance_id: None, health_addr: None, resync: Duration::from_secs(15 * 60), concurrency: 16 }
    }
}

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HTTP clients of the metric providers could not be built.
    #[error("building HTTP clients: {0}")]
    Http(crate::analysis::providers::ProviderError),
    /// The health endpoint could not bind.
    #[error("binding the health endpoint on {addr}: {source}")]
    BindHealth {
        /// Requested address.
        addr: SocketAddr,
        /// I/O error.
        source: std::io::Error,
    },
}

/// The label selector implementing `--instance-id`.
pub fn instance_selector(instance_id: Option<&str>) -> String {
    match instance_id {
        Some(id) => format!("{CONTROLLER_INSTANCE_ID}={id}"),
        None => format!("!{CONTROLLER_INSTANCE_ID}"),
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A cache-only reflector (its events trigger nothing): the store, and the task driving its watch. Drops
/// `managedFields` before caching, like every stream here.
fn cache<K>(api: Api<K>, config: watcher::Config) -> (reflector::Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store::<K>();
    let stream = watcher(api, config.any_semantic())
        .default_backoff()
        .modify(|obj: &mut K| obj.meta_mut().managed_fields = None)
        .reflect(writer)
        .for_each(|_| futures::future::ready(()));
    (store, tokio::spawn(stream))
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

/// Completes when `shutdown` does if `store` has not seen its first full list by then, and never otherwise.
///
/// A kube-runtime controller holds its work until its store is ready, and a graceful shutdown waits for that work:
/// stopped before its first list completes (a SIGTERM during start-up, a lost lease while listing 10,000 Rollouts),
/// it would wait forever, since the watch feeding the store has stopped. Nothing can be in flight then, so the
/// controller's stream is cut at once instead.
async fn cut_if_never_ready<K>(shutdown: impl Future<Output = ()>, store: reflector::Store<K>)
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    shutdown.await;
    if store.wait_until_ready().now_or_never().is_some() {
        futures::future::pending::<()>().await;
    }
}

/// Waits until `store` has seen its first full list; false if its writer is gone.
///
/// `Store::wait_until_ready` keeps only the waker of the last task that polled it, so with several waiters (the
/// controller's applier, the readiness probe, the Service release loop) the others may never be woken. Polling it
/// again every 100 ms sidesteps that: once the store is ready, any poll sees it.
pub(crate) async fn until_ready<K>(store: &reflector::Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        if let Ok(result) = tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await {
            return result.is_ok();
        }
    }
}

/// Runs the controller until `shutdown` completes, then finishes in-flight reconciles and returns.
pub async fn run(client: Client, settings: Settings, shutdown: impl Future<Output = ()> + Send + Sync + 'static) -> Result<(), RunError> {
    let shutdown = shutdown.shared();
    let namespace = settings.namespace.as_deref();
    let rollouts: Api<DeserializeGuard<Rollout>> = api(&client, namespace);
    let replica_sets: Api<ReplicaSet> = api(&client, namespace);

    let (rs_store, rs_writer) = reflector::store::<ReplicaSet>();
    let rs_stream = watcher(replica_sets, watcher::Config::default().labels(POD_TEMPLATE_HASH).any_semantic())
        .default_backoff()
        .modify(|rs: &mut ReplicaSet| rs.metadata.managed_fields = None)
        .reflect(rs_writer)
        .touched_objects();

    // Pods are only needed for spec.restartAt: each is slimmed to its metadata and Ready condition before caching.
    let (pod_store, pod_writer) = reflector::store::<Pod>();
    let pod_stream = watcher(api::<Pod>(&client, namespace), watcher::Config::default().labels(POD_TEMPLATE_HASH).any_semantic())
        .default_backoff()
        .modify(slim_pod)
        .reflect(pod_writer)
        .for_each(|_| futures::future::ready(()));
    let pod_task = tokio::spawn(pod_stream);

    let instance = instance_selector(settings.instance_id.as_deref());
    // AnalysisRuns are watched once: the shared reflector feeds the AnalysisRun controller and triggers the owning
    // Rollout when a run changes phase.
    let runs: Api<AnalysisRun> = api(&client, namespace);
    let (run_store, run_writer) = reflector::store_shared::<AnalysisRun>(256);
    let run_subscriber = run_writer.subscribe().expect("a shared store hands out subscribers");
    let rollout_run_subscriber = run_writer.subscribe().expect("a shared store hands out subscribers");
    let run_stream = watcher(runs, watcher::Config::default().labels(&instance).any_semantic())
        .default_backoff()
        .modify(|run: &mut AnalysisRun| run.metadata.managed_fields = None)
        .reflect_shared(run_writer)
        .for_each(|_| futures::future::ready(()));
    let run_task = tokio::spawn(run_stream);

    // Templates are read when a run is created; their changes trigger nothing.
    let (template_store, template_task) = cache(api::<AnalysisTemplate>(&client, namespace), watcher::Config::default());
    let (cluster_template_store, cluster_template_task) =
        cache(Api::<ClusterAnalysisTemplate>::all(client.clone()), watcher::Config::default());

    let rollout_config = watcher::Config::default().labels(&instance).any_semantic();
    let controller = Controller::new(rollouts, rollout_config).owns_stream(rs_stream).owns_shared_stream(rollout_run_subscriber);
    let rollout_store = controller.store();
    let rollout_cut = cut_if_never_ready(shutdown.clone(), rollout_store.clone());
    // Services and router objects: their changes trigger the Rollouts that reference them.
    let (router_caches, mut router_triggers, router_tasks) = crate::routers::start(&client, namespace, rollout_store.clone());
    let controller = controller.reconcile_on(futures::stream::poll_fn(move |cx| router_triggers.poll_recv(cx)));
    let release_task =
        tokio::spawn(crate::routers::release_orphaned_services(client.clone(), router_caches.services.clone(), rollout_store.clone()));

    let readiness = Readiness::default();
    if let Some(addr) = settings.health_addr {
        let (bound, server) = health::serve(addr, readiness.clone()).await.map_err(|source| RunError::BindHealth { addr, source })?;
        info!(%bound, "serving /healthz and /readyz");
        tokio::spawn(server);
    }
    {
        let (rs_store, pod_store, readiness) = (rs_store.clone(), pod_store.clone(), readiness.clone());
        let (run_store, template_store, cluster_template_store) =
            (run_store.clone(), template_store.clone(), cluster_template_store.clone());
        let (service_store, ingress_store) = (router_caches.services.clone(), router_caches.ingresses.clone());
        tokio::spawn(async move {
            if until_ready(&rollout_store).await
                && until_ready(&rs_store).await
                && until_ready(&pod_store).await
                && until_ready(&run_store).await
                && until_ready(&template_store).await
                && until_ready(&cluster_template_store).await
                && until_ready(&service_store).await
                && until_ready(&ingress_store).await
            {
                info!("caches synced");
                readiness.set_ready();
            }
        });
    }

    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        client: client.clone(),
        replica_sets: rs_store,
        pods: pod_store,
        analysis_runs: run_store.clone(),
        analysis_templates: template_store,
        cluster_analysis_templates: cluster_template_store,
        routers: router_caches,
        recorder: Recorder::new(client.clone(), reporter.clone()),
        freshness: crate::freshness::Freshness::default(),
        failures: crate::context::Failures::default(),
        malformed_reported: parking_lot::Mutex::default(),
        resync: settings.resync,
    });
    info!(namespace = namespace.unwrap_or("<all>"), instance_id = settings.instance_id.as_deref().unwrap_or("<none>"), "starting");

    let run_ctx = Arc::new(RunContext {
        clients: Clients { http: HttpClients::new().map_err(RunError::Http)?, kube: client.clone() },
        recorder: Recorder::new(client.clone(), reporter),
        written: parking_lot::Mutex::default(),
        failures: crate::context::Failures::default(),
        resync: settings.resync,
    });
    let jobs: Api<Job> = api(&client, namespace);
    let run_cut = cut_if_never_ready(shutdown.clone(), run_store.clone());
    let run_controller = Controller::for_shared_stream(run_subscriber, run_store)
        .owns(jobs, watcher::Config::default().labels(RUN_UID_LABEL).any_semantic())
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(crate::analysis::run::reconcile, crate::analysis::run::error_policy, run_ctx)
        .take_until(run_cut)
        .for_each(|result| async move {
            if let Err(err) = result {
                match err {
                    kube::runtime::controller::Error::ReconcilerFailed(..) => {}
                    other => warn!(error = %other, "analysis run controller"),
                }
            }
        });
    let run_controller = tokio::spawn(run_controller);

    Controller::with_config(controller, kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .take_until(rollout_cut)
        .for_each(|result| async move {
            if let Err(err) = result {
                match err {
                    kube::runtime::controller::Error::ReconcilerFailed(..) => {}
                    other => warn!(error = %other, "controller"),
                }
            }
        })
        .await;
    let _ = run_controller.await;
    pod_task.abort();
    run_task.abort();
    template_task.abort();
    cluster_template_task.abort();
    release_task.abort();
    for task in router_tasks {
        task.abort();
    }
    info!("stopped");
    Ok(())
}

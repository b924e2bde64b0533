//! Watch: the controller's lifecycle. Start the caches ([`crate::caches`]), serve `/healthz`, `/readyz` and
//! `/metrics`, wait for leadership ([`crate::leader`]) when leader election is on, then run the two kube-runtime
//! controllers (Rollouts and AnalysisRuns) until shutdown or until leadership is lost.
//!
//! - Rollouts are cached through `DeserializeGuard`, so a malformed one reaches the reconciler as an error value
//!   instead of breaking the stream for every other Rollout.
//! - Every write goes through the fenced client ([`crate::client`]): a standby, or a leader whose lease lapsed,
//!   sends nothing.
//! - Losing leadership stops the controllers and returns [`RunError::LostLeadership`]: the process exits and comes
//!   back as a candidate with fresh state, as client-go controllers do. A graceful shutdown releases the Lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, reflector};
use kube::{Client, Resource, ResourceExt};
use serin_api::labels::CONTROLLER_INSTANCE_ID;
use serin_api::{AnalysisRun, Rollout};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{info, warn};

use crate::FIELD_MANAGER;
use crate::analysis::providers::Clients;
use crate::analysis::providers::http::HttpClients;
use crate::analysis::run::RunContext;
use crate::caches::{Caches, TriggerStreams};
use crate::context::Context;
use crate::health::{self, Readiness};
use crate::leader::{Elector, Fence, LeaderElection, LostLease};
use crate::metrics::Metrics;
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
    /// Address of `/metrics`, if served.
    pub metrics_addr: Option<SocketAddr>,
    /// Requeue interval when nothing is pending.
    pub resync: Duration,
    /// Rollouts reconciled at once (each Rollout is only ever reconciled by one worker at a time).
    pub concurrency: u16,
    /// Leader election; `None` runs as the only writer.
    pub leader_election: Option<LeaderElection>,
    /// Reporting instance of Events (`reportingInstance`), usually the pod name.
    pub reporting_instance: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: None,
            instance_id: None,
            health_addr: None,
            metrics_addr: None,
            resync: Duration::from_secs(15 * 60),
            concurrency: 16,
            leader_election: None,
            reporting_instance: None,
        }
    }
}

/// Why the controller stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HTTP clients of the metric providers could not be built.
    #[error("building HTTP clients: {0}")]
    Http(crate::analysis::providers::ProviderError),
    /// An endpoint could not bind.
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        /// Which endpoint.
        what: &'static str,
        /// Requested address.
        addr: SocketAddr,
        /// I/O error.
        source: std::io::Error,
    },
    /// The leader election settings are inconsistent.
    #[error("leader election: {0}")]
    LeaderElection(String),
    /// This replica led and lost the Lease: it stopped writing and must restart as a candidate.
    #[error("lost leadership: {0}")]
    LostLeadership(#[source] LostLease),
}

/// The label selector implementing `--instance-id`.
pub fn instance_selector(instance_id: Option<&str>) -> String {
    match instance_id {
        Some(id) => format!("{CONTROLLER_INSTANCE_ID}={id}"),
        None => format!("!{CONTROLLER_INSTANCE_ID}"),
    }
}

/// An `Api` over `namespace`, or over all namespaces.
pub(crate) fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Completes when `shutdown` does if `store` has not seen its first full list by then, and never otherwise.
///
/// A kube-runtime controller holds its work until its store is ready, and a graceful shutdown waits for that work:
/// stopped before its first list completes (a SIGTERM during start-up, a lost lease while listing 10,000 Rollouts),
/// it would wait forever. Nothing can be in flight then, so the controller's stream is cut at once instead.
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

type Stop = Shared<BoxFuture<'static, ()>>;

/// Runs the controller until `shutdown` completes (then finishes in-flight reconciles and returns `Ok`), or until it
/// loses leadership (`Err(LostLeadership)`).
pub async fn run(client: Client, settings: Settings, shutdown: impl Future<Output = ()> + Send + Sync + 'static) -> Result<(), RunError> {
    run_with_metrics(client, settings, Arc::new(Metrics::new()), shutdown).await
}

/// As [`run`], recording into `metrics` (tests read them).
pub async fn run_with_metrics(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), RunError> {
    let shutdown: Stop = shutdown.boxed().shared();
    if let Some(election) = &settings.leader_election {
        election.validate().map_err(RunError::LeaderElection)?;
    }
    let fence = if settings.leader_election.is_some() { Fence::closed() } else { Fence::open() };
    let writer = crate::client::instrumented(client.clone(), metrics.clone(), Some(fence.clone()));
    let lease_client = crate::client::instrumented(client, metrics.clone(), None);

    let leading = Arc::new(AtomicBool::new(false));
    let namespace = settings.namespace.as_deref();
    let (caches, triggers, cache_tasks) = Caches::start(&writer, namespace, settings.instance_id.as_deref(), &metrics, leading.clone());
    metrics.set_state_source(caches.state_source());

    let readiness = Readiness::default();
    // Stopped with the controller, so the ports are free again for the next one in this process.
    let mut servers = Vec::new();
    if let Some(addr) = settings.health_addr {
        let (bound, server) =
            health::serve(addr, readiness.clone()).await.map_err(|source| RunError::Bind { what: "the health endpoint", addr, source })?;
        info!(%bound, "serving /healthz and /readyz");
        servers.push(tokio::spawn(server));
    }
    if let Some(addr) = settings.metrics_addr {
        let (bound, server) = crate::metrics::serve(addr, metrics.clone()).await.map_err(|source| RunError::Bind {
            what: "the metrics endpoint",
            addr,
            source,
        })?;
        info!(%bound, "serving /metrics");
        servers.push(tokio::spawn(server));
    }
    {
        let (caches, readiness) = (caches.clone(), readiness.clone());
        tokio::spawn(async move {
            if caches.synced().await {
                info!("caches synced");
                readiness.set_ready();
            }
        });
    }
    info!(namespace = namespace.unwrap_or("<all>"), instance_id = settings.instance_id.as_deref().unwrap_or("<none>"), "starting");

    let result = match settings.leader_election.clone() {
        None => {
            lead(&leading, &metrics);
            run_controllers(&writer, &settings, &metrics, caches, triggers, shutdown).await
        }
        Some(election) => {
            let mut elector = Elector::new(lease_client, election, fence);
            let acquired = tokio::select! {
                () = elector.acquire() => true,
                () = shutdown.clone() => false,
            };
            if acquired {
                lead(&leading, &metrics);
                let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
                let stop: Stop = futures::future::select(shutdown.clone(), lost_rx).map(|_| ()).boxed().shared();
                let controllers = run_controllers(&writer, &settings, &metrics, caches, triggers, stop);
                tokio::pin!(controllers);
                tokio::select! {
                    result = &mut controllers => {
                        elector.release().await;
                        result
                    }
                    lost = elector.keep() => {
                        warn!(error = %lost, "lost leadership; stopping (writes are already refused)");
                        leading.store(false, Ordering::Release);
                        metrics.set_leading(false);
                        let _ = lost_tx.send(());
                        let _ = tokio::time::timeout(Duration::from_secs(10), controllers).await;
                        Err(RunError::LostLeadership(lost))
                    }
                }
            } else {
                // Stopped while acquiring: a Lease won by a request already sent is given back too.
                elector.release().await;
                Ok(())
            }
        }
    };
    // Aborted tasks are awaited, so their sockets and watches are closed once `run` returns: a controller started
    // again in the same process (or anything else) can bind the same ports at once.
    for task in cache_tasks {
        task.abort();
        let _ = task.await;
    }
    for server in servers {
        server.abort();
        let _ = server.await;
    }
    info!("stopped");
    result
}

fn lead(leading: &AtomicBool, metrics: &Metrics) {
    leading.store(true, Ordering::Release);
    metrics.set_leading(true);
}

/// The Rollout and AnalysisRun controllers and the Service release loop, until `stop`.
async fn run_controllers(
    client: &Client,
    settings: &Settings,
    metrics: &Arc<Metrics>,
    caches: Caches,
    triggers: TriggerStreams,
    stop: Stop,
) -> Result<(), RunError> {
    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: settings.reporting_instance.clone() };
    let ctx = Arc::new(Context {
        client: client.clone(),
        replica_sets: caches.replica_sets.clone(),
        pods: caches.pods.clone(),
        analysis_runs: caches.analysis_runs.clone(),
        analysis_templates: caches.analysis_templates.clone(),
        cluster_analysis_templates: caches.cluster_analysis_templates.clone(),
        routers: caches.routers.clone(),
        recorder: Recorder::new(client.clone(), reporter.clone()),
        freshness: crate::freshness::Freshness::default(),
        failures: crate::context::Failures::default(),
        malformed_reported: parking_lot::Mutex::default(),
        resync: settings.resync,
        metrics: metrics.clone(),
    });
    let run_ctx = Arc::new(RunContext {
        clients: Clients { http: HttpClients::new().map_err(RunError::Http)?, kube: client.clone() },
        recorder: Recorder::new(client.clone(), reporter),
        written: parking_lot::Mutex::default(),
        failures: crate::context::Failures::default(),
        resync: settings.resync,
        metrics: metrics.clone(),
    });
    let release_task =
        tokio::spawn(crate::routers::release_orphaned_services(client.clone(), caches.routers.services.clone(), caches.rollouts.clone()));
    let config = kube::runtime::controller::Config::default().concurrency(settings.concurrency);

    // Every object once when this replica starts leading (triggers were not sent before), then on each change.
    let all_once = |ready: futures::future::BoxFuture<'static, bool>| futures::stream::once(ready.map(|_| ()));

    let run_store = caches.analysis_runs.clone();
    let run_controller =
        Controller::for_stream(futures::stream::pending::<Result<AnalysisRun, kube::runtime::watcher::Error>>(), run_store.clone())
            .with_config(config.clone())
            .reconcile_on(UnboundedReceiverStream::new(triggers.analysis_runs))
            .reconcile_all_on(all_once({
                let store = run_store.clone();
                async move { until_ready(&store).await }.boxed()
            }))
            .graceful_shutdown_on(stop.clone())
            .run(
                |run: Arc<AnalysisRun>, ctx: Arc<RunContext>| async move {
                    let started = Instant::now();
                    let (namespace, name) = (run.namespace().unwrap_or_default(), run.name_any());
                    let result = crate::analysis::run::reconcile(run, ctx.clone()).await;
                    ctx.metrics.analysis_run_reconciled(&namespace, &name, started.elapsed().as_secs_f64(), result.is_err());
                    result
                },
                crate::analysis::run::error_policy,
                run_ctx,
            )
            .take_until(cut_if_never_ready(stop.clone(), run_store))
            .for_each(|result| async move {
                if let Err(err) = result {
                    match err {
                        kube::runtime::controller::Error::ReconcilerFailed(..) | kube::runtime::controller::Error::ObjectNotFound(_) => {}
                        other => warn!(error = %other, "analysis run controller"),
                    }
                }
            });
    let run_controller = tokio::spawn(run_controller);

    let rollout_store = caches.rollouts.clone();
    Controller::for_stream(
        futures::stream::pending::<Result<DeserializeGuard<Rollout>, kube::runtime::watcher::Error>>(),
        rollout_store.clone(),
    )
    .with_config(config)
    .reconcile_on(UnboundedReceiverStream::new(triggers.rollouts))
    .reconcile_all_on(all_once({
        let store = rollout_store.clone();
        async move { until_ready(&store).await }.boxed()
    }))
    .graceful_shutdown_on(stop.clone())
    .run(
        |obj: Arc<DeserializeGuard<Rollout>>, ctx: Arc<Context>| async move {
            let started = Instant::now();
            let (namespace, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
            let result = reconcile(obj, ctx.clone()).await;
            ctx.metrics.rollout_reconciled(&namespace, &name, started.elapsed().as_secs_f64(), result.is_err());
            result
        },
        error_policy,
        ctx,
    )
    .take_until(cut_if_never_ready(stop, rollout_store))
    .for_each(|result| async move {
        if let Err(err) = result {
            match err {
                kube::runtime::controller::Error::ReconcilerFailed(..) | kube::runtime::controller::Error::ObjectNotFound(_) => {}
                other => warn!(error = %other, "controller"),
            }
        }
    })
    .await;
    let _ = run_controller.await;
    release_task.abort();
    Ok(())
}

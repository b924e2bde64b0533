//! Caches of the objects traffic routing reads: Services, Ingresses, and the router CRDs (Gateway API HTTPRoute,
//! Istio VirtualService and DestinationRule, Traefik TraefikService).
//!
//! - Each kind is watched once by a reflector; its changes trigger every Rollout that references the object
//!   (through [`serin_planner::traffic::references`]), so a weight edited by hand is rendered back at once.
//! - A router CRD may not be installed. Its API is looked up in discovery at start and every
//!   [`DISCOVERY_INTERVAL`] after that until it is served; meanwhile the kind is reported as unserved, and a
//!   Rollout that uses it gets `InvalidSpec` saying so instead of a watch failing in a loop.
//! - Services marked `managed-by-rollouts` whose Rollout no longer exists, or no longer names them, get their full
//!   selector back (the hash and the mark removed), checked every [`RELEASE_INTERVAL`]. (A Rollout that still uses
//!   Services or a router releases the ones it dropped in its own reconcile; this covers one that uses neither any
//!   more, whose reconciles do not read Services at all.)

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use parking_lot::RwLock;
use serde_json::json;
use serin_api::Rollout;
use serin_api::labels::{MANAGED_BY_ROLLOUTS, POD_TEMPLATE_HASH};
use serin_planner::traffic::{DestinationRule, HttpRoute, RouterKind, RouterObjects, TraefikService, VirtualService, references};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::caches::Triggers;

/// How often an unserved router API is looked up again.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(30);
/// How often Services of deleted Rollouts are looked for.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// The router caches.
#[derive(Clone)]
pub struct RouterCaches {
    /// Services.
    pub services: Store<Service>,
    /// Ingresses.
    pub ingresses: Store<Ingress>,
    /// Gateway API HTTPRoutes.
    pub http_routes: Store<HttpRoute>,
    /// Istio VirtualServices.
    pub virtual_services: Store<VirtualService>,
    /// Istio DestinationRules.
    pub destination_rules: Store<DestinationRule>,
    /// Traefik TraefikServices.
    pub traefik_services: Store<TraefikService>,
    /// Router kinds whose API is not served (yet).
    pub unserved: Arc<RwLock<Vec<RouterKind>>>,
}

/// One namespace's router objects, owned, for [`RouterObjects`].
#[derive(Default)]
pub struct Snapshot {
    services: Vec<Arc<Service>>,
    ingresses: Vec<Arc<Ingress>>,
    http_routes: Vec<Arc<HttpRoute>>,
    virtual_services: Vec<Arc<VirtualService>>,
    destination_rules: Vec<Arc<DestinationRule>>,
    traefik_services: Vec<Arc<TraefikService>>,
    unserved: Vec<RouterKind>,
    /// The kinds read for this Rollout.
    loaded: Vec<RouterKind>,
}

impl Snapshot {
    /// The cached `resourceVersion` of a Service (`service/<name>`) or router object (`router/<Kind>/<name>`)
    /// for the stale-cache guard. An object that is not cached, or of a kind this snapshot did not load, answers
    /// `Some("")`, which the guard never counts as stale: it may have been deleted since we wrote it, and waiting for
    /// it would freeze the Rollout. (The one object we create, the NGINX canary Ingress, is then planned again and
    /// its create answers 409, retried until the cache has it.)
    pub fn resource_version(&self, key: &str) -> Option<&str> {
        fn rv<'s, K: Resource>(objects: &'s [Arc<K>], name: &str) -> Option<&'s str> {
            objects.iter().find(|o| o.meta().name.as_deref() == Some(name)).and_then(|o| o.meta().resource_version.as_deref())
        }
        let (kind, name) = if let Some(name) = key.strip_prefix("service/") {
            (RouterKind::Service, name)
        } else {
            let (kind, name) = key.strip_prefix("router/")?.split_once('/')?;
            let all = [
                RouterKind::Ingress,
                RouterKind::HttpRoute,
                RouterKind::VirtualService,
                RouterKind::DestinationRule,
                RouterKind::TraefikService,
            ];
            (all.into_iter().find(|k| k.kind() == kind)?, name)
        };
        if !self.loaded.contains(&kind) {
            return Some("");
        }
        let cached = match kind {
            RouterKind::Service => rv(&self.services, name),
            RouterKind::Ingress => rv(&self.ingresses, name),
            RouterKind::HttpRoute => rv(&self.http_routes, name),
            RouterKind::VirtualService => rv(&self.virtual_services, name),
            RouterKind::DestinationRule => rv(&self.destination_rules, name),
            RouterKind::TraefikService => rv(&self.traefik_services, name),
        };
        cached.or(Some(""))
    }

    /// The planner's view.
    pub fn objects(&self) -> RouterObjects<'_> {
        RouterObjects {
            services: &self.services,
            ingresses: &self.ingresses,
            http_routes: &self.http_routes,
            virtual_services: &self.virtual_services,
            destination_rules: &self.destination_rules,
            traefik_services: &self.traefik_services,
            unserved: &self.unserved,
        }
    }
}

fn in_namespace<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>, namespace: Option<&str>) -> Vec<Arc<K>> {
    store.state().into_iter().filter(|o| o.meta().namespace.as_deref() == namespace).collect()
}

impl RouterCaches {
    /// The objects of the kinds `rollout` uses, in its namespace.
    pub fn snapshot(&self, rollout: &Rollout) -> Snapshot {
        let kinds = serin_planner::traffic::kinds_used(rollout);
        let mut snapshot = Snapshot { unserved: self.unserved.read().clone(), ..Snapshot::default() };
        if kinds.is_empty() {
            return snapshot;
        }
        let ns = rollout.metadata.namespace.as_deref();
        snapshot.loaded.clone_from(&kinds);
        for kind in kinds {
            match kind {
                RouterKind::Service => snapshot.services = in_namespace(&self.services, ns),
                RouterKind::Ingress => snapshot.ingresses = in_namespace(&self.ingresses, ns),
                RouterKind::HttpRoute => snapshot.http_routes = in_namespace(&self.http_routes, ns),
                RouterKind::VirtualService => snapshot.virtual_services = in_namespace(&self.virtual_services, ns),
                RouterKind::DestinationRule => snapshot.destination_rules = in_namespace(&self.destination_rules, ns),
                RouterKind::TraefikService => snapshot.traefik_services = in_namespace(&self.traefik_services, ns),
            }
        }
        snapshot
    }
}

/// Starts the router watches. Changes are mapped to the Rollouts (from `rollouts`) that reference the object and
/// sent on the returned channel, for `Controller::reconcile_on`. Returns the caches, the receiver, and the tasks.
pub fn start(
    client: &Client,
    namespace: Option<&str>,
    rollouts: Store<DeserializeGuard<Rollout>>,
    triggers: Triggers,
) -> (RouterCaches, Vec<JoinHandle<()>>) {
    let unserved = Arc::new(RwLock::new(RouterKind::CUSTOM.to_vec()));
    let mut tasks = Vec::new();
    let ctx = WatchCtx { client: client.clone(), namespace: namespace.map(str::to_owned), rollouts, triggers, unserved: unserved.clone() };
    let services = ctx.watch::<Service>(RouterKind::Service, false, &mut tasks);
    let ingresses = ctx.watch::<Ingress>(RouterKind::Ingress, false, &mut tasks);
    let http_routes = ctx.watch::<HttpRoute>(RouterKind::HttpRoute, true, &mut tasks);
    let virtual_services = ctx.watch::<VirtualService>(RouterKind::VirtualService, true, &mut tasks);
    let destination_rules = ctx.watch::<DestinationRule>(RouterKind::DestinationRule, true, &mut tasks);
    let traefik_services = ctx.watch::<TraefikService>(RouterKind::TraefikService, true, &mut tasks);
    let caches = RouterCaches { services, ingresses, http_routes, virtual_services, destination_rules, traefik_services, unserved };
    (caches, tasks)
}

#[derive(Clone)]
struct WatchCtx {
    client: Client,
    namespace: Option<String>,
    rollouts: Store<DeserializeGuard<Rollout>>,
    triggers: Triggers,
    unserved: Arc<RwLock<Vec<RouterKind>>>,
}

impl WatchCtx {
    /// A reflector for `kind`; for a custom kind, started once discovery shows its API served.
    fn watch<K>(&self, kind: RouterKind, custom: bool, tasks: &mut Vec<JoinHandle<()>>) -> Store<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store::<K>();
        let ctx = self.clone();
        tasks.push(tokio::spawn(async move {
            if custom {
                ctx.wait_until_served(kind).await;
            }
            let api: Api<K> = match &ctx.namespace {
                Some(ns) => Api::namespaced(ctx.client.clone(), ns),
                None => Api::all(ctx.client.clone()),
            };
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .modify(|o: &mut K| o.meta_mut().managed_fields = None)
                .reflect(writer)
                .touched_objects();
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let Ok(object) = event else { continue };
                ctx.trigger(kind, &object);
            }
        }));
        store
    }

    async fn wait_until_served(&self, kind: RouterKind) {
        let mut logged = false;
        loop {
            match self.client.list_api_group_resources(&kind.api_version()).await {
                Ok(list) if list.resources.iter().any(|r| r.name == kind.plural()) => {
                    self.unserved.write().retain(|k| *k != kind);
                    info!(kind = kind.kind(), api = %kind.api_version(), "router API served; watching it");
                    return;
                }
                Ok(_) | Err(kube::Error::Api(_)) => {
                    if !logged {
                        info!(kind = kind.kind(), api = %kind.api_version(), "router API not served; Rollouts using it are reported invalid until it is");
                        logged = true;
                    }
                }
                Err(err) => warn!(kind = kind.kind(), error = %err, "router API discovery failed"),
            }
            tokio::time::sleep(DISCOVERY_INTERVAL).await;
        }
    }

    /// Sends every Rollout in the object's namespace that references it (or owns it) to the controller.
    fn trigger<K: Resource>(&self, kind: RouterKind, object: &K) {
        if !self.triggers.leading() {
            return;
        }
        let meta = object.meta();
        let name = meta.name.as_deref().unwrap_or_default();
        let namespace = meta.namespace.as_deref();
        let owners: Vec<&str> = meta.owner_references.iter().flatten().filter(|o| o.kind == "Rollout").map(|o| o.uid.as_str()).collect();
        let managed_by = meta.annotations.as_ref().and_then(|a| a.get(MANAGED_BY_ROLLOUTS));
        for guarded in self.rollouts.state() {
            let Ok(rollout) = &guarded.0 else { continue };
            if rollout.metadata.namespace.as_deref() != namespace {
                continue;
            }
            let owned = rollout.metadata.uid.as_deref().is_some_and(|uid| owners.contains(&uid));
            let marked = managed_by.is_some_and(|m| Some(m.as_str()) == rollout.metadata.name.as_deref());
            if owned || marked || references(rollout, kind, name) {
                self.triggers.rollout(namespace, &guarded.name_any());
            }
        }
    }
}

/// Gives Services marked by a Rollout that no longer exists, or by a canary Rollout of this controller that no
/// longer names them, their full selector back, every [`RELEASE_INTERVAL`], once the Rollout cache is ready.
/// A Service marked by a Rollout this controller does not handle (another `--instance-id`, another strategy) is
/// left alone unless that Rollout is gone.
pub async fn release_orphaned_services(client: Client, services: Store<Service>, rollouts: Store<DeserializeGuard<Rollout>>) {
    if !crate::watch::until_ready(&rollouts).await || !crate::watch::until_ready(&services).await {
        return;
    }
    loop {
        for service in services.state() {
            let Some(owner) = service.metadata.annotations.as_ref().and_then(|a| a.get(MANAGED_BY_ROLLOUTS)) else { continue };
            let namespace = service.namespace().unwrap_or_default();
            let name = service.name_any();
            let ours = rollouts.state().into_iter().find(|r| match &r.0 {
                Ok(ro) => {
                    ro.metadata.namespace.as_deref() == Some(namespace.as_str()) && ro.metadata.name.as_deref() == Some(owner.as_str())
                }
                Err(invalid) => {
                    invalid.metadata.namespace.as_deref() == Some(namespace.as_str())
                        && invalid.metadata.name.as_deref() == Some(owner.as_str())
                }
            });
            let release = match ours.as_deref().map(|r| &r.0) {
                // A canary Rollout of this controller that no longer names it.
                Some(Ok(ro)) => {
                    ro.spec.strategy.as_ref().is_some_and(|s| s.canary.is_some()) && !references(ro, RouterKind::Service, &name)
                }
                // Malformed: what it references cannot be known; keep.
                Some(Err(_)) => false,
                // Not in this controller's cache: it may belong to another instance (or to Argo, e.g. a blue-green
                // active Service). Release only when the Rollout does not exist at all.
                None => {
                    let api: Api<Rollout> = Api::namespaced(client.clone(), &namespace);
                    matches!(api.get_metadata_opt(owner).await, Ok(None))
                }
            };
            if !release {
                continue;
            }
            let api: Api<Service> = Api::namespaced(client.clone(), &namespace);
            let patch = json!({
                "metadata": {"resourceVersion": service.metadata.resource_version, "annotations": {MANAGED_BY_ROLLOUTS: null}},
                "spec": {"selector": {POD_TEMPLATE_HASH: null}},
            });
            match api.patch(&name, &crate::execute::patch_params(), &Patch::Merge(&patch)).await {
                Ok(_) => info!(service = %name, namespace = %namespace, rollout = %owner, "released Service its Rollout no longer uses"),
                Err(err) => warn!(service = %name, error = %err, "releasing Service its Rollout no longer uses"),
            }
        }
        tokio::time::sleep(RELEASE_INTERVAL).await;
    }
}

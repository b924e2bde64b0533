//! Traffic routing: what the routers of a Rollout must say after this reconcile, and the writes that make them
//! say it.
//!
//! Contract: pure. [`Desired`] is the traffic state the canary logic decided (canary weight, header and mirror
//! routes, the two pod-template hashes). Each router module (`gateway`, `istio`, `nginx`, `traefik`) has pure
//! `render_*` functions that take the router object as observed and return the object as it must be, touching only
//! what the Rollout manages (weights of the routes it was pointed at, rules or routes named after its
//! `managedRoutes`); every other field, known to our types or not, is carried through unchanged. A router's `plan`
//! turns the difference into a [`RouterWrite`]: an RFC 6902 JSON patch of exactly the changed paths, pinned to the
//! observed `resourceVersion` (the API server answers 409 if the object changed since, and the next reconcile
//! renders again from the fresh object). Equal objects give no write, so an idle Rollout writes nothing, and an
//! object changed by someone else is rendered back once, not fought over.
//!
//! Guarantees every router gives, tested in its module:
//! - idempotent: rendering a rendered object returns it unchanged;
//! - weights are `weight` for the canary and `max_weight - weight` for the stable, in every route the Rollout
//!   manages, and nothing else's weight changes;
//! - header and mirror routes exist exactly for the entries of [`Desired::header_routes`] and
//!   [`Desired::mirror_routes`], in `managedRoutes` order, and are removed when they leave it;
//! - a reference the router cannot resolve (an object, route or backend that does not exist) is a [`RouteError`]
//!   with the Rollout field path that names it, reported as `InvalidSpec`; nothing is written then.

pub mod gateway;
pub mod istio;
pub mod nginx;
pub mod object;
pub mod services;
pub mod traefik;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde::Serialize;
use serde_json::{Value, json};
use serin_api::rollout::steps::{HeaderRoutingMatch, RouteMatch};

pub use object::{DestinationRule, HttpRoute, TraefikService, VirtualService};

/// The router objects of the Rollout's namespace, from the controller's caches. Only the kinds the Rollout's
/// routers use need to be filled in; a kind whose API the cluster does not serve is listed in `unserved`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouterObjects<'a> {
    /// Services (for `stableService` / `canaryService`).
    pub services: &'a [Arc<Service>],
    /// Ingresses (NGINX: the stable Ingresses and the canary Ingresses the controller created).
    pub ingresses: &'a [Arc<Ingress>],
    /// Gateway API HTTPRoutes.
    pub http_routes: &'a [Arc<HttpRoute>],
    /// Istio VirtualServices.
    pub virtual_services: &'a [Arc<VirtualService>],
    /// Istio DestinationRules.
    pub destination_rules: &'a [Arc<DestinationRule>],
    /// Traefik TraefikServices.
    pub traefik_services: &'a [Arc<TraefikService>],
    /// Router kinds whose API the cluster does not serve (their CRD is not installed).
    pub unserved: &'a [RouterKind],
}

/// A router object kind the controller reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouterKind {
    /// `v1` Service.
    Service,
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    HttpRoute,
    /// `networking.istio.io/v1` VirtualService.
    VirtualService,
    /// `networking.istio.io/v1` DestinationRule.
    DestinationRule,
    /// `traefik.io/v1alpha1` TraefikService.
    TraefikService,
}

impl RouterKind {
    /// The custom (CRD-defined) kinds, whose API may not be served.
    pub const CUSTOM: [Self; 4] = [Self::HttpRoute, Self::VirtualService, Self::DestinationRule, Self::TraefikService];

    /// API group (`""` for the core group).
    pub const fn group(self) -> &'static str {
        match self {
            Self::Service => "",
            Self::Ingress => "networking.k8s.io",
            Self::HttpRoute => "gateway.networking.k8s.io",
            Self::VirtualService | Self::DestinationRule => "networking.istio.io",
            Self::TraefikService => "traefik.io",
        }
    }

    /// API version.
    pub const fn version(self) -> &'static str {
        match self {
            Self::Service | Self::Ingress | Self::HttpRoute | Self::VirtualService | Self::DestinationRule => "v1",
            Self::TraefikService => "v1alpha1",
        }
    }

    /// Kind.
    pub const fn kind(self) -> &'static str {
        match self {
            Self::Service => "Service",
            Self::Ingress => "Ingress",
            Self::HttpRoute => "HTTPRoute",
            Self::VirtualService => "VirtualService",
            Self::DestinationRule => "DestinationRule",
            Self::TraefikService => "TraefikService",
        }
    }

    /// Resource (plural) name.
    pub const fn plural(self) -> &'static str {
        match self {
            Self::Service => "services",
            Self::Ingress => "ingresses",
            Self::HttpRoute => "httproutes",
            Self::VirtualService => "virtualservices",
            Self::DestinationRule => "destinationrules",
            Self::TraefikService => "traefikservices",
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(self) -> String {
        if self.group().is_empty() { self.version().to_owned() } else { format!("{}/{}", self.group(), self.version()) }
    }
}

/// The traffic state every router of the Rollout must express after this reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired<'a> {
    /// The Rollout's name (owner of created objects, prefix of the NGINX canary Ingress).
    pub rollout: &'a str,
    /// `canary.canaryService`.
    pub canary_service: &'a str,
    /// `canary.stableService`.
    pub stable_service: &'a str,
    /// Pod-template hash of the canary ReplicaSet (`""` before it exists); Istio subsets select it.
    pub canary_hash: &'a str,
    /// Pod-template hash of the stable ReplicaSet (`""` before there is one).
    pub stable_hash: &'a str,
    /// Canary weight, `0..=max_weight`; the stable gets `max_weight - weight`.
    pub weight: i32,
    /// `trafficRouting.maxTrafficWeight` (default 100).
    pub max_weight: i32,
    /// Every name in `trafficRouting.managedRoutes`, in order: routes with these names that are not in force are
    /// removed.
    pub managed_routes: Vec<&'a str>,
    /// Header routes in force, in `managedRoutes` order.
    pub header_routes: Vec<HeaderRoute<'a>>,
    /// Mirror routes in force, in `managedRoutes` order.
    pub mirror_routes: Vec<MirrorRoute<'a>>,
    /// Controller owner reference to the Rollout, for objects the router creates.
    pub owner: OwnerReference,
}

/// A `setHeaderRoute` in force: requests whose headers all match go to the canary.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderRoute<'a> {
    /// The managed route's name.
    pub name: &'a str,
    /// Header conditions, all of which must hold (never empty: an empty match removes the route).
    pub matches: &'a [HeaderRoutingMatch],
    /// Field path of the step that set it (`spec.strategy.canary.steps[2].setHeaderRoute`), for errors.
    pub path: String,
}

/// A `setMirrorRoute` in force: matching requests are copied to the canary.
#[derive(Clone, Debug, PartialEq)]
pub struct MirrorRoute<'a> {
    /// The managed route's name.
    pub name: &'a str,
    /// Request conditions; a request matching any entry is mirrored (never empty).
    pub matches: &'a [RouteMatch],
    /// Share of matching requests to mirror, 0-100 (`None`: all).
    pub percentage: Option<i32>,
    /// Field path of the step that set it (`spec.strategy.canary.steps[2].setMirrorRoute`), for errors.
    pub path: String,
}

impl Desired<'_> {
    /// The stable's weight.
    pub fn stable_weight(&self) -> i32 {
        self.max_weight - self.weight
    }
}

/// A write to a router object.
#[derive(Clone, Debug, PartialEq)]
pub enum RouterWrite {
    /// An RFC 6902 JSON patch whose first operation pins `metadata.resourceVersion` to the observed one.
    Patch {
        /// Kind of the object.
        kind: RouterKind,
        /// Its name (in the Rollout's namespace).
        name: String,
        /// The JSON patch document (an array of operations).
        patch: Value,
    },
    /// Create an object the Rollout owns (the NGINX canary Ingress).
    Create {
        /// Kind of the object.
        kind: RouterKind,
        /// The whole object, with an owner reference to the Rollout.
        object: Value,
    },
}

impl RouterWrite {
    /// Kind of the written object.
    pub fn kind(&self) -> RouterKind {
        match self {
            Self::Patch { kind, .. } | Self::Create { kind, .. } => *kind,
        }
    }

    /// Name of the written object.
    pub fn name(&self) -> String {
        match self {
            Self::Patch { name, .. } => name.clone(),
            Self::Create { object, .. } => object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        }
    }

    /// `Kind/name` of the written object, for events and logs.
    pub fn target(&self) -> String {
        match self {
            Self::Patch { kind, name, .. } => format!("{}/{name}", kind.kind()),
            Self::Create { kind, object } => {
                format!("{}/{}", kind.kind(), object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default())
            }
        }
    }
}

/// A router reference that cannot be resolved, reported as `InvalidSpec` at `path`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RouteError {
    /// Field path in the Rollout, e.g. `spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The referenced object does not exist (yet): it may be applied together with the Rollout and not be in the
    /// controller's cache at its first reconcile.
    pub not_found: bool,
}

impl RouteError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), not_found: false }
    }

    /// The object `name` of `kind` does not exist (or its API is not served).
    pub fn missing(path: impl Into<String>, kind: RouterKind, name: &str, objects: &RouterObjects<'_>) -> Self {
        let message = if objects.unserved.contains(&kind) {
            format!(
                "{} {name:?} cannot be read: the cluster does not serve the {} API ({}); is its CRD installed?",
                kind.kind(),
                kind.kind(),
                kind.api_version()
            )
        } else {
            format!("{} {name:?} not found in the Rollout's namespace", kind.kind())
        };
        let not_found = !objects.unserved.contains(&kind);
        Self { not_found, ..Self::new(path, message) }
    }
}

/// What a router can express beyond weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `setHeaderRoute`.
    pub header_routes: bool,
    /// `setMirrorRoute`.
    pub mirror_routes: bool,
}

/// The JSON patch taking `before` to `after`, pinned to `resource_version`; `None` when they serialise equally.
pub fn patch_between<T: Serialize>(kind: RouterKind, name: &str, resource_version: &str, before: &T, after: &T) -> Option<RouterWrite> {
    let before = serde_json::to_value(before).ok()?;
    let after = serde_json::to_value(after).ok()?;
    let diff = json_patch_kube::diff(&before, &after);
    if diff.0.is_empty() {
        return None;
    }
    let mut ops = vec![json!({"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version})];
    ops.extend(diff.0.iter().filter_map(|op| serde_json::to_value(op).ok()));
    Some(RouterWrite::Patch { kind, name: name.to_owned(), patch: Value::Array(ops) })
}

/// Finds `name` among `objects` by `metadata.name`.
pub fn by_name<'o, T: object::Named>(objects: &'o [Arc<T>], name: &str) -> Option<&'o T> {
    objects.iter().map(Arc::as_ref).find(|o| o.name() == name)
}

/// Whether `rollout` reads or writes the object `name` of `kind` in its namespace (so a change to that object
/// must trigger it): its Services, its routers' objects, and the NGINX canary Ingresses it owns.
pub fn references(rollout: &serin_api::Rollout, kind: RouterKind, name: &str) -> bool {
    let Some(canary) = rollout.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()) else { return false };
    let routing = canary.traffic_routing.as_ref();
    match kind {
        RouterKind::Service => canary.canary_service.as_deref() == Some(name) || canary.stable_service.as_deref() == Some(name),
        RouterKind::Ingress => routing.and_then(|r| r.nginx.as_ref()).is_some_and(|n| {
            let rollout_name = rollout.metadata.name.as_deref().unwrap_or_default();
            n.stable_ingress
                .iter()
                .chain(n.stable_ingresses.iter())
                .any(|s| s == name || nginx::canary_ingress_name(rollout_name, s) == name)
        }),
        RouterKind::HttpRoute => routing
            .and_then(gateway::config)
            .and_then(Result::ok)
            .is_some_and(|(c, path)| gateway::routes(&c, &path).iter().any(|(n, _, _)| *n == name)),
        RouterKind::VirtualService => routing
            .and_then(|r| r.istio.as_ref())
            .is_some_and(|i| i.virtual_service.iter().chain(i.virtual_services.iter()).any(|v| v.name == name)),
        RouterKind::DestinationRule => {
            routing.and_then(|r| r.istio.as_ref()).and_then(|i| i.destination_rule.as_ref()).is_some_and(|d| d.name == name)
        }
        RouterKind::TraefikService => routing.and_then(|r| r.traefik.as_ref()).is_some_and(|t| t.weighted_traefik_service_name == name),
    }
}

/// The router kinds a Rollout uses (Services included when it names any).
pub fn kinds_used(rollout: &serin_api::Rollout) -> Vec<RouterKind> {
    let Some(canary) = rollout.spec.strategy.as_ref().and_then(|s| s.canary.as_ref()) else { return Vec::new() };
    let mut kinds = Vec::new();
    if canary.canary_service.is_some() || canary.stable_service.is_some() || canary.traffic_routing.is_some() {
        kinds.push(RouterKind::Service);
    }
    if let Some(routing) = &canary.traffic_routing {
        if gateway::config(routing).is_some() {
            kinds.push(RouterKind::HttpRoute);
        }
        if let Some(istio) = &routing.istio {
            kinds.push(RouterKind::VirtualService);
            if istio.destination_rule.is_some() {
                kinds.push(RouterKind::DestinationRule);
            }
        }
        if routing.nginx.is_some() {
            kinds.push(RouterKind::Ingress);
        }
        if routing.traefik.is_some() {
            kinds.push(RouterKind::TraefikService);
        }
    }
    kinds
}

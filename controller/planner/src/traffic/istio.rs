//! Istio router: the weights of a VirtualService's routes, the pod-template hashes in a DestinationRule's subsets,
//! and the header and mirror routes of `managedRoutes` as http routes of the VirtualService.
//!
//! Contract: pure, as the whole `traffic` module. [`render_virtual_service`] and [`render_destination_rule`] take
//! the object as observed and return it as it must be; [`plan`] turns the difference into patches pinned to the
//! observed `resourceVersion`, DestinationRule first (so the subsets select the right pods before traffic is
//! shifted to them), then each VirtualService.
//!
//! What the Rollout owns, as in Argo Rollouts:
//! - the weights of the canary and stable destinations of the routes named in `routes` (or of the only http route
//!   when no route is named), of the TLS routes matched by port and SNI hosts and of the TCP routes matched by port.
//!   Destinations are recognised by subset (`destinationRule` configured: `canarySubsetName` / `stableSubsetName`)
//!   or else by host (`canaryService` / `stableService`, short name or FQDN); other destinations keep their weight;
//! - every http route named in `managedRoutes`: the header and mirror routes in force are written as one block in
//!   `managedRoutes` order where the first of ours was (at the top of `http` when there is none yet), never below a
//!   weighed route, since the first matching route wins; the others are removed;
//! - the `rollouts-pod-template-hash` label of the canary and stable subsets, and the `managed-by-rollouts`
//!   annotation of the DestinationRule.
//!
//! Everything else (user routes, other subsets, fields our types do not know) is carried through unchanged.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Map;
use serin_api::labels::{MANAGED_BY_ROLLOUTS, POD_TEMPLATE_HASH};
use serin_api::rollout::steps::{StringMatch, StringMatcher};
use serin_api::rollout::traffic_routing::{IstioDestinationRule, IstioTrafficRouting, IstioVirtualService, TcpRoute, TlsRoute};

use super::object::{
    IstioDestination, IstioHttpMatch, IstioHttpRoute, IstioL4Route, IstioPercent, IstioRouteDestination, IstioStringMatch, Named,
};
use super::{
    Capabilities, Desired, DestinationRule, HeaderRoute, MirrorRoute, RouteError, RouterKind, RouterObjects, RouterWrite, VirtualService,
    by_name, patch_between,
};

/// Istio expresses both header routes and mirror routes (as http routes of the VirtualService).
pub const CAPABILITIES: Capabilities = Capabilities { header_routes: true, mirror_routes: true };

/// The writes that make the Istio objects of `config` express `desired`: the DestinationRule (if configured) first,
/// then `virtualService`, then each of `virtualServices`. Objects already as they must be get no write.
///
/// `path` is the field path of `config` in the Rollout (`spec.strategy.canary.trafficRouting.istio`).
pub fn plan(
    config: &IstioTrafficRouting,
    objects: &RouterObjects<'_>,
    desired: &Desired<'_>,
    path: &str,
) -> Result<Vec<RouterWrite>, RouteError> {
    let virtual_services: Vec<(&IstioVirtualService, String)> = config
        .virtual_service
        .iter()
        .map(|vs| (vs, format!("{path}.virtualService")))
        .chain(config.virtual_services.iter().enumerate().map(|(i, vs)| (vs, format!("{path}.virtualServices[{i}]"))))
        .collect();
    if virtual_services.is_empty() {
        return Err(RouteError::new(
            format!("{path}.virtualService"),
            "Istio routing needs a VirtualService: set virtualService or virtualServices",
        ));
    }

    let mut writes = Vec::new();
    if let Some(dr_config) = &config.destination_rule {
        let kind = RouterKind::DestinationRule;
        let observed = by_name(objects.destination_rules, &dr_config.name)
            .ok_or_else(|| RouteError::missing(format!("{path}.destinationRule.name"), kind, &dr_config.name, objects))?;
        let rendered = render_destination_rule(observed, dr_config, desired, path)?;
        writes.extend(patch_between(kind, &dr_config.name, observed.resource_version(), observed, &rendered));
    }
    for (vs_config, vs_path) in virtual_services {
        let kind = RouterKind::VirtualService;
        let observed = by_name(objects.virtual_services, &vs_config.name)
            .ok_or_else(|| RouteError::missing(format!("{vs_path}.name"), kind, &vs_config.name, objects))?;
        let rendered = render_virtual_service(observed, vs_config, config.destination_rule.as_ref(), desired, &vs_path)?;
        writes.extend(patch_between(kind, &vs_config.name, observed.resource_version(), observed, &rendered));
    }
    Ok(writes)
}

/// `dr` as it must be: the canary subset's `rollouts-pod-template-hash` label set to the canary hash and the stable
/// subset's to the stable hash (each only once that hash is known), and the DestinationRule annotated as managed by
/// the Rollout. Other labels and subsets are untouched.
///
/// `path` is the field path of the Istio configuration (`...trafficRouting.istio`); a subset `config` names that
/// `dr` lacks is an error at `{path}.destinationRule.canarySubsetName` / `.stableSubsetName`.
pub fn render_destination_rule(
    dr: &DestinationRule,
    config: &IstioDestinationRule,
    desired: &Desired<'_>,
    path: &str,
) -> Result<DestinationRule, RouteError> {
    let mut rendered = dr.clone();
    let subsets = [
        (&config.canary_subset_name, desired.canary_hash, "canarySubsetName"),
        (&config.stable_subset_name, desired.stable_hash, "stableSubsetName"),
    ];
    for (subset_name, hash, field) in subsets {
        let subset = rendered.spec.subsets.iter_mut().flatten().find(|subset| &subset.name == subset_name).ok_or_else(|| {
            RouteError::new(
                format!("{path}.destinationRule.{field}"),
                format!("DestinationRule {:?} has no subset named {subset_name:?}", dr.name()),
            )
        })?;
        // Before its ReplicaSet exists a hash is empty; the subset keeps selecting what it selected.
        if !hash.is_empty() {
            subset.labels.get_or_insert_default().insert(POD_TEMPLATE_HASH.to_owned(), hash.to_owned());
        }
    }
    rendered.metadata.annotations.get_or_insert_default().insert(MANAGED_BY_ROLLOUTS.to_owned(), desired.rollout.to_owned());
    Ok(rendered)
}

/// `vs` as it must be: canary weight `desired.weight` and stable weight `desired.stable_weight()` in every route
/// `config` selects, and the header and mirror routes of `desired` at the top of `http` (every other http route
/// named in `managedRoutes` removed).
///
/// Destinations are matched by subset when `destination_rule` is set, by host otherwise. `path` is the field path
/// of `config` (`...istio.virtualService` or `...istio.virtualServices[1]`); a route `config` names that `vs`
/// lacks, or an edited route without both a canary and a stable destination, is an error at `{path}.routes[i]`,
/// `{path}.tlsRoutes[i]` or `{path}.tcpRoutes[i]`.
pub fn render_virtual_service(
    vs: &VirtualService,
    config: &IstioVirtualService,
    destination_rule: Option<&IstioDestinationRule>,
    desired: &Desired<'_>,
    path: &str,
) -> Result<VirtualService, RouteError> {
    let roles = Roles::new(desired, destination_rule);
    let vs_name = vs.name();
    let mut rendered = vs.clone();

    // The routes named after managed routes are ours: drop them all, and write back those in force below, each
    // where it was (so Rollouts sharing a VirtualService never reorder each other's routes).
    let managed = managed_names(desired);
    let original = rendered.spec.http.take().unwrap_or_default();
    let positions: Vec<(usize, String)> = original
        .iter()
        .enumerate()
        .filter_map(|(i, route)| route.name.as_deref().filter(|name| managed.contains(name)).map(|name| (i, name.to_owned())))
        .collect();
    let mut http: Vec<IstioHttpRoute> =
        original.into_iter().filter(|route| !route.name.as_deref().is_some_and(|name| managed.contains(name))).collect();

    let edited = edited_http_routes(&http, config, vs_name, path)?;
    for (index, route_path) in &edited {
        let route = &mut http[*index];
        let what = route.name.as_ref().map_or_else(|| "the http route".to_owned(), |name| format!("http route {name:?}"));
        if !set_weights(route.route.as_mut(), &roles, desired) {
            return Err(roles.missing_destinations(route_path, &what, vs_name));
        }
    }

    for (i, tls_config) in config.tls_routes.iter().enumerate() {
        let route_path = format!("{path}.tlsRoutes[{i}]");
        let what = "TLS route matching this port and these SNI hosts";
        weigh_l4_routes(
            rendered.spec.tls.as_mut(),
            |route| tls_route_matches(route, tls_config),
            &roles,
            desired,
            &route_path,
            what,
            vs_name,
        )?;
    }
    for (i, tcp_config) in config.tcp_routes.iter().enumerate() {
        let route_path = format!("{path}.tcpRoutes[{i}]");
        let what = "TCP route matching this port";
        weigh_l4_routes(
            rendered.spec.tcp.as_mut(),
            |route| tcp_route_matches(route, tcp_config),
            &roles,
            desired,
            &route_path,
            what,
            vs_name,
        )?;
    }

    let first_edited = edited.first().map(|(index, _)| &http[*index]);
    let in_force = managed_http_routes(desired, &roles, first_edited, vs_name, path)?;
    // Ours go back as one block, in `managedRoutes` order, where the first of them was (so Rollouts sharing a
    // VirtualService never reorder each other's routes), but never below a route the Rollout weighs: Istio takes the
    // first match, and a header or mirror route under the catch-all is never reached (Argo keeps them on top).
    // Without any yet, they go at the top.
    let mut routes = http;
    let first_ours = positions.first().map(|(at, _)| *at);
    let first_weighed = edited.iter().map(|(index, _)| *index).min();
    let at = match (first_ours, first_weighed) {
        (Some(ours), Some(weighed)) => ours.min(weighed),
        (Some(ours), None) => ours,
        (None, _) => 0,
    };
    let at = at.min(routes.len());
    routes.splice(at..at, in_force);
    // An absent `http` stays absent unless managed routes are added to it.
    rendered.spec.http = if routes.is_empty() && vs.spec.http.is_none() { None } else { Some(routes) };
    Ok(rendered)
}

// === destinations ===

/// How the canary and stable destinations of a route are recognised.
#[derive(Clone, Copy, Debug)]
enum Roles<'a> {
    /// Host-level routing: two Services.
    Host { canary: &'a str, stable: &'a str },
    /// Subset-level routing: two subsets of one host's DestinationRule.
    Subset { canary: &'a str, stable: &'a str },
}

/// The part a destination plays in a route the Rollout weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Canary,
    Stable,
}

impl<'a> Roles<'a> {
    fn new(desired: &Desired<'a>, destination_rule: Option<&'a IstioDestinationRule>) -> Self {
        match destination_rule {
            Some(dr) => Self::Subset { canary: &dr.canary_subset_name, stable: &dr.stable_subset_name },
            None => Self::Host { canary: desired.canary_service, stable: desired.stable_service },
        }
    }

    fn role(self, destination: &IstioDestination) -> Option<Role> {
        let (canary, stable, key) = match self {
            // `checkout-canary` and `checkout-canary.shop.svc.cluster.local` are the same Service.
            Self::Host { canary, stable } => (canary, stable, destination.host.split('.').next().unwrap_or_default()),
            Self::Subset { canary, stable } => (canary, stable, destination.subset.as_deref().unwrap_or_default()),
        };
        if key == canary {
            Some(Role::Canary)
        } else if key == stable {
            Some(Role::Stable)
        } else {
            None
        }
    }

    /// The error for a route (`what`, at `route_path`) that lacks the canary or the stable destination.
    fn missing_destinations(self, route_path: &str, what: &str, vs_name: &str) -> RouteError {
        let expected = match self {
            Self::Host { canary, stable } => format!("hosts {stable:?} (stable) and {canary:?} (canary)"),
            Self::Subset { canary, stable } => format!("subsets {stable:?} (stable) and {canary:?} (canary)"),
        };
        RouteError::new(
            route_path,
            format!("{what} of VirtualService {vs_name:?} must contain both the stable and canary destinations ({expected})"),
        )
    }
}

/// Sets the canary and stable weights of `destinations`; `false` (and nothing changed) unless both are present.
fn set_weights(destinations: Option<&mut Vec<IstioRouteDestination>>, roles: &Roles<'_>, desired: &Desired<'_>) -> bool {
    let Some(destinations) = destinations else { return false };
    let has = |role| destinations.iter().any(|d| roles.role(&d.destination) == Some(role));
    if !(has(Role::Canary) && has(Role::Stable)) {
        return false;
    }
    for destination in destinations.iter_mut() {
        match roles.role(&destination.destination) {
            Some(Role::Canary) => destination.weight = Some(desired.weight),
            Some(Role::Stable) => destination.weight = Some(desired.stable_weight()),
            None => {}
        }
    }
    true
}

// === routes to weigh ===

/// Indexes in `http` (managed routes removed) of the routes `config` selects, each with the field path that
/// selected it.
fn edited_http_routes(
    http: &[IstioHttpRoute],
    config: &IstioVirtualService,
    vs_name: &str,
    path: &str,
) -> Result<Vec<(usize, String)>, RouteError> {
    if config.routes.is_empty() {
        if !config.tls_routes.is_empty() || !config.tcp_routes.is_empty() {
            return Ok(Vec::new());
        }
        return match http.len() {
            1 => Ok(vec![(0, format!("{path}.routes"))]),
            n => Err(RouteError::new(
                format!("{path}.routes"),
                format!(
                    "VirtualService {vs_name:?} has {n} http routes besides the managed routes; routes may be omitted only \
                     when it has exactly one, so name the routes to weigh"
                ),
            )),
        };
    }
    config
        .routes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let route_path = format!("{path}.routes[{i}]");
            match http.iter().position(|route| route.name.as_deref() == Some(name.as_str())) {
                Some(index) => Ok((index, route_path)),
                None => Err(RouteError::new(route_path, format!("VirtualService {vs_name:?} has no http route named {name:?}"))),
            }
        })
        .collect()
}

/// Weighs every route of `routes` that `matches`; none matching, or one without both destinations, is an error.
fn weigh_l4_routes(
    routes: Option<&mut Vec<IstioL4Route>>,
    matches: impl Fn(&IstioL4Route) -> bool,
    roles: &Roles<'_>,
    desired: &Desired<'_>,
    route_path: &str,
    what: &str,
    vs_name: &str,
) -> Result<(), RouteError> {
    let mut found = false;
    for route in routes.into_iter().flatten().filter(|route| matches(route)) {
        found = true;
        if !set_weights(route.route.as_mut(), roles, desired) {
            return Err(roles.missing_destinations(route_path, &format!("the {what}"), vs_name));
        }
    }
    if found { Ok(()) } else { Err(RouteError::new(route_path, format!("VirtualService {vs_name:?} has no {what}"))) }
}

/// A TLS route is selected when one of its match blocks has the port (if set) and its match blocks list every one
/// of the SNI hosts.
fn tls_route_matches(route: &IstioL4Route, config: &TlsRoute) -> bool {
    let blocks = route.match_.as_deref().unwrap_or_default();
    let port = config.port.is_none_or(|port| blocks.iter().any(|block| block.port == Some(port)));
    let sni: BTreeSet<&str> = blocks.iter().flat_map(|block| block.sni_hosts.iter().flatten()).map(String::as_str).collect();
    port && config.sni_hosts.iter().all(|host| sni.contains(host.as_str()))
}

/// A TCP route is selected when one of its match blocks has the port (if set).
fn tcp_route_matches(route: &IstioL4Route, config: &TcpRoute) -> bool {
    config.port.is_none_or(|port| route.match_.iter().flatten().any(|block| block.port == Some(port)))
}

// === managed routes ===

/// Names of the http routes the Rollout owns.
fn managed_names<'a>(desired: &Desired<'a>) -> BTreeSet<&'a str> {
    let header = desired.header_routes.iter().map(|route| route.name);
    let mirror = desired.mirror_routes.iter().map(|route| route.name);
    desired.managed_routes.iter().copied().chain(header).chain(mirror).collect()
}

/// A managed route in force.
#[derive(Clone, Copy, Debug)]
enum Managed<'d, 'a> {
    Header(&'d HeaderRoute<'a>),
    Mirror(&'d MirrorRoute<'a>),
}

/// The header and mirror routes in force, in `managedRoutes` order. `first_edited` is the first weighed http route
/// (weights already set): the canary destination's port (or, subset-level, the whole destination) and a mirror
/// route's destinations are taken from it.
fn managed_http_routes(
    desired: &Desired<'_>,
    roles: &Roles<'_>,
    first_edited: Option<&IstioHttpRoute>,
    vs_name: &str,
    path: &str,
) -> Result<Vec<IstioHttpRoute>, RouteError> {
    let rank = |name: &str| desired.managed_routes.iter().position(|managed| *managed == name).unwrap_or(usize::MAX);
    let mut in_force: Vec<Managed<'_, '_>> =
        desired.header_routes.iter().map(Managed::Header).chain(desired.mirror_routes.iter().map(Managed::Mirror)).collect();
    // Stable: a header and a mirror route of the same rank keep header-first order.
    in_force.sort_by_key(|managed| match managed {
        Managed::Header(route) => rank(route.name),
        Managed::Mirror(route) => rank(route.name),
    });
    if in_force.is_empty() {
        return Ok(Vec::new());
    }

    let destinations = first_edited.and_then(|route| route.route.as_deref());
    let canary = destinations.and_then(|destinations| destinations.iter().find(|d| roles.role(&d.destination) == Some(Role::Canary)));
    let canary = match *roles {
        Roles::Host { canary: host, .. } => {
            Some(IstioDestination { host: host.to_owned(), subset: None, port: canary.and_then(|d| d.destination.port.clone()) })
        }
        Roles::Subset { .. } => canary.map(|d| d.destination.clone()),
    };
    let no_http_route = |route_path: &str| {
        RouteError::new(
            route_path,
            format!(
                "VirtualService {vs_name:?} ({path}) weighs no http route to take the canary destination from; name one in {path}.routes"
            ),
        )
    };

    in_force
        .into_iter()
        .map(|managed| match managed {
            Managed::Header(route) => header_route(route, canary.clone().ok_or_else(|| no_http_route(&route.path))?),
            Managed::Mirror(route) => {
                let mirror = canary.clone().ok_or_else(|| no_http_route(&route.path))?;
                mirror_route(route, mirror, destinations.ok_or_else(|| no_http_route(&route.path))?)
            }
        })
        .collect()
}

/// `{name, match: [{headers}], route: [{destination: canary, weight: 100}]}`: one match block, so every header
/// condition must hold.
fn header_route(route: &HeaderRoute<'_>, canary: IstioDestination) -> Result<IstioHttpRoute, RouteError> {
    let mut headers = BTreeMap::new();
    for (i, condition) in route.matches.iter().enumerate() {
        let at = format!("{}.match[{i}]", route.path);
        // Istio documents header names in lower case; HTTP compares them case-insensitively.
        let name = condition.header_name.to_ascii_lowercase();
        if name.is_empty() {
            return Err(RouteError::new(format!("{at}.headerName"), "the header name must not be empty"));
        }
        let value = istio_string_match(&condition.header_value, format!("{at}.headerValue"))?;
        if headers.insert(name, value).is_some() {
            return Err(RouteError::new(
                format!("{at}.headerName"),
                format!("header {:?} is matched twice; an Istio match holds one condition per header", condition.header_name),
            ));
        }
    }
    Ok(IstioHttpRoute {
        name: Some(route.name.to_owned()),
        match_: Some(vec![IstioHttpMatch { headers: Some(headers), ..IstioHttpMatch::default() }]),
        route: Some(vec![IstioRouteDestination { destination: canary, weight: Some(100), rest: Map::new() }]),
        ..IstioHttpRoute::default()
    })
}

/// `{name, match: [one block per condition], route: <the weighed route's destinations>, mirror: canary,
/// mirrorPercentage}`: matching requests go where the weighed route sends them and a copy goes to the canary.
fn mirror_route(
    route: &MirrorRoute<'_>,
    canary: IstioDestination,
    destinations: &[IstioRouteDestination],
) -> Result<IstioHttpRoute, RouteError> {
    let matches = route
        .matches
        .iter()
        .enumerate()
        .map(|(i, condition)| {
            let at = |field: &str| format!("{}.match[{i}].{field}", route.path);
            let method = condition.method.as_ref().map(|m| istio_string_match(m, at("method"))).transpose()?;
            let uri = condition.path.as_ref().map(|p| istio_string_match(p, at("path"))).transpose()?;
            let headers = condition
                .headers
                .iter()
                .map(|(name, value)| Ok((name.to_ascii_lowercase(), istio_string_match(value, at(&format!("headers.{name}")))?)))
                .collect::<Result<BTreeMap<_, _>, RouteError>>()?;
            Ok(IstioHttpMatch { uri, method, headers: (!headers.is_empty()).then_some(headers), rest: Map::new() })
        })
        .collect::<Result<Vec<_>, RouteError>>()?;
    Ok(IstioHttpRoute {
        name: Some(route.name.to_owned()),
        match_: Some(matches),
        route: Some(destinations.to_vec()),
        mirror: Some(canary),
        mirror_percentage: route.percentage.map(|value| IstioPercent { value: f64::from(value) }),
        rest: Map::new(),
    })
}

/// The Istio form of a step's string condition; zero or several of exact/prefix/regex is an error at `path`.
fn istio_string_match(condition: &StringMatch, path: String) -> Result<IstioStringMatch, RouteError> {
    let some = |value: &str| Some(value.to_owned());
    match condition.matcher() {
        Some(StringMatcher::Exact(value)) => Ok(IstioStringMatch { exact: some(value), ..IstioStringMatch::default() }),
        Some(StringMatcher::Prefix(value)) => Ok(IstioStringMatch { prefix: some(value), ..IstioStringMatch::default() }),
        Some(StringMatcher::Regex(value)) => Ok(IstioStringMatch { regex: some(value), ..IstioStringMatch::default() }),
        None => Err(RouteError::new(path, "set exactly one of exact, prefix and regex")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use serde::Serialize;
    use serde_json::{Value, json};
    use serin_api::rollout::steps::{HeaderRoutingMatch, RouteMatch};

    use super::*;

    const PATH: &str = "spec.strategy.canary.trafficRouting.istio";
    const VS_PATH: &str = "spec.strategy.canary.trafficRouting.istio.virtualService";

    // === fixtures ===

    fn desired(weight: i32) -> Desired<'static> {
        Desired {
            rollout: "checkout",
            canary_service: "checkout-canary",
            stable_service: "checkout-stable",
            canary_hash: "7c9f6b5d4",
            stable_hash: "5d8b7f9c6",
            weight,
            max_weight: 100,
            managed_routes: Vec::new(),
            header_routes: Vec::new(),
            mirror_routes: Vec::new(),
            owner: OwnerReference::default(),
        }
    }

    fn to_json<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).unwrap()
    }

    fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    fn vs_config(value: Value) -> IstioVirtualService {
        from_json(value)
    }

    fn dr_config() -> IstioDestinationRule {
        from_json(json!({"name": "checkout", "canarySubsetName": "canary", "stableSubsetName": "stable"}))
    }

    fn string_match(value: Value) -> StringMatch {
        from_json(value)
    }

    /// Host-level: one http route to the stable and canary Services, with fields our types do not know.
    fn host_vs() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "4711", "labels": {"app": "checkout"}},
            "spec": {
                "hosts": ["checkout.shop.svc.cluster.local"],
                "gateways": ["mesh"],
                "exportTo": ["."],
                "http": [{
                    "name": "primary",
                    "match": [{"uri": {"prefix": "/"}, "ignoreUriCase": true}],
                    "retries": {"attempts": 3, "perTryTimeout": "2s"},
                    "timeout": "10s",
                    "route": [
                        {"destination": {"host": "checkout-stable", "port": {"number": 8080}}, "weight": 100,
                         "headers": {"request": {"set": {"x-track": "stable"}}}},
                        {"destination": {"host": "checkout-canary", "port": {"number": 8080}}, "weight": 0}
                    ]
                }]
            },
            "status": {"observedGeneration": 3}
        })
    }

    /// Subset-level: one host, subsets `stable` and `canary` of its DestinationRule, and a third subset.
    fn subset_vs() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "812"},
            "spec": {
                "hosts": ["checkout"],
                "http": [{
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "checkout", "subset": "stable", "port": {"number": 80}}, "weight": 90},
                        {"destination": {"host": "checkout", "subset": "canary", "port": {"number": 80}}, "weight": 10},
                        {"destination": {"host": "checkout", "subset": "baseline", "port": {"number": 80}}, "weight": 0}
                    ]
                }]
            }
        })
    }

    fn destination_rule() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "90"},
            "spec": {
                "host": "checkout",
                "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}},
                "subsets": [
                    {"name": "stable", "labels": {"app": "checkout"}},
                    {"name": "canary", "labels": {"app": "checkout", "rollouts-pod-template-hash": "0ld"}},
                    {"name": "baseline", "labels": {"app": "checkout", "track": "baseline"},
                     "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 10}}}}
                ]
            }
        })
    }

    fn render_host(vs: Value, config: Value, desired: &Desired<'_>) -> Result<Value, RouteError> {
        render_virtual_service(&from_json(vs), &vs_config(config), None, desired, VS_PATH).map(|vs| to_json(&vs))
    }

    fn weights(vs: &Value, route: &str) -> Vec<i64> {
        vs.pointer(route).unwrap().as_array().unwrap().iter().map(|d| d["weight"].as_i64().unwrap()).collect()
    }

    // === weights ===

    #[test]
    fn host_level_weights_go_to_the_canary_and_stable_services() {
        let rendered = render_host(host_vs(), json!({"name": "checkout", "routes": ["primary"]}), &desired(30)).unwrap();
        assert_eq!(weights(&rendered, "/spec/http/0/route"), [70, 30]);

        let rendered = render_host(host_vs(), json!({"name": "checkout"}), &desired(100)).unwrap();
        assert_eq!(weights(&rendered, "/spec/http/0/route"), [0, 100], "routes omitted: the only http route");
    }

    #[test]
    fn host_level_matching_accepts_fully_qualified_hosts() {
        let mut vs = host_vs();
        vs["spec"]["http"][0]["route"][0]["destination"]["host"] = json!("checkout-stable.shop.svc.cluster.local");
        vs["spec"]["http"][0]["route"][1]["destination"]["host"] = json!("checkout-canary.shop");
        let rendered = render_host(vs, json!({"name": "checkout"}), &desired(25)).unwrap();
        assert_eq!(weights(&rendered, "/spec/http/0/route"), [75, 25]);
    }

    #[test]
    fn only_the_named_routes_are_weighed_and_other_destinations_keep_their_weight() {
        let mut vs = host_vs();
        vs["spec"]["http"] = json!([
            {"name": "admin", "match": [{"uri": {"prefix": "/admin"}}],
             "route": [{"destination": {"host": "checkout-stable"}, "weight": 100},
                       {"destination": {"host": "checkout-canary"}, "weight": 0}]},
            {"name": "primary",
             "route": [{"destination": {"host": "checkout-stable"}, "weight": 90},
                       {"destination": {"host": "checkout-canary"}, "weight": 5},
                       {"destination": {"host": "checkout-experiment"}, "weight": 5}]},
            {"name": "legacy", "route": [{"destination": {"host": "legacy"}}]}
        ]);
        let rendered = render_host(vs.clone(), json!({"name": "checkout", "routes": ["primary"]}), &desired(20)).unwrap();
        assert_eq!(weights(&rendered, "/spec/http/1/route"), [80, 20, 5]);
        assert_eq!(rendered["spec"]["http"][0], vs["spec"]["http"][0]);
        assert_eq!(rendered["spec"]["http"][2], vs["spec"]["http"][2]);

        let both = render_host(vs, json!({"name": "checkout", "routes": ["primary", "admin"]}), &desired(20)).unwrap();
        assert_eq!(weights(&both, "/spec/http/0/route"), [80, 20]);
        assert_eq!(weights(&both, "/spec/http/1/route"), [80, 20, 5]);
    }

    #[test]
    fn unknown_fields_and_everything_not_managed_are_preserved() {
        let rendered = render_host(host_vs(), json!({"name": "checkout", "routes": ["primary"]}), &desired(40)).unwrap();
        let mut expected = host_vs();
        expected["spec"]["http"][0]["route"][0]["weight"] = json!(60);
        expected["spec"]["http"][0]["route"][1]["weight"] = json!(40);
        assert_eq!(rendered, expected);
    }

    #[test]
    fn subset_level_weights_the_subsets_and_labels_the_destination_rule() {
        let config = vs_config(json!({"name": "checkout", "routes": ["primary"]}));
        let rendered = render_virtual_service(&from_json(subset_vs()), &config, Some(&dr_config()), &desired(35), VS_PATH).unwrap();
        assert_eq!(weights(&to_json(&rendered), "/spec/http/0/route"), [65, 35, 0], "baseline subset untouched");

        let dr = render_destination_rule(&from_json(destination_rule()), &dr_config(), &desired(35), PATH).unwrap();
        let mut expected = destination_rule();
        expected["metadata"]["annotations"] = json!({"argo-rollouts.argoproj.io/managed-by-rollouts": "checkout"});
        expected["spec"]["subsets"][0]["labels"]["rollouts-pod-template-hash"] = json!("5d8b7f9c6");
        expected["spec"]["subsets"][1]["labels"]["rollouts-pod-template-hash"] = json!("7c9f6b5d4");
        assert_eq!(to_json(&dr), expected);
    }

    #[test]
    fn an_unknown_hash_leaves_the_subset_labels_alone() {
        let before_canary = Desired { canary_hash: "", ..desired(0) };
        let dr = render_destination_rule(&from_json(destination_rule()), &dr_config(), &before_canary, PATH).unwrap();
        let dr = to_json(&dr);
        assert_eq!(dr["spec"]["subsets"][1]["labels"], json!({"app": "checkout", "rollouts-pod-template-hash": "0ld"}));
        assert_eq!(dr["spec"]["subsets"][0]["labels"]["rollouts-pod-template-hash"], json!("5d8b7f9c6"));

        let mut no_labels = destination_rule();
        no_labels["spec"]["subsets"][0].as_object_mut().unwrap().remove("labels");
        let dr = render_destination_rule(&from_json(no_labels), &dr_config(), &desired(0), PATH).unwrap();
        assert_eq!(to_json(&dr)["spec"]["subsets"][0]["labels"], json!({"rollouts-pod-template-hash": "5d8b7f9c6"}));
    }

    #[test]
    fn tls_routes_match_by_port_and_sni_hosts_and_tcp_routes_by_port() {
        let vs = json!({
            "metadata": {"name": "checkout", "resourceVersion": "7"},
            "spec": {
                "hosts": ["checkout.example.com", "pay.example.com"],
                "tls": [
                    {"match": [{"port": 443, "sniHosts": ["pay.example.com"]}],
                     "route": [{"destination": {"host": "checkout-stable"}, "weight": 100},
                               {"destination": {"host": "checkout-canary"}, "weight": 0}]},
                    {"match": [{"port": 443, "sniHosts": ["checkout.example.com"]}, {"port": 8443, "sniHosts": ["www.example.com"]}],
                     "route": [{"destination": {"host": "checkout-stable"}, "weight": 100},
                               {"destination": {"host": "checkout-canary"}, "weight": 0}]}
                ],
                "tcp": [
                    {"match": [{"port": 5432}], "route": [{"destination": {"host": "checkout-stable", "port": {"number": 5432}}, "weight": 100},
                                                           {"destination": {"host": "checkout-canary", "port": {"number": 5432}}, "weight": 0}]},
                    {"match": [{"port": 6379}], "route": [{"destination": {"host": "checkout-stable"}, "weight": 100},
                                                           {"destination": {"host": "checkout-canary"}, "weight": 0}]}
                ]
            }
        });
        let config = json!({
            "name": "checkout",
            "tlsRoutes": [{"port": 443, "sniHosts": ["checkout.example.com", "www.example.com"]}],
            "tcpRoutes": [{"port": 5432}]
        });
        let rendered = render_host(vs.clone(), config, &desired(10)).unwrap();
        assert_eq!(weights(&rendered, "/spec/tls/0/route"), [100, 0], "SNI host not matched");
        assert_eq!(weights(&rendered, "/spec/tls/1/route"), [90, 10]);
        assert_eq!(weights(&rendered, "/spec/tcp/0/route"), [90, 10]);
        assert_eq!(weights(&rendered, "/spec/tcp/1/route"), [100, 0], "other port");
        assert_eq!(rendered.pointer("/spec/http"), None, "no http routes are added");

        let err = render_host(
            vs.clone(),
            json!({"name": "checkout", "tlsRoutes": [{"port": 443, "sniHosts": ["shop.example.com"]}]}),
            &desired(10),
        )
        .unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.tlsRoutes[0]"));
        let err = render_host(vs, json!({"name": "checkout", "tcpRoutes": [{"port": 5432}, {"port": 3306}]}), &desired(10)).unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.tcpRoutes[1]"));
    }

    // === managed routes ===

    fn header_matches() -> Vec<HeaderRoutingMatch> {
        vec![
            HeaderRoutingMatch { header_name: "X-Canary".into(), header_value: string_match(json!({"exact": "always"})) },
            HeaderRoutingMatch { header_name: "user-agent".into(), header_value: string_match(json!({"regex": ".*Firefox.*"})) },
        ]
    }

    fn mirror_matches() -> Vec<RouteMatch> {
        from_json(json!([
            {"method": {"exact": "POST"}, "path": {"prefix": "/api/orders"}},
            {"headers": {"X-Debug": {"exact": "1"}}}
        ]))
    }

    fn header_route<'a>(name: &'a str, matches: &'a [HeaderRoutingMatch]) -> HeaderRoute<'a> {
        HeaderRoute { name, matches, path: "spec.strategy.canary.steps[1].setHeaderRoute".into() }
    }

    fn mirror_route<'a>(name: &'a str, matches: &'a [RouteMatch], percentage: Option<i32>) -> MirrorRoute<'a> {
        MirrorRoute { name, matches, percentage, path: "spec.strategy.canary.steps[2].setMirrorRoute".into() }
    }

    #[test]
    fn a_header_route_goes_on_top_and_leaves_with_its_step() {
        let matches = header_matches();
        let with_header =
            Desired { managed_routes: vec!["canary-header"], header_routes: vec![header_route("canary-header", &matches)], ..desired(10) };
        let rendered = render_host(host_vs(), json!({"name": "checkout", "routes": ["primary"]}), &with_header).unwrap();
        assert_eq!(
            rendered["spec"]["http"][0],
            json!({
                "name": "canary-header",
                "match": [{"headers": {"user-agent": {"regex": ".*Firefox.*"}, "x-canary": {"exact": "always"}}}],
                "route": [{"destination": {"host": "checkout-canary", "port": {"number": 8080}}, "weight": 100}]
            })
        );
        assert_eq!(rendered["spec"]["http"][1]["name"], "primary");
        assert_eq!(weights(&rendered, "/spec/http/1/route"), [90, 10]);

        let without = Desired { managed_routes: vec!["canary-header"], ..desired(10) };
        let removed = render_host(rendered, json!({"name": "checkout"}), &without).unwrap();
        let mut expected = host_vs();
        expected["spec"]["http"][0]["route"][0]["weight"] = json!(90);
        expected["spec"]["http"][0]["route"][1]["weight"] = json!(10);
        assert_eq!(removed, expected, "routes omitted: the managed route does not count as a second http route");
    }

    #[test]
    fn managed_routes_keep_their_place_so_rollouts_sharing_a_virtual_service_do_not_reorder_each_other() {
        let matches = header_matches();
        let with_header =
            Desired { managed_routes: vec!["canary-header"], header_routes: vec![header_route("canary-header", &matches)], ..desired(10) };
        let mut rendered = render_host(host_vs(), json!({"name": "checkout", "routes": ["primary"]}), &with_header).unwrap();
        // Another Rollout's managed route lands on top, above ours.
        let other = json!({"name": "other-header", "match": [{"headers": {"x-other": {"exact": "1"}}}], "route": [{"destination": {"host": "other"}}]});
        rendered["spec"]["http"].as_array_mut().unwrap().insert(0, other);
        let again = render_host(rendered.clone(), json!({"name": "checkout", "routes": ["primary"]}), &with_header).unwrap();
        assert_eq!(again, rendered, "ours rewritten in place: no change, no reordering");
    }

    /// Argo's `TestIstioHostMirrorRoute`: `[mirror-route-1, mirror-route-2, primary]`, then `mirror-route-1` leaves
    /// with its step. The survivor stays on top, above the catch-all `primary` (it was re-inserted at its old index,
    /// below `primary`, where Istio never reaches it).
    #[test]
    fn a_surviving_managed_route_stays_above_the_weighed_route_when_another_leaves() {
        let matches = mirror_matches();
        let names = |vs: &Value| -> Vec<String> {
            vs["spec"]["http"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
        };
        let config = json!({"name": "checkout", "routes": ["primary"]});
        let both = Desired {
            managed_routes: vec!["mirror-route-1", "mirror-route-2"],
            mirror_routes: vec![mirror_route("mirror-route-1", &matches, Some(100)), mirror_route("mirror-route-2", &matches, Some(80))],
            ..desired(20)
        };
        let rendered = render_host(host_vs(), config.clone(), &both).unwrap();
        assert_eq!(names(&rendered), ["mirror-route-1", "mirror-route-2", "primary"]);

        let second_only = Desired { mirror_routes: vec![mirror_route("mirror-route-2", &matches, Some(80))], ..both.clone() };
        let rendered = render_host(rendered, config.clone(), &second_only).unwrap();
        assert_eq!(names(&rendered), ["mirror-route-2", "primary"]);
        assert_eq!(weights(&rendered, "/spec/http/0/route"), [80, 20], "the mirror route carries the weighed split");

        // A managed route someone moved below the weighed route is put back above it.
        let mut moved = rendered.clone();
        moved["spec"]["http"].as_array_mut().unwrap().swap(0, 1);
        assert_eq!(names(&render_host(moved, config, &second_only).unwrap()), ["mirror-route-2", "primary"]);
    }

    #[test]
    fn a_mirror_route_copies_the_weighed_destinations_and_mirrors_to_the_canary() {
        let matches = mirror_matches();
        let with_mirror = Desired {
            managed_routes: vec!["mirror-orders"],
            mirror_routes: vec![mirror_route("mirror-orders", &matches, Some(35))],
            ..desired(20)
        };
        let rendered = render_host(host_vs(), json!({"name": "checkout", "routes": ["primary"]}), &with_mirror).unwrap();
        assert_eq!(
            rendered["spec"]["http"][0],
            json!({
                "name": "mirror-orders",
                "match": [
                    {"method": {"exact": "POST"}, "uri": {"prefix": "/api/orders"}},
                    {"headers": {"x-debug": {"exact": "1"}}}
                ],
                "route": [
                    {"destination": {"host": "checkout-stable", "port": {"number": 8080}}, "weight": 80,
                     "headers": {"request": {"set": {"x-track": "stable"}}}},
                    {"destination": {"host": "checkout-canary", "port": {"number": 8080}}, "weight": 20}
                ],
                "mirror": {"host": "checkout-canary", "port": {"number": 8080}},
                "mirrorPercentage": {"value": 35.0}
            })
        );

        let all = Desired { mirror_routes: vec![mirror_route("mirror-orders", &matches, None)], ..with_mirror };
        let rendered = render_host(host_vs(), json!({"name": "checkout"}), &all).unwrap();
        assert_eq!(rendered["spec"]["http"][0].get("mirrorPercentage"), None, "no percentage: all requests");
    }

    #[test]
    fn managed_routes_are_ordered_by_managed_routes_and_stale_ones_removed() {
        let headers = header_matches();
        let mirrors = mirror_matches();
        let mut vs = host_vs();
        // A route left behind by an earlier step, below the user route.
        vs["spec"]["http"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "stale-header", "route": [{"destination": {"host": "checkout-canary"}, "weight": 100}]}));
        let both = Desired {
            managed_routes: vec!["stale-header", "mirror-first", "header-second"],
            header_routes: vec![header_route("header-second", &headers)],
            mirror_routes: vec![mirror_route("mirror-first", &mirrors, Some(50))],
            ..desired(50)
        };
        let rendered = render_host(vs, json!({"name": "checkout"}), &both).unwrap();
        let names: Vec<&str> = rendered["spec"]["http"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["mirror-first", "header-second", "primary"]);
    }

    #[test]
    fn subset_level_managed_routes_target_the_canary_subset() {
        let headers = header_matches();
        let mirrors = mirror_matches();
        let both = Desired {
            managed_routes: vec!["header", "mirror"],
            header_routes: vec![header_route("header", &headers)],
            mirror_routes: vec![mirror_route("mirror", &mirrors, None)],
            ..desired(5)
        };
        let config = vs_config(json!({"name": "checkout"}));
        let rendered = render_virtual_service(&from_json(subset_vs()), &config, Some(&dr_config()), &both, VS_PATH).unwrap();
        let rendered = to_json(&rendered);
        let canary = json!({"host": "checkout", "subset": "canary", "port": {"number": 80}});
        assert_eq!(rendered["spec"]["http"][0]["route"], json!([{"destination": canary, "weight": 100}]));
        assert_eq!(rendered["spec"]["http"][1]["mirror"], canary);
        assert_eq!(weights(&rendered, "/spec/http/1/route"), [95, 5, 0]);
        assert_eq!(weights(&rendered, "/spec/http/2/route"), [95, 5, 0]);
    }

    #[test]
    fn rendering_a_rendered_virtual_service_changes_nothing() {
        let headers = header_matches();
        let mirrors = mirror_matches();
        let both = Desired {
            managed_routes: vec!["header", "mirror"],
            header_routes: vec![header_route("header", &headers)],
            mirror_routes: vec![mirror_route("mirror", &mirrors, Some(10))],
            ..desired(15)
        };
        let config = vs_config(json!({"name": "checkout"}));
        for dr in [None, Some(dr_config())] {
            let observed = if dr.is_some() { subset_vs() } else { host_vs() };
            let once = render_virtual_service(&from_json(observed), &config, dr.as_ref(), &both, VS_PATH).unwrap();
            let twice = render_virtual_service(&once, &config, dr.as_ref(), &both, VS_PATH).unwrap();
            assert_eq!(twice, once);
        }
        let dr = render_destination_rule(&from_json(destination_rule()), &dr_config(), &both, PATH).unwrap();
        assert_eq!(render_destination_rule(&dr, &dr_config(), &both, PATH).unwrap(), dr);
    }

    // === errors ===

    #[test]
    fn a_missing_route_or_destination_is_an_error_at_its_field() {
        let err = render_host(host_vs(), json!({"name": "checkout", "routes": ["primary", "secondary"]}), &desired(10)).unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.routes[1]"));
        assert!(err.message.contains("no http route named \"secondary\""), "{err}");

        let mut one_sided = host_vs();
        one_sided["spec"]["http"][0]["route"][1]["destination"]["host"] = json!("checkout-preview");
        let err = render_host(one_sided.clone(), json!({"name": "checkout", "routes": ["primary"]}), &desired(10)).unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.routes[0]"));
        assert!(err.message.contains("must contain both the stable and canary destinations"), "{err}");
        let err = render_host(one_sided, json!({"name": "checkout"}), &desired(10)).unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.routes"));

        let mut two = host_vs();
        let second = two["spec"]["http"][0].clone();
        two["spec"]["http"].as_array_mut().unwrap().push(second);
        let err = render_host(two, json!({"name": "checkout"}), &desired(10)).unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.routes"), "routes omitted with two http routes");

        // Host-level routing does not see subsets: a subset-level VirtualService without a DestinationRule config.
        let err = render_host(subset_vs(), json!({"name": "checkout"}), &desired(10)).unwrap_err();
        assert_eq!(err.path, format!("{VS_PATH}.routes"));
    }

    #[test]
    fn a_missing_subset_is_an_error_at_its_field() {
        let mut dr = destination_rule();
        dr["spec"]["subsets"].as_array_mut().unwrap().remove(1);
        let err = render_destination_rule(&from_json(dr), &dr_config(), &desired(10), PATH).unwrap_err();
        assert_eq!(err.path, format!("{PATH}.destinationRule.canarySubsetName"));

        let config = IstioDestinationRule { stable_subset_name: "primary".into(), ..dr_config() };
        let err = render_destination_rule(&from_json(destination_rule()), &config, &desired(10), PATH).unwrap_err();
        assert_eq!(err.path, format!("{PATH}.destinationRule.stableSubsetName"));
    }

    #[test]
    fn an_invalid_header_condition_is_an_error_at_its_step() {
        let matches =
            vec![HeaderRoutingMatch { header_name: "x-canary".into(), header_value: string_match(json!({"exact": "a", "prefix": "b"})) }];
        let invalid = Desired { managed_routes: vec!["h"], header_routes: vec![header_route("h", &matches)], ..desired(10) };
        let err = render_host(host_vs(), json!({"name": "checkout"}), &invalid).unwrap_err();
        assert_eq!(err.path, "spec.strategy.canary.steps[1].setHeaderRoute.match[0].headerValue");
    }

    #[test]
    fn a_mirror_route_needs_a_weighed_http_route() {
        let matches = mirror_matches();
        let mirror = Desired { managed_routes: vec!["m"], mirror_routes: vec![mirror_route("m", &matches, None)], ..desired(10) };
        let mut vs = host_vs();
        vs["spec"]["tcp"] = json!([{"match": [{"port": 5432}], "route": vs["spec"]["http"][0]["route"].clone()}]);
        let err = render_host(vs, json!({"name": "checkout", "tcpRoutes": [{"port": 5432}]}), &mirror).unwrap_err();
        assert_eq!(err.path, "spec.strategy.canary.steps[2].setMirrorRoute");
    }

    // === plan ===

    fn config(value: Value) -> IstioTrafficRouting {
        from_json(value)
    }

    #[test]
    fn plan_writes_nothing_when_the_objects_already_say_it() {
        let vs: Vec<Arc<VirtualService>> = vec![Arc::new(from_json(subset_vs()))];
        let dr = render_destination_rule(&from_json(destination_rule()), &dr_config(), &desired(10), PATH).unwrap();
        let drs = vec![Arc::new(dr)];
        let objects = RouterObjects { virtual_services: &vs, destination_rules: &drs, ..RouterObjects::default() };
        let config = config(json!({
            "virtualService": {"name": "checkout"},
            "destinationRule": {"name": "checkout", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }));
        assert_eq!(plan(&config, &objects, &desired(10), PATH).unwrap(), []);
    }

    #[test]
    fn plan_patches_the_destination_rule_then_each_virtual_service_pinned_to_its_resource_version() {
        let mut other = host_vs();
        other["metadata"]["name"] = json!("checkout-external");
        other["metadata"]["resourceVersion"] = json!("4712");
        let vs: Vec<Arc<VirtualService>> = vec![Arc::new(from_json(other)), Arc::new(from_json(host_vs()))];
        let objects = RouterObjects { virtual_services: &vs, ..RouterObjects::default() };
        let config = config(json!({
            "virtualService": {"name": "checkout", "routes": ["primary"]},
            "virtualServices": [{"name": "checkout-external"}]
        }));
        let writes = plan(&config, &objects, &desired(30), PATH).unwrap();
        let targets: Vec<String> = writes.iter().map(RouterWrite::target).collect();
        assert_eq!(targets, ["VirtualService/checkout", "VirtualService/checkout-external"]);
        let RouterWrite::Patch { patch, .. } = &writes[0] else { panic!("expected a patch, got {writes:?}") };
        assert_eq!(
            patch,
            &json!([
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "4711"},
                {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 70},
                {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 30}
            ])
        );

        let vs: Vec<Arc<VirtualService>> = vec![Arc::new(from_json(subset_vs()))];
        let drs = vec![Arc::new(from_json(destination_rule()))];
        let objects = RouterObjects { virtual_services: &vs, destination_rules: &drs, ..RouterObjects::default() };
        let config = self::config(json!({
            "virtualService": {"name": "checkout"},
            "destinationRule": {"name": "checkout", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }));
        let writes = plan(&config, &objects, &desired(30), PATH).unwrap();
        let targets: Vec<String> = writes.iter().map(RouterWrite::target).collect();
        assert_eq!(targets, ["DestinationRule/checkout", "VirtualService/checkout"]);
        let RouterWrite::Patch { kind, patch, .. } = &writes[0] else { panic!("expected a patch, got {writes:?}") };
        assert_eq!(*kind, RouterKind::DestinationRule);
        assert_eq!(patch[0], json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "90"}));
    }

    #[test]
    fn plan_reports_missing_objects_at_their_name() {
        let vs: Vec<Arc<VirtualService>> = vec![Arc::new(from_json(host_vs()))];
        let objects = RouterObjects { virtual_services: &vs, ..RouterObjects::default() };

        let err = plan(&config(json!({"virtualService": {"name": "cart"}})), &objects, &desired(0), PATH).unwrap_err();
        assert_eq!(err.path, format!("{PATH}.virtualService.name"));
        assert!(err.message.contains("VirtualService \"cart\" not found"), "{err}");

        let two = config(json!({"virtualServices": [{"name": "checkout"}, {"name": "cart"}]}));
        assert_eq!(plan(&two, &objects, &desired(0), PATH).unwrap_err().path, format!("{PATH}.virtualServices[1].name"));

        let with_dr = config(json!({
            "virtualService": {"name": "checkout"},
            "destinationRule": {"name": "checkout", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }));
        let unserved = [RouterKind::DestinationRule];
        let objects = RouterObjects { virtual_services: &vs, unserved: &unserved, ..RouterObjects::default() };
        let err = plan(&with_dr, &objects, &desired(0), PATH).unwrap_err();
        assert_eq!(err.path, format!("{PATH}.destinationRule.name"));
        assert!(err.message.contains("is its CRD installed?"), "{err}");

        let err = plan(&config(json!({})), &objects, &desired(0), PATH).unwrap_err();
        assert_eq!(err.path, format!("{PATH}.virtualService"));
    }

    #[test]
    fn istio_expresses_header_and_mirror_routes() {
        assert_eq!(CAPABILITIES, Capabilities { header_routes: true, mirror_routes: true });
    }
}

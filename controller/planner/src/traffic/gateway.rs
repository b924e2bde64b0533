//! Gateway API router: weights on the `backendRefs` of HTTPRoute rules, header-match rules for `setHeaderRoute`,
//! `RequestMirror` rules for `setMirrorRoute`.
//!
//! Configuration comes from `trafficRouting.gatewayAPI` (native) or `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`
//! (the Argo Rollouts plugin's configuration, read as is): `httpRoute`, or `httpRoutes[]{name, useHeaderRoutes}`.
//!
//! What the controller edits in each HTTPRoute, and nothing else:
//! - **Weighted rules**: every rule that is not a managed rule and has a backendRef to the stable Service and one
//!   to the canary Service. Their weights become `max - weight` and `weight`. Other backendRefs of the rule keep
//!   theirs. A route with no such rule is an error (nothing to shift).
//! - **Managed rules**: rules whose `name` is one of `managedRoutes`. They are removed unless in force; the ones in
//!   force are rewritten in place, and new ones inserted before the first of ours that follows them in
//!   `managedRoutes` (else appended), so the user's rules and other Rollouts' rules keep their positions (Gateway API
//!   precedence does not depend on rule order between different match sets). Header and
//!   mirror rules are only written to routes with header routes enabled (`httpRoute`, or `useHeaderRoutes: true`).
//!   - A header rule copies each weighted rule's matches (default `PathPrefix /`) and adds the header conditions
//!     (`exact` → `Exact`, `regex` → `RegularExpression`, `prefix` → `RegularExpression ^<escaped>.*`); its only
//!     backend is the canary Service (port of the canary backendRef). More header matches outrank the plain rule.
//!   - A mirror rule has the step's matches (path, method, headers), the weighted backends with the current
//!     weights, and a `RequestMirror` filter to the canary Service with `percent`.
//!
//! Managed rules are recognised by rule `name`, a Standard field since Gateway API v1.4 (v1.2-1.3: experimental
//! channel). With CRDs that prune `name`, weights work but header and mirror routes cannot be kept: when a managed
//! rule comes back without its name, rendering fails with an error that says so (`InvalidSpec`), instead of adding
//! the rule again on every reconcile.

use serin_api::rollout::steps::{RouteMatch, StringMatcher};
use serin_api::rollout::traffic_routing::{GATEWAY_API_PLUGIN, GatewayApiTrafficRouting, RolloutTrafficRouting};

use super::object::{
    HttpBackendRef, HttpHeaderMatch, HttpPathMatch, HttpRequestMirror, HttpRoute, HttpRouteFilter, HttpRouteMatch, HttpRouteRule,
};
use super::{Capabilities, Desired, RouteError, RouterKind, RouterObjects, RouterWrite, by_name, patch_between};

/// Header and mirror routes are both supported.
pub const CAPABILITIES: Capabilities = Capabilities { header_routes: true, mirror_routes: true };

/// The Gateway API configuration of a Rollout, from the native field or the plugin's, with the field path it came
/// from; `Err` when the plugin configuration does not parse.
pub fn config(routing: &RolloutTrafficRouting) -> Option<Result<(GatewayApiTrafficRouting, String), RouteError>> {
    const BASE: &str = "spec.strategy.canary.trafficRouting";
    if let Some(native) = &routing.gateway_api {
        return Some(Ok((native.clone(), format!("{BASE}.gatewayAPI"))));
    }
    let plugin = routing.plugins.get(GATEWAY_API_PLUGIN)?;
    let path = format!("{BASE}.plugins[\"{GATEWAY_API_PLUGIN}\"]");
    Some(
        serde_json::from_value::<GatewayApiTrafficRouting>(plugin.clone())
            .map(|config| (config, path.clone()))
            .map_err(|err| RouteError::new(path, format!("invalid Gateway API plugin configuration: {err}"))),
    )
}

/// The HTTPRoutes of a configuration: `(name, header routes enabled, field path)`.
pub fn routes<'c>(config: &'c GatewayApiTrafficRouting, path: &str) -> Vec<(&'c str, bool, String)> {
    let mut routes = Vec::new();
    if let Some(name) = config.http_route.as_deref() {
        routes.push((name, true, format!("{path}.httpRoute")));
    }
    for (i, route) in config.http_routes.iter().enumerate() {
        routes.push((route.name.as_str(), route.use_header_routes.unwrap_or(false), format!("{path}.httpRoutes[{i}].name")));
    }
    routes
}

/// Checks a configuration that needs no cluster objects: at least one route, the Rollout's own namespace.
pub fn validate(config: &GatewayApiTrafficRouting, path: &str, namespace: &str) -> Result<(), RouteError> {
    if routes(config, path).is_empty() {
        return Err(RouteError::new(format!("{path}.httpRoute"), "one of httpRoute or httpRoutes is required"));
    }
    let listed = routes(config, path);
    for (i, (name, _, at)) in listed.iter().enumerate() {
        if listed[..i].iter().any(|(other, _, _)| other == name) {
            return Err(RouteError::new(at.clone(), format!("HTTPRoute {name:?} is listed twice")));
        }
    }
    if let Some(ns) = config.namespace.as_deref().filter(|ns| !ns.is_empty() && *ns != namespace) {
        return Err(RouteError::new(
            format!("{path}.namespace"),
            format!("HTTPRoutes must be in the Rollout's namespace {namespace:?}, not {ns:?}"),
        ));
    }
    Ok(())
}

/// The writes that bring every configured HTTPRoute to `desired`.
pub fn plan(
    config: &GatewayApiTrafficRouting,
    objects: &RouterObjects<'_>,
    desired: &Desired<'_>,
    path: &str,
) -> Result<Vec<RouterWrite>, RouteError> {
    let mut writes = Vec::new();
    for (name, header_routes, at) in routes(config, path) {
        let Some(route) = by_name(objects.http_routes, name) else {
            return Err(RouteError::missing(at, RouterKind::HttpRoute, name, objects));
        };
        let rendered = render_http_route(route, header_routes, desired, &at)?;
        writes.extend(patch_between(
            RouterKind::HttpRoute,
            name,
            route.metadata.resource_version.as_deref().unwrap_or_default(),
            route,
            &rendered,
        ));
    }
    Ok(writes)
}

/// `route` as it must be: weights of the weighted rules set, managed rules as in `desired` (only when
/// `header_routes`; otherwise any managed rule is removed). `path` names the route in errors.
pub fn render_http_route(route: &HttpRoute, header_routes: bool, desired: &Desired<'_>, path: &str) -> Result<HttpRoute, RouteError> {
    let route_name = route.metadata.name.as_deref().unwrap_or_default();
    let mut out = route.clone();
    let rules = out.spec.rules.take().unwrap_or_default();
    let is_managed = |rule: &HttpRouteRule| rule.name.as_deref().is_some_and(|n| desired.managed_routes.contains(&n));
    // Where each managed rule currently is, so rules in force are rewritten in place (another Rollout's managed
    // rules in a shared HTTPRoute keep their positions: no reordering war between two Rollouts).
    let managed_positions: Vec<(usize, String)> =
        rules.iter().enumerate().filter(|(_, rule)| is_managed(rule)).map(|(i, rule)| (i, rule.name.clone().unwrap_or_default())).collect();
    let mut kept: Vec<HttpRouteRule> = rules.into_iter().filter(|rule| !is_managed(rule)).collect();
    let mut weighted = Vec::new();
    for (i, rule) in kept.iter_mut().enumerate() {
        let Some(refs) = rule.backend_refs.as_mut() else { continue };
        let has_canary = refs.iter().any(|b| b.is_service(desired.canary_service));
        let has_stable = refs.iter().any(|b| b.is_service(desired.stable_service));
        if !(has_canary && has_stable) {
            continue;
        }
        for backend in refs.iter_mut() {
            if backend.is_service(desired.canary_service) {
                backend.weight = Some(desired.weight);
            } else if backend.is_service(desired.stable_service) {
                backend.weight = Some(desired.stable_weight());
            }
        }
        weighted.push(i);
    }
    if weighted.is_empty() {
        return Err(RouteError::new(
            path,
            format!(
                "HTTPRoute {route_name:?} has no rule with backendRefs to both the stable Service {:?} and the canary Service {:?}",
                desired.stable_service, desired.canary_service
            ),
        ));
    }
    if header_routes {
        let managed = managed_rules(&kept, &weighted, desired);
        // A managed rule already present without its name: the installed CRD prunes `rules[].name`, so the rule
        // could never be recognised again and would be added on every reconcile.
        for rule in &managed {
            let unnamed = HttpRouteRule { name: None, ..rule.clone() };
            if kept.contains(&unnamed) {
                return Err(RouteError::new(
                    path,
                    format!(
                        "HTTPRoute {route_name:?} lost the name of managed rule {:?}: the installed HTTPRoute CRD prunes rules[].name \
                         (Gateway API v1.4+ standard, or the experimental channel since v1.2, keeps it); remove the unnamed rule and upgrade the CRDs",
                        rule.name.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        // Rules already present go back where they were (relative to the user's rules), new ones at the end.
        let mut fresh = Vec::new();
        let mut placed: Vec<(usize, HttpRouteRule)> = Vec::new();
        for rule in managed {
            let name = rule.name.clone().unwrap_or_default();
            match managed_positions.iter().find(|(_, n)| *n == name) {
                Some((at, _)) => placed.push((*at, rule)),
                None => fresh.push(rule),
            }
        }
        placed.sort_by_key(|(at, _)| *at);
        for (at, rule) in placed {
            kept.insert(at.min(kept.len()), rule);
        }
        // A new rule goes before the first of our managed rules that comes after it in managedRoutes, so ours stay
        // in managedRoutes order; otherwise at the end.
        let rank =
            |rule: &HttpRouteRule| desired.managed_routes.iter().position(|n| rule.name.as_deref() == Some(*n)).unwrap_or(usize::MAX);
        for rule in fresh {
            let own = |r: &HttpRouteRule| rank(r) != usize::MAX;
            let at = kept.iter().position(|r| own(r) && rank(r) > rank(&rule)).unwrap_or(kept.len());
            kept.insert(at, rule);
        }
    }
    out.spec.rules = Some(kept);
    Ok(out)
}

/// The header and mirror rules in force, in `managedRoutes` order.
fn managed_rules(rules: &[HttpRouteRule], weighted: &[usize], desired: &Desired<'_>) -> Vec<HttpRouteRule> {
    let Some(&first) = weighted.first() else { return Vec::new() };
    let template = &rules[first];
    let canary_ref = template.backend_refs.iter().flatten().find(|b| b.is_service(desired.canary_service)).cloned().unwrap_or_default();
    // The header rule's only backend, with the weight the HTTPRoute CRD would default it to (so an idle Rollout
    // finds nothing to change); the mirror filter's reference has no weight.
    let canary_backend = HttpBackendRef { weight: Some(1), ..canary_ref };
    let mirror_backend = HttpBackendRef { weight: None, ..canary_backend.clone() };
    let mut out = Vec::new();
    for name in &desired.managed_routes {
        if let Some(header) = desired.header_routes.iter().find(|h| h.name == *name) {
            let conditions: Vec<HttpHeaderMatch> =
                header.matches.iter().filter_map(|m| header_match(&m.header_name, &m.header_value)).collect();
            let mut matches = Vec::new();
            for &i in weighted {
                let base = rules[i].matches.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| vec![HttpRouteMatch::default()]);
                for mut m in base {
                    let mut headers = m.headers.take().unwrap_or_default();
                    headers.extend(conditions.iter().cloned());
                    m.headers = Some(headers);
                    if m.path.is_none() {
                        m.path = Some(HttpPathMatch { type_: Some("PathPrefix".to_owned()), value: Some("/".to_owned()) });
                    }
                    if !matches.contains(&m) {
                        matches.push(m);
                    }
                }
            }
            out.push(HttpRouteRule {
                name: Some((*name).to_owned()),
                matches: Some(matches),
                backend_refs: Some(vec![canary_backend.clone()]),
                ..HttpRouteRule::default()
            });
        } else if let Some(mirror) = desired.mirror_routes.iter().find(|m| m.name == *name) {
            out.push(HttpRouteRule {
                name: Some((*name).to_owned()),
                matches: Some(mirror.matches.iter().map(mirror_match).collect()),
                filters: Some(vec![HttpRouteFilter {
                    type_: "RequestMirror".to_owned(),
                    request_mirror: Some(HttpRequestMirror {
                        backend_ref: mirror_backend.clone(),
                        percent: mirror.percentage,
                        rest: serde_json::Map::new(),
                    }),
                    rest: serde_json::Map::new(),
                }]),
                backend_refs: template.backend_refs.clone(),
                ..HttpRouteRule::default()
            });
        }
    }
    out
}

/// A Gateway API header match for a Rollout header condition.
fn header_match(name: &str, value: &serin_api::rollout::steps::StringMatch) -> Option<HttpHeaderMatch> {
    let (type_, value) = string_match(value)?;
    Some(HttpHeaderMatch { type_: Some(type_.to_owned()), name: name.to_owned(), value })
}

/// `(Exact | RegularExpression, value)` for a Rollout string match; a prefix becomes an anchored expression.
fn string_match(value: &serin_api::rollout::steps::StringMatch) -> Option<(&'static str, String)> {
    Some(match value.matcher()? {
        StringMatcher::Exact(v) => ("Exact", v.to_owned()),
        StringMatcher::Prefix(v) => ("RegularExpression", format!("^{}.*", regex::escape(v))),
        StringMatcher::Regex(v) => ("RegularExpression", v.to_owned()),
    })
}

/// A Gateway API match for a `setMirrorRoute` match.
fn mirror_match(m: &RouteMatch) -> HttpRouteMatch {
    let path = m.path.as_ref().and_then(serin_api::rollout::steps::StringMatch::matcher).map(|p| match p {
        StringMatcher::Exact(v) => HttpPathMatch { type_: Some("Exact".to_owned()), value: Some(v.to_owned()) },
        StringMatcher::Prefix(v) => HttpPathMatch { type_: Some("PathPrefix".to_owned()), value: Some(v.to_owned()) },
        StringMatcher::Regex(v) => HttpPathMatch { type_: Some("RegularExpression".to_owned()), value: Some(v.to_owned()) },
    });
    let method = m.method.as_ref().and_then(|p| p.exact.clone());
    let headers: Vec<HttpHeaderMatch> = m.headers.iter().filter_map(|(name, value)| header_match(name, value)).collect();
    HttpRouteMatch {
        path: Some(path.unwrap_or(HttpPathMatch { type_: Some("PathPrefix".to_owned()), value: Some("/".to_owned()) })),
        headers: (!headers.is_empty()).then_some(headers),
        method,
        rest: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use serin_api::rollout::steps::{HeaderRoutingMatch, StringMatch};

    use super::*;
    use crate::traffic::{HeaderRoute, MirrorRoute};

    fn route(rules: serde_json::Value) -> HttpRoute {
        serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["web.example"], "rules": rules},
            "status": {"parents": []}
        }))
        .expect("fixture parses")
    }

    fn basic() -> HttpRoute {
        route(json!([{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "timeouts": {"request": "10s"},
            "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100}, {"name": "web-canary", "port": 80, "weight": 0}]
        }]))
    }

    fn desired(weight: i32) -> Desired<'static> {
        Desired {
            rollout: "web",
            canary_service: "web-canary",
            stable_service: "web-stable",
            canary_hash: "c1",
            stable_hash: "s1",
            weight,
            max_weight: 100,
            managed_routes: vec!["beta", "shadow"],
            header_routes: Vec::new(),
            mirror_routes: Vec::new(),
            owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference::default(),
        }
    }

    fn weights(route: &HttpRoute, rule: usize) -> Vec<(String, Option<i32>)> {
        route.spec.rules.as_ref().expect("rules")[rule].backend_refs.iter().flatten().map(|b| (b.name.clone(), b.weight)).collect()
    }

    fn header(value: StringMatch) -> &'static [HeaderRoutingMatch] {
        Box::leak(Box::new([HeaderRoutingMatch { header_name: "X-Canary".to_owned(), header_value: value }]))
    }

    fn exact(v: &str) -> StringMatch {
        StringMatch { exact: Some(v.to_owned()), ..StringMatch::default() }
    }

    #[test]
    fn sets_weights_and_keeps_everything_else() {
        let out = render_http_route(&basic(), true, &desired(25), "p").expect("renders");
        assert_eq!(weights(&out, 0), vec![("web-stable".to_owned(), Some(75)), ("web-canary".to_owned(), Some(25))]);
        let json = serde_json::to_value(&out).expect("serialises");
        assert_eq!(json["spec"]["rules"][0]["timeouts"], json!({"request": "10s"}));
        assert_eq!(json["spec"]["parentRefs"], json!([{"name": "gw"}]));
        assert_eq!(json["status"], json!({"parents": []}));
    }

    #[test]
    fn max_weight_is_the_total() {
        let mut d = desired(5);
        d.max_weight = 1000;
        let out = render_http_route(&basic(), true, &d, "p").expect("renders");
        assert_eq!(weights(&out, 0), vec![("web-stable".to_owned(), Some(995)), ("web-canary".to_owned(), Some(5))]);
    }

    #[test]
    fn only_rules_with_both_services_are_weighted() {
        let r = route(json!([
            {"matches": [{"path": {"value": "/api"}}], "backendRefs": [{"name": "web-stable", "weight": 1}, {"name": "web-canary"}]},
            {"matches": [{"path": {"value": "/static"}}], "backendRefs": [{"name": "cdn", "weight": 3}]},
            {"backendRefs": [{"name": "web-stable"}, {"name": "web-canary"}, {"name": "extra", "weight": 7}]}
        ]));
        let out = render_http_route(&r, false, &desired(40), "p").expect("renders");
        assert_eq!(weights(&out, 0), vec![("web-stable".to_owned(), Some(60)), ("web-canary".to_owned(), Some(40))]);
        assert_eq!(weights(&out, 1), vec![("cdn".to_owned(), Some(3))]);
        assert_eq!(weights(&out, 2)[2], ("extra".to_owned(), Some(7)));
    }

    #[test]
    fn a_route_without_both_services_is_an_error_naming_the_path() {
        let r = route(json!([{"backendRefs": [{"name": "web-stable"}]}]));
        let err = render_http_route(&r, true, &desired(10), "spec.x.httpRoute").expect_err("no weighted rule");
        assert_eq!(err.path, "spec.x.httpRoute");
        assert!(err.message.contains("no rule with backendRefs to both"), "{}", err.message);
    }

    #[test]
    fn backend_in_another_namespace_or_kind_is_not_the_service() {
        let r = route(json!([{"backendRefs": [{"name": "web-stable"}, {"name": "web-canary", "namespace": "other"}]}]));
        assert!(render_http_route(&r, true, &desired(10), "p").is_err());
    }

    #[test]
    fn header_route_adds_a_named_rule_with_the_weighted_matches_and_removes_it_later() {
        let mut d = desired(10);
        d.header_routes = vec![HeaderRoute { name: "beta", matches: header(exact("1")), path: "s".into() }];
        let out = render_http_route(&basic(), true, &d, "p").expect("renders");
        let rules = serde_json::to_value(&out.spec.rules).expect("serialises");
        assert_eq!(
            rules[1],
            json!({
                "name": "beta",
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"type": "Exact", "name": "X-Canary", "value": "1"}]}],
                "backendRefs": [{"name": "web-canary", "port": 80, "weight": 1}]
            })
        );
        // Idempotent, and gone once no longer in force.
        assert_eq!(render_http_route(&out, true, &d, "p").expect("renders"), out);
        let removed = render_http_route(&out, true, &desired(10), "p").expect("renders");
        assert_eq!(removed.spec.rules.as_ref().map(Vec::len), Some(1));
        assert_eq!(removed, render_http_route(&basic(), true, &desired(10), "p").expect("renders"));
    }

    #[test]
    fn header_prefix_and_regex_become_regular_expressions() {
        for (value, expected) in [
            (
                StringMatch { prefix: Some("v1.".to_owned()), ..StringMatch::default() },
                json!({"type": "RegularExpression", "name": "X-Canary", "value": "^v1\\..*"}),
            ),
            (
                StringMatch { regex: Some("a|b".to_owned()), ..StringMatch::default() },
                json!({"type": "RegularExpression", "name": "X-Canary", "value": "a|b"}),
            ),
        ] {
            let mut d = desired(0);
            d.header_routes = vec![HeaderRoute { name: "beta", matches: header(value), path: "s".into() }];
            let out = serde_json::to_value(render_http_route(&basic(), true, &d, "p").expect("renders")).expect("json");
            assert_eq!(out["spec"]["rules"][1]["matches"][0]["headers"][0], expected);
        }
    }

    #[test]
    fn a_pruned_rule_name_is_an_error_not_a_rule_per_reconcile() {
        let mut d = desired(10);
        d.header_routes = vec![HeaderRoute { name: "beta", matches: header(exact("1")), path: "s".into() }];
        let mut out = render_http_route(&basic(), true, &d, "p").expect("renders");
        out.spec.rules.as_mut().expect("rules")[1].name = None;
        let err = render_http_route(&out, true, &d, "p").expect_err("pruned");
        assert!(err.message.contains("prunes rules[].name"), "{}", err.message);
    }

    #[test]
    fn managed_rules_keep_their_place_so_two_rollouts_sharing_a_route_do_not_reorder_each_other() {
        // Another Rollout's header rule ("other") sits after ours; re-rendering ours must not move it.
        let mut d = desired(10);
        d.header_routes = vec![HeaderRoute { name: "beta", matches: header(exact("1")), path: "s".into() }];
        let mut ours = render_http_route(&basic(), true, &d, "p").expect("renders");
        ours.spec.rules.as_mut().expect("rules").push(HttpRouteRule { name: Some("other".into()), ..HttpRouteRule::default() });
        let again = render_http_route(&ours, true, &d, "p").expect("renders");
        assert_eq!(again, ours, "no change, no reordering");
    }

    #[test]
    fn a_route_listed_twice_is_an_error() {
        let config = GatewayApiTrafficRouting {
            http_route: Some("web".into()),
            http_routes: vec![serin_api::rollout::traffic_routing::GatewayApiHttpRoute {
                name: "web".into(),
                use_header_routes: Some(false),
            }],
            ..GatewayApiTrafficRouting::default()
        };
        let err = validate(&config, "p", "ns").expect_err("duplicate");
        assert_eq!(err.path, "p.httpRoutes[0].name");
    }

    #[test]
    fn header_routes_only_where_enabled() {
        let mut d = desired(10);
        d.header_routes = vec![HeaderRoute { name: "beta", matches: header(exact("1")), path: "s".into() }];
        let out = render_http_route(&basic(), false, &d, "p").expect("renders");
        assert_eq!(out.spec.rules.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn mirror_route_copies_weighted_backends_and_mirrors_to_canary() {
        let mut d = desired(20);
        let matches: &'static [RouteMatch] = Box::leak(Box::new([RouteMatch {
            method: Some(exact("GET")),
            path: Some(StringMatch { prefix: Some("/api".to_owned()), ..StringMatch::default() }),
            headers: std::collections::BTreeMap::new(),
        }]));
        d.mirror_routes = vec![MirrorRoute { name: "shadow", matches, percentage: Some(35), path: "s".into() }];
        d.header_routes = vec![HeaderRoute { name: "beta", matches: header(exact("1")), path: "s".into() }];
        let out = serde_json::to_value(render_http_route(&basic(), true, &d, "p").expect("renders")).expect("json");
        let rules = out["spec"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[1]["name"], "beta", "managedRoutes order");
        assert_eq!(
            rules[2],
            json!({
                "name": "shadow",
                "matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET"}],
                "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-canary", "port": 80}, "percent": 35}}],
                "backendRefs": [{"name": "web-stable", "port": 80, "weight": 80}, {"name": "web-canary", "port": 80, "weight": 20}]
            })
        );
    }

    #[test]
    fn a_user_rule_edited_back_is_rendered_once_and_unchanged_after() {
        let mut edited = render_http_route(&basic(), true, &desired(30), "p").expect("renders");
        edited.spec.rules.as_mut().expect("rules")[0].backend_refs.as_mut().expect("refs")[1].weight = Some(90);
        let fixed = render_http_route(&edited, true, &desired(30), "p").expect("renders");
        assert_eq!(weights(&fixed, 0)[1], ("web-canary".to_owned(), Some(30)));
        assert_eq!(render_http_route(&fixed, true, &desired(30), "p").expect("renders"), fixed);
    }

    #[test]
    fn plan_patches_only_what_changed_pinned_to_the_resource_version() {
        let routes = [Arc::new(basic())];
        let objects = RouterObjects { http_routes: &routes, ..RouterObjects::default() };
        let config = GatewayApiTrafficRouting { http_route: Some("web".to_owned()), ..GatewayApiTrafficRouting::default() };
        let writes = plan(&config, &objects, &desired(0), "p").expect("plans");
        assert!(writes.is_empty(), "already at 0: {writes:?}");
        let writes = plan(&config, &objects, &desired(5), "p").expect("plans");
        let [RouterWrite::Patch { kind, name, patch }] = writes.as_slice() else { panic!("one patch: {writes:?}") };
        assert_eq!((*kind, name.as_str()), (RouterKind::HttpRoute, "web"));
        assert_eq!(
            patch,
            &json!([
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 95},
                {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 5}
            ])
        );
    }

    #[test]
    fn missing_route_names_the_field_and_the_unserved_api() {
        let config = GatewayApiTrafficRouting {
            http_routes: vec![serin_api::rollout::traffic_routing::GatewayApiHttpRoute {
                name: "nope".to_owned(),
                use_header_routes: None,
            }],
            ..GatewayApiTrafficRouting::default()
        };
        let err = plan(&config, &RouterObjects::default(), &desired(5), "p").expect_err("missing");
        assert_eq!(err.path, "p.httpRoutes[0].name");
        assert!(err.message.contains("not found"), "{}", err.message);
        let unserved = [RouterKind::HttpRoute];
        let objects = RouterObjects { unserved: &unserved, ..RouterObjects::default() };
        let err = plan(&config, &objects, &desired(5), "p").expect_err("unserved");
        assert!(err.message.contains("is its CRD installed"), "{}", err.message);
    }

    #[test]
    fn plugin_configuration_is_read_as_the_native_form() {
        let routing: RolloutTrafficRouting = serde_json::from_value(json!({
            "plugins": {"argoproj-labs/gatewayAPI": {"httpRoutes": [{"name": "a", "useHeaderRoutes": true}], "namespace": "ns"}}
        }))
        .expect("parses");
        let (config, path) = super::config(&routing).expect("configured").expect("valid");
        assert_eq!(path, "spec.strategy.canary.trafficRouting.plugins[\"argoproj-labs/gatewayAPI\"]");
        assert_eq!(routes(&config, &path), vec![("a", true, format!("{path}.httpRoutes[0].name"))]);
        assert!(validate(&config, &path, "ns").is_ok());
        assert_eq!(validate(&config, &path, "other").expect_err("namespace").path, format!("{path}.namespace"));
        let bad: RolloutTrafficRouting =
            serde_json::from_value(json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoutes": "x"}}})).expect("parses");
        assert!(super::config(&bad).expect("configured").is_err());
    }
}

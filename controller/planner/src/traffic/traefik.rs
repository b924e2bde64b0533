//! Traefik router (`trafficRouting.traefik`): the weights of a weighted round-robin `TraefikService`.
//!
//! Contract: pure, like every router (see [`super`]). The `TraefikService` named by `weightedTraefikServiceName`
//! lists the canary and stable Services under `spec.weighted.services`; the Rollout sets their two `weight`s
//! (canary `weight`, stable `max_weight - weight`) and nothing else: other entries, their `port`, `sticky` and
//! every other field stay as observed. A weighted round-robin has no request matching, so neither header nor
//! mirror routes can be expressed.

use serin_api::rollout::traffic_routing::TraefikTrafficRouting;

use super::object::{Named, TraefikWeightedService};
use super::{Capabilities, Desired, RouteError, RouterKind, RouterObjects, RouterWrite, TraefikService, by_name, patch_between};

/// What the Traefik router can express: weights only.
pub const CAPABILITIES: Capabilities = Capabilities { header_routes: false, mirror_routes: false };

/// The write that brings the weighted `TraefikService` of `config` to `desired`'s weights: a pinned patch, or nothing
/// when the weights are already right.
///
/// `path` is the field path of `config` (`spec.strategy.canary.trafficRouting.traefik`); a `TraefikService` that does
/// not exist, or lacks the canary or stable Service, is reported at `{path}.weightedTraefikServiceName`.
pub fn plan(
    config: &TraefikTrafficRouting,
    objects: &RouterObjects<'_>,
    desired: &Desired<'_>,
    path: &str,
) -> Result<Vec<RouterWrite>, RouteError> {
    let name = config.weighted_traefik_service_name.as_str();
    let observed = by_name(objects.traefik_services, name)
        .ok_or_else(|| RouteError::missing(format!("{path}.weightedTraefikServiceName"), RouterKind::TraefikService, name, objects))?;
    let rendered = render_traefik_service(observed, desired, path)?;
    Ok(patch_between(RouterKind::TraefikService, name, observed.resource_version(), observed, &rendered).into_iter().collect())
}

/// `ts` with the canary Service's entry in `spec.weighted.services` weighted `desired.weight` and the stable
/// Service's `desired.stable_weight()`; everything else unchanged.
///
/// Only entries naming a Service (no `kind`, or `kind: Service`) count: a nested `TraefikService` of the same name is
/// another object. A `TraefikService` without `spec.weighted`, or without an entry for either Service, is an error
/// at `{path}.weightedTraefikServiceName`.
pub fn render_traefik_service(ts: &TraefikService, desired: &Desired<'_>, path: &str) -> Result<TraefikService, RouteError> {
    let mut rendered = ts.clone();
    let services: &mut [TraefikWeightedService] =
        rendered.spec.weighted.as_mut().and_then(|weighted| weighted.services.as_deref_mut()).unwrap_or_default();
    for (service, weight) in [(desired.canary_service, desired.weight), (desired.stable_service, desired.stable_weight())] {
        let mut found = false;
        for entry in services.iter_mut().filter(|entry| is_service(entry, service)) {
            entry.weight = Some(weight);
            found = true;
        }
        if !found {
            return Err(RouteError::new(
                format!("{path}.weightedTraefikServiceName"),
                format!("TraefikService {} has no weighted service {service}", ts.name()),
            ));
        }
    }
    Ok(rendered)
}

/// Whether `entry` is the Service `name` (not a nested `TraefikService`).
fn is_service(entry: &TraefikWeightedService, name: &str) -> bool {
    entry.name == name && entry.kind.as_deref().is_none_or(|kind| kind == "Service")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use serde_json::{Value, json};

    use super::*;

    const PATH: &str = "spec.strategy.canary.trafficRouting.traefik";

    fn desired(weight: i32) -> Desired<'static> {
        Desired {
            rollout: "shop",
            canary_service: "shop-canary",
            stable_service: "shop-stable",
            canary_hash: "abc",
            stable_hash: "def",
            weight,
            max_weight: 100,
            managed_routes: vec![],
            header_routes: vec![],
            mirror_routes: vec![],
            owner: OwnerReference::default(),
        }
    }

    fn config() -> TraefikTrafficRouting {
        TraefikTrafficRouting { weighted_traefik_service_name: "shop-wrr".into() }
    }

    fn traefik_service(services: &Value) -> TraefikService {
        serde_json::from_value(json!({
            "apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
            "metadata": {"name": "shop-wrr", "namespace": "prod", "resourceVersion": "12"},
            "spec": {"weighted": {
                "services": services,
                "sticky": {"cookie": {"name": "lvl", "secure": true, "sameSite": "none"}},
            }},
        }))
        .unwrap()
    }

    fn wrr() -> TraefikService {
        traefik_service(&json!([
            {"name": "shop-stable", "port": 80, "weight": 100, "passHostHeader": true},
            {"name": "shop-canary", "port": 80},
            {"name": "shop-canary", "kind": "TraefikService", "weight": 7},
            {"name": "legacy", "port": 8080, "weight": 3},
        ]))
    }

    fn run(ts: &TraefikService, desired: &Desired<'_>) -> Result<Vec<RouterWrite>, RouteError> {
        let traefik_services = [Arc::new(ts.clone())];
        plan(&config(), &RouterObjects { traefik_services: &traefik_services, ..RouterObjects::default() }, desired, PATH)
    }

    #[test]
    fn sets_canary_and_stable_weights() {
        let rendered = render_traefik_service(&wrr(), &desired(30), PATH).unwrap();
        let json = serde_json::to_value(&rendered).unwrap();
        assert_eq!(
            json["spec"]["weighted"]["services"],
            json!([
                {"name": "shop-stable", "port": 80, "weight": 70, "passHostHeader": true},
                {"name": "shop-canary", "port": 80, "weight": 30},
                {"name": "shop-canary", "kind": "TraefikService", "weight": 7},
                {"name": "legacy", "port": 8080, "weight": 3},
            ])
        );
    }

    #[test]
    fn plan_patches_only_the_weights() {
        let writes = run(&wrr(), &desired(30)).unwrap();
        let [RouterWrite::Patch { kind: RouterKind::TraefikService, name, patch }] = writes.as_slice() else { panic!("{writes:?}") };
        assert_eq!(name, "shop-wrr");
        let ops = patch.as_array().unwrap();
        assert_eq!(ops[0], json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "12"}));
        let mut changed: Vec<_> = ops[1..].iter().map(|op| (op["path"].as_str().unwrap(), op["value"].clone())).collect();
        changed.sort_by_key(|(path, _)| *path);
        assert_eq!(changed, [("/spec/weighted/services/0/weight", json!(70)), ("/spec/weighted/services/1/weight", json!(30))]);
    }

    #[test]
    fn unknown_fields_are_preserved() {
        let rendered = render_traefik_service(&wrr(), &desired(100), PATH).unwrap();
        let before = serde_json::to_value(wrr()).unwrap();
        let after = serde_json::to_value(&rendered).unwrap();
        assert_eq!(after["spec"]["weighted"]["sticky"], before["spec"]["weighted"]["sticky"]);
        assert_eq!(after["spec"]["weighted"]["services"][0]["passHostHeader"], json!(true));
        assert_eq!(after["spec"]["weighted"]["services"][1]["port"], json!(80));
        assert_eq!(after["spec"]["weighted"]["services"][0]["weight"], json!(0));
        assert_eq!(after["metadata"], before["metadata"]);
    }

    #[test]
    fn rendering_is_idempotent() {
        let once = render_traefik_service(&wrr(), &desired(45), PATH).unwrap();
        assert_eq!(render_traefik_service(&once, &desired(45), PATH).unwrap(), once);
        assert_eq!(run(&once, &desired(45)).unwrap(), []);
    }

    #[test]
    fn missing_weighted_service_is_an_error() {
        let no_canary = traefik_service(&json!([
            {"name": "shop-stable", "port": 80},
            {"name": "shop-canary", "kind": "TraefikService"},
        ]));
        let error = run(&no_canary, &desired(10)).unwrap_err();
        assert_eq!(
            error,
            RouteError::new(format!("{PATH}.weightedTraefikServiceName"), "TraefikService shop-wrr has no weighted service shop-canary")
        );

        let no_stable = traefik_service(&json!([{"name": "shop-canary", "port": 80}]));
        let error = run(&no_stable, &desired(10)).unwrap_err();
        assert_eq!(error.message, "TraefikService shop-wrr has no weighted service shop-stable");

        let mut not_weighted = wrr();
        not_weighted.spec.weighted = None;
        let error = run(&not_weighted, &desired(10)).unwrap_err();
        assert_eq!(error.path, format!("{PATH}.weightedTraefikServiceName"));
        assert_eq!(error.message, "TraefikService shop-wrr has no weighted service shop-canary");
    }

    #[test]
    fn missing_traefik_service_is_an_error() {
        let objects = RouterObjects::default();
        let error = plan(&config(), &objects, &desired(10), PATH).unwrap_err();
        assert_eq!(error.path, format!("{PATH}.weightedTraefikServiceName"));
        assert_eq!(error.message, "TraefikService \"shop-wrr\" not found in the Rollout's namespace");

        let unserved = [RouterKind::TraefikService];
        let error = plan(&config(), &RouterObjects { unserved: &unserved, ..objects }, &desired(10), PATH).unwrap_err();
        assert!(error.message.contains("does not serve the TraefikService API"), "{error}");
    }
}

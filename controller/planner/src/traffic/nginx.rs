//! NGINX Ingress router (`trafficRouting.nginx`): a canary Ingress next to each stable Ingress.
//!
//! Contract: pure, like every router (see [`super`]). For each stable Ingress the Rollout names, the controller owns
//! one canary Ingress, `<rollout>-<stableIngress>-canary` (Argo Rollouts' name, so a Rollout migrated from Argo
//! adopts the canary Ingress Argo created). ingress-nginx pairs it with the stable Ingress by host and path and
//! splits traffic by its annotations:
//! - `<prefix>/canary: "true"` and `<prefix>/canary-weight: <weight>` always, `<prefix>/canary-weight-total` when
//!   `trafficRouting.maxTrafficWeight` is set;
//! - a header route in force becomes `<prefix>/canary-by-header` with `-value` (exact) or `-pattern` (prefix,
//!   regex). ingress-nginx evaluates one header per canary Ingress, so at most one header route with one match can
//!   be in force; mirror routes cannot be expressed at all.
//!
//! The canary Ingress's spec and annotations belong to the Rollout: they are rendered from the stable Ingress and
//! the Rollout's configuration alone and replace whatever the object says (so an annotation the Rollout no longer
//! wants, such as a removed header route, disappears). Its other metadata (labels, finalizers, owner references
//! beyond the Rollout's) and its status are carried through. A canary Ingress of that name that the Rollout does
//! not control is never touched: that is a [`RouteError`].

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serin_api::rollout::steps::{HeaderRoutingMatch, StringMatcher};
use serin_api::rollout::traffic_routing::NginxTrafficRouting;

use super::object::Named;
use super::{Capabilities, Desired, RouteError, RouterKind, RouterObjects, RouterWrite, by_name, patch_between};

/// What the NGINX router can express: one header route; no mirror routes.
pub const CAPABILITIES: Capabilities = Capabilities { header_routes: true, mirror_routes: false };

/// ingress-nginx's annotation prefix, used when `nginx.annotationPrefix` is not set.
pub const DEFAULT_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// The legacy ingress-class annotation; ingress-nginx needs it on the canary when the stable Ingress uses it.
const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Suffix of the canary Ingress's name.
const CANARY_SUFFIX: &str = "-canary";

/// Longest object name the API server accepts (a DNS subdomain).
const MAX_NAME_LEN: usize = 253;

/// Why a header route cannot be expressed.
const ONE_HEADER_ONLY: &str = "NGINX canary Ingress can route by one header only";

/// Name of the canary Ingress of `stable_ingress`: `<rollout>-<stableIngress>-canary`, with the
/// `<rollout>-<stableIngress>` part cut so the whole name is at most 253 characters (as Argo Rollouts does).
pub fn canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    let mut name = format!("{rollout}-{stable_ingress}");
    let mut end = name.len().min(MAX_NAME_LEN - CANARY_SUFFIX.len());
    // Valid names are ASCII; the loop only keeps an invalid one from panicking.
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name.push_str(CANARY_SUFFIX);
    name
}

/// The writes that bring every canary Ingress of `config` to the state `desired` describes: a `Create` for a canary
/// Ingress that does not exist yet, a pinned patch for one that differs, nothing for one that is right.
///
/// `max_traffic_weight` is `trafficRouting.maxTrafficWeight` as written (it sets `canary-weight-total`); `path` is
/// the field path of `config` (`spec.strategy.canary.trafficRouting.nginx`). Errors (all or nothing: no write is
/// returned with one): neither `stableIngress` nor `stableIngresses` set; a stable Ingress missing or without a
/// backend on the stable Service; a header route NGINX cannot express; a canary Ingress of the name already
/// existing without the Rollout as its controller.
pub fn plan(
    config: &NginxTrafficRouting,
    max_traffic_weight: Option<i32>,
    objects: &RouterObjects<'_>,
    desired: &Desired<'_>,
    path: &str,
) -> Result<Vec<RouterWrite>, RouteError> {
    let mut writes = Vec::new();
    for (field, stable_name) in stable_ingresses(config, path)? {
        let stable = by_name(objects.ingresses, stable_name)
            .ok_or_else(|| RouteError::missing(&field, RouterKind::Ingress, stable_name, objects))?;
        let rendered = render_canary_ingress(stable, config, max_traffic_weight, desired, &field)?;
        let canary_name = rendered.name().to_owned();
        match by_name(objects.ingresses, &canary_name) {
            None => {
                let object = serde_json::to_value(&rendered)
                    .map_err(|e| RouteError::new(&field, format!("canary Ingress {canary_name:?} cannot be serialised: {e}")))?;
                writes.push(RouterWrite::Create { kind: RouterKind::Ingress, object });
            }
            Some(observed) if !controlled_by(observed, desired) => {
                return Err(RouteError::new(
                    field,
                    format!("canary Ingress {canary_name:?} exists and is not owned by Rollout {:?}; rename or delete it", desired.rollout),
                ));
            }
            Some(observed) => {
                let mut after = observed.clone();
                after.metadata.annotations = rendered.metadata.annotations;
                after.spec = rendered.spec;
                writes.extend(patch_between(RouterKind::Ingress, &canary_name, observed.resource_version(), observed, &after));
            }
        }
    }
    Ok(writes)
}

/// The canary Ingress of `stable` as it must be (Argo Rollouts' canary Ingress): named by [`canary_ingress_name`],
/// in the stable's namespace, controlled by the Rollout (`desired.owner`), with the canary annotations described
/// in the module documentation.
///
/// Its spec is the stable's with every backend on `desired.stable_service` (in `rules[].http.paths[]` and
/// `defaultBackend`) moved to `desired.canary_service`; paths, rules and a default backend that do not use the
/// stable Service are left out, so the canary weight applies only where the stable Service serves. `tls` and
/// `ingressClassName` are copied, and the `kubernetes.io/ingress.class` annotation when the stable has it (then
/// without `ingressClassName`, which the API server does not accept next to it on create).
///
/// `path` is the field path that names `stable` (`...nginx.stableIngress` or `...nginx.stableIngresses[1]`), where
/// a stable Ingress without a backend on the stable Service is reported; header-route errors are reported at the
/// route's own path.
pub fn render_canary_ingress(
    stable: &Ingress,
    config: &NginxTrafficRouting,
    max_traffic_weight: Option<i32>,
    desired: &Desired<'_>,
    path: &str,
) -> Result<Ingress, RouteError> {
    let mut spec = canary_spec(stable, desired).ok_or_else(|| {
        RouteError::new(path, format!("ingress {} has no rules using service {} backend", stable.name(), desired.stable_service))
    })?;
    let annotations = canary_annotations(stable, config, max_traffic_weight, desired)?;
    if annotations.contains_key(INGRESS_CLASS_ANNOTATION) {
        // The API server refuses to create an Ingress with both the annotation and the field (a stable Ingress can
        // only have both through an update); ingress-nginx reads the annotation first, so it is the one kept.
        spec.ingress_class_name = None;
    }
    Ok(Ingress {
        metadata: ObjectMeta {
            name: Some(canary_ingress_name(desired.rollout, stable.name())),
            namespace: stable.metadata.namespace.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![desired.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// The stable Ingresses, each with the field path that names it: `stableIngress` first, then `stableIngresses`,
/// each name once.
fn stable_ingresses<'c>(config: &'c NginxTrafficRouting, path: &str) -> Result<Vec<(String, &'c str)>, RouteError> {
    let single = config.stable_ingress.as_deref().map(|name| (format!("{path}.stableIngress"), name));
    let listed = config.stable_ingresses.iter().enumerate().map(|(i, name)| (format!("{path}.stableIngresses[{i}]"), name.as_str()));
    let mut seen = BTreeSet::new();
    let ingresses: Vec<_> = single.into_iter().chain(listed).filter(|(_, name)| seen.insert(*name)).collect();
    if ingresses.is_empty() {
        return Err(RouteError::new(format!("{path}.stableIngress"), "one of stableIngress or stableIngresses must be set"));
    }
    Ok(ingresses)
}

/// Whether the Rollout (`desired.owner`) is the controller of `ingress`.
fn controlled_by(ingress: &Ingress, desired: &Desired<'_>) -> bool {
    ingress.metadata.owner_references.iter().flatten().any(|owner| owner.controller == Some(true) && owner.uid == desired.owner.uid)
}

/// The stable's spec moved to the canary Service, or `None` when no backend of the stable uses the stable Service.
fn canary_spec(stable: &Ingress, desired: &Desired<'_>) -> Option<IngressSpec> {
    let spec = stable.spec.as_ref()?;
    let to_canary = |backend: &IngressBackend| {
        let service = backend.service.as_ref().filter(|service| service.name == desired.stable_service)?;
        let service = IngressServiceBackend { name: desired.canary_service.to_owned(), ..service.clone() };
        Some(IngressBackend { service: Some(service), ..backend.clone() })
    };
    let rules: Vec<IngressRule> = spec
        .rules
        .iter()
        .flatten()
        .filter_map(|rule| {
            let paths: Vec<_> = rule
                .http
                .iter()
                .flat_map(|http| &http.paths)
                .filter_map(|path| Some(HTTPIngressPath { backend: to_canary(&path.backend)?, ..path.clone() }))
                .collect();
            (!paths.is_empty()).then(|| IngressRule { http: Some(HTTPIngressRuleValue { paths }), ..rule.clone() })
        })
        .collect();
    let default_backend = spec.default_backend.as_ref().and_then(to_canary);
    if rules.is_empty() && default_backend.is_none() {
        return None;
    }
    Some(IngressSpec { default_backend, rules: (!rules.is_empty()).then_some(rules), ..spec.clone() })
}

/// The canary Ingress's annotations.
///
/// Precedence, lowest first: the copied ingress class; `additionalIngressAnnotations` (under the prefix);
/// `canaryIngressAnnotations` (verbatim); `canary`, `canary-weight` and `canary-weight-total`, which the controller
/// always decides (as in Argo Rollouts, a user annotation cannot pin the weight); the header route in force.
fn canary_annotations(
    stable: &Ingress,
    config: &NginxTrafficRouting,
    max_traffic_weight: Option<i32>,
    desired: &Desired<'_>,
) -> Result<BTreeMap<String, String>, RouteError> {
    let prefix = config.annotation_prefix.as_deref().unwrap_or(DEFAULT_ANNOTATION_PREFIX);
    let key = |name: &str| format!("{prefix}/{name}");
    let mut annotations = BTreeMap::new();
    if let Some(class) = stable.metadata.annotations.as_ref().and_then(|a| a.get(INGRESS_CLASS_ANNOTATION)) {
        annotations.insert(INGRESS_CLASS_ANNOTATION.to_owned(), class.clone());
    }
    for (name, value) in &config.additional_ingress_annotations {
        // Argo Rollouts accepts keys written with the prefix already; they are not prefixed twice.
        let full = if name.starts_with(&key("")) { name.clone() } else { key(name) };
        annotations.insert(full, value.clone());
    }
    annotations.extend(config.canary_ingress_annotations.iter().map(|(name, value)| (name.clone(), value.clone())));
    annotations.insert(key("canary"), "true".to_owned());
    annotations.insert(key("canary-weight"), desired.weight.to_string());
    if let Some(total) = max_traffic_weight {
        annotations.insert(key("canary-weight-total"), total.to_string());
    }
    if let Some((route_path, header)) = header_match(desired)? {
        let condition = header
            .header_value
            .matcher()
            .ok_or_else(|| RouteError::new(format!("{route_path}.match[0].headerValue"), "set exactly one of exact, prefix and regex"))?;
        // ingress-nginx ignores `-pattern` when `-value` is set, so neither may linger from other annotations.
        annotations.remove(&key("canary-by-header-value"));
        annotations.remove(&key("canary-by-header-pattern"));
        annotations.insert(key("canary-by-header"), header.header_name.clone());
        let (name, value) = match condition {
            StringMatcher::Exact(exact) => ("canary-by-header-value", exact.to_owned()),
            StringMatcher::Prefix(prefix) => ("canary-by-header-pattern", format!("^{}.*", regex::escape(prefix))),
            StringMatcher::Regex(regex) => ("canary-by-header-pattern", regex.to_owned()),
        };
        annotations.insert(key(name), value);
    }
    Ok(annotations)
}

/// The single header condition in force (with the path of the step that set it), `None` without a header route;
/// an error when more than one route or condition is in force.
fn header_match<'d>(desired: &'d Desired<'_>) -> Result<Option<(&'d str, &'d HeaderRoutingMatch)>, RouteError> {
    match desired.header_routes.as_slice() {
        [] => Ok(None),
        [route] => match route.matches {
            [] => Ok(None),
            [header] => Ok(Some((&route.path, header))),
            [_, _, ..] => {
                Err(RouteError::new(&route.path, format!("{ONE_HEADER_ONLY}; route {:?} has {} matches", route.name, route.matches.len())))
            }
        },
        [first, second, ..] => Err(RouteError::new(
            &second.path,
            format!("{ONE_HEADER_ONLY}; routes {:?} and {:?} are both in force", first.name, second.name),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use serde_json::{Value, json};
    use serin_api::rollout::steps::{HeaderRoutingMatch, StringMatch};

    use super::*;
    use crate::traffic::HeaderRoute;

    const PATH: &str = "spec.strategy.canary.trafficRouting.nginx";

    fn owner(uid: &str) -> OwnerReference {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "shop",
            "uid": uid, "controller": true, "blockOwnerDeletion": true,
        }))
        .unwrap()
    }

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
            owner: owner("rollout-uid"),
        }
    }

    fn config() -> NginxTrafficRouting {
        NginxTrafficRouting { stable_ingress: Some("web".into()), ..NginxTrafficRouting::default() }
    }

    fn backend(service: &str) -> Value {
        json!({"service": {"name": service, "port": {"number": 80}}})
    }

    /// A stable Ingress `name`: one host with the stable Service on `/` and another Service on `/admin`, and a
    /// second host on another Service only.
    fn stable(name: &str) -> Ingress {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {
                "name": name, "namespace": "prod", "resourceVersion": "40", "uid": "stable-uid",
                "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
            },
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                "rules": [
                    {"host": "shop.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("shop-stable")},
                        {"path": "/admin", "pathType": "Prefix", "backend": backend("admin")},
                    ]}},
                    {"host": "admin.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("admin")},
                    ]}},
                ],
            },
        }))
        .unwrap()
    }

    /// The canary Ingress as the API server returns it after creating `rendered`.
    fn existing(rendered: &Ingress) -> Ingress {
        let mut observed = rendered.clone();
        observed.metadata.resource_version = Some("77".into());
        observed.metadata.uid = Some("canary-uid".into());
        observed.metadata.labels = Some(BTreeMap::from([("team".to_owned(), "shop".to_owned())]));
        observed
    }

    fn run(
        config: &NginxTrafficRouting,
        max: Option<i32>,
        ingresses: &[Arc<Ingress>],
        desired: &Desired<'_>,
    ) -> Result<Vec<RouterWrite>, RouteError> {
        plan(config, max, &RouterObjects { ingresses, ..RouterObjects::default() }, desired, PATH)
    }

    fn render(config: &NginxTrafficRouting, max: Option<i32>, desired: &Desired<'_>) -> Ingress {
        render_canary_ingress(&stable("web"), config, max, desired, "p").unwrap()
    }

    fn annotations(ingress: &Ingress) -> BTreeMap<String, String> {
        ingress.metadata.annotations.clone().unwrap_or_default()
    }

    /// Applies the single patch in `writes` to `observed` and returns the result.
    fn patched(observed: &Ingress, writes: &[RouterWrite]) -> Ingress {
        let [RouterWrite::Patch { kind: RouterKind::Ingress, name, patch }] = writes else {
            panic!("expected one Ingress patch, got {writes:?}")
        };
        assert_eq!(name, observed.name());
        let mut doc = serde_json::to_value(observed).unwrap();
        json_patch_kube::patch(&mut doc, &serde_json::from_value::<json_patch_kube::Patch>(patch.clone()).unwrap()).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    fn header_route<'a>(name: &'a str, matches: &'a [HeaderRoutingMatch], step: usize) -> HeaderRoute<'a> {
        HeaderRoute { name, matches, path: format!("spec.strategy.canary.steps[{step}].setHeaderRoute") }
    }

    fn header(name: &str, value: StringMatch) -> HeaderRoutingMatch {
        HeaderRoutingMatch { header_name: name.into(), header_value: value }
    }

    fn exact(value: &str) -> StringMatch {
        StringMatch { exact: Some(value.into()), ..StringMatch::default() }
    }

    #[test]
    fn canary_ingress_name_is_argos() {
        assert_eq!(canary_ingress_name("shop", "web"), "shop-web-canary");
    }

    #[test]
    fn canary_ingress_name_is_cut_to_253_characters() {
        let rollout = "r".repeat(200);
        let ingress = "i".repeat(100);
        let name = canary_ingress_name(&rollout, &ingress);
        assert_eq!(name.len(), 253);
        assert!(name.starts_with(&format!("{rollout}-iii")));
        assert!(name.ends_with("i-canary"));
        assert_eq!(name, format!("{}-canary", &format!("{rollout}-{ingress}")[..246]));
        // Exactly at the limit nothing is cut.
        let ingress = "i".repeat(253 - 7 - 201);
        assert_eq!(canary_ingress_name(&rollout, &ingress), format!("{rollout}-{ingress}-canary"));
    }

    #[test]
    fn creates_the_canary_ingress_when_absent() {
        let ingresses = [Arc::new(stable("web"))];
        let writes = run(&config(), None, &ingresses, &desired(10)).unwrap();
        let [RouterWrite::Create { kind: RouterKind::Ingress, object }] = writes.as_slice() else { panic!("{writes:?}") };
        assert_eq!(
            *object,
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {
                    "name": "shop-web-canary", "namespace": "prod",
                    "annotations": {
                        "nginx.ingress.kubernetes.io/canary": "true",
                        "nginx.ingress.kubernetes.io/canary-weight": "10",
                    },
                    "ownerReferences": [{
                        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "shop",
                        "uid": "rollout-uid", "controller": true, "blockOwnerDeletion": true,
                    }],
                },
                "spec": {
                    "ingressClassName": "nginx",
                    "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                    "rules": [{"host": "shop.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("shop-canary")},
                    ]}}],
                },
            })
        );
        assert_eq!(writes[0].target(), "Ingress/shop-web-canary");
    }

    #[test]
    fn one_canary_ingress_per_stable_ingress() {
        let config = NginxTrafficRouting { stable_ingresses: vec!["web".into(), "api".into(), "web".into()], ..config() };
        let ingresses = [Arc::new(stable("web")), Arc::new(stable("api"))];
        let writes = run(&config, None, &ingresses, &desired(10)).unwrap();
        let targets: Vec<_> = writes.iter().map(RouterWrite::target).collect();
        assert_eq!(targets, ["Ingress/shop-web-canary", "Ingress/shop-api-canary"]);
    }

    #[test]
    fn patches_the_weight_pinned_to_the_observed_version() {
        let observed = existing(&render(&config(), None, &desired(10)));
        let ingresses = [Arc::new(stable("web")), Arc::new(observed.clone())];
        let writes = run(&config(), None, &ingresses, &desired(30)).unwrap();
        let RouterWrite::Patch { patch, .. } = &writes[0] else { panic!("{writes:?}") };
        assert_eq!(patch[0], json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "77"}));
        assert_eq!(
            patch[1],
            json!({"op": "replace", "path": "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight", "value": "30"})
        );
        assert_eq!(patch.as_array().unwrap().len(), 2);
        let after = patched(&observed, &writes);
        assert_eq!(annotations(&after)["nginx.ingress.kubernetes.io/canary-weight"], "30");
        // What the Rollout does not manage is carried through.
        assert_eq!(after.metadata.labels, observed.metadata.labels);
        assert_eq!(after.metadata.uid.as_deref(), Some("canary-uid"));
    }

    #[test]
    fn unchanged_input_writes_nothing() {
        let observed = existing(&render(&config(), Some(1000), &desired(25)));
        let ingresses = [Arc::new(stable("web")), Arc::new(observed)];
        assert_eq!(run(&config(), Some(1000), &ingresses, &desired(25)).unwrap(), []);
    }

    #[test]
    fn rendering_is_idempotent_and_repairs_drift() {
        let rendered = render(&config(), None, &desired(40));
        let mut drifted = existing(&rendered);
        drifted.metadata.annotations.as_mut().unwrap().insert("nginx.ingress.kubernetes.io/canary-weight".into(), "99".into());
        drifted.spec.as_mut().unwrap().rules = None;
        let ingresses = [Arc::new(stable("web")), Arc::new(drifted.clone())];
        let writes = run(&config(), None, &ingresses, &desired(40)).unwrap();
        let repaired = patched(&drifted, &writes);
        assert_eq!(repaired.spec, rendered.spec);
        assert_eq!(repaired.metadata.annotations, rendered.metadata.annotations);
        let ingresses = [Arc::new(stable("web")), Arc::new(repaired)];
        assert_eq!(run(&config(), None, &ingresses, &desired(40)).unwrap(), []);
    }

    #[test]
    fn max_traffic_weight_sets_the_weight_total() {
        let canary = render(&config(), Some(1000), &Desired { max_weight: 1000, ..desired(5) });
        assert_eq!(annotations(&canary)["nginx.ingress.kubernetes.io/canary-weight"], "5");
        assert_eq!(annotations(&canary)["nginx.ingress.kubernetes.io/canary-weight-total"], "1000");
        assert!(!annotations(&render(&config(), None, &desired(5))).contains_key("nginx.ingress.kubernetes.io/canary-weight-total"));
    }

    #[test]
    fn annotation_prefix_is_configurable() {
        let config = NginxTrafficRouting { annotation_prefix: Some("custom.nginx.io".into()), ..config() };
        let canary = render(&config, Some(100), &desired(20));
        let keys: Vec<_> = annotations(&canary).into_keys().collect();
        assert_eq!(keys, ["custom.nginx.io/canary", "custom.nginx.io/canary-weight", "custom.nginx.io/canary-weight-total",]);
    }

    #[test]
    fn additional_and_canary_annotations() {
        let config = NginxTrafficRouting {
            additional_ingress_annotations: BTreeMap::from([
                ("canary-by-cookie".to_owned(), "beta".to_owned()),
                ("nginx.ingress.kubernetes.io/load-balance".to_owned(), "ewma".to_owned()),
                ("canary-weight".to_owned(), "100".to_owned()),
            ]),
            canary_ingress_annotations: BTreeMap::from([("example.com/owner".to_owned(), "team-shop".to_owned())]),
            ..config()
        };
        let canary = render(&config, None, &desired(15));
        assert_eq!(
            annotations(&canary),
            BTreeMap::from(
                [
                    ("example.com/owner", "team-shop"),
                    ("nginx.ingress.kubernetes.io/canary", "true"),
                    ("nginx.ingress.kubernetes.io/canary-by-cookie", "beta"),
                    ("nginx.ingress.kubernetes.io/canary-weight", "15"),
                    ("nginx.ingress.kubernetes.io/load-balance", "ewma"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
            )
        );
    }

    #[test]
    fn header_route_exact_value() {
        let matches = [header("X-Canary", exact("yes"))];
        let desired = Desired { header_routes: vec![header_route("beta", &matches, 2)], ..desired(0) };
        let a = annotations(&render(&config(), None, &desired));
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header"], "X-Canary");
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header-value"], "yes");
        assert!(!a.contains_key("nginx.ingress.kubernetes.io/canary-by-header-pattern"));
    }

    #[test]
    fn header_route_prefix_becomes_an_escaped_pattern() {
        let matches = [header("X-Version", StringMatch { prefix: Some("v1.2+".into()), ..StringMatch::default() })];
        let desired = Desired { header_routes: vec![header_route("beta", &matches, 2)], ..desired(0) };
        let a = annotations(&render(&config(), None, &desired));
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header"], "X-Version");
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header-pattern"], r"^v1\.2\+.*");
        assert!(!a.contains_key("nginx.ingress.kubernetes.io/canary-by-header-value"));
    }

    #[test]
    fn header_route_regex_overrides_additional_annotations() {
        let config = NginxTrafficRouting {
            additional_ingress_annotations: BTreeMap::from([
                ("canary-by-header".to_owned(), "X-Old".to_owned()),
                ("canary-by-header-value".to_owned(), "always".to_owned()),
            ]),
            ..config()
        };
        let matches = [header("X-User", StringMatch { regex: Some("^(alice|bob)$".into()), ..StringMatch::default() })];
        let desired = Desired { header_routes: vec![header_route("beta", &matches, 2)], ..desired(0) };
        let a = annotations(&render(&config, None, &desired));
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header"], "X-User");
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header-pattern"], "^(alice|bob)$");
        // A lingering -value would make ingress-nginx ignore the pattern.
        assert!(!a.contains_key("nginx.ingress.kubernetes.io/canary-by-header-value"));
    }

    #[test]
    fn header_route_removal_drops_its_annotations() {
        let matches = [header("X-Canary", exact("yes"))];
        let with_route = Desired { header_routes: vec![header_route("beta", &matches, 2)], ..desired(20) };
        let observed = existing(&render(&config(), None, &with_route));
        let ingresses = [Arc::new(stable("web")), Arc::new(observed.clone())];
        let writes = run(&config(), None, &ingresses, &desired(20)).unwrap();
        let RouterWrite::Patch { patch, .. } = &writes[0] else { panic!("{writes:?}") };
        assert!(patch.as_array().unwrap()[1..].iter().all(|op| op["op"] == "remove"), "{patch}");
        let a = annotations(&patched(&observed, &writes));
        assert!(!a.contains_key("nginx.ingress.kubernetes.io/canary-by-header"));
        assert!(!a.contains_key("nginx.ingress.kubernetes.io/canary-by-header-value"));
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "20");
    }

    #[test]
    fn more_than_one_header_is_an_error() {
        let one = [header("X-A", exact("1"))];
        let two = [header("X-A", exact("1")), header("X-B", exact("2"))];
        let routes = Desired { header_routes: vec![header_route("a", &one, 1), header_route("b", &one, 3)], ..desired(0) };
        let error = render_canary_ingress(&stable("web"), &config(), None, &routes, "p").unwrap_err();
        assert_eq!(error.path, "spec.strategy.canary.steps[3].setHeaderRoute");
        assert!(error.message.starts_with(ONE_HEADER_ONLY), "{error}");
        let matches = Desired { header_routes: vec![header_route("a", &two, 1)], ..desired(0) };
        let error = render_canary_ingress(&stable("web"), &config(), None, &matches, "p").unwrap_err();
        assert_eq!(error.path, "spec.strategy.canary.steps[1].setHeaderRoute");
        assert!(error.message.starts_with(ONE_HEADER_ONLY), "{error}");
    }

    #[test]
    fn header_condition_without_a_single_matcher_is_an_error() {
        let matches = [header("X-A", StringMatch::default())];
        let desired = Desired { header_routes: vec![header_route("a", &matches, 4)], ..desired(0) };
        let error = render_canary_ingress(&stable("web"), &config(), None, &desired, "p").unwrap_err();
        assert_eq!(error.path, "spec.strategy.canary.steps[4].setHeaderRoute.match[0].headerValue");
    }

    #[test]
    fn ingress_class_is_kept_in_the_form_the_stable_uses() {
        let spec = render(&config(), None, &desired(0)).spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));

        let mut legacy = stable("web");
        legacy.spec.as_mut().unwrap().ingress_class_name = None;
        legacy.metadata.annotations.as_mut().unwrap().insert(INGRESS_CLASS_ANNOTATION.into(), "nginx-internal".into());
        let canary = render_canary_ingress(&legacy, &config(), None, &desired(0), "p").unwrap();
        assert_eq!(annotations(&canary)[INGRESS_CLASS_ANNOTATION], "nginx-internal");
        assert_eq!(canary.spec.as_ref().unwrap().ingress_class_name, None);

        // Both (possible on a stable Ingress only through an update): the annotation, which ingress-nginx reads first.
        let mut both = legacy.clone();
        both.spec.as_mut().unwrap().ingress_class_name = Some("nginx".into());
        let canary = render_canary_ingress(&both, &config(), None, &desired(0), "p").unwrap();
        assert_eq!(annotations(&canary)[INGRESS_CLASS_ANNOTATION], "nginx-internal");
        assert_eq!(canary.spec.unwrap().ingress_class_name, None);
    }

    #[test]
    fn paths_and_rules_without_the_stable_service_are_dropped() {
        let spec = render(&config(), None, &desired(0)).spec.unwrap();
        let rules = spec.rules.unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].host.as_deref(), Some("shop.example.com"));
        let paths = &rules[0].http.as_ref().unwrap().paths;
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].path.as_deref(), Some("/"));
        assert_eq!(paths[0].backend.service.as_ref().unwrap().name, "shop-canary");
    }

    #[test]
    fn default_backend_moves_to_the_canary_or_is_dropped() {
        let mut on_stable = stable("web");
        on_stable.spec.as_mut().unwrap().default_backend = serde_json::from_value(backend("shop-stable")).unwrap();
        let spec = render_canary_ingress(&on_stable, &config(), None, &desired(0), "p").unwrap().spec.unwrap();
        assert_eq!(spec.default_backend.unwrap().service.unwrap().name, "shop-canary");

        let mut elsewhere = stable("web");
        elsewhere.spec.as_mut().unwrap().default_backend = serde_json::from_value(backend("fallback")).unwrap();
        let spec = render_canary_ingress(&elsewhere, &config(), None, &desired(0), "p").unwrap().spec.unwrap();
        assert_eq!(spec.default_backend, None);
    }

    #[test]
    fn stable_ingress_without_the_stable_service_is_an_error() {
        let other = Desired { stable_service: "nobody", ..desired(0) };
        let ingresses = [Arc::new(stable("web"))];
        let error = run(&config(), None, &ingresses, &other).unwrap_err();
        assert_eq!(error, RouteError::new(format!("{PATH}.stableIngress"), "ingress web has no rules using service nobody backend"));
    }

    #[test]
    fn missing_stable_ingress_is_an_error() {
        let config = NginxTrafficRouting { stable_ingress: None, stable_ingresses: vec!["web".into(), "gone".into()], ..config() };
        let ingresses = [Arc::new(stable("web"))];
        let error = run(&config, None, &ingresses, &desired(0)).unwrap_err();
        assert_eq!(error.path, format!("{PATH}.stableIngresses[1]"));
        assert_eq!(error.message, "Ingress \"gone\" not found in the Rollout's namespace");
    }

    #[test]
    fn no_stable_ingress_configured_is_an_error() {
        let error = run(&NginxTrafficRouting::default(), None, &[], &desired(0)).unwrap_err();
        assert_eq!(error.path, format!("{PATH}.stableIngress"));
    }

    #[test]
    fn foreign_canary_ingress_is_an_error() {
        let mut foreign = existing(&render(&config(), None, &desired(0)));
        foreign.metadata.owner_references = Some(vec![owner("someone-else")]);
        let mut unowned = foreign.clone();
        unowned.metadata.owner_references = None;
        let mut not_controller = foreign.clone();
        not_controller.metadata.owner_references = Some(vec![OwnerReference { controller: None, ..owner("rollout-uid") }]);
        for canary in [foreign, unowned, not_controller] {
            let ingresses = [Arc::new(stable("web")), Arc::new(canary)];
            let error = run(&config(), None, &ingresses, &desired(10)).unwrap_err();
            assert_eq!(error.path, format!("{PATH}.stableIngress"));
            assert!(error.message.contains("exists and is not owned by Rollout \"shop\""), "{error}");
        }
    }
}

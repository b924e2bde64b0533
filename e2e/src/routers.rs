//! The data planes the traffic simulator can route through, as a pure model: given the router objects as the API
//! server stores them (JSON, as read with a dynamic client) and one request, where the request goes — a weighted set
//! of backend Services (each possibly narrowed to an Istio subset) plus an optional mirror — or the status code the
//! data plane answers by itself.
//!
//! Contract: pure. No I/O and no randomness: weighted draws take a uniform `u` from the caller. [`crate::traffic`]
//! reads the objects, resolves each class of request once per refresh with [`resolve`], and turns the backends into
//! pods with [`Backend::selects`].
//!
//! The request is always `GET /` ([`METHOD`], [`PATH`]), carrying at most one extra header. Per data plane:
//! - **Gateway API HTTPRoute** (`gateway.networking.k8s.io/v1`, [`http_route`]): a rule applies when one of its
//!   `matches` does (no `matches`: everything); a match's path (`PathPrefix` by segments, default `/`; `Exact`;
//!   `RegularExpression`, whole value), method and headers (`Exact`, default, or `RegularExpression`, names
//!   case-insensitive) must all hold, and any `queryParams` fails (the request has none). Among the rules that apply the
//!   most specific wins (exact path, then longest prefix, then a method, then the most header matches), ties to the
//!   first in the list. `backendRefs` weights default to 1, share = weight / sum. A `RequestMirror` filter of the
//!   rule mirrors to its `backendRef` with `percent` or `fraction` (neither: 100 %).
//! - **Istio VirtualService** (`networking.istio.io/v1`, [`virtual_service`]): the first `http` route with a matching
//!   `match` block (none: everything) wins; a block's `uri`, `method`, `headers` and `withoutHeaders` (`exact`,
//!   `prefix`, `regex` matched whole) must all hold, `queryParams` fails, other conditions (authority, port, source
//!   labels, gateways) are taken as met. `route[].destination.host` names a Service by its first DNS label; a
//!   `subset` takes the `labels` of that subset in the DestinationRule whose `spec.host` names the same Service. A
//!   single destination gets everything (its weight is ignored, as Istio does); with several, a missing weight is 0.
//!   `mirror` + `mirrorPercentage.value` (or the first of `mirrors[]`) mirrors.
//! - **ingress-nginx** ([`nginx`]): the stable Ingress routes to its backend Service; the canary Ingress is another
//!   Ingress with `nginx.ingress.kubernetes.io/canary: "true"` and the same host (of the first rule), the first by
//!   name if several. Decision order as ingress-nginx's balancer: `canary-by-header` (with `canary-by-header-value`:
//!   that exact value → canary, else fall through; else with `canary-by-header-pattern`: a regex found in the value
//!   → canary, an invalid regex → stable, else fall through; else `always` → canary, `never` → stable, else fall
//!   through), then `canary-weight` out of `canary-weight-total` (default 100).
//! - **Traefik `TraefikService`** (`traefik.io/v1alpha1`, [`traefik_service`]): `spec.weighted.services[]` by weight
//!   (default 1). Nested `TraefikServices` are not followed: their name is taken as a Service's.
//! - **Service** ([`Outcome::service`]): everything to the Service.
//!
//! What the data plane answers by itself: no route applies → [`NO_ROUTE`]; the route has no backend with a weight
//! above 0 → [`NO_BACKEND`]; a backend Service that does not exist → [`Route::missing_service`] (500 for Gateway
//! API, which calls it an invalid backend; 503 elsewhere); a backend without ready endpoints → [`NO_ENDPOINTS`].

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

/// The path of every simulated request.
pub const PATH: &str = "/";
/// The method of every simulated request.
pub const METHOD: &str = "GET";
/// Answered when no route applies to a request (or the router object does not exist).
pub const NO_ROUTE: u16 = 404;
/// Answered when the route that applies has no backend with a weight above 0.
pub const NO_BACKEND: u16 = 500;
/// Answered when the chosen backend has no ready endpoints.
pub const NO_ENDPOINTS: u16 = 503;
/// ingress-nginx's annotation prefix.
pub const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// How requests reach a workload's pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Router {
    /// No router: the split follows the ready pods of the target's selector, by version.
    #[default]
    Pods,
    /// A Service: its pods (by `spec.selector`) share the requests by ready pods.
    Service {
        /// The Service's name.
        name: String,
    },
    /// A Gateway API HTTPRoute.
    HttpRoute {
        /// The HTTPRoute's name.
        name: String,
    },
    /// An Istio VirtualService (with the `DestinationRules` of its namespace for subsets).
    VirtualService {
        /// The VirtualService's name.
        name: String,
    },
    /// ingress-nginx: a stable Ingress and the canary Ingress of the same host.
    NginxIngress {
        /// The stable Ingress's name.
        stable_ingress: String,
    },
    /// A Traefik weighted `TraefikService`.
    TraefikService {
        /// The `TraefikService`'s name.
        name: String,
    },
}

/// The request being routed: `GET /` with at most one extra header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// The extra header, `(name, value)`.
    pub header: Option<(&'a str, &'a str)>,
}

impl<'a> HttpRequest<'a> {
    /// A request without the header.
    pub const PLAIN: Self = Self { header: None };

    /// A request carrying `name: value`.
    pub fn with_header(name: &'a str, value: &'a str) -> Self {
        Self { header: Some((name, value)) }
    }

    /// The value of header `name` (compared case-insensitively, as HTTP does), if the request carries it.
    pub fn header_value(&self, name: &str) -> Option<&'a str> {
        self.header.filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
}

/// An Istio subset a backend is narrowed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subset {
    /// The subset's name.
    pub name: String,
    /// Its pod labels; `None` when no DestinationRule of the host defines it (no endpoints, as in Istio).
    pub labels: Option<BTreeMap<String, String>>,
}

/// Where a request can be sent: the pods of a Service, possibly narrowed to a subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The Service's name.
    pub service: String,
    /// The Istio subset, if any.
    pub subset: Option<Subset>,
}

impl Backend {
    /// All the pods of Service `name`.
    pub fn service(name: impl Into<String>) -> Self {
        Self { service: name.into(), subset: None }
    }

    /// Whether a pod with `labels` is an endpoint of this backend, given the Service's `selector`: it matches the
    /// selector (a Service without a selector has no endpoints of its own) and the subset's labels.
    pub fn selects(&self, selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
        let subset_labels = match &self.subset {
            None => None,
            Some(Subset { labels: None, .. }) => return false,
            Some(Subset { labels: Some(subset), .. }) => Some(subset),
        };
        !selector.is_empty() && has_labels(labels, selector) && subset_labels.is_none_or(|subset| has_labels(labels, subset))
    }
}

fn has_labels(labels: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A backend and its weight (above 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedBackend {
    /// The backend.
    pub backend: Backend,
    /// Its weight, relative to the route's other backends.
    pub weight: u64,
}

/// Where copies of the requests go.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    /// The backend that receives the copies (their responses are discarded).
    pub backend: Backend,
    /// Percentage (0..=100) of the requests copied.
    pub percent: f64,
}

/// Where the requests of one class go.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The backends with a weight above 0 (never empty).
    pub backends: Vec<WeightedBackend>,
    /// The mirror, if any.
    pub mirror: Option<Mirror>,
    /// The status code answered for a backend whose Service does not exist.
    pub missing_service: u16,
}

impl Route {
    /// Backend `i`'s share of the requests.
    pub fn share(&self, i: usize) -> f64 {
        let total: u64 = self.backends.iter().map(|b| b.weight).sum();
        self.backends.get(i).map_or(0.0, |b| weight_f64(b.weight) / weight_f64(total))
    }

    /// The index of the backend a request goes to, given a uniform draw `u` in `[0, 1)`: the first whose cumulative
    /// weight exceeds `u` times the total (the last one absorbs rounding).
    pub fn pick(&self, u: f64) -> usize {
        let total: u64 = self.backends.iter().map(|b| b.weight).sum();
        let target = u * weight_f64(total);
        let mut cumulative = 0;
        for (i, backend) in self.backends.iter().enumerate() {
            cumulative += backend.weight;
            if target < weight_f64(cumulative) {
                return i;
            }
        }
        self.backends.len().saturating_sub(1)
    }
}

/// Weights are at most a few million (Gateway API caps one at 1,000,000): exact as `f64`.
#[allow(clippy::cast_precision_loss)]
fn weight_f64(weight: u64) -> f64 {
    weight as f64
}

/// What happens to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It is sent along the route.
    Route(Route),
    /// The data plane answers this status code by itself.
    Reject(u16),
}

impl Outcome {
    /// Everything to Service `name`.
    pub fn service(name: impl Into<String>) -> Self {
        Self::Route(Route {
            backends: vec![WeightedBackend { backend: Backend::service(name), weight: 1 }],
            mirror: None,
            missing_service: NO_ENDPOINTS,
        })
    }

    /// The route over the backends with a weight above 0, or [`NO_BACKEND`] when there are none.
    fn weighted(backends: Vec<WeightedBackend>, mirror: Option<Mirror>, missing_service: u16) -> Self {
        let backends: Vec<_> = backends.into_iter().filter(|b| b.weight > 0).collect();
        if backends.is_empty() { Self::Reject(NO_BACKEND) } else { Self::Route(Route { backends, mirror, missing_service }) }
    }
}

/// The router objects a request meets, as read from the API server.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterObjects {
    /// A Service (nothing to read: the Service's pods are the simulator's business).
    Service {
        /// The Service's name.
        name: String,
    },
    /// An HTTPRoute.
    HttpRoute(Value),
    /// A VirtualService and the `DestinationRules` of its namespace.
    VirtualService {
        /// The VirtualService.
        virtual_service: Value,
        /// The `DestinationRules` of its namespace.
        destination_rules: Vec<Value>,
    },
    /// The stable Ingress and every Ingress of its namespace (the stable one may be among them).
    Nginx {
        /// The stable Ingress.
        stable: Value,
        /// The Ingresses of its namespace.
        ingresses: Vec<Value>,
    },
    /// A `TraefikService`.
    TraefikService(Value),
}

/// Where `request` goes through `objects`.
pub fn resolve(objects: &RouterObjects, request: HttpRequest<'_>) -> Outcome {
    match objects {
        RouterObjects::Service { name } => Outcome::service(name.as_str()),
        RouterObjects::HttpRoute(route) => http_route(route, request),
        RouterObjects::VirtualService { virtual_service: vs, destination_rules } => virtual_service(vs, destination_rules, request),
        RouterObjects::Nginx { stable, ingresses } => nginx(stable, ingresses, request),
        RouterObjects::TraefikService(service) => traefik_service(service),
    }
}

// === JSON helpers ===

fn array<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn str_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Whether `pattern` matches the whole of `text` (Envoy's `safe_regex`); an invalid pattern matches nothing.
fn regex_matches_whole(pattern: &str, text: &str) -> bool {
    Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(text))
}

/// Whether path `prefix` matches `path` element-wise (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`).
fn path_prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty() || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

fn labels_of(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|labels| labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

// === Gateway API ===

/// How specific a matching HTTPRoute match is, by Gateway API precedence (greater wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct GatewayRank {
    exact_path: bool,
    prefix_len: usize,
    method: bool,
    headers: usize,
}

/// The match every request meets: `PathPrefix /`.
const DEFAULT_GATEWAY_RANK: GatewayRank = GatewayRank { exact_path: false, prefix_len: 1, method: false, headers: 0 };

fn gateway_match_rank(m: &Value, request: HttpRequest<'_>) -> Option<GatewayRank> {
    let kind = str_at(m, "/path/type").unwrap_or("PathPrefix");
    let value = str_at(m, "/path/value").unwrap_or("/");
    let (exact_path, prefix_len) = match kind {
        "Exact" => (value == PATH).then_some((true, value.len()))?,
        "PathPrefix" => path_prefix_matches(value, PATH).then_some((false, value.len()))?,
        "RegularExpression" => regex_matches_whole(value, PATH).then_some((false, 0))?,
        _ => return None,
    };
    let method = match m.get("method").and_then(Value::as_str) {
        Some(method) if method != METHOD => return None,
        Some(_) => true,
        None => false,
    };
    if !array(m, "queryParams").is_empty() {
        return None;
    }
    let headers = array(m, "headers");
    let all_match = headers.iter().all(|h| {
        let (Some(name), Some(wanted)) = (str_at(h, "/name"), str_at(h, "/value")) else { return false };
        let Some(actual) = request.header_value(name) else { return false };
        match str_at(h, "/type").unwrap_or("Exact") {
            "Exact" => actual == wanted,
            "RegularExpression" => regex_matches_whole(wanted, actual),
            _ => false,
        }
    });
    all_match.then_some(GatewayRank { exact_path, prefix_len, method, headers: headers.len() })
}

/// The rank of the rule's most specific match that applies to `request`; `None` when none applies.
fn gateway_rule_rank(rule: &Value, request: HttpRequest<'_>) -> Option<GatewayRank> {
    let matches = array(rule, "matches");
    if matches.is_empty() {
        return Some(DEFAULT_GATEWAY_RANK);
    }
    matches.iter().filter_map(|m| gateway_match_rank(m, request)).max()
}

/// The percentage of a `RequestMirror` filter's `requestMirror`: `percent`, or `fraction` (denominator default 100),
/// or 100.
fn gateway_mirror_percent(mirror: &Value) -> f64 {
    if let Some(percent) = mirror.get("percent").and_then(Value::as_f64) {
        return percent.clamp(0.0, 100.0);
    }
    if let Some(numerator) = mirror.pointer("/fraction/numerator").and_then(Value::as_f64) {
        let denominator = mirror.pointer("/fraction/denominator").and_then(Value::as_f64).unwrap_or(100.0);
        return if denominator > 0.0 { (numerator / denominator * 100.0).clamp(0.0, 100.0) } else { 0.0 };
    }
    100.0
}

/// Where `request` goes through HTTPRoute `route`.
pub fn http_route(route: &Value, request: HttpRequest<'_>) -> Outcome {
    let rules = route.pointer("/spec/rules").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut best: Option<(GatewayRank, &Value)> = None;
    for rule in rules {
        let Some(rank) = gateway_rule_rank(rule, request) else { continue };
        // Strictly greater: ties go to the first rule in the list.
        if best.is_none_or(|(best_rank, _)| rank > best_rank) {
            best = Some((rank, rule));
        }
    }
    let Some((_, rule)) = best else { return Outcome::Reject(NO_ROUTE) };
    let backends = array(rule, "backendRefs")
        .iter()
        .filter_map(|b| {
            let name = str_at(b, "/name")?;
            Some(WeightedBackend { backend: Backend::service(name), weight: b.get("weight").and_then(Value::as_u64).unwrap_or(1) })
        })
        .collect();
    let mirror = array(rule, "filters").iter().find(|f| str_at(f, "/type") == Some("RequestMirror")).and_then(|f| {
        let mirror = f.get("requestMirror")?;
        Some(Mirror { backend: Backend::service(str_at(mirror, "/backendRef/name")?), percent: gateway_mirror_percent(mirror) })
    });
    Outcome::weighted(backends, mirror, NO_BACKEND)
}

// === Istio ===

/// Whether an Istio `StringMatch` accepts `value`; an empty one accepts any value (it only asks for presence).
fn istio_string_match(matcher: &Value, value: &str) -> bool {
    if let Some(exact) = str_at(matcher, "/exact") {
        exact == value
    } else if let Some(prefix) = str_at(matcher, "/prefix") {
        value.starts_with(prefix)
    } else if let Some(regex) = str_at(matcher, "/regex") {
        regex_matches_whole(regex, value)
    } else {
        matcher.as_object().is_some_and(serde_json::Map::is_empty)
    }
}

fn istio_block_matches(block: &Value, request: HttpRequest<'_>) -> bool {
    let header_matches = |name: &str, matcher: &Value| request.header_value(name).is_some_and(|v| istio_string_match(matcher, v));
    block.get("uri").is_none_or(|m| istio_string_match(m, PATH))
        && block.get("method").is_none_or(|m| istio_string_match(m, METHOD))
        && block.get("queryParams").and_then(Value::as_object).is_none_or(serde_json::Map::is_empty)
        && block.get("headers").and_then(Value::as_object).is_none_or(|hs| hs.iter().all(|(n, m)| header_matches(n, m)))
        && block.get("withoutHeaders").and_then(Value::as_object).is_none_or(|hs| hs.iter().all(|(n, m)| !header_matches(n, m)))
}

/// The Service a host names: its first DNS label (`web`, `web.ns`, `web.ns.svc.cluster.local`).
fn host_service(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

/// The backend of an Istio `destination`, its subset's labels taken from the DestinationRule of the same Service.
fn istio_backend(destination: &Value, destination_rules: &[Value]) -> Option<Backend> {
    let service = host_service(str_at(destination, "/host")?);
    let subset = str_at(destination, "/subset").map(|name| {
        let labels = destination_rules
            .iter()
            .find(|dr| str_at(dr, "/spec/host").map(host_service) == Some(service))
            .and_then(|dr| dr.pointer("/spec/subsets").and_then(Value::as_array))
            .and_then(|subsets| subsets.iter().find(|s| str_at(s, "/name") == Some(name)))
            .map(|s| labels_of(s.get("labels")));
        Subset { name: name.to_owned(), labels }
    });
    Some(Backend { service: service.to_owned(), subset })
}

fn istio_mirror(route: &Value, destination_rules: &[Value]) -> Option<Mirror> {
    let percent = |p: Option<&Value>| p.and_then(|p| p.get("value")).and_then(Value::as_f64).map_or(100.0, |v| v.clamp(0.0, 100.0));
    if let Some(mirror) = route.get("mirror") {
        return Some(Mirror { backend: istio_backend(mirror, destination_rules)?, percent: percent(route.get("mirrorPercentage")) });
    }
    let first = array(route, "mirrors").first()?;
    Some(Mirror { backend: istio_backend(first.get("destination")?, destination_rules)?, percent: percent(first.get("percentage")) })
}

/// Where `request` goes through VirtualService `vs`, subsets resolved with `destination_rules`.
pub fn virtual_service(vs: &Value, destination_rules: &[Value], request: HttpRequest<'_>) -> Outcome {
    let routes = vs.pointer("/spec/http").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let Some(route) = routes.iter().find(|r| {
        let blocks = array(r, "match");
        blocks.is_empty() || blocks.iter().any(|b| istio_block_matches(b, request))
    }) else {
        return Outcome::Reject(NO_ROUTE);
    };
    let destinations = array(route, "route");
    let single = destinations.len() == 1;
    let backends = destinations
        .iter()
        .filter_map(|d| {
            let backend = istio_backend(d.get("destination")?, destination_rules)?;
            let weight = if single { 1 } else { d.get("weight").and_then(Value::as_u64).unwrap_or(0) };
            Some(WeightedBackend { backend, weight })
        })
        .collect();
    Outcome::weighted(backends, istio_mirror(route, destination_rules), NO_ENDPOINTS)
}

// === ingress-nginx ===

fn nginx_annotation<'v>(ingress: &'v Value, name: &str) -> Option<&'v str> {
    ingress.pointer("/metadata/annotations").and_then(|a| a.get(format!("{NGINX_PREFIX}/{name}"))).and_then(Value::as_str)
}

/// The host of an Ingress's first rule (`""` when it has none).
fn ingress_host(ingress: &Value) -> &str {
    str_at(ingress, "/spec/rules/0/host").unwrap_or_default()
}

/// The Service an Ingress sends to: the backend of its first rule's first path, else its default backend.
fn ingress_service(ingress: &Value) -> Option<&str> {
    str_at(ingress, "/spec/rules/0/http/paths/0/backend/service/name").or_else(|| str_at(ingress, "/spec/defaultBackend/service/name"))
}

/// ingress-nginx's header decision for the canary Ingress: `Some(true)` canary, `Some(false)` stable, `None` on to
/// the weight.
fn nginx_by_header(canary: &Value, request: HttpRequest<'_>) -> Option<bool> {
    let header = nginx_annotation(canary, "canary-by-header").filter(|h| !h.is_empty())?;
    let value = request.header_value(header)?;
    if let Some(wanted) = nginx_annotation(canary, "canary-by-header-value").filter(|v| !v.is_empty()) {
        return (value == wanted).then_some(true);
    }
    if let Some(pattern) = nginx_annotation(canary, "canary-by-header-pattern").filter(|p| !p.is_empty()) {
        return match Regex::new(pattern) {
            Ok(re) => re.is_match(value).then_some(true),
            Err(_) => Some(false),
        };
    }
    match value {
        "always" => Some(true),
        "never" => Some(false),
        _ => None,
    }
}

/// Where `request` goes through the stable Ingress `stable` and its canary among `ingresses`.
pub fn nginx(stable: &Value, ingresses: &[Value], request: HttpRequest<'_>) -> Outcome {
    let Some(stable_service) = ingress_service(stable) else { return Outcome::Reject(NO_ROUTE) };
    let stable_name = str_at(stable, "/metadata/name");
    let host = ingress_host(stable);
    let canary = ingresses
        .iter()
        .filter(|i| str_at(i, "/metadata/name") != stable_name && nginx_annotation(i, "canary") == Some("true") && ingress_host(i) == host)
        .min_by_key(|i| str_at(i, "/metadata/name"))
        .and_then(|i| Some((i, ingress_service(i)?)));
    let Some((canary, canary_service)) = canary else { return Outcome::service(stable_service) };
    match nginx_by_header(canary, request) {
        Some(true) => return Outcome::service(canary_service),
        Some(false) => return Outcome::service(stable_service),
        None => {}
    }
    let total =
        nginx_annotation(canary, "canary-weight-total").and_then(|t| t.trim().parse::<u64>().ok()).filter(|t| *t > 0).unwrap_or(100);
    let weight = nginx_annotation(canary, "canary-weight").and_then(|w| w.trim().parse::<u64>().ok()).unwrap_or(0).min(total);
    Outcome::weighted(
        vec![
            WeightedBackend { backend: Backend::service(stable_service), weight: total - weight },
            WeightedBackend { backend: Backend::service(canary_service), weight },
        ],
        None,
        NO_ENDPOINTS,
    )
}

// === Traefik ===

/// Where requests go through `TraefikService` `service` (no header routing in this object).
pub fn traefik_service(service: &Value) -> Outcome {
    let Some(services) = service.pointer("/spec/weighted/services").and_then(Value::as_array) else { return Outcome::Reject(NO_ROUTE) };
    let backends = services
        .iter()
        .filter_map(|s| {
            Some(WeightedBackend {
                backend: Backend::service(str_at(s, "/name")?),
                weight: s.get("weight").and_then(Value::as_u64).unwrap_or(1),
            })
        })
        .collect();
    Outcome::weighted(backends, None, NO_ENDPOINTS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PLAIN: HttpRequest<'static> = HttpRequest::PLAIN;

    /// The backends of a route as `service=weight,...`.
    fn backends(outcome: &Outcome) -> String {
        route(outcome).backends.iter().map(|b| format!("{}={}", b.backend.service, b.weight)).collect::<Vec<_>>().join(",")
    }

    /// The first backend's Service.
    fn first(outcome: &Outcome) -> String {
        route(outcome).backends[0].backend.service.clone()
    }

    fn route(outcome: &Outcome) -> &Route {
        match outcome {
            Outcome::Route(route) => route,
            Outcome::Reject(code) => panic!("rejected with {code}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn http_route_of(rules: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"parentRefs": [{"name": "gw"}], "rules": rules}})
    }

    fn weighted_rule(stable: u64, canary: u64) -> Value {
        json!({"backendRefs": [{"name": "web-stable", "port": 80, "weight": stable}, {"name": "web-canary", "port": 80, "weight": canary}]})
    }

    #[test]
    fn route_pick_and_share_follow_the_weights() {
        let route = route(&http_route(&http_route_of(json!([weighted_rule(80, 20)])), PLAIN)).clone();
        assert!((route.share(0) - 0.8).abs() < 1e-12 && (route.share(1) - 0.2).abs() < 1e-12);
        assert!(route.share(2).abs() < f64::EPSILON);
        assert_eq!(route.pick(0.0), 0);
        assert_eq!(route.pick(0.799), 0);
        assert_eq!(route.pick(0.8), 1);
        assert_eq!(route.pick(1.0), 1, "rounding never leaves a draw without a backend");
    }

    #[test]
    fn http_route_weights_default_to_one_and_zero_means_none() {
        let rules = json!([{"backendRefs": [{"name": "a"}, {"name": "b", "weight": 3}, {"name": "c", "weight": 0}]}]);
        assert_eq!(backends(&http_route(&http_route_of(rules), PLAIN)), "a=1,b=3");
        let all_zero = http_route_of(json!([weighted_rule(0, 0)]));
        assert_eq!(http_route(&all_zero, PLAIN), Outcome::Reject(NO_BACKEND));
        let no_backends = http_route_of(json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]));
        assert_eq!(http_route(&no_backends, PLAIN), Outcome::Reject(NO_BACKEND));
        assert_eq!(route(&http_route(&http_route_of(json!([weighted_rule(1, 1)])), PLAIN)).missing_service, NO_BACKEND);
    }

    #[test]
    fn http_route_without_a_matching_rule_is_404() {
        let rules = json!([
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": [{"name": "api"}]},
            {"matches": [{"path": {"value": "/"}, "method": "POST"}], "backendRefs": [{"name": "writes"}]},
            {"matches": [{"queryParams": [{"name": "v", "value": "2"}]}], "backendRefs": [{"name": "v2"}]},
            {"matches": [{"path": {"type": "Exact", "value": "/index.html"}}], "backendRefs": [{"name": "index"}]}
        ]);
        assert_eq!(http_route(&http_route_of(rules), PLAIN), Outcome::Reject(NO_ROUTE));
        assert_eq!(http_route(&http_route_of(json!([])), PLAIN), Outcome::Reject(NO_ROUTE));
        assert_eq!(http_route(&json!({"spec": {}}), PLAIN), Outcome::Reject(NO_ROUTE));
    }

    #[test]
    fn http_route_header_rule_outranks_the_plain_rule_wherever_it_is() {
        let header_rule = json!({
            "name": "canary-header",
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"name": "X-Canary", "value": "yes"}]}],
            "backendRefs": [{"name": "web-canary", "port": 80}]
        });
        for rules in [json!([weighted_rule(90, 10), header_rule.clone()]), json!([header_rule.clone(), weighted_rule(90, 10)])] {
            let route = http_route_of(rules);
            assert_eq!(backends(&http_route(&route, PLAIN)), "web-stable=90,web-canary=10");
            // Header names are case-insensitive, values exact.
            assert_eq!(backends(&http_route(&route, HttpRequest::with_header("x-canary", "yes"))), "web-canary=1");
            assert_eq!(backends(&http_route(&route, HttpRequest::with_header("x-canary", "Yes"))), "web-stable=90,web-canary=10");
            assert_eq!(backends(&http_route(&route, HttpRequest::with_header("x-other", "yes"))), "web-stable=90,web-canary=10");
        }
    }

    #[test]
    fn http_route_regex_headers_match_the_whole_value_and_more_headers_win() {
        let rules = json!([
            {"matches": [{"headers": [{"name": "x-user", "type": "RegularExpression", "value": "beta-[0-9]+"}]}], "backendRefs": [{"name": "beta"}]},
            {"matches": [{"headers": [{"name": "x-user", "value": "beta-1"}]}], "backendRefs": [{"name": "exact"}]},
            {"matches": [{"headers": [{"name": "x-user", "type": "RegularExpression", "value": "(["}]}], "backendRefs": [{"name": "broken"}]},
            {"backendRefs": [{"name": "default"}]}
        ]);
        let route = http_route_of(rules);
        let to = |value| first(&http_route(&route, HttpRequest::with_header("X-User", value)));
        // Both header rules match with one header each: the first in the list wins.
        assert_eq!(to("beta-1"), "beta");
        assert_eq!(to("beta-22"), "beta");
        assert_eq!(to("xbeta-22"), "default", "a regex matches the whole value");
        assert_eq!(to("beta-"), "default");
        let two_headers = http_route_of(json!([
            {"matches": [{"headers": [{"name": "x-user", "value": "a"}]}], "backendRefs": [{"name": "one"}]},
            {"matches": [{"headers": [{"name": "x-user", "value": "a"}, {"name": "x-user", "type": "RegularExpression", "value": "a|b"}]}], "backendRefs": [{"name": "two"}]}
        ]));
        assert_eq!(first(&http_route(&two_headers, HttpRequest::with_header("x-user", "a"))), "two");
    }

    #[test]
    fn http_route_precedence_exact_path_then_prefix_length_then_method() {
        let rules = json!([
            {"matches": [{"headers": [{"name": "x", "value": "1"}]}], "backendRefs": [{"name": "header"}]},
            {"matches": [{"method": "GET"}], "backendRefs": [{"name": "method"}]},
            {"matches": [{"path": {"type": "Exact", "value": "/"}}], "backendRefs": [{"name": "exact"}]}
        ]);
        assert_eq!(first(&http_route(&http_route_of(rules.clone()), HttpRequest::with_header("x", "1"))), "exact");
        let without_exact = http_route_of(json!([rules[0], rules[1]]));
        assert_eq!(first(&http_route(&without_exact, HttpRequest::with_header("x", "1"))), "method");
        // A rule whose matches are ORed applies through any of them.
        let ored = http_route_of(
            json!([{"matches": [{"path": {"value": "/api"}}, {"headers": [{"name": "x", "value": "1"}]}], "backendRefs": [{"name": "either"}]}]),
        );
        assert_eq!(first(&http_route(&ored, HttpRequest::with_header("x", "1"))), "either");
        assert_eq!(http_route(&ored, PLAIN), Outcome::Reject(NO_ROUTE));
        // Path prefixes match by segment and the regex path matches the whole path.
        assert!(path_prefix_matches("/", "/") && path_prefix_matches("/foo/", "/foo/bar") && !path_prefix_matches("/foo", "/foobar"));
        let regex_path =
            http_route_of(json!([{"matches": [{"path": {"type": "RegularExpression", "value": "/.*"}}], "backendRefs": [{"name": "re"}]}]));
        assert_eq!(first(&http_route(&regex_path, PLAIN)), "re");
    }

    #[test]
    fn http_route_mirror_filter_of_the_chosen_rule() {
        let mirror_rule = |request_mirror: Value| {
            http_route_of(json!([{
                "backendRefs": [{"name": "web-stable", "weight": 100}, {"name": "web-canary", "weight": 0}],
                "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {}}, {"type": "RequestMirror", "requestMirror": request_mirror}]
            }]))
        };
        let mirror = |rm| route(&http_route(&mirror_rule(rm), PLAIN)).mirror.clone();
        assert_eq!(
            mirror(json!({"backendRef": {"name": "web-canary", "port": 80}, "percent": 25})),
            Some(Mirror { backend: Backend::service("web-canary"), percent: 25.0 })
        );
        assert_eq!(mirror(json!({"backendRef": {"name": "web-canary"}})).map(|m| m.percent), Some(100.0));
        assert_eq!(
            mirror(json!({"backendRef": {"name": "web-canary"}, "fraction": {"numerator": 1, "denominator": 8}})).map(|m| m.percent),
            Some(12.5)
        );
        assert_eq!(mirror(json!({"backendRef": {"name": "web-canary"}, "fraction": {"numerator": 30}})).map(|m| m.percent), Some(30.0));
        assert_eq!(mirror(json!({"percent": 50})), None, "a mirror without a backend mirrors nothing");
        // Only the chosen rule's filters count.
        let header_only = http_route_of(json!([
            weighted_rule(1, 0),
            {"matches": [{"headers": [{"name": "x", "value": "1"}]}], "backendRefs": [{"name": "web-stable"}],
             "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "web-canary"}, "percent": 10}}]}
        ]));
        assert_eq!(route(&http_route(&header_only, PLAIN)).mirror, None);
        assert_eq!(route(&http_route(&header_only, HttpRequest::with_header("x", "1"))).mirror.as_ref().map(|m| m.percent), Some(10.0));
    }

    fn destination(host: &str, subset: Option<&str>, weight: Option<u64>) -> Value {
        let mut d = json!({"destination": {"host": host}});
        if let Some(subset) = subset {
            d["destination"]["subset"] = json!(subset);
        }
        if let Some(weight) = weight {
            d["weight"] = json!(weight);
        }
        d
    }

    fn destination_rule() -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"host": "web.ns.svc.cluster.local", "subsets": [
            {"name": "stable", "labels": {"rollouts-pod-template-hash": "aaa"}},
            {"name": "canary", "labels": {"rollouts-pod-template-hash": "bbb"}}
        ]}})
    }

    fn subset(name: &str, hash: &str) -> Subset {
        Subset { name: name.into(), labels: Some(labels(&[("rollouts-pod-template-hash", hash)])) }
    }

    #[test]
    fn virtual_service_first_matching_route_wins_with_subsets_from_the_destination_rule() {
        let vs = json!({"spec": {"hosts": ["web"], "http": [
            {"name": "header", "match": [{"headers": {"x-canary": {"exact": "yes"}}}], "route": [destination("web", Some("canary"), None)]},
            {"name": "primary", "route": [destination("web.ns.svc.cluster.local", Some("stable"), Some(70)), destination("web", Some("canary"), Some(30))]},
            {"name": "unreachable", "route": [destination("other", None, None)]}
        ]}});
        let drs = [json!({"spec": {"host": "other", "subsets": [{"name": "canary", "labels": {"x": "y"}}]}}), destination_rule()];
        let plain = virtual_service(&vs, &drs, PLAIN);
        let plain = route(&plain);
        assert_eq!(
            plain.backends,
            vec![
                WeightedBackend { backend: Backend { service: "web".into(), subset: Some(subset("stable", "aaa")) }, weight: 70 },
                WeightedBackend { backend: Backend { service: "web".into(), subset: Some(subset("canary", "bbb")) }, weight: 30 },
            ]
        );
        assert_eq!(plain.missing_service, NO_ENDPOINTS);
        let with_header = virtual_service(&vs, &drs, HttpRequest::with_header("X-Canary", "yes"));
        assert_eq!(
            route(&with_header).backends,
            vec![WeightedBackend { backend: Backend { service: "web".into(), subset: Some(subset("canary", "bbb")) }, weight: 1 }]
        );
        assert_eq!(backends(&virtual_service(&vs, &drs, HttpRequest::with_header("x-canary", "no"))), "web=70,web=30");
    }

    #[test]
    fn virtual_service_weights_single_destination_and_undefined_subsets() {
        let vs = |route: Value| json!({"spec": {"http": [{"route": route}]}});
        // A single destination gets everything whatever its weight; with several, a missing weight is 0.
        assert_eq!(backends(&virtual_service(&vs(json!([destination("a", None, Some(0))])), &[], PLAIN)), "a=1");
        assert_eq!(
            backends(&virtual_service(&vs(json!([destination("a", None, Some(5)), destination("b", None, None)])), &[], PLAIN)),
            "a=5"
        );
        assert_eq!(
            virtual_service(&vs(json!([destination("a", None, Some(0)), destination("b", None, Some(0))])), &[], PLAIN),
            Outcome::Reject(NO_BACKEND)
        );
        // A subset no DestinationRule defines has no endpoints.
        let undefined = virtual_service(&vs(json!([destination("web", Some("preview"), None)])), &[destination_rule()], PLAIN);
        assert_eq!(route(&undefined).backends[0].backend.subset, Some(Subset { name: "preview".into(), labels: None }));
        assert_eq!(virtual_service(&json!({"spec": {"http": []}}), &[], PLAIN), Outcome::Reject(NO_ROUTE));
    }

    #[test]
    fn virtual_service_match_blocks() {
        let matching = |block: Value, request| {
            let vs = json!({"spec": {"http": [{"match": [block], "route": [destination("hit", None, None)]}, {"route": [destination("miss", None, None)]}]}});
            first(&virtual_service(&vs, &[], request)) == "hit"
        };
        let h = HttpRequest::with_header;
        assert!(matching(json!({"uri": {"prefix": "/"}, "method": {"exact": "GET"}}), PLAIN));
        assert!(!matching(json!({"uri": {"exact": "/api"}}), PLAIN));
        assert!(!matching(json!({"method": {"exact": "POST"}}), PLAIN));
        assert!(!matching(json!({"queryParams": {"v": {"exact": "2"}}}), PLAIN));
        assert!(matching(json!({"headers": {"x-user": {"prefix": "beta"}}}), h("x-user", "beta-7")));
        assert!(matching(json!({"headers": {"x-user": {"regex": "beta-[0-9]+"}}}), h("x-user", "beta-7")));
        assert!(!matching(json!({"headers": {"x-user": {"regex": "beta"}}}), h("x-user", "beta-7")), "regex matches the whole value");
        assert!(matching(json!({"headers": {"x-user": {}}}), h("x-user", "anything")), "an empty StringMatch asks for presence");
        assert!(!matching(json!({"headers": {"x-user": {"exact": "a"}}}), PLAIN));
        assert!(matching(json!({"withoutHeaders": {"x-user": {"exact": "a"}}}), PLAIN));
        assert!(!matching(json!({"withoutHeaders": {"x-user": {"exact": "a"}}}), h("x-user", "a")));
        assert!(matching(json!({"authority": {"exact": "web"}, "port": 80}), PLAIN), "conditions the model cannot see are met");
        // Blocks are ORed.
        let vs = json!({"spec": {"http": [{"match": [{"uri": {"exact": "/api"}}, {"headers": {"x": {"exact": "1"}}}], "route": [destination("hit", None, None)]}]}});
        assert_eq!(backends(&virtual_service(&vs, &[], h("x", "1"))), "hit=1");
        assert_eq!(virtual_service(&vs, &[], PLAIN), Outcome::Reject(NO_ROUTE));
    }

    #[test]
    fn virtual_service_mirror_and_mirrors() {
        let vs = |extra: Value| {
            let mut route = json!({"route": [destination("web", Some("stable"), None)]});
            route.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            json!({"spec": {"http": [route]}})
        };
        let mirror = |extra| route(&virtual_service(&vs(extra), &[destination_rule()], PLAIN)).mirror.clone();
        assert_eq!(
            mirror(json!({"mirror": {"host": "web", "subset": "canary"}, "mirrorPercentage": {"value": 12.5}})),
            Some(Mirror { backend: Backend { service: "web".into(), subset: Some(subset("canary", "bbb")) }, percent: 12.5 })
        );
        assert_eq!(
            mirror(json!({"mirror": {"host": "web-canary.ns.svc"}})),
            Some(Mirror { backend: Backend::service("web-canary"), percent: 100.0 })
        );
        assert_eq!(
            mirror(
                json!({"mirrors": [{"destination": {"host": "shadow"}, "percentage": {"value": 5}}, {"destination": {"host": "other"}}]})
            ),
            Some(Mirror { backend: Backend::service("shadow"), percent: 5.0 })
        );
        assert_eq!(mirror(json!({})), None);
    }

    fn ingress(name: &str, host: &str, service: &str, annotations: &[(&str, &str)]) -> Value {
        let annotations: BTreeMap<String, String> =
            annotations.iter().map(|(k, v)| (format!("{NGINX_PREFIX}/{k}"), (*v).to_owned())).collect();
        json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}
            ]}}]}
        })
    }

    #[test]
    fn nginx_canary_weight_out_of_the_total() {
        let stable = ingress("web", "web.example.com", "web-stable", &[]);
        let route_with = |annotations: &[(&str, &str)]| {
            let canary = ingress("web-web-canary", "web.example.com", "web-canary", annotations);
            nginx(&stable, &[stable.clone(), canary], PLAIN)
        };
        assert_eq!(backends(&route_with(&[("canary", "true"), ("canary-weight", "25")])), "web-stable=75,web-canary=25");
        assert_eq!(
            backends(&route_with(&[("canary", "true"), ("canary-weight", "5"), ("canary-weight-total", "1000")])),
            "web-stable=995,web-canary=5"
        );
        assert_eq!(backends(&route_with(&[("canary", "true"), ("canary-weight", "150")])), "web-canary=100");
        assert_eq!(backends(&route_with(&[("canary", "true")])), "web-stable=100");
        // Not a canary: the annotation must say "true".
        assert_eq!(backends(&route_with(&[("canary", "false"), ("canary-weight", "100")])), "web-stable=1");
        // Another host's canary does not count, nor does an Ingress without a backend.
        let other_host = ingress("api-canary", "api.example.com", "api-canary", &[("canary", "true"), ("canary-weight", "100")]);
        assert_eq!(backends(&nginx(&stable, &[other_host], PLAIN)), "web-stable=1");
        assert_eq!(nginx(&json!({"metadata": {"name": "web"}, "spec": {}}), &[], PLAIN), Outcome::Reject(NO_ROUTE));
    }

    #[test]
    fn nginx_canary_by_header_value_pattern_and_always_never() {
        let stable = ingress("web", "web.example.com", "web-stable", &[]);
        let to = |annotations: &[(&str, &str)], request| {
            let mut all = vec![("canary", "true"), ("canary-weight", "30")];
            all.extend_from_slice(annotations);
            let canary = ingress("web-canary", "web.example.com", "web-canary", &all);
            backends(&nginx(&stable, &[canary], request))
        };
        let weighted = "web-stable=70,web-canary=30";
        let canary = "web-canary=1";
        let stable_only = "web-stable=1";
        let h = HttpRequest::with_header;
        let by_header = [("canary-by-header", "X-Canary")];
        assert_eq!(to(&by_header, h("x-canary", "always")), canary);
        assert_eq!(to(&by_header, h("x-canary", "never")), stable_only);
        assert_eq!(to(&by_header, h("x-canary", "maybe")), weighted, "other values fall through to the weight");
        assert_eq!(to(&by_header, PLAIN), weighted);
        let by_value = [("canary-by-header", "X-Canary"), ("canary-by-header-value", "on")];
        assert_eq!(to(&by_value, h("X-Canary", "on")), canary);
        assert_eq!(to(&by_value, h("X-Canary", "always")), weighted, "with a value, always is just another value");
        assert_eq!(to(&by_value, h("X-Canary", "never")), weighted);
        let by_pattern = [("canary-by-header", "X-Canary"), ("canary-by-header-pattern", "^beta")];
        assert_eq!(to(&by_pattern, h("x-canary", "beta-3")), canary);
        assert_eq!(to(&by_pattern, h("x-canary", "alpha")), weighted);
        let broken = [("canary-by-header", "X-Canary"), ("canary-by-header-pattern", "([")];
        assert_eq!(to(&broken, h("x-canary", "beta")), stable_only, "an invalid pattern sends to stable, as ingress-nginx does");
        let value_wins = [("canary-by-header", "X-Canary"), ("canary-by-header-value", "on"), ("canary-by-header-pattern", ".*")];
        assert_eq!(to(&value_wins, h("x-canary", "off")), weighted, "the pattern is ignored when a value is set");
    }

    #[test]
    fn traefik_service_weights() {
        let ts = json!({"spec": {"weighted": {"services": [{"name": "web-stable", "port": 80, "weight": 3}, {"name": "web-canary", "port": 80, "weight": 1}, {"name": "extra"}, {"name": "off", "weight": 0}]}}});
        assert_eq!(backends(&traefik_service(&ts)), "web-stable=3,web-canary=1,extra=1");
        assert_eq!(traefik_service(&json!({"spec": {"mirroring": {"name": "web"}}})), Outcome::Reject(NO_ROUTE));
        assert_eq!(
            traefik_service(&json!({"spec": {"weighted": {"services": [{"name": "a", "weight": 0}]}}})),
            Outcome::Reject(NO_BACKEND)
        );
    }

    #[test]
    fn resolve_dispatches_and_service_routes_everything() {
        assert_eq!(resolve(&RouterObjects::Service { name: "web".into() }, PLAIN), Outcome::service("web"));
        assert_eq!(route(&Outcome::service("web")).missing_service, NO_ENDPOINTS);
        let route_object = http_route_of(json!([weighted_rule(3, 1)]));
        assert_eq!(resolve(&RouterObjects::HttpRoute(route_object.clone()), PLAIN), http_route(&route_object, PLAIN));
    }

    #[test]
    fn backends_select_pods_by_service_selector_and_subset_labels() {
        let selector = labels(&[("app", "web")]);
        let pod = labels(&[("app", "web"), ("rollouts-pod-template-hash", "aaa")]);
        assert!(Backend::service("web").selects(&selector, &pod));
        assert!(!Backend::service("web").selects(&labels(&[("app", "api")]), &pod));
        assert!(!Backend::service("web").selects(&BTreeMap::new(), &pod), "a Service without a selector has no endpoints of its own");
        let narrowed = |s| Backend { service: "web".into(), subset: s };
        assert!(narrowed(Some(subset("stable", "aaa"))).selects(&selector, &pod));
        assert!(!narrowed(Some(subset("canary", "bbb"))).selects(&selector, &pod));
        assert!(!narrowed(Some(Subset { name: "x".into(), labels: None })).selects(&selector, &pod));
        assert!(narrowed(Some(Subset { name: "all".into(), labels: Some(BTreeMap::new()) })).selects(&selector, &pod));
    }
}

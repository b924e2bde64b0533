//! Typed views of the router objects the controller edits: Gateway API `HTTPRoute`, Istio `VirtualService` and
//! `DestinationRule`, Traefik `TraefikService`.
//!
//! Only the fields a router reads or writes are typed. Every struct keeps all other fields in a flattened `rest`
//! map, so an object read and written back through these types is unchanged, whatever version of the API (or
//! implementation-specific extension) it was written with. Every typed field is optional and loosely typed where
//! APIs differ (ports are kept as JSON), so a valid object of any version deserialises.
//!
//! Each type implements `kube_core::Resource`, so the controller watches and patches them directly.
//!
//! (The `gateway-api` crate's generated types were the first choice for HTTPRoute. Its current release is built on
//! kube 4 / k8s-openapi 0.28 while Serin uses kube 5 / k8s-openapi 0.29, and its types drop fields they do not
//! know, which a read-modify-write must not do.)

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::RouterKind;

/// Name and resource version of an object.
pub trait Named {
    /// `metadata.name`.
    fn name(&self) -> &str;
    /// `metadata.resourceVersion`.
    fn resource_version(&self) -> &str;
}

fn meta_name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn meta_rv(meta: &ObjectMeta) -> &str {
    meta.resource_version.as_deref().unwrap_or_default()
}

impl Named for Service {
    fn name(&self) -> &str {
        meta_name(&self.metadata)
    }
    fn resource_version(&self) -> &str {
        meta_rv(&self.metadata)
    }
}

impl Named for Ingress {
    fn name(&self) -> &str {
        meta_name(&self.metadata)
    }
    fn resource_version(&self) -> &str {
        meta_rv(&self.metadata)
    }
}

/// Implements `Named` and `kube_core::Resource` (namespaced, static type) for a router object type.
macro_rules! router_object {
    ($ty:ident, $kind:expr) => {
        impl Named for $ty {
            fn name(&self) -> &str {
                meta_name(&self.metadata)
            }
            fn resource_version(&self) -> &str {
                meta_rv(&self.metadata)
            }
        }

        impl kube_core::Resource for $ty {
            type DynamicType = ();
            type Scope = kube_core::NamespaceResourceScope;

            fn kind((): &()) -> Cow<'_, str> {
                Cow::Borrowed($kind.kind())
            }
            fn group((): &()) -> Cow<'_, str> {
                Cow::Borrowed($kind.group())
            }
            fn version((): &()) -> Cow<'_, str> {
                Cow::Borrowed($kind.version())
            }
            fn plural((): &()) -> Cow<'_, str> {
                Cow::Borrowed($kind.plural())
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

router_object!(HttpRoute, RouterKind::HttpRoute);
router_object!(VirtualService, RouterKind::VirtualService);
router_object!(DestinationRule, RouterKind::DestinationRule);
router_object!(TraefikService, RouterKind::TraefikService);

// ---------------------------------------------------------------------------------------------------------------
// Gateway API

/// `gateway.networking.k8s.io/v1` HTTPRoute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: HttpRouteSpec,
    /// Everything else (`status`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `HTTPRoute.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    /// `rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<HttpRouteRule>>,
    /// Everything else (`parentRefs`, `hostnames`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of `HTTPRoute.spec.rules`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    /// `name` (Gateway API v1.2+): how the controller recognises the rules it manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `matches` (ORed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HttpRouteMatch>>,
    /// `filters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<HttpRouteFilter>>,
    /// `backendRefs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_refs: Option<Vec<HttpBackendRef>>,
    /// Everything else (`timeouts`, `retry`, `sessionPersistence`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of `rules[].matches` (its conditions are ANDed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteMatch {
    /// `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HttpPathMatch>,
    /// `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HttpHeaderMatch>>,
    /// `method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Everything else (`queryParams`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `matches[].path`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpPathMatch {
    /// `Exact`, `PathPrefix` (the default) or `RegularExpression`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The path (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `matches[].headers[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeaderMatch {
    /// `Exact` (the default) or `RegularExpression`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Header name (case-insensitive).
    pub name: String,
    /// Value to match.
    pub value: String,
}

/// `rules[].filters[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteFilter {
    /// `type`, e.g. `RequestMirror`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `requestMirror`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_mirror: Option<HttpRequestMirror>,
    /// Everything else (the other filter types' settings).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `filters[].requestMirror`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequestMirror {
    /// The backend that receives the copies.
    pub backend_ref: HttpBackendRef,
    /// Share of requests mirrored, 0-100 (absent: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// Everything else (`fraction`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `rules[].backendRefs[]` (also a mirror filter's `backendRef`, which has no weight).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBackendRef {
    /// API group (`""` or absent: core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind (absent: Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the backend.
    pub name: String,
    /// Namespace (absent: the route's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Relative weight (absent: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Everything else (per-backend `filters`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl HttpBackendRef {
    /// Whether this refers to the Service `name` of the route's namespace.
    pub fn is_service(&self, name: &str) -> bool {
        self.name == name
            && self.group.as_deref().is_none_or(str::is_empty)
            && self.kind.as_deref().is_none_or(|k| k == "Service")
            && self.namespace.is_none()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Istio

/// `networking.istio.io` VirtualService.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService {
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: VirtualServiceSpec,
    /// Everything else (`status`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `VirtualService.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// `http` routes, first match wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Vec<IstioHttpRoute>>,
    /// `tls` routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Vec<IstioL4Route>>,
    /// `tcp` routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Vec<IstioL4Route>>,
    /// Everything else (`hosts`, `gateways`, `exportTo`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of `VirtualService.spec.http`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioHttpRoute {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `match` blocks (ORed).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<Vec<IstioHttpMatch>>,
    /// `route` destinations with weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<IstioRouteDestination>>,
    /// `mirror`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<IstioDestination>,
    /// `mirrorPercentage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<IstioPercent>,
    /// Everything else (`retries`, `timeout`, `rewrite`, `headers`, ...).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of `http[].match` (its conditions are ANDed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioHttpMatch {
    /// `uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<IstioStringMatch>,
    /// `method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<IstioStringMatch>,
    /// `headers`, by lower-case name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, IstioStringMatch>>,
    /// Everything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Istio `StringMatch`: one of exact, prefix, regex.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioStringMatch {
    /// `exact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// `prefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `regex` (RE2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// One of `route[]`: a destination and its weight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioRouteDestination {
    /// `destination`.
    pub destination: IstioDestination,
    /// `weight` (absent with a single destination: all traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Everything else (`headers`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// An Istio `Destination`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestination {
    /// `host`: a Service name (or FQDN).
    pub host: String,
    /// `subset` of the host's DestinationRule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// `port` (`{number: 80}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Value>,
}

/// `mirrorPercentage`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IstioPercent {
    /// 0-100.
    pub value: f64,
}

/// One of `tls` or `tcp`: matched by port (and SNI hosts for TLS).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioL4Route {
    /// `match` blocks.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub match_: Option<Vec<IstioL4Match>>,
    /// `route` destinations with weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<IstioRouteDestination>>,
    /// Everything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of a TLS or TCP route's `match`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioL4Match {
    /// `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// `sniHosts` (TLS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni_hosts: Option<Vec<String>>,
    /// Everything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `networking.istio.io` DestinationRule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRule {
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: DestinationRuleSpec,
    /// Everything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `DestinationRule.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `subsets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsets: Option<Vec<IstioSubset>>,
    /// Everything else (`trafficPolicy`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of `DestinationRule.spec.subsets`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioSubset {
    /// `name`.
    pub name: String,
    /// `labels` selecting the subset's endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Everything else (`trafficPolicy`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

// ---------------------------------------------------------------------------------------------------------------
// Traefik

/// `traefik.io/v1alpha1` TraefikService.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikService {
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: TraefikServiceSpec,
    /// Everything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `TraefikService.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikServiceSpec {
    /// `weighted`: weighted round robin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<TraefikWeighted>,
    /// Everything else (`mirroring`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `spec.weighted`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikWeighted {
    /// `services`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<TraefikWeightedService>>,
    /// Everything else (`sticky`).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One of `spec.weighted.services`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikWeightedService {
    /// Service name.
    pub name: String,
    /// `kind`: `Service` (absent) or `TraefikService`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `weight` (relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Everything else (`port`, `namespace`, `scheme`, `passHostHeader`, ...).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

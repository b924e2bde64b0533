//! `canary.trafficRouting`: the routers that shift traffic between stable and canary. Several may be combined;
//! each gets the same weight, header-route and mirror-route changes.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_null::null_as_default;

/// Traffic routers and settings shared by them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutTrafficRouting {
    /// Istio VirtualService (and DestinationRule) weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub istio: Option<IstioTrafficRouting>,
    /// NGINX Ingress canary annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<NginxTrafficRouting>,
    /// AWS Load Balancer Controller Ingress actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb: Option<AlbTrafficRouting>,
    /// SMI TrafficSplit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smi: Option<SmiTrafficRouting>,
    /// Ambassador Mappings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambassador: Option<AmbassadorTrafficRouting>,
    /// AWS App Mesh virtual router and nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_mesh: Option<AppMeshTrafficRouting>,
    /// Traefik weighted TraefikService.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traefik: Option<TraefikTrafficRouting>,
    /// Routes the controller owns for setHeaderRoute and setMirrorRoute steps; their order is their precedence.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub managed_routes: Vec<ManagedRoute>,
    /// Apache APISIX ApisixRoute weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apisix: Option<ApisixTrafficRouting>,
    /// Traffic router plugins by name (e.g. `argoproj-labs/gatewayAPI`), each with free-form config.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub plugins: BTreeMap<String, Value>,
    /// Total weight that setWeight is relative to (default 100; nginx and plugins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_traffic_weight: Option<i32>,
    /// Gateway API HTTPRoutes (Serin's native form of the `argoproj-labs/gatewayAPI` plugin's configuration, which
    /// is accepted under `plugins` too).
    #[serde(rename = "gatewayAPI", skip_serializing_if = "Option::is_none")]
    pub gateway_api: Option<GatewayApiTrafficRouting>,
}

/// The name under `trafficRouting.plugins` of Argo Rollouts' Gateway API plugin, whose configuration Serin reads
/// natively.
pub const GATEWAY_API_PLUGIN: &str = "argoproj-labs/gatewayAPI";

/// Gateway API routing: the weights of the backendRefs of HTTPRoute rules. The same shape as the configuration of
/// Argo Rollouts' `argoproj-labs/gatewayAPI` plugin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiTrafficRouting {
    /// The HTTPRoute (or use httpRoutes).
    #[serde(rename = "httpRoute", skip_serializing_if = "Option::is_none")]
    pub http_route: Option<String>,
    /// Several HTTPRoutes.
    #[serde(rename = "httpRoutes", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub http_routes: Vec<GatewayApiHttpRoute>,
    /// Namespace of the HTTPRoutes; must be the Rollout's own (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Accepted for compatibility with the plugin and ignored: Serin records managed rules by name in the
    /// HTTPRoute itself.
    #[serde(rename = "configMap", skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
}

/// One HTTPRoute of [`GatewayApiTrafficRouting::http_routes`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayApiHttpRoute {
    /// Name of the HTTPRoute.
    pub name: String,
    /// Whether setHeaderRoute and setMirrorRoute rules are added to this HTTPRoute (the plugin's default: false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_header_routes: Option<bool>,
}

/// A route the controller manages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRoute {
    /// Name of the route, as used by setHeaderRoute and setMirrorRoute steps.
    pub name: String,
}

/// Istio routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficRouting {
    /// The VirtualService whose route weights are set (or use virtualServices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_service: Option<IstioVirtualService>,
    /// DestinationRule whose subsets get the pod template hashes (subset-level routing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_rule: Option<IstioDestinationRule>,
    /// Several VirtualServices whose route weights are set.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub virtual_services: Vec<IstioVirtualService>,
}

/// An Istio VirtualService and the routes in it to edit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioVirtualService {
    /// Name of the VirtualService.
    pub name: String,
    /// HTTP routes to edit; may be omitted when there is a single HTTP route.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// TLS routes to edit, by port and SNI hosts.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub tls_routes: Vec<TlsRoute>,
    /// TCP routes to edit, by port.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub tcp_routes: Vec<TcpRoute>,
}

/// A TLS route of a VirtualService.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    /// Port the route matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// SNI hosts the route matches.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub sni_hosts: Vec<String>,
}

/// A TCP route of a VirtualService.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    /// Port the route matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

/// An Istio DestinationRule and the subsets that select canary and stable pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRule {
    /// Name of the DestinationRule.
    pub name: String,
    /// Subset that gets the canary pod template hash.
    pub canary_subset_name: String,
    /// Subset that gets the stable pod template hash.
    pub stable_subset_name: String,
    /// Other subsets the controller must leave alone.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub additional_subset_names: Vec<String>,
}

/// NGINX Ingress routing: the controller creates a canary Ingress next to each stable Ingress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NginxTrafficRouting {
    /// Annotation prefix of the NGINX controller (default `nginx.ingress.kubernetes.io`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation_prefix: Option<String>,
    /// The stable Ingress (or use stableIngresses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_ingress: Option<String>,
    /// Extra canary annotations, written under the annotation prefix (e.g. `canary-by-header`).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_ingress_annotations: BTreeMap<String, String>,
    /// Extra annotations copied as-is onto the canary Ingress.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub canary_ingress_annotations: BTreeMap<String, String>,
    /// Several stable Ingresses.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub stable_ingresses: Vec<String>,
}

/// AWS Load Balancer Controller routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlbTrafficRouting {
    /// The Ingress (or use ingresses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    /// Service port the Ingress action routes to.
    pub service_port: i32,
    /// Service in the Ingress to attach the action to (default the stable Service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_service: Option<String>,
    /// Annotation prefix of the load balancer controller (default `alb.ingress.kubernetes.io`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation_prefix: Option<String>,
    /// Target-group stickiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stickiness_config: Option<StickinessConfig>,
    /// Several Ingresses.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub ingresses: Vec<String>,
}

/// Duration-based target-group stickiness.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StickinessConfig {
    /// Whether stickiness is on.
    pub enabled: bool,
    /// How long a client sticks to a target group, in seconds.
    pub duration_seconds: i64,
}

/// SMI routing through a TrafficSplit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmiTrafficRouting {
    /// Service that clients call (the TrafficSplit's root service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_service: Option<String>,
    /// Name of the TrafficSplit (default the Rollout's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_split_name: Option<String>,
}

/// Ambassador routing: the controller creates a weighted `-canary` Mapping per Mapping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmbassadorTrafficRouting {
    /// Names of the Mappings.
    #[serde(deserialize_with = "null_as_default")]
    pub mappings: Vec<String>,
}

/// AWS App Mesh routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppMeshTrafficRouting {
    /// The virtual service, whose virtual router's routes are weighted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_service: Option<AppMeshVirtualService>,
    /// The virtual nodes that select canary and stable pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_node_group: Option<AppMeshVirtualNodeGroup>,
}

/// An App Mesh virtual service and the routes to edit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppMeshVirtualService {
    /// Name of the virtual service.
    pub name: String,
    /// Routes to edit; may be omitted when there is a single route.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
}

/// The App Mesh virtual nodes for canary and stable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppMeshVirtualNodeGroup {
    /// Virtual node that gets the canary pod template hash.
    pub canary_virtual_node_ref: AppMeshVirtualNodeReference,
    /// Virtual node that gets the stable pod template hash.
    pub stable_virtual_node_ref: AppMeshVirtualNodeReference,
}

/// A reference to an App Mesh VirtualNode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppMeshVirtualNodeReference {
    /// Name of the VirtualNode.
    pub name: String,
}

/// Traefik routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraefikTrafficRouting {
    /// Name of the weighted TraefikService.
    pub weighted_traefik_service_name: String,
}

/// Apache APISIX routing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApisixTrafficRouting {
    /// The ApisixRoute to edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<ApisixRoute>,
}

/// An ApisixRoute and the rules in it to edit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApisixRoute {
    /// Name of the ApisixRoute.
    pub name: String,
    /// HTTP rules to edit.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

//! Rollout spec validation: the checks Argo Rollouts performs before it reconciles a Rollout (its
//! `ValidateRolloutSpec`), with the same field paths and messages, so the `InvalidSpec` condition, the phase
//! message Argo CD shows and `kubectl serin lint` read exactly as users of Argo know them.
//!
//! Pure: only the Rollout itself is inspected. Checks that need other objects (referenced Services, Ingresses,
//! `AnalysisTemplates`) belong to the observe step, which reports them through the same [`SpecError`] type.
//!
//! Argo quirks kept on purpose (they are what users and Argo CD already see):
//! - the missing/duplicate strategy error is reported at `spec.strategy.strategy`;
//! - canary fields are reported at `spec.strategy.<field>` (not `spec.strategy.canary.<field>`), e.g.
//!   `spec.strategy.steps[1].setWeight`;
//! - a pause of `0` is valid; only negative or unparsable durations are rejected.
//!
//! Deliberate differences: a `plugin` step counts as an action; `setHeaderRoute` and `setMirrorRoute` are accepted
//! with the routers Serin can express them with (header: gatewayAPI, istio, nginx; mirror: gatewayAPI, istio), and
//! their "requires `TrafficRouting`" messages name those routers; Go's `%#v` rendering of struct values is
//! approximated with JSON.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serin_api::rollout::analysis_ref::RolloutAnalysis;
use serin_api::rollout::blue_green::BlueGreenStrategy;
use serin_api::rollout::canary::{AntiAffinity, CanaryStrategy};
use serin_api::rollout::steps::{CanaryStep, StringMatch};
use serin_api::rollout::traffic_routing::RolloutTrafficRouting;
use serin_api::{IntOrPercent, Rollout};

/// How a field is wrong, mirroring apimachinery's `field.ErrorType`s that Argo uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Required value`.
    Required,
    /// `Invalid value: <rendered value>`.
    Invalid(String),
    /// `Unsupported value: <rendered value>`.
    Unsupported(String),
    /// `Internal error`.
    Internal,
    /// `Not implemented`: valid for Argo Rollouts, but this version of Serin cannot run it yet.
    NotImplemented,
    /// A reference to another object that cannot be resolved (the detail says why).
    Unresolved,
}

/// One invalid field of a Rollout spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Field path as Argo prints it (`spec.strategy.steps[0].setWeight`).
    pub path: String,
    /// The kind of error, with the rendered bad value where there is one.
    pub kind: ErrorKind,
    /// What is wrong.
    pub detail: String,
}

impl SpecError {
    fn required(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: ErrorKind::Required, detail: detail.into() }
    }

    fn invalid(path: impl Into<String>, value: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: ErrorKind::Invalid(value.into()), detail: detail.into() }
    }

    /// A reference (to a Service, a route) that cannot be resolved.
    pub fn unresolved(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: ErrorKind::Unresolved, detail: detail.into() }
    }

    /// A field Argo accepts that this version of Serin does not run yet.
    pub fn not_implemented(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { path: path.into(), kind: ErrorKind::NotImplemented, detail: detail.into() }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Required => write!(f, "{}: Required value", self.path)?,
            ErrorKind::Invalid(v) => write!(f, "{}: Invalid value: {v}", self.path)?,
            ErrorKind::Unsupported(v) => write!(f, "{}: Unsupported value: {v}", self.path)?,
            ErrorKind::Internal => write!(f, "{}: Internal error", self.path)?,
            ErrorKind::NotImplemented => write!(f, "{}: Not implemented", self.path)?,
            ErrorKind::Unresolved => write!(f, "{}", self.path)?,
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// The `InvalidSpec` condition message, as Argo words it: `The Rollout "<name>" is invalid: <errors>` where several
/// errors are bracketed and comma-separated (apimachinery's aggregate).
pub fn invalid_spec_message(name: &str, errors: &[SpecError]) -> String {
    let body = match errors {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    format!("The Rollout \"{name}\" is invalid: {body}")
}

// Argo's messages, verbatim (users grep for them).
const MISSING_FIELD: &str = "Rollout has missing field";
const INVALID_SET_WEIGHT: &str = "SetWeight needs to be between 0 and";
const EXPERIMENT_WEIGHT_WITHOUT_ROUTING: &str = "Experiment template weight cannot be set unless TrafficRouting is enabled";
const EXPERIMENT_WEIGHT_ROUTER: &str =
    "Experiment template weight is only available for TrafficRouting with SMI, ALB, and Istio at this time";
const SET_CANARY_SCALE_NEEDS_ROUTING: &str = "SetCanaryScale requires TrafficRouting to be set";
const SET_HEADER_ROUTE_NEEDS_ROUTING: &str =
    "SetHeaderRoute requires a traffic router that routes by header: gatewayAPI (or its plugin), istio or nginx";
const SET_MIRROR_ROUTE_NEEDS_ROUTING: &str = "SetMirrorRoute requires a traffic router that mirrors: gatewayAPI (or its plugin) or istio";
const STRING_MATCH_MULTIPLE: &str = "StringMatch match value must have exactly one of the following: exact, regex, prefix";
const STRING_MATCH_MISSING: &str = "StringMatch value missed, match value must have one of the following: exact, regex, prefix";
const ALB_EXACT_ONLY: &str = "SetHeaderRoute match value invalid. ALB supports 'exact' value only";
const INVALID_DURATION: &str = "Duration needs to be greater than 0";
const SURGE_AND_UNAVAILABLE_ZERO: &str = "MaxSurge and MaxUnavailable both can not be zero";
const INVALID_STEP: &str = "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause";
const MULTIPLE_STRATEGIES: &str = "Multiple Strategies can not be listed";
const DUPLICATE_BLUE_GREEN_SERVICES: &str =
    "This rollout uses the same service for the active and preview services, but two different services are required.";
const DUPLICATE_CANARY_SERVICES: &str =
    "This rollout uses the same service for the stable and canary services, but two different services are required.";
const ANTI_AFFINITY_ONE_STRATEGY: &str = "AntiAffinity must have exactly one strategy listed";
const ANTI_AFFINITY_WEIGHT: &str = "AntiAffinity weight must be between 1-100";
const SCALE_DOWN_LIMIT: &str = "This rollout's revision history limit can not be smaller than the rollout's scale down limit";
const ROUTING_NEEDS_SERVICES: &str = "Canary service and Stable service must to be set to use Traffic Routing";
const ANALYSIS_ARGS_DOWNWARD_API: &str = "Analyses arguments must refer to valid object metadata supported by downwardAPI";
const SCALE_DOWN_DELAY_NEEDS_ROUTING: &str = "Canary scaleDownDelaySeconds can only be used with traffic routing";
const DYNAMIC_STABLE_SCALE_NEEDS_ROUTING: &str = "Canary dynamicStableScale can only be used with traffic routing";
const DYNAMIC_STABLE_SCALE_WITH_DELAY: &str = "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds";
const MAX_WEIGHT_NGINX_PLUGINS: &str = "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins";
const PING_PONG_SERVICES: &str = "Ping service and Pong service must to be set to use Ping-Pong feature";
const DUPLICATE_PING_PONG: &str =
    "This rollout uses the same service for the ping and pong services, but two different services are required.";
const ALB_ROOT_SERVICE: &str = "Root service field is required for the configuration with ALB and ping-pong feature enabled";
const PING_PONG_ALB_ONLY: &str = "Ping-pong feature works with the ALB traffic routing only";
const ROUTE_NOT_MANAGED: &str = "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes";

/// Go's `%q` for a string.
fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// Approximates Go's `%#v` of a struct value with its JSON.
fn rendered<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Go's `%#v` of an `intstr.IntOrString` value (its `String()` has a pointer receiver, so Go prints the struct).
fn int_or_string_go(v: &IntOrPercent) -> String {
    match v {
        IntOrPercent::Int(i) => format!("intstr.IntOrString{{Type:0, IntVal:{i}, StrVal:\"\"}}"),
        IntOrPercent::String(s) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}", quoted(s)),
    }
}

/// Valid Argo fields that this version of Serin cannot run yet. Reported as `InvalidSpec` like any other error, so a
/// Rollout that needs them is held (nothing running is touched) rather than run without them.
pub fn unsupported_features(rollout: &Rollout) -> Vec<SpecError> {
    const LATER: &str = "not supported by this version of Serin yet; the Rollout is held until it is removed";
    let spec = &rollout.spec;
    let mut errs = Vec::new();
    let mut note = |path: &str, what: &str| errs.push(SpecError::not_implemented(path, format!("{what} is {LATER}")));
    for key in spec.unknown.keys() {
        note(&format!("spec.{key}"), "this field");
    }
    if spec.workload_ref.is_some() {
        note("spec.workloadRef", "workloadRef");
    }
    let strategy = spec.strategy.as_ref();
    if strategy.is_some_and(|s| s.blue_green.is_some()) {
        note("spec.strategy.blueGreen", "the blue-green strategy");
    }
    let Some(canary) = strategy.and_then(|s| s.canary.as_ref()) else { return errs };
    let optional = [
        ("antiAffinity", canary.anti_affinity.is_some(), "antiAffinity"),
        ("canaryMetadata", canary.canary_metadata.is_some(), "canaryMetadata"),
        ("stableMetadata", canary.stable_metadata.is_some(), "stableMetadata"),
        ("replicaProgressThreshold", canary.replica_progress_threshold.is_some(), "replicaProgressThreshold"),
    ];
    for (field, set, what) in optional {
        if set {
            note(&format!("spec.strategy.canary.{field}"), what);
        }
    }
    for (i, step) in canary.steps.iter().enumerate() {
        let path = format!("spec.strategy.canary.steps[{i}]");
        if step.experiment.is_some() {
            note(&format!("{path}.experiment"), "the experiment step");
        }
        if step.plugin.is_some() {
            note(&format!("{path}.plugin"), "the plugin step");
        }
    }
    if let Some(tr) = &canary.traffic_routing {
        unsupported_routers(&mut errs, canary, tr);
    }
    errs
}

/// Routers Serin does not drive, and steps a configured router cannot express.
fn unsupported_routers(errs: &mut Vec<SpecError>, canary: &CanaryStrategy, tr: &RolloutTrafficRouting) {
    const BASE: &str = "spec.strategy.canary.trafficRouting";
    const LATER: &str =
        "is not supported by Serin; supported routers: gatewayAPI (or the argoproj-labs/gatewayAPI plugin), istio, nginx, traefik";
    let others = [
        ("alb", tr.alb.is_some()),
        ("smi", tr.smi.is_some()),
        ("ambassador", tr.ambassador.is_some()),
        ("appMesh", tr.app_mesh.is_some()),
        ("apisix", tr.apisix.is_some()),
    ];
    for (field, set) in others {
        if set {
            errs.push(SpecError::not_implemented(format!("{BASE}.{field}"), format!("the {field} router {LATER}")));
        }
    }
    for name in tr.plugins.keys().filter(|n| n.as_str() != serin_api::rollout::traffic_routing::GATEWAY_API_PLUGIN) {
        errs.push(SpecError::not_implemented(format!("{BASE}.plugins[{name:?}]"), format!("the traffic router plugin {name:?} {LATER}")));
    }
    if let Some(istio) = &tr.istio
        && istio.virtual_service.is_none()
        && istio.virtual_services.is_empty()
    {
        errs.push(SpecError::required(format!("{BASE}.istio.virtualService"), "one of virtualService or virtualServices is required"));
    }
    if let Some(nginx) = &tr.nginx
        && nginx.stable_ingress.as_deref().is_none_or(str::is_empty)
        && nginx.stable_ingresses.is_empty()
    {
        errs.push(SpecError::required(format!("{BASE}.nginx.stableIngress"), "one of stableIngress or stableIngresses is required"));
    }
    if let Some(gw) = &tr.gateway_api
        && tr.plugins.contains_key(serin_api::rollout::traffic_routing::GATEWAY_API_PLUGIN)
    {
        errs.push(SpecError::invalid(
            format!("{BASE}.gatewayAPI"),
            rendered(gw),
            "set either gatewayAPI or the argoproj-labs/gatewayAPI plugin, not both",
        ));
    }
    // Every configured router gets the same header and mirror routes; one that cannot express them would send
    // matching requests elsewhere than the others do.
    for (i, step) in canary.steps.iter().enumerate() {
        let path = format!("spec.strategy.steps[{i}]");
        if step.set_header_route.is_some() {
            if tr.traefik.is_some() {
                errs.push(SpecError::invalid(
                    format!("{path}.setHeaderRoute"),
                    "",
                    "the traefik router (a weighted TraefikService) cannot route by header",
                ));
            }
            if let Some(hr) = &step.set_header_route
                && tr.nginx.is_some()
                && hr.match_.len() > 1
            {
                errs.push(SpecError::invalid(
                    format!("{path}.setHeaderRoute.match"),
                    rendered(&hr.match_),
                    "the nginx router can route by one header only",
                ));
            }
        }
        if step.set_mirror_route.is_some() {
            for (field, set) in [("nginx", tr.nginx.is_some()), ("traefik", tr.traefik.is_some())] {
                if set {
                    errs.push(SpecError::invalid(
                        format!("{path}.setMirrorRoute"),
                        "",
                        format!("the {field} router cannot mirror traffic"),
                    ));
                }
            }
        }
    }
    let header_steps = canary.steps.iter().filter(|s| s.set_header_route.as_ref().is_some_and(|h| !h.match_.is_empty())).count();
    if tr.nginx.is_some() && header_steps > 0 && tr.managed_routes.len() > 1 {
        errs.push(SpecError::invalid(
            format!("{BASE}.managedRoutes"),
            rendered(&tr.managed_routes),
            "the nginx router can hold one header route at a time: list one managed route",
        ));
    }
}

/// Validates a Rollout's spec. An empty result means the spec is valid.
pub fn validate_rollout(rollout: &Rollout) -> Vec<SpecError> {
    let spec = &rollout.spec;
    let mut errs = Vec::new();
    let replicas = spec.desired_replicas();
    non_negative(&mut errs, "spec.replicas", replicas);
    if spec.workload_ref.is_none() {
        match &spec.selector {
            None => errs.push(SpecError::required("spec.selector", format!("{MISSING_FIELD} '.spec.selector'"))),
            Some(sel) if selector_is_empty(sel) => {
                errs.push(SpecError::invalid("spec.selector", rendered(sel), "empty selector is invalid for deployment"));
            }
            Some(_) => {}
        }
    }
    let template_set = spec.template.as_ref().is_some_and(|t| t != &PodTemplateSpec::default());
    if spec.workload_ref.is_some() && template_set {
        errs.push(SpecError {
            path: "spec.template".into(),
            kind: ErrorKind::Internal,
            detail: "template must be empty for workload reference rollout".into(),
        });
    }
    if spec.workload_ref.is_none() {
        validate_template(&mut errs, spec.template.as_ref(), spec.selector.as_ref());
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    non_negative(&mut errs, "spec.minReadySeconds", min_ready);
    let history_limit = spec.revision_history_limit.unwrap_or(10);
    non_negative(&mut errs, "spec.revisionHistoryLimit", history_limit);
    let deadline = spec.progress_deadline_seconds.unwrap_or(600);
    non_negative(&mut errs, "spec.progressDeadlineSeconds", deadline);
    if deadline <= min_ready {
        errs.push(SpecError::invalid("spec.progressDeadlineSeconds", deadline.to_string(), "must be greater than minReadySeconds"));
    }
    let strategy = spec.strategy.as_ref();
    match (strategy.and_then(|s| s.canary.as_ref()), strategy.and_then(|s| s.blue_green.as_ref())) {
        (None, None) => errs.push(SpecError::required(
            "spec.strategy.strategy",
            format!("{MISSING_FIELD} '.spec.strategy.canary or .spec.strategy.blueGreen'"),
        )),
        (Some(_), Some(_)) => {
            errs.push(SpecError::invalid("spec.strategy.strategy", quoted("blueGreen: true canary: true"), MULTIPLE_STRATEGIES));
        }
        (None, Some(bg)) => validate_blue_green(&mut errs, bg, history_limit),
        (Some(canary), None) => validate_canary(&mut errs, rollout, canary),
    }
    errs
}

fn non_negative(errs: &mut Vec<SpecError>, path: &str, value: i32) {
    if value < 0 {
        errs.push(SpecError::invalid(path, value.to_string(), "must be greater than or equal to 0"));
    }
}

fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = sel.match_labels.as_ref().is_none_or(|ml| ml.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let exprs_ok = sel.match_expressions.as_ref().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
                "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
                "Exists" => labels.contains_key(&e.key),
                "DoesNotExist" => !labels.contains_key(&e.key),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
}

/// The parts of the apiserver's `ReplicaSet` pod-template validation that a Rollout's `ReplicaSets` would fail on.
fn validate_template(errs: &mut Vec<SpecError>, template: Option<&PodTemplateSpec>, selector: Option<&LabelSelector>) {
    let empty = BTreeMap::new();
    let labels = template.and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref()).unwrap_or(&empty);
    if let Some(sel) = selector.filter(|s| !selector_is_empty(s))
        && !selector_matches(sel, labels)
    {
        let shown = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect::<Vec<_>>().join(", ");
        errs.push(SpecError::invalid(
            "spec.template.metadata.labels",
            format!("map[string]string{{{shown}}}"),
            "`selector` does not match template `labels`",
        ));
    }
    let spec = template.and_then(|t| t.spec.as_ref());
    match spec.map(|s| &s.containers) {
        None => errs.push(SpecError::required("spec.template.spec.containers", "")),
        Some(cs) if cs.is_empty() => errs.push(SpecError::required("spec.template.spec.containers", "")),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c.name.is_empty() {
                    errs.push(SpecError::required(format!("spec.template.spec.containers[{i}].name"), ""));
                }
                if c.image.as_deref().is_none_or(str::is_empty) {
                    errs.push(SpecError::required(format!("spec.template.spec.containers[{i}].image"), ""));
                }
            }
        }
    }
    if let Some(policy) = spec.and_then(|s| s.restart_policy.as_deref()).filter(|p| *p != "Always") {
        errs.push(SpecError {
            path: "spec.template.spec.restartPolicy".into(),
            kind: ErrorKind::Unsupported(quoted(policy)),
            detail: "supported values: \"Always\"".into(),
        });
    }
}

fn validate_blue_green(errs: &mut Vec<SpecError>, bg: &BlueGreenStrategy, history_limit: i32) {
    if bg.active_service == bg.preview_service.clone().unwrap_or_default() {
        errs.push(SpecError::invalid("spec.strategy.activeService", quoted(&bg.active_service), DUPLICATE_BLUE_GREEN_SERVICES));
    }
    if let Some(limit) = bg.scale_down_delay_revision_limit
        && history_limit < limit
    {
        errs.push(SpecError::invalid("spec.strategy.scaleDownDelayRevisionLimit", limit.to_string(), SCALE_DOWN_LIMIT));
    }
    validate_anti_affinity(errs, bg.anti_affinity.as_ref());
}

fn validate_anti_affinity(errs: &mut Vec<SpecError>, anti: Option<&AntiAffinity>) {
    let Some(anti) = anti else { return };
    let preferred = anti.preferred_during_scheduling_ignored_during_execution.as_ref();
    let required = anti.required_during_scheduling_ignored_during_execution.as_ref();
    if preferred.is_some() == required.is_some() {
        let shown = format!(
            "antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: {} antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: {}",
            preferred.is_some(),
            required.is_some()
        );
        errs.push(SpecError::invalid("spec.strategy.antiAffinity", quoted(&shown), ANTI_AFFINITY_ONE_STRATEGY));
    }
    if let Some(p) = preferred
        && !(1..=100).contains(&p.weight)
    {
        errs.push(SpecError::invalid("spec.strategy.antiAffinity.weight", p.weight.to_string(), ANTI_AFFINITY_WEIGHT));
    }
}

/// Argo's `requireCanaryStableServices`: routers that address the canary and stable pods through two Services.
fn routing_needs_services(canary: &CanaryStrategy, tr: &RolloutTrafficRouting) -> bool {
    tr.gateway_api.is_some()
        || tr.plugins.contains_key(serin_api::rollout::traffic_routing::GATEWAY_API_PLUGIN)
        || (tr.alb.is_some() && canary.ping_pong.is_none())
        || tr.istio.as_ref().is_some_and(|i| i.destination_rule.is_none())
        || tr.smi.is_some()
        || tr.apisix.is_some()
        || tr.ambassador.is_some()
        || tr.nginx.is_some()
        || tr.app_mesh.is_some()
        || tr.traefik.is_some()
}

/// Value of a maxSurge/maxUnavailable for the both-zero check (`getIntOrPercentValue`): a valid percentage's
/// number, otherwise the integer (a non-percent string parses as an integer, or 0).
fn int_or_percent_value(v: &IntOrPercent) -> i64 {
    match v {
        IntOrPercent::Int(i) => i64::from(*i),
        IntOrPercent::String(s) => s.strip_suffix('%').unwrap_or(s).parse().unwrap_or(0),
    }
}

fn validate_canary(errs: &mut Vec<SpecError>, rollout: &Rollout, canary: &CanaryStrategy) {
    let default_quarter = IntOrPercent::percent(25);
    let surge = canary.max_surge.as_ref().unwrap_or(&default_quarter);
    let unavailable = canary.max_unavailable.as_ref().unwrap_or(&default_quarter);
    if int_or_percent_value(surge) == 0 && int_or_percent_value(unavailable) == 0 {
        errs.push(SpecError::invalid("spec.strategy.maxSurge", int_or_string_go(surge), SURGE_AND_UNAVAILABLE_ZERO));
    }
    let canary_svc = canary.canary_service.as_deref().unwrap_or_default();
    let stable_svc = canary.stable_service.as_deref().unwrap_or_default();
    if !canary_svc.is_empty() && canary_svc == stable_svc {
        errs.push(SpecError::invalid("spec.strategy.stableService", quoted(stable_svc), DUPLICATE_CANARY_SERVICES));
    }
    let routing = canary.traffic_routing.as_ref();
    if let Some(pp) = &canary.ping_pong {
        if let Some(tr) = routing.filter(|tr| tr.alb.is_none()) {
            errs.push(SpecError::invalid("spec.strategy.trafficRouting.alb", rendered(&tr.alb), PING_PONG_ALB_ONLY));
        }
        if pp.ping_service.is_empty() {
            errs.push(SpecError::invalid("spec.strategy.pingPong.pingService", quoted(""), PING_PONG_SERVICES));
        }
        if pp.pong_service.is_empty() {
            errs.push(SpecError::invalid("spec.strategy.pingPong.pongService", quoted(""), PING_PONG_SERVICES));
        }
        if pp.ping_service == pp.pong_service {
            errs.push(SpecError::invalid("spec.strategy.pingPong.pingService", quoted(&pp.ping_service), DUPLICATE_PING_PONG));
        }
        if let Some(alb) = routing.and_then(|tr| tr.alb.as_ref())
            && alb.root_service.as_deref().unwrap_or_default().is_empty()
        {
            errs.push(SpecError::invalid("spec.strategy.trafficRouting.alb.rootService", quoted(""), ALB_ROOT_SERVICE));
        }
    }
    if routing.is_some_and(|tr| routing_needs_services(canary, tr)) {
        if stable_svc.is_empty() {
            errs.push(SpecError::invalid("spec.strategy.stableService", quoted(""), ROUTING_NEEDS_SERVICES));
        }
        if canary_svc.is_empty() {
            errs.push(SpecError::invalid("spec.strategy.canaryService", quoted(""), ROUTING_NEEDS_SERVICES));
        }
    }
    let dynamic = canary.dynamic_stable_scale == Some(true);
    match routing {
        None => {
            if let Some(d) = canary.scale_down_delay_seconds {
                errs.push(SpecError::invalid("spec.strategy.scaleDownDelaySeconds", d.to_string(), SCALE_DOWN_DELAY_NEEDS_ROUTING));
            }
            if dynamic {
                errs.push(SpecError::invalid("spec.strategy.dynamicStableScale", "true", DYNAMIC_STABLE_SCALE_NEEDS_ROUTING));
            }
        }
        Some(tr) => {
            if canary.scale_down_delay_seconds.is_some() && dynamic {
                errs.push(SpecError::invalid("spec.strategy.dynamicStableScale", "true", DYNAMIC_STABLE_SCALE_WITH_DELAY));
            }
            if let Some(max) = tr.max_traffic_weight
                && tr.nginx.is_none()
                && tr.plugins.is_empty()
                && tr.gateway_api.is_none()
            {
                errs.push(SpecError::invalid("spec.strategy.trafficRouting.maxTrafficWeight", max.to_string(), MAX_WEIGHT_NGINX_PLUGINS));
            }
        }
    }
    let max_weight = routing.and_then(|tr| tr.max_traffic_weight).unwrap_or(100);
    for (i, step) in canary.steps.iter().enumerate() {
        validate_step(errs, rollout, canary, &format!("spec.strategy.steps[{i}]"), step, max_weight);
        if let Some(analysis) = &step.analysis {
            validate_analysis(errs, &format!("spec.strategy.canary.steps[{i}].analysis"), analysis);
        }
    }
    if let Some(background) = &canary.analysis {
        validate_analysis(errs, "spec.strategy.canary.analysis", &background.analysis);
    }
    validate_anti_affinity(errs, canary.anti_affinity.as_ref());
}

/// An analysis reference: at least one named template, each argument with exactly one source, valid metric-name
/// patterns. (Whether the templates exist is checked when the run is created: they may be applied later.)
fn validate_analysis(errs: &mut Vec<SpecError>, path: &str, analysis: &RolloutAnalysis) {
    if analysis.templates.is_empty() {
        errs.push(SpecError::required(format!("{path}.templates"), "at least one template is required"));
    }
    for (j, template) in analysis.templates.iter().enumerate() {
        if template.template_name.as_deref().is_none_or(str::is_empty) {
            errs.push(SpecError::required(format!("{path}.templates[{j}].templateName"), ""));
        }
    }
    for (k, arg) in analysis.args.iter().enumerate() {
        let from = arg.value_from.as_ref();
        let sources = usize::from(arg.value.is_some())
            + usize::from(from.is_some_and(|f| f.pod_template_hash_value.is_some()))
            + usize::from(from.is_some_and(|f| f.field_ref.is_some()));
        if sources != 1 {
            errs.push(SpecError::invalid(
                format!("{path}.args[{k}]"),
                arg.name.clone(),
                "exactly one of value, valueFrom.podTemplateHashValue or valueFrom.fieldRef is required",
            ));
        }
    }
    let patterns = analysis.dry_run.iter().enumerate().map(|(k, d)| (format!("{path}.dryRun[{k}].metricName"), &d.metric_name)).chain(
        analysis
            .measurement_retention
            .iter()
            .enumerate()
            .map(|(k, m)| (format!("{path}.measurementRetention[{k}].metricName"), &m.metric_name)),
    );
    for (at, pattern) in patterns {
        if let Err(why) = crate::analysis::assess::selects(pattern, "") {
            errs.push(SpecError::invalid(at, pattern.clone(), why));
        }
    }
}

fn validate_step(errs: &mut Vec<SpecError>, rollout: &Rollout, canary: &CanaryStrategy, path: &str, step: &CanaryStep, max_weight: i32) {
    let routing = canary.traffic_routing.as_ref();
    // Argo's multiple-type check covers setWeight, pause, experiment and analysis only.
    let core_actions = [step.set_weight.is_some(), step.pause.is_some(), step.experiment.is_some(), step.analysis.is_some()];
    if core_actions.iter().filter(|a| **a).count() > 1 {
        let shown = format!(
            "step.Experiment: {} step.Pause: {} step.SetWeight: {} step.Analysis: {}",
            step.experiment.is_some(),
            step.pause.is_some(),
            step.set_weight.is_some(),
            step.analysis.is_some()
        );
        errs.push(SpecError::invalid(path, quoted(&shown), INVALID_STEP));
    }
    if step.actions().is_empty() {
        // Go prints `== nil` for each action, so `true` means "not set".
        let shown = "step.Experiment: true step.Pause: true step.SetWeight: true step.Analysis: true step.SetCanaryScale: true step.SetHeaderRoute: true step.SetMirrorRoutes: true";
        errs.push(SpecError::invalid(path, quoted(shown), INVALID_STEP));
    }
    if let Some(w) = step.set_weight
        && !(0..=max_weight).contains(&w)
    {
        errs.push(SpecError::invalid(format!("{path}.setWeight"), w.to_string(), format!("{INVALID_SET_WEIGHT} {max_weight}")));
    }
    if let Some(pause) = &step.pause {
        // Argo's DurationSeconds answers -1 for an unparsable duration; a zero pause is allowed.
        let seconds = pause.duration.as_ref().map_or(Ok(0), serin_api::PauseDuration::seconds).unwrap_or(-1);
        if seconds < 0 {
            errs.push(SpecError::invalid(format!("{path}.pause.duration"), seconds.to_string(), INVALID_DURATION));
        }
    }
    if step.set_canary_scale.is_some() && routing.is_none() {
        errs.push(SpecError::required("spec.strategy.trafficRouting", SET_CANARY_SCALE_NEEDS_ROUTING));
    }
    if let Some(hr) = &step.set_header_route {
        // Serin adds nginx (canary-by-header) and the native gatewayAPI router to Argo's list.
        let capable = routing.filter(|tr| {
            tr.istio.is_some()
                || tr.alb.is_some()
                || tr.apisix.is_some()
                || !tr.plugins.is_empty()
                || tr.nginx.is_some()
                || tr.gateway_api.is_some()
        });
        match capable {
            None => errs.push(SpecError::invalid(format!("{path}.setHeaderRoute"), rendered(hr), SET_HEADER_ROUTE_NEEDS_ROUTING)),
            Some(tr) => {
                for (j, m) in hr.match_.iter().enumerate() {
                    let at = format!("{path}.setHeaderRoute.match[{j}]");
                    if tr.alb.is_some() {
                        let exact_only = m.header_value.exact.as_deref().is_some_and(|e| !e.is_empty())
                            && m.header_value.prefix.as_deref().unwrap_or_default().is_empty()
                            && m.header_value.regex.as_deref().unwrap_or_default().is_empty();
                        if !exact_only {
                            errs.push(SpecError::invalid(at, rendered(&m.header_value), ALB_EXACT_ONLY));
                        }
                    } else {
                        string_match(errs, &at, Some(&m.header_value));
                    }
                }
            }
        }
    }
    if let Some(mr) = &step.set_mirror_route {
        if routing.is_none_or(|tr| tr.istio.is_none() && tr.plugins.is_empty() && tr.gateway_api.is_none()) {
            errs.push(SpecError::invalid(format!("{path}.setMirrorRoute"), rendered(mr), SET_MIRROR_ROUTE_NEEDS_ROUTING));
        }
        for (j, m) in mr.match_.iter().enumerate() {
            let at = format!("{path}.setMirrorRoute.match[{j}]");
            if m.method.is_some() {
                string_match(errs, &at, m.method.as_ref());
            }
            if m.path.is_some() {
                string_match(errs, &at, m.path.as_ref());
            }
        }
    }
    if let Some(tr) = routing {
        let route_name = step.set_header_route.as_ref().map(|h| h.name.clone().unwrap_or_default()).map(|n| ("setHeaderRoute", n));
        let mirror_name = step.set_mirror_route.as_ref().map(|m| ("setMirrorRoute", m.name.clone()));
        for (field, name) in route_name.into_iter().chain(mirror_name) {
            if tr.managed_routes.is_empty() {
                errs.push(SpecError::required(
                    "spec.strategy.trafficRouting.managedRoutes",
                    format!("{MISSING_FIELD} 'spec.strategy.canary.trafficRouting.managedRoutes'"),
                ));
            } else if !tr.managed_routes.iter().any(|r| r.name == name) {
                errs.push(SpecError::invalid(format!("{path}.{field}"), quoted(&name), ROUTE_NOT_MANAGED));
            }
        }
    }
    let mut args = Vec::new();
    if let Some(exp) = &step.experiment {
        for (t, template) in exp.templates.iter().enumerate() {
            let Some(weight) = template.weight else { continue };
            let at = format!("{path}.experiment.templates[{t}].weight");
            match routing {
                None => errs.push(SpecError::invalid(at, weight.to_string(), EXPERIMENT_WEIGHT_WITHOUT_ROUTING)),
                Some(tr) if tr.alb.is_none() && tr.smi.is_none() && tr.istio.is_none() => {
                    errs.push(SpecError::invalid(at, weight.to_string(), EXPERIMENT_WEIGHT_ROUTER));
                }
                Some(_) => {}
            }
        }
        args.extend(exp.analyses.iter().flat_map(|a| a.args.iter()));
    }
    if let Some(analysis) = &step.analysis {
        args.extend(analysis.args.iter());
    }
    let bad_arg = args.iter().any(|a| {
        a.value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .is_some_and(|f| f.field_path.starts_with("metadata") && !downward_api_path(&f.field_path, rollout))
    });
    if bad_arg {
        errs.push(SpecError::invalid(format!("{path}.analyses"), rendered(&args), ANALYSIS_ARGS_DOWNWARD_API));
    }
}

fn string_match(errs: &mut Vec<SpecError>, at: &str, m: Option<&StringMatch>) {
    let Some(m) = m else {
        errs.push(SpecError::invalid(at, "null", STRING_MATCH_MISSING));
        return;
    };
    let set = [&m.exact, &m.regex, &m.prefix].iter().filter(|v| v.as_deref().is_some_and(|s| !s.is_empty())).count();
    match set {
        0 => errs.push(SpecError::invalid(at, rendered(m), STRING_MATCH_MISSING)),
        1 => {}
        _ => errs.push(SpecError::invalid(at, rendered(m), STRING_MATCH_MULTIPLE)),
    }
}

/// Whether a `metadata.*` field path is one the downward API can resolve on the Rollout (Kubernetes'
/// `fieldpath.ExtractFieldPathAsString`): name, namespace, uid, labels, annotations, and subscripted
/// `labels['k']` / `annotations['k']` with a valid key.
fn downward_api_path(path: &str, _rollout: &Rollout) -> bool {
    if matches!(path, "metadata.name" | "metadata.namespace" | "metadata.uid" | "metadata.labels" | "metadata.annotations") {
        return true;
    }
    for prefix in ["metadata.labels['", "metadata.annotations['"] {
        if let Some(key) = path.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")) {
            return !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(yaml_spec: &str) -> Rollout {
        let text = format!("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: demo}}\nspec:\n{yaml_spec}");
        serde_saphyr::from_str(&text).unwrap()
    }

    const BASE: &str = "  replicas: 3\n  selector: {matchLabels: {app: demo}}\n  template:\n    metadata: {labels: {app: demo}}\n    spec: {containers: [{name: app, image: nginx:1.27}]}\n";

    fn canary(extra: &str) -> Rollout {
        rollout(&format!("{BASE}  strategy:\n    canary:\n{extra}"))
    }

    fn messages(r: &Rollout) -> Vec<String> {
        validate_rollout(r).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_valid_canary_has_no_errors() {
        let r = canary(
            "      steps:\n      - setWeight: 20\n      - pause: {}\n      - setWeight: 60\n      - pause: {duration: 30s}\n      - pause: {duration: 0}\n",
        );
        assert_eq!(messages(&r), Vec::<String>::new());
    }

    #[test]
    fn missing_strategy_uses_argos_path_and_message() {
        let r = rollout(BASE);
        let errs = validate_rollout(&r);
        assert_eq!(
            invalid_spec_message("demo", &errs),
            "The Rollout \"demo\" is invalid: spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'"
        );
    }

    #[test]
    fn both_strategies_are_refused() {
        let r = rollout(&format!("{BASE}  strategy:\n    canary: {{}}\n    blueGreen: {{activeService: a}}\n"));
        assert_eq!(
            messages(&r),
            ["spec.strategy.strategy: Invalid value: \"blueGreen: true canary: true\": Multiple Strategies can not be listed"]
        );
    }

    #[test]
    fn set_weight_range_follows_max_traffic_weight() {
        let r = canary("      steps: [{setWeight: 120}]\n");
        assert_eq!(messages(&r), ["spec.strategy.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100"]);
        let r = canary(
            "      canaryService: c\n      stableService: s\n      trafficRouting: {nginx: {stableIngress: i}, maxTrafficWeight: 1000}\n      steps: [{setWeight: 120}]\n",
        );
        assert_eq!(messages(&r), Vec::<String>::new());
    }

    #[test]
    fn steps_need_exactly_one_core_action() {
        let r = canary("      steps: [{setWeight: 10, pause: {}}, {}]\n");
        let m = messages(&r);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with(
            "spec.strategy.steps[0]: Invalid value: \"step.Experiment: false step.Pause: true step.SetWeight: true step.Analysis: false\""
        ));
        assert!(m[1].starts_with("spec.strategy.steps[1]: Invalid value:") && m[1].ends_with(INVALID_STEP));
    }

    #[test]
    fn pause_durations() {
        let r = canary(
            "      steps: [{pause: {duration: -5}}, {pause: {duration: soon}}, {pause: {duration: 0}}, {pause: {duration: \"10\"}}]\n",
        );
        assert_eq!(
            messages(&r),
            [
                "spec.strategy.steps[0].pause.duration: Invalid value: -5: Duration needs to be greater than 0",
                "spec.strategy.steps[1].pause.duration: Invalid value: -1: Duration needs to be greater than 0",
            ]
        );
    }

    #[test]
    fn surge_and_unavailable_both_zero() {
        let r = canary("      maxSurge: 0\n      maxUnavailable: 0\n");
        assert_eq!(
            messages(&r),
            [
                "spec.strategy.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: MaxSurge and MaxUnavailable both can not be zero"
            ]
        );
        assert!(messages(&canary("      maxSurge: \"0%\"\n      maxUnavailable: \"0\"\n")).len() == 1);
        assert!(messages(&canary("      maxSurge: 0\n")).is_empty(), "maxUnavailable defaults to 25%");
    }

    #[test]
    fn services_and_routing() {
        let r = canary("      canaryService: same\n      stableService: same\n");
        assert_eq!(messages(&r), [format!("spec.strategy.stableService: Invalid value: \"same\": {DUPLICATE_CANARY_SERVICES}")]);
        let r = canary("      trafficRouting: {nginx: {stableIngress: i}}\n");
        assert_eq!(
            messages(&r),
            [
                format!("spec.strategy.stableService: Invalid value: \"\": {ROUTING_NEEDS_SERVICES}"),
                format!("spec.strategy.canaryService: Invalid value: \"\": {ROUTING_NEEDS_SERVICES}"),
            ]
        );
        // Istio subset-level routing (a DestinationRule) needs no canary/stable Services.
        let r = canary(
            "      trafficRouting: {istio: {virtualService: {name: vs}, destinationRule: {name: dr, canarySubsetName: c, stableSubsetName: s}}}\n",
        );
        assert!(messages(&r).is_empty(), "{:?}", messages(&r));
    }

    #[test]
    fn router_only_features_without_a_router() {
        let r = canary("      scaleDownDelaySeconds: 30\n      dynamicStableScale: true\n      steps: [{setCanaryScale: {replicas: 1}}]\n");
        assert_eq!(
            messages(&r),
            [
                format!("spec.strategy.scaleDownDelaySeconds: Invalid value: 30: {SCALE_DOWN_DELAY_NEEDS_ROUTING}"),
                format!("spec.strategy.dynamicStableScale: Invalid value: true: {DYNAMIC_STABLE_SCALE_NEEDS_ROUTING}"),
                format!("spec.strategy.trafficRouting: Required value: {SET_CANARY_SCALE_NEEDS_ROUTING}"),
            ]
        );
        let r = canary(
            "      canaryService: c\n      stableService: s\n      scaleDownDelaySeconds: 30\n      dynamicStableScale: true\n      trafficRouting: {smi: {}, maxTrafficWeight: 10}\n",
        );
        assert_eq!(
            messages(&r),
            [
                format!("spec.strategy.dynamicStableScale: Invalid value: true: {DYNAMIC_STABLE_SCALE_WITH_DELAY}"),
                format!("spec.strategy.trafficRouting.maxTrafficWeight: Invalid value: 10: {MAX_WEIGHT_NGINX_PLUGINS}"),
            ]
        );
    }

    #[test]
    fn header_and_mirror_routes() {
        let r = canary("      steps: [{setHeaderRoute: {name: h, match: [{headerName: x, headerValue: {exact: y}}]}}]\n");
        assert!(messages(&r)[0].starts_with("spec.strategy.steps[0].setHeaderRoute: Invalid value:"));
        let istio = "      canaryService: c\n      stableService: s\n      trafficRouting:\n        istio: {virtualService: {name: vs}}\n";
        let r = canary(&format!(
            "{istio}      steps: [{{setHeaderRoute: {{name: h, match: [{{headerName: x, headerValue: {{exact: y, prefix: z}}}}]}}}}]\n"
        ));
        assert_eq!(
            messages(&r),
            [
                format!(
                    "spec.strategy.steps[0].setHeaderRoute.match[0]: Invalid value: {{\"exact\":\"y\",\"prefix\":\"z\"}}: {STRING_MATCH_MULTIPLE}"
                ),
                format!(
                    "spec.strategy.trafficRouting.managedRoutes: Required value: {MISSING_FIELD} 'spec.strategy.canary.trafficRouting.managedRoutes'"
                ),
            ]
        );
        let managed = format!("{istio}        managedRoutes: [{{name: known}}]\n");
        let r =
            canary(&format!("{managed}      steps: [{{setMirrorRoute: {{name: other, percentage: 10, match: [{{method: {{}}}}]}}}}]\n"));
        assert_eq!(
            messages(&r),
            [
                format!("spec.strategy.steps[0].setMirrorRoute.match[0]: Invalid value: {{}}: {STRING_MATCH_MISSING}"),
                format!("spec.strategy.steps[0].setMirrorRoute: Invalid value: \"other\": {ROUTE_NOT_MANAGED}"),
            ]
        );
        let alb = "      canaryService: c\n      stableService: s\n      trafficRouting:\n        alb: {ingress: i, servicePort: 80}\n        managedRoutes: [{name: h}]\n";
        let r = canary(&format!(
            "{alb}      steps: [{{setHeaderRoute: {{name: h, match: [{{headerName: x, headerValue: {{prefix: y}}}}]}}}}]\n"
        ));
        assert_eq!(
            messages(&r),
            [format!("spec.strategy.steps[0].setHeaderRoute.match[0]: Invalid value: {{\"prefix\":\"y\"}}: {ALB_EXACT_ONLY}")]
        );
    }

    #[test]
    fn analysis_references_need_templates_and_one_source_per_arg() {
        let r = canary(
            "      analysis: {templates: [], dryRun: [{metricName: '('}]}\n      steps:\n      - analysis: {templates: [{clusterScope: true}], args: [{name: a}, {name: b, value: x, valueFrom: {podTemplateHashValue: Stable}}, {name: c, valueFrom: {podTemplateHashValue: Latest}}]}\n",
        );
        let m = messages(&r);
        let expected = [
            "spec.strategy.canary.steps[0].analysis.templates[0].templateName: Required value",
            "spec.strategy.canary.steps[0].analysis.args[0]: Invalid value: a: exactly one of value, valueFrom.podTemplateHashValue or valueFrom.fieldRef is required",
            "spec.strategy.canary.steps[0].analysis.args[1]: Invalid value: b: exactly one of value, valueFrom.podTemplateHashValue or valueFrom.fieldRef is required",
            "spec.strategy.canary.analysis.templates: Required value: at least one template is required",
        ];
        for e in expected {
            assert!(m.iter().any(|x| x == e), "missing {e:?} in {m:?}");
        }
        assert!(m.iter().any(|x| x.starts_with("spec.strategy.canary.analysis.dryRun[0].metricName: Invalid value: (:")), "{m:?}");
        assert_eq!(m.len(), 5, "{m:?}");
    }

    #[test]
    fn experiment_weights_and_analysis_args() {
        let r = canary(
            "      steps:\n      - experiment: {templates: [{name: t, specRef: canary, weight: 10}]}\n      - analysis: {templates: [{templateName: a}], args: [{name: x, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['ok']\"}}}, {name: y, valueFrom: {fieldRef: {fieldPath: metadata.generation}}}]}\n",
        );
        let m = messages(&r);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(
            m[0],
            format!("spec.strategy.steps[0].experiment.templates[0].weight: Invalid value: 10: {EXPERIMENT_WEIGHT_WITHOUT_ROUTING}")
        );
        assert!(m[1].starts_with("spec.strategy.steps[1].analyses: Invalid value:") && m[1].ends_with(ANALYSIS_ARGS_DOWNWARD_API));
    }

    #[test]
    fn selector_template_and_limits() {
        let r = rollout(
            "  replicas: -1\n  selector: {matchLabels: {app: demo}}\n  template:\n    metadata: {labels: {app: other}}\n    spec: {restartPolicy: Never, containers: [{name: app}]}\n  minReadySeconds: 700\n  strategy: {blueGreen: {activeService: a, previewService: a, scaleDownDelayRevisionLimit: 20}}\n",
        );
        assert_eq!(
            messages(&r),
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_owned(),
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`".to_owned(),
                "spec.template.spec.containers[0].image: Required value".to_owned(),
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"".to_owned(),
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds".to_owned(),
                format!("spec.strategy.activeService: Invalid value: \"a\": {DUPLICATE_BLUE_GREEN_SERVICES}"),
                format!("spec.strategy.scaleDownDelayRevisionLimit: Invalid value: 20: {SCALE_DOWN_LIMIT}"),
            ]
        );
        let r = rollout(
            "  selector: {}\n  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: a, image: a}]}}\n  strategy: {canary: {}}\n",
        );
        assert_eq!(messages(&r), ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]);
        let r =
            rollout("  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: a, image: a}]}}\n  strategy: {canary: {}}\n");
        assert_eq!(messages(&r), ["spec.selector: Required value: Rollout has missing field '.spec.selector'"]);
    }

    #[test]
    fn workload_ref_with_template_and_anti_affinity() {
        let r = rollout(
            "  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: d}\n  template: {metadata: {labels: {app: a}}}\n  strategy:\n    canary:\n      antiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: {weight: 0}, requiredDuringSchedulingIgnoredDuringExecution: {}}\n",
        );
        assert_eq!(
            messages(&r),
            [
                "spec.template: Internal error: template must be empty for workload reference rollout".to_owned(),
                format!(
                    "spec.strategy.antiAffinity: Invalid value: \"antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: true antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: true\": {ANTI_AFFINITY_ONE_STRATEGY}"
                ),
                format!("spec.strategy.antiAffinity.weight: Invalid value: 0: {ANTI_AFFINITY_WEIGHT}"),
            ]
        );
    }

    #[test]
    fn several_errors_are_aggregated_in_brackets() {
        let r = canary("      steps: [{setWeight: -1}, {setWeight: 101}]\n");
        let msg = invalid_spec_message("demo", &validate_rollout(&r));
        assert!(msg.starts_with("The Rollout \"demo\" is invalid: [spec.strategy.steps[0].setWeight: Invalid value: -1"), "{msg}");
        assert!(msg.ends_with("between 0 and 100]"), "{msg}");
    }
}

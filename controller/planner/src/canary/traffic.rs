//! The traffic side of a canary reconcile: `canaryService` / `stableService` selectors, the routers' weights and
//! managed routes, `status.canary.weights`, and the scale-down delays of ReplicaSets traffic has left. A port of
//! Argo's `reconcileStableAndCanaryService`, `reconcileTrafficRouting` and `scaleDownDelayHelper`, restated
//! declaratively: the routes in force are derived from the steps up to the current one, not remembered.
//!
//! Ordering, which the caller keeps by running this before any scaling:
//! - a Service is pointed at a ReplicaSet only once that ReplicaSet is fully available (all its desired pods);
//! - a router gives the canary a step's weight only once the canary and stable are at that step's counts (until
//!   then the previous `setWeight` stays), so no weight ever points at pods that are not there;
//! - the writes come in the order Services, routers, scale-down deadlines; scaling comes after, so on an abort the
//!   traffic is back on stable before a canary pod goes, and the old stable keeps its pods until no Service
//!   selects it and its `scale-down-deadline` has passed;
//! - any failed write stops the plan there: a controller killed between two writes finds the routes consistent
//!   with one of the two states and renders the rest on its next reconcile.

use std::collections::BTreeSet;

use serin_api::labels::SCALE_DOWN_DEADLINE;
use serin_api::rollout::status::{TrafficWeights, WeightDestination};
use serin_api::rollout::traffic_routing::RolloutTrafficRouting;

use super::{Action, Ctx, Event, Rs};
use crate::replicas::{DEFAULT_MAX_TRAFFIC_WEIGHT, ObservedWeights, TrafficRoutedScaling};
use crate::traffic::services::{self, ServiceChange, ServiceTarget};
use crate::traffic::{Desired, HeaderRoute, MirrorRoute, RouteError, RouterWrite, gateway, istio, nginx, traefik};
use crate::validate::SpecError;

/// `scaleDownDelaySeconds` when unset (with a traffic router).
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// `abortScaleDownDelaySeconds` when unset (with a traffic router).
pub const DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;

const ROUTING_PATH: &str = "spec.strategy.canary.trafficRouting";

impl<'a> Ctx<'a> {
    pub(super) fn routing(&self) -> Option<&'a RolloutTrafficRouting> {
        self.canary.traffic_routing.as_ref()
    }

    pub(super) fn max_weight(&self) -> i32 {
        self.routing().and_then(|r| r.max_traffic_weight).filter(|w| *w > 0).unwrap_or(DEFAULT_MAX_TRAFFIC_WEIGHT)
    }

    pub(super) fn dynamic_stable_scale(&self) -> bool {
        self.canary.dynamic_stable_scale == Some(true)
    }

    fn observed_weights(&self) -> Option<&'a TrafficWeights> {
        self.rollout.status.as_ref()?.canary.as_ref()?.weights.as_ref()
    }

    /// The replica arithmetic's view of the router settings; `None` for a basic canary.
    pub(super) fn traffic_scaling(&self) -> Option<TrafficRoutedScaling> {
        self.routing()?;
        Some(TrafficRoutedScaling {
            max_traffic_weight: self.max_weight(),
            dynamic_stable_scale: self.dynamic_stable_scale(),
            min_pods_per_replica_set: self.canary.min_pods_per_replica_set,
            abort_scale_down_delay_seconds: self.canary.abort_scale_down_delay_seconds,
            weights: self.observed_weights().map(|w| ObservedWeights { canary: w.canary.weight, stable: w.stable.weight }),
        })
    }

    /// Services and routers, then `status.canary.weights`. Errors (a missing Service or route, a route the router
    /// cannot express) are returned for `InvalidSpec`; the caller then discards the whole plan.
    pub(super) fn reconcile_traffic(&mut self, status: &mut serin_api::RolloutStatus) -> Result<(), TrafficError> {
        let aborted = self.pause.is_aborted(&self.old);
        let (weight, weight_canary_hash) = self.desired_weight(aborted);
        let changes = self.service_changes(aborted, weight).map_err(|e| TrafficError::from(vec![e]))?;
        let mut writes = Vec::new();
        if let Some(routing) = self.routing() {
            let (header_routes, mirror_routes) = self.routes_in_force(aborted);
            // Subsets follow the same rule as Services: they move to a ReplicaSet only once it is fully available
            // (an empty hash leaves a subset's labels as they are), and not during a dynamic rollback.
            let fully_available = |rs: &&Rs<'a>| rs.spec_replicas > 0 && rs.available >= rs.spec_replicas;
            let subset_canary =
                if weight_canary_hash.is_some() { "" } else { self.new_rs.as_ref().filter(fully_available).map_or("", |rs| rs.hash) };
            let subset_stable = self.stable_rs.as_ref().filter(fully_available).map_or("", |rs| rs.hash);
            let desired = Desired {
                rollout: self.rollout_name(),
                canary_service: self.canary.canary_service.as_deref().unwrap_or_default(),
                stable_service: self.canary.stable_service.as_deref().unwrap_or_default(),
                canary_hash: subset_canary,
                stable_hash: subset_stable,
                weight,
                max_weight: self.max_weight(),
                managed_routes: routing.managed_routes.iter().map(|r| r.name.as_str()).collect(),
                header_routes,
                mirror_routes,
                owner: self.owner_reference(),
            };
            writes =
                router_writes(routing, &self.routing_objects, &desired, self.rollout.metadata.namespace.as_deref().unwrap_or_default())?;
            let canary_hash = weight_canary_hash.unwrap_or_else(|| self.new_rs.as_ref().map_or("", |rs| rs.hash));
            let stable_hash = self.stable_rs.as_ref().map_or("", |rs| rs.hash);
            self.record_weights(status, &desired, canary_hash, stable_hash);
        } else if let Some(canary) = status.canary.as_mut() {
            canary.weights = None;
        }
        for change in changes {
            self.actions.push(match change {
                ServiceChange::Select { name, hash, resource_version } => Action::SelectService { name, hash, resource_version },
                ServiceChange::Release { name, resource_version } => Action::ReleaseService { name, resource_version },
            });
        }
        self.actions.extend(writes.into_iter().map(Action::WriteRouter));
        Ok(())
    }

    /// Argo's `reconcileTrafficRouting` weight decision: the canary weight, and (when rolling back to stable with
    /// `dynamicStableScale`) the hash of the previous canary that still carries it.
    fn desired_weight(&self, aborted: bool) -> (i32, Option<&'a str>) {
        let max = self.max_weight();
        let stable_hash = self.stable_rs.as_ref().map_or("", |rs| rs.hash);
        if self.dynamic_stable_scale()
            && self.stable_rs.is_some()
            && !self.stable_apart()
            && let Some(previous) = self.observed_weights()
            && previous.canary.weight > 0
            && let Some(hash) = previous.canary.pod_template_hash.as_deref().filter(|h| !h.is_empty() && *h != stable_hash)
        {
            return (self.abort_weight(), Some(hash));
        }
        if self.old.stable_rs.as_deref() == Some(self.pod_hash) {
            // Promoted: the stable side takes everything back once it routes to the new pods, or to pods that can
            // carry all the traffic. Until then (the new ReplicaSet is not fully available, so the stable Service
            // has not moved, and what it selects was scaled down) the canary keeps the weight it had.
            let previous = self.observed_weights().map_or(0, |w| w.canary.weight);
            if previous > 0 && !self.stable_side_on(self.pod_hash) && !self.stable_side_can_carry_all() {
                return (previous, None);
            }
            return (0, None);
        }
        if aborted {
            return (self.abort_weight(), None);
        }
        let Some(new) = self.new_rs.as_ref().filter(|rs| rs.available > 0) else { return (0, None) };
        if self.old.promote_full == Some(true) {
            let weight = if self.dynamic_stable_scale() {
                share(max, new.available, self.replicas)
            } else {
                self.observed_weights().map_or(0, |w| w.canary.weight)
            };
            return (weight.min(max), None);
        }
        let (Some(index), _) = self.current_step() else { return (0, None) };
        let steps = self.steps();
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        if !self.at_desired_replica_counts() {
            // Not at this step's counts yet: the weight of the last setWeight before it stays.
            let before = &steps[..index.min(steps.len())];
            return (before.iter().rev().find_map(|s| s.set_weight).unwrap_or(0), None);
        }
        if index < steps.len() {
            return (steps[..=index].iter().rev().find_map(|s| s.set_weight).unwrap_or(0), None);
        }
        (max, None)
    }

    /// Whether the stable side of the routers sends traffic to the pods of `hash`: the stable Service (if any)
    /// selects it, and so does the DestinationRule's stable subset (if any).
    fn stable_side_on(&self, hash: &str) -> bool {
        let service_on = self.canary.stable_service.as_deref().filter(|n| !n.is_empty()).is_none_or(|name| {
            crate::traffic::by_name(self.routing_objects.services, name).is_some_and(|svc| services::selected_hash(svc) == Some(hash))
        });
        service_on && self.subset_hashes().iter().all(|(stable, _)| *stable == hash)
    }

    /// Whether the ReplicaSet the stable Service selects has all of `spec.replicas` available (no stable Service:
    /// false).
    fn stable_side_can_carry_all(&self) -> bool {
        let Some(name) = self.canary.stable_service.as_deref().filter(|n| !n.is_empty()) else { return false };
        let Some(hash) = crate::traffic::by_name(self.routing_objects.services, name).and_then(services::selected_hash) else {
            return false;
        };
        self.all.iter().any(|rs| rs.hash == hash && rs.available >= self.replicas)
    }

    /// `(stable, canary)` hashes the configured DestinationRule's subsets select, as observed.
    fn subset_hashes(&self) -> Vec<(&'a str, &'a str)> {
        let Some(config) = self.routing().and_then(|r| r.istio.as_ref()).and_then(|i| i.destination_rule.as_ref()) else {
            return Vec::new();
        };
        let Some(rule) = crate::traffic::by_name(self.routing_objects.destination_rules, &config.name) else { return Vec::new() };
        let label = |subset: &str| -> &'a str {
            let rule: &'a crate::traffic::DestinationRule = rule;
            rule.spec
                .subsets
                .iter()
                .flatten()
                .find(|s| s.name == subset)
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(serin_api::labels::POD_TEMPLATE_HASH))
                .map_or("", String::as_str)
        };
        vec![(label(&config.stable_subset_name), label(&config.canary_subset_name))]
    }

    /// Argo's `calculateDesiredWeightOnAbortOrStableRollback`: 0, or with `dynamicStableScale` what the stable's
    /// available pods cannot carry yet (never more than the weight already applied).
    fn abort_weight(&self) -> i32 {
        if !self.dynamic_stable_scale() || self.replicas <= 0 {
            return 0;
        }
        let max = self.max_weight();
        let available = self.stable_rs.as_ref().map_or(0, |rs| rs.available);
        let mut weight = (max - share(max, available, self.replicas)).max(0);
        if let Some(previous) = self.observed_weights() {
            weight = weight.min(previous.canary.weight);
        }
        weight
    }

    /// The header and mirror routes in force: the `setHeaderRoute`/`setMirrorRoute` steps up to the current one
    /// (an empty match removes a route), while an update with a separate stable is in progress; none once aborted
    /// or promoted.
    fn routes_in_force(&self, aborted: bool) -> (Vec<HeaderRoute<'a>>, Vec<MirrorRoute<'a>>) {
        let promoted = self.old.stable_rs.as_deref() == Some(self.pod_hash) || self.old.promote_full == Some(true);
        let (Some(index), _) = self.current_step() else { return (Vec::new(), Vec::new()) };
        if aborted || promoted || !self.stable_apart() {
            return (Vec::new(), Vec::new());
        }
        let steps: &'a [serin_api::rollout::steps::CanaryStep] = self.steps();
        let end = usize::try_from(index).unwrap_or(usize::MAX).saturating_add(1).min(steps.len());
        let mut headers: Vec<HeaderRoute<'a>> = Vec::new();
        let mut mirrors: Vec<MirrorRoute<'a>> = Vec::new();
        for (i, step) in steps[..end].iter().enumerate() {
            if let Some(route) = &step.set_header_route {
                let name = route.name.as_deref().unwrap_or_default();
                headers.retain(|h| h.name != name);
                if !route.match_.is_empty() {
                    headers.push(HeaderRoute {
                        name,
                        matches: &route.match_,
                        path: format!("spec.strategy.canary.steps[{i}].setHeaderRoute"),
                    });
                }
            }
            if let Some(route) = &step.set_mirror_route {
                let name = route.name.as_str();
                mirrors.retain(|m| m.name != name);
                if !route.match_.is_empty() {
                    mirrors.push(MirrorRoute {
                        name,
                        matches: &route.match_,
                        percentage: route.percentage,
                        path: format!("spec.strategy.canary.steps[{i}].setMirrorRoute"),
                    });
                }
            }
        }
        let order: Vec<&str> = self.routing().map(|r| r.managed_routes.iter().map(|m| m.name.as_str()).collect()).unwrap_or_default();
        let rank = |name: &str| order.iter().position(|n| *n == name).unwrap_or(usize::MAX);
        headers.sort_by_key(|h| rank(h.name));
        mirrors.sort_by_key(|m| rank(m.name));
        (headers, mirrors)
    }

    /// Which hash each referenced Service should select now. A Service follows its ReplicaSet only once that one is
    /// fully available; on an abort the canary Service goes back to the stable at once (the stable has all its pods
    /// without `dynamicStableScale`; with it, only once the canary's weight is 0).
    fn service_changes(&self, aborted: bool, weight: i32) -> Result<Vec<ServiceChange>, RouteError> {
        let fully_available = |rs: &&Rs<'a>| rs.spec_replicas > 0 && rs.available >= rs.spec_replicas;
        let stable_hash = self.stable_rs.as_ref().filter(fully_available).map(|rs| rs.hash);
        let rolling_back = self.desired_weight(aborted).1.is_some();
        let canary_hash = if rolling_back {
            // Rolling back with dynamicStableScale: the canary Service keeps the previous canary, which still
            // carries traffic, until the weight has moved back.
            None
        } else if aborted && self.stable_apart() {
            (!self.dynamic_stable_scale() || weight == 0).then(|| self.stable_rs.as_ref().map(|rs| rs.hash)).flatten()
        } else {
            self.new_rs.as_ref().filter(fully_available).map(|rs| rs.hash)
        };
        let mut targets = Vec::new();
        if let Some(name) = self.canary.stable_service.as_deref().filter(|n| !n.is_empty()) {
            targets.push(ServiceTarget { path: "spec.strategy.canary.stableService", name, hash: stable_hash });
        }
        if let Some(name) = self.canary.canary_service.as_deref().filter(|n| !n.is_empty()) {
            targets.push(ServiceTarget { path: "spec.strategy.canary.canaryService", name, hash: canary_hash });
        }
        services::plan(self.rollout_name(), &targets, &self.routing_objects)
    }

    /// `status.canary.weights` as applied, and a `TrafficWeightUpdated` event when they change.
    fn record_weights(&mut self, status: &mut serin_api::RolloutStatus, desired: &Desired<'_>, canary_hash: &str, stable_hash: &str) {
        let weights = TrafficWeights {
            canary: WeightDestination {
                weight: desired.weight,
                service_name: Some(desired.canary_service.to_owned()),
                pod_template_hash: Some(canary_hash.to_owned()),
            },
            stable: WeightDestination {
                weight: desired.stable_weight(),
                service_name: Some(desired.stable_service.to_owned()),
                pod_template_hash: Some(stable_hash.to_owned()),
            },
            additional: Vec::new(),
            verified: None,
        };
        let previous = self.observed_weights();
        if previous.map(|p| (&p.canary, &p.stable)) != Some((&weights.canary, &weights.stable)) {
            let detail = match previous {
                None => format!("to {}", weights.canary.weight),
                Some(p) if p.canary.weight != weights.canary.weight => format!("from {} to {}", p.canary.weight, weights.canary.weight),
                Some(_) => String::new(),
            };
            if !detail.is_empty() {
                self.events.push(Event::normal("TrafficWeightUpdated", format!("Traffic weight updated {detail}")));
            }
        }
        if let Some(canary) = status.canary.as_mut() {
            canary.weights = Some(weights);
        }
    }

    /// Decides which older ReplicaSets the router-aware scale-down must keep, writing or reading their
    /// `scale-down-deadline` (Argo's `scaleDownDelayHelper`): one a Service still selects is kept as is; otherwise it
    /// gets a deadline `scaleDownDelaySeconds` ahead and is kept until then, at most `scaleDownDelayRevisionLimit` of
    /// them (newest first). Also clears a stale deadline from the canary and stable ReplicaSets.
    pub(super) fn plan_scale_down_delays(&mut self) {
        self.held = BTreeSet::new();
        if self.routing().is_none() {
            return;
        }
        let aborted = self.pause.is_aborted(&self.old);
        for rs in self.new_rs.iter().chain(self.stable_rs.iter()).cloned().collect::<Vec<_>>() {
            let keep_abort_deadline = aborted && self.new_rs.as_ref().is_some_and(|n| n.name == rs.name) && self.stable_apart();
            if !keep_abort_deadline && deadline_of(&rs).is_some() {
                self.actions.push(Action::SetScaleDownDeadline { name: rs.name.to_owned(), deadline: None });
            }
        }
        // Referenced: selected by a Service or a DestinationRule subset, or carrying traffic per the weights last
        // applied (Argo's `isReplicaSetReferenced`).
        let mut selected: Vec<&str> = self.routing_objects.services.iter().filter_map(|s| services::selected_hash(s)).collect();
        for (stable, canary) in self.subset_hashes() {
            selected.extend([stable, canary]);
        }
        if let Some(weights) = self.observed_weights() {
            for side in [&weights.canary, &weights.stable] {
                if side.weight > 0 {
                    selected.extend(side.pod_template_hash.as_deref());
                }
            }
        }
        selected.retain(|h| !h.is_empty());
        let delay =
            if self.dynamic_stable_scale() { 0 } else { self.canary.scale_down_delay_seconds.unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS) };
        let mut others: Vec<Rs<'a>> = self.others.iter().filter(|rs| rs.spec_replicas > 0).cloned().collect();
        others.sort_by(|a, b| b.revision.cmp(&a.revision).then_with(|| a.name.cmp(b.name)));
        let limit = self.canary.scale_down_delay_revision_limit.map(|l| usize::try_from(l.max(0)).unwrap_or(0));
        let mut delayed = 0usize;
        for rs in others {
            if selected.contains(&rs.hash) {
                self.held.insert(rs.name.to_owned());
                continue;
            }
            let within_limit = limit.is_none_or(|l| delayed < l);
            let deadline = match deadline_of(&rs) {
                Some(deadline) => deadline,
                None if delay > 0 && within_limit => {
                    let deadline = self.stamp.0 + jiff::SignedDuration::from_secs(i64::from(delay));
                    self.actions.push(Action::SetScaleDownDeadline { name: rs.name.to_owned(), deadline: Some(deadline.to_string()) });
                    deadline
                }
                None => continue,
            };
            if deadline <= self.now || !within_limit {
                continue;
            }
            delayed += 1;
            self.held.insert(rs.name.to_owned());
            self.requeue_at(deadline);
        }
    }

    /// The canary's size on an abort with a traffic router (with `dynamicStableScale`, only when the delay is set
    /// explicitly): kept until
    /// `abortScaleDownDelaySeconds` after the stable became fully available again (a `scale-down-deadline` on the
    /// canary ReplicaSet), forever with 0; then what the replica arithmetic says.
    pub(super) fn aborted_canary_size(&mut self, new: &Rs<'a>, planned: i32) -> i32 {
        // With dynamicStableScale the canary shrinks as traffic leaves it, unless a delay was asked for explicitly
        // (Argo's `shouldDelayScaleDownOnAbort`).
        let dynamic_without_delay = self.dynamic_stable_scale() && self.canary.abort_scale_down_delay_seconds.is_none();
        if self.routing().is_none() || dynamic_without_delay || !self.pause.is_aborted(&self.old) || !self.stable_apart() {
            return planned;
        }
        if planned >= new.spec_replicas {
            return planned;
        }
        let delay = self.canary.abort_scale_down_delay_seconds.unwrap_or(DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS);
        if delay == 0 {
            return new.spec_replicas;
        }
        match deadline_of(new) {
            Some(deadline) if deadline <= self.now => planned,
            Some(deadline) => {
                self.requeue_at(deadline);
                new.spec_replicas
            }
            None => {
                let stable_ready = self.stable_rs.as_ref().is_some_and(|rs| rs.spec_replicas > 0 && rs.available >= rs.spec_replicas);
                if stable_ready {
                    let deadline = self.stamp.0 + jiff::SignedDuration::from_secs(i64::from(delay));
                    self.actions.push(Action::SetScaleDownDeadline { name: new.name.to_owned(), deadline: Some(deadline.to_string()) });
                    self.requeue_at(deadline);
                }
                new.spec_replicas
            }
        }
    }
}

/// Why the traffic could not be planned: unresolved references, reported as `InvalidSpec`.
#[derive(Debug)]
pub(super) struct TrafficError {
    /// The errors, with their field paths.
    pub errors: Vec<SpecError>,
    /// Every error is an object that does not exist (yet), as opposed to one that exists and is wrong.
    pub only_not_found: bool,
}

impl From<Vec<RouteError>> for TrafficError {
    fn from(errors: Vec<RouteError>) -> Self {
        let only_not_found = errors.iter().all(|e| e.not_found);
        Self { errors: errors.into_iter().map(spec_error).collect(), only_not_found }
    }
}

/// `max * part / whole` without overflow (0 when `whole` is not positive).
fn share(max: i32, part: i32, whole: i32) -> i32 {
    if whole <= 0 {
        return 0;
    }
    i32::try_from(i64::from(max) * i64::from(part) / i64::from(whole)).unwrap_or(max)
}

/// A ReplicaSet's `scale-down-deadline`, if set and valid.
fn deadline_of(rs: &Rs<'_>) -> Option<jiff::Timestamp> {
    rs.obj.metadata.annotations.as_ref()?.get(SCALE_DOWN_DEADLINE)?.parse().ok()
}

fn spec_error(err: RouteError) -> SpecError {
    SpecError::unresolved(err.path, err.message)
}

/// Every configured router's writes, in a fixed order: Gateway API, Istio, NGINX, Traefik.
fn router_writes(
    routing: &RolloutTrafficRouting,
    objects: &crate::traffic::RouterObjects<'_>,
    desired: &Desired<'_>,
    namespace: &str,
) -> Result<Vec<RouterWrite>, TrafficError> {
    let mut writes = Vec::new();
    let mut errors = Vec::new();
    let mut collect = |result: Result<Vec<RouterWrite>, RouteError>| match result {
        Ok(w) => writes.extend(w),
        Err(e) => errors.push(e),
    };
    if let Some(config) = gateway::config(routing) {
        collect(config.and_then(|(config, path)| {
            gateway::validate(&config, &path, namespace)?;
            gateway::plan(&config, objects, desired, &path)
        }));
    }
    if let Some(config) = &routing.istio {
        collect(istio::plan(config, objects, desired, &format!("{ROUTING_PATH}.istio")));
    }
    if let Some(config) = &routing.nginx {
        collect(nginx::plan(config, routing.max_traffic_weight, objects, desired, &format!("{ROUTING_PATH}.nginx")));
    }
    if let Some(config) = &routing.traefik {
        collect(traefik::plan(config, objects, desired, &format!("{ROUTING_PATH}.traefik")));
    }
    if errors.is_empty() { Ok(writes) } else { Err(TrafficError::from(errors)) }
}

//! Replica arithmetic of the canary strategy: how many pods the canary, the stable and every older ReplicaSet
//! should have right now.
//!
//! Contract: pure. Every function here reads only its arguments (observed ReplicaSet counts, the relevant slice of
//! the Rollout's spec and status) and returns numbers; nothing is scaled, nothing is read from a clock or a client.
//! The same input always yields the same output, whatever order the older ReplicaSets are passed in.
//!
//! The arithmetic is a port of Argo Rollouts, kept faithful down to its rounding, because a Rollout written for
//! Argo must scale identically here:
//!
//! - `utils/replicaset/replicaset.go`: `resolveFenceposts`, `MaxSurge`, `MaxUnavailable`
//!   ([`resolve_surge_unavailable`]).
//! - `utils/replicaset/canary.go`: `CalculateReplicaCountsForBasicCanary` ([`basic_canary`]),
//!   `CalculateReplicaCountsForTrafficRoutedCanary` ([`traffic_routed_canary`]),
//!   `approximateWeightedCanaryStableReplicaCounts` with `floorCeilingTied` and `weightDelta`
//!   ([`approximate_weighted_counts`]), `calculateScaleDownReplicaCount`, `adjustReplicaWithinLimits`,
//!   `maxValue`/`minValue`, `GetReplicasForScaleDown` ([`replicas_for_scale_down`]), `CheckStableRSExists`,
//!   `CheckMinPodsPerReplicaSet` ([`check_min_pods_per_replica_set`]), `trafficWeightToReplicas`
//!   ([`traffic_weight_to_replicas`]), `GetCanaryReplicasOrWeight` ([`canary_replicas_or_weight`]),
//!   `GetDesiredCanaryWeight` ([`desired_canary_weight`]), `GetCurrentSetWeight` ([`current_set_weight`]),
//!   `UseSetCanaryScale` ([`use_set_canary_scale`]), `GetCurrentCanaryStep`.
//! - `rollout/canary.go`: `scaleDownOldReplicaSetsForCanary` and `cleanupUnhealthyReplicas` (the `others` of a
//!   [`ReplicaPlan`]).
//!
//! Argo applies one group per reconcile (stable first, then canary, then the older ReplicaSets) and re-plans from
//! fresh observations in between. Every group of a [`ReplicaPlan`] is computed from the same observation and stays
//! within the limits on its own: while older ReplicaSets still have pods, the canary and stable are only scaled
//! up, and the older ones are only scaled down within the availability budget.

#![allow(clippy::doc_markdown, reason = "ReplicaSet is the Kubernetes kind, written as prose")]

use std::cmp::Ordering;

use serin_api::rollout::steps::{CanaryStep, SetCanaryScale};
use serin_api::{IntOrPercent, IntOrPercentError};

/// `maxSurge` when the Rollout leaves it unset (Argo's `DefaultMaxSurge`).
pub const DEFAULT_MAX_SURGE: &str = "25%";

/// `maxUnavailable` when the Rollout leaves it unset (Argo's `DefaultMaxUnavailable`).
pub const DEFAULT_MAX_UNAVAILABLE: &str = "25%";

/// The total traffic weight when `trafficRouting.maxTrafficWeight` is unset, and always for a basic canary.
pub const DEFAULT_MAX_TRAFFIC_WEIGHT: i32 = 100;

/// `maxSurge` and `maxUnavailable` resolved to pod counts against `spec.replicas`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fenceposts {
    /// How many pods above `spec.replicas` all ReplicaSets together may have.
    pub max_surge: i32,
    /// How many pods below `spec.replicas` the available pods may fall.
    pub max_unavailable: i32,
}

/// The observed size of one ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplicaSetCounts {
    /// `metadata.name`; two roles naming the same ReplicaSet are the same ReplicaSet.
    pub name: String,
    /// `spec.replicas`, the size the ReplicaSet controller is converging to.
    pub spec_replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

/// A ReplicaSet of the Rollout that is neither the canary nor the stable: an older revision, or the intermediate
/// ReplicaSet of an update that was superseded before it finished.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OtherReplicaSet {
    /// Its observed size.
    pub rs: ReplicaSetCounts,
    /// The `rollout.argoproj.io/revision` annotation. Higher revisions are scaled down first; lower ones are taken
    /// as created earlier.
    pub revision: i64,
    /// Traffic-routed canary only: the caller keeps this ReplicaSet at its size for now, because a Service or the
    /// traffic router still references it, or it is the previous stable waiting out `scaleDownDelaySeconds`.
    /// Unhealthy pods are still cleaned up. A basic canary ignores this flag, as Argo does: every older pod there
    /// receives traffic, so all of them must go.
    pub hold: bool,
}

/// The part of a Rollout that decides how large the canary and stable ReplicaSets should be.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CanaryInput<'a> {
    /// `spec.replicas`, already defaulted (Argo defaults a missing value to 1).
    pub replicas: i32,
    /// `maxSurge`/`maxUnavailable`, resolved with [`resolve_surge_unavailable`].
    pub fenceposts: Fenceposts,
    /// `spec.strategy.canary.steps`.
    pub steps: &'a [CanaryStep],
    /// `status.currentStepIndex`; `None` is step 0.
    pub current_step_index: Option<i32>,
    /// `status.abort`.
    pub abort: bool,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// `status.stableRS` (a pod-template hash), `""` when unset.
    pub stable_hash: &'a str,
    /// `status.currentPodHash`, the hash of the desired pod template.
    pub current_pod_hash: &'a str,
    /// The ReplicaSet of the desired pod template, if it exists yet.
    pub canary: Option<ReplicaSetCounts>,
    /// The ReplicaSet named by `status.stableRS`, if it exists.
    pub stable: Option<ReplicaSetCounts>,
    /// Every other ReplicaSet of the Rollout, scaled or not, in any order.
    pub others: Vec<OtherReplicaSet>,
}

/// The traffic weights last written to `status.canary.weights`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ObservedWeights {
    /// `weights.canary.weight`.
    pub canary: i32,
    /// `weights.stable.weight`.
    pub stable: i32,
}

/// The settings that matter when a traffic router splits the traffic (`spec.strategy.canary.trafficRouting` set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficRoutedScaling {
    /// `trafficRouting.maxTrafficWeight`, defaulted to [`DEFAULT_MAX_TRAFFIC_WEIGHT`]; must be positive.
    pub max_traffic_weight: i32,
    /// `canary.dynamicStableScale`: shrink the stable as the canary's weight grows.
    pub dynamic_stable_scale: bool,
    /// `canary.minPodsPerReplicaSet`: a floor for any non-zero canary or stable size.
    pub min_pods_per_replica_set: Option<i32>,
    /// `canary.abortScaleDownDelaySeconds` as written (`None` when unset); `Some(0)` keeps an aborted canary up.
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// `status.canary.weights` as of the previous reconcile. Argo passes the previous weights on purpose, so that
    /// the stable is resized one reconcile after the router, never before it.
    pub weights: Option<ObservedWeights>,
}

impl Default for TrafficRoutedScaling {
    fn default() -> Self {
        Self {
            max_traffic_weight: DEFAULT_MAX_TRAFFIC_WEIGHT,
            dynamic_stable_scale: false,
            min_pods_per_replica_set: None,
            abort_scale_down_delay_seconds: None,
            weights: None,
        }
    }
}

/// What the current step asks of the canary (Argo's `GetCanaryReplicasOrWeight`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CanaryTarget {
    /// An explicit pod count from `setCanaryScale.replicas`.
    Replicas(i32),
    /// A weight out of the maximum traffic weight.
    Weight(i32),
}

/// The desired `spec.replicas` of every ReplicaSet of a canary Rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplicaPlan {
    /// Desired size of the canary ReplicaSet. With no canary ReplicaSet yet, a basic canary plans 0 and a
    /// traffic-routed canary plans the size it will have once created.
    pub canary: i32,
    /// Desired size of the stable ReplicaSet; meaningless (and not to be applied) when there is no stable
    /// ReplicaSet or it is the canary itself.
    pub stable: i32,
    /// Older ReplicaSets whose size changes, as `(name, desired spec.replicas)`, in the order Argo scales them
    /// (highest revision first). Older ReplicaSets not listed keep their size.
    pub others: Vec<(String, i32)>,
}

// === impl ReplicaSetCounts ===

impl ReplicaSetCounts {
    /// A ReplicaSet with `spec_replicas` desired pods of which `available` are available.
    pub fn new(name: impl Into<String>, spec_replicas: i32, available: i32) -> Self {
        Self { name: name.into(), spec_replicas, available }
    }
}

// === impl OtherReplicaSet ===

impl OtherReplicaSet {
    /// An older ReplicaSet at `revision` that the planner may scale down.
    pub fn new(name: impl Into<String>, revision: i64, spec_replicas: i32, available: i32) -> Self {
        Self { rs: ReplicaSetCounts::new(name, spec_replicas, available), revision, hold: false }
    }
}

// === impl TrafficRoutedScaling ===

impl TrafficRoutedScaling {
    /// Argo's `HasExplicitAbortScaleDownDelay`: a non-zero `abortScaleDownDelaySeconds` was written. Zero means
    /// "never scale the aborted canary down", which Argo does not count as an explicit delay.
    fn has_explicit_abort_scale_down_delay(&self) -> bool {
        self.abort_scale_down_delay_seconds.is_some_and(|seconds| seconds != 0)
    }

    /// Argo's `MaxTrafficWeight`, guarded so that an invalid non-positive value cannot divide by zero.
    fn max_weight(&self) -> i32 {
        if self.max_traffic_weight > 0 { self.max_traffic_weight } else { DEFAULT_MAX_TRAFFIC_WEIGHT }
    }
}

/// Resolves `maxSurge`/`maxUnavailable` against `replicas` like Argo's `resolveFenceposts` followed by
/// `MaxSurge`/`MaxUnavailable`: unset values default to 25%; a percentage of surge rounds up and of unavailability
/// rounds down; when both come to 0 (validation forbids writing both as 0, but rounding can get there),
/// unavailability becomes 1 so the update can progress; unavailability is capped at `replicas`, and is 0 when
/// `replicas` is 0. Argo's legacy percentage parsing (a string without `%` is still a percentage) is
/// [`IntOrPercent::scaled_value`]'s.
pub fn resolve_surge_unavailable(
    replicas: i32,
    max_surge: Option<&IntOrPercent>,
    max_unavailable: Option<&IntOrPercent>,
) -> Result<Fenceposts, IntOrPercentError> {
    let surge = match max_surge {
        Some(value) => value.scaled_value(replicas, true)?,
        None => IntOrPercent::from(DEFAULT_MAX_SURGE).scaled_value(replicas, true)?,
    };
    let mut unavailable = match max_unavailable {
        Some(value) => value.scaled_value(replicas, false)?,
        None => IntOrPercent::from(DEFAULT_MAX_UNAVAILABLE).scaled_value(replicas, false)?,
    };
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    let max_unavailable = if replicas == 0 { 0 } else { unavailable.min(replicas) };
    Ok(Fenceposts { max_surge: surge, max_unavailable })
}

/// Plans a basic canary (no traffic router: traffic follows pod counts). Port of Argo's
/// `CalculateReplicaCountsForBasicCanary` plus the older-ReplicaSet scale-down.
///
/// The desired split comes from [`approximate_weighted_counts`]. Scaling up (stable before canary) never takes
/// the pods of all ReplicaSets past `replicas + maxSurge`. While any older ReplicaSet still has pods, neither the
/// canary nor the stable is scaled down: the older ones are drained first. Otherwise scaling down never takes the
/// available pods below `replicas - maxUnavailable`; when the canary grows the stable is scaled down, when it
/// shrinks (a lower weight, an abort) the canary is, and the other side is adjusted to stay within both limits.
/// With no stable ReplicaSet (or the canary is the stable) the canary is planned at full size.
pub fn basic_canary(input: &CanaryInput<'_>) -> ReplicaPlan {
    let (canary, stable) = basic_canary_counts(input);
    ReplicaPlan { canary, stable, others: plan_other_replica_sets(input, None) }
}

/// Plans a traffic-routed canary. Port of Argo's `CalculateReplicaCountsForTrafficRoutedCanary` plus the
/// older-ReplicaSet scale-down.
///
/// The canary gets `ceil(replicas * weight / maxTrafficWeight)` pods, or what `setCanaryScale` asks for, floored at
/// `minPodsPerReplicaSet`. The stable stays at full size, unless `dynamicStableScale` sizes it to the larger of its
/// desired and its current (previous reconcile's) traffic share; on an abort with `dynamicStableScale` the canary
/// is kept at its current traffic share until the traffic has moved back. The router, not the pod count, decides
/// where traffic goes, so Argo applies neither `maxSurge` nor `maxUnavailable` to the canary and stable here.
/// Intermediate ReplicaSets that are not held are drained to 0 while the available pods allow it.
pub fn traffic_routed_canary(input: &CanaryInput<'_>, routing: &TrafficRoutedScaling) -> ReplicaPlan {
    let (canary, stable) = traffic_routed_canary_counts(input, routing);
    ReplicaPlan { canary, stable, others: plan_other_replica_sets(input, Some(routing)) }
}

/// The closest `(canary, stable)` split of `replicas` pods to `weight` out of `max_weight`. Port of Argo's
/// `approximateWeightedCanaryStableReplicaCounts`.
///
/// Candidates are the floor and the ceiling of `replicas * weight / max_weight`, over a total of `replicas` and,
/// when `max_surge > 0`, also `replicas + 1`; the first candidate whose share is strictly closest to `weight` wins.
/// A weight strictly between 0 and `max_weight` never rounds either side to 0 pods unless the only pod cannot
/// surge (`replicas == 1`, `max_surge == 0`). When floor and ceiling are equally close the floor is not a
/// candidate, so ties go to the larger canary.
///
/// Argo quirk, kept: without surge, when the ceiling is all the pods and the floor ties with it (2 pods at 75%,
/// 5 at 90%, 10 at 95%, 25 at 98%, 50 at 99%) no candidate remains and everything stays on the stable. The tie and distance tests use `float64` arithmetic exactly as
/// Argo does (for a maximum weight of 100 this agrees with exact arithmetic; the tests check it up to 120 pods).
pub fn approximate_weighted_counts(replicas: i32, weight: i32, max_weight: i32, max_surge: i32) -> (i32, i32) {
    if replicas == 0 {
        return (0, 0);
    }
    let max_weight = if max_weight > 0 { max_weight } else { DEFAULT_MAX_TRAFFIC_WEIGHT };
    let product = i64::from(replicas) * i64::from(weight);
    let ceil = saturate(ceil_div(product, i64::from(max_weight)));
    let floor = saturate(product.div_euclid(i64::from(max_weight)));
    // Whether rounding may give a side 0 pods: only at the extremes, or when a single pod cannot surge.
    let zero_allowed = weight == max_weight || weight == 0 || (replicas == 1 && max_surge == 0);

    // (canary, total) candidates in Argo's order; the earliest wins a tie in distance.
    let mut options: Vec<(i32, i32)> = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        options.push((ceil, replicas));
    }
    if !floor_ceiling_tied(weight, max_weight, replicas) && (floor != 0 || zero_allowed) {
        options.push((floor, replicas));
    }
    if max_surge > 0 {
        let surged = replicas.saturating_add(1);
        options.push((ceil, surged));
        if !floor_ceiling_tied(weight, max_weight, surged) && (floor != 0 || zero_allowed) {
            options.push((floor, surged));
        }
    }

    let Some(&first) = options.first() else {
        // Argo's "should not get here", which it does (see above): keep everything on the stable.
        return (0, replicas);
    };
    let mut best = first;
    let mut best_delta = weight_delta(weight, max_weight, best.0, best.1);
    for &option in &options[1..] {
        let delta = weight_delta(weight, max_weight, option.0, option.1);
        if delta < best_delta {
            best = option;
            best_delta = delta;
        }
    }
    (best.0, best.1 - best.0)
}

/// Pods needed to carry `weight` out of `max_weight` when `replicas` pods carry everything, rounded up. Port of
/// Argo's `trafficWeightToReplicas`. A non-positive `max_weight` (rejected by validation) is read as 100.
pub fn traffic_weight_to_replicas(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    let max_weight = if max_weight > 0 { max_weight } else { DEFAULT_MAX_TRAFFIC_WEIGHT };
    saturate(ceil_div(i64::from(weight) * i64::from(replicas), i64::from(max_weight)))
}

/// How many pods of `rs` count as available when deciding how far others may be scaled down. Port of Argo's
/// `GetReplicasForScaleDown`.
///
/// Never more than `spec_replicas` (pods above it are about to go); otherwise the available pods, or all of
/// `spec_replicas` when `ignore_availability`, which lets a ReplicaSet whose pods are crash-looping still be
/// scaled down instead of blocking the update.
pub fn replicas_for_scale_down(rs: Option<&ReplicaSetCounts>, ignore_availability: bool) -> i32 {
    let Some(rs) = rs else { return 0 };
    if rs.spec_replicas < rs.available || ignore_availability { rs.spec_replicas } else { rs.available }
}

/// Raises a non-zero `count` to `min_pods_per_replica_set`, itself capped at `replicas` so a small Rollout cannot
/// be asked for more pods than it has. Port of Argo's `CheckMinPodsPerReplicaSet` (traffic routing only).
pub fn check_min_pods_per_replica_set(count: i32, replicas: i32, min_pods_per_replica_set: Option<i32>) -> i32 {
    match min_pods_per_replica_set {
        Some(min_pods) if count != 0 => count.max(min_pods.min(replicas)),
        _ => count,
    }
}

/// The `setWeight` in force: that of the current step or the closest one before it, 0 if none, 0 when aborted,
/// and `max_weight` when there are no steps or all have run. Port of Argo's `GetCurrentSetWeight`.
pub fn current_set_weight(input: &CanaryInput<'_>, max_weight: i32) -> i32 {
    if input.abort {
        return 0;
    }
    let Some(index) = current_step_index(input) else { return max_weight };
    input.steps[..=index].iter().rev().find_map(|step| step.set_weight).unwrap_or(0)
}

/// The `setCanaryScale` in force: that of the current step or the closest one before it, unless that one says
/// `matchTrafficWeight`. Only with a traffic router; ignored once aborted unless `abortScaleDownDelaySeconds` is 0
/// (the user asked to keep the aborted canary up). Port of Argo's `UseSetCanaryScale`.
pub fn use_set_canary_scale<'a>(input: &CanaryInput<'a>, routing: Option<&TrafficRoutedScaling>) -> Option<&'a SetCanaryScale> {
    let routing = routing?;
    if input.abort && routing.abort_scale_down_delay_seconds != Some(0) {
        return None;
    }
    let index = current_step_index(input)?;
    let steps: &'a [CanaryStep] = input.steps;
    let scale = steps[..=index].iter().rev().find_map(|step| step.set_canary_scale.as_ref())?;
    if scale.match_traffic_weight.unwrap_or(false) { None } else { Some(scale) }
}

/// The canary weight to size for. Port of Argo's `GetDesiredCanaryWeight`.
///
/// Normally [`current_set_weight`]. When an abort meets `dynamicStableScale` (and both ReplicaSets exist) the
/// weight steps back down through the `setWeight` steps instead of dropping to 0 at once, so the stable grows
/// as the canary shrinks rather than all at once: it is the largest step weight whose pod count is below the
/// canary's current size (`replicas - stable.available`, or the canary's own available pods if larger; with an
/// explicit non-zero `abortScaleDownDelaySeconds` the canary's own size is left out so the abort cannot stall).
pub fn desired_canary_weight(input: &CanaryInput<'_>, routing: Option<&TrafficRoutedScaling>) -> i32 {
    if let Some(routing) = routing
        && input.abort
        && routing.dynamic_stable_scale
        && let (Some(canary), Some(stable)) = (&input.canary, &input.stable)
    {
        let max_weight = routing.max_weight();
        let expected_canary = input.replicas - stable.available;
        let canary_replicas =
            if routing.has_explicit_abort_scale_down_delay() { expected_canary } else { expected_canary.max(canary.available) };
        return input
            .steps
            .iter()
            .rev()
            .filter_map(|step| step.set_weight)
            .find(|&weight| traffic_weight_to_replicas(input.replicas, weight, max_weight) < canary_replicas)
            .unwrap_or(0);
    }
    current_set_weight(input, routing.map_or(DEFAULT_MAX_TRAFFIC_WEIGHT, TrafficRoutedScaling::max_weight))
}

/// What to size the canary for. Port of Argo's `GetCanaryReplicasOrWeight`: the full weight when promoting fully,
/// when there is no stable yet, or when the desired template is the stable one; else the `setCanaryScale` in force
/// (its `replicas` before its `weight`); else [`desired_canary_weight`].
pub fn canary_replicas_or_weight(input: &CanaryInput<'_>, routing: Option<&TrafficRoutedScaling>) -> CanaryTarget {
    if input.promote_full || input.stable_hash.is_empty() || input.current_pod_hash == input.stable_hash {
        return CanaryTarget::Weight(routing.map_or(DEFAULT_MAX_TRAFFIC_WEIGHT, TrafficRoutedScaling::max_weight));
    }
    if let Some(scale) = use_set_canary_scale(input, routing) {
        if let Some(replicas) = scale.replicas {
            return CanaryTarget::Replicas(replicas);
        }
        if let Some(weight) = scale.weight {
            return CanaryTarget::Weight(weight);
        }
    }
    CanaryTarget::Weight(desired_canary_weight(input, routing))
}

/// `(canary, stable)` of a basic canary: `CalculateReplicaCountsForBasicCanary`.
fn basic_canary_counts(input: &CanaryInput<'_>) -> (i32, i32) {
    let replicas = input.replicas;
    let Fenceposts { max_surge, max_unavailable } = input.fenceposts;
    let desired_weight = match canary_replicas_or_weight(input, None) {
        CanaryTarget::Weight(weight) => weight,
        // Without a router setCanaryScale never applies; Argo reads the weight as 0 here all the same.
        CanaryTarget::Replicas(_) => 0,
    };
    let (mut desired_canary, mut desired_stable) =
        approximate_weighted_counts(replicas, desired_weight, DEFAULT_MAX_TRAFFIC_WEIGHT, max_surge);

    let canary_rs = input.canary.as_ref();
    let stable_rs = input.stable.as_ref();
    let mut canary_count = canary_rs.map_or(0, |rs| rs.spec_replicas);
    let mut stable_count = 0;
    let scale_stable = stable_exists_apart(input);
    if let (true, Some(stable)) = (scale_stable, stable_rs) {
        stable_count = stable.spec_replicas;
    } else {
        // No separate stable: this is not a canary step but a plain rollout of the canary to full size.
        desired_canary = replicas;
        desired_stable = 0;
    }

    let max_total = replicas + max_surge;
    let others_total: i32 = input.others.iter().map(|other| other.rs.spec_replicas).sum();
    let current_total = others_total
        + canary_rs.map_or(0, |rs| rs.spec_replicas)
        + if scale_stable { stable_rs.map_or(0, |rs| rs.spec_replicas) } else { 0 };
    let mut scale_up = max_total - current_total;

    // Scale up within maxSurge, the stable first.
    if let (true, Some(stable)) = (scale_stable, stable_rs)
        && stable.spec_replicas < desired_stable
        && scale_up > 0
    {
        if stable.spec_replicas + scale_up < desired_stable {
            stable_count = stable.spec_replicas + scale_up;
            scale_up = 0;
        } else {
            stable_count = desired_stable;
            scale_up -= desired_stable - stable.spec_replicas;
        }
    }
    if let Some(canary) = canary_rs
        && canary.spec_replicas < desired_canary
        && scale_up > 0
    {
        canary_count = (canary.spec_replicas + scale_up).min(desired_canary);
    }

    if others_total > 0 {
        // Older ReplicaSets are drained before the canary or stable gives up a single pod.
        return (canary_count, stable_count);
    }

    // Scale down within maxUnavailable. When the canary grows, only the stable shrinks and its unavailable pods
    // count as removable; when the canary shrinks (lower weight, abort) the roles swap.
    let min_available = replicas - max_unavailable;
    let canary_growing = canary_rs.is_none_or(|canary| desired_canary >= canary.spec_replicas);
    let removable = replicas_for_scale_down(canary_rs, !canary_growing) + replicas_for_scale_down(stable_rs, canary_growing);
    if removable <= min_available {
        return (canary_count, stable_count);
    }
    let scale_down = removable - min_available;
    if !canary_growing {
        canary_count = scale_down_toward(canary_rs, desired_canary, scale_down, canary_count);
        (canary_count, stable_count) = adjust_within_limits(canary_rs, stable_rs, canary_count, stable_count, max_total, min_available);
    } else if scale_stable {
        stable_count = scale_down_toward(stable_rs, desired_stable, scale_down, stable_count);
        (stable_count, canary_count) = adjust_within_limits(stable_rs, canary_rs, stable_count, canary_count, max_total, min_available);
    }
    (canary_count, stable_count)
}

/// `(canary, stable)` of a traffic-routed canary: `CalculateReplicaCountsForTrafficRoutedCanary`.
fn traffic_routed_canary_counts(input: &CanaryInput<'_>, routing: &TrafficRoutedScaling) -> (i32, i32) {
    let replicas = input.replicas;
    let max_weight = routing.max_weight();
    let min_pods = |count| check_min_pods_per_replica_set(count, replicas, routing.min_pods_per_replica_set);
    let (mut canary_count, desired_weight) = match canary_replicas_or_weight(input, Some(routing)) {
        CanaryTarget::Replicas(count) => (count, 0),
        CanaryTarget::Weight(weight) => (min_pods(traffic_weight_to_replicas(replicas, weight, max_weight)), weight),
    };

    if !routing.dynamic_stable_scale {
        return (canary_count, replicas);
    }

    // The stable must carry the larger of the traffic it is about to get and the traffic it still has.
    let mut stable_count = traffic_weight_to_replicas(replicas, max_weight - desired_weight, max_weight);
    if let Some(weights) = routing.weights {
        stable_count = stable_count.max(traffic_weight_to_replicas(replicas, weights.stable, max_weight));
        if input.abort {
            // The canary may not shrink below the traffic it still carries...
            let canary_traffic = traffic_weight_to_replicas(replicas, weights.canary, max_weight);
            canary_count = canary_count.max(canary_traffic);
            // ...but an aborted canary that was already drained must not be scaled back up because the stable
            // happens to be short of available pods (an HPA scale-up, an eviction).
            if let Some(canary) = &input.canary
                && !input.promote_full
                && stable_exists_apart(input)
                && use_set_canary_scale(input, Some(routing)).is_none()
            {
                canary_count = canary_count.min(canary_traffic.max(canary.spec_replicas));
            }
        }
    }
    (min_pods(canary_count), min_pods(stable_count))
}

/// The older-ReplicaSet scale-down: `cleanupUnhealthyReplicas` then `scaleDownOldReplicaSetsForCanary`.
fn plan_other_replica_sets(input: &CanaryInput<'_>, routing: Option<&TrafficRoutedScaling>) -> Vec<(String, i32)> {
    // Only ReplicaSets with pods take part (`FilterActiveReplicaSets`).
    let mut active: Vec<&OtherReplicaSet> = input.others.iter().filter(|other| other.rs.spec_replicas > 0).collect();
    if active.is_empty() {
        return Vec::new();
    }
    // Oldest first, for the unhealthy-pod cleanup.
    active.sort_by(|a, b| by_revision(a, b));
    let mut desired: Vec<i32> = active.iter().map(|other| other.rs.spec_replicas).collect();
    let changes = |desired: &[i32]| -> Vec<(String, i32)> {
        active
            .iter()
            .zip(desired)
            .rev()
            .filter(|(other, size)| other.rs.spec_replicas != **size)
            .map(|(other, size)| (other.rs.name.clone(), *size))
            .collect()
    };

    // Pods that are not available serve no traffic and count for no availability: remove them first, from every
    // older ReplicaSet, held or not. A ReplicaSet with more available pods than it wants makes Argo give up for
    // this reconcile after the ones before it.
    for (other, size) in active.iter().zip(desired.iter_mut()) {
        match other.rs.available.cmp(size) {
            Ordering::Equal => {}
            Ordering::Less => *size = other.rs.available,
            Ordering::Greater => return changes(&desired),
        }
    }

    // Then drain, newest first, as far as the available pods of all ReplicaSets allow.
    let min_available = input.replicas - input.fenceposts.max_unavailable;
    let mut budget = available_pods(input) - min_available;
    if budget <= 0 {
        return changes(&desired);
    }
    for (other, size) in active.iter().zip(desired.iter_mut()).rev() {
        if routing.is_some() && other.hold {
            continue;
        }
        if budget <= 0 {
            break;
        }
        if *size == 0 {
            continue;
        }
        let target = match routing {
            // Every pod of an older ReplicaSet receives traffic: take as many as the budget allows.
            None => (*size - budget).max(0),
            // The router sends no traffic to an unheld older ReplicaSet: drop it whole.
            Some(_) => 0,
        };
        budget -= *size - target;
        *size = target;
    }
    changes(&desired)
}

/// The index of the current step, if there is one (`GetCurrentCanaryStep`). A negative index, which Argo would
/// crash on, has none.
fn current_step_index(input: &CanaryInput<'_>) -> Option<usize> {
    let index = usize::try_from(input.current_step_index.unwrap_or(0)).ok()?;
    (index < input.steps.len()).then_some(index)
}

/// `CheckStableRSExists`: there is a stable ReplicaSet and it is not the canary.
fn stable_exists_apart(input: &CanaryInput<'_>) -> bool {
    match (&input.canary, &input.stable) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(canary), Some(stable)) => canary.name != stable.name,
    }
}

/// Available pods across every ReplicaSet of the Rollout, each counted once (`GetAvailableReplicaCountForReplicaSets`
/// over all ReplicaSets).
fn available_pods(input: &CanaryInput<'_>) -> i32 {
    let canary = input.canary.as_ref().map_or(0, |rs| rs.available);
    let stable = if stable_exists_apart(input) { input.stable.as_ref().map_or(0, |rs| rs.available) } else { 0 };
    canary + stable + input.others.iter().map(|other| other.rs.available).sum::<i32>()
}

/// `calculateScaleDownReplicaCount`: move `drain` toward `desired` by at most `scale_down` pods, never below it.
fn scale_down_toward(drain: Option<&ReplicaSetCounts>, desired: i32, scale_down: i32, count: i32) -> i32 {
    match drain {
        Some(rs) if rs.spec_replicas > desired => desired.max(rs.spec_replicas - scale_down),
        _ => count,
    }
}

/// `adjustReplicaWithinLimits`: after `drain` was scaled down (its availability ignored), trim `adjust` back under
/// `max_total`, hand back to it any of its available pods the trim cost below `min_available`, and take what is
/// still over `max_total` from `drain`. Returns `(drain, adjust)`.
fn adjust_within_limits(
    drain: Option<&ReplicaSetCounts>,
    adjust: Option<&ReplicaSetCounts>,
    mut drain_count: i32,
    mut adjust_count: i32,
    max_total: i32,
    min_available: i32,
) -> (i32, i32) {
    let mut over_limit = (adjust_count + drain_count - max_total).max(0);
    let mut total_available = drain.map_or(0, |rs| rs.available.min(drain_count));
    if let Some(adjust) = adjust {
        adjust_count -= over_limit;
        total_available += adjust.available.min(adjust_count);
        let lost_available = (adjust.available - adjust_count).max(0);
        let still_needed = (min_available - total_available).max(0);
        adjust_count += lost_available.min(still_needed);
        over_limit = (adjust_count + drain_count - max_total).max(0);
        drain_count -= over_limit;
    }
    (drain_count, adjust_count)
}

/// `floorCeilingTied`: `total * weight / max_weight` lies exactly halfway between two integers, tested in
/// `float64` like Argo (`25 * 0.14` is `3.5000000000000004` there, so not a tie; the distance test then still
/// prefers the larger canary).
#[allow(clippy::float_cmp)] // Exact comparison is Argo's semantics, rounding error included.
fn floor_ceiling_tied(weight: i32, max_weight: i32, total: i32) -> bool {
    (f64::from(total) * (f64::from(weight) / f64::from(max_weight))).fract() == 0.5
}

/// `weightDelta`: how far `canary` pods out of `total` are from `weight`, in `float64` like Argo.
fn weight_delta(weight: i32, max_weight: i32, canary: i32, total: i32) -> f64 {
    (f64::from(canary) * f64::from(max_weight) / f64::from(total) - f64::from(weight)).abs()
}

/// Ceiling of `numerator / denominator` for a positive denominator.
fn ceil_div(numerator: i64, denominator: i64) -> i64 {
    -(-numerator).div_euclid(denominator)
}

/// Narrows to `i32`, saturating; only absurd inputs (more than two billion pods) get there.
fn saturate(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

/// Oldest first: ascending revision, then name, so equal revisions still order the same way every time.
fn by_revision(a: &OtherReplicaSet, b: &OtherReplicaSet) -> Ordering {
    a.revision.cmp(&b.revision).then_with(|| a.rs.name.cmp(&b.rs.name))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serin_api::IntOrPercent;
    use serin_api::rollout::steps::{CanaryStep, SetCanaryScale};

    use super::*;

    // === fixtures ===

    fn rs(name: &str, spec_replicas: i32, available: i32) -> ReplicaSetCounts {
        ReplicaSetCounts::new(name, spec_replicas, available)
    }

    fn set_weight(weight: i32) -> CanaryStep {
        CanaryStep { set_weight: Some(weight), ..CanaryStep::default() }
    }

    fn scale(replicas: Option<i32>, weight: Option<i32>, match_traffic_weight: bool) -> SetCanaryScale {
        SetCanaryScale { replicas, weight, match_traffic_weight: Some(match_traffic_weight) }
    }

    fn fenceposts(replicas: i32, max_surge: impl Into<IntOrPercent>, max_unavailable: impl Into<IntOrPercent>) -> Fenceposts {
        resolve_surge_unavailable(replicas, Some(&max_surge.into()), Some(&max_unavailable.into())).unwrap()
    }

    fn routed() -> TrafficRoutedScaling {
        TrafficRoutedScaling::default()
    }

    /// A Rollout mid-update from `stable` to `canary` (Argo's test `newRollout`): one step carrying `setWeight`
    /// and, optionally, `setCanaryScale`.
    fn mid_update(replicas: i32, fenceposts: Fenceposts, steps: &[CanaryStep]) -> CanaryInput<'_> {
        CanaryInput { replicas, fenceposts, steps, stable_hash: "stable", current_pod_hash: "canary", ..CanaryInput::default() }
    }

    // === Argo: TestCalculateReplicaCountsForCanary ===

    /// One row of Argo's `TestCalculateReplicaCountsForCanary`. Unset surge/unavailable are Go's zero IntOrString.
    struct Case {
        name: &'static str,
        replicas: i32,
        set_weight: i32,
        max_surge: IntOrPercent,
        max_unavailable: IntOrPercent,
        promote_full: bool,
        stable: (i32, i32),
        canary: (i32, i32),
        older: Option<(i32, i32)>,
        set_canary_scale: Option<SetCanaryScale>,
        traffic_routing: bool,
        abort_scale_down_delay_seconds: Option<i32>,
        abort: bool,
        min_pods_per_replica_set: Option<i32>,
        expect_stable: i32,
        expect_canary: i32,
    }

    impl Default for Case {
        fn default() -> Self {
            Self {
                name: "",
                replicas: 0,
                set_weight: 0,
                max_surge: IntOrPercent::Int(0),
                max_unavailable: IntOrPercent::Int(0),
                promote_full: false,
                stable: (0, 0),
                canary: (0, 0),
                older: None,
                set_canary_scale: None,
                traffic_routing: false,
                abort_scale_down_delay_seconds: None,
                abort: false,
                min_pods_per_replica_set: None,
                expect_stable: 0,
                expect_canary: 0,
            }
        }
    }

    impl Case {
        fn run(&self) {
            let steps = [CanaryStep {
                set_weight: Some(self.set_weight),
                set_canary_scale: self.set_canary_scale.clone(),
                ..CanaryStep::default()
            }];
            let mut input =
                mid_update(self.replicas, fenceposts(self.replicas, self.max_surge.clone(), self.max_unavailable.clone()), &steps);
            input.promote_full = self.promote_full;
            input.abort = self.abort;
            let plan = if self.traffic_routing {
                // Argo's table passes no ReplicaSets and no weights to the traffic-routed calculation.
                let routing = TrafficRoutedScaling {
                    min_pods_per_replica_set: self.min_pods_per_replica_set,
                    abort_scale_down_delay_seconds: self.abort_scale_down_delay_seconds,
                    ..routed()
                };
                traffic_routed_canary(&input, &routing)
            } else {
                input.stable = Some(rs("stable", self.stable.0, self.stable.1));
                input.canary = Some(rs("canary", self.canary.0, self.canary.1));
                input.others = self.older.map(|(spec, available)| OtherReplicaSet::new("older", 1, spec, available)).into_iter().collect();
                basic_canary(&input)
            };
            assert_eq!((plan.canary, plan.stable), (self.expect_canary, self.expect_stable), "{}", self.name);
        }
    }

    #[test]
    fn calculates_replica_counts_like_argo() {
        let cases = [
            Case {
                name: "Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas",
                replicas: 10,
                set_weight: 100,
                max_surge: 3.into(),
                stable: (7, 8),
                canary: (6, 3),
                expect_stable: 7,
                expect_canary: 6,
                ..Case::default()
            },
            Case {
                name: "Use max surge int to scale up canary",
                replicas: 10,
                set_weight: 20,
                max_surge: 2.into(),
                stable: (10, 10),
                expect_stable: 10,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Use max surge percentage to scale up canary",
                replicas: 10,
                set_weight: 20,
                max_surge: "20%".into(),
                stable: (10, 10),
                expect_stable: 10,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Scale down extra stable replicas",
                replicas: 10,
                set_weight: 20,
                max_surge: "20%".into(),
                stable: (10, 10),
                canary: (2, 2),
                expect_stable: 8,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Do not go past max surge",
                replicas: 10,
                set_weight: 30,
                max_surge: 2.into(),
                stable: (10, 10),
                expect_stable: 10,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Use max unavailable int to scale down stableRS",
                replicas: 10,
                set_weight: 20,
                max_unavailable: 2.into(),
                stable: (10, 10),
                expect_stable: 8,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Use max unavailable percentage to scale down stableRS",
                replicas: 10,
                set_weight: 20,
                max_unavailable: "20%".into(),
                stable: (10, 10),
                expect_stable: 8,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Do not go past max unavailable",
                replicas: 10,
                set_weight: 30,
                max_unavailable: 2.into(),
                stable: (10, 10),
                expect_stable: 8,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Use Max Surge and Max Unavailable",
                replicas: 10,
                set_weight: 50,
                max_surge: 2.into(),
                max_unavailable: 1.into(),
                stable: (10, 10),
                expect_stable: 9,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Scale canaryRS to zero on setWeight of 0%",
                replicas: 10,
                set_weight: 0,
                max_surge: 1.into(),
                max_unavailable: 1.into(),
                stable: (10, 10),
                canary: (1, 1),
                expect_stable: 10,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Scale stable to zero on setWeight of 100%",
                replicas: 10,
                set_weight: 100,
                max_surge: 1.into(),
                max_unavailable: 1.into(),
                stable: (1, 1),
                canary: (10, 10),
                expect_stable: 0,
                expect_canary: 10,
                ..Case::default()
            },
            Case {
                name: "Do not scale canaryRS down to zero on non-zero weight",
                replicas: 1,
                set_weight: 20,
                max_surge: 1.into(),
                stable: (1, 1),
                expect_stable: 1,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "Do not scale canaryRS down to zero on non-100 weight",
                replicas: 1,
                set_weight: 90,
                max_surge: 1.into(),
                stable: (1, 1),
                expect_stable: 1,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "Scale canaryRS to zero on <50 weight without surge",
                replicas: 1,
                set_weight: 49,
                max_unavailable: 1.into(),
                stable: (1, 1),
                expect_stable: 1,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Scale stableRS down to zero on >=50 weight without surge",
                replicas: 1,
                set_weight: 51,
                max_unavailable: 1.into(),
                stable: (1, 1),
                expect_stable: 0,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Scale canaryRS to one on >=50 weight without surge and stable replicas",
                replicas: 1,
                set_weight: 51,
                max_unavailable: 1.into(),
                stable: (0, 0),
                expect_stable: 0,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "Scale up Stable before canaryRS",
                replicas: 10,
                set_weight: 30,
                max_surge: 1.into(),
                stable: (1, 1),
                older: Some((3, 3)),
                expect_stable: 7,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "Scale down canaryRS and stable",
                replicas: 10,
                set_weight: 30,
                max_unavailable: 3.into(),
                stable: (8, 5),
                canary: (4, 4),
                expect_stable: 7,
                expect_canary: 3,
                ..Case::default()
            },
            Case {
                name: "Scale down stable and canary available",
                replicas: 10,
                set_weight: 100,
                max_surge: 1.into(),
                stable: (10, 2),
                canary: (10, 8),
                expect_stable: 2,
                expect_canary: 9,
                ..Case::default()
            },
            Case {
                name: "Do not scale down canaryRS or stable when older RS count >= scaleDownCount",
                replicas: 10,
                set_weight: 30,
                max_unavailable: 1.into(),
                stable: (8, 6),
                canary: (4, 2),
                older: Some((3, 3)),
                expect_stable: 8,
                expect_canary: 4,
                ..Case::default()
            },
            Case {
                name: "Do not round past maxSurge with uneven setWeight divisor",
                replicas: 10,
                set_weight: 5,
                max_unavailable: 1.into(),
                stable: (10, 10),
                expect_stable: 9,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Do not round past maxSurge with uneven setWeight divisor (part 2)",
                replicas: 10,
                set_weight: 5,
                max_unavailable: 1.into(),
                stable: (9, 9),
                expect_stable: 9,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas",
                replicas: 10,
                set_weight: 10,
                max_surge: "0%".into(),
                max_unavailable: "0%".into(),
                stable: (10, 10),
                expect_stable: 9,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "For canary replicas, use setCanaryScale.replicas with trafficRouting (and ignore setWeight)",
                replicas: 1,
                set_weight: 100,
                stable: (1, 1),
                set_canary_scale: Some(scale(Some(9), None, false)),
                traffic_routing: true,
                expect_stable: 1,
                expect_canary: 9,
                ..Case::default()
            },
            Case {
                name: "Use setCanaryScale.weight for canary replicas with trafficRouting (and ignore setWeight)",
                replicas: 4,
                set_weight: 100,
                stable: (4, 4),
                set_canary_scale: Some(scale(None, Some(200), false)),
                traffic_routing: true,
                expect_stable: 4,
                expect_canary: 8,
                ..Case::default()
            },
            Case {
                name: "Ignore setCanaryScale replicas/weight when matchTrafficWeight is true",
                replicas: 10,
                set_weight: 20,
                max_surge: "20%".into(),
                stable: (10, 10),
                set_canary_scale: Some(scale(Some(9), Some(100), true)),
                traffic_routing: true,
                expect_stable: 10,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas",
                replicas: 10,
                set_weight: 20,
                max_surge: "20%".into(),
                stable: (10, 10),
                set_canary_scale: Some(scale(Some(9), Some(100), false)),
                expect_stable: 10,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "honor maxSurge during scale up when stableRS unavailable",
                replicas: 4,
                set_weight: 100,
                max_surge: 1.into(),
                stable: (4, 1),
                expect_stable: 4,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "scale down to maxunavailable without exceeding maxSurge",
                replicas: 3,
                set_weight: 99,
                max_unavailable: 2.into(),
                stable: (3, 3),
                expect_stable: 1,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "scale down to maxunavailable without exceeding maxSurge (part 2)",
                replicas: 3,
                set_weight: 99,
                max_unavailable: 2.into(),
                stable: (1, 1),
                expect_stable: 1,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "honor maxUnavailable during scale down stableRS unavailable",
                replicas: 4,
                set_weight: 100,
                max_surge: 1.into(),
                stable: (4, 1),
                canary: (1, 1),
                expect_stable: 3,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "honor maxUnavailable when aborting or reducing weight part 1",
                replicas: 4,
                set_weight: 0,
                max_surge: 1.into(),
                stable: (0, 0),
                canary: (4, 4),
                expect_stable: 1,
                expect_canary: 4,
                ..Case::default()
            },
            Case {
                name: "honor maxUnavailable when aborting or reducing weight part 2",
                replicas: 4,
                set_weight: 0,
                max_surge: 1.into(),
                stable: (1, 0),
                canary: (4, 4),
                expect_stable: 1,
                expect_canary: 4,
                ..Case::default()
            },
            Case {
                name: "honor maxUnavailable when aborting or reducing weight part 3",
                replicas: 4,
                set_weight: 0,
                max_surge: 1.into(),
                stable: (1, 1),
                canary: (4, 4),
                expect_stable: 1,
                expect_canary: 3,
                ..Case::default()
            },
            Case {
                name: "promote full does not consider weight",
                promote_full: true,
                replicas: 4,
                set_weight: 1,
                max_surge: 4.into(),
                max_unavailable: 4.into(),
                stable: (4, 4),
                expect_stable: 0,
                expect_canary: 4,
                ..Case::default()
            },
            Case {
                name: "promote full still honors maxSurge/maxUnavailable",
                promote_full: true,
                replicas: 4,
                set_weight: 1,
                max_surge: 3.into(),
                stable: (4, 4),
                expect_stable: 4,
                expect_canary: 3,
                ..Case::default()
            },
            Case {
                name: "aborted with abortScaleDownDelaySeconds:0 and setCanaryScale",
                replicas: 1,
                set_canary_scale: Some(scale(Some(1), None, false)),
                traffic_routing: true,
                abort_scale_down_delay_seconds: Some(0),
                abort: true,
                stable: (1, 1),
                canary: (1, 1),
                expect_stable: 1,
                expect_canary: 1,
                ..Case::default()
            },
            Case {
                name: "aborted with abortScaleDownDelaySeconds>0 and setCanaryScale",
                replicas: 1,
                set_canary_scale: Some(scale(Some(1), None, false)),
                traffic_routing: true,
                abort_scale_down_delay_seconds: Some(30),
                abort: true,
                stable: (1, 1),
                canary: (1, 1),
                expect_stable: 1,
                expect_canary: 0,
                ..Case::default()
            },
            Case {
                name: "Honor MinPodsPerReplicaSet when using trafficRouting and starting canary",
                replicas: 10,
                set_weight: 5,
                stable: (10, 10),
                traffic_routing: true,
                min_pods_per_replica_set: Some(2),
                expect_stable: 10,
                expect_canary: 2,
                ..Case::default()
            },
            Case {
                name: "Cap MinPodsPerReplicaSet when it exceeds rollout replicas with trafficRouting",
                replicas: 1,
                set_weight: 100,
                promote_full: true,
                stable: (1, 1),
                traffic_routing: true,
                min_pods_per_replica_set: Some(2),
                expect_stable: 1,
                expect_canary: 1,
                ..Case::default()
            },
        ];
        for case in &cases {
            case.run();
        }
    }

    // === Argo: TestApproximateWeightedNewStableReplicaCounts ===

    #[test]
    fn approximates_the_weight_like_argo() {
        // (replicas, weight, maxSurge) -> (canary, stable); the comment is the canary's actual share.
        #[rustfmt::skip]
        let cases = [
            ((0, 0, 0), (0, 0)), ((0, 50, 0), (0, 0)), ((0, 100, 0), (0, 0)),
            ((0, 0, 1), (0, 0)), ((0, 50, 1), (0, 0)), ((0, 100, 1), (0, 0)),
            ((1, 0, 0), (0, 1)), ((1, 1, 0), (0, 1)), ((1, 49, 0), (0, 1)),       // 0%
            ((1, 50, 0), (1, 0)), ((1, 99, 0), (1, 0)), ((1, 100, 0), (1, 0)),    // 100%
            ((1, 0, 1), (0, 1)),                                                  // 0%
            ((1, 1, 1), (1, 1)), ((1, 49, 1), (1, 1)), ((1, 50, 1), (1, 1)), ((1, 99, 1), (1, 1)), // 50%
            ((1, 100, 1), (1, 0)),                                                // 100%
            ((2, 0, 0), (0, 2)), ((2, 1, 0), (1, 1)), ((2, 50, 0), (1, 1)), ((2, 99, 0), (1, 1)), ((2, 100, 0), (2, 0)),
            ((2, 0, 1), (0, 2)), ((2, 1, 1), (1, 2)), ((2, 50, 1), (1, 1)), ((2, 99, 1), (2, 1)), ((2, 100, 1), (2, 0)),
            ((3, 10, 0), (1, 2)), ((3, 25, 0), (1, 2)), ((3, 33, 0), (1, 2)), ((3, 34, 0), (1, 2)), ((3, 49, 0), (1, 2)), // 33.3%
            ((3, 50, 0), (2, 1)),                                                 // 66.6%
            ((3, 10, 1), (1, 3)), ((3, 25, 1), (1, 3)),                           // 25%
            ((3, 33, 1), (1, 2)), ((3, 34, 1), (1, 2)),                           // 33.3%
            ((3, 49, 1), (2, 2)), ((3, 50, 1), (2, 2)),                           // 50%
            ((10, 0, 1), (0, 10)), ((10, 1, 0), (1, 9)), ((10, 14, 0), (1, 9)), ((10, 15, 0), (2, 8)),
            ((10, 16, 0), (2, 8)), ((10, 99, 0), (9, 1)), ((10, 100, 1), (10, 0)),
            ((10, 0, 1), (0, 10)), ((10, 1, 1), (1, 10)),                         // 0%, 9.1%
            ((10, 18, 1), (2, 9)), ((10, 19, 1), (2, 9)),                         // 18.1%
            ((10, 20, 1), (2, 8)), ((10, 23, 1), (2, 8)),                         // 20%
            ((10, 24, 1), (3, 8)), ((10, 25, 1), (3, 8)),                         // 27.2%
            ((10, 99, 1), (10, 1)), ((10, 100, 1), (10, 0)),                      // 90.9%, 100%
        ];
        for ((replicas, weight, surge), expected) in cases {
            assert_eq!(
                approximate_weighted_counts(replicas, weight, 100, surge),
                expected,
                "replicas {replicas} weight {weight} surge {surge}"
            );
        }
    }

    /// The `float64` tie and distance tests agree with exact rational arithmetic for every weight out of 100.
    #[test]
    fn float_rounding_agrees_with_exact_arithmetic() {
        fn exact(replicas: i64, weight: i64, surge: bool) -> (i64, i64) {
            if replicas == 0 {
                return (0, 0);
            }
            let (ceil, floor) = ((replicas * weight + 99) / 100, replicas * weight / 100);
            let tied = |total: i64| 2 * (total * weight % 100) == 100;
            let zero_allowed = weight == 100 || weight == 0 || (replicas == 1 && !surge);
            let mut options = Vec::new();
            if ceil < replicas || zero_allowed {
                options.push((ceil, replicas));
            }
            if !tied(replicas) && (floor != 0 || zero_allowed) {
                options.push((floor, replicas));
            }
            if surge {
                options.push((ceil, replicas + 1));
                if !tied(replicas + 1) && (floor != 0 || zero_allowed) {
                    options.push((floor, replicas + 1));
                }
            }
            let Some(&first) = options.first() else { return (0, replicas) };
            // |canary*100/total - weight| as the fraction |canary*100 - weight*total| / total.
            let delta = |(canary, total): (i64, i64)| ((canary * 100 - weight * total).abs(), total);
            let mut best = first;
            for &option in &options[1..] {
                let (a, t1) = delta(option);
                let (b, t2) = delta(best);
                if a * t2 < b * t1 {
                    best = option;
                }
            }
            (best.0, best.1 - best.0)
        }
        for replicas in 0..=120 {
            for weight in 0..=100 {
                for surge in [0, 1] {
                    let (canary, stable) = approximate_weighted_counts(replicas, weight, 100, surge);
                    let expected = exact(i64::from(replicas), i64::from(weight), surge > 0);
                    assert_eq!((i64::from(canary), i64::from(stable)), expected, "{replicas} {weight} {surge}");
                }
            }
        }
    }

    /// Argo's fallback when no candidate is left: a tie whose ceiling is every pod, without surge.
    #[test]
    fn approximation_keeps_argos_empty_candidate_fallback() {
        for (replicas, weight) in [(2, 75), (5, 90), (10, 95), (25, 98), (50, 99)] {
            assert_eq!(approximate_weighted_counts(replicas, weight, 100, 0), (0, replicas), "{replicas} at {weight}%");
            let (canary, stable) = approximate_weighted_counts(replicas, weight, 100, 1);
            assert!(canary >= 1 && stable >= 1, "with surge the ceiling over replicas + 1 is a candidate");
        }
    }

    #[test]
    fn approximates_against_a_custom_max_weight() {
        // Weight 5 out of 10 is 50%; 250 out of 1000 is 25%.
        assert_eq!(approximate_weighted_counts(4, 5, 10, 0), (2, 2));
        assert_eq!(approximate_weighted_counts(8, 250, 1000, 0), (2, 6));
        assert_eq!(approximate_weighted_counts(3, 10, 10, 1), (3, 0), "the full custom weight is 100%");
    }

    // === Argo: the remaining canary_test.go tests ===

    #[test]
    fn new_deployment_scales_the_canary_to_full_size() {
        // TestCalculateReplicaCountsForNewDeployment: the new ReplicaSet is the stable one.
        let steps = [set_weight(10)];
        let mut input = mid_update(10, fenceposts(10, 0, 1), &steps);
        input.stable = Some(rs("stable", 10, 0));
        input.canary = Some(rs("stable", 10, 0));
        let plan = basic_canary(&input);
        assert_eq!((plan.canary, plan.stable), (10, 0));
    }

    #[test]
    fn traffic_routing_leaves_the_stable_at_full_size() {
        // TestCalculateReplicaCountsForCanaryTrafficRouting.
        let steps = [set_weight(10)];
        let input = mid_update(10, fenceposts(10, 0, 1), &steps);
        let plan = traffic_routed_canary(&input, &routed());
        assert_eq!((plan.canary, plan.stable), (1, 10));
    }

    #[test]
    fn without_a_separate_stable_the_canary_goes_to_full_size() {
        // TestCalculateReplicaCountsForCanaryStableRSdEdgeCases: no status hashes at all.
        let steps = [set_weight(10)];
        let mut input = CanaryInput { replicas: 10, fenceposts: fenceposts(10, 0, 1), steps: &steps, ..CanaryInput::default() };
        input.canary = Some(rs("stable", 9, 9));
        let plan = basic_canary(&input);
        assert_eq!((plan.canary, plan.stable), (10, 0), "no stable ReplicaSet");
        input.stable = input.canary.clone();
        let plan = basic_canary(&input);
        assert_eq!((plan.canary, plan.stable), (10, 0), "the stable is the canary");
    }

    /// One row of Argo's `TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale`: a first step of
    /// `setWeight: first_weight` plus `extra_steps`; `canary` of 0 means no canary ReplicaSet, likewise `stable`.
    struct DynamicCase {
        name: &'static str,
        replicas: i32,
        first_weight: i32,
        abort: bool,
        extra_steps: &'static [i32],
        weights: (i32, i32),
        canary: i32,
        stable: (i32, i32),
        expect: (i32, i32),
    }

    #[test]
    fn dynamic_stable_scale_follows_the_traffic_like_argo() {
        let cases = [
            DynamicCase {
                name: "Should scale stable replica up depending on next expected canary downscale step, if abort is true",
                replicas: 10,
                first_weight: 20,
                abort: true,
                extra_steps: &[60],
                weights: (60, 40),
                canary: 6,
                stable: (4, 4),
                expect: (6, 8),
            },
            DynamicCase {
                name: "Should scale stable replica up depending on available canary replicas, if actual number of canaries is less than expected and abort is true",
                replicas: 10,
                first_weight: 20,
                abort: true,
                extra_steps: &[60],
                weights: (60, 40),
                canary: 1,
                stable: (4, 4),
                expect: (6, 8),
            },
            DynamicCase {
                name: "Should scale stable replica up depending on available stable replicas, if abort is true",
                replicas: 10,
                first_weight: 20,
                abort: true,
                extra_steps: &[60],
                weights: (60, 40),
                canary: 2,
                stable: (8, 4),
                expect: (6, 8),
            },
            DynamicCase {
                name: "Should scale stable up as if canaries are scaled down to 0 if stable and canary replicas not passed, and abort is true",
                replicas: 10,
                first_weight: 20,
                abort: true,
                extra_steps: &[60],
                weights: (60, 40),
                canary: 0,
                stable: (0, 0),
                expect: (6, 10),
            },
            DynamicCase {
                name: "Should scale down stable",
                replicas: 10,
                first_weight: 10,
                abort: false,
                extra_steps: &[],
                weights: (10, 90),
                canary: 0,
                stable: (0, 0),
                expect: (1, 9),
            },
            DynamicCase {
                name: "Should take max of desired canary (20) > actual (10)",
                replicas: 10,
                first_weight: 20,
                abort: false,
                extra_steps: &[],
                weights: (10, 90),
                canary: 0,
                stable: (0, 0),
                expect: (2, 9),
            },
            DynamicCase {
                name: "Should leave canary scaled up if there is still traffic to it on abort",
                replicas: 10,
                first_weight: 20,
                abort: true,
                extra_steps: &[],
                weights: (20, 80),
                canary: 0,
                stable: (0, 0),
                expect: (2, 10),
            },
            DynamicCase {
                name: "Should reduce canary when there is less traffic to it on abort",
                replicas: 10,
                first_weight: 20,
                abort: true,
                extra_steps: &[],
                weights: (10, 90),
                canary: 0,
                stable: (0, 0),
                expect: (1, 10),
            },
        ];
        for case in &cases {
            let steps: Vec<CanaryStep> =
                std::iter::once(case.first_weight).chain(case.extra_steps.iter().copied()).map(set_weight).collect();
            let mut input = mid_update(case.replicas, fenceposts(case.replicas, 0, 1), &steps);
            input.abort = case.abort;
            input.canary = (case.canary > 0).then(|| rs("canary", case.canary, case.canary));
            input.stable = (case.stable.0 > 0).then(|| rs("stable", case.stable.0, case.stable.1));
            let routing = TrafficRoutedScaling {
                dynamic_stable_scale: true,
                weights: Some(ObservedWeights { canary: case.weights.0, stable: case.weights.1 }),
                ..routed()
            };
            let plan = traffic_routed_canary(&input, &routing);
            assert_eq!((plan.canary, plan.stable), case.expect, "{}", case.name);
        }
    }

    #[test]
    fn traffic_weight_to_replicas_rounds_up() {
        assert_eq!(traffic_weight_to_replicas(10, 0, 100), 0);
        assert_eq!(traffic_weight_to_replicas(10, 20, 100), 2);
        assert_eq!(traffic_weight_to_replicas(10, 25, 100), 3);
        assert_eq!(traffic_weight_to_replicas(10, 33, 100), 4);
        assert_eq!(traffic_weight_to_replicas(10, 99, 100), 10);
        assert_eq!(traffic_weight_to_replicas(10, 100, 100), 10);
        assert_eq!(traffic_weight_to_replicas(23, 100_000_000, 100_000_000), 23, "no 32-bit overflow");
    }

    #[test]
    fn replicas_for_scale_down_like_argo() {
        assert_eq!(replicas_for_scale_down(None, false), 0, "rs is nil");
        assert_eq!(replicas_for_scale_down(Some(&rs("a", 3, 5)), false), 3, "spec below available");
        assert_eq!(replicas_for_scale_down(Some(&rs("a", 3, 2)), true), 3, "ignore availability");
        assert_eq!(replicas_for_scale_down(Some(&rs("a", 3, 2)), false), 2, "honour availability");
    }

    #[test]
    fn current_set_weight_like_argo() {
        // TestGetCurrentSetWeight: one setWeight 10 step.
        let steps = [set_weight(10)];
        let mut input = mid_update(10, Fenceposts::default(), &steps);
        input.current_step_index = Some(1);
        assert_eq!(current_set_weight(&input, 100), 100, "all steps done");
        input.current_step_index = Some(0);
        assert_eq!(current_set_weight(&input, 100), 10);
        input.abort = true;
        assert_eq!(current_set_weight(&input, 100), 0, "aborted");
    }

    #[test]
    fn current_set_weight_walks_back_to_the_last_set_weight() {
        let steps =
            [set_weight(10), CanaryStep { pause: Some(serin_api::rollout::steps::RolloutPause::default()), ..CanaryStep::default() }];
        let mut input = mid_update(10, Fenceposts::default(), &steps);
        input.current_step_index = Some(1);
        assert_eq!(current_set_weight(&input, 100), 10);
        let pause_only = [steps[1].clone()];
        input.steps = &pause_only;
        input.current_step_index = Some(0);
        assert_eq!(current_set_weight(&input, 100), 0, "no setWeight yet");
        input.current_step_index = Some(-1);
        assert_eq!(current_set_weight(&input, 100), 100, "a negative index has no current step");
        input.steps = &[];
        assert_eq!(current_set_weight(&input, 250), 250, "no steps: the full custom weight");
    }

    #[test]
    fn canary_replicas_or_weight_like_argo() {
        // TestGetCanaryReplicasOrWeight.
        let promoted = CanaryInput { promote_full: true, ..CanaryInput::default() };
        assert_eq!(canary_replicas_or_weight(&promoted, None), CanaryTarget::Weight(100), "full promotion");

        let by_weight = [set_weight(10), CanaryStep { set_canary_scale: Some(scale(None, Some(20), false)), ..CanaryStep::default() }];
        let input = CanaryInput { steps: &by_weight, current_step_index: Some(1), stable_hash: "stable-rs", ..CanaryInput::default() };
        assert_eq!(canary_replicas_or_weight(&input, Some(&routed())), CanaryTarget::Weight(20), "setCanaryScale.weight");

        let by_replicas = [set_weight(10), CanaryStep { set_canary_scale: Some(scale(Some(5), None, false)), ..CanaryStep::default() }];
        let input = CanaryInput { steps: &by_replicas, current_step_index: Some(1), stable_hash: "stable-rs", ..CanaryInput::default() };
        assert_eq!(canary_replicas_or_weight(&input, Some(&routed())), CanaryTarget::Replicas(5), "setCanaryScale.replicas");

        let aborted_without_stable = CanaryInput { abort: true, ..CanaryInput::default() };
        assert_eq!(canary_replicas_or_weight(&aborted_without_stable, None), CanaryTarget::Weight(100), "no stable yet");
    }

    #[test]
    fn set_canary_scale_is_for_traffic_routing_only_and_ends_at_match_traffic_weight() {
        let steps = [
            CanaryStep { set_canary_scale: Some(scale(Some(3), None, false)), ..CanaryStep::default() },
            set_weight(40),
            CanaryStep { set_canary_scale: Some(scale(None, None, true)), ..CanaryStep::default() },
        ];
        let mut input = mid_update(10, Fenceposts::default(), &steps);
        input.current_step_index = Some(1);
        assert_eq!(use_set_canary_scale(&input, None), None, "basic canary");
        assert_eq!(use_set_canary_scale(&input, Some(&routed())), Some(&scale(Some(3), None, false)), "still in force");
        input.current_step_index = Some(2);
        assert_eq!(use_set_canary_scale(&input, Some(&routed())), None, "matchTrafficWeight");
        assert_eq!(canary_replicas_or_weight(&input, Some(&routed())), CanaryTarget::Weight(40));
    }

    /// Argo's `TestGetDesiredCanaryWeightOnAbortWithScaleDownDelay` (issue #4898).
    #[test]
    fn abort_weight_steps_down_without_deadlocking_on_an_explicit_delay() {
        let steps = [set_weight(10), set_weight(50)];
        let input = |stable_available: i32| CanaryInput {
            abort: true,
            canary: Some(rs("canary", 5, 5)),
            stable: Some(rs("stable", stable_available, stable_available)),
            ..mid_update(10, fenceposts(10, 1, 0), &steps)
        };
        let routing =
            |delay: Option<i32>| TrafficRoutedScaling { dynamic_stable_scale: true, abort_scale_down_delay_seconds: delay, ..routed() };
        for (name, delay, stable_available, expected) in [
            ("no explicit delay: weight is held up by canary size", None, 9, 10),
            ("explicit delay: weight steps down gradually while stable is scaling up", Some(30), 5, 10),
            ("explicit delay: weight reaches zero once stable nearly covers spec.replicas", Some(30), 9, 0),
            ("explicit zero delay (leave canary up indefinitely): weight is held up by canary size", Some(0), 9, 10),
        ] {
            assert_eq!(desired_canary_weight(&input(stable_available), Some(&routing(delay))), expected, "{name}");
        }

        let routing = TrafficRoutedScaling { weights: Some(ObservedWeights { canary: 10, stable: 90 }), ..routing(Some(30)) };
        assert_eq!(traffic_routed_canary(&input(9), &routing).stable, 10, "stable scales to spec.replicas once weight reaches zero");
    }

    /// Argo's `TestAbortedCanaryNotScaledUpOnStableAvailabilityGap` (issue #4973) and its guards.
    #[test]
    fn aborted_canary_is_not_scaled_back_up_by_a_stable_availability_gap() {
        let steps = [set_weight(5), set_weight(10), set_weight(20), set_weight(50), set_weight(100)];
        let short = [set_weight(10), set_weight(50)];
        let routing = |canary: i32, stable: i32| TrafficRoutedScaling {
            dynamic_stable_scale: true,
            weights: Some(ObservedWeights { canary, stable }),
            ..routed()
        };
        let aborted = |replicas: i32, steps| CanaryInput { abort: true, ..mid_update(replicas, fenceposts(replicas, 0, 1), steps) };
        let counts = |input: &CanaryInput<'_>, routing: &TrafficRoutedScaling| {
            let plan = traffic_routed_canary(input, routing);
            (plan.canary, plan.stable)
        };

        let spec_grew = CanaryInput { stable: Some(rs("stable", 12, 10)), canary: Some(rs("canary", 0, 0)), ..aborted(12, &steps) };
        assert_eq!(counts(&spec_grew, &routing(0, 100)), (0, 12), "spec.replicas increased and stable lags");

        let evicted = CanaryInput { stable: Some(rs("stable", 10, 7)), canary: Some(rs("canary", 0, 0)), ..aborted(10, &steps) };
        assert_eq!(counts(&evicted, &routing(0, 100)), (0, 10), "stable availability dips due to eviction");

        let draining = CanaryInput { stable: Some(rs("stable", 5, 5)), canary: Some(rs("canary", 5, 5)), ..aborted(10, &short) };
        assert_eq!(counts(&draining, &routing(50, 50)), (5, 9), "active abort drain is not affected by the cap");

        let promote_full =
            CanaryInput { promote_full: true, stable: Some(rs("stable", 10, 8)), canary: Some(rs("canary", 0, 0)), ..aborted(10, &steps) };
        assert_eq!(counts(&promote_full, &routing(0, 100)), (10, 10), "promote-full while aborted is not capped");

        let rollback = CanaryInput {
            current_pod_hash: "stable",
            stable: Some(rs("stable", 10, 8)),
            canary: Some(rs("stable", 0, 0)),
            ..aborted(10, &steps)
        };
        assert_eq!(counts(&rollback, &routing(0, 100)), (10, 10), "rollback onto the stable pod hash is not capped");

        let keep_up = [CanaryStep { set_weight: Some(100), set_canary_scale: Some(scale(Some(1), None, false)), ..CanaryStep::default() }];
        let first_reconcile = CanaryInput { stable: Some(rs("stable", 10, 10)), canary: Some(rs("canary", 0, 0)), ..aborted(10, &keep_up) };
        let routing = TrafficRoutedScaling { abort_scale_down_delay_seconds: Some(0), ..routing(0, 100) };
        assert_eq!(counts(&first_reconcile, &routing), (1, 10), "abortScaleDownDelaySeconds: 0 keeps setCanaryScale");
    }

    #[test]
    fn min_pods_per_replica_set_floors_non_zero_counts_only() {
        assert_eq!(check_min_pods_per_replica_set(0, 10, Some(3)), 0);
        assert_eq!(check_min_pods_per_replica_set(1, 10, Some(3)), 3);
        assert_eq!(check_min_pods_per_replica_set(5, 10, Some(3)), 5);
        assert_eq!(check_min_pods_per_replica_set(1, 2, Some(3)), 2, "capped at spec.replicas");
        assert_eq!(check_min_pods_per_replica_set(1, 10, None), 1);

        let steps = [set_weight(90)];
        let input = mid_update(10, Fenceposts::default(), &steps);
        let routing = TrafficRoutedScaling {
            dynamic_stable_scale: true,
            min_pods_per_replica_set: Some(2),
            weights: Some(ObservedWeights { canary: 90, stable: 10 }),
            ..routed()
        };
        assert_eq!(traffic_routed_canary(&input, &routing), ReplicaPlan { canary: 9, stable: 2, others: vec![] });
    }

    #[test]
    fn custom_max_traffic_weight_scales_the_canary() {
        let steps = [set_weight(250)];
        let input = mid_update(8, Fenceposts::default(), &steps);
        let routing = TrafficRoutedScaling { max_traffic_weight: 1000, dynamic_stable_scale: true, ..routed() };
        let plan = traffic_routed_canary(&input, &routing);
        assert_eq!((plan.canary, plan.stable), (2, 6));
        let promoted = CanaryInput { promote_full: true, ..input };
        assert_eq!(canary_replicas_or_weight(&promoted, Some(&routing)), CanaryTarget::Weight(1000));
    }

    // === maxSurge / maxUnavailable ===

    #[test]
    fn resolves_fenceposts_like_argo() {
        let resolve = |replicas: i32, surge: Option<IntOrPercent>, unavailable: Option<IntOrPercent>| {
            resolve_surge_unavailable(replicas, surge.as_ref(), unavailable.as_ref()).unwrap()
        };
        let fp = |max_surge, max_unavailable| Fenceposts { max_surge, max_unavailable };
        assert_eq!(resolve(10, None, None), fp(3, 2), "25% defaults: surge rounds up, unavailable down");
        assert_eq!(resolve(4, None, None), fp(1, 1));
        assert_eq!(resolve(1, None, None), fp(1, 0));
        assert_eq!(resolve(10, Some("0%".into()), Some("0%".into())), fp(0, 1), "both zero: unavailable 1");
        assert_eq!(resolve(3, Some(0.into()), Some("20%".into())), fp(0, 1), "rounds to zero: unavailable 1");
        assert_eq!(resolve(3, Some(1.into()), Some(5.into())), fp(1, 3), "unavailable capped at replicas");
        assert_eq!(resolve(0, Some(0.into()), Some(0.into())), fp(0, 0), "no replicas: nothing unavailable");
        assert_eq!(resolve(0, None, None), fp(0, 0));
        assert_eq!(resolve(200, Some("1".into()), Some("1".into())), fp(2, 2), "a bare string is a percentage");
        assert_eq!(resolve(10, Some(7.into()), Some(0.into())), fp(7, 0), "integers are taken as they are");
        assert!(resolve_surge_unavailable(10, Some(&"x%".into()), None).is_err());
        assert!(resolve_surge_unavailable(10, None, Some(&"1.5%".into())).is_err());
    }

    // === older ReplicaSets ===

    fn with_others(replicas: i32, fenceposts: Fenceposts, others: Vec<OtherReplicaSet>) -> CanaryInput<'static> {
        CanaryInput { canary: Some(rs("canary", 0, 0)), stable: Some(rs("stable", 0, 0)), others, ..mid_update(replicas, fenceposts, &[]) }
    }

    #[test]
    fn basic_canary_drains_older_replica_sets_within_max_unavailable() {
        // V1 (rev 1) was stable-ish, V2 (rev 2) an interrupted update; 10 pods available, 8 must stay.
        let mut input =
            with_others(10, fenceposts(10, 1, 2), vec![OtherReplicaSet::new("v1", 1, 6, 6), OtherReplicaSet::new("v2", 2, 4, 4)]);
        input.stable = Some(rs("stable", 0, 0));
        let plan = basic_canary(&input);
        assert_eq!(plan.others, vec![("v2".to_owned(), 2)], "newest first, two pods of budget");

        input.others[1].rs = rs("v2", 1, 1);
        input.others[0].rs = rs("v1", 9, 9);
        let plan = basic_canary(&input);
        assert_eq!(plan.others, vec![("v2".to_owned(), 0), ("v1".to_owned(), 8)], "the budget spans ReplicaSets");
    }

    #[test]
    fn older_replica_sets_with_pods_block_canary_and_stable_scale_down() {
        // Argo's "Scale up Stable before canaryRS": the older ReplicaSet keeps the stable from shrinking.
        let steps = [set_weight(30)];
        let mut input = mid_update(10, fenceposts(10, 1, 0), &steps);
        input.stable = Some(rs("stable", 10, 10));
        input.canary = Some(rs("canary", 0, 0));
        input.others = vec![OtherReplicaSet::new("older", 1, 1, 1)];
        let plan = basic_canary(&input);
        assert_eq!((plan.canary, plan.stable), (0, 10), "total already at replicas + maxSurge");
        assert_eq!(plan.others, vec![("older".to_owned(), 0)], "11 available, 10 must stay");
    }

    #[test]
    fn unhealthy_older_pods_are_removed_without_a_budget() {
        // 6 available in total with 9 required: nothing may be drained, but unavailable pods still go.
        let input = with_others(10, fenceposts(10, 0, 1), vec![OtherReplicaSet::new("v1", 1, 5, 3), OtherReplicaSet::new("v2", 2, 4, 3)]);
        let plan = basic_canary(&input);
        assert_eq!(plan.others, vec![("v2".to_owned(), 3), ("v1".to_owned(), 3)]);
    }

    #[test]
    fn an_older_replica_set_above_its_size_stops_the_cleanup() {
        // Argo's cleanup errors on a ReplicaSet with more available pods than it wants (it is mid scale-down) and
        // abandons the scale-down for this reconcile, keeping what it cleaned up before it (oldest first).
        let input = with_others(
            2,
            fenceposts(2, 0, 1),
            vec![OtherReplicaSet::new("v1", 1, 3, 2), OtherReplicaSet::new("v2", 2, 1, 4), OtherReplicaSet::new("v3", 3, 5, 1)],
        );
        assert_eq!(basic_canary(&input).others, vec![("v1".to_owned(), 2)]);
    }

    #[test]
    fn traffic_routing_drops_intermediate_replica_sets_whole_and_keeps_held_ones() {
        let mut held = OtherReplicaSet::new("previous-stable", 1, 4, 4);
        held.hold = true;
        let input = with_others(4, fenceposts(4, 1, 1), vec![held, OtherReplicaSet::new("intermediate", 2, 4, 4)]);
        let plan = traffic_routed_canary(&input, &routed());
        assert_eq!(plan.others, vec![("intermediate".to_owned(), 0)], "a router sends it no traffic");

        let plan = basic_canary(&input);
        assert_eq!(plan.others, vec![("intermediate".to_owned(), 0), ("previous-stable".to_owned(), 3)], "basic ignores hold");
    }

    #[test]
    fn no_budget_no_drain() {
        let input = with_others(10, fenceposts(10, 1, 1), vec![OtherReplicaSet::new("v1", 1, 9, 9)]);
        assert_eq!(basic_canary(&input).others, vec![], "9 available, 9 must stay");
        assert_eq!(traffic_routed_canary(&input, &routed()).others, vec![]);
    }

    // === properties ===

    /// An observed ReplicaSet: `available` never exceeds `spec_replicas` unless `overshoot` allows it.
    fn replica_set(name: &'static str, overshoot: i32) -> impl Strategy<Value = ReplicaSetCounts> {
        (0..=14i32, 0..=14i32).prop_map(move |(spec, available)| rs(name, spec, available.min(spec + overshoot)))
    }

    fn older_replica_sets(overshoot: i32) -> impl Strategy<Value = Vec<OtherReplicaSet>> {
        prop::collection::vec((replica_set("x", overshoot), 1..=4i64, any::<bool>()), 0..=3).prop_map(|sets| {
            sets.into_iter()
                .enumerate()
                .map(|(index, (counts, revision, hold))| OtherReplicaSet {
                    rs: ReplicaSetCounts { name: format!("older-{index}"), ..counts },
                    revision,
                    hold,
                })
                .collect()
        })
    }

    fn int_or_percent() -> impl Strategy<Value = IntOrPercent> {
        prop_oneof![(0..=4i32).prop_map(IntOrPercent::Int), (0..=60i32).prop_map(IntOrPercent::percent)]
    }

    /// Everything a plan depends on, owned so proptest can generate it.
    #[derive(Clone, Debug)]
    struct World {
        replicas: i32,
        fenceposts: Fenceposts,
        steps: Vec<CanaryStep>,
        current_step_index: Option<i32>,
        abort: bool,
        promote_full: bool,
        stable_hash: &'static str,
        canary: Option<ReplicaSetCounts>,
        stable: Option<ReplicaSetCounts>,
        others: Vec<OtherReplicaSet>,
        routing: TrafficRoutedScaling,
    }

    impl World {
        fn input(&self) -> CanaryInput<'_> {
            CanaryInput {
                replicas: self.replicas,
                fenceposts: self.fenceposts,
                steps: &self.steps,
                current_step_index: self.current_step_index,
                abort: self.abort,
                promote_full: self.promote_full,
                stable_hash: self.stable_hash,
                current_pod_hash: "canary",
                canary: self.canary.clone(),
                stable: self.stable.clone(),
                others: self.others.clone(),
            }
        }

        /// Planned sizes of the distinct ReplicaSets that exist, with their available pods.
        fn planned(&self, plan: &ReplicaPlan) -> Vec<(i32, i32)> {
            let input = self.input();
            let mut sizes = Vec::new();
            if let Some(canary) = &self.canary {
                sizes.push((plan.canary, canary.available));
            }
            if let Some(stable) = &self.stable
                && stable_exists_apart(&input)
            {
                sizes.push((plan.stable, stable.available));
            }
            for other in &self.others {
                let size = plan.others.iter().find(|(name, _)| *name == other.rs.name).map_or(other.rs.spec_replicas, |(_, size)| *size);
                sizes.push((size, other.rs.available));
            }
            sizes
        }

        fn current(&self) -> Vec<(i32, i32)> {
            let input = self.input();
            let mut sizes = Vec::new();
            sizes.extend(self.canary.iter().map(|rs| (rs.spec_replicas, rs.available)));
            if stable_exists_apart(&input) {
                sizes.extend(self.stable.iter().map(|rs| (rs.spec_replicas, rs.available)));
            }
            sizes.extend(self.others.iter().map(|other| (other.rs.spec_replicas, other.rs.available)));
            sizes
        }
    }

    fn world(overshoot: i32) -> impl Strategy<Value = World> {
        (
            (0..=12i32, int_or_percent(), int_or_percent()),
            (prop::collection::vec(0..=100i32, 1..=3), 0..=3i32, any::<bool>(), any::<bool>(), any::<bool>()),
            (prop::option::of(replica_set("canary", overshoot)), prop::option::of(replica_set("stable", overshoot))),
            older_replica_sets(overshoot),
            (any::<bool>(), prop::option::of(0..=2i32), prop::option::of(0..=100i32), prop::option::of(prop_oneof![Just(0), Just(30)])),
        )
            .prop_map(
                |(
                    (replicas, surge, unavailable),
                    (weights, index, abort, promote_full, has_stable_hash),
                    (canary, stable),
                    others,
                    routing,
                )| {
                    let (dynamic_stable_scale, min_pods_per_replica_set, canary_weight, abort_delay) = routing;
                    World {
                        replicas,
                        fenceposts: resolve_surge_unavailable(replicas, Some(&surge), Some(&unavailable)).unwrap(),
                        steps: weights.into_iter().map(set_weight).collect(),
                        current_step_index: Some(index),
                        abort,
                        promote_full,
                        stable_hash: if has_stable_hash { "stable" } else { "" },
                        canary,
                        stable,
                        others,
                        routing: TrafficRoutedScaling {
                            dynamic_stable_scale,
                            min_pods_per_replica_set,
                            abort_scale_down_delay_seconds: abort_delay,
                            weights: canary_weight.map(|canary| ObservedWeights { canary, stable: 100 - canary }),
                            ..routed()
                        },
                    }
                },
            )
    }

    impl World {
        /// Shrinks the ReplicaSets (older ones first) until they start within `replicas + maxSurge` pods.
        fn within_surge(mut self) -> Self {
            let mut room = (self.replicas + self.fenceposts.max_surge).max(0);
            let mut fit = |rs: &mut ReplicaSetCounts| {
                rs.spec_replicas = rs.spec_replicas.min(room);
                room -= rs.spec_replicas;
            };
            self.others.iter_mut().for_each(|other| fit(&mut other.rs));
            self.canary.iter_mut().for_each(&mut fit);
            // The generated stable is never named like the canary, so it always counts.
            self.stable.iter_mut().for_each(&mut fit);
            self
        }
    }

    proptest! {
        #[test]
        fn plans_never_go_negative(world in world(3)) {
            let input = world.input();
            for plan in [basic_canary(&input), traffic_routed_canary(&input, &world.routing)] {
                prop_assert!(plan.canary >= 0 && plan.stable >= 0, "{plan:?}");
                prop_assert!(plan.others.iter().all(|(_, size)| *size >= 0), "{plan:?}");
            }
        }

        #[test]
        fn basic_canary_never_surges_past_max_surge(world in world(3).prop_map(World::within_surge)) {
            let limit = world.replicas + world.fenceposts.max_surge;
            let before: i32 = world.current().iter().map(|(size, _)| size).sum();
            prop_assert!(before <= limit);
            let plan = basic_canary(&world.input());
            let after: i32 = world.planned(&plan).iter().map(|(size, _)| size).sum();
            prop_assert!(after <= limit, "{after} pods > {limit}: {plan:?}");
        }

        #[test]
        fn basic_canary_scale_downs_keep_min_available(world in world(0)) {
            // Unavailable pods go first when a ReplicaSet shrinks, so a ReplicaSet planned at `size` keeps
            // min(available, size) available pods.
            let min_available = world.replicas - world.fenceposts.max_unavailable;
            let before: i32 = world.current().iter().map(|(_, available)| available).sum();
            let plan = basic_canary(&world.input());
            let after: i32 = world.planned(&plan).iter().map(|(size, available)| (*available).min(*size)).sum();
            prop_assert!(after >= before.min(min_available), "{after} available < min({before}, {min_available}): {plan:?}");
        }

        #[test]
        fn plans_are_deterministic_and_ignore_the_order_of_older_replica_sets(world in world(3)) {
            let input = world.input();
            let mut reversed = world.input();
            reversed.others.reverse();
            prop_assert_eq!(basic_canary(&input), basic_canary(&input));
            prop_assert_eq!(basic_canary(&input), basic_canary(&reversed));
            prop_assert_eq!(traffic_routed_canary(&input, &world.routing), traffic_routed_canary(&input, &world.routing));
            prop_assert_eq!(traffic_routed_canary(&input, &world.routing), traffic_routed_canary(&reversed, &world.routing));
        }

        #[test]
        fn approximation_keeps_both_sides_for_partial_weights(replicas in 2..=200i32, weight in 1..=99i32, surge in 0..=3i32) {
            let (canary, stable) = approximate_weighted_counts(replicas, weight, 100, surge);
            let argo_fallback = surge == 0 && (replicas * weight + 99) / 100 == replicas && 2 * (replicas * weight % 100) == 100;
            prop_assert!(argo_fallback || (canary >= 1 && stable >= 1), "({canary}, {stable})");
            let total = canary + stable;
            prop_assert!(total == replicas || (surge > 0 && total == replicas + 1), "total {total}");
        }
    }
}

//! Traffic-routed canaries, planned against the toy cluster: weights in order and only onto available pods,
//! Service switching, scale-down delays, aborts that move traffic before pods, dynamicStableScale, header routes,
//! and invalid references.

mod support;

use std::time::Duration;

use serin_api::rollout::status::RolloutPhase;
use serin_planner::Action;
use support::{World, rollout};

fn routed(replicas: i32, steps: &str, extra: &str) -> World {
    let ro = rollout(&format!(
        r"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: 'web:1'}}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting:
        gatewayAPI: {{httpRoute: web}}
        managedRoutes: [{{name: beta}}]
{extra}      steps: {steps}
"
    ));
    let mut world = World::new(ro);
    world.with_gateway();
    world
}

/// Deploys revision 1 and switches to `web:2`.
fn start_update(world: &mut World) {
    world.converge();
    assert_eq!(world.phase().0, RolloutPhase::Healthy);
    world.traffic_log.clear();
    world.set_image("web:2");
}

fn route_weights(world: &World) -> Vec<String> {
    world.traffic_log.iter().filter(|l| l.starts_with("HTTPRoute/")).cloned().collect()
}

#[test]
fn initial_deploy_points_both_services_at_the_first_revision_and_leaves_weight_at_zero() {
    let mut world = routed(4, "[{setWeight: 20}, {pause: {}}]", "");
    world.converge();
    let hash = world.status().stable_rs.unwrap();
    assert_eq!(world.service_hash("web-stable").as_deref(), Some(hash.as_str()));
    assert_eq!(world.service_hash("web-canary").as_deref(), Some(hash.as_str()));
    assert_eq!(world.route_canary_weight(), 0);
    let weights = world.status().canary.unwrap().weights.unwrap();
    assert_eq!((weights.canary.weight, weights.stable.weight), (0, 100));
    // Idle: nothing more to write.
    assert_eq!(world.plan().actions, Vec::<Action>::new());
}

#[test]
fn weights_follow_the_steps_in_order_then_the_stable_switches_and_the_old_stable_waits_out_its_delay() {
    let mut world = routed(10, "[{setWeight: 5}, {setWeight: 25}, {setWeight: 50}, {setWeight: 100}]", "");
    start_update(&mut world);
    world.converge();
    let new_hash = world.status().current_pod_hash.unwrap();
    assert_eq!(world.status().stable_rs.as_deref(), Some(new_hash.as_str()));
    let weights: Vec<i32> = route_weights(&world)
        .iter()
        .map(|l| l.split('[').nth(1).unwrap().trim_end_matches(']').split(", ").nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(weights, vec![5, 25, 50, 100, 0], "log: {:#?}", world.traffic_log);
    // The stable Service switched to the new pods before the route went back to "all on stable".
    let switch = world.traffic_log.iter().position(|l| l == &format!("Service/web-stable: select {new_hash}")).unwrap();
    let last_weight = world.traffic_log.iter().rposition(|l| l.starts_with("HTTPRoute/")).unwrap();
    assert!(switch < last_weight, "{:#?}", world.traffic_log);
    // The old stable keeps its pods for scaleDownDelaySeconds (30 s) after the switch.
    let old = world.rss.iter().find(|rs| !rs.metadata.name.as_deref().unwrap().ends_with(&new_hash)).unwrap().clone();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(10), "held during the delay");
    assert!(world.traffic_log.iter().any(|l| l.contains("scale-down-deadline Some")));
    assert_eq!(world.last_plan.as_ref().unwrap().requeue_after.map(|d| d <= Duration::from_secs(30)), Some(true));
    world.advance(Duration::from_secs(31));
    world.converge();
    let old = world.rss.iter().find(|rs| rs.metadata.name == old.metadata.name).unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(world.phase().0, RolloutPhase::Healthy);
}

#[test]
fn the_canary_gets_its_weight_only_once_its_pods_are_available() {
    let mut world = routed(10, "[{setWeight: 20}, {setWeight: 60}]", "");
    start_update(&mut world);
    world.broken_images.insert("web:2".into());
    for _ in 0..5 {
        world.reconcile();
        world.settle();
    }
    assert_eq!(world.route_canary_weight(), 0, "no weight onto pods that are not available");
    world.broken_images.clear();
    world.converge();
    assert_eq!(world.status().stable_rs, world.status().current_pod_hash);
}

#[test]
fn abort_moves_traffic_to_stable_before_the_canary_shrinks_and_keeps_it_for_the_abort_delay() {
    let mut world = routed(4, "[{setWeight: 50}, {pause: {}}]", "");
    start_update(&mut world);
    world.converge();
    assert_eq!(world.route_canary_weight(), 50);
    let canary_hash = world.status().current_pod_hash.unwrap();
    assert_eq!(world.service_hash("web-canary").as_deref(), Some(canary_hash.as_str()));
    world.traffic_log.clear();
    world.patch_status(serde_json::json!({"abort": true}));
    let plan = world.reconcile();
    let weight_at = plan.actions.iter().position(|a| matches!(a, Action::WriteRouter(_))).expect("weight written");
    assert!(!plan.actions.iter().any(|a| matches!(a, Action::ScaleReplicaSet { to: 0, .. })), "no canary scale-down yet");
    assert!(weight_at < plan.actions.len());
    assert_eq!(world.route_canary_weight(), 0);
    world.settle();
    world.converge();
    let canary = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&canary_hash)).unwrap();
    assert_eq!(canary.spec.as_ref().unwrap().replicas, Some(2), "kept for abortScaleDownDelaySeconds");
    assert_ne!(world.service_hash("web-canary").as_deref(), Some(canary_hash.as_str()), "canary Service back on stable");
    world.advance(Duration::from_secs(31));
    world.converge();
    let canary = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&canary_hash)).unwrap();
    assert_eq!(canary.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(world.phase().0, RolloutPhase::Degraded);
}

#[test]
fn abort_scale_down_delay_zero_keeps_the_canary() {
    let mut world = routed(4, "[{setWeight: 50}, {pause: {}}]", "      abortScaleDownDelaySeconds: 0\n");
    start_update(&mut world);
    world.converge();
    world.patch_status(serde_json::json!({"abort": true}));
    world.converge();
    world.advance(Duration::from_secs(3600));
    world.converge();
    let hash = world.status().current_pod_hash.unwrap();
    let canary = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&hash)).unwrap();
    assert_eq!(canary.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(world.route_canary_weight(), 0);
}

#[test]
fn dynamic_stable_scale_keeps_capacity_for_the_traffic_each_side_carries() {
    let mut world = routed(10, "[{setWeight: 30}, {setWeight: 70}, {pause: {}}]", "      dynamicStableScale: true\n");
    start_update(&mut world);
    for _ in 0..40 {
        world.reconcile();
        // Before the cluster catches up: each side must have the pods for the weight the route gives it.
        let weight = world.route_canary_weight();
        let available = |hash_suffix: &str| -> i32 {
            world
                .rss
                .iter()
                .filter(|rs| rs.metadata.name.as_deref().unwrap().ends_with(hash_suffix))
                .map(|rs| rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0))
                .sum()
        };
        let canary_hash = world.status().current_pod_hash.unwrap();
        let stable_hash = world.status().stable_rs.unwrap();
        assert!(available(&canary_hash) * 100 >= weight * 10, "canary short for {weight}%");
        assert!(available(&stable_hash) * 100 >= (100 - weight) * 10, "stable short for {}%", 100 - weight);
        world.settle();
    }
    assert_eq!(world.route_canary_weight(), 70);
    let stable_hash = world.status().stable_rs.unwrap();
    let stable = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&stable_hash)).unwrap();
    assert_eq!(stable.spec.as_ref().unwrap().replicas, Some(3), "stable scaled down to its 30% share");
}

#[test]
fn set_canary_scale_decouples_pods_from_weight() {
    let mut world = routed(10, "[{setCanaryScale: {replicas: 3}}, {setWeight: 10}, {pause: {}}]", "");
    start_update(&mut world);
    world.converge();
    let hash = world.status().current_pod_hash.unwrap();
    let canary = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&hash)).unwrap();
    assert_eq!(canary.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(world.route_canary_weight(), 10);
    let stable_hash = world.status().stable_rs.unwrap();
    let stable = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&stable_hash)).unwrap();
    assert_eq!(stable.spec.as_ref().unwrap().replicas, Some(10), "stable stays full without dynamicStableScale");
}

#[test]
fn header_route_is_added_at_its_step_and_removed_on_promotion() {
    let mut world = routed(
        4,
        "[{setWeight: 10}, {setHeaderRoute: {name: beta, match: [{headerName: X-Beta, headerValue: {exact: 'yes'}}]}}, {pause: {}}]",
        "",
    );
    start_update(&mut world);
    world.converge();
    let rules = world.http_routes[0].spec.rules.clone().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1].name.as_deref(), Some("beta"));
    world.promote();
    world.converge();
    assert_eq!(world.http_routes[0].spec.rules.as_ref().unwrap().len(), 1, "managed route removed");
    assert_eq!(world.phase().0, RolloutPhase::Healthy);
}

#[test]
fn a_missing_route_or_service_is_invalid_spec_with_the_field_path_and_touches_nothing() {
    let mut world = routed(4, "[{setWeight: 10}]", "");
    world.http_routes.clear();
    let plan = world.reconcile();
    assert_eq!(plan.actions, Vec::<Action>::new());
    let (phase, message) = world.phase();
    assert_eq!(phase, RolloutPhase::Degraded);
    assert!(message.contains("spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute \"web\" not found"), "{message}");

    let mut world = routed(4, "[{setWeight: 10}]", "");
    world.services.retain(|s| s.metadata.name.as_deref() != Some("web-canary"));
    world.reconcile();
    assert!(world.phase().1.contains("spec.strategy.canary.canaryService: Service \"web-canary\" not found"), "{}", world.phase().1);
}

#[test]
fn a_weight_edited_by_someone_else_is_written_back_once() {
    let mut world = routed(4, "[{setWeight: 25}, {pause: {}}]", "");
    start_update(&mut world);
    world.converge();
    world.http_routes[0].spec.rules.as_mut().unwrap()[0].backend_refs.as_mut().unwrap()[1].weight = Some(90);
    world.traffic_log.clear();
    world.converge();
    assert_eq!(world.route_canary_weight(), 25);
    assert_eq!(route_weights(&world).len(), 1, "{:#?}", world.traffic_log);
}

#[test]
fn a_reference_missing_right_after_creation_is_retried_before_it_is_reported() {
    let mut world = routed(4, "[{setWeight: 10}]", "");
    world.services.retain(|s| s.metadata.name.as_deref() != Some("web-stable"));
    world.rollout.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(world.now));
    let plan = world.reconcile();
    assert_eq!(plan.actions, Vec::<Action>::new());
    assert!(plan.events.is_empty(), "no InvalidSpec warning yet: {:?}", plan.events);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(1)));
    assert!(world.rollout.status.is_none(), "nothing written during the grace");
    world.advance(Duration::from_secs(6));
    world.reconcile();
    assert!(world.phase().1.contains("spec.strategy.canary.stableService: Service \"web-stable\" not found"), "{}", world.phase().1);
}

/// Pods of the ReplicaSet whose hash `service` selects that are available.
fn available_behind(world: &World, service: &str) -> i32 {
    let Some(hash) = world.service_hash(service) else { return 0 };
    world
        .rss
        .iter()
        .filter(|rs| rs.metadata.name.as_deref().is_some_and(|n| n.ends_with(&hash)))
        .map(|rs| rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0))
        .sum()
}

#[test]
fn writes_cut_short_at_any_point_never_send_traffic_to_missing_pods_and_still_converge() {
    for seed in 1..=40u64 {
        for dynamic in [false, true] {
            let extra = if dynamic { "      dynamicStableScale: true\n" } else { "" };
            let mut world = routed(10, "[{setWeight: 10}, {setWeight: 40}, {pause: {duration: 5}}, {setWeight: 70}]", extra);
            start_update(&mut world);
            let mut state = seed;
            let mut rounds = 0;
            loop {
                rounds += 1;
                assert!(rounds < 400, "seed {seed}: no convergence; status {:#?}", world.status());
                // A cheap deterministic sequence: most reconciles complete, some stop after a random action.
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let plan_len = world.plan().actions.len();
                let cut = if (state >> 60) < 5 { usize::try_from((state >> 33) % (plan_len as u64 + 1)).unwrap() } else { plan_len };
                world.reconcile_partial(cut);
                world.settle();
                let weight = world.route_canary_weight();
                let need = |w: i32| (10 * w + 99) / 100;
                assert!(available_behind(&world, "web-canary") >= need(weight), "seed {seed}: canary pods short for {weight}%");
                assert!(
                    available_behind(&world, "web-stable") >= need(100 - weight),
                    "seed {seed}: stable pods short for {}%",
                    100 - weight
                );
                world.advance(Duration::from_secs(1));
                let status = world.status();
                if status.stable_rs == status.current_pod_hash
                    && world.phase().0 == RolloutPhase::Healthy
                    && world.plan().actions.is_empty()
                {
                    break;
                }
            }
            assert_eq!(world.route_canary_weight(), 0);
            assert_eq!(world.service_hash("web-stable"), world.status().stable_rs);
        }
    }
}

#[test]
fn mirror_and_header_routes_are_removed_on_abort() {
    let mut world = routed(
        4,
        "[{setWeight: 10}, {setHeaderRoute: {name: beta, match: [{headerName: X-Beta, headerValue: {prefix: 'v'}}]}}, {setMirrorRoute: {name: shadow, percentage: 20, match: [{path: {prefix: /api}}]}}, {pause: {}}]",
        "",
    );
    world.rollout.spec.strategy.as_mut().unwrap().canary.as_mut().unwrap().traffic_routing.as_mut().unwrap().managed_routes =
        serde_json::from_value(serde_json::json!([{"name": "shadow"}, {"name": "beta"}])).unwrap();
    start_update(&mut world);
    world.converge();
    let names: Vec<Option<String>> = world.http_routes[0].spec.rules.iter().flatten().map(|r| r.name.clone()).collect();
    assert_eq!(names, vec![None, Some("shadow".into()), Some("beta".into())], "managedRoutes order");
    world.patch_status(serde_json::json!({"abort": true}));
    world.converge();
    assert_eq!(world.http_routes[0].spec.rules.as_ref().unwrap().len(), 1, "managed routes removed on abort");
    assert_eq!(world.route_canary_weight(), 0);
}

#[test]
fn services_follow_a_basic_canary_without_a_router() {
    let ro = rollout(
        r"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: 'web:1'}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      steps: [{setWeight: 50}, {pause: {}}]
",
    );
    let mut world = World::new(ro);
    world.with_gateway();
    world.http_routes.clear();
    start_update(&mut world);
    world.converge();
    let (canary, stable) = (world.status().current_pod_hash.unwrap(), world.status().stable_rs.unwrap());
    assert_eq!(world.service_hash("web-canary"), Some(canary.clone()));
    assert_eq!(world.service_hash("web-stable"), Some(stable));
    assert!(world.status().canary.unwrap().weights.is_none(), "no router, no weights");
    world.promote();
    world.converge();
    assert_eq!(world.service_hash("web-stable"), Some(canary));
    // Without a router the old pods go as soon as the new ones are stable (no scale-down delay).
    assert!(world.rss.iter().filter(|rs| rs.spec.as_ref().unwrap().replicas != Some(0)).count() == 1);
}

#[test]
fn after_promotion_the_route_goes_back_to_stable_only_once_the_stable_side_has_the_pods() {
    for dynamic in [false, true] {
        let extra = if dynamic { "      dynamicStableScale: true\n" } else { "" };
        let mut world = routed(4, "[{setWeight: 50}, {pause: {duration: 5}}]", extra);
        start_update(&mut world);
        let new_hash = loop {
            world.reconcile();
            world.settle();
            world.advance(Duration::from_secs(1));
            let status = world.status();
            if status.stable_rs == status.current_pod_hash {
                break status.stable_rs.unwrap();
            }
        };
        // The new pods stop being available right after the promotion.
        world.broken_images.insert("web:2".into());
        for _ in 0..10 {
            world.reconcile();
            world.settle();
            let weight = world.route_canary_weight();
            let stable_pods = available_behind(&world, "web-stable");
            // Once the stable Service is on the new pods, their breaking is the new version's, not the routing's.
            if world.service_hash("web-stable").as_deref() != Some(new_hash.as_str()) {
                assert!(weight > 0 || stable_pods >= 4, "dynamic={dynamic}: route all on the old stable, which has {stable_pods} pods");
            }
        }
        world.broken_images.clear();
        world.converge();
        assert_eq!(world.service_hash("web-stable").as_deref(), Some(new_hash.as_str()));
        assert_eq!(world.route_canary_weight(), 0);
    }
}

#[test]
fn rolling_back_to_stable_with_dynamic_stable_scale_keeps_the_canary_until_its_traffic_has_moved() {
    let mut world = routed(10, "[{setWeight: 70}, {pause: {}}]", "      dynamicStableScale: true\n");
    start_update(&mut world);
    world.converge();
    assert_eq!(world.route_canary_weight(), 70);
    let canary_hash = world.status().current_pod_hash.unwrap();
    // Back to the stable template while 70% of the traffic is on the canary.
    world.set_image("web:1");
    for _ in 0..60 {
        world.reconcile();
        let weight = world.route_canary_weight();
        let canary_pods = available_behind(&world, "web-canary");
        let stable_pods = available_behind(&world, "web-stable");
        assert!(canary_pods * 100 >= weight * 10, "canary Service has {canary_pods} pods for {weight}%");
        assert!(stable_pods * 100 >= (100 - weight) * 10, "stable Service has {stable_pods} pods for {}%", 100 - weight);
        world.settle();
        world.advance(Duration::from_secs(1));
    }
    assert_eq!(world.route_canary_weight(), 0);
    let canary = world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&canary_hash)).unwrap();
    assert_eq!(canary.spec.as_ref().unwrap().replicas, Some(0), "drained once its traffic moved back");
}

#[test]
fn an_explicit_abort_delay_holds_the_canary_with_dynamic_stable_scale_too() {
    let mut world = routed(4, "[{setWeight: 50}, {pause: {}}]", "      dynamicStableScale: true\n      abortScaleDownDelaySeconds: 60\n");
    start_update(&mut world);
    world.converge();
    let hash = world.status().current_pod_hash.unwrap();
    world.patch_status(serde_json::json!({"abort": true}));
    for _ in 0..10 {
        world.reconcile();
        world.settle();
        world.advance(Duration::from_secs(1));
    }
    assert_eq!(world.route_canary_weight(), 0);
    let size = |world: &World| {
        world.rss.iter().find(|rs| rs.metadata.name.as_deref().unwrap().ends_with(&hash)).unwrap().spec.as_ref().unwrap().replicas
    };
    assert_eq!(size(&world), Some(2), "kept for the explicit delay");
    world.advance(Duration::from_secs(61));
    world.converge();
    assert_eq!(size(&world), Some(0));
}

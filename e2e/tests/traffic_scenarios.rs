//! Traffic-routing scenarios: the controller against the cluster (kube-sim with the router CRDs, or a real cluster
//! with them installed), one per router, plus the ordering guarantees: weights written in step order, the stable
//! Service switched at the end, the old stable scaled down only after its delay, an abort that returns traffic to
//! stable before the canary shrinks, dynamicStableScale keeping capacity, and invalid references.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::Mutex;
use serde_json::Value;
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::harness::{eventually, wait_timeout};
use serin_e2e::scenario::{IMAGE_V1, IMAGE_V2, Scenario};

const SERVICES: &str = r"apiVersion: v1
kind: Service
metadata: {name: web-stable}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary}
spec: {selector: {app: web}, ports: [{port: 80}]}
";

/// A router under test: its objects, its Rollout configuration, and how to read the canary weight it carries.
struct Router {
    name: &'static str,
    objects: &'static str,
    config: &'static str,
    resource: ApiResource,
    object: &'static str,
    weight: fn(&Value) -> Option<i64>,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() { version.into() } else { format!("{group}/{version}") },
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn gateway() -> Router {
    Router {
        name: "gateway",
        objects: r"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gateway}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: web-stable, port: 80, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
",
        config: "        gatewayAPI: {httpRoute: web}\n",
        resource: resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
        object: "web",
        weight: |o| o.pointer("/spec/rules/0/backendRefs")?.as_array()?.iter().find(|b| b["name"] == "web-canary")?.get("weight")?.as_i64(),
    }
}

fn istio() -> Router {
    Router {
        name: "istio",
        objects: r"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example]
  http:
  - name: primary
    route:
    - {destination: {host: web-stable}, weight: 100}
    - {destination: {host: web-canary}, weight: 0}
",
        config: "        istio: {virtualService: {name: web, routes: [primary]}}\n",
        resource: resource("networking.istio.io", "v1", "VirtualService", "virtualservices"),
        object: "web",
        weight: |o| {
            o.pointer("/spec/http/0/route")?.as_array()?.iter().find(|r| r["destination"]["host"] == "web-canary")?.get("weight")?.as_i64()
        },
    }
}

fn nginx() -> Router {
    Router {
        name: "nginx",
        objects: r"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web-ingress}
spec:
  ingressClassName: nginx
  rules:
  - host: web.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}
",
        config: "        nginx: {stableIngress: web-ingress}\n",
        resource: resource("networking.k8s.io", "v1", "Ingress", "ingresses"),
        object: "web-web-ingress-canary",
        weight: |o| o.pointer("/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight")?.as_str()?.parse().ok(),
    }
}

fn traefik() -> Router {
    Router {
        name: "traefik",
        objects: r"apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: web}
spec:
  weighted:
    services:
    - {name: web-stable, port: 80, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
",
        config: "        traefik: {weightedTraefikServiceName: web}\n",
        resource: resource("traefik.io", "v1alpha1", "TraefikService", "traefikservices"),
        object: "web",
        weight: |o| o.pointer("/spec/weighted/services")?.as_array()?.iter().find(|s| s["name"] == "web-canary")?.get("weight")?.as_i64(),
    }
}

/// A routed canary Rollout `web` with `replicas` pods, `steps`, the router's `trafficRouting` lines and extra canary
/// lines (each indented six spaces, newline-terminated).
fn rollout(replicas: i32, steps: &str, routing: &str, canary_extra: &str) -> String {
    format!(
        r"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: {replicas}
  revisionHistoryLimit: 3
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {IMAGE_V1}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
{canary_extra}      trafficRouting:
{routing}      steps: {steps}
"
    )
}

/// Values seen by a watch, with when they were seen (consecutive duplicates dropped).
type Seen<T> = Arc<Mutex<Vec<(Instant, T)>>>;

/// Watches object `name` of `resource` and records `extract` of every version.
fn record<T: PartialEq + Send + 'static>(
    s: &Scenario,
    resource: &ApiResource,
    name: &str,
    extract: impl Fn(&Value) -> Option<T> + Send + 'static,
) -> (Seen<T>, tokio::task::JoinHandle<()>) {
    let api: Api<DynamicObject> = Api::namespaced_with(s.cluster.client.clone(), &s.cluster.namespace, resource);
    let seen: Seen<T> = Arc::default();
    let out = seen.clone();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
        while let Some(Ok(obj)) = stream.next().await {
            let Ok(value) = serde_json::to_value(&obj) else { continue };
            if let Some(v) = extract(&value) {
                let mut seen = out.lock();
                if seen.last().is_none_or(|(_, last)| *last != v) {
                    seen.push((Instant::now(), v));
                }
            }
        }
    });
    (seen, task)
}

fn values<T: Clone>(seen: &Seen<T>) -> Vec<T> {
    seen.lock().iter().map(|(_, v)| v.clone()).collect()
}

async fn service_hash(s: &Scenario, name: &str) -> Result<Option<String>> {
    let svc = s.cluster.api::<Service>().get(name).await?;
    Ok(svc.spec.and_then(|sp| sp.selector).and_then(|sel| sel.get("rollouts-pod-template-hash").cloned()))
}

async fn rs_of(s: &Scenario, hash: &str) -> Result<ReplicaSet> {
    Ok(s.cluster.api::<ReplicaSet>().get(&format!("web-{hash}")).await?)
}

/// Deploys, updates through 5 -> 25 -> 50 -> 100 and checks the order of weights, the stable switch and the
/// delayed scale-down of the old stable.
async fn weights_in_order(router: Router) -> Result<()> {
    let s = Scenario::start_routed(&format!("routed-{}", router.name)).await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(router.objects, &[])?;
    s.apply(&rollout(
        10,
        "[{setWeight: 5}, {setWeight: 25}, {setWeight: 50}, {setWeight: 100}]",
        router.config,
        "      scaleDownDelaySeconds: 5\n",
    ))?;
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    let old_hash = ro.status.unwrap().stable_rs.unwrap();
    eventually("both Services on the first revision", wait_timeout(), || async {
        Ok((service_hash(&s, "web-stable").await?.as_deref() == Some(old_hash.as_str())
            && service_hash(&s, "web-canary").await?.as_deref() == Some(old_hash.as_str()))
        .then_some(()))
    })
    .await?;

    let (weights, watch) = record(&s, &router.resource, router.object, router.weight);
    s.set_image("web", IMAGE_V2).await?;
    let ro = s
        .wait_for("web", "promoted to the new revision", |ro| {
            ro.status.as_ref().is_some_and(|st| st.stable_rs == st.current_pod_hash && st.stable_rs.as_deref() != Some(old_hash.as_str()))
        })
        .await?;
    let new_hash = ro.status.unwrap().stable_rs.unwrap();
    eventually("stable Service switched and the route back to 0", wait_timeout(), || async {
        let switched = service_hash(&s, "web-stable").await?.as_deref() == Some(new_hash.as_str());
        Ok((switched && values(&weights).last() == Some(&0)).then_some(()))
    })
    .await?;
    // The old stable is still up after the switch: once no Service selects it, it gets a scale-down deadline
    // (scaleDownDelaySeconds: 5) and keeps its pods until then...
    let old = eventually("scale-down deadline on the old stable", wait_timeout(), || async {
        let old = rs_of(&s, &old_hash).await?;
        Ok(old.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("scale-down-deadline")).then_some(old))
    })
    .await?;
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(10), "old stable kept during its scale-down delay");
    // ...and scaled down once the delay is over.
    eventually("old stable scaled down", wait_timeout(), || async {
        Ok((rs_of(&s, &old_hash).await?.spec.unwrap().replicas == Some(0)).then_some(()))
    })
    .await?;
    let seen = values(&weights);
    let from = seen.iter().position(|w| *w == 5).unwrap_or(0);
    assert_eq!(seen[from..], [5, 25, 50, 100, 0], "weights as written: {seen:?}");
    let status = s.rollout("web").await?.status.unwrap();
    let applied = status.canary.unwrap().weights.unwrap();
    assert_eq!((applied.canary.weight, applied.stable.weight), (0, 100));
    assert_eq!(applied.stable.pod_template_hash.as_deref(), Some(new_hash.as_str()));
    watch.abort();
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_weights_in_order_then_switch_then_delayed_scale_down() -> Result<()> {
    Box::pin(weights_in_order(gateway())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_weights_in_order_then_switch_then_delayed_scale_down() -> Result<()> {
    Box::pin(weights_in_order(istio())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_weights_in_order_then_switch_then_delayed_scale_down() -> Result<()> {
    Box::pin(weights_in_order(nginx())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_weights_in_order_then_switch_then_delayed_scale_down() -> Result<()> {
    Box::pin(weights_in_order(traefik())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_returns_traffic_to_stable_before_the_canary_shrinks() -> Result<()> {
    let router = gateway();
    let s = Scenario::start_routed("routed-abort").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(router.objects, &[])?;
    s.apply(&rollout(4, "[{setWeight: 50}, {pause: {}}]", router.config, "      abortScaleDownDelaySeconds: 2\n"))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let canary_hash = ro.status.unwrap().current_pod_hash.unwrap();
    let (weights, watch_route) = record(&s, &router.resource, router.object, router.weight);
    let rs = resource("apps", "v1", "ReplicaSet", "replicasets");
    let (sizes, watch_rs) = record(&s, &rs, &format!("web-{canary_hash}"), |o| o.pointer("/spec/replicas").and_then(Value::as_i64));
    eventually("route at 50", wait_timeout(), || async { Ok((values(&weights).last() == Some(&50)).then_some(())) }).await?;
    assert_eq!(service_hash(&s, "web-canary").await?.as_deref(), Some(canary_hash.as_str()));

    s.patch_status("web", serde_json::json!({"abort": true})).await?;
    s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted").await?;
    eventually("canary scaled down after the abort delay", wait_timeout(), || async {
        Ok((values(&sizes).last() == Some(&0)).then_some(()))
    })
    .await?;
    let route_at_zero = weights.lock().iter().find(|(_, w)| *w == 0).map(|(t, _)| *t).expect("route went back to 0");
    let shrunk = sizes.lock().iter().find(|(_, n)| *n < 2).map(|(t, _)| *t).expect("canary shrank");
    assert!(route_at_zero < shrunk, "traffic left the canary before its pods did");
    assert!(shrunk.duration_since(route_at_zero) >= Duration::from_secs(1), "abortScaleDownDelaySeconds was honoured");
    assert_ne!(service_hash(&s, "web-canary").await?.as_deref(), Some(canary_hash.as_str()), "canary Service back on stable");
    watch_route.abort();
    watch_rs.abort();
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_stable_scale_keeps_capacity_for_each_side_of_the_split() -> Result<()> {
    let router = gateway();
    let s = Scenario::start_routed("routed-dynamic").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(router.objects, &[])?;
    s.apply(&rollout(4, "[{setWeight: 25}, {setWeight: 75}, {pause: {}}]", router.config, "      dynamicStableScale: true\n"))?;
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    let stable_hash = ro.status.unwrap().stable_rs.unwrap();
    s.set_image("web", IMAGE_V2).await?;
    let routes: Api<DynamicObject> = Api::namespaced_with(s.cluster.client.clone(), &s.cluster.namespace, &router.resource);
    let rss = s.cluster.api::<ReplicaSet>();
    let deadline = Instant::now() + wait_timeout();
    let mut samples = 0;
    loop {
        let before = (router.weight)(&serde_json::to_value(routes.get("web").await?)?).unwrap_or(0);
        let list = rss.list(&kube::api::ListParams::default()).await?;
        let after = (router.weight)(&serde_json::to_value(routes.get("web").await?)?).unwrap_or(0);
        let available = |stable: bool| -> i64 {
            list.items
                .iter()
                .filter(|rs| (rs.metadata.name.as_deref() == Some(format!("web-{stable_hash}").as_str())) == stable)
                .map(|rs| i64::from(rs.status.as_ref().and_then(|st| st.available_replicas).unwrap_or(0)))
                .sum()
        };
        if before == after {
            samples += 1;
            assert!(available(false) * 100 >= before * 4, "canary short of pods for {before}%");
            assert!(available(true) * 100 >= (100 - before) * 4, "stable short of pods for {}%", 100 - before);
        }
        let ro = s.rollout("web").await?;
        if ro.status.as_ref().is_some_and(|st| st.phase == Some(RolloutPhase::Paused)) && before == 75 {
            break;
        }
        assert!(Instant::now() < deadline, "did not reach the 75% pause");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(samples > 5, "too few consistent samples: {samples}");
    eventually("stable scaled down to its 25% share", wait_timeout(), || async {
        Ok((rs_of(&s, &stable_hash).await?.spec.unwrap().replicas == Some(1)).then_some(()))
    })
    .await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_route_is_invalid_spec_with_the_field_path_and_recovers_when_created() -> Result<()> {
    let router = gateway();
    let s = Scenario::start_routed("routed-invalid").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.apply(&rollout(2, "[{setWeight: 50}, {pause: {}}]", router.config, ""))?;
    let ro = s.wait_phase("web", RolloutPhase::Degraded, "InvalidSpec").await?;
    let message = ro.status.unwrap().message.unwrap();
    assert!(message.contains("spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute: HTTPRoute \"web\" not found"), "{message}");
    assert_eq!(s.replica_sets().await?, Vec::<(String, i32)>::new(), "nothing created while invalid");
    // Creating the route triggers the Rollout at once.
    s.cluster.apply_yaml(router.objects, &[])?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_released_when_the_rollout_is_deleted() -> Result<()> {
    let router = gateway();
    let s = Scenario::start_routed("routed-release").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(router.objects, &[])?;
    s.apply(&rollout(2, "[{setWeight: 50}]", router.config, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    eventually("stable Service selects the stable pods", wait_timeout(), || async {
        Ok(service_hash(&s, "web-stable").await?.map(|_| ()))
    })
    .await?;
    s.cluster.kubectl_ok(&["delete", "rollout", "web", "--wait=false"])?;
    eventually("Services released", wait_timeout(), || async {
        let stable = s.cluster.api::<Service>().get("web-stable").await?;
        let marked = stable.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("argo-rollouts.argoproj.io/managed-by-rollouts"));
        Ok((service_hash(&s, "web-stable").await?.is_none() && service_hash(&s, "web-canary").await?.is_none() && !marked).then_some(()))
    })
    .await?;
    s.finish().await;
    Ok(())
}

/// Needs the `prometheus` binary (`apt-get install prometheus`; CI installs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_route_sends_only_matching_requests_to_the_canary_as_prometheus_sees_it() -> Result<()> {
    use serin_e2e::prometheus::PrometheusServer;
    use serin_e2e::traffic::{Router as Via, Target, TrafficConfig, TrafficSimulator};

    let router = gateway();
    let s = Scenario::start_routed("routed-header").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(router.objects, &[])?;
    let steps =
        "[{setWeight: 10}, {setHeaderRoute: {name: beta, match: [{headerName: X-Beta, headerValue: {exact: 'yes'}}]}}, {pause: {}}]";
    let routing = "        gatewayAPI: {httpRoute: web}\n        managedRoutes: [{name: beta}]\n";
    s.apply(&rollout(4, steps, routing, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    let ro = s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let status = ro.status.unwrap();
    let (canary, stable) = (status.current_pod_hash.unwrap(), status.stable_rs.unwrap());
    let routes: Api<DynamicObject> = Api::namespaced_with(s.cluster.client.clone(), &s.cluster.namespace, &router.resource);
    let route = serde_json::to_value(routes.get("web").await?)?;
    assert_eq!(route.pointer("/spec/rules/1/name"), Some(&Value::from("beta")), "header rule added: {route}");

    // 30% of the requests carry the header; Prometheus scrapes what the data plane would do with them.
    let target = Target::new(&s.cluster.namespace, "web", "app=web").via(Via::HttpRoute { name: "web".into() });
    let traffic =
        TrafficSimulator::start_with(s.cluster.client.clone(), vec![target], TrafficConfig::new(300).seed(7).header("X-Beta", "yes", 0.3))
            .await?;
    let prometheus = PrometheusServer::start(&[traffic.addr()]).await?;
    prometheus.wait_for_targets_up().await?;
    let by_version = |metric: &'static str| {
        let prometheus = &prometheus;
        async move {
            let mut out = std::collections::BTreeMap::new();
            for (labels, v) in prometheus.query(&format!("sum by (rollouts_pod_template_hash) ({metric})")).await? {
                out.insert(labels.get("rollouts_pod_template_hash").cloned().unwrap_or_default(), v);
            }
            anyhow::Ok(out)
        }
    };
    let (all, header) = eventually("enough requests scraped", wait_timeout(), || async {
        let all = by_version("http_requests_total").await?;
        let header = by_version("http_header_requests_total").await?;
        let total: f64 = all.values().sum();
        Ok((total >= 3000.0).then_some((all, header)))
    })
    .await?;
    let get = |m: &std::collections::BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    // Every request with the header reached the canary...
    assert!(get(&header, &canary) > 500.0, "header requests: {header:?}");
    assert!(get(&header, &stable) < 0.5, "no header request reached stable: {header:?}");
    // ...and the others were split 90/10 by weight.
    let plain_canary = get(&all, &canary) - get(&header, &canary);
    let plain_stable = get(&all, &stable) - get(&header, &stable);
    let share = plain_canary / (plain_canary + plain_stable);
    assert!((share - 0.10).abs() < 0.04, "canary share of plain requests {share:.3} (all {all:?}, header {header:?})");

    // Promotion removes the managed rule.
    s.promote("web").await?;
    s.wait_for("web", "promoted", |ro| ro.status.as_ref().is_some_and(|st| st.stable_rs.as_deref() == Some(canary.as_str()))).await?;
    eventually("header rule removed", wait_timeout(), || async {
        let route = serde_json::to_value(routes.get("web").await?)?;
        Ok((route.pointer("/spec/rules").and_then(Value::as_array).map(Vec::len) == Some(1)).then_some(()))
    })
    .await?;
    prometheus.stop().await;
    drop(traffic);
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_the_rollout_stops_naming_is_released() -> Result<()> {
    let s = Scenario::start_routed("routed-drop-service").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    // A basic canary (no router) that names only a stable Service.
    let manifest = serin_e2e::scenario::rollout_manifest(2, "[{setWeight: 50}]", "")
        .replace("    canary:\n", "    canary:\n      stableService: web-stable\n");
    s.apply(&manifest)?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    eventually("stable Service selects the stable pods", wait_timeout(), || async {
        Ok(service_hash(&s, "web-stable").await?.map(|_| ()))
    })
    .await?;
    s.patch_spec("web", serde_json::json!({"strategy": {"canary": {"stableService": null}}})).await?;
    eventually("Service released", wait_timeout(), || async { Ok(service_hash(&s, "web-stable").await?.is_none().then_some(())) }).await?;
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_edited_by_hand_is_rendered_back_once() -> Result<()> {
    let router = gateway();
    let s = Scenario::start_routed("routed-edited").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(router.objects, &[])?;
    s.apply(&rollout(4, "[{setWeight: 25}, {pause: {}}]", router.config, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let routes: Api<DynamicObject> = Api::namespaced_with(s.cluster.client.clone(), &s.cluster.namespace, &router.resource);
    let weight = || async { anyhow::Ok((router.weight)(&serde_json::to_value(routes.get("web").await?)?)) };
    eventually("route at 25", wait_timeout(), || async { Ok((weight().await? == Some(25)).then_some(())) }).await?;
    let patches_before = match s.cluster.sim() {
        Some(sim) => Some(sim.count("patch", "httproutes").await?),
        None => None,
    };
    // Someone sets the canary to 90% by hand.
    s.cluster.kubectl_ok(&[
        "patch",
        "httproute",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":90}]"#,
    ])?;
    eventually("weight rendered back", wait_timeout(), || async { Ok((weight().await? == Some(25)).then_some(())) }).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(weight().await?, Some(25));
    if let (Some(sim), Some(before)) = (s.cluster.sim(), patches_before) {
        // One patch by kubectl, one by the controller: no tug of war.
        let patches = sim.count("patch", "httproutes").await? - before;
        assert_eq!(patches, 2, "patches to the HTTPRoute after the edit");
    }
    s.finish().await;
    Ok(())
}

/// The http routes of VirtualService `web`: `(name, mirrorPercentage, [(host, weight)])`.
async fn istio_routes(s: &Scenario) -> Result<Vec<(String, Option<f64>, Vec<(String, i64)>)>> {
    let api: Api<DynamicObject> = Api::namespaced_with(s.cluster.client.clone(), &s.cluster.namespace, &istio().resource);
    let vs = serde_json::to_value(api.get("web").await?)?;
    let routes = vs.pointer("/spec/http").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(routes
        .iter()
        .map(|r| {
            let destinations = r["route"].as_array().map_or_else(Vec::new, |ds| {
                ds.iter()
                    .map(|d| (d["destination"]["host"].as_str().unwrap_or_default().to_owned(), d["weight"].as_i64().unwrap_or(0)))
                    .collect()
            });
            (r["name"].as_str().unwrap_or_default().to_owned(), r.pointer("/mirrorPercentage/value").and_then(Value::as_f64), destinations)
        })
        .collect())
}

/// Argo's `TestIstioHostMirrorRoute` (fixture `mirror-route/istio-mirror-host.yaml`): two mirror routes go on top
/// of the VirtualService, both carrying the weighed split; when `mirror-route-1` leaves with its step the survivor
/// stays on top, above the catch-all `primary` (it was left below it, where Istio never reaches it); promote-full
/// removes them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_mirror_routes_stay_above_the_primary_route_as_they_come_and_go() -> Result<()> {
    let s = Scenario::start_routed("istio-mirror-routes").await?;
    s.cluster.apply_yaml(SERVICES, &[])?;
    s.cluster.apply_yaml(istio().objects, &[])?;
    let routing = "        managedRoutes: [{name: mirror-route-1}, {name: mirror-route-2}]\n        istio: {virtualService: {name: web, routes: [primary]}}\n";
    let steps = "[{setWeight: 20}, \
        {setMirrorRoute: {name: mirror-route-1, percentage: 100, match: [{path: {prefix: /}}]}}, \
        {setMirrorRoute: {name: mirror-route-2, percentage: 80, match: [{path: {prefix: /}, method: {exact: GET}}]}}, \
        {pause: {}}, \
        {setMirrorRoute: {name: mirror-route-1, percentage: 100, match: [{path: {prefix: /rewrite}}]}}, \
        {pause: {}}, {setWeight: 40}, {setMirrorRoute: {name: mirror-route-1}}, {pause: {}}]";
    s.apply(&rollout(5, steps, routing, ""))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    assert_eq!(istio_routes(&s).await?[0].0, "primary");

    let split = |stable: i64, canary: i64| vec![("web-stable".to_owned(), stable), ("web-canary".to_owned(), canary)];
    s.set_image("web", IMAGE_V2).await?;
    s.wait_for("web", "paused at step 3", |ro| ro.status.as_ref().and_then(|st| st.current_step_index) == Some(3)).await?;
    let routes = istio_routes(&s).await?;
    let names: Vec<&str> = routes.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["mirror-route-1", "mirror-route-2", "primary"], "{routes:?}");
    assert_eq!((routes[0].1, routes[1].1), (Some(100.0), Some(80.0)));
    assert!(routes.iter().all(|r| r.2 == split(80, 20)), "every route carries the split: {routes:?}");

    s.promote("web").await?;
    s.wait_for("web", "paused at step 5", |ro| ro.status.as_ref().and_then(|st| st.current_step_index) == Some(5)).await?;
    s.promote("web").await?;
    s.wait_for("web", "paused at step 8", |ro| ro.status.as_ref().and_then(|st| st.current_step_index) == Some(8)).await?;
    let routes = eventually("mirror-route-1 removed", wait_timeout(), || async {
        let routes = istio_routes(&s).await?;
        Ok((routes.len() == 2 && routes.iter().all(|r| r.2 == split(60, 40))).then_some(routes))
    })
    .await?;
    let names: Vec<&str> = routes.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["mirror-route-2", "primary"], "the surviving managed route stays above the catch-all route");

    s.patch_status("web", serde_json::json!({"promoteFull": true})).await?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    eventually("managed routes removed and all traffic on stable", wait_timeout(), || async {
        let routes = istio_routes(&s).await?;
        Ok((routes.len() == 1 && routes[0].2 == split(100, 0)).then_some(()))
    })
    .await?;
    s.finish().await;
    Ok(())
}

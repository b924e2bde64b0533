//! The traffic simulator through router objects on the cluster (kube-sim, or a real one with `make e2e-real` when the
//! router CRDs are installed there), without the Serin controller: two versions of app `web` as plain ReplicaSets,
//! Services in front of them, and an HTTPRoute, a VirtualService, NGINX canary Ingresses or a TraefikService deciding
//! which version each request reaches, as a data plane would.
//!
//! The versions have 2 (stable) and 1 (canary) ready pods, so a split by pods (1/3 canary) is told apart from every
//! weight the routers set. Each test runs a fixed seed over thousands of requests and checks the shares within a few
//! standard deviations.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, ensure};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, PostParams};
use serde_json::json;
use serin_e2e::harness::{Cluster, eventually, wait_timeout};
use serin_e2e::traffic::{ERROR_RATE_ANNOTATION, HASH_LABEL, Router, Target, TrafficConfig, TrafficCounts, TrafficSimulator};
use serin_e2e::workload::{version, wait_ready};

const STABLE: &str = "6d8f7c9b5a";
const CANARY: &str = "7b9c6d5f8e";
/// Requests per second: high, so that a few thousand requests take a second or two.
const RPS: u32 = 4000;
/// Allowed distance between an observed share and the configured one (over 5 standard deviations at the sizes below).
const TOLERANCE: f64 = 0.03;

/// Given a cluster with the CRDs of `crd_file` (from `e2e/crds/`) installed, the stable version (2 ready pods) and the
/// canary (1 ready pod, failing a fifth of its requests), and the Services `web` (both versions), `web-stable`,
/// `web-canary` and `web-preview` (selecting no pod).
async fn given_two_versions(test: &str, crd_file: Option<&str>, crds: &[&str]) -> Result<Cluster> {
    let cluster = Cluster::new(test).await?;
    if let Some(file) = crd_file {
        // Server-side: Gateway API's CRDs are too large for a client-side apply's last-applied annotation.
        cluster.apply_shared(&["--server-side", "-f", &format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"))], crds).await?;
    }
    let rss: Api<ReplicaSet> = cluster.api();
    rss.create(&PostParams::default(), &version(STABLE, 2, json!({}))).await?;
    rss.create(&PostParams::default(), &version(CANARY, 1, json!({ERROR_RATE_ANNOTATION: "0.2"}))).await?;
    let mut services = String::new();
    for (name, hash) in [("web", None), ("web-stable", Some(STABLE)), ("web-canary", Some(CANARY)), ("web-preview", Some("none"))] {
        let hash = hash.map(|h| format!(", {HASH_LABEL}: \"{h}\"")).unwrap_or_default();
        write!(
            services,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: web{hash}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
        )?;
    }
    cluster.apply_yaml(&services, &[])?;
    wait_ready(&cluster, &[(STABLE, 2), (CANARY, 1)]).await?;
    Ok(cluster)
}

/// Starts the simulator on app `web` through `router`.
async fn send(cluster: &Cluster, router: Router, config: TrafficConfig) -> Result<TrafficSimulator> {
    let target = Target::new(&cluster.namespace, "web", "app=web").via(router);
    TrafficSimulator::start_with(cluster.client.clone(), vec![target], config).await
}

/// What the simulator counted, as of one instant.
struct Tally(TrafficCounts);

impl Tally {
    fn now(traffic: &TrafficSimulator) -> Self {
        Self(traffic.tally())
    }

    /// Waits for `n` responses and takes the tally.
    async fn after(traffic: &TrafficSimulator, n: u64) -> Result<Self> {
        eventually(&format!("{n} requests"), wait_timeout(), || async {
            let tally = Self::now(traffic);
            Ok((tally.count(None, None) >= n).then_some(tally))
        })
        .await
    }

    /// Responses to requests with (`Some(true)`), without (`Some(false)`) or whatever (`None`) the header, from
    /// version `hash` (`None`: any).
    fn count(&self, header: Option<bool>, hash: Option<&str>) -> u64 {
        self.count_code(header, hash, None)
    }

    /// As [`Tally::count`], with status `code` (`None`: any).
    fn count_code(&self, header: Option<bool>, hash: Option<&str>, code: Option<u16>) -> u64 {
        self.0
            .responses
            .iter()
            .filter(|((h, v, c), _)| {
                header.is_none_or(|want| *h == want) && hash.is_none_or(|want| v == want) && code.is_none_or(|want| *c == want)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Version `hash`'s share of the responses to requests with/without the header.
    fn share(&self, header: Option<bool>, hash: &str) -> f64 {
        ratio(self.count(header, Some(hash)), self.count(header, None))
    }

    /// The share of the requests that carried the header.
    fn header_share(&self) -> f64 {
        ratio(self.count(Some(true), None), self.count(None, None))
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: u64, whole: u64) -> f64 {
    part as f64 / whole.max(1) as f64
}

fn assert_near(what: &str, got: f64, want: f64) -> Result<()> {
    ensure!((got - want).abs() <= TOLERANCE, "{what}: {got:.4}, want {want} ± {TOLERANCE}");
    Ok(())
}

/// The simulator's current split of plain requests: `(hash, share)`.
fn split(traffic: &TrafficSimulator) -> Vec<(String, f64)> {
    traffic.shares()[0].iter().map(|v| (v.hash.clone(), v.share)).collect()
}

fn http_route(ns: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  parentRefs: [{{name: gateway}}]\n  rules:\n{rules}"
    )
}

fn weighted_rule(stable: u32, canary: u32) -> String {
    format!(
        "  - backendRefs:\n    - {{name: web-stable, port: 80, weight: {stable}}}\n    - {{name: web-canary, port: 80, weight: {canary}}}\n"
    )
}

const GATEWAY_CRDS: &[&str] = &["httproutes.gateway.networking.k8s.io"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_weights_split_the_requests_and_changes_follow() -> Result<()> {
    // Given an HTTPRoute sending 80 % to stable and 20 % to the canary (pods alone would give the canary a third).
    let cluster = given_two_versions("traffic-httproute-weights", Some("gateway-api.yaml"), GATEWAY_CRDS).await?;
    let ns = cluster.namespace.clone();
    cluster.apply_yaml(&http_route(&ns, &weighted_rule(80, 20)), &[])?;

    // When requests go through it.
    let traffic = send(&cluster, Router::HttpRoute { name: "web".into() }, TrafficConfig::new(RPS).seed(1)).await?;
    let tally = Tally::after(&traffic, 6000).await?;

    // Then the canary gets a fifth of them, and fails a fifth of its own.
    assert_near("canary share", tally.share(None, CANARY), 0.2)?;
    assert_eq!(split(&traffic), vec![(STABLE.to_owned(), 0.8), (CANARY.to_owned(), 0.2)]);
    assert_near("canary error ratio", ratio(tally.count_code(None, Some(CANARY), Some(500)), tally.count(None, Some(CANARY))), 0.2)?;
    assert_eq!(tally.count_code(None, Some(STABLE), Some(500)), 0, "stable failed: {:?}", tally.0);

    // When the weights move to the canary, the split follows within a refresh and stable gets nothing new.
    cluster.apply_yaml(&http_route(&ns, &weighted_rule(0, 100)), &[])?;
    eventually("all traffic on the canary", wait_timeout(), || async {
        Ok((split(&traffic) == vec![(CANARY.to_owned(), 1.0)]).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = Tally::now(&traffic);
    let (stable_before, canary_before) = (before.count(None, Some(STABLE)), before.count(None, Some(CANARY)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tally = Tally::now(&traffic);
    assert_eq!(tally.count(None, Some(STABLE)), stable_before);
    ensure!(tally.count(None, Some(CANARY)) > canary_before + 1000, "canary {} after {canary_before}", tally.count(None, Some(CANARY)));

    // When the HTTPRoute is deleted, the data plane answers 404 by itself.
    cluster.kubectl_ok(&["delete", "httproute", "web"])?;
    eventually("no route", wait_timeout(), || async { Ok(split(&traffic).is_empty().then_some(())) }).await?;
    let not_found = traffic.counts().get(&(String::new(), 404)).copied().unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(traffic.counts().get(&(String::new(), 404)).copied().unwrap_or_default() > not_found + 500, "{:?}", traffic.counts());

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_header_rule_takes_the_header_requests_to_the_canary_only() -> Result<()> {
    // Given a 90/10 rule and, after it, a header rule for `X-Canary: yes` to the canary (the more specific match
    // wins, wherever it is in the list).
    let cluster = given_two_versions("traffic-httproute-header", Some("gateway-api.yaml"), GATEWAY_CRDS).await?;
    let ns = cluster.namespace.clone();
    let header_rule = "  - name: canary-header\n    matches:\n    - path: {type: PathPrefix, value: /}\n      headers: [{name: X-Canary, value: \"yes\"}]\n    backendRefs: [{name: web-canary, port: 80}]\n";
    cluster.apply_yaml(&http_route(&ns, &format!("{}{header_rule}", weighted_rule(90, 10))), &[])?;

    // When 30 % of the requests carry the header.
    let config = TrafficConfig::new(RPS).seed(2).header("x-canary", "yes", 0.3);
    let traffic = send(&cluster, Router::HttpRoute { name: "web".into() }, config).await?;
    let tally = Tally::after(&traffic, 8000).await?;

    // Then all of those reach the canary, and the others split 90/10.
    assert_near("requests with the header", tally.header_share(), 0.3)?;
    assert_eq!(tally.count(Some(true), Some(STABLE)), 0, "a header request reached stable: {:?}", tally.0);
    ensure!(tally.count(Some(true), Some(CANARY)) > 1500, "{:?}", tally.0);
    assert_near("canary share without the header", tally.share(Some(false), CANARY), 0.1)?;
    assert_eq!(traffic.header_shares()[0].iter().map(|v| (v.hash.as_str(), v.share)).collect::<Vec<_>>(), vec![(CANARY, 1.0)]);

    // And Prometheus would see them apart: `http_header_requests_total` counts the canary only, while
    // `http_requests_total` keeps its labels.
    let text = traffic.exposition()?;
    let series =
        |name: &str, hash: &str| format!(r#"{name}{{namespace="{ns}",service="web",rollouts_pod_template_hash="{hash}",code="200"}}"#);
    ensure!(text.contains(&series("http_header_requests_total", CANARY)), "{text}");
    ensure!(!text.contains(&series("http_header_requests_total", STABLE)), "{text}");
    ensure!(text.contains(&series("http_requests_total", STABLE)) && text.contains(&series("http_requests_total", CANARY)), "{text}");

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_mirror_copies_are_counted_apart() -> Result<()> {
    // Given a route to stable that mirrors 40 % of its requests to the canary.
    let cluster = given_two_versions("traffic-httproute-mirror", Some("gateway-api.yaml"), GATEWAY_CRDS).await?;
    let ns = cluster.namespace.clone();
    let rule = "  - backendRefs: [{name: web-stable, port: 80}]\n    filters:\n    - type: RequestMirror\n      requestMirror: {backendRef: {name: web-canary, port: 80}, percent: 40}\n";
    cluster.apply_yaml(&http_route(&ns, rule), &[])?;

    let traffic = send(&cluster, Router::HttpRoute { name: "web".into() }, TrafficConfig::new(RPS).seed(3)).await?;
    let tally = Tally::after(&traffic, 6000).await?;

    // Then every response comes from stable; the copies go to the canary, counted apart, failures included.
    let mirrored = &tally.0.mirrored;
    assert_eq!(tally.count(None, Some(STABLE)), tally.count(None, None), "{:?}", tally.0);
    ensure!(mirrored.keys().all(|(hash, _)| hash == CANARY), "{mirrored:?}");
    let copies: u64 = mirrored.values().sum();
    assert_near("mirrored share", ratio(copies, tally.count(None, None)), 0.4)?;
    assert_near("mirror error ratio", ratio(mirrored.get(&(CANARY.to_owned(), 500)).copied().unwrap_or_default(), copies), 0.2)?;
    let text = traffic.exposition()?;
    ensure!(
        text.contains(&format!(
            r#"http_mirrored_requests_total{{namespace="{ns}",service="web",rollouts_pod_template_hash="{CANARY}",code="500"}}"#
        )),
        "{text}"
    );
    ensure!(
        !text.contains(&format!(r#"http_requests_total{{namespace="{ns}",service="web",rollouts_pod_template_hash="{CANARY}""#)),
        "{text}"
    );

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_service_weights_and_header_route_over_destination_rule_subsets() -> Result<()> {
    // Given one Service for both versions, a DestinationRule with a subset per version, and a VirtualService with a
    // header route to the canary subset before a 70/30 route.
    let crds = &["virtualservices.networking.istio.io", "destinationrules.networking.istio.io"];
    let cluster = given_two_versions("traffic-virtualservice", Some("istio.yaml"), crds).await?;
    let ns = cluster.namespace.clone();
    cluster.apply_yaml(
        &format!(
            r"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web}}
spec:
  host: web.{ns}.svc.cluster.local
  subsets:
  - {{name: stable, labels: {{{HASH_LABEL}: '{STABLE}'}}}}
  - {{name: canary, labels: {{{HASH_LABEL}: '{CANARY}'}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web}}
spec:
  hosts: [web]
  http:
  - name: canary-header
    match: [{{headers: {{x-canary: {{exact: 'yes'}}}}}}]
    route: [{{destination: {{host: web, subset: canary}}}}]
  - name: primary
    route:
    - {{destination: {{host: web.{ns}.svc.cluster.local, subset: stable}}, weight: 70}}
    - {{destination: {{host: web, subset: canary}}, weight: 30}}
"
        ),
        &[],
    )?;

    // When a quarter of the requests carry the header.
    let config = TrafficConfig::new(RPS).seed(4).header("X-Canary", "yes", 0.25);
    let traffic = send(&cluster, Router::VirtualService { name: "web".into() }, config).await?;
    let tally = Tally::after(&traffic, 8000).await?;

    // Then those reach the canary subset only, and the others split 70/30 between the subsets.
    assert_near("requests with the header", tally.header_share(), 0.25)?;
    assert_eq!(tally.count(Some(true), Some(STABLE)), 0, "{:?}", tally.0);
    assert_near("canary share without the header", tally.share(Some(false), CANARY), 0.3)?;
    let shares = split(&traffic);
    ensure!(shares.len() == 2 && (shares[1].1 - 0.3).abs() < 1e-9, "{shares:?}");

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_canary_ingress_by_weight_and_by_header() -> Result<()> {
    // Given a stable Ingress and a canary Ingress of the same host: 25 % by weight, and `X-Canary: on` always.
    let cluster = given_two_versions("traffic-nginx", None, &[]).await?;
    let ingress = |name: &str, service: &str, annotations: &str| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: web.example.com\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}\n"
        )
    };
    let canary = "nginx.ingress.kubernetes.io/canary: 'true', nginx.ingress.kubernetes.io/canary-weight: '25', nginx.ingress.kubernetes.io/canary-by-header: X-Canary, nginx.ingress.kubernetes.io/canary-by-header-value: 'on'";
    cluster.apply_yaml(&format!("{}{}", ingress("web", "web-stable", ""), ingress("web-web-canary", "web-canary", canary)), &[])?;

    // When a fifth of the requests carry the header.
    let config = TrafficConfig::new(RPS).seed(5).header("X-Canary", "on", 0.2);
    let traffic = send(&cluster, Router::NginxIngress { stable_ingress: "web".into() }, config).await?;
    let tally = Tally::after(&traffic, 8000).await?;

    // Then those reach the canary, and a quarter of the others do.
    assert_near("requests with the header", tally.header_share(), 0.2)?;
    assert_eq!(tally.count(Some(true), Some(STABLE)), 0, "{:?}", tally.0);
    assert_near("canary share without the header", tally.share(Some(false), CANARY), 0.25)?;

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_service_weights() -> Result<()> {
    // Given a weighted TraefikService: stable 1, canary 4.
    let cluster = given_two_versions("traffic-traefik", Some("traefik.yaml"), &["traefikservices.traefik.io"]).await?;
    cluster.apply_yaml(
        "apiVersion: traefik.io/v1alpha1\nkind: TraefikService\nmetadata: {name: web}\nspec:\n  weighted:\n    services:\n    - {name: web-stable, port: 80, weight: 1}\n    - {name: web-canary, port: 80, weight: 4}\n",
        &[],
    )?;

    let traffic = send(&cluster, Router::TraefikService { name: "web".into() }, TrafficConfig::new(RPS).seed(6)).await?;
    let tally = Tally::after(&traffic, 6000).await?;

    // Then the canary gets four fifths of the requests (its pods alone would give it a third).
    assert_near("canary share", tally.share(None, CANARY), 0.8)?;

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_splits_by_its_ready_pods_and_one_without_pods_answers_503() -> Result<()> {
    // Given Service `web` (both versions) and `web-preview` (no pods), each the target of its own traffic.
    let cluster = given_two_versions("traffic-service", None, &[]).await?;
    let ns = cluster.namespace.clone();
    let targets = vec![
        Target::new(&ns, "web", "app=web").via(Router::Service { name: "web".into() }),
        Target::new(&ns, "preview", "app=web").via(Router::Service { name: "web-preview".into() }),
    ];
    let traffic = TrafficSimulator::start_with(cluster.client.clone(), targets, TrafficConfig::new(RPS).seed(7)).await?;
    let tally = Tally::after(&traffic, 12_000).await?;

    // Then `web` splits by ready pods, and every request to `web-preview` is a 503 without a version.
    let versions = tally.count(None, Some(STABLE)) + tally.count(None, Some(CANARY));
    assert_near("canary share of web", ratio(tally.count(None, Some(CANARY)), versions), 1.0 / 3.0)?;
    let unavailable = tally.count(None, Some(""));
    assert_eq!(tally.0.responses.keys().filter(|(_, hash, _)| hash.is_empty()).map(|(_, _, code)| *code).collect::<Vec<_>>(), vec![503]);
    assert_near("503 share", ratio(unavailable, tally.count(None, None)), 0.5)?;
    ensure!(traffic.shares()[1].is_empty(), "{:?}", traffic.shares());
    let text = traffic.exposition()?;
    ensure!(
        text.contains(&format!(r#"http_requests_total{{namespace="{ns}",service="preview",rollouts_pod_template_hash="",code="503"}}"#)),
        "{text}"
    );

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

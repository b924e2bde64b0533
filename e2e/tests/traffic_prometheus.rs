//! The traffic simulator and a real Prometheus against the cluster (kube-sim, or a real one with `make e2e-real`),
//! without the Serin controller: two versions of a workload as plain ReplicaSets told apart by
//! `rollouts-pod-template-hash`, their behaviour set by pod-template annotations, and what Prometheus measures.
//!
//! These tests need the `prometheus` binary (`apt-get install prometheus`; CI installs it) and fail without it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use serin_e2e::harness::{Cluster, eventually, wait_timeout};
use serin_e2e::prometheus::PrometheusServer;
use serin_e2e::traffic::{ERROR_RATE_ANNOTATION, LATENCY_ANNOTATION, Target, TrafficConfig, TrafficSimulator};
use serin_e2e::workload::{version, wait_ready};

const STABLE: &str = "6d8f7c9b5a";
const CANARY: &str = "7b9c6d5f8e";

/// A value of an instant query, failing when the result is empty.
async fn value(prometheus: &PrometheusServer, promql: &str) -> Result<f64> {
    prometheus.query_scalar(promql).await?.ok_or_else(|| anyhow::anyhow!("no result for {promql}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_measures_the_split_errors_and_latency_of_each_version() -> Result<()> {
    let started = Instant::now();
    // Given a stable version (3 pods, no errors, 20 ms) and a canary (1 pod, half its requests fail, 200 ms).
    let cluster = Cluster::new("traffic-prometheus").await?;
    let ns = cluster.namespace.clone();
    let rss: Api<ReplicaSet> = cluster.api();
    rss.create(&PostParams::default(), &version(STABLE, 3, json!({ERROR_RATE_ANNOTATION: "0", LATENCY_ANNOTATION: "20"}))).await?;
    rss.create(&PostParams::default(), &version(CANARY, 1, json!({ERROR_RATE_ANNOTATION: "0.5", LATENCY_ANNOTATION: "200"}))).await?;
    wait_ready(&cluster, &[(STABLE, 3), (CANARY, 1)]).await?;

    // When 200 requests a second go to the workload and a real Prometheus scrapes the simulator.
    let traffic =
        TrafficSimulator::start_with(cluster.client.clone(), vec![Target::new(&ns, "web", "app=web")], TrafficConfig::new(200).seed(42))
            .await?;
    let prometheus = PrometheusServer::start(&[traffic.addr()]).await?;
    prometheus.wait_for_targets_up().await?;
    let sel = format!(r#"namespace="{ns}",service="web""#);
    // rate() needs two scrapes of a series; wait for a few seconds of requests.
    let seen = format!("sum(increase(http_requests_total{{{sel}}}[1m]))");
    eventually("1000 requests seen by Prometheus", Duration::from_secs(20), || async {
        Ok(prometheus.query_scalar(&seen).await?.filter(|n| *n >= 1000.0))
    })
    .await?;

    // Then Prometheus sees the canary take its share of the pods, fail half its requests, and answer slower.
    let rate = |extra: &str| format!("sum(rate(http_requests_total{{{sel}{extra}}}[1m]))");
    let canary_share =
        value(&prometheus, &format!("{} / {}", rate(&format!(r#",rollouts_pod_template_hash="{CANARY}""#)), rate(""))).await?;
    ensure!((canary_share - 0.25).abs() <= 0.10, "canary request share {canary_share}, want 0.25 ± 0.10");
    let error_ratio = |hash: &str| {
        let version = format!(r#",rollouts_pod_template_hash="{hash}""#);
        format!(r"({} or vector(0)) / {}", rate(&format!(r#"{version},code=~"5..""#)), rate(&version))
    };
    let canary_errors = value(&prometheus, &error_ratio(CANARY)).await?;
    ensure!((canary_errors - 0.5).abs() <= 0.15, "canary error ratio {canary_errors}, want 0.5 ± 0.15");
    let stable_errors = value(&prometheus, &error_ratio(STABLE)).await?;
    ensure!(stable_errors.abs() < f64::EPSILON, "stable error ratio {stable_errors}, want 0");

    let p99 = format!(
        "histogram_quantile(0.99, sum by (le, rollouts_pod_template_hash) (rate(http_request_duration_seconds_bucket{{{sel}}}[1m])))"
    );
    let by_version: BTreeMap<String, f64> = prometheus
        .query(&p99)
        .await?
        .into_iter()
        .map(|(labels, v)| (labels.get("rollouts_pod_template_hash").cloned().unwrap_or_default(), v))
        .collect();
    let (stable_p99, canary_p99) = (by_version.get(STABLE).copied(), by_version.get(CANARY).copied());
    ensure!(stable_p99.is_some_and(|s| (0.01..=0.05).contains(&s)), "stable p99 {stable_p99:?}s, want about 20 ms: {by_version:?}");
    ensure!(canary_p99.is_some_and(|s| (0.1..=0.5).contains(&s)), "canary p99 {canary_p99:?}s, want about 200 ms: {by_version:?}");

    println!(
        "canary share {canary_share:.3}, canary errors {canary_errors:.3}, stable errors {stable_errors}, p99 {by_version:?}, after {:?}",
        started.elapsed()
    );

    // The simulator's own tally agrees: only the canary fails.
    let counts = traffic.counts();
    ensure!(!counts.contains_key(&(STABLE.to_owned(), 500)), "stable answered 500s: {counts:?}");
    ensure!(counts.get(&(CANARY.to_owned(), 500)).is_some_and(|n| *n > 0), "canary never failed: {counts:?}");

    prometheus.stop().await;
    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_follows_ready_pods_as_versions_come_and_go() -> Result<()> {
    // Given a stable version with 2 ready pods.
    let cluster = Cluster::new("traffic-follows-pods").await?;
    let ns = cluster.namespace.clone();
    let rss: Api<ReplicaSet> = cluster.api();
    rss.create(&PostParams::default(), &version(STABLE, 2, json!({}))).await?;
    wait_ready(&cluster, &[(STABLE, 2)]).await?;
    let traffic =
        TrafficSimulator::start_with(cluster.client.clone(), vec![Target::new(&ns, "web", "app=web")], TrafficConfig::new(500)).await?;
    let split = || traffic.shares()[0].iter().map(|v| (v.hash.clone(), v.pods)).collect::<Vec<_>>();
    assert_eq!(split(), vec![(STABLE.to_owned(), 2)]);

    // When a canary whose pods never become Ready appears (kube-sim's behaviour annotation), it gets no traffic.
    if cluster.sim().is_some() {
        rss.create(&PostParams::default(), &version(CANARY, 2, json!({"sim.serin.dev/behavior": "never-ready"}))).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(split(), vec![(STABLE.to_owned(), 2)]);
        rss.delete(&format!("web-{CANARY}"), &DeleteParams::background()).await?;
    }

    // When a healthy canary with an unusable latency annotation comes up, it shares the traffic by pod count (the
    // annotation falls back to its default).
    rss.create(&PostParams::default(), &version(CANARY, 2, json!({LATENCY_ANNOTATION: "fast"}))).await?;
    eventually("a 2:2 split", wait_timeout(), || async {
        Ok((split() == vec![(STABLE.to_owned(), 2), (CANARY.to_owned(), 2)]).then_some(()))
    })
    .await?;
    eventually("canary requests", wait_timeout(), || async { Ok(traffic.counts().contains_key(&(CANARY.to_owned(), 200)).then_some(())) })
        .await?;

    // When the stable version scales to zero, all traffic goes to the canary.
    rss.patch(&format!("web-{STABLE}"), &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}}))).await?;
    eventually("all traffic on the canary", wait_timeout(), || async { Ok((split() == vec![(CANARY.to_owned(), 2)]).then_some(())) })
        .await?;
    // Allow one tick in flight, then the stable count stays put while the canary's grows.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stable_before = traffic.counts().get(&(STABLE.to_owned(), 200)).copied();
    let canary_before = traffic.counts().get(&(CANARY.to_owned(), 200)).copied().unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = traffic.counts();
    assert_eq!(counts.get(&(STABLE.to_owned(), 200)).copied(), stable_before);
    assert!(counts.get(&(CANARY.to_owned(), 200)).copied().unwrap_or_default() > canary_before + 100, "{counts:?}");

    // The exposition carries the documented names.
    let text = traffic.exposition()?;
    assert!(
        text.contains(&format!(
            r#"http_requests_total{{namespace="{ns}",service="web",rollouts_pod_template_hash="{CANARY}",code="200"}}"#
        )),
        "{text}"
    );

    traffic.stop().await;
    cluster.cleanup().await;
    Ok(())
}

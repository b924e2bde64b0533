//! kube-sim operations: router CRDs, persistence, the `kube-sim` binary, simulated apiserver restarts, latency
//! and throttling. The router-CRD test also runs on a real cluster (with those CRDs installed it is a no-op
//! apply); the others exercise kube-sim itself and skip on a real cluster.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_sim::harness::{Cluster, TempDir, eventually, wait_timeout};
use kube_sim::{KubeSim, SimConfig};
use serde_json::json;

const CRD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_crds_store_gateway_istio_traefik_and_smi_objects() -> Result<()> {
    let c = Cluster::new("router-crds").await?;
    // Server-side: Gateway API's CRDs are too large for the last-applied annotation of a client-side apply.
    c.apply_shared(
        &["--server-side", "-f", CRD_DIR],
        &[
            "httproutes.gateway.networking.k8s.io",
            "virtualservices.networking.istio.io",
            "traefikservices.traefik.io",
            "trafficsplits.split.smi-spec.io",
        ],
    )
    .await?;
    let objects = r"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: primary
    route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}]
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: web}
spec:
  weighted:
    services: [{name: web-stable, port: 80, weight: 100}, {name: web-canary, port: 80, weight: 0}]
---
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata: {name: web}
spec:
  service: web
  backends: [{service: web-stable, weight: 100}, {service: web-canary, weight: 0}]
";
    eventually("router kinds served", wait_timeout(), || async {
        Ok(c.kubectl_stdin(&["apply", "-f", "-"], Some(objects))?.status.success().then_some(()))
    })
    .await?;
    c.kubectl_ok(&[
        "patch",
        "httproute",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":25}]"#,
    ])?;
    assert_eq!(c.kubectl_ok(&["get", "httproute", "web", "-o", "jsonpath={.spec.rules[0].backendRefs[*].weight}"])?, "100 25");
    assert_eq!(c.kubectl_ok(&["get", "vs", "web", "-o", "jsonpath={.spec.http[0].name}"])?, "primary");
    // Istio's served versions all read the same object.
    assert_eq!(
        c.kubectl_ok(&["get", "virtualservices.v1beta1.networking.istio.io", "web", "-o", "jsonpath={.apiVersion}"])?,
        "networking.istio.io/v1beta1"
    );
    assert_eq!(c.kubectl_ok(&["get", "traefikservice", "web", "-o", "jsonpath={.spec.weighted.services[1].weight}"])?, "0");
    assert_eq!(c.kubectl_ok(&["get", "ts", "web", "-o", "jsonpath={.spec.service}"])?, "web");
    c.kubectl_ok(&["patch", "httproute", "web", "--subresource=status", "--type=merge", "-p", r#"{"status":{"parents":[]}}"#])?;
    c.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn state_dir_survives_a_restart() -> Result<()> {
    let dir = TempDir::new("kube-sim-state")?;
    let config = || SimConfig { state_dir: Some(dir.path().to_owned()), ..SimConfig::default() };
    let sim = KubeSim::start_with(config()).await?;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client()?, "default");
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "kept"}, "data": {"k": "v"}}))?).await?;
    let rv_before: u64 = cms.get("kept").await?.metadata.resource_version.unwrap().parse()?;
    sim.shutdown().await?;
    let sim = KubeSim::start_with(config()).await?;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client()?, "default");
    let kept = cms.get("kept").await?;
    assert_eq!(kept.data.unwrap()["k"], "v");
    let next = cms.patch("kept", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "w"}}))).await?;
    assert!(next.metadata.resource_version.unwrap().parse::<u64>()? > rv_before, "revisions continue after a restart");
    sim.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn kube_sim_binary_serves_kubectl_and_stops_on_sigterm() -> Result<()> {
    let dir = TempDir::new("kube-sim-bin")?;
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["--port", "0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning kube-sim")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubeconfig.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(["get", "namespaces", "-o", "name"]).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    let status = child.wait()?;
    assert!(status.success(), "kube-sim exits cleanly on SIGTERM: {status:?}");
    Ok(())
}

#[tokio::test]
async fn clients_recover_from_a_simulated_apiserver_restart() -> Result<()> {
    let c = Cluster::new("sim-restart").await?;
    let Some(sim) = c.sim() else { return Ok(()) };
    let cms: Api<ConfigMap> = c.api();
    // During the window the server answers 503; kube-rs (like client-go) retries 503/429 with backoff, so the call
    // rides the restart out instead of failing.
    sim.post("/sim/restart", json!({"downMs": 400})).await?;
    let t = Instant::now();
    cms.list(&ListParams::default()).await?;
    assert!(t.elapsed() >= Duration::from_millis(300), "the list waited for the apiserver: {:?}", t.elapsed());
    // Latency is added to every request; throttling answers 429 with Retry-After.
    sim.post("/sim/latency", json!({"ms": 200})).await?;
    let t = Instant::now();
    cms.list(&ListParams::default()).await?;
    assert!(t.elapsed() >= Duration::from_millis(200));
    sim.post("/sim/latency", json!({"ms": 0})).await?;
    sim.post("/sim/faults", json!({"resource": "configmaps", "verb": "create", "code": 429, "count": 1})).await?;
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "t"}}))?).await?;
    assert_eq!(sim.count("create", "configmaps").await?, 2, "the 429 was answered and the client retried");
    let pending = sim.get("/sim/faults").await?;
    assert_eq!(pending["pending"].as_array().map(Vec::len), Some(0));
    sim.post("/sim/reset", json!({})).await?;
    assert_eq!(sim.get("/sim/requests").await?["total"], 0);
    c.cleanup().await;
    Ok(())
}

//! `sim-bench`: kube-sim at Serin's scale target — 10,000 Rollouts with two `ReplicaSets` each and their pods —
//! reporting load time, list/get/watch latency and memory as a table (stdout and `target/bench/kube-sim.md`).
//! Figures, not pass/fail: run with `make bench`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube_sim::control_plane::ControlPlaneConfig;
use kube_sim::{KubeSim, SimConfig};
use serde_json::json;
use serin_e2e::bench::{percentile, rss_mib};

// mimalloc returns freed memory to the OS far better than glibc malloc under many tokio workers, so RSS
// tracks the objects stored instead of transient request parsing (measured by `make bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 64;

/// A Rollout-shaped CRD: group/kind/subresources as Argo's, schema open (the real CRD comes from `crds/`).
fn rollout_crd() -> Result<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": "rollouts.argoproj.io"},
        "spec": {"group": "argoproj.io", "scope": "Namespaced",
            "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout", "shortNames": ["ro"]},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.HPAReplicas", "labelSelectorPath": ".status.selector"}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))?)
}

fn rollout(i: usize) -> Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": format!("app-{i}"), "labels": {"app": format!("app-{i}")}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("app-{i}")}},
            "template": {"metadata": {"labels": {"app": format!("app-{i}")}}, "spec": {"containers": [{"name": "app", "image": "example/app:1.0", "ports": [{"containerPort": 8080}], "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}}]}}}
    }))?)
}

fn replicaset(i: usize, hash: &str, owner_uid: &str) -> Result<ReplicaSet> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": format!("app-{i}-{hash}"), "labels": {"app": format!("app-{i}"), "rollouts-pod-template-hash": hash},
            "annotations": {"rollout.argoproj.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": format!("app-{i}"), "uid": owner_uid, "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("app-{i}"), "rollouts-pod-template-hash": hash}},
            "template": {"metadata": {"labels": {"app": format!("app-{i}"), "rollouts-pod-template-hash": hash}}, "spec": {"containers": [{"name": "app", "image": format!("example/app:{hash}")}]}}}
    }))?)
}

async fn time_n<F, Fut>(n: usize, mut f: F) -> Result<(Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok((percentile(&samples, 50).unwrap_or_default(), percentile(&samples, 99).unwrap_or_default()))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    // SIM_BENCH_ROLLOUTS scales the load (default 10,000, the target in docs/kube-sim.md).
    let rollouts_n: usize = std::env::var("SIM_BENCH_ROLLOUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let rss_start = rss_mib();
    // SIM_BENCH_HISTORY overrides the watch-history length, to see what it costs in memory.
    let history_limit = std::env::var("SIM_BENCH_HISTORY").ok().and_then(|v| v.parse().ok()).unwrap_or(SimConfig::default().history_limit);
    let sim = KubeSim::start_with(SimConfig {
        timings: ControlPlaneConfig { pod_ready_delay: Duration::from_millis(100), ..ControlPlaneConfig::default() },
        history_limit,
        ..SimConfig::default()
    })
    .await?;
    let client = sim.client()?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &rollout_crd()?).await?;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"), "rollouts");
    let rollouts: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    // The CRD is served once established.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rollouts.list(&ListParams::default().limit(1)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "rollouts CRD never served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let t_load = Instant::now();
    let uids: Vec<(usize, String)> = stream::iter(0..rollouts_n)
        .map(|i| {
            let rollouts = rollouts.clone();
            async move {
                let made = rollouts.create(&PostParams::default(), &rollout(i)?).await.with_context(|| format!("creating rollout {i}"))?;
                Ok::<_, anyhow::Error>((i, made.metadata.uid.unwrap_or_default()))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let rollouts_loaded = t_load.elapsed();
    let rss_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    stream::iter(uids.iter().flat_map(|(i, uid)| [(*i, "6f7d8b9c5", uid.clone()), (*i, "5c9b8d7f6", uid.clone())]))
        .map(|(i, hash, uid)| {
            let rss_api = rss_api.clone();
            async move {
                rss_api
                    .create(&PostParams::default(), &replicaset(i, hash, &uid)?)
                    .await
                    .with_context(|| format!("creating rs {i}-{hash}"))?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let objects_loaded = t_load.elapsed();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let want_pods = rollouts_n * 2;
    loop {
        let ready = sim.store().counts().get("pods").copied().unwrap_or(0);
        if ready >= want_pods {
            break;
        }
        anyhow::ensure!(t_load.elapsed() < Duration::from_secs(600), "only {ready}/{want_pods} pods after 10 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pods_created = t_load.elapsed();
    // Let the kubelet finish readiness so the store is at rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_loaded = rss_mib();
    let stored_json: usize = sim.store().dump().iter().map(|(_, o)| serde_json::to_vec(&**o).map_or(0, |v| v.len())).sum();

    let (ro_p50, ro_p99) = time_n(10, || async {
        let l = rollouts.list(&ListParams::default()).await?;
        anyhow::ensure!(l.items.len() == rollouts_n, "listed {} rollouts", l.items.len());
        Ok(())
    })
    .await?;
    let (rs_p50, rs_p99) = time_n(5, || async {
        let l = rss_api.list(&ListParams::default()).await?;
        anyhow::ensure!(l.items.len() == rollouts_n * 2);
        Ok(())
    })
    .await?;
    let (pod_p50, pod_p99) = time_n(5, || async {
        let l = pods.list(&ListParams::default()).await?;
        anyhow::ensure!(l.items.len() == want_pods);
        Ok(())
    })
    .await?;
    let (sel_p50, sel_p99) = time_n(50, || async {
        let l = rss_api.list(&ListParams::default().labels("app=app-4242")).await?;
        anyhow::ensure!(l.items.len() == 2);
        Ok(())
    })
    .await?;
    let (get_p50, get_p99) = time_n(500, || async {
        rollouts.get("app-777").await?;
        Ok(())
    })
    .await?;
    let (page_p50, page_p99) = time_n(20, || async {
        let l = rollouts.list(&ListParams::default().limit(500)).await?;
        anyhow::ensure!(l.items.len() == 500);
        Ok(())
    })
    .await?;

    let mut table = String::new();
    let _ = writeln!(table, "# kube-sim at scale ({rollouts_n} Rollouts, {} ReplicaSets, {want_pods} pods)\n", rollouts_n * 2);
    let _ = writeln!(table, "| figure | value |\n|---|---|");
    let _ = writeln!(table, "| create {rollouts_n} Rollouts ({CONCURRENCY} concurrent clients) | {:.1} s |", rollouts_loaded.as_secs_f64());
    let _ = writeln!(table, "| + {} ReplicaSets | {:.1} s |", rollouts_n * 2, objects_loaded.as_secs_f64());
    let _ = writeln!(table, "| + {want_pods} pods created by the ReplicaSet controller | {:.1} s |", pods_created.as_secs_f64());
    let _ = writeln!(table, "| list {rollouts_n} Rollouts p50 / p99 (target < 1 s) | {} / {} |", ms(ro_p50), ms(ro_p99));
    let _ = writeln!(table, "| list {} ReplicaSets p50 / p99 | {} / {} |", rollouts_n * 2, ms(rs_p50), ms(rs_p99));
    let _ = writeln!(table, "| list {want_pods} pods p50 / p99 | {} / {} |", ms(pod_p50), ms(pod_p99));
    let _ = writeln!(table, "| list 500-item page p50 / p99 | {} / {} |", ms(page_p50), ms(page_p99));
    let _ = writeln!(table, "| label-selected list (2 of {}) p50 / p99 | {} / {} |", rollouts_n * 2, ms(sel_p50), ms(sel_p99));
    let _ = writeln!(table, "| get one Rollout p50 / p99 | {} / {} |", ms(get_p50), ms(get_p99));
    let _ = writeln!(table, "| process RSS at start / loaded (sim + bench client) | {rss_start:.0} MiB / {rss_loaded:.0} MiB |");
    let _ = writeln!(table, "| stored objects as JSON | {} MiB |", stored_json / 1_048_576);
    let _ = writeln!(
        table,
        "| objects stored / watch history kept | {} / {history_limit} events |",
        sim.store().counts().values().sum::<usize>()
    );
    print!("{table}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("kube-sim.md"), &table)?;
    sim.shutdown().await?;
    Ok(())
}

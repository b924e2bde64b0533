//! Taking over from Argo Rollouts on a running cluster: the ReplicaSets and status a Rollout has after Argo 1.8 or
//! 1.9 managed it, then Serin started. Argo 1.8 named ReplicaSets with a hash of the template holding
//! `"creationTimestamp":null`, Argo 1.9 without it; either way Serin keeps the ReplicaSet (found by its template, as
//! Argo's own `FindNewReplicaSet` does), creates none and restarts no pod, and names the next one as Argo 1.9 does.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use serin_api::labels::{DESIRED_REPLICAS, POD_TEMPLATE_HASH, REVISION};
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::harness::{eventually, wait_timeout};
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};
use serin_planner::pod_hash::{legacy_pod_template_hash, pod_template_hash};

const STEPS: &str = "[{setWeight: 20}, {pause: {}}]";

/// Which Argo Rollouts left the ReplicaSet.
#[derive(Clone, Copy, Debug)]
enum Argo {
    /// 1.8: the template hashed with `"creationTimestamp":null`.
    V1_8,
    /// 1.9: without it.
    V1_9,
}

/// Pod name -> uid, of the pods not going away.
async fn pods(s: &Scenario) -> Result<BTreeMap<String, String>> {
    let pods = s.cluster.api::<Pod>().list(&ListParams::default()).await?;
    Ok(pods.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(|p| (p.name_any(), p.uid().unwrap_or_default())).collect())
}

async fn replica_set_names(s: &Scenario) -> Result<Vec<String>> {
    let mut names: Vec<String> =
        s.cluster.api::<ReplicaSet>().list(&ListParams::default()).await?.items.iter().map(ResourceExt::name_any).collect();
    names.sort();
    Ok(names)
}

/// The Rollout `web` as `argo` left it: its ReplicaSet (named, labelled, annotated and owned as Argo makes it) with
/// three ready pods, its revision annotation, and a Healthy status at the end of its steps.
async fn left_by(s: &mut Scenario, argo: Argo) -> Result<String> {
    assert!(s.stop_controller().await, "the controller stopped");
    s.apply(&rollout_manifest(3, STEPS, ""))?;
    let ro = s.rollout("web").await?;
    let template = ro.spec.template.clone().unwrap();
    let hash = match argo {
        Argo::V1_8 => legacy_pod_template_hash(&template, None)?,
        Argo::V1_9 => pod_template_hash(&template, None)?,
    };
    let mut rs_template = serde_json::to_value(&template)?;
    rs_template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {
            "name": format!("web-{hash}"),
            "labels": {"app": "web", POD_TEMPLATE_HASH: hash},
            "annotations": {REVISION: "1", DESIRED_REPLICAS: "3"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": ro.uid().unwrap(),
                                 "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", POD_TEMPLATE_HASH: hash}}, "template": rs_template},
    }))?;
    s.cluster.api::<ReplicaSet>().create(&PostParams::default(), &rs).await?;
    eventually("Argo's pods ready", wait_timeout(), || async {
        let rs = s.cluster.api::<ReplicaSet>().get(&format!("web-{hash}")).await?;
        Ok((rs.status.and_then(|st| st.available_replicas) == Some(3)).then_some(()))
    })
    .await?;
    s.cluster
        .api::<serin_api::Rollout>()
        .patch("web", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"annotations": {REVISION: "1"}}})))
        .await?;
    let steps = &ro.spec.strategy.as_ref().unwrap().canary.as_ref().unwrap().steps;
    s.patch_status(
        "web",
        json!({
            "stableRS": hash, "currentPodHash": hash, "currentStepHash": serin_planner::canary::step_hash(steps),
            "currentStepIndex": 2, "observedGeneration": ro.metadata.generation.unwrap().to_string(),
            "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, "phase": "Healthy",
            "selector": "app=web",
        }),
    )
    .await?;
    Ok(hash)
}

async fn takes_over_without_a_restart(test: &str, argo: Argo) -> Result<()> {
    let mut s = Scenario::start(test).await?;
    let hash = left_by(&mut s, argo).await?;
    let pods_before = pods(&s).await?;
    assert_eq!(pods_before.len(), 3);

    s.start_controller();
    let ro = s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    // Give a wrong decision the time to show: a created ReplicaSet, a scale-down, an eviction.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replica_set_names(&s).await?, vec![format!("web-{hash}")], "no new ReplicaSet");
    assert_eq!(pods(&s).await?, pods_before, "no pod restarted");
    let status = ro.status.unwrap();
    assert_eq!((status.current_pod_hash.as_deref(), status.stable_rs.as_deref()), (Some(hash.as_str()), Some(hash.as_str())));

    // The next update is named with the current (Argo 1.9) hash.
    s.set_image("web", IMAGE_V2).await?;
    s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
    let template = s.rollout("web").await?.spec.template.unwrap();
    let next = format!("web-{}", pod_template_hash(&template, None)?);
    assert!(replica_set_names(&s).await?.contains(&next), "{next} among {:?}", replica_set_names(&s).await?);
    s.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_left_by_argo_1_8_are_adopted_without_a_restart() -> Result<()> {
    Box::pin(takes_over_without_a_restart("migrate-argo-1-8", Argo::V1_8)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_left_by_argo_1_9_are_adopted_without_a_restart() -> Result<()> {
    Box::pin(takes_over_without_a_restart("migrate-argo-1-9", Argo::V1_9)).await
}

/// A ReplicaSet's template is compared with the Rollout's after the API server filled in the pod defaults: the
/// defaults Serin applies to both must be the ones the API server applies, for every field a template commonly uses
/// (probes, lifecycle hooks, ports, environment, volumes, quantities). Run on a real API server, this checks
/// Serin's list against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_stored_by_the_api_server_equals_the_one_it_was_made_from() -> Result<()> {
    let cluster = serin_e2e::harness::Cluster::new("pod-defaults").await?;
    let template = json!({
        "metadata": {"labels": {"app": "p"}},
        "spec": {
            "initContainers": [{"name": "side", "image": "busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111", "restartPolicy": "Always"}],
            "containers": [{
                "name": "c", "image": "nginx", "ports": [{"containerPort": 8080}],
                "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "livenessProbe": {"grpc": {"port": 9000}}, "readinessProbe": {"httpGet": {"port": 80}},
                "startupProbe": {"exec": {"command": ["true"]}},
                "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
                "resources": {"limits": {"memory": "2048Mi", "cpu": "1"}, "requests": {"cpu": "0.5", "memory": "62.5Ki"}},
            }],
            "volumes": [
                {"name": "s", "secret": {"secretName": "x"}},
                {"name": "cm", "configMap": {"name": "y"}},
                {"name": "e"},
                {"name": "hp", "hostPath": {"path": "/tmp"}},
                {"name": "d", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "pr", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}},
                    {"downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
                {"name": "ed", "emptyDir": {"sizeLimit": "1024Mi"}},
            ],
        },
    });
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "defaults"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "p"}}, "template": template},
    }))?;
    let api = cluster.api::<ReplicaSet>();
    let stored = api.create(&PostParams::default(), &rs).await?;
    let stored = stored.spec.unwrap().template.unwrap();
    let original: k8s_openapi::api::core::v1::PodTemplateSpec = serde_json::from_value(template)?;
    assert!(
        serin_planner::pod_template::equal_ignoring_hash(&stored, &original),
        "stored: {}\noriginal: {}",
        serde_json::to_string(&stored)?,
        serde_json::to_string(&original)?
    );
    cluster.cleanup().await;
    Ok(())
}

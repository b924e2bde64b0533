//! A workload made of plain ReplicaSets (no controller), for the traffic simulator's tests: versions of app `web`
//! told apart by `rollouts-pod-template-hash`, their behaviour set by pod-template annotations.

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::harness::{Cluster, eventually, wait_timeout};
use crate::scenario::IMAGE_V1;
use crate::traffic::HASH_LABEL;

/// ReplicaSet `web-<hash>` of app `web` with `replicas` pods annotated with `annotations`.
pub fn version(hash: &str, replicas: i32, annotations: Value) -> ReplicaSet {
    let labels = json!({"app": "web", HASH_LABEL: hash});
    serde_json::from_value(json!({
        "metadata": {"name": format!("web-{hash}"), "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": "web", "image": IMAGE_V1}]}
            }
        }
    }))
    .expect("a well-formed ReplicaSet")
}

/// Ready pods of app `web` by version.
pub async fn ready_pods(cluster: &Cluster) -> Result<BTreeMap<String, usize>> {
    let pods: Api<Pod> = cluster.api();
    let mut ready = BTreeMap::new();
    for pod in pods.list(&ListParams::default().labels("app=web")).await?.items {
        let is_ready = pod.status.and_then(|s| s.conditions).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if is_ready && pod.metadata.deletion_timestamp.is_none() {
            *ready.entry(pod.metadata.labels.unwrap_or_default().remove(HASH_LABEL).unwrap_or_default()).or_default() += 1;
        }
    }
    Ok(ready)
}

/// Waits until the ready pods of app `web` are exactly `want` (`(hash, count)` pairs).
pub async fn wait_ready(cluster: &Cluster, want: &[(&str, usize)]) -> Result<()> {
    let want: BTreeMap<String, usize> = want.iter().map(|(h, n)| ((*h).to_owned(), *n)).collect();
    eventually(&format!("ready pods {want:?}"), wait_timeout(), || async { Ok((ready_pods(cluster).await? == want).then_some(())) }).await
}

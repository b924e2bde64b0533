//! `manifests/install.yaml` installs with `kubectl apply --server-side` (and the kustomization with plain apply),
//! and its ClusterRole allows every request the controller makes while running rollouts: least privilege that is
//! still enough. Both run on both clusters: a real API server validates every object of the install and authorizes
//! the controller's requests as the installed ServiceAccount; on kube-sim, which does not authorize, every request
//! the controller made is matched against the roles' rules.

#![allow(clippy::unwrap_used)]

use anyhow::Result;
use serde_json::{Value, json};
use serin_api::rollout::status::RolloutPhase;
use serin_e2e::harness::Cluster;
use serin_e2e::scenario::{IMAGE_V2, Scenario, rollout_manifest};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_yaml_applies_server_side() -> Result<()> {
    let c = Cluster::new("install-yaml").await?;
    let real = c.sim().is_none();
    // `-n serin-system` overrides the harness's test namespace: the manifests pin their own.
    let out = c.kubectl_ok(&["apply", "--server-side", "-n", "serin-system", "-f", &format!("{ROOT}/manifests/install.yaml")])?;
    for object in [
        "customresourcedefinition.apiextensions.k8s.io/rollouts.argoproj.io serverside-applied",
        "namespace/serin-system serverside-applied",
        "serviceaccount/serin-controller serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/serin-controller serverside-applied",
        "clusterrolebinding.rbac.authorization.k8s.io/serin-controller serverside-applied",
        "role.rbac.authorization.k8s.io/serin-controller-leader-election serverside-applied",
        "rolebinding.rbac.authorization.k8s.io/serin-controller-leader-election serverside-applied",
        "deployment.apps/serin-controller serverside-applied",
        "poddisruptionbudget.policy/serin-controller serverside-applied",
        "service/argo-rollouts-metrics serverside-applied",
    ] {
        assert!(out.contains(object), "{object} missing from:\n{out}");
    }
    c.kubectl_ok(&["wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "--timeout=20s"])?;
    let image = c.kubectl_ok(&[
        "-n",
        "serin-system",
        "get",
        "deploy",
        "serin-controller",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])?;
    assert!(image.contains("serin-controller"), "{image}");
    // Re-applying is a no-op, and the kustomization installs the same objects client-side.
    c.kubectl_ok(&["apply", "--server-side", "-n", "serin-system", "-f", &format!("{ROOT}/manifests/install.yaml")])?;
    c.kubectl_ok(&["apply", "-n", "serin-system", "-k", &format!("{ROOT}/manifests/install")])?;
    // The production shape: two replicas that keep one available during disruptions.
    let replicas = c.kubectl_ok(&["-n", "serin-system", "get", "deploy", "serin-controller", "-o", "jsonpath={.spec.replicas}"])?;
    assert_eq!(replicas, "2");
    let pdb = c.kubectl_ok(&["-n", "serin-system", "get", "pdb", "serin-controller", "-o", "jsonpath={.spec.minAvailable}"])?;
    assert_eq!(pdb, "1");
    if real {
        // Leave the shared cluster as found (the CRDs stay: every scenario uses them).
        for kind in ["clusterrolebinding/serin-controller", "clusterrole/serin-controller", "namespace/serin-system"] {
            c.kubectl_ok(&["delete", kind, "--wait=false"])?;
        }
    }
    c.cleanup().await;
    Ok(())
}

/// `(apiGroups, resources, verbs)` of each rule of the ClusterRole and of the leader-election Role.
fn rules() -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    let list = |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    ["clusterrole.yaml", "role.yaml"]
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(format!("{ROOT}/manifests/install/{file}")).unwrap();
            let role: Value = serde_saphyr::from_str(&text).unwrap();
            role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (list(&r["apiGroups"]), list(&r["resources"]), list(&r["verbs"])))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_role_allows_every_request_the_controller_makes() -> Result<()> {
    let s = Scenario::start_with_installed_rbac("rbac-coverage").await?;
    s.apply(&rollout_manifest(2, "[{setWeight: 50}, {pause: {}}]", "  revisionHistoryLimit: 1\n"))?;
    s.wait_phase("web", RolloutPhase::Healthy, "").await?;
    for (i, image) in [IMAGE_V2, "registry.k8s.io/pause:3.8"].iter().enumerate() {
        s.set_image("web", image).await?;
        s.wait_phase("web", RolloutPhase::Paused, "CanaryPauseStep").await?;
        if i == 0 {
            s.promote("web").await?;
            s.wait_phase("web", RolloutPhase::Healthy, "").await?;
        } else {
            s.patch_status("web", json!({"abort": true})).await?;
            s.wait_phase("web", RolloutPhase::Degraded, "RolloutAborted").await?;
        }
    }
    let Some(sim) = s.cluster.sim() else {
        // On a real cluster the API server authorized every request against the installed roles: the rollouts got
        // this far, and no request was refused along the way (a refused Event or Lease write would not block them).
        let metrics = s.metrics().await?;
        let refused: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("controller_clientset_k8s_request_total") && l.contains("status_code=\"403\""))
            .collect();
        assert!(refused.is_empty(), "requests the installed RBAC refused: {refused:#?}");
        assert!(metrics.contains("status_code=\"201\""), "the controller's requests were counted:\n{metrics}");
        s.remove_installed_rbac()?;
        s.finish().await;
        return Ok(());
    };
    let requests = sim.get("/sim/requests").await?;
    let rules = rules();
    let mut checked = 0;
    for entry in requests["entries"].as_array().unwrap() {
        if entry["client"] != serin_controller::FIELD_MANAGER {
            continue;
        }
        let (verb, resource) = (entry["verb"].as_str().unwrap(), entry["resource"].as_str().unwrap());
        if resource == "discovery" {
            continue;
        }
        let allowed = rules.iter().any(|(_, resources, verbs)| resources.iter().any(|r| r == resource) && verbs.iter().any(|v| v == verb));
        assert!(allowed, "the ClusterRole and Role do not allow `{verb} {resource}`, which the controller did");
        checked += 1;
    }
    assert!(checked >= 5, "expected the controller's requests to be counted: {requests}");
    s.finish().await;
    Ok(())
}

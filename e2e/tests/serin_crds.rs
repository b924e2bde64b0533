//! Serin's generated CRDs (`manifests/crds`) install on the cluster with plain and server-side `kubectl apply`, and
//! every Argo Rollouts manifest in serin-api's fixtures is accepted by the API server's structural-schema
//! validation. On a real cluster it re-applies the CRDs cluster-wide (an upgrade in place).

use std::path::Path;

use anyhow::Result;
use serin_e2e::harness::{Cluster, eventually, wait_timeout};

const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/crds");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/tests/fixtures");

const NAMES: [&str; 5] = [
    "rollouts.argoproj.io",
    "analysistemplates.argoproj.io",
    "clusteranalysistemplates.argoproj.io",
    "analysisruns.argoproj.io",
    "experiments.argoproj.io",
];

async fn installed(test: &str, server_side: bool) -> Result<Cluster> {
    let c = Cluster::new(test).await?;
    // On a real cluster the CRDs are usually there already (make e2e-real installs them): applying the same
    // definitions again must leave them as they are, which is what a user upgrading Serin does.
    let mut args = vec!["-k", CRDS];
    if server_side {
        args.push("--server-side");
    }
    c.apply_shared(&args, &NAMES).await?;
    eventually("rollouts served", wait_timeout(), || async { Ok(c.kubectl(&["get", "ro"])?.status.success().then_some(())) }).await?;
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_install_client_side_and_accept_every_fixture() -> Result<()> {
    let c = installed("serin-crds", false).await?;
    let mut files: Vec<_> = std::fs::read_dir(FIXTURES)?.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 8, "fixtures present");
    for f in &files {
        // Fixtures may pin a namespace; the test owns its own, so drop the object-level `namespace:` lines.
        let text = std::fs::read_to_string(f)?.lines().filter(|l| !l.starts_with("  namespace: ")).collect::<Vec<_>>().join("\n");
        let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(&text))?;
        assert!(
            out.status.success(),
            "{} rejected: {}",
            f.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let table = c.kubectl_ok(&["get", "rollouts"])?;
    let header = table.lines().next().unwrap_or_default();
    for col in ["DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE", "AGE"] {
        assert!(header.contains(col), "printer column {col}: {table}");
    }
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_install_server_side_and_reject_invalid_rollouts() -> Result<()> {
    let c = installed("serin-crds-ssa", true).await?;
    let bad = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: bad}\nspec:\n  replicas: many\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n    spec: {containers: [{name: x, image: x}]}\n  strategy: {canary: {steps: [{setWeight: 20}]}}\n";
    let out = c.kubectl_stdin(&["apply", "-f", "-"], Some(bad))?;
    assert!(!out.status.success(), "a string replica count must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.replicas"), "{err}");
    assert!(Path::new(CRDS).join("kustomization.yaml").exists());
    c.cleanup().await;
    Ok(())
}

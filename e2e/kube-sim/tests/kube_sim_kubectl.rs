//! kube-sim conformance through the real `kubectl` (v1.32): every command Serin's docs, demo and scenarios use.
//! Runs against a real cluster too with `SERIN_E2E_REAL=1` (`make e2e-real`).
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use kube_sim::harness::{Cluster, eventually, wait_timeout};

const WIDGET_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.serin.dev
spec:
  group: example.serin.dev
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Desired, type: integer, jsonPath: .spec.replicas}
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer}
              color: {type: string}
          status:
            type: object
            properties:
              phase: {type: string}
              replicas: {type: integer}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
";

const GADGET: &str = r"
apiVersion: example.serin.dev/v1
kind: Gadget
metadata:
  name: g1
spec:
  replicas: 2
  color: red
";

async fn with_crd(test: &str) -> Result<Cluster> {
    let c = Cluster::new(test).await?;
    // Tests share the cluster-scoped CRD: the first creates it, a loser of that race retries as an update.
    eventually("CRD applied", wait_timeout(), || async {
        Ok(c.kubectl_stdin(&["apply", "-f", "-"], Some(WIDGET_CRD))?.status.success().then_some(()))
    })
    .await?;
    eventually("CRD established", wait_timeout(), || async {
        let out = c.kubectl(&[
            "get",
            "crd",
            "gadgets.example.serin.dev",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ])?;
        Ok((String::from_utf8_lossy(&out.stdout) == "True").then_some(()))
    })
    .await?;
    // Discovery caches in ~/.kube/cache may be stale for a fresh server port; kubectl re-discovers on miss.
    eventually("gadgets served", wait_timeout(), || async { Ok(c.kubectl(&["get", "gadgets"])?.status.success().then_some(())) }).await?;
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_client_side_then_get_in_every_format() -> Result<()> {
    let c = with_crd("kubectl-apply").await?;
    let out = c.apply_yaml(GADGET, &[])?;
    assert!(out.contains("gadget.example.serin.dev/g1 created"), "{out}");
    let table = c.kubectl_ok(&["get", "gadgets"])?;
    let header = table.lines().next().unwrap_or_default();
    // Declared printer columns replace the default Age column.
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["NAME", "DESIRED", "PHASE"], "{table}");
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("g1") && l.contains('2')), "{table}");
    let yaml = c.kubectl_ok(&["get", "gd", "g1", "-o", "yaml"])?;
    assert!(yaml.contains("color: red") && yaml.contains("kubectl.kubernetes.io/last-applied-configuration"), "{yaml}");
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.replicas}"])?, "2");
    // kubectl validates strictly by default: a typo in a custom resource is refused, not silently pruned.
    let typo = c.kubectl_stdin(&["apply", "-f", "-"], Some(&GADGET.replace("color: red", "colour: red")))?;
    assert!(!typo.status.success());
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains(r#"strict decoding error: unknown field "spec.colour""#), "{err}");
    let warned = c.kubectl_stdin(
        &["apply", "--validate=warn", "-f", "-"],
        Some(&GADGET.replace("name: g1", "name: g2").replace("color: red", "colour: red")),
    )?;
    assert!(warned.status.success() && String::from_utf8_lossy(&warned.stderr).contains(r#"unknown field "spec.colour""#));
    // Re-apply with a change: a JSON merge patch computed from last-applied.
    c.apply_yaml(&GADGET.replace("color: red", "color: blue"), &[])?;
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.color}"])?, "blue");
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.metadata.generation}"])?, "2");
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_server_side_with_conflicts_and_force() -> Result<()> {
    let c = with_crd("kubectl-ssa").await?;
    let out = c.apply_yaml(GADGET, &["--server-side"])?;
    assert!(out.contains("serverside-applied"), "{out}");
    let managers =
        c.kubectl_ok(&["get", "gadget", "g1", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"])?;
    assert!(managers.contains("kubectl"), "{managers}");
    // Another manager takes spec.color, so a second apply by kubectl conflicts unless forced.
    c.kubectl_ok(&["patch", "gadget", "g1", "--type=merge", "-p", r#"{"spec":{"color":"green"}}"#, "--field-manager=other"])?;
    let clash = c.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(GADGET))?;
    assert!(!clash.status.success(), "apply over another manager's field must conflict");
    let err = String::from_utf8_lossy(&clash.stderr);
    assert!(err.contains("conflict") && err.contains(".spec.color"), "{err}");
    c.apply_yaml(GADGET, &["--server-side", "--force-conflicts"])?;
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.color}"])?, "red");
    // Built-in kinds too.
    c.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: \"1\"\n", &["--server-side"])?;
    assert_eq!(c.kubectl_ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"])?, "1");
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_types_and_status_subresource() -> Result<()> {
    let c = with_crd("kubectl-patch").await?;
    c.apply_yaml(GADGET, &[])?;
    c.kubectl_ok(&["patch", "gadget", "g1", "--type=merge", "-p", r#"{"spec":{"color":"teal"}}"#])?;
    c.kubectl_ok(&["patch", "gadget", "g1", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#])?;
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.color}/{.spec.replicas}"])?, "teal/4");
    // Custom resources do not support strategic merge patch (415), exactly like the apiserver.
    let smp = c.kubectl(&["patch", "gadget", "g1", "--type=strategic", "-p", r#"{"spec":{"color":"x"}}"#])?;
    assert!(!smp.status.success());
    assert!(
        String::from_utf8_lossy(&smp.stderr).contains("UnsupportedMediaType")
            || String::from_utf8_lossy(&smp.stderr).contains("unknown format"),
        "{}",
        String::from_utf8_lossy(&smp.stderr)
    );
    // Status only through the subresource.
    c.kubectl_ok(&["patch", "gadget", "g1", "--type=merge", "-p", r#"{"status":{"phase":"Ignored"}}"#])?;
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.status.phase}"])?, "");
    c.kubectl_ok(&[
        "patch",
        "gadget",
        "g1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
    ])?;
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.status.phase}"])?, "Running");
    // Strategic merge on a built-in merges containers by name.
    c.apply_yaml(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: smp\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: smp}\n  template:\n    metadata:\n      labels: {app: smp}\n    spec:\n      containers:\n      - {name: a, image: nginx:1}\n      - {name: b, image: redis:7}\n",
        &[],
    )?;
    c.kubectl_ok(&[
        "patch",
        "rs",
        "smp",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"redis:8"}]}}}}"#,
    ])?;
    assert_eq!(c.kubectl_ok(&["get", "rs", "smp", "-o", "jsonpath={.spec.template.spec.containers[*].image}"])?, "nginx:1 redis:8");
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_condition_and_scale() -> Result<()> {
    let c = with_crd("kubectl-wait").await?;
    c.apply_yaml(GADGET, &[])?;
    let kubeconfig = c.kubeconfig().to_owned();
    let ns = c.namespace.clone();
    let waiter = std::thread::spawn(move || {
        Command::new("kubectl")
            .env("KUBECONFIG", kubeconfig)
            .args(["-n", &ns, "wait", "gadget/g1", "--for=condition=Ready", "--timeout=20s"])
            .output()
    });
    std::thread::sleep(Duration::from_millis(500));
    c.kubectl_ok(&[
        "patch",
        "gadget",
        "g1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    ])?;
    let out = waiter.join().map_err(|_| anyhow::anyhow!("waiter panicked"))??;
    assert!(out.status.success(), "kubectl wait: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));
    let scaled = c.kubectl_ok(&["scale", "gadget", "g1", "--replicas=5"])?;
    assert!(scaled.contains("scaled"), "{scaled}");
    assert_eq!(c.kubectl_ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.replicas}"])?, "5");
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_streams_changes() -> Result<()> {
    let c = Cluster::new("kubectl-watch").await?;
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", c.kubeconfig())
        .args(["-n", &c.namespace, "get", "configmaps", "-w", "--request-timeout=0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(700));
    c.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata:\n  a: b\n", &[])?;
    std::thread::sleep(Duration::from_millis(700));
    c.kubectl_ok(&["label", "configmap", "watched", "x=y"])?;
    std::thread::sleep(Duration::from_millis(700));
    child.kill()?;
    let mut out = String::new();
    child.stdout.take().map(|mut s| s.read_to_string(&mut out));
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("watched")).collect();
    assert!(lines.len() >= 2, "expected the create and the update, got:\n{out}");
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_foreground_delete_of_a_replicaset() -> Result<()> {
    let c = Cluster::new("kubectl-rs").await?;
    c.apply_yaml(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: web, image: nginx:1.27}\n",
        &[],
    )?;
    c.kubectl_ok(&["wait", "rs/web", "--for=jsonpath={.status.readyReplicas}=3", "--timeout=30s"])?;
    let pods = c.kubectl_ok(&["get", "pods", "-l", "app=web"])?;
    assert_eq!(pods.lines().filter(|l| l.contains("1/1") && l.contains("Running")).count(), 3, "{pods}");
    let wide = c.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "wide"])?;
    assert!(wide.lines().next().is_some_and(|h| h.contains("IP") && h.contains("NODE")), "{wide}");
    if c.sim().is_some() {
        assert!(wide.contains("kube-sim-node") && wide.contains("10.244."), "{wide}");
    }
    c.kubectl_ok(&["scale", "rs/web", "--replicas=1"])?;
    eventually("1 pod left", wait_timeout(), || async {
        let out = c.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"])?;
        Ok((out.lines().count() == 1).then_some(()))
    })
    .await?;
    let del = c.kubectl(&["delete", "rs", "web", "--cascade=foreground", "--timeout=30s"])?;
    assert!(del.status.success(), "{}", String::from_utf8_lossy(&del.stderr));
    assert_eq!(c.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"])?, "");
    assert!(!c.kubectl(&["get", "rs", "web"])?.status.success());
    c.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_explain_and_errors() -> Result<()> {
    let c = Cluster::new("kubectl-discovery").await?;
    let res = c.kubectl_ok(&["api-resources"])?;
    for needle in ["replicasets", "leases", "ingresses", "customresourcedefinitions", "jobs"] {
        assert!(res.contains(needle), "api-resources lacks {needle}");
    }
    let missing = c.kubectl(&["get", "configmap", "nope"])?;
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("configmaps \"nope\" not found"), "{err}");
    if c.sim().is_some() {
        let explain = c.kubectl(&["explain", "pods"])?;
        if explain.status.success() {
            bail!("kubectl explain must fail clearly on kube-sim (no OpenAPI v3)");
        }
    }
    if c.sim().is_some() {
        // Generators send protobuf bodies, which kube-sim refuses clearly (415) instead of misreading them.
        let create = c.kubectl(&["create", "configmap", "pb", "--from-literal=a=b"])?;
        assert!(!create.status.success());
        assert!(String::from_utf8_lossy(&create.stderr).contains("--dry-run=client -o yaml | kubectl apply -f -"));
    }
    let version = c.kubectl_ok(&["version", "-o", "json"])?;
    assert!(version.contains("serverVersion"));
    c.cleanup().await;
    Ok(())
}

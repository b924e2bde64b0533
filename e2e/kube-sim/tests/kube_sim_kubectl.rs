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
    let version = c.kubectl_ok(&["version", "-o", "json"])?;
    assert!(version.contains("serverVersion"));
    c.cleanup().await;
    Ok(())
}

/// Objects `kubectl create <generator>` makes, as kube-apiserver 1.36 stored them (fixtures/kubectl-create, taken
/// from a real cluster with the same commands). kubectl sends these bodies as protobuf.
const CREATED: &[(&str, &[&str])] = &[
    ("secret_s1", &["create", "secret", "generic", "s1", "--from-literal=a=b", "--from-literal=empty="]),
    ("configmap_c1", &["create", "configmap", "c1", "--from-literal=a=b", "--from-literal=e="]),
    ("deployment_d1", &["create", "deployment", "d1", "--image=nginx", "--port=80", "--replicas=0"]),
    ("job_j1", &["create", "job", "j1", "--image=busybox", "--", "echo", "hi"]),
    ("service_svc1", &["create", "service", "clusterip", "svc1", "--tcp=80:8080"]),
    ("service_np1", &["create", "service", "nodeport", "np1", "--tcp=80:8080"]),
    ("serviceaccount_sa1", &["create", "serviceaccount", "sa1"]),
    ("role_r1", &["create", "role", "r1", "--verb=get", "--resource=pods"]),
    ("rolebinding_rb1", &["create", "rolebinding", "rb1", "--role=r1", "--user=u", "--serviceaccount=x:y"]),
    ("pdb_pdb1", &["create", "poddisruptionbudget", "pdb1", "--selector=app=x", "--min-available=1"]),
    ("ingress_ing1", &["create", "ingress", "ing1", "--rule=foo.com/bar=svc1:80", "--annotation=a=b"]),
    ("secret_reg", &["create", "secret", "docker-registry", "reg", "--docker-username=u", "--docker-password=p", "--docker-server=r.io"]),
];

/// What differs between two creations of the same object: identity, times, allocated addresses and ports, the
/// Job controller's uid labels, status, and the Deployment controller's revision annotation (kube-sim runs no
/// Deployment controller).
fn comparable(mut obj: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields"] {
            meta.remove(f);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        for port in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
            assert!(port.remove("nodePort").is_none_or(|p| p.as_u64().is_some_and(|p| (30000..=32767).contains(&p))));
        }
    }
    for labels in ["/metadata/labels", "/spec/selector/matchLabels", "/spec/template/metadata/labels"] {
        if let Some(l) = obj.pointer_mut(labels).and_then(Value::as_object_mut) {
            l.remove("batch.kubernetes.io/controller-uid");
            l.remove("controller-uid");
        }
    }
    obj
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_generators_store_what_a_real_cluster_stores() -> Result<()> {
    let c = Cluster::new("kubectl-create").await?;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubectl-create");
    for (fixture, args) in CREATED {
        let out = c.kubectl(args)?;
        assert!(out.status.success(), "kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        let (kind, name) = fixture.split_once('_').unwrap();
        let got: serde_json::Value = serde_json::from_str(&c.kubectl_ok(&["get", kind, name, "-o", "json"])?)?;
        let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join(format!("{fixture}.json")))?)?;
        assert_eq!(comparable(got), want, "kubectl {}", args.join(" "));
    }
    c.cleanup().await;
    Ok(())
}

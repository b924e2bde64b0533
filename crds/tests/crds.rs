//! The generated CRDs: committed files are current (drift check), small enough, structural, light where Argo's
//! are light but with the list markers server-side apply needs, and shaped like Argo's (names, scope,
//! subresources, printer columns).

// Test helpers outside #[test] functions are still test code.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use serin_api::crd::{MANIFEST_DIR, custom_resource_definitions, render_manifests};

/// Kubernetes objects are limited to ~1.5 MiB, and client-side apply doubles a CRD into its
/// last-applied annotation; we keep every CRD well below Argo's 511-660 KB.
const MAX_CRD_BYTES: usize = 256 * 1024;

/// The rendered manifests by file name (rendered once per test binary).
fn manifests() -> &'static BTreeMap<&'static str, String> {
    static MANIFESTS: OnceLock<BTreeMap<&'static str, String>> = OnceLock::new();
    MANIFESTS.get_or_init(|| render_manifests().unwrap().into_iter().map(|file| (file.name, file.contents)).collect())
}

/// Each CRD as JSON, by file name, read back from the rendered YAML.
fn crds() -> &'static BTreeMap<&'static str, Value> {
    static CRDS: OnceLock<BTreeMap<&'static str, Value>> = OnceLock::new();
    CRDS.get_or_init(|| {
        manifests()
            .iter()
            .filter(|(name, _)| **name != "kustomization.yaml")
            .map(|(name, yaml)| (*name, serde_saphyr::from_str::<Value>(yaml).unwrap_or_else(|err| panic!("{name}: {err}"))))
            .collect()
    })
}

fn version(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]
}

fn schema(crd: &Value) -> &Value {
    &version(crd)["schema"]["openAPIV3Schema"]
}

/// Follows `properties` (and `items` for a `[]` segment) down a dotted path such as `spec.templates[].template`.
fn at<'a>(mut node: &'a Value, path: &str) -> &'a Value {
    for segment in path.split('.') {
        let (name, is_list) = segment.strip_suffix("[]").map_or((segment, false), |name| (name, true));
        node = &node["properties"][name];
        assert!(!node.is_null(), "no schema at {path} (segment {name})");
        if is_list {
            node = &node["items"];
        }
    }
    node
}

#[test]
fn committed_manifests_are_current() {
    let dir = format!("{}/../{MANIFEST_DIR}", env!("CARGO_MANIFEST_DIR"));
    for (name, expected) in manifests() {
        let expected = expected.as_str();
        let committed = std::fs::read_to_string(format!("{dir}/{name}")).unwrap_or_default();
        assert!(committed == expected, "{MANIFEST_DIR}/{name} is out of date: run `cargo run -p serin-api --bin crdgen` and commit it");
    }
}

#[test]
fn every_crd_is_under_256_kib() {
    for (name, yaml) in manifests() {
        assert!(yaml.len() < MAX_CRD_BYTES, "{name} is {} bytes", yaml.len());
    }
}

#[test]
fn yaml_reads_back_as_the_crd_object() {
    let rendered = crds();
    for (name, crd) in custom_resource_definitions() {
        assert_eq!(rendered[name], serde_json::to_value(&crd).unwrap(), "{name}");
    }
}

#[test]
fn kustomization_lists_every_crd() {
    let kustomization: Value = serde_saphyr::from_str(&manifests()["kustomization.yaml"]).unwrap();
    let resources: Vec<&str> = kustomization["resources"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(
        resources,
        [
            "rollout-crd.yaml",
            "analysis-template-crd.yaml",
            "cluster-analysis-template-crd.yaml",
            "analysis-run-crd.yaml",
            "experiment-crd.yaml"
        ]
    );
}

#[test]
fn names_scope_and_short_names_match_argo() {
    let crds = crds();
    let expected = [
        ("rollout-crd.yaml", "rollouts.argoproj.io", "Rollout", "rollouts", "ro", "Namespaced"),
        ("analysis-template-crd.yaml", "analysistemplates.argoproj.io", "AnalysisTemplate", "analysistemplates", "at", "Namespaced"),
        (
            "cluster-analysis-template-crd.yaml",
            "clusteranalysistemplates.argoproj.io",
            "ClusterAnalysisTemplate",
            "clusteranalysistemplates",
            "cat",
            "Cluster",
        ),
        ("analysis-run-crd.yaml", "analysisruns.argoproj.io", "AnalysisRun", "analysisruns", "ar", "Namespaced"),
        ("experiment-crd.yaml", "experiments.argoproj.io", "Experiment", "experiments", "exp", "Namespaced"),
    ];
    for (file, name, kind, plural, short, scope) in expected {
        let crd = &crds[file];
        assert_eq!(crd["metadata"]["name"], name);
        assert_eq!(crd["spec"]["group"], "argoproj.io");
        assert_eq!(crd["spec"]["names"]["kind"], kind);
        assert_eq!(crd["spec"]["names"]["plural"], plural);
        assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!([short]));
        assert_eq!(crd["spec"]["scope"], scope);
        assert_eq!(version(crd)["name"], "v1alpha1");
        assert_eq!(version(crd)["served"], true);
        assert_eq!(version(crd)["storage"], true);
        assert!(crd["spec"].get("preserveUnknownFields").is_none(), "{file} must not set spec.preserveUnknownFields");
    }
}

#[test]
fn subresources_match_argo() {
    let crds = crds();
    assert_eq!(
        version(&crds["rollout-crd.yaml"])["subresources"],
        serde_json::json!({
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.HPAReplicas",
                "labelSelectorPath": ".status.selector",
            },
        })
    );
    for file in ["analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml", "analysis-run-crd.yaml", "experiment-crd.yaml"] {
        assert!(version(&crds[file]).get("subresources").is_none(), "{file} has no subresources in Argo");
    }
    // AnalysisRun and Experiment still carry a status in their schema, written with plain patches.
    assert!(schema(&crds["analysis-run-crd.yaml"])["properties"].get("status").is_some());
    assert!(schema(&crds["experiment-crd.yaml"])["properties"].get("status").is_some());
}

#[test]
fn printer_columns_match_argo() {
    let crds = crds();
    let columns = |file: &str| -> Vec<(String, String, String)> {
        version(&crds[file])["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (c["name"].as_str().unwrap().to_owned(), c["type"].as_str().unwrap().to_owned(), c["jsonPath"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let col = |name: &str, kind: &str, path: &str| (name.to_owned(), kind.to_owned(), path.to_owned());
    let age = col("Age", "date", ".metadata.creationTimestamp");
    assert_eq!(
        columns("rollout-crd.yaml"),
        [
            col("Desired", "integer", ".spec.replicas"),
            col("Current", "integer", ".status.replicas"),
            col("Up-to-date", "integer", ".status.updatedReplicas"),
            col("Available", "integer", ".status.availableReplicas"),
            age.clone(),
        ]
    );
    assert_eq!(columns("analysis-template-crd.yaml"), std::slice::from_ref(&age));
    assert_eq!(columns("cluster-analysis-template-crd.yaml"), std::slice::from_ref(&age));
    assert_eq!(columns("analysis-run-crd.yaml"), [col("Status", "string", ".status.phase"), age.clone()]);
    assert_eq!(columns("experiment-crd.yaml"), [col("Status", "string", ".status.phase"), age]);
}

/// Asserts the light pod-template schema at `template`: free-form pod spec, but containers and
/// initContainers (and their env and ports) keep the list-map markers server-side apply merges by.
fn assert_light_pod_template(template: &Value, where_: &str) {
    let spec = at(template, "spec");
    assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], true, "{where_}: pod spec keeps unknown fields");
    for list in ["containers", "initContainers"] {
        let containers = at(spec, list);
        assert_eq!(containers["x-kubernetes-list-type"], "map", "{where_}.{list}");
        assert_eq!(containers["x-kubernetes-list-map-keys"], serde_json::json!(["name"]), "{where_}.{list}");
        let container = &containers["items"];
        assert_eq!(container["x-kubernetes-preserve-unknown-fields"], true, "{where_}.{list}[]");
        assert_eq!(container["required"], serde_json::json!(["name"]));
        let env = at(container, "env");
        assert_eq!(env["x-kubernetes-list-type"], "map");
        assert_eq!(env["x-kubernetes-list-map-keys"], serde_json::json!(["name"]));
        let ports = at(container, "ports");
        assert_eq!(ports["x-kubernetes-list-type"], "map");
        assert_eq!(ports["x-kubernetes-list-map-keys"], serde_json::json!(["containerPort", "protocol"]));
        assert_eq!(at(&ports["items"], "protocol")["default"], "TCP", "list-map keys must be required or defaulted");
        assert_eq!(at(container, "resources")["x-kubernetes-preserve-unknown-fields"], true, "resources are free-form");
    }
    assert_eq!(at(spec, "volumes")["items"]["x-kubernetes-preserve-unknown-fields"], true, "volumes are free-form");
}

#[test]
fn pod_templates_are_light_with_list_markers() {
    let crds = crds();
    assert_light_pod_template(at(schema(&crds["rollout-crd.yaml"]), "spec.template"), "Rollout spec.template");
    assert_light_pod_template(
        at(schema(&crds["experiment-crd.yaml"]), "spec.templates[].template"),
        "Experiment spec.templates[].template",
    );
    for file in ["analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml", "analysis-run-crd.yaml"] {
        let job = at(schema(&crds[file]), "spec.metrics[].provider.job.spec");
        assert_eq!(job["x-kubernetes-preserve-unknown-fields"], true);
        assert_light_pod_template(at(job, "template"), &format!("{file} job spec.template"));
    }
}

#[test]
fn raw_json_fields_preserve_unknown_fields() {
    let crds = crds();
    let rollout = schema(&crds["rollout-crd.yaml"]);
    let canary = at(rollout, "spec.strategy.canary");
    for path in ["trafficRouting.plugins", "steps[].plugin.config"] {
        let node = at(canary, path);
        assert_eq!(node["type"], "object", "{path}");
        assert_eq!(node["x-kubernetes-preserve-unknown-fields"], true, "{path}");
    }
    let metric = at(schema(&crds["analysis-template-crd.yaml"]), "spec.metrics[].provider");
    assert_eq!(at(metric, "plugin")["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(at(metric, "web.jsonBody")["x-kubernetes-preserve-unknown-fields"], true);
    // Unknown top-level spec fields are kept (the `unknown` map), as the types keep them.
    assert_eq!(at(rollout, "spec")["x-kubernetes-preserve-unknown-fields"], true);
}

#[test]
fn free_form_optional_fields_are_not_required() {
    let crds = crds();
    let canary = at(schema(&crds["rollout-crd.yaml"]), "spec.strategy.canary");
    assert_eq!(at(canary, "steps[].plugin")["required"], serde_json::json!(["name"]));
    let plugin_status = at(schema(&crds["rollout-crd.yaml"]), "status.canary.stepPluginStatuses[]");
    assert_eq!(plugin_status["required"], serde_json::json!(["index", "name", "operation"]));
    assert!(at(schema(&crds["rollout-crd.yaml"]), "spec").get("required").is_none(), "template and selector are optional");
    let provider = at(schema(&crds["analysis-template-crd.yaml"]), "spec.metrics[].provider");
    assert_eq!(at(provider, "web")["required"], serde_json::json!(["url"]));
    assert_eq!(at(provider, "job")["required"], serde_json::json!(["spec"]));
}

#[test]
fn rollout_schema_has_argo_keys() {
    let crds = crds();
    let rollout = schema(&crds["rollout-crd.yaml"]);
    assert!(at(rollout, "status.HPAReplicas")["type"] == "integer");
    assert!(at(rollout, "status.stableRS")["type"] == "string");
    assert_eq!(at(rollout, "spec.strategy.canary.maxSurge")["x-kubernetes-int-or-string"], true);
    assert_eq!(at(rollout, "spec.strategy.canary.steps[].pause.duration")["x-kubernetes-int-or-string"], true);
    assert_eq!(at(rollout, "spec.selector")["x-kubernetes-validations"][0]["rule"], "self == oldSelf");
    assert_eq!(at(rollout, "spec.strategy.blueGreen")["required"], serde_json::json!(["activeService"]));
}

/// Checks the rules of a structural schema that a hand-written fragment could break: every node has a type
/// (or is int-or-string / free-form), no `$ref`/`definitions`/`oneOf`/`anyOf`, and `properties` never sits
/// beside `additionalProperties`.
fn assert_structural(node: &Value, path: &str) {
    let Value::Object(map) = node else { panic!("{path}: schema is not an object") };
    for forbidden in ["$ref", "definitions", "$defs", "oneOf", "anyOf", "allOf", "not"] {
        assert!(!map.contains_key(forbidden), "{path}: {forbidden} is not allowed in a structural schema");
    }
    let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let free_form = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    assert!(map.contains_key("type") || int_or_string || free_form, "{path}: missing type");
    assert!(
        !(map.contains_key("properties") && map.contains_key("additionalProperties")),
        "{path}: properties beside additionalProperties"
    );
    if let Some(Value::Object(properties)) = map.get("properties") {
        assert_eq!(map.get("type"), Some(&Value::String("object".into())), "{path}: properties on a non-object");
        for (name, child) in properties {
            assert_structural(child, &format!("{path}.{name}"));
        }
    }
    if let Some(items) = map.get("items") {
        assert_structural(items, &format!("{path}[]"));
    }
    if let Some(additional @ Value::Object(_)) = map.get("additionalProperties") {
        assert_structural(additional, &format!("{path}{{}}"));
    }
}

#[test]
fn schemas_are_structural() {
    for (name, crd) in crds() {
        assert_structural(schema(crd), name);
    }
}

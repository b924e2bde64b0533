//! Tests of the list semantics and of custom list keys across both engines, and the fixtures the
//! submodules' tests share.

use serde_json::{Value, json};

use super::managed::take_managed;
use super::*;

pub(super) fn req<'a>(manager: &'a str, force: bool, now: &'a str) -> ApplyRequest<'a> {
    ApplyRequest { manager, force, api_version: "apps/v1", subresource: None, now }
}

pub(super) fn apply(live: Option<&Value>, cfg: &Value, r: &ApplyRequest<'_>) -> Value {
    server_side_apply(live, cfg, r, &BuiltinListKeys).expect("apply succeeds")
}

pub(super) fn apply_err(live: Option<&Value>, cfg: &Value, r: &ApplyRequest<'_>) -> ApplyError {
    server_side_apply(live, cfg, r, &BuiltinListKeys).expect_err("apply must fail")
}

pub(super) fn entry<'v>(obj: &'v Value, manager: &str, operation: &str) -> Option<&'v Value> {
    obj["metadata"]["managedFields"].as_array()?.iter().find(|e| e["manager"] == manager && e["operation"] == operation)
}

pub(super) fn fields<'v>(obj: &'v Value, manager: &str, operation: &str) -> &'v Value {
    &entry(obj, manager, operation).expect("entry exists")["fieldsV1"]
}

pub(super) fn without_managed(obj: &Value) -> Value {
    let mut o = obj.clone();
    take_managed(&mut o);
    o
}

pub(super) fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    })
}

#[test]
fn builtin_list_keys_table() {
    let k = BuiltinListKeys;
    let name = ListKind::Map(vec!["name".into()]);
    assert_eq!(k.list_kind(&["spec", "template", "spec", "containers"]), name);
    assert_eq!(k.list_kind(&["spec", "template", "spec", "initContainers", "env"]), name);
    assert_eq!(k.list_kind(&["spec", "containers", "ports"]), ListKind::Map(vec!["containerPort".into()]));
    assert_eq!(k.list_kind(&["spec", "ports"]), ListKind::Map(vec!["port".into()]));
    assert_eq!(k.list_kind(&["spec", "containers", "volumeMounts"]), ListKind::Map(vec!["mountPath".into()]));
    assert_eq!(k.list_kind(&["spec", "volumes"]), name);
    assert_eq!(k.list_kind(&["status", "conditions"]), ListKind::Map(vec!["type".into()]));
    assert_eq!(k.list_kind(&["metadata", "ownerReferences"]), ListKind::Map(vec!["uid".into()]));
    assert_eq!(k.list_kind(&["metadata", "finalizers"]), ListKind::Set);
    assert_eq!(k.list_kind(&["spec", "finalizers"]), ListKind::Atomic);
    assert_eq!(k.list_kind(&["subsets"]), ListKind::Atomic);
    assert_eq!(k.list_kind(&["spec", "rules"]), ListKind::Atomic);
    assert_eq!(k.list_kind(&["spec", "tolerations"]), ListKind::Atomic);
    assert_eq!(k.list_kind(&["spec", "containers", "args"]), ListKind::Atomic);
    assert_eq!(k.list_kind(&["spec", "topologySpreadConstraints"]), ListKind::Map(vec!["topologyKey".into()]));
    assert_eq!(k.list_kind(&["spec", "hostAliases"]), ListKind::Map(vec!["ip".into()]));
    assert!(k.map_is_atomic(&["spec", "selector"]));
    assert!(!k.map_is_atomic(&["metadata", "labels"]));
    assert_eq!(AtomicLists.list_kind(&["spec", "containers"]), ListKind::Atomic);
}

struct MultiKey;

impl ListKeys for MultiKey {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        if path == ["spec", "routes"] { ListKind::Map(vec!["port".into(), "protocol".into()]) } else { ListKind::Atomic }
    }
}

#[test]
fn custom_multi_key_lists() {
    let mut t = json!({"spec":{"routes":[{"port":80,"protocol":"TCP","to":"a"},{"port":80,"protocol":"UDP","to":"b"}]}});
    strategic_merge(&mut t, &json!({"spec":{"routes":[{"port":80,"protocol":"UDP","to":"c"}]}}), &MultiKey).expect("patch applies");
    assert_eq!(t["spec"]["routes"], json!([{"port":80,"protocol":"TCP","to":"a"},{"port":80,"protocol":"UDP","to":"c"}]));
    let cfg = json!({"apiVersion":"x/v1","kind":"R","metadata":{"name":"r"},
        "spec":{"routes":[{"protocol":"TCP","port":80,"to":"a"}]}});
    let out = server_side_apply(None, &cfg, &req("m", false, "T1"), &MultiKey).expect("apply");
    assert_eq!(
        fields(&out, "m", "Apply"),
        &json!({"f:spec":{"f:routes":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{
            ".":{},"f:port":{},"f:protocol":{},"f:to":{}}}}})
    );
}

//! Tests of the compiled schema's public API, of behaviour that spans defaulting and validation, and the
//! fixtures the submodules' tests share.

use serde_json::json;

use super::*;

pub(super) fn schema(v: &Value) -> Schema {
    match Schema::new(v) {
        Ok(s) => s,
        Err(e) => panic!("schema rejected: {e}"),
    }
}

pub(super) fn messages(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(|e| e.message.clone()).collect()
}

pub(super) fn rollout_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "default": {},
                "required": ["image"],
                "properties": {
                    "replicas": {"type": "integer", "default": 1, "minimum": 0, "maximum": 10},
                    "image": {"type": "string", "minLength": 1},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "port": {"type": "integer", "default": 80},
                                "protocol": {"type": "string", "default": "TCP"}
                            }
                        }
                    },
                    "labels": {
                        "type": "object",
                        "additionalProperties": {"type": "string", "maxLength": 5}
                    }
                }
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    })
}

#[test]
fn embedded_resource_keeps_type_meta_and_coerces_metadata() {
    let s = schema(&json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"template": {
            "type": "object",
            "x-kubernetes-embedded-resource": true,
            "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}
        }}
    }}}));
    let mut obj = json!({"spec": {"template": {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {}, "creationTimestamp": null, "junk": 1},
        "spec": {"n": 1, "other": 2}, "status": {}
    }}});
    let unknown = s.default_and_prune_report(&mut obj);
    assert_eq!(unknown, vec!["spec.template.metadata.junk", "spec.template.spec.other", "spec.template.status"]);
    assert_eq!(obj["spec"]["template"], json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"n": 1}}));
    assert!(s.validate(&obj, None).is_empty());
    let missing = json!({"spec": {"template": {"spec": {}}}});
    assert_eq!(
        messages(&s.validate(&missing, None)),
        vec!["spec.template.apiVersion: Required value", "spec.template.kind: Required value"]
    );
    let bad_kind = json!({"spec": {"template": {"apiVersion": "a/b/c", "kind": "Not_Ok"}}});
    let errors = messages(&s.validate(&bad_kind, None));
    assert_eq!(errors[0], "spec.template.apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c");
    assert!(
        errors[1].starts_with(
            "spec.template.kind: Invalid value: \"Not_Ok\": may have mixed case, but should otherwise match: a DNS-1035 label"
        )
    );
}

#[test]
fn non_nullable_nulls_without_default_are_dropped_then_required() {
    let s = schema(&json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "nullable": true},
            "c": {"type": "array", "items": {"type": "string"}}
        }
    }}}));
    let mut obj = json!({"spec": {"a": null, "b": null, "c": ["x", null]}});
    s.default_and_prune(&mut obj);
    assert_eq!(obj, json!({"spec": {"b": null, "c": ["x", null]}}));
    assert_eq!(
        messages(&s.validate(&obj, None)),
        vec!["spec.c[1]: Invalid value: \"null\": spec.c[1] in body must be of type string: \"null\"", "spec.a: Required value"]
    );
}

#[test]
fn invalid_message_formats() {
    let a = field_error(CauseReason::FieldValueRequired, "spec.a".into(), None, "");
    let b = field_error(CauseReason::FieldValueInvalid, "spec.b".into(), Some("1"), "bad");
    assert_eq!(
        invalid_message("Rollout", "argoproj.io", "demo", std::slice::from_ref(&a)),
        "Rollout.argoproj.io \"demo\" is invalid: spec.a: Required value"
    );
    assert_eq!(
        invalid_message("Rollout", "argoproj.io", "demo", &[a.clone(), b, a.clone()]),
        "Rollout.argoproj.io \"demo\" is invalid: [spec.a: Required value, spec.b: Invalid value: 1: bad]"
    );
    assert_eq!(invalid_message("Pod", "", "p", &[a.clone(), a]), "Pod \"p\" is invalid: spec.a: Required value");
    assert_eq!(invalid_message("Pod", "", "p", &[]), "Pod \"p\" is invalid");
}

#[test]
fn list_kinds_for_server_side_apply() {
    let s = schema(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
            "items": {"type": "object", "properties": {
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
            }}},
        "args": {"type": "array", "items": {"type": "string"}},
        "byName": {"type": "object", "additionalProperties": {"type": "array",
            "x-kubernetes-list-type": "set", "items": {"type": "string"}}},
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
            "additionalProperties": {"type": "string"}},
        "refs": {"type": "array", "items": {"type": "object", "x-kubernetes-map-type": "atomic",
            "properties": {"name": {"type": "string"}}}},
        "maps": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "xs": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}}
    }}}}));
    assert_eq!(s.list_kind(&["spec", "ports"]), ListKind::Map(vec!["containerPort".into(), "protocol".into()]));
    assert_eq!(s.list_kind(&["spec", "ports", "tags"]), ListKind::Set);
    assert_eq!(s.list_kind(&["spec", "args"]), ListKind::Atomic);
    assert_eq!(s.list_kind(&["spec", "byName"]), ListKind::Set);
    assert_eq!(s.list_kind(&["spec", "byName", "anyKey"]), ListKind::Set);
    assert_eq!(s.list_kind(&["spec", "maps", "xs"]), ListKind::Set);
    assert_eq!(s.list_kind(&["spec", "maps", "key", "xs"]), ListKind::Set);
    assert_eq!(s.list_kind(&["spec", "missing"]), ListKind::Atomic);
    assert_eq!(ListKeys::list_kind(&s, &["spec", "ports", "tags"]), ListKind::Set);
    assert!(ListKeys::map_is_atomic(&s, &["spec", "selector"]));
    assert!(s.map_is_atomic(&["spec", "refs"]));
    assert!(!s.map_is_atomic(&["spec", "ports"]));
    assert!(!s.map_is_atomic(&["nope"]));
}

#[test]
fn schema_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Schema>();
}

//! Defaulting and pruning: what the apiserver does to a custom resource while decoding it
//! ([`Schema::default_and_prune`](super::Schema::default_and_prune)).

use std::num::FpCategory;

use serde_json::Value;

use super::compile::{Additional, Node};

const TYPE_META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// `ObjectMeta`'s JSON fields: what survives the coercion of embedded metadata.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// `resource` marks the root and embedded resources, whose `metadata` is
/// never defaulted.
pub(super) fn apply_defaults(node: &Node, value: &mut Value, resource: bool) {
    match value {
        Value::Object(map) => {
            for (name, prop) in &node.properties {
                if resource && name == "metadata" {
                    continue;
                }
                let Some(default) = &prop.default else {
                    continue;
                };
                let missing = match map.get(name.as_str()) {
                    None => true,
                    Some(Value::Null) => !prop.nullable,
                    Some(_) => false,
                };
                if missing {
                    map.insert(name.clone(), default.clone());
                }
            }
            let additional = node.additional_schema();
            for (key, child) in map.iter_mut() {
                if resource && key == "metadata" {
                    continue;
                }
                if let Some(prop) = node.property(key) {
                    apply_defaults(prop, child, prop.embedded);
                } else if let Some(schema) = additional {
                    default_null(schema, child);
                    apply_defaults(schema, child, schema.embedded);
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for item in items {
                    default_null(schema, item);
                    apply_defaults(schema, item, schema.embedded);
                }
            }
        }
        _ => {}
    }
}

fn default_null(schema: &Node, value: &mut Value) {
    if value.is_null()
        && !schema.nullable
        && let Some(default) = &schema.default
    {
        value.clone_from(default);
    }
}

fn member_path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// Structural pruning; `root` is the resource root, whose type meta is kept
/// as is. Unknown-field paths are appended to `unknown`.
pub(super) fn prune(node: &Node, value: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    if node.preserve_unknown {
        prune_preserving(node, value, path, root, unknown);
        return;
    }
    match value {
        Value::Object(map) => {
            let embedded = root || node.embedded;
            map.retain(|key, child| {
                if root && TYPE_META_FIELDS.contains(&key.as_str()) {
                    return true;
                }
                if embedded {
                    match key.as_str() {
                        "apiVersion" | "kind" if child.is_string() => return true,
                        "metadata" if child.is_object() => {
                            coerce_metadata(child, &member_path(path, key), unknown);
                            return true;
                        }
                        _ => {}
                    }
                }
                let child_path = member_path(path, key);
                if let Some(prop) = node.property(key) {
                    prune(prop, child, &child_path, false, unknown);
                    return true;
                }
                match &node.additional {
                    Additional::Schema(schema) => {
                        prune(schema, child, &child_path, false, unknown);
                        true
                    }
                    Additional::Allow(true) => true,
                    Additional::Allow(false) | Additional::Absent => {
                        unknown.push(child_path);
                        false
                    }
                }
            });
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// Pruning below `x-kubernetes-preserve-unknown-fields`: unknown members stay,
/// known members are pruned by their own schema.
fn prune_preserving(node: &Node, value: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (root || node.embedded) && TYPE_META_FIELDS.contains(&key.as_str()) {
                    if !root && key == "metadata" && child.is_object() {
                        coerce_metadata(child, &member_path(path, key), unknown);
                    }
                    continue;
                }
                if let Some(schema) = node.child(key) {
                    prune(schema, child, &member_path(path, key), false, unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_preserving(schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// The round trip of embedded metadata through `ObjectMeta`: unknown fields
/// are dropped (and reported), empty ones vanish (`omitempty`).
fn coerce_metadata(meta: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if let Value::Object(map) = meta {
        map.retain(|key, value| {
            if !OBJECT_META_FIELDS.contains(&key.as_str()) {
                unknown.push(format!("{path}.{key}"));
                return false;
            }
            !is_go_empty(value)
        });
    }
}

fn is_go_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64().is_some_and(|f| f.classify() == FpCategory::Zero),
    }
}

/// Drops `null` members whose schema is neither nullable nor defaulted.
pub(super) fn prune_nulls(node: &Node, value: &mut Value, root: bool) {
    match value {
        Value::Object(map) => map.retain(|key, child| {
            if root && TYPE_META_FIELDS.contains(&key.as_str()) {
                return true;
            }
            let Some(schema) = node.child(key) else {
                return true;
            };
            if child.is_null() {
                return schema.nullable || schema.default.is_some();
            }
            prune_nulls(schema, child, false);
            true
        }),
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for item in items {
                    prune_nulls(schema, item, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::tests::{rollout_schema, schema};

    #[test]
    fn defaults_fill_absent_fields_and_defaulted_objects() {
        let s = schema(&rollout_schema());
        let mut obj = json!({"apiVersion": "x/v1", "kind": "Rollout", "metadata": {"name": "a"}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["spec"], json!({"replicas": 1}));
        let mut obj = json!({"spec": {"replicas": 3, "image": "x"}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["spec"]["replicas"], json!(3));
    }

    #[test]
    fn defaults_apply_inside_array_items() {
        let s = schema(&rollout_schema());
        let mut obj = json!({"spec": {"image": "x", "ports": [
            {"name": "http"}, {"name": "grpc", "port": 9000, "protocol": "UDP"}]}});
        s.default_and_prune(&mut obj);
        assert_eq!(
            obj["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "grpc", "port": 9000, "protocol": "UDP"}
            ])
        );
    }

    #[test]
    fn defaults_apply_inside_additional_properties_and_replace_nulls() {
        let s = schema(&json!({"type": "object", "properties": {"m": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {
                "x": {"type": "string", "default": "dx"},
                "n": {"type": "string", "nullable": true, "default": "dn"}
            }}
        }}}));
        let mut obj = json!({"m": {"one": {}, "two": {"x": null, "n": null}}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["m"], json!({"one": {"x": "dx", "n": "dn"}, "two": {"x": "dx", "n": null}}));
    }

    #[test]
    fn defaults_never_enter_metadata() {
        let s = schema(&json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}},
            "spec": {"type": "object", "properties": {"tpl": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {"metadata": {"type": "object", "default": {"labels": {"a": "b"}}}}
            }}}
        }}));
        let mut obj = json!({"metadata": {}, "spec": {"tpl": {"apiVersion": "v1", "kind": "Pod"}}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["metadata"], json!({}));
        assert_eq!(obj["spec"]["tpl"].get("metadata"), None);
    }

    #[test]
    fn prune_reports_unknown_fields_and_keeps_type_meta() {
        let s = schema(&rollout_schema());
        let mut obj = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "whatever": 1},
            "spec": {"image": "x", "bogus": true, "ports": [{"name": "a", "extra": 1}]},
            "top": 1
        });
        let unknown = s.default_and_prune_report(&mut obj);
        assert_eq!(unknown, vec!["spec.bogus", "spec.ports[0].extra", "top"]);
        assert_eq!(obj["metadata"], json!({"name": "demo", "whatever": 1}));
        assert_eq!(obj["apiVersion"], json!("argoproj.io/v1alpha1"));
        assert_eq!(obj["spec"]["ports"][0], json!({"name": "a", "port": 80, "protocol": "TCP"}));
    }

    #[test]
    fn preserve_unknown_fields_at_depth_still_prunes_known_children() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"free": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"strict": {"type": "object", "properties": {"a": {"type": "string"}}}}
            }}
        }}}));
        let mut obj = json!({"spec": {"free": {"x": {"deep": [1, {"y": 2}]},
            "strict": {"a": "ok", "b": "gone"}}, "nope": 1}});
        let unknown = s.default_and_prune_report(&mut obj);
        assert_eq!(unknown, vec!["spec.free.strict.b", "spec.nope"]);
        assert_eq!(obj, json!({"spec": {"free": {"x": {"deep": [1, {"y": 2}]}, "strict": {"a": "ok"}}}}));
    }

    #[test]
    fn preserve_unknown_fields_on_array_keeps_item_members() {
        let s = schema(&json!({"type": "object", "properties": {"xs": {
            "type": "array",
            "x-kubernetes-preserve-unknown-fields": true,
            "items": {"type": "object", "properties": {"a": {"type": "string"}}}
        }}}));
        let mut obj = json!({"xs": [{"a": "1", "b": 2}]});
        assert!(s.default_and_prune_report(&mut obj).is_empty());
        assert_eq!(obj, json!({"xs": [{"a": "1", "b": 2}]}));
    }
}

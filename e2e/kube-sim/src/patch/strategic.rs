//! Strategic merge patch (`application/strategic-merge-patch+json`) and its directives.

use serde_json::{Map, Value};

use super::{ListKeys, ListKind};

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Why a strategic merge patch could not be applied (the apiserver answers these with a 4xx).
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch (or the object being patched) is not a JSON object.
    #[error("strategic merge patch: the {what} must be a JSON object, found {found}")]
    NotAnObject {
        /// `"patch"` or `"target"`.
        what: &'static str,
        /// JSON type actually found.
        found: &'static str,
    },
    /// A `$patch` directive whose value is not `replace`, `delete` or `merge`.
    #[error("unknown patch type: {value} at {path}")]
    InvalidDirective {
        /// Dotted field path of the map or list holding the directive.
        path: String,
        /// The offending directive value, as JSON.
        value: String,
    },
    /// A `$retainKeys`, `$deleteFromPrimitiveList/…` or `$setElementOrder/…` directive of the wrong
    /// shape.
    #[error("invalid {directive} directive at {path}: {reason}")]
    InvalidDirectiveValue {
        /// Dotted field path of the map holding the directive.
        path: String,
        /// The directive key.
        directive: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An element of a merge-keyed list lacks its merge key.
    #[error("map: {element} at {path} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// Dotted field path of the list.
        path: String,
        /// The missing merge key.
        key: String,
        /// The offending element, as JSON.
        element: String,
    },
    /// A patched field is not listed in the `$retainKeys` directive of its map.
    #[error("doesn't satisfy $retainKeys at {path}: field {key} is not listed")]
    RetainKeys {
        /// Dotted field path of the map.
        path: String,
        /// The patched field missing from `$retainKeys`.
        key: String,
    },
}

/// RFC-compliant strategic merge patch, as the apiserver applies `application/strategic-merge-patch+json`.
///
/// Maps merge recursively, `null` deletes a key, scalars replace; lists merge per [`ListKeys`]
/// (keyed lists element-wise with new elements appended in patch order, sets as an order-preserving
/// union, atomic lists replaced). Directives: `$patch: replace|delete|merge` on maps and as list
/// elements, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
///
/// Approximations: `$setElementOrder` puts the listed elements first (in that order) and then the
/// others in their merged order, where the apiserver interleaves server-only elements by their old
/// position; a map deleted with `$patch: delete` (or a list emptied by
/// `$deleteFromPrimitiveList`) is removed rather than left empty, which is what a typed round trip
/// shows anyway; `$patch: merge` is accepted (as a no-op) wherever it appears.
///
/// # Errors
///
/// [`PatchError`] when the patch is not an object or carries a malformed directive, or when an element
/// of an existing merge-keyed list lacks its merge key. `target` is left partially patched on error:
/// patch a copy if that matters.
pub fn strategic_merge(target: &mut Value, patch: &Value, keys: &dyn ListKeys) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject { what: "patch", found: json_type(patch) });
    };
    let found = json_type(target);
    let Value::Object(target) = target else {
        return Err(PatchError::NotAnObject { what: "target", found });
    };
    let mut smp = Smp { keys, path: Vec::new() };
    if let Outcome::Delete = smp.map(target, patch)? {
        target.clear();
    }
    Ok(())
}

/// What the parent should do with a map once a patch has been merged into it.
enum Outcome {
    Keep,
    Delete,
}

fn is_directive_key(k: &str) -> bool {
    k == PATCH_DIRECTIVE || k == RETAIN_KEYS || k.starts_with(DELETE_FROM_PRIMITIVE) || k.starts_with(SET_ELEMENT_ORDER)
}

fn directive_of(v: &Value) -> Option<&Value> {
    v.as_object()?.get(PATCH_DIRECTIVE)
}

struct Smp<'a> {
    keys: &'a dyn ListKeys,
    path: Vec<String>,
}

impl Smp<'_> {
    fn kind(&self) -> ListKind {
        self.keys.list_kind(&strs(&self.path))
    }

    fn bad_directive(&self, value: &Value) -> PatchError {
        PatchError::InvalidDirective { path: dotted(&self.path), value: value.to_string() }
    }

    fn bad_value(&self, directive: &str, reason: &'static str) -> PatchError {
        PatchError::InvalidDirectiveValue { path: dotted(&self.path), directive: directive.to_owned(), reason }
    }

    /// Merges `patch` into the map `orig` (at `self.path`).
    fn map(&mut self, orig: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<Outcome, PatchError> {
        if let Some(d) = patch.get(PATCH_DIRECTIVE) {
            match d.as_str() {
                Some("replace") => orig.clear(),
                Some("delete") => return Ok(Outcome::Delete),
                Some("merge") => {}
                _ => return Err(self.bad_directive(d)),
            }
        }
        if let Some(retain) = patch.get(RETAIN_KEYS) {
            self.retain_keys(orig, patch, retain)?;
        }
        for (k, v) in patch {
            if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE) {
                self.delete_from_primitive(orig, k, field, v)?;
            }
        }
        for (k, pv) in patch {
            if is_directive_key(k) {
                continue;
            }
            self.path.push(k.clone());
            let result = self.merge_field(orig, k, pv);
            self.path.pop();
            result?;
        }
        for (k, v) in patch {
            if let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER) {
                self.set_element_order(orig, k, field, v)?;
            }
        }
        Ok(Outcome::Keep)
    }

    fn retain_keys(&self, orig: &mut Map<String, Value>, patch: &Map<String, Value>, retain: &Value) -> Result<(), PatchError> {
        let list = string_list(retain).ok_or_else(|| self.bad_value(RETAIN_KEYS, "must be a list of strings"))?;
        for (k, v) in patch {
            if v.is_null() || is_directive_key(k) {
                continue;
            }
            if !list.contains(&k.as_str()) {
                return Err(PatchError::RetainKeys { path: dotted(&self.path), key: k.clone() });
            }
        }
        orig.retain(|k, _| list.contains(&k.as_str()));
        Ok(())
    }

    fn delete_from_primitive(&self, orig: &mut Map<String, Value>, directive: &str, field: &str, v: &Value) -> Result<(), PatchError> {
        let Value::Array(del) = v else {
            return Err(self.bad_value(directive, "must be a list"));
        };
        if let Some(Value::Array(list)) = orig.get_mut(field) {
            list.retain(|x| !del.contains(x));
            if list.is_empty() {
                orig.shift_remove(field);
            }
        }
        Ok(())
    }

    fn set_element_order(&mut self, orig: &mut Map<String, Value>, directive: &str, field: &str, v: &Value) -> Result<(), PatchError> {
        let Value::Array(order) = v else {
            return Err(self.bad_value(directive, "must be a list"));
        };
        self.path.push(field.to_owned());
        let kind = self.kind();
        self.path.pop();
        if let Some(Value::Array(list)) = orig.get_mut(field) {
            reorder(list, order, &kind);
        }
        Ok(())
    }

    fn merge_field(&mut self, orig: &mut Map<String, Value>, k: &str, pv: &Value) -> Result<(), PatchError> {
        if pv.is_null() {
            orig.shift_remove(k);
            return Ok(());
        }
        let Some(ov) = orig.get_mut(k) else {
            if let Some(v) = self.clean(pv)? {
                orig.insert(k.to_owned(), v);
            }
            return Ok(());
        };
        if let Outcome::Delete = self.merge_present(ov, pv)? {
            orig.shift_remove(k);
        }
        Ok(())
    }

    fn merge_present(&mut self, ov: &mut Value, pv: &Value) -> Result<Outcome, PatchError> {
        match (ov, pv) {
            (Value::Object(om), Value::Object(pm)) => self.map(om, pm),
            (Value::Array(ol), Value::Array(pl)) => {
                self.list(ol, pl, true)?;
                Ok(Outcome::Keep)
            }
            (ov, pv) => match self.clean(pv)? {
                Some(v) => {
                    *ov = v;
                    Ok(Outcome::Keep)
                }
                None => Ok(Outcome::Delete),
            },
        }
    }

    /// A patch value landing where nothing was: directives are processed against emptiness and
    /// nulls dropped. `None` when the value deletes itself (`$patch: delete`).
    fn clean(&mut self, pv: &Value) -> Result<Option<Value>, PatchError> {
        Ok(match pv {
            Value::Object(pm) => self.clean_map(pm)?,
            Value::Array(pl) => {
                let mut l = Vec::new();
                self.list(&mut l, pl, false)?;
                Some(Value::Array(l))
            }
            other => Some(other.clone()),
        })
    }

    fn clean_map(&mut self, pm: &Map<String, Value>) -> Result<Option<Value>, PatchError> {
        let mut m = Map::new();
        Ok(match self.map(&mut m, pm)? {
            Outcome::Keep => Some(Value::Object(m)),
            Outcome::Delete => None,
        })
    }

    /// Merges a patch list into `orig`; `present` is false when the list did not exist before
    /// (then elements lacking their merge key are tolerated, as the apiserver does).
    fn list(&mut self, orig: &mut Vec<Value>, patch: &[Value], present: bool) -> Result<(), PatchError> {
        match self.kind() {
            ListKind::Atomic => {
                let mut out = Vec::with_capacity(patch.len());
                for p in patch {
                    if let Some(v) = self.clean(p)? {
                        out.push(v);
                    }
                }
                *orig = out;
                Ok(())
            }
            ListKind::Set => self.set_list(orig, patch),
            ListKind::Map(keys) => {
                let scalars = patch.iter().chain(orig.iter()).any(|v| !v.is_object() && !v.is_null());
                if scalars { self.set_list(orig, patch) } else { self.keyed_list(orig, patch, &keys, present) }
            }
        }
    }

    fn set_list(&mut self, orig: &mut Vec<Value>, patch: &[Value]) -> Result<(), PatchError> {
        let mut replace = false;
        let mut items = Vec::new();
        for p in patch {
            if p.is_null() {
                continue;
            }
            if let Some(d) = directive_of(p) {
                match d.as_str() {
                    Some("replace") => replace = true,
                    Some("merge") => {}
                    _ => return Err(self.bad_directive(d)),
                }
                continue;
            }
            if let Some(v) = self.clean(p)? {
                items.push(v);
            }
        }
        if replace {
            orig.clear();
        }
        for item in items {
            if !orig.contains(&item) {
                orig.push(item);
            }
        }
        Ok(())
    }

    fn keyed_list(&mut self, orig: &mut Vec<Value>, patch: &[Value], keys: &[String], present: bool) -> Result<(), PatchError> {
        let mut strict = present;
        let mut rest = Vec::new();
        for pm in patch.iter().filter_map(Value::as_object) {
            let Some(d) = pm.get(PATCH_DIRECTIVE) else {
                rest.push(pm);
                continue;
            };
            match d.as_str() {
                Some("delete") => {
                    let key = key_fields(pm, keys).map_err(|k| self.missing_key(pm, k))?;
                    orig.retain(|o| !matches_key(o, &key));
                }
                Some("replace") => {
                    orig.clear();
                    strict = false;
                }
                Some("merge") => rest.push(pm),
                _ => return Err(self.bad_directive(d)),
            }
        }
        for pm in rest {
            match key_fields(pm, keys) {
                Ok(key) => {
                    if let Some(Value::Object(om)) = orig.iter_mut().find(|o| matches_key(o, &key)) {
                        self.map(om, pm)?;
                    } else if let Some(v) = self.clean_map(pm)? {
                        orig.push(v);
                    }
                }
                Err(missing) if strict => return Err(self.missing_key(pm, missing)),
                Err(_) => {
                    if let Some(v) = self.clean_map(pm)? {
                        orig.push(v);
                    }
                }
            }
        }
        Ok(())
    }

    fn missing_key(&self, element: &Map<String, Value>, key: &str) -> PatchError {
        PatchError::MissingMergeKey { path: dotted(&self.path), key: key.to_owned(), element: Value::Object(element.clone()).to_string() }
    }
}

/// Applies `$setElementOrder`: listed elements first, in that order, then the rest.
fn reorder(list: &mut Vec<Value>, order: &[Value], kind: &ListKind) {
    let mut slots: Vec<Option<Value>> = std::mem::take(list).into_iter().map(Some).collect();
    for o in order {
        let slot = slots.iter_mut().find(|s| s.as_ref().is_some_and(|v| order_matches(v, o, kind)));
        if let Some(v) = slot.and_then(Option::take) {
            list.push(v);
        }
    }
    list.extend(slots.into_iter().flatten());
}

fn order_matches(v: &Value, o: &Value, kind: &ListKind) -> bool {
    if let (ListKind::Map(keys), Value::Object(om), Value::Object(vm)) = (kind, o, v) {
        let mut any = false;
        for k in keys {
            if let Some(ov) = om.get(k) {
                any = true;
                if vm.get(k) != Some(ov) {
                    return false;
                }
            }
        }
        return any;
    }
    v == o
}

/// The merge-key fields of a list element, sorted by name; `Err(name)` names a missing one.
pub(super) fn key_fields<'k>(item: &Map<String, Value>, keys: &'k [String]) -> Result<Map<String, Value>, &'k str> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut out = Map::new();
    for k in sorted {
        let v = item.get(k).ok_or(k.as_str())?;
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

pub(super) fn matches_key(o: &Value, key: &Map<String, Value>) -> bool {
    o.as_object().is_some_and(|om| key.iter().all(|(k, v)| om.get(k) == Some(v)))
}

fn string_list(v: &Value) -> Option<Vec<&str>> {
    v.as_array()?.iter().map(Value::as_str).collect()
}

pub(super) fn strs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

fn dotted(path: &[String]) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.iter().fold(String::new(), |mut s, p| {
            s.push('.');
            s.push_str(p);
            s
        })
    }
}

pub(super) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::patch::{AtomicLists, BuiltinListKeys};

    use super::*;

    fn smp(target: Value, patch: &Value) -> Value {
        let mut t = target;
        strategic_merge(&mut t, patch, &BuiltinListKeys).expect("patch applies");
        t
    }

    fn smp_err(target: Value, patch: &Value) -> PatchError {
        let mut t = target;
        strategic_merge(&mut t, patch, &BuiltinListKeys).expect_err("patch must fail")
    }

    fn pod_containers(containers: &Value) -> Value {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":containers}})
    }

    fn has_directive(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, c)| k.starts_with('$') || has_directive(c)),
            Value::Array(l) => l.iter().any(has_directive),
            _ => false,
        }
    }

    #[test]
    fn smp_maps_merge_recursively_null_deletes_scalars_replace() {
        let out = smp(
            json!({"metadata":{"name":"a","labels":{"x":"1","y":"2"}},"spec":{"replicas":1,"paused":true}}),
            &json!({"metadata":{"labels":{"x":null,"z":"3"}},"spec":{"replicas":3,"paused":null}}),
        );
        assert_eq!(out, json!({"metadata":{"name":"a","labels":{"y":"2","z":"3"}},"spec":{"replicas":3}}));
    }

    #[test]
    fn smp_keyed_list_merges_by_name_and_appends_new() {
        let out = smp(
            pod_containers(&json!([{"name":"a","image":"a1"},{"name":"b","image":"b1"}])),
            &json!({"spec":{"containers":[{"name":"b","image":"b2"},{"name":"c","image":"c1"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name":"a","image":"a1"},{"name":"b","image":"b2"},{"name":"c","image":"c1"}]));
    }

    #[test]
    fn smp_nested_env_merges_by_name() {
        let out = smp(
            pod_containers(&json!([{"name":"a","env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}]}])),
            &json!({"spec":{"containers":[{"name":"a","env":[{"name":"Y","value":"3"},{"name":"Z","value":"4"}]}]}}),
        );
        assert_eq!(
            out["spec"]["containers"][0]["env"],
            json!([{"name":"X","value":"1"},{"name":"Y","value":"3"},{"name":"Z","value":"4"}])
        );
    }

    #[test]
    fn smp_container_ports_and_service_ports_keys() {
        let out = smp(
            pod_containers(&json!([{"name":"a","ports":[{"containerPort":80,"name":"http"}]}])),
            &json!({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"web"},{"containerPort":443}]}]}}),
        );
        assert_eq!(out["spec"]["containers"][0]["ports"], json!([{"containerPort":80,"name":"web"},{"containerPort":443}]));
        let svc = smp(
            json!({"kind":"Service","spec":{"ports":[{"port":80,"targetPort":8080}]}}),
            &json!({"spec":{"ports":[{"port":80,"targetPort":9090},{"port":81}]}}),
        );
        assert_eq!(svc["spec"]["ports"], json!([{"port":80,"targetPort":9090},{"port":81}]));
    }

    #[test]
    fn smp_finalizers_are_a_set_other_primitive_lists_atomic() {
        let out = smp(
            json!({"metadata":{"finalizers":["a","b"]},"spec":{"finalizers":["kubernetes"]}}),
            &json!({"metadata":{"finalizers":["b","c"]},"spec":{"finalizers":["x"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        assert_eq!(out["spec"]["finalizers"], json!(["x"]));
    }

    #[test]
    fn smp_atomic_lists_replace() {
        let out = smp(
            pod_containers(&json!([{"name":"a","args":["1","2"]}])),
            &json!({"spec":{"containers":[{"name":"a","args":["3"]}],"tolerations":[{"key":"k"}]}}),
        );
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["3"]));
        assert_eq!(out["spec"]["tolerations"], json!([{"key":"k"}]));
        let out = smp(json!({"spec":{"tolerations":[{"key":"a"},{"key":"b"}]}}), &json!({"spec":{"tolerations":[{"key":"c"}]}}));
        assert_eq!(out["spec"]["tolerations"], json!([{"key":"c"}]));
    }

    #[test]
    fn smp_patch_replace_on_map() {
        let out = smp(
            json!({"spec":{"selector":{"matchLabels":{"a":"1"},"matchExpressions":[{"key":"x"}]},"replicas":1}}),
            &json!({"spec":{"selector":{"$patch":"replace","matchLabels":{"b":"2"}}}}),
        );
        assert_eq!(out, json!({"spec":{"selector":{"matchLabels":{"b":"2"}},"replicas":1}}));
    }

    #[test]
    fn smp_patch_delete_on_map_and_whole_object() {
        let out = smp(json!({"metadata":{"name":"a","annotations":{"x":"1"}}}), &json!({"metadata":{"annotations":{"$patch":"delete"}}}));
        assert_eq!(out, json!({"metadata":{"name":"a"}}));
        let out = smp(json!({"a":1}), &json!({"$patch":"delete"}));
        assert_eq!(out, json!({}));
    }

    #[test]
    fn smp_patch_delete_list_element() {
        let out = smp(
            pod_containers(&json!([{"name":"a"},{"name":"b"},{"name":"c"}])),
            &json!({"spec":{"containers":[{"name":"b","$patch":"delete"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name":"a"},{"name":"c"}]));
    }

    #[test]
    fn smp_patch_replace_list() {
        let out = smp(
            pod_containers(&json!([{"name":"a","image":"x"},{"name":"b"}])),
            &json!({"spec":{"containers":[{"$patch":"replace"},{"name":"z","image":"z"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name":"z","image":"z"}]));
        let out = smp(json!({"metadata":{"finalizers":["a","b"]}}), &json!({"metadata":{"finalizers":[{"$patch":"replace"},"c"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["c"]));
    }

    #[test]
    fn smp_delete_from_primitive_list() {
        let out =
            smp(json!({"metadata":{"finalizers":["a","b","c"]}}), &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","c"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let out =
            smp(json!({"metadata":{"name":"n","finalizers":["a"]}}), &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}));
        assert_eq!(out, json!({"metadata":{"name":"n"}}));
        let out = smp(
            json!({"metadata":{"finalizers":["a"]}}),
            &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"finalizers":["z"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["z"]));
    }

    #[test]
    fn smp_set_element_order() {
        let out = smp(
            pod_containers(&json!([{"name":"a"},{"name":"b"},{"name":"c"}])),
            &json!({"spec":{
                "$setElementOrder/containers":[{"name":"c"},{"name":"a"}],
                "containers":[{"name":"a","image":"new"}]
            }}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name":"c"},{"name":"a","image":"new"},{"name":"b"}]));
        let out = smp(json!({"metadata":{"finalizers":["a","b","c"]}}), &json!({"metadata":{"$setElementOrder/finalizers":["c","b"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "b", "a"]));
    }

    #[test]
    fn smp_retain_keys() {
        let out = smp(
            json!({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}),
            &json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}),
        );
        assert_eq!(out, json!({"spec":{"strategy":{"type":"Recreate"}}}));
        let err = smp_err(json!({"spec":{"strategy":{}}}), &json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}}));
        assert!(matches!(err, PatchError::RetainKeys { ref key, .. } if key == "rollingUpdate"));
    }

    #[test]
    fn smp_errors() {
        let err = smp_err(json!({"a":{}}), &json!({"a":{"$patch":"explode"}}));
        assert!(matches!(err, PatchError::InvalidDirective { ref path, .. } if path == ".a"));
        let err = smp_err(pod_containers(&json!([{"name":"a"}])), &json!({"spec":{"containers":[{"image":"x"}]}}));
        assert!(matches!(err, PatchError::MissingMergeKey { ref key, .. } if key == "name"));
        assert!(err.to_string().contains("does not contain declared merge key: name"));
        let err = smp_err(json!({}), &json!(["not", "an", "object"]));
        assert!(matches!(err, PatchError::NotAnObject { what: "patch", .. }));
        let err = smp_err(json!({}), &json!({"$setElementOrder/x": "nope"}));
        assert!(matches!(err, PatchError::InvalidDirectiveValue { .. }));
        let err = smp_err(json!({}), &json!({"$retainKeys": [1]}));
        assert!(matches!(err, PatchError::InvalidDirectiveValue { .. }));
        let err = smp_err(pod_containers(&json!([{"name":"a"}])), &json!({"spec":{"containers":[{"$patch":"delete"}]}}));
        assert!(matches!(err, PatchError::MissingMergeKey { .. }));
    }

    #[test]
    fn smp_directives_never_remain_in_new_subtrees() {
        let out = smp(
            json!({"metadata":{"name":"n"}}),
            &json!({
                "spec":{"template":{"spec":{"containers":[
                    {"name":"a","$patch":"merge","env":[{"name":"E","value":null}]},
                    {"name":"b","$patch":"delete"}
                ]}},"extra":{"gone":null}},
                "metadata":{"labels":{"$patch":"replace","a":"1"},"annotations":{"$retainKeys":["x"],"x":"y"}},
                "status":{"$patch":"delete"}
            }),
        );
        assert!(!has_directive(&out), "{out}");
        assert_eq!(
            out,
            json!({
                "metadata":{"name":"n","labels":{"a":"1"},"annotations":{"x":"y"}},
                "spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"E"}]}]}},"extra":{}}
            })
        );
    }

    #[test]
    fn smp_new_keyed_list_tolerates_missing_keys_like_apiserver() {
        let out = smp(json!({"spec":{}}), &json!({"spec":{"containers":[{"image":"x"}]}}));
        assert_eq!(out["spec"]["containers"], json!([{"image":"x"}]));
    }

    #[test]
    fn smp_atomic_lists_schema_replaces_everything() {
        let mut t = pod_containers(&json!([{"name":"a"},{"name":"b"}]));
        strategic_merge(&mut t, &json!({"spec":{"containers":[{"name":"c"}]}}), &AtomicLists).expect("patch applies");
        assert_eq!(t["spec"]["containers"], json!([{"name":"c"}]));
    }

    #[test]
    fn smp_conditions_merge_by_type() {
        let out = smp(
            json!({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Scheduled","status":"True"}]}}),
            &json!({"status":{"conditions":[{"type":"Ready","status":"True","reason":"ok"}]}}),
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type":"Ready","status":"True","reason":"ok"},{"type":"Scheduled","status":"True"}])
        );
    }
}

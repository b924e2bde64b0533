//! The JSON merge patch (RFC 7386) that turns the observed status into the planned one, touching nothing else.
//!
//! Pure. Writing only the difference is what keeps user commands safe: `kubectl serin abort`, Argo CD's resource
//! actions and the Argo plugin all merge-patch fields such as `status.abort` or `status.pauseConditions`; a field
//! the controller did not change is not in the patch, so it is never overwritten from a stale copy. The executor
//! adds a `resourceVersion` precondition on top, so a command that lands between observe and write yields a 409
//! and a fresh plan rather than a lost update.

use serde_json::{Map, Value};

/// The merge patch from `old` to `new`, or `None` when they are equal. Objects are diffed key by key (a removed key
/// becomes `null`); arrays and scalars are replaced whole, as merge patch requires.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, old_value) in old {
                match new.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) => {
                        if let Some(diff) = merge_diff(old_value, new_value) {
                            patch.insert(key.clone(), diff);
                        }
                    }
                }
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    patch.insert(key.clone(), strip_nulls(new_value));
                }
            }
            if patch.is_empty() { None } else { Some(Value::Object(patch)) }
        }
        (old, new) if old == new => None,
        (_, new) => Some(strip_nulls(new)),
    }
}

/// A value added under a new key must not carry `null`s: in a merge patch they would mean "delete".
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// RFC 7386 application, to check that applying the diff reproduces the target.
    fn apply(target: &Value, patch: &Value) -> Value {
        match patch {
            Value::Object(p) => {
                let mut out = target.as_object().cloned().unwrap_or_default();
                for (k, v) in p {
                    if v.is_null() {
                        out.remove(k);
                    } else {
                        let merged = apply(out.get(k).unwrap_or(&Value::Null), v);
                        out.insert(k.clone(), merged);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    #[test]
    fn equal_values_give_no_patch() {
        let v = json!({"phase": "Healthy", "conditions": [{"type": "Available"}]});
        assert_eq!(merge_diff(&v, &v), None);
    }

    #[test]
    fn only_changed_keys_are_written() {
        let old = json!({"phase": "Paused", "abort": true, "pauseConditions": [{"reason": "CanaryPauseStep"}], "canary": {"weights": {"canary": 1}}});
        let new = json!({"phase": "Progressing", "abort": true, "canary": {"weights": {"canary": 2}}, "currentStepIndex": 2});
        let patch = merge_diff(&old, &new).unwrap();
        assert_eq!(
            patch,
            json!({"phase": "Progressing", "pauseConditions": null, "canary": {"weights": {"canary": 2}}, "currentStepIndex": 2})
        );
        assert_eq!(apply(&old, &patch), new);
    }

    #[test]
    fn arrays_are_replaced_whole() {
        let old = json!({"conditions": [{"type": "A"}, {"type": "B"}]});
        let new = json!({"conditions": [{"type": "B"}]});
        assert_eq!(merge_diff(&old, &new).unwrap(), new);
    }
}

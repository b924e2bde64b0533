//! Server-side printing: `meta.k8s.io/v1` `Table` responses for `kubectl get`, with the built-in columns of the
//! kinds kube-sim stores and the `additionalPrinterColumns` of CRDs. Pure: time is passed in.

use std::sync::Arc;

use serde_json::{Value, json};

use super::resources::ResourceType;

/// Kubernetes' `HumanDuration` (the `AGE` column).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        if secs % 60 == 0 { format!("{mins}m") } else { format!("{mins}m{}s", secs % 60) }
    } else if mins < 180 {
        format!("{mins}m")
    } else if hours < 8 {
        if mins % 60 == 0 { format!("{hours}h") } else { format!("{hours}h{}m", mins % 60) }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 192 {
        if hours % 24 == 0 { format!("{days}d") } else { format!("{days}d{}h", hours % 24) }
    } else if days < 730 {
        format!("{days}d")
    } else {
        let years = days / 365;
        if years < 8 { format!("{years}y{}d", days % 365) } else { format!("{years}y") }
    }
}

fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(jiff::Timestamp::as_second)
}

fn age(obj: &Value, now: i64) -> Value {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .map_or(json!("<unknown>"), |t| json!(human_duration(now - t)))
}

/// Evaluates the `JSONPath` subset used by printer columns: `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b`.
/// Returns every match (a `[*]` or filter may yield several).
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    let mut cur: Vec<&Value> = vec![obj];
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            rest = &r[end..];
            if field.is_empty() {
                continue;
            }
            cur = cur.into_iter().filter_map(|v| v.get(field)).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return Vec::new() };
            let sel = &r[..end];
            rest = &r[end + 1..];
            cur = if sel == "*" {
                cur.into_iter().flat_map(|v| v.as_array().map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_default()).collect()
            } else if let Some(filter) = sel.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let Some((k, want)) = filter.split_once("==") else { return Vec::new() };
                let want = want.trim().trim_matches(['"', '\'']);
                cur.into_iter()
                    .flat_map(|v| v.as_array().map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_default())
                    .filter(|e| e.get(k.trim()).is_some_and(|x| x.as_str().map_or_else(|| *x == want, |s| s == want)))
                    .collect()
            } else if let Ok(i) = sel.parse::<usize>() {
                cur.into_iter().filter_map(|v| v.get(i)).collect()
            } else {
                cur.into_iter().filter_map(|v| v.get(sel.trim_matches(['"', '\'']))).collect()
            };
        } else {
            return Vec::new();
        }
    }
    cur
}

fn cell(obj: &Value, path: &str, type_: &str, now: i64) -> Value {
    let found = json_path(obj, path);
    match found.as_slice() {
        [] => Value::Null,
        [one] if type_ == "date" => one.as_str().and_then(parse_time).map_or((*one).clone(), |t| json!(human_duration(now - t))),
        [one] => (*one).clone(),
        many => json!(many.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join(",")),
    }
}

fn pod_cells(obj: &Value) -> Vec<Value> {
    let statuses = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
    let total = obj.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    let ready = statuses.map_or(0, |s| s.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count());
    let restarts: i64 = statuses.map_or(0, |s| s.iter().filter_map(|c| c.get("restartCount").and_then(Value::as_i64)).sum());
    let mut status = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending").to_owned();
    if let Some(s) = statuses {
        for c in s {
            if let Some(reason) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
                reason.clone_into(&mut status);
            }
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        status = "Terminating".into();
    }
    vec![json!(format!("{ready}/{total}")), json!(status), json!(restarts)]
}

fn is_pods(rt: &ResourceType) -> bool {
    rt.gr.group.is_empty() && rt.gr.resource == "pods"
}

/// Whether the table ends with an `Age` column the type does not declare: built-in printers always show one; a
/// custom resource shows one only when its CRD version declares no `additionalPrinterColumns` (declaring any
/// replaces the default `Age`).
fn implied_age(rt: &ResourceType) -> bool {
    if rt.custom { rt.columns.is_empty() } else { !rt.columns.iter().any(|c| c.name == "Age") }
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    if is_pods(rt) {
        for (n, t) in [("Ready", "string"), ("Status", "string"), ("Restarts", "integer")] {
            cols.push(json!({"name": n, "type": t, "format": "", "description": "", "priority": 0}));
        }
    }
    for c in &rt.columns {
        cols.push(json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": c.priority}));
    }
    if implied_age(rt) {
        cols.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}));
    }
    if is_pods(rt) {
        // `kubectl get pods -o wide` columns.
        for n in ["IP", "Node"] {
            cols.push(json!({"name": n, "type": "string", "format": "", "description": "", "priority": 1}));
        }
    }
    cols
}

fn row(rt: &ResourceType, obj: &Value, now: i64, include_object: bool) -> Value {
    let mut cells = vec![obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
    if is_pods(rt) {
        cells.extend(pod_cells(obj));
    }
    for c in &rt.columns {
        cells.push(cell(obj, &c.json_path, &c.type_, now));
    }
    if implied_age(rt) {
        cells.push(age(obj, now));
    }
    if is_pods(rt) {
        for p in ["/status/podIP", "/spec/nodeName"] {
            cells.push(obj.pointer(p).cloned().unwrap_or(json!("<none>")));
        }
    }
    let object = if include_object {
        obj.clone()
    } else {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
    };
    json!({"cells": cells, "object": object})
}

/// A `Table` for a list (or a single object / watch event, with one row).
pub fn table(
    rt: &ResourceType,
    items: &[Arc<Value>],
    resource_version: Option<u64>,
    continue_token: Option<&str>,
    include_object: bool,
    with_columns: bool,
    now: i64,
) -> Value {
    let mut meta = json!({});
    if let Some(rv) = resource_version {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": if with_columns { Value::Array(columns(rt)) } else { Value::Null },
        "rows": items.iter().map(|o| row(rt, o, now, include_object)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(130), "2m10s");
        assert_eq!(human_duration(900), "15m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(50 * 3600), "2d2h");
    }

    #[test]
    fn json_path_subset() {
        let v = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Other", "status": "False"}]}, "a": [{"b": 1}, {"b": 2}]});
        assert_eq!(json_path(&v, ".status.conditions[?(@.type==\"Ready\")].status"), vec![&json!("True")]);
        assert_eq!(json_path(&v, ".a[*].b").len(), 2);
        assert_eq!(json_path(&v, ".a[1].b"), vec![&json!(2)]);
        assert!(json_path(&v, ".missing.x").is_empty());
    }
}

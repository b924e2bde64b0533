//! `metadata.managedFields`: field sets in the `FieldsV1` format, managedFields entries, and the bookkeeping
//! of non-apply writes ([`record_update`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::apply::{Cursor, Diff, Schema};
use super::{BuiltinListKeys, ListKeys};

// ---------------------------------------------------------------------------------------------------
// Field sets (FieldsV1)
// ---------------------------------------------------------------------------------------------------

/// A set of field paths, shaped like `FieldsV1`: children keyed by serialized path elements
/// (`f:<field>`, `k:<key json>`, `v:<value json>`, `i:<index>`), `member` marking the node itself.
/// Kept pruned: no child is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FieldSet {
    pub(super) member: bool,
    pub(super) children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    pub(super) fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for pe in path {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.member = true;
    }

    fn get_mut(&mut self, path: &[&str]) -> Option<&mut FieldSet> {
        let mut node = self;
        for pe in path {
            node = node.children.get_mut(*pe)?;
        }
        Some(node)
    }

    pub(super) fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.children.entry(k.clone()).or_default().union_with(c);
        }
    }

    pub(super) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    pub(super) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && !other.member, children: BTreeMap::new() };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub(super) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && other.member, children: BTreeMap::new() };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    fn prune(&mut self) {
        for c in self.children.values_mut() {
            c.prune();
        }
        self.children.retain(|_, c| !c.is_empty());
    }

    /// Member paths, in structured-merge-diff's iteration order (a level's members before deeper ones).
    pub(super) fn members(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_members(&mut Vec::new(), &mut out);
        out
    }

    fn collect_members(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (k, c) in &self.children {
            if c.member {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p);
            }
        }
        for (k, c) in &self.children {
            if !c.children.is_empty() {
                prefix.push(k.clone());
                c.collect_members(prefix, out);
                prefix.pop();
            }
        }
    }

    fn from_fields_v1(v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        if let Value::Object(m) = v {
            for (k, c) in m {
                if k == "." {
                    set.member = true;
                    continue;
                }
                let mut child = FieldSet::from_fields_v1(c);
                if c.as_object().is_none_or(Map::is_empty) {
                    child.member = true;
                }
                if !child.is_empty() {
                    set.children.insert(k.clone(), child);
                }
            }
        }
        set
    }

    fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }
}

/// Removes the fields the apiserver never tracks in managed fields (its "strip meta" set).
pub(super) fn strip_meta(set: &mut FieldSet) {
    for top in ["f:apiVersion", "f:kind"] {
        if let Some(n) = set.children.get_mut(top) {
            n.member = false;
        }
    }
    if let Some(md) = set.children.get_mut("f:metadata") {
        md.member = false;
        md.children.remove("f:managedFields");
        for f in
            ["f:name", "f:namespace", "f:creationTimestamp", "f:selfLink", "f:uid", "f:clusterName", "f:generation", "f:resourceVersion"]
        {
            if let Some(n) = md.children.get_mut(f) {
                n.member = false;
            }
        }
    }
    set.prune();
}

pub(super) fn key_elem_from(key: &Map<String, Value>) -> String {
    format!("k:{}", Value::Object(key.clone()))
}

/// `k:` element of a list item from the key fields it has (lenient: for stored objects).
pub(super) fn key_elem(item: &Value, keys: &[String]) -> Option<String> {
    let m = item.as_object()?;
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut key = Map::new();
    for k in sorted {
        if let Some(v) = m.get(k) {
            key.insert(k.clone(), v.clone());
        }
    }
    (!key.is_empty()).then(|| key_elem_from(&key))
}

pub(super) fn value_elem(v: &Value) -> String {
    format!("v:{v}")
}

/// Renders a path the way structured-merge-diff prints it: `.spec.containers[name="nginx"].image`.
pub(super) fn display_path(elems: &[String]) -> String {
    let mut s = String::new();
    for e in elems {
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            s.push('[');
            match serde_json::from_str::<Map<String, Value>>(k) {
                Ok(m) => {
                    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    s.push_str(&parts.join(","));
                }
                Err(_) => s.push_str(k),
            }
            s.push(']');
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str("[=");
            s.push_str(v);
            s.push(']');
        } else if let Some(i) = e.strip_prefix("i:") {
            s.push('[');
            s.push_str(i);
            s.push(']');
        } else {
            s.push_str(e);
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------------
// managedFields entries
// ---------------------------------------------------------------------------------------------------

pub(super) const APPLY: &str = "Apply";
pub(super) const UPDATE: &str = "Update";

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) manager: String,
    pub(super) operation: String,
    pub(super) api_version: String,
    pub(super) time: Option<Value>,
    pub(super) subresource: Option<String>,
    pub(super) fields: FieldSet,
}

impl Entry {
    /// The apiserver's manager identity: manager, operation, subresource, and for updates the
    /// API version too.
    pub(super) fn is(&self, manager: &str, operation: &str, subresource: Option<&str>, api: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == APPLY || self.api_version == api)
    }

    fn decode(v: &Value) -> Option<Entry> {
        let m = v.as_object()?;
        Some(Entry {
            manager: m.get("manager")?.as_str()?.to_owned(),
            operation: m.get("operation")?.as_str()?.to_owned(),
            api_version: m.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned(),
            time: m.get("time").filter(|t| !t.is_null()).cloned(),
            subresource: m.get("subresource").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned),
            fields: m.get("fieldsV1").map(FieldSet::from_fields_v1).unwrap_or_default(),
        })
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.clone()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone());
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }

    fn time_str(&self) -> &str {
        self.time.as_ref().and_then(Value::as_str).unwrap_or("")
    }
}

pub(super) fn decode_entries(v: Option<&Value>) -> Vec<Entry> {
    v.and_then(Value::as_array).map(|l| l.iter().filter_map(Entry::decode).collect()).unwrap_or_default()
}

/// Removes and returns `metadata.managedFields`.
pub(super) fn take_managed(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")?.as_object_mut()?.shift_remove("managedFields")
}

/// Writes `entries` (empty ones dropped, sorted like the apiserver does) as `metadata.managedFields`.
pub(super) fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    for e in &mut entries {
        strip_meta(&mut e.fields);
    }
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        let key = |e: &Entry| {
            (
                e.operation.clone(),
                e.time_str().to_owned(),
                e.manager.clone(),
                e.api_version.clone(),
                e.subresource.clone().unwrap_or_default(),
            )
        };
        key(a).cmp(&key(b))
    });
    let Value::Object(root) = obj else { return };
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else { return };
    if entries.is_empty() {
        meta.shift_remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries.iter().map(Entry::encode).collect()));
    }
}

// ---------------------------------------------------------------------------------------------------
// Update bookkeeping
// ---------------------------------------------------------------------------------------------------

/// Struct-typed fields an empty typed object already has on create, so the creator does not own
/// them as such (cosmetic: matches the `.` markers the apiserver records).
const CREATE_SKELETON: [&[&str]; 9] = [
    &["f:spec"],
    &["f:status"],
    &["f:spec", "f:containers"],
    &["f:spec", "f:strategy"],
    &["f:spec", "f:jobTemplate"],
    &["f:spec", "f:template"],
    &["f:spec", "f:template", "f:metadata"],
    &["f:spec", "f:template", "f:spec"],
    &["f:spec", "f:template", "f:spec", "f:containers"],
];

/// Records a non-apply write (create/update/patch) in managedFields: the fields whose values changed (or
/// were set on create) become owned by `manager` with operation "Update", and are removed from other
/// managers' sets. Uses [`BuiltinListKeys`]; see [`record_update_with_keys`].
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, api_version: &str, subresource: Option<&str>, now: &str) {
    record_update_with_keys(old, new, manager, api_version, subresource, now, &BuiltinListKeys);
}

/// [`record_update`] with explicit list semantics.
///
/// The managed fields start from `new`'s `metadata.managedFields` when the client sent a non-empty
/// list (`[{}]` resets them to nothing), else from `old`'s, as the apiserver does. Fields removed by
/// the write leave every manager's set; fields added or modified move to the entry of
/// (`manager`, `Update`, `subresource`, `api_version`), whose time becomes `now`. A write that changes
/// nothing leaves the entries as they were.
pub fn record_update_with_keys(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
    keys: &dyn ListKeys,
) {
    if !new.is_object() {
        return;
    }
    let sent = take_managed(new);
    let mut base = old.filter(|v| v.is_object()).cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let stored = take_managed(&mut base);
    let mut entries = match &sent {
        Some(Value::Array(l)) if l.len() == 1 && l[0].as_object().is_some_and(Map::is_empty) => Vec::new(),
        Some(v) => {
            let decoded = decode_entries(Some(v));
            if decoded.is_empty() { decode_entries(stored.as_ref()) } else { decoded }
        }
        None => decode_entries(stored.as_ref()),
    };

    let schema = Schema { keys };
    let mut diff = Diff::default();
    schema.compare(&base, new, &mut Cursor::default(), &mut diff);
    if old.is_none() {
        for path in CREATE_SKELETON {
            if let Some(n) = diff.added.get_mut(path) {
                n.member = false;
            }
        }
    }
    diff.strip();
    let changed = diff.changed();

    for e in &mut entries {
        e.fields = e.fields.difference(&changed).difference(&diff.removed);
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| e.is(manager, UPDATE, subresource, api_version)) {
            Some(e) => {
                e.fields.union_with(&changed);
                e.time = Some(Value::String(now.to_owned()));
            }
            None => entries.push(Entry {
                manager: manager.to_owned(),
                operation: UPDATE.to_owned(),
                api_version: api_version.to_owned(),
                time: Some(Value::String(now.to_owned())),
                subresource: subresource.map(str::to_owned),
                fields: changed,
            }),
        }
    }
    write_entries(new, entries);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::patch::ApplyError;
    use crate::patch::tests::{apply, apply_err, deployment, entry, fields, req, without_managed};

    use super::*;

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:metadata":{"f:labels":{".":{},"f:app":{}},"f:finalizers":{".":{},"v:\"a\"":{}}},
            "f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}},"f:replicas":{}}
        });
        let set = FieldSet::from_fields_v1(&v);
        assert_eq!(set.to_fields_v1(), v);
        let paths: Vec<String> = set.members().iter().map(|p| display_path(p)).collect();
        assert_eq!(
            paths,
            vec![
                ".metadata.finalizers",
                ".metadata.labels",
                ".metadata.finalizers[=\"a\"]",
                ".metadata.labels.app",
                ".spec.replicas",
                ".spec.containers[name=\"nginx\"]",
                ".spec.containers[name=\"nginx\"].image",
                ".spec.containers[name=\"nginx\"].name",
            ]
        );
    }

    #[test]
    fn atomic_list_items_are_owned_whole() {
        let mut rs = json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"r",
            "ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"d","uid":"u1"}]}});
        record_update(None, &mut rs, "kube-controller-manager", "apps/v1", None, "T1");
        assert_eq!(
            fields(&rs, "kube-controller-manager", "Update"),
            &json!({"f:metadata":{"f:ownerReferences":{".":{},"k:{\"uid\":\"u1\"}":{}}}})
        );
    }

    #[test]
    fn record_update_on_create_owns_everything_set() {
        let mut cm = json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"c","namespace":"d","uid":"u","resourceVersion":"1","labels":{"app":"x"}},
            "data":{"k":"v"}});
        record_update(None, &mut cm, "kubectl-create", "v1", None, "T1");
        assert_eq!(
            cm["metadata"]["managedFields"],
            json!([{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"T1",
                "fieldsType":"FieldsV1",
                "fieldsV1":{"f:data":{".":{},"f:k":{}},"f:metadata":{"f:labels":{".":{},"f:app":{}}}}}])
        );
        let mut dep = deployment(1, "x");
        record_update(None, &mut dep, "kubectl-create", "apps/v1", None, "T1");
        assert_eq!(
            fields(&dep, "kubectl-create", "Update"),
            &json!({"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{
                "f:metadata":{"f:labels":{".":{},"f:app":{}}},
                "f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}})
        );
    }

    #[test]
    fn record_update_transfers_and_drops_removed_fields() {
        let mut cfg = deployment(1, "x");
        cfg["metadata"]["labels"] = json!({"a":"1","b":"2"});
        let live = apply(None, &cfg, &req("kubectl", false, "T1"));
        let mut new = live.clone();
        new["metadata"]["labels"] = json!({"a":"changed"});
        record_update(Some(&live), &mut new, "ctl", "apps/v1", None, "T2");
        assert_eq!(fields(&new, "ctl", "Update"), &json!({"f:metadata":{"f:labels":{"f:a":{}}}}));
        assert!(fields(&new, "kubectl", "Apply")["f:metadata"].get("f:labels").is_none(), "{new}");
        // kubectl re-applies b: it was removed, so nobody owns it and there is no conflict on b,
        // but a is now ctl's.
        let err = apply_err(Some(&new), &cfg, &req("kubectl", false, "T3"));
        let ApplyError::Conflicts(c) = err else {
            panic!("expected conflicts");
        };
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, ".metadata.labels.a");
    }

    #[test]
    fn record_update_without_changes_keeps_entries() {
        let live = apply(None, &deployment(1, "x"), &req("kubectl", false, "T1"));
        let mut same = live.clone();
        record_update(Some(&live), &mut same, "ctl", "apps/v1", None, "T2");
        assert_eq!(same, live);
        // A client that drops managedFields from its PUT does not erase them.
        let mut stripped = without_managed(&live);
        record_update(Some(&live), &mut stripped, "ctl", "apps/v1", None, "T2");
        assert_eq!(stripped, live);
    }

    #[test]
    fn record_update_reset_with_single_empty_entry() {
        let live = apply(None, &deployment(1, "x"), &req("kubectl", false, "T1"));
        let mut new = live.clone();
        new["metadata"]["managedFields"] = json!([{}]);
        new["spec"]["replicas"] = json!(3);
        record_update(Some(&live), &mut new, "ctl", "apps/v1", None, "T2");
        let mf = new["metadata"]["managedFields"].as_array().expect("entries");
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0]["manager"], "ctl");
    }

    #[test]
    fn record_update_status_subresource_and_entry_order() {
        let live = apply(None, &deployment(1, "x"), &req("kubectl", false, "T1"));
        let mut new = live.clone();
        new["status"] = json!({"replicas":1});
        record_update(Some(&live), &mut new, "kcm", "apps/v1", Some("status"), "T2");
        let mf = new["metadata"]["managedFields"].as_array().expect("entries");
        assert_eq!(mf.len(), 2);
        assert_eq!(mf[0]["operation"], "Apply");
        assert_eq!(mf[1]["manager"], "kcm");
        assert_eq!(mf[1]["subresource"], "status");
        assert_eq!(mf[1]["fieldsV1"], json!({"f:status":{".":{},"f:replicas":{}}}));
        // A second update by the same manager merges into its entry.
        let mut newer = new.clone();
        newer["status"]["readyReplicas"] = json!(1);
        record_update(Some(&new), &mut newer, "kcm", "apps/v1", Some("status"), "T3");
        let e = entry(&newer, "kcm", "Update").expect("entry");
        assert_eq!(e["time"], "T3");
        assert_eq!(e["fieldsV1"], json!({"f:status":{".":{},"f:readyReplicas":{},"f:replicas":{}}}));
    }
}

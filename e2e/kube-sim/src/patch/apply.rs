//! Server-side apply (`application/apply-patch+yaml`), and the schema-aware walks over objects it is built
//! on (also used by the update bookkeeping).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use serde_json::{Map, Value};

use super::managed::{
    APPLY, Entry, FieldSet, UPDATE, decode_entries, display_path, key_elem, key_elem_from, strip_meta, take_managed, value_elem,
    write_entries,
};
use super::strategic::{json_type, key_fields, matches_key, strs};
use super::{ListKeys, ListKind};

// ---------------------------------------------------------------------------------------------------
// Schema-aware walks over objects
// ---------------------------------------------------------------------------------------------------

/// Field names (for [`ListKeys`]) and path elements (for field sets) of the current position.
#[derive(Default)]
pub(super) struct Cursor {
    fields: Vec<String>,
    elems: Vec<String>,
}

impl Cursor {
    fn push_field(&mut self, k: &str) {
        self.fields.push(k.to_owned());
        self.elems.push(format!("f:{k}"));
    }

    fn pop_field(&mut self) {
        self.fields.pop();
        self.elems.pop();
    }
}

/// Differences between two objects, as path sets.
#[derive(Default)]
pub(super) struct Diff {
    pub(super) added: FieldSet,
    modified: FieldSet,
    pub(super) removed: FieldSet,
}

impl Diff {
    pub(super) fn strip(&mut self) {
        strip_meta(&mut self.added);
        strip_meta(&mut self.modified);
        strip_meta(&mut self.removed);
    }

    pub(super) fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

pub(super) struct Schema<'a> {
    pub(super) keys: &'a dyn ListKeys,
}

impl Schema<'_> {
    fn atomic_map(&self, fields: &[String]) -> bool {
        self.keys.map_is_atomic(&strs(fields))
    }

    /// The list kind at `fields`, demoted to atomic when a keyed list holds non-objects.
    fn list_kind<'v>(&self, fields: &[String], mut items: impl Iterator<Item = &'v Value>) -> ListKind {
        let kind = self.keys.list_kind(&strs(fields));
        if matches!(kind, ListKind::Map(_)) && items.any(|v| !v.is_object()) {
            return ListKind::Atomic;
        }
        kind
    }

    /// The set an applied configuration owns (structured-merge-diff's `ToFieldSet`).
    fn applied_set(&self, v: &Value, cur: &mut Cursor, out: &mut FieldSet) -> Result<(), ApplyError> {
        match v {
            Value::Object(m) if !self.atomic_map(&cur.fields) => {
                for (k, c) in m {
                    if c.is_null() {
                        continue;
                    }
                    cur.push_field(k);
                    let r = self.applied_set(c, cur, out);
                    cur.pop_field();
                    r?;
                }
                Ok(())
            }
            Value::Array(l) => match self.list_kind(&cur.fields, l.iter()) {
                ListKind::Atomic => {
                    out.insert(&cur.elems);
                    Ok(())
                }
                ListKind::Set => {
                    for x in l {
                        cur.elems.push(value_elem(x));
                        out.insert(&cur.elems);
                        cur.elems.pop();
                    }
                    Ok(())
                }
                ListKind::Map(keys) => self.applied_keyed(l, &keys, cur, out),
            },
            _ => {
                out.insert(&cur.elems);
                Ok(())
            }
        }
    }

    fn applied_keyed(&self, l: &[Value], keys: &[String], cur: &mut Cursor, out: &mut FieldSet) -> Result<(), ApplyError> {
        let mut seen = HashSet::new();
        for (i, x) in l.iter().enumerate() {
            let Some(m) = x.as_object() else { continue };
            let key = key_fields(m, keys).map_err(|missing| {
                ApplyError::Invalid(format!(
                    "{}: element {i}: associative list with keys has an element that omits key \
                     field {missing:?} (and doesn't have default value)",
                    display_path(&cur.elems)
                ))
            })?;
            let elem = key_elem_from(&key);
            if !seen.insert(elem.clone()) {
                return Err(ApplyError::Invalid(format!(
                    "{}: duplicate entries for key {}",
                    display_path(&cur.elems),
                    display_path(std::slice::from_ref(&elem))
                )));
            }
            cur.elems.push(elem);
            out.insert(&cur.elems);
            let r = self.applied_set(x, cur, out);
            cur.elems.pop();
            r?;
        }
        Ok(())
    }

    /// Every node of `v` (itself when `include_self`): what an added or removed subtree covers.
    fn all_nodes(&self, v: &Value, cur: &mut Cursor, out: &mut FieldSet, include_self: bool) {
        if include_self {
            out.insert(&cur.elems);
        }
        match v {
            Value::Object(m) if !self.atomic_map(&cur.fields) => {
                for (k, c) in m {
                    cur.push_field(k);
                    self.all_nodes(c, cur, out, true);
                    cur.pop_field();
                }
            }
            Value::Array(l) => match self.list_kind(&cur.fields, l.iter()) {
                ListKind::Atomic => {}
                ListKind::Set => {
                    for x in l {
                        cur.elems.push(value_elem(x));
                        out.insert(&cur.elems);
                        cur.elems.pop();
                    }
                }
                ListKind::Map(keys) => {
                    for x in l {
                        if let Some(e) = key_elem(x, &keys) {
                            cur.elems.push(e);
                            self.all_nodes(x, cur, out, true);
                            cur.elems.pop();
                        }
                    }
                }
            },
            _ => {}
        }
    }

    /// Compares `o` (old) with `n` (new) (structured-merge-diff's `Compare`); a field absent before
    /// counts as added together with everything under it.
    pub(super) fn compare(&self, o: &Value, n: &Value, cur: &mut Cursor, diff: &mut Diff) {
        match (o, n) {
            (Value::Object(om), Value::Object(nm)) if !self.atomic_map(&cur.fields) => {
                for (k, nv) in nm {
                    cur.push_field(k);
                    match om.get(k) {
                        Some(ov) => self.compare(ov, nv, cur, diff),
                        None => self.all_nodes(nv, cur, &mut diff.added, true),
                    }
                    cur.pop_field();
                }
                for (k, ov) in om {
                    if !nm.contains_key(k) {
                        cur.push_field(k);
                        self.all_nodes(ov, cur, &mut diff.removed, true);
                        cur.pop_field();
                    }
                }
            }
            (Value::Array(ol), Value::Array(nl)) => self.compare_lists(ol, nl, cur, diff),
            _ => {
                if o != n {
                    diff.modified.insert(&cur.elems);
                    self.all_nodes(o, cur, &mut diff.removed, false);
                    self.all_nodes(n, cur, &mut diff.added, false);
                }
            }
        }
    }

    fn compare_lists(&self, ol: &[Value], nl: &[Value], cur: &mut Cursor, diff: &mut Diff) {
        match self.list_kind(&cur.fields, ol.iter().chain(nl)) {
            ListKind::Atomic => {
                if ol != nl {
                    diff.modified.insert(&cur.elems);
                }
            }
            ListKind::Set => {
                for (from, to, out) in [(ol, nl, &mut diff.added), (nl, ol, &mut diff.removed)] {
                    for x in to {
                        if !from.contains(x) {
                            cur.elems.push(value_elem(x));
                            out.insert(&cur.elems);
                            cur.elems.pop();
                        }
                    }
                }
            }
            ListKind::Map(keys) => {
                let mut old_items: HashMap<String, &Value> = HashMap::new();
                for x in ol {
                    if let Some(e) = key_elem(x, &keys) {
                        old_items.entry(e).or_insert(x);
                    }
                }
                let mut seen = HashSet::new();
                for x in nl {
                    let Some(e) = key_elem(x, &keys) else {
                        continue;
                    };
                    if !seen.insert(e.clone()) {
                        continue;
                    }
                    let old = old_items.get(&e).copied();
                    cur.elems.push(e);
                    match old {
                        Some(ov) => self.compare(ov, x, cur, diff),
                        None => self.all_nodes(x, cur, &mut diff.added, true),
                    }
                    cur.elems.pop();
                }
                for x in ol {
                    let Some(e) = key_elem(x, &keys) else {
                        continue;
                    };
                    if seen.insert(e.clone()) {
                        cur.elems.push(e);
                        self.all_nodes(x, cur, &mut diff.removed, true);
                        cur.elems.pop();
                    }
                }
            }
        }
    }

    /// SSA merge of `applied` into `live`: maps recursive, lists per their kind.
    fn merge(&self, live: &mut Value, applied: &Value, fields: &mut Vec<String>) {
        if let (Value::Object(lm), Value::Object(am)) = (&mut *live, applied)
            && !self.atomic_map(fields)
        {
            for (k, av) in am {
                fields.push(k.clone());
                match lm.get_mut(k) {
                    Some(lv) => self.merge(lv, av, fields),
                    None => {
                        lm.insert(k.clone(), av.clone());
                    }
                }
                fields.pop();
            }
            return;
        }
        if let (Value::Array(ll), Value::Array(al)) = (&mut *live, applied) {
            let merged = match self.list_kind(fields, ll.iter().chain(al)) {
                ListKind::Atomic => al.clone(),
                ListKind::Set => interleave(ll, al, |v| Some(value_elem(v)), |_, a| a.clone()),
                ListKind::Map(keys) => interleave(
                    ll,
                    al,
                    |v| key_elem(v, &keys),
                    |l, a| match l {
                        Some(l) => {
                            let mut item = l.clone();
                            self.merge(&mut item, a, fields);
                            item
                        }
                        None => a.clone(),
                    },
                ),
            };
            *ll = merged;
            return;
        }
        *live = applied.clone();
    }
}

/// Merges two associative lists the way structured-merge-diff orders them: live-only items keep
/// their place, applied items come in applied order, shared items are merged.
fn interleave(
    live: &[Value],
    applied: &[Value],
    key: impl Fn(&Value) -> Option<String>,
    mut merge: impl FnMut(Option<&Value>, &Value) -> Value,
) -> Vec<Value> {
    let lk: Vec<Option<String>> = live.iter().map(&key).collect();
    let rk: Vec<Option<String>> = applied.iter().map(&key).collect();
    let rset: HashSet<&str> = rk.iter().flatten().map(String::as_str).collect();
    let mut live_by_key: HashMap<&str, usize> = HashMap::new();
    for (i, k) in lk.iter().enumerate() {
        if let Some(k) = k {
            live_by_key.entry(k.as_str()).or_insert(i);
        }
    }
    let mut shared: VecDeque<&str> = rk.iter().flatten().map(String::as_str).filter(|k| live_by_key.contains_key(k)).collect();
    let mut next = shared.pop_front();
    let mut merged_rhs: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(live.len().max(applied.len()));
    let (mut l, mut r) = (0, 0);
    while l < live.len() || r < applied.len() {
        let lkey = lk.get(l).and_then(Option::as_deref);
        if l < live.len() && r < applied.len() {
            if lkey.is_some() && lkey == rk[r].as_deref() {
                out.push(merge(Some(&live[l]), &applied[r]));
                merged_rhs.extend(lkey);
                l += 1;
                r += 1;
                next = shared.pop_front();
                continue;
            }
            if lkey.is_some_and(|k| rset.contains(k) && next.is_some_and(|n| n != k)) {
                l += 1;
                continue;
            }
        }
        if l < live.len() {
            match lkey {
                Some(k) if rset.contains(k) => {
                    if merged_rhs.contains(k) {
                        l += 1;
                        continue;
                    }
                }
                _ => {
                    out.push(live[l].clone());
                    l += 1;
                    continue;
                }
            }
        }
        if r < applied.len() {
            let rkey = rk[r].as_deref();
            let lv = rkey.and_then(|k| live_by_key.get(k)).and_then(|&i| live.get(i));
            out.push(merge(lv, &applied[r]));
            merged_rhs.extend(rkey);
            if rkey.is_some() && rkey == next {
                next = shared.pop_front();
            }
            r += 1;
            continue;
        }
        l += 1;
    }
    out
}

/// Removes the value at `elems` under `v`; containers emptied by the removal go too (below the top
/// level) unless `keep` owns them. Returns whether anything was removed.
fn remove_at(v: &mut Value, elems: &[String], keep: Option<&FieldSet>, depth: usize) -> bool {
    let Some((first, rest)) = elems.split_first() else {
        return false;
    };
    let keep_child = keep.and_then(|k| k.children.get(first));
    match v {
        Value::Object(m) => {
            let Some(name) = first.strip_prefix("f:") else {
                return false;
            };
            if rest.is_empty() {
                return m.shift_remove(name).is_some();
            }
            let Some(child) = m.get_mut(name) else {
                return false;
            };
            if !remove_at(child, rest, keep_child, depth + 1) {
                return false;
            }
            let emptied = match child {
                Value::Object(c) => c.is_empty(),
                Value::Array(c) => c.is_empty(),
                _ => false,
            };
            if depth >= 1 && emptied && !keep_child.is_some_and(|k| k.member) {
                m.shift_remove(name);
            }
            true
        }
        Value::Array(list) => {
            let Some(i) = find_item(list, first) else {
                return false;
            };
            if rest.is_empty() {
                list.remove(i);
                return true;
            }
            list.get_mut(i).is_some_and(|item| remove_at(item, rest, keep_child, depth + 1))
        }
        _ => false,
    }
}

fn find_item(list: &[Value], elem: &str) -> Option<usize> {
    if let Some(k) = elem.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        list.iter().position(|o| matches_key(o, &key))
    } else if let Some(v) = elem.strip_prefix("v:") {
        let val: Value = serde_json::from_str(v).ok()?;
        list.iter().position(|x| *x == val)
    } else if let Some(i) = elem.strip_prefix("i:") {
        i.parse().ok().filter(|&i| i < list.len())
    } else {
        None
    }
}

/// Whether `path` ends in a key field of a keyed list item (those go with their item only).
fn is_item_key_field(path: &[String]) -> bool {
    let [.., parent, last] = path else {
        return false;
    };
    let (Some(k), Some(name)) = (parent.strip_prefix("k:"), last.strip_prefix("f:")) else {
        return false;
    };
    serde_json::from_str::<Map<String, Value>>(k).is_ok_and(|m| m.contains_key(name))
}

// ---------------------------------------------------------------------------------------------------
// Server-side apply
// ---------------------------------------------------------------------------------------------------

/// Outcome of a conflicting apply: a field owned by another manager that the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// The field, as the apiserver prints it, e.g. `.spec.replicas` or
    /// `.spec.template.spec.containers[name="nginx"].image`.
    pub field: String,
    /// The other manager's operation (`"Apply"` or `"Update"`).
    pub operation: String,
    /// The API version the other manager's entry was recorded with.
    pub api_version: String,
    /// The subresource the other manager wrote through, if any.
    pub subresource: Option<String>,
}

impl Conflict {
    /// The manager as kube-apiserver describes it: `"name"`, then `with subresource "status"` when
    /// applicable, then `using apps/v1` for update managers.
    #[must_use]
    pub fn manager_description(&self) -> String {
        let mut s = Value::String(self.manager.clone()).to_string();
        if let Some(sub) = &self.subresource {
            s.push_str(" with subresource ");
            s.push_str(&Value::String(sub.clone()).to_string());
        }
        if self.operation == UPDATE {
            s.push_str(" using ");
            s.push_str(&self.api_version);
        }
        s
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflict with {}: {}", self.manager_description(), self.field)
    }
}

/// kube-apiserver's message for a failed apply (the `message` of the 409 Status).
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: {only}");
    }
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for c in conflicts {
        let desc = c.manager_description();
        match groups.iter_mut().find(|(d, _)| *d == desc) {
            Some((_, fields)) => fields.push(&c.field),
            None => groups.push((desc, vec![&c.field])),
        }
    }
    let mut lines = Vec::new();
    for (desc, fields) in groups {
        lines.push(format!("conflicts with {desc}:"));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Why a server-side apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (HTTP 409); retry with `force` to take them.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request or configuration is malformed (HTTP 400/422).
    #[error("{0}")]
    Invalid(String),
}

/// Parameters of one server-side apply request.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// `fieldManager` query parameter (required for apply).
    pub manager: &'a str,
    /// `force` query parameter: take ownership of conflicting fields instead of failing.
    pub force: bool,
    /// API version of the request, recorded in `managedFields`.
    pub api_version: &'a str,
    /// `"status"` / `"scale"` or `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// RFC 3339 timestamp for `managedFields[].time`.
    pub now: &'a str,
}

/// Server-side apply: merges `applied` (the user's configuration) into `live` (None = create), returning
/// the new object with `metadata.managedFields` updated. Fields previously applied by the same manager
/// but absent from `applied` are removed unless another manager also owns them. Fields owned by a
/// different manager whose live value differs from the applied value are conflicts unless `force`
/// (force transfers ownership).
///
/// Details, following structured-merge-diff as used by kube-apiserver: conflicts are fields of other
/// managers (`Apply` and `Update` alike, including this manager's own `Update` entry) that the apply
/// adds or modifies; applying an equal value shares ownership. Fields removed from the object are
/// dropped from every other manager's set. `apiVersion`, `kind`, `metadata.name`,
/// `metadata.namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`, `selfLink`
/// and `managedFields` are never owned. `null`s in the configuration are ignored.
///
/// Subresources: for `None`, `status` in the configuration is ignored (the built-in kinds reset it on
/// main-resource writes); for `"status"` only `status` is taken; for `"scale"` only `spec.replicas` is
/// taken (the caller passes the `Scale`'s `spec.replicas`, or the parent's, and gets the parent back).
///
/// Approximations: list-map keys with server-side defaults (container port `protocol`) are not
/// defaulted here, so keys come from [`ListKeys`] alone; the entry's `time` is bumped when the object
/// or the manager's field set changed, as the apiserver's managed-fields timestamp handling does.
///
/// # Errors
///
/// [`ApplyError::Conflicts`] on conflicts without `force`; [`ApplyError::Invalid`] when the manager is
/// empty, the configuration is not an object, sets `metadata.managedFields`, or has a keyed list
/// element without its key or with a duplicate key.
pub fn server_side_apply(live: Option<&Value>, applied: &Value, req: &ApplyRequest<'_>, keys: &dyn ListKeys) -> Result<Value, ApplyError> {
    if req.manager.is_empty() {
        return Err(ApplyError::Invalid("PATCH, application/apply-patch+yaml requests must include fieldManager".into()));
    }
    let Value::Object(cfg_map) = applied else {
        return Err(ApplyError::Invalid(format!("apply configuration must be a JSON object, found {}", json_type(applied))));
    };
    let sent_managed = cfg_map
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|mf| !mf.is_null() && mf.as_array().is_none_or(|l| !l.is_empty()));
    if sent_managed {
        return Err(ApplyError::Invalid("metadata.managedFields must be nil".into()));
    }
    let mut cfg = applied.clone();
    strip_nulls(&mut cfg);
    take_managed(&mut cfg);
    let cfg = scope_to_subresource(cfg, req.subresource);

    let schema = Schema { keys };
    let mut new_set = FieldSet::default();
    schema.applied_set(&cfg, &mut Cursor::default(), &mut new_set)?;
    strip_meta(&mut new_set);

    let mut base = match live {
        Some(v @ Value::Object(_)) => v.clone(),
        Some(other) => {
            return Err(ApplyError::Invalid(format!("live object must be a JSON object, found {}", json_type(other))));
        }
        None => Value::Object(Map::new()),
    };
    let mut entries = decode_entries(take_managed(&mut base).as_ref());
    let mut merged = base.clone();
    schema.merge(&mut merged, &cfg, &mut Vec::new());

    let own = entries.iter().position(|e| e.is(req.manager, APPLY, req.subresource, req.api_version));
    prune_stale(&mut merged, &entries, own, &new_set);

    let mut diff = Diff::default();
    schema.compare(&base, &merged, &mut Cursor::default(), &mut diff);
    diff.strip();
    take_conflicts(&mut entries, own, &diff, req.force)?;

    let object_changed = live.is_none() || merged != base;
    match own.and_then(|i| entries.get_mut(i)) {
        Some(e) => {
            if object_changed || e.fields != new_set || e.api_version != req.api_version {
                e.time = Some(Value::String(req.now.to_owned()));
            }
            e.fields = new_set;
            req.api_version.clone_into(&mut e.api_version);
        }
        None => entries.push(Entry {
            manager: req.manager.to_owned(),
            operation: APPLY.to_owned(),
            api_version: req.api_version.to_owned(),
            time: Some(Value::String(req.now.to_owned())),
            subresource: req.subresource.map(str::to_owned),
            fields: new_set,
        }),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Removes from `merged` what the applying manager (`entries[own]`) applied last time, no longer
/// applies, and nobody else owns.
fn prune_stale(merged: &mut Value, entries: &[Entry], own: Option<usize>, new_set: &FieldSet) {
    let Some(last) = own.and_then(|i| entries.get(i)) else {
        return;
    };
    let mut keep = new_set.clone();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) != own {
            keep.union_with(&e.fields);
        }
    }
    let stale = last.fields.difference(&keep);
    for path in stale.members() {
        if !is_item_key_field(&path) {
            remove_at(merged, &path, Some(&keep), 0);
        }
    }
}

/// Detects conflicts with the other managers; without `force` they are an error, with it the other
/// managers lose the conflicting fields. Either way, removed fields leave every other manager's set.
fn take_conflicts(entries: &mut [Entry], own: Option<usize>, diff: &Diff, force: bool) -> Result<(), ApplyError> {
    let changed = diff.changed();
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) == own {
            continue;
        }
        let lost = e.fields.intersection(&changed);
        for path in lost.members() {
            conflicts.push(Conflict {
                manager: e.manager.clone(),
                field: display_path(&path),
                operation: e.operation.clone(),
                api_version: e.api_version.clone(),
                subresource: e.subresource.clone(),
            });
        }
        if force {
            e.fields = e.fields.difference(&lost).difference(&diff.removed);
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| {
            (&a.manager, &a.operation, &a.subresource, &a.api_version).cmp(&(&b.manager, &b.operation, &b.subresource, &b.api_version))
        });
        return Err(ApplyError::Conflicts(conflicts));
    }
    if !force {
        for (i, e) in entries.iter_mut().enumerate() {
            if Some(i) != own {
                e.fields = e.fields.difference(&diff.removed);
            }
        }
    }
    Ok(())
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, c| !c.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(l) => l.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The part of an apply configuration a subresource takes (plus `metadata.name`/`namespace`).
fn scope_to_subresource(cfg: Value, subresource: Option<&str>) -> Value {
    let Value::Object(mut m) = cfg else {
        return cfg;
    };
    let identity_meta = |m: &Map<String, Value>| {
        let mut meta = Map::new();
        if let Some(Value::Object(md)) = m.get("metadata") {
            for k in ["name", "namespace"] {
                if let Some(v) = md.get(k) {
                    meta.insert(k.to_owned(), v.clone());
                }
            }
        }
        meta
    };
    match subresource {
        None => {
            m.shift_remove("status");
            Value::Object(m)
        }
        Some("status") => {
            let mut out = Map::new();
            for k in ["apiVersion", "kind"] {
                if let Some(v) = m.get(k) {
                    out.insert(k.to_owned(), v.clone());
                }
            }
            out.insert("metadata".into(), Value::Object(identity_meta(&m)));
            if let Some(s) = m.shift_remove("status") {
                out.insert("status".into(), s);
            }
            Value::Object(out)
        }
        Some("scale") => {
            let mut out = Map::new();
            out.insert("metadata".into(), Value::Object(identity_meta(&m)));
            if let Some(r) = m.get("spec").and_then(|s| s.get("replicas")) {
                let mut spec = Map::new();
                spec.insert("replicas".into(), r.clone());
                out.insert("spec".into(), Value::Object(spec));
            }
            Value::Object(out)
        }
        Some(_) => Value::Object(m),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::patch::record_update;
    use crate::patch::tests::{apply, apply_err, deployment, entry, fields, req, without_managed};

    use super::*;

    #[test]
    fn ssa_create_records_apply_entry() {
        let mut cfg = deployment(2, "nginx:1");
        cfg["metadata"]["labels"] = json!({"app":"web"});
        cfg["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort":80}]);
        let out = apply(None, &cfg, &req("kubectl", false, "T1"));
        assert_eq!(without_managed(&out), cfg);
        assert_eq!(
            out["metadata"]["managedFields"],
            json!([{
                "manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":"T1",
                "fieldsType":"FieldsV1",
                "fieldsV1":{
                    "f:metadata":{"f:labels":{"f:app":{}}},
                    "f:spec":{
                        "f:replicas":{},
                        "f:selector":{},
                        "f:template":{
                            "f:metadata":{"f:labels":{"f:app":{}}},
                            "f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{
                                ".":{},"f:image":{},"f:name":{},
                                "f:ports":{"k:{\"containerPort\":80}":{".":{},"f:containerPort":{}}}
                            }}}
                        }
                    }
                }
            }])
        );
    }

    #[test]
    fn ssa_update_merges_and_preserves_unapplied_fields() {
        let mut live = apply(None, &deployment(2, "nginx:1"), &req("kubectl", false, "T1"));
        live["metadata"]["uid"] = json!("u-1");
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        live["spec"]["template"]["spec"]["containers"].as_array_mut().expect("containers").push(json!({"name":"sidecar","image":"envoy"}));
        let out = apply(Some(&live), &deployment(2, "nginx:2"), &req("kubectl", false, "T2"));
        assert_eq!(out["metadata"]["uid"], "u-1");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name":"nginx","image":"nginx:2","imagePullPolicy":"Always"},
                {"name":"sidecar","image":"envoy"}
            ])
        );
        assert_eq!(entry(&out, "kubectl", "Apply").expect("entry")["time"], "T2");
    }

    #[test]
    fn ssa_removes_fields_no_longer_applied() {
        let mut cfg = deployment(2, "nginx:1");
        cfg["metadata"]["labels"] = json!({"a":"1","b":"2"});
        let live = apply(None, &cfg, &req("kubectl", false, "T1"));
        cfg["metadata"]["labels"] = json!({"a":"1"});
        let out = apply(Some(&live), &cfg, &req("kubectl", false, "T2"));
        assert_eq!(out["metadata"]["labels"], json!({"a":"1"}));
        cfg["metadata"].as_object_mut().expect("meta").shift_remove("labels");
        let out = apply(Some(&out), &cfg, &req("kubectl", false, "T3"));
        assert!(out["metadata"].get("labels").is_none(), "{out}");
        assert_eq!(out["metadata"]["name"], "web");
    }

    #[test]
    fn ssa_removes_dropped_list_items() {
        let mut cfg = deployment(1, "nginx:1");
        cfg["spec"]["template"]["spec"]["containers"].as_array_mut().expect("containers").push(json!({"name":"b","image":"b"}));
        let live = apply(None, &cfg, &req("kubectl", false, "T1"));
        let out = apply(Some(&live), &deployment(1, "nginx:1"), &req("kubectl", false, "T2"));
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name":"nginx","image":"nginx:1"}]));
    }

    #[test]
    fn ssa_shared_ownership_keeps_fields_on_removal() {
        let mut a_cfg = deployment(2, "nginx:1");
        a_cfg["metadata"]["labels"] = json!({"shared":"yes","own":"a"});
        let live = apply(None, &a_cfg, &req("a", false, "T1"));
        let b_cfg = json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","namespace":"default","labels":{"shared":"yes"}}});
        let live = apply(Some(&live), &b_cfg, &req("b", false, "T2"));
        assert_eq!(fields(&live, "b", "Apply"), &json!({"f:metadata":{"f:labels":{"f:shared":{}}}}));
        a_cfg["metadata"]["labels"] = json!({});
        let out = apply(Some(&live), &a_cfg, &req("a", false, "T3"));
        assert_eq!(out["metadata"]["labels"], json!({"shared":"yes"}));
    }

    #[test]
    fn ssa_equal_values_are_shared_not_conflicts() {
        let live = apply(None, &deployment(3, "nginx:1"), &req("a", false, "T1"));
        let b_cfg = json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","namespace":"default"},"spec":{"replicas":3}});
        let live = apply(Some(&live), &b_cfg, &req("b", false, "T2"));
        assert_eq!(fields(&live, "b", "Apply"), &json!({"f:spec":{"f:replicas":{}}}));
        assert!(fields(&live, "a", "Apply")["f:spec"].get("f:replicas").is_some());
        let mut b_cfg = b_cfg;
        b_cfg["spec"]["replicas"] = json!(4);
        let err = apply_err(Some(&live), &b_cfg, &req("b", false, "T3"));
        assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
    }

    #[test]
    fn ssa_conflict_after_controller_update_then_force() {
        // kubectl applies, a controller updates replicas, kubectl re-applies its old value.
        let live = apply(None, &deployment(2, "nginx:1"), &req("kubectl", false, "T1"));
        let mut updated = live.clone();
        updated["spec"]["replicas"] = json!(5);
        record_update(Some(&live), &mut updated, "serin", "apps/v1", None, "T2");
        assert_eq!(fields(&updated, "serin", "Update"), &json!({"f:spec":{"f:replicas":{}}}));
        assert!(fields(&updated, "kubectl", "Apply")["f:spec"].get("f:replicas").is_none());

        let err = apply_err(Some(&updated), &deployment(2, "nginx:1"), &req("kubectl", false, "T3"));
        let ApplyError::Conflicts(conflicts) = &err else {
            panic!("expected conflicts, got {err}");
        };
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].manager, "serin");
        assert_eq!(conflicts[0].field, ".spec.replicas");
        assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"serin\" using apps/v1: .spec.replicas");
        assert_eq!(conflicts[0].to_string(), "conflict with \"serin\" using apps/v1: .spec.replicas");

        // Re-applying the controller's value is fine (shared), a different image is not ours to
        // check here; force takes replicas back.
        let forced = apply(Some(&updated), &deployment(2, "nginx:1"), &req("kubectl", true, "T4"));
        assert_eq!(forced["spec"]["replicas"], 2);
        assert!(entry(&forced, "serin", "Update").is_none(), "serin owned only replicas");
        assert!(fields(&forced, "kubectl", "Apply")["f:spec"].get("f:replicas").is_some());
    }

    #[test]
    fn ssa_conflict_on_keyed_item_field_and_multi_message() {
        let live = apply(None, &deployment(2, "nginx:1"), &req("kubectl", false, "T1"));
        let mut updated = live.clone();
        updated["spec"]["replicas"] = json!(7);
        updated["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:hacked");
        record_update(Some(&live), &mut updated, "kubectl-edit", "apps/v1", None, "T2");
        let err = apply_err(Some(&updated), &deployment(2, "nginx:1"), &req("kubectl", false, "T3"));
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n\
             - .spec.replicas\n\
             - .spec.template.spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn ssa_identity_and_server_fields_never_owned_or_conflicting() {
        let mut created = deployment(1, "nginx:1");
        created["metadata"]["uid"] = json!("u");
        created["metadata"]["resourceVersion"] = json!("1");
        created["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
        created["metadata"]["generation"] = json!(1);
        record_update(None, &mut created, "kubectl-create", "apps/v1", None, "T1");
        let f = fields(&created, "kubectl-create", "Update");
        assert!(f.get("f:apiVersion").is_none() && f.get("f:kind").is_none());
        assert!(f.get("f:metadata").is_none(), "{f}");
        let cfg = json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","namespace":"default","labels":{"x":"y"}}});
        let out = apply(Some(&created), &cfg, &req("other", false, "T2"));
        assert_eq!(out["metadata"]["labels"], json!({"x":"y"}));
        assert_eq!(fields(&out, "other", "Apply"), &json!({"f:metadata":{"f:labels":{"f:x":{}}}}));
    }

    #[test]
    fn ssa_status_subresource_takes_only_status() {
        let live = apply(None, &deployment(2, "nginx:1"), &req("kubectl", false, "T1"));
        let mut cfg = deployment(99, "evil");
        cfg["status"] = json!({"readyReplicas":1,"conditions":[{"type":"Available","status":"True"}]});
        let r = ApplyRequest { subresource: Some("status"), ..req("serin", false, "T2") };
        let out = apply(Some(&live), &cfg, &r);
        assert_eq!(out["spec"], live["spec"]);
        assert_eq!(out["status"]["readyReplicas"], 1);
        let e = entry(&out, "serin", "Apply").expect("entry");
        assert_eq!(e["subresource"], "status");
        assert_eq!(
            e["fieldsV1"],
            json!({"f:status":{"f:conditions":{"k:{\"type\":\"Available\"}":{".":{},"f:status":{},"f:type":{}}},"f:readyReplicas":{}}})
        );
    }

    #[test]
    fn ssa_main_resource_ignores_status() {
        let mut cfg = deployment(1, "nginx:1");
        cfg["status"] = json!({"readyReplicas":9});
        let out = apply(None, &cfg, &req("kubectl", false, "T1"));
        assert!(out.get("status").is_none());
        assert!(fields(&out, "kubectl", "Apply").get("f:status").is_none());
    }

    #[test]
    fn ssa_scale_subresource_takes_only_replicas() {
        let live = apply(None, &deployment(2, "nginx:1"), &req("kubectl", false, "T1"));
        let scale = json!({"apiVersion":"autoscaling/v1","kind":"Scale",
            "metadata":{"name":"web","namespace":"default"},"spec":{"replicas":4}});
        let r = ApplyRequest { subresource: Some("scale"), force: true, ..req("hpa", false, "T2") };
        let out = apply(Some(&live), &scale, &r);
        assert_eq!(out["apiVersion"], "apps/v1");
        assert_eq!(out["spec"]["replicas"], 4);
        assert_eq!(fields(&out, "hpa", "Apply"), &json!({"f:spec":{"f:replicas":{}}}));
    }

    #[test]
    fn ssa_set_lists_own_values() {
        let base = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}});
        let mut a = base.clone();
        a["metadata"]["finalizers"] = json!(["a", "b"]);
        let live = apply(None, &a, &req("a", false, "T1"));
        let mut b = base.clone();
        b["metadata"]["finalizers"] = json!(["c"]);
        let live = apply(Some(&live), &b, &req("b", false, "T2"));
        assert_eq!(live["metadata"]["finalizers"], json!(["a", "b", "c"]));
        assert_eq!(fields(&live, "a", "Apply"), &json!({"f:metadata":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}}}));
        a["metadata"]["finalizers"] = json!(["a"]);
        let out = apply(Some(&live), &a, &req("a", false, "T3"));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    }

    #[test]
    fn ssa_list_order_keeps_live_only_items_in_place() {
        let live = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
            "spec":{"containers":[{"name":"a"},{"name":"x"}]}});
        let cfg = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
            "spec":{"containers":[{"name":"a","image":"i"},{"name":"b"}]}});
        let out = apply(Some(&live), &cfg, &req("m", false, "T1"));
        assert_eq!(out["spec"]["containers"], json!([{"name":"a","image":"i"},{"name":"x"},{"name":"b"}]));
    }

    #[test]
    fn ssa_invalid_requests() {
        let cfg = deployment(1, "x");
        assert!(matches!(apply_err(None, &cfg, &req("", false, "T")), ApplyError::Invalid(_)));
        assert!(matches!(apply_err(None, &json!([1]), &req("m", false, "T")), ApplyError::Invalid(_)));
        let mut with_mf = cfg.clone();
        with_mf["metadata"]["managedFields"] = json!([{"manager":"x"}]);
        assert!(matches!(
            apply_err(None, &with_mf, &req("m", false, "T")),
            ApplyError::Invalid(ref m) if m == "metadata.managedFields must be nil"
        ));
        let mut no_key = cfg.clone();
        no_key["spec"]["template"]["spec"]["containers"] = json!([{"image":"x"}]);
        let err = apply_err(None, &no_key, &req("m", false, "T"));
        assert!(err.to_string().contains("omits key field \"name\""), "{err}");
        let mut dup = cfg;
        dup["spec"]["template"]["spec"]["containers"] = json!([{"name":"a"},{"name":"a"}]);
        let err = apply_err(None, &dup, &req("m", false, "T"));
        assert!(err.to_string().contains("duplicate entries for key [name=\"a\"]"), "{err}");
    }

    #[test]
    fn ssa_noop_apply_keeps_time() {
        let live = apply(None, &deployment(1, "x"), &req("m", false, "T1"));
        let again = apply(Some(&live), &deployment(1, "x"), &req("m", false, "T2"));
        assert_eq!(again, live);
        let changed = apply(Some(&again), &deployment(2, "x"), &req("m", false, "T3"));
        assert_eq!(entry(&changed, "m", "Apply").expect("entry")["time"], "T3");
    }

    #[test]
    fn ssa_null_values_are_ignored() {
        let mut cfg = deployment(1, "x");
        cfg["spec"]["paused"] = Value::Null;
        let out = apply(None, &cfg, &req("m", false, "T1"));
        assert!(out["spec"].get("paused").is_none());
    }

    #[test]
    fn conflict_with_status_apply_manager_is_described_with_subresource() {
        let live = apply(None, &deployment(1, "x"), &req("kubectl", false, "T1"));
        let mut status = deployment(1, "x");
        status["status"] = json!({"replicas": 1});
        let r = ApplyRequest { subresource: Some("status"), ..req("kcm", false, "T2") };
        let live = apply(Some(&live), &status, &r);
        status["status"]["replicas"] = json!(2);
        let r = ApplyRequest { subresource: Some("status"), ..req("other", false, "T3") };
        let err = apply_err(Some(&live), &status, &r);
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kcm\" with subresource \"status\": \
             .status.replicas"
        );
    }
}

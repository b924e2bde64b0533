//! Kubernetes strategic merge patch and server-side apply (SSA), as kube-apiserver performs them, on
//! [`serde_json::Value`] objects.
//!
//! # Contract
//!
//! * Pure: no I/O, no clock, no randomness. Timestamps come from the caller (`now`), so results are
//!   deterministic and reproducible in tests.
//! * Objects are plain JSON as a client sends them. This module does no defaulting, validation of the
//!   resulting object, `resourceVersion`/`uid`/`generation` handling or status resetting on update: that
//!   is the API server's job before or after calling in here.
//! * List semantics come from a [`ListKeys`] implementation, asked with a path of field names only
//!   (list positions and map keys are not part of it).
//! * [`strategic_merge`] implements `application/strategic-merge-patch+json`, including the
//!   `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`
//!   directives; no directive survives into the result.
//! * [`server_side_apply`] implements `application/apply-patch+yaml` (already decoded to JSON): merging,
//!   pruning of fields the manager stopped applying, conflict detection, `force`, and the bookkeeping
//!   of `metadata.managedFields` in the `FieldsV1` format.
//! * [`record_update`] performs the `managedFields` bookkeeping of every non-apply write.
//!
//! Known approximations of the real apiserver are listed on the functions that make them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------------
// List semantics
// ---------------------------------------------------------------------------------------------------

/// How a list at a given field path merges (strategic merge patch and SSA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// The list is replaced as a whole (no `patchStrategy`, `x-kubernetes-list-type: atomic`).
    Atomic,
    /// A list of primitives merged as a set (`patchStrategy: merge` on a primitive list,
    /// `x-kubernetes-list-type: set`), e.g. `metadata.finalizers`.
    Set,
    /// A list of objects merged element-wise, elements identified by these key fields
    /// (`patchMergeKey`, `x-kubernetes-list-map-keys`).
    Map(Vec<String>),
}

/// Resolves list merge semantics for a path of field names (list indices / map keys are NOT included:
/// e.g. `["spec","template","spec","containers","ports"]`).
pub trait ListKeys {
    /// Merge semantics of the list found at `path`.
    fn list_kind(&self, path: &[&str]) -> ListKind;

    /// Whether the object found at `path` (for a list element: the path of its list) is atomic for
    /// server-side apply (`+structType=atomic`, `+mapType=atomic`): owned and replaced as a whole
    /// rather than field by field. Strategic merge patch ignores this, like the apiserver does.
    fn map_is_atomic(&self, _path: &[&str]) -> bool {
        false
    }
}

/// Merge semantics of the built-in Kubernetes kinds Serin uses (Pod, `ReplicaSet`, Deployment, Job,
/// Service, Endpoints, `ConfigMap`, Secret, Ingress, Lease, Namespace, Event...), following the
/// `patchStrategy`/`patchMergeKey` tags (and, for [`ListKeys::map_is_atomic`], the
/// `structType`/`mapType` markers) of the upstream Go types. Unknown lists are atomic.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinListKeys;

/// Everything is atomic (what the apiserver uses for JSON-merge-like semantics / unknown schemas).
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomicLists;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl ListKeys for BuiltinListKeys {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        let Some((&last, parents)) = path.split_last() else {
            return ListKind::Atomic;
        };
        let parent = parents.last().copied();
        let in_container = parent.is_some_and(|p| CONTAINER_LISTS.contains(&p));
        let key = |k: &str| ListKind::Map(vec![k.to_owned()]);
        match last {
            "containers" | "initContainers" | "ephemeralContainers" | "imagePullSecrets" | "schedulingGates" => key("name"),
            "env" if in_container => key("name"),
            "ports" if in_container => key("containerPort"),
            "ports" if path == ["spec", "ports"] => key("port"),
            "volumeMounts" if in_container => key("mountPath"),
            "volumeDevices" if in_container => key("devicePath"),
            "volumes" | "resourceClaims" if parent == Some("spec") => key("name"),
            "conditions" => key("type"),
            "ownerReferences" if parent == Some("metadata") => key("uid"),
            "finalizers" if parent == Some("metadata") => ListKind::Set,
            "hostAliases" => key("ip"),
            "podIPs" | "hostIPs" if parent == Some("status") => key("ip"),
            "topologySpreadConstraints" => key("topologyKey"),
            _ => ListKind::Atomic,
        }
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        matches!(
            path,
            [.., "spec", "selector" | "nodeSelector"]
                | [.., "labelSelector" | "namespaceSelector" | "imagePullSecrets"]
                | [.., "metadata", "ownerReferences"]
                | [.., "valueFrom", "configMapKeyRef" | "secretKeyRef" | "fieldRef" | "resourceFieldRef"]
        )
    }
}

impl ListKeys for AtomicLists {
    fn list_kind(&self, _path: &[&str]) -> ListKind {
        ListKind::Atomic
    }
}

// ---------------------------------------------------------------------------------------------------
// Strategic merge patch
// ---------------------------------------------------------------------------------------------------

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
fn key_fields<'k>(item: &Map<String, Value>, keys: &'k [String]) -> Result<Map<String, Value>, &'k str> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut out = Map::new();
    for k in sorted {
        let v = item.get(k).ok_or(k.as_str())?;
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

fn matches_key(o: &Value, key: &Map<String, Value>) -> bool {
    o.as_object().is_some_and(|om| key.iter().all(|(k, v)| om.get(k) == Some(v)))
}

fn string_list(v: &Value) -> Option<Vec<&str>> {
    v.as_array()?.iter().map(Value::as_str).collect()
}

fn strs(path: &[String]) -> Vec<&str> {
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

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------------------
// Field sets (FieldsV1)
// ---------------------------------------------------------------------------------------------------

/// A set of field paths, shaped like `FieldsV1`: children keyed by serialized path elements
/// (`f:<field>`, `k:<key json>`, `v:<value json>`, `i:<index>`), `member` marking the node itself.
/// Kept pruned: no child is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn insert(&mut self, path: &[String]) {
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

    fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.children.entry(k.clone()).or_default().union_with(c);
        }
    }

    fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    fn difference(&self, other: &FieldSet) -> FieldSet {
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

    fn intersection(&self, other: &FieldSet) -> FieldSet {
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
    fn members(&self) -> Vec<Vec<String>> {
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
fn strip_meta(set: &mut FieldSet) {
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

fn key_elem_from(key: &Map<String, Value>) -> String {
    format!("k:{}", Value::Object(key.clone()))
}

/// `k:` element of a list item from the key fields it has (lenient: for stored objects).
fn key_elem(item: &Value, keys: &[String]) -> Option<String> {
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

fn value_elem(v: &Value) -> String {
    format!("v:{v}")
}

/// Renders a path the way structured-merge-diff prints it: `.spec.containers[name="nginx"].image`.
fn display_path(elems: &[String]) -> String {
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
// Schema-aware walks over objects
// ---------------------------------------------------------------------------------------------------

/// Field names (for [`ListKeys`]) and path elements (for field sets) of the current position.
#[derive(Default)]
struct Cursor {
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
struct Diff {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

impl Diff {
    fn strip(&mut self) {
        strip_meta(&mut self.added);
        strip_meta(&mut self.modified);
        strip_meta(&mut self.removed);
    }

    fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

struct Schema<'a> {
    keys: &'a dyn ListKeys,
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
    fn compare(&self, o: &Value, n: &Value, cur: &mut Cursor, diff: &mut Diff) {
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
// managedFields entries
// ---------------------------------------------------------------------------------------------------

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<Value>,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    /// The apiserver's manager identity: manager, operation, subresource, and for updates the
    /// API version too.
    fn is(&self, manager: &str, operation: &str, subresource: Option<&str>, api: &str) -> bool {
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

fn decode_entries(v: Option<&Value>) -> Vec<Entry> {
    v.and_then(Value::as_array).map(|l| l.iter().filter_map(Entry::decode).collect()).unwrap_or_default()
}

/// Removes and returns `metadata.managedFields`.
fn take_managed(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")?.as_object_mut()?.shift_remove("managedFields")
}

/// Writes `entries` (empty ones dropped, sorted like the apiserver does) as `metadata.managedFields`.
fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
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

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn req<'a>(manager: &'a str, force: bool, now: &'a str) -> ApplyRequest<'a> {
        ApplyRequest { manager, force, api_version: "apps/v1", subresource: None, now }
    }

    fn apply(live: Option<&Value>, cfg: &Value, r: &ApplyRequest<'_>) -> Value {
        server_side_apply(live, cfg, r, &BuiltinListKeys).expect("apply succeeds")
    }

    fn apply_err(live: Option<&Value>, cfg: &Value, r: &ApplyRequest<'_>) -> ApplyError {
        server_side_apply(live, cfg, r, &BuiltinListKeys).expect_err("apply must fail")
    }

    fn entry<'v>(obj: &'v Value, manager: &str, operation: &str) -> Option<&'v Value> {
        obj["metadata"]["managedFields"].as_array()?.iter().find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    fn fields<'v>(obj: &'v Value, manager: &str, operation: &str) -> &'v Value {
        &entry(obj, manager, operation).expect("entry exists")["fieldsV1"]
    }

    fn without_managed(obj: &Value) -> Value {
        let mut o = obj.clone();
        take_managed(&mut o);
        o
    }

    fn deployment(replicas: i64, image: &str) -> Value {
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

    fn has_directive(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, c)| k.starts_with('$') || has_directive(c)),
            Value::Array(l) => l.iter().any(has_directive),
            _ => false,
        }
    }

    // ---- strategic merge patch ----

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

    // ---- field sets ----

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

    // ---- server-side apply ----

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

    // ---- update bookkeeping ----

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

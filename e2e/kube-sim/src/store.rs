//! The object store: an in-memory etcd + registry with the apiserver's storage semantics.
//!
//! Contract: every write (from an HTTP request or from a simulated control-plane controller) goes through
//! [`Store::create`], [`Store::modify`] or [`Store::delete`], which run admission, assign `uid`,
//! `resourceVersion` (one global counter, like etcd's revision), `generation` and `creationTimestamp`, keep the
//! owner index, append to the watch history and fan the event out to watchers and to the control plane.
//! Reads return `Arc<Value>` snapshots; nothing outside this module mutates stored objects.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::admission::{self, Operation};
use super::resources::{self, GroupResource, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// Namespace + name of a stored object (namespace empty for cluster-scoped kinds).
pub type ObjKey = (String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// Wire name in watch events.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the watch history and sent to the control plane.
#[derive(Debug, Clone)]
pub struct Change {
    /// Revision of the change.
    pub rv: u64,
    /// Resource type.
    pub gr: GroupResource,
    /// Kind of change.
    pub kind: EventType,
    /// Object after the change (for deletions: the last state).
    pub object: Arc<Value>,
    /// Object before the change, if any.
    pub old: Option<Arc<Value>>,
}

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// A typed event with its object.
    Event(EventType, Arc<Value>),
    /// A bookmark at a revision; `initial_end` marks the end of `sendInitialEvents`.
    Bookmark(u64, bool),
    /// The watch must end with this error (e.g. 410 after a history expiry).
    Error(ApiError),
}

/// A registered watch.
struct Watcher {
    id: u64,
    gr: GroupResource,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    tx: mpsc::UnboundedSender<WatchItem>,
}

impl Watcher {
    fn selects(&self, obj: &Value) -> bool {
        let ns_ok = self.namespace.as_deref().is_none_or(|ns| obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns));
        ns_ok && self.labels.matches_object(obj) && self.fields.matches(obj)
    }
}

/// Options for list and watch.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Restrict to one namespace.
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size (0 = all).
    pub limit: usize,
    /// Continue token from a previous page.
    pub continue_token: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// Matching objects.
    pub items: Vec<Arc<Value>>,
    /// Revision the list reflects.
    pub resource_version: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Items not returned yet, when paginating.
    pub remaining: Option<usize>,
}

/// How dependents are treated on delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Owner goes now; the garbage collector removes dependents afterwards.
    #[default]
    Background,
    /// Owner waits (finalizer `foregroundDeletion`) until blocking dependents are gone.
    Foreground,
    /// Dependents lose their owner reference (finalizer `orphan`).
    Orphan,
}

/// Options for delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Propagation policy.
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// Result of a delete: either the object is gone, or it is terminating (finalizers pending).
#[derive(Debug, Clone)]
pub enum Deleted {
    /// Removed from storage.
    Gone(Arc<Value>),
    /// Marked with `deletionTimestamp`, waiting for finalizers.
    Terminating(Arc<Value>),
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The main resource: status changes are discarded when the type has a status subresource.
    Main,
    /// `/status`: only status changes are kept.
    Status,
}

struct TypeTable {
    rt: Arc<ResourceType>,
    objects: BTreeMap<ObjKey, Arc<Value>>,
}

struct State {
    rv: u64,
    tables: BTreeMap<GroupResource, TypeTable>,
    history: VecDeque<Change>,
    /// Watches may resume from any revision >= this.
    history_floor: u64,
    watchers: Vec<Watcher>,
    next_watcher: u64,
    /// owner uid -> dependents.
    dependents: HashMap<String, BTreeSet<(GroupResource, String, String)>>,
    /// uid -> object location.
    by_uid: HashMap<String, (GroupResource, String, String)>,
}

/// Tunables of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Watch history entries kept (older revisions get 410 Gone).
    pub history_limit: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { history_limit: 50_000 }
    }
}

/// The shared store.
pub struct Store {
    state: Mutex<State>,
    config: StoreConfig,
    control: mpsc::UnboundedSender<Change>,
}

/// Current time as the apiserver formats `metav1.Time`.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Current time as `metav1.MicroTime`.
pub fn now_micro() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        8 | (b[8] & 0x3),
        b[9] & 0x0f,
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15],
        b[2] ^ b[9]
    )
}

/// Five characters from the apiserver's `generateName` alphabet (no vowels, no ambiguous digits).
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// Whether the type's objects carry `metadata.generation`: custom resources and built-ins with a spec/status split,
/// except services and namespaces, whose strategies never set it.
fn has_generation(rt: &ResourceType) -> bool {
    rt.custom || (rt.status_subresource && !(rt.gr.group.is_empty() && matches!(rt.gr.resource.as_str(), "services" | "namespaces")))
}

/// A delete's `preconditions` mismatch (uid / resourceVersion) as the apiserver words it: 409 Conflict.
///
/// The generic registry names the kind (`ConfigMap`, `Deployment.apps`) and says what a mismatch usually
/// means; namespaces and CRDs have registries of their own that still use the storage layer's wording.
fn check_delete_precondition(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    field: &str,
    label: &str,
    want: Option<&str>,
) -> Result<(), ApiError> {
    let Some(want) = want else { return Ok(()) };
    let have = meta_str(current, field).unwrap_or_default();
    if want == have {
        return Ok(());
    }
    let own_registry = matches!(
        (rt.gr.group.as_str(), rt.gr.resource.as_str()),
        ("", "namespaces") | ("apiextensions.k8s.io", "customresourcedefinitions")
    );
    if own_registry {
        return Err(ApiError::conflict_msg(
            &rt.gr,
            name,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}",
                rt.gr
            ),
            None,
        ));
    }
    let meaning =
        if field == "uid" { "The object might have been deleted and then recreated" } else { "The object might have been modified" };
    Err(ApiError::conflict_on_kind(
        rt,
        name,
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the {label} in the precondition ({want}) does not match the {label} in record ({have}). {meaning}",
            rt.qualified_kind()
        ),
    ))
}

/// An update whose `metadata.uid` is not the stored object's: the storage layer's precondition error, worded
/// with the object's etcd key as kube-apiserver words it (409 Conflict).
fn check_update_uid(rt: &ResourceType, ns: &str, name: &str, current: &Value, sent: Option<&str>) -> Result<(), ApiError> {
    let Some(sent) = sent.filter(|u| !u.is_empty()) else { return Ok(()) };
    let have = meta_str(current, "uid").unwrap_or_default();
    if sent == have {
        return Ok(());
    }
    Err(ApiError::conflict_msg(
        &rt.gr,
        name,
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": StorageError: invalid object, Code: 4, Key: {}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {sent}, UID in object meta: {have}",
            rt.gr,
            storage_key(rt, ns, name)
        ),
        None,
    ))
}

/// The etcd key kube-apiserver stores an object under (shown in storage errors): `/registry/<resource>/...` for
/// built-in kinds (a few have historical prefixes), `/registry/<group>/<resource>/...` for custom resources and
/// for CRDs themselves.
fn storage_key(rt: &ResourceType, ns: &str, name: &str) -> String {
    let prefix = match (rt.gr.group.as_str(), rt.gr.resource.as_str()) {
        ("", "services") => "services/specs".to_owned(),
        ("", "endpoints") => "services/endpoints".to_owned(),
        ("networking.k8s.io", "ingresses") => "ingress".to_owned(),
        ("apiextensions.k8s.io", resource) => format!("apiextensions.k8s.io/{resource}"),
        (group, resource) if rt.custom => format!("{group}/{resource}"),
        (_, resource) => resource.to_owned(),
    };
    if rt.namespaced { format!("/registry/{prefix}/{ns}/{name}") } else { format!("/registry/{prefix}/{name}") }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Object minus the parts that never count as a spec change.
fn generation_view(obj: &Value, status_is_separate: bool) -> Value {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        if status_is_separate {
            o.remove("status");
        }
    }
    v
}

impl Store {
    /// A store with the built-in types and the namespaces every cluster has.
    pub fn new(config: StoreConfig, control: mpsc::UnboundedSender<Change>) -> Self {
        let mut tables = BTreeMap::new();
        for rt in resources::builtins() {
            tables.insert(rt.gr.clone(), TypeTable { rt: Arc::new(rt), objects: BTreeMap::new() });
        }
        let store = Self {
            state: Mutex::new(State {
                rv: 1000,
                tables,
                history: VecDeque::new(),
                history_floor: 1000,
                watchers: Vec::new(),
                next_watcher: 0,
                dependents: HashMap::new(),
                by_uid: HashMap::new(),
            }),
            config,
            control,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // The built-in namespaces are valid by construction.
            let _ = store.create(&GroupResource::new("", "namespaces"), "", obj);
        }
        store
    }

    // === type registry ===

    /// All served types.
    pub fn types(&self) -> Vec<Arc<ResourceType>> {
        self.state.lock().tables.values().map(|t| t.rt.clone()).collect()
    }

    /// Looks a type up by group and plural (or, as kubectl never does, singular) name.
    pub fn resolve(&self, group: &str, resource: &str) -> Option<Arc<ResourceType>> {
        let st = self.state.lock();
        st.tables.get(&GroupResource::new(group, resource)).map(|t| t.rt.clone())
    }

    /// Registers (or replaces) a CRD-served type. Existing objects are kept.
    pub fn register(&self, rt: ResourceType) {
        let mut st = self.state.lock();
        let gr = rt.gr.clone();
        let rt = Arc::new(rt);
        match st.tables.get_mut(&gr) {
            Some(t) => t.rt = rt,
            None => {
                st.tables.insert(gr, TypeTable { rt, objects: BTreeMap::new() });
            }
        }
    }

    /// Stops serving a CRD type and drops its objects (the apiserver deletes all CRs with their CRD).
    pub fn unregister(&self, gr: &GroupResource) {
        let mut st = self.state.lock();
        let Some(table) = st.tables.remove(gr) else { return };
        for obj in table.objects.into_values() {
            Self::emit(&mut st, &self.config, &self.control, gr.clone(), EventType::Deleted, obj.clone(), None);
            if let Some(uid) = meta_str(&obj, "uid") {
                st.by_uid.remove(uid);
            }
        }
        // Watches on the type end: clients re-discover and see the resource gone.
        st.watchers.retain(|w| &w.gr != gr);
    }

    // === reads ===

    /// Current revision.
    pub fn revision(&self) -> u64 {
        self.state.lock().rv
    }

    /// One object.
    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        let st = self.state.lock();
        st.tables
            .get(gr)
            .and_then(|t| t.objects.get(&(ns.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(gr, name))
    }

    /// Looks an object up by uid.
    pub fn get_by_uid(&self, uid: &str) -> Option<(GroupResource, Arc<Value>)> {
        let st = self.state.lock();
        let (gr, ns, name) = st.by_uid.get(uid)?;
        let obj = st.tables.get(gr)?.objects.get(&(ns.clone(), name.clone()))?.clone();
        Some((gr.clone(), obj))
    }

    /// Dependents (by owner uid) of an object.
    pub fn dependents_of(&self, uid: &str) -> Vec<(GroupResource, Arc<Value>)> {
        let st = self.state.lock();
        st.dependents
            .get(uid)
            .map(|set| {
                set.iter()
                    .filter_map(|(gr, ns, name)| Some((gr.clone(), st.tables.get(gr)?.objects.get(&(ns.clone(), name.clone()))?.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Lists objects with selectors and pagination.
    pub fn list(&self, gr: &GroupResource, opts: &ListOptions) -> Result<ListResult, ApiError> {
        let st = self.state.lock();
        let table = st.tables.get(gr).ok_or_else(|| ApiError::no_route(&gr.to_string()))?;
        let start: Option<ObjKey> = match &opts.continue_token {
            Some(tok) => Some(decode_continue(tok, st.history_floor)?),
            None => None,
        };
        let range: Box<dyn Iterator<Item = (&ObjKey, &Arc<Value>)>> = match (&start, &opts.namespace) {
            (Some(k), _) => Box::new(table.objects.range((std::ops::Bound::Excluded(k.clone()), std::ops::Bound::Unbounded))),
            (None, Some(ns)) => Box::new(table.objects.range((ns.clone(), String::new())..)),
            (None, None) => Box::new(table.objects.iter()),
        };
        let mut items = Vec::new();
        let mut last_key = None;
        let mut remaining = 0usize;
        for (key, obj) in range {
            if let Some(ns) = &opts.namespace
                && &key.0 != ns
            {
                if key.0.as_str() > ns.as_str() {
                    break;
                }
                continue;
            }
            if !opts.labels.matches_object(obj) || !opts.fields.matches(obj) {
                continue;
            }
            if opts.limit > 0 && items.len() >= opts.limit {
                remaining += 1;
                continue;
            }
            last_key = Some(key.clone());
            items.push(obj.clone());
        }
        let continue_token = (remaining > 0).then(|| last_key.map(|k| encode_continue(st.rv, &k))).flatten();
        Ok(ListResult { items, resource_version: st.rv, remaining: continue_token.as_ref().map(|_| remaining), continue_token })
    }

    // === writes ===

    /// Creates an object (runs admission; assigns identity fields).
    pub fn create(&self, gr: &GroupResource, ns: &str, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        let mut st = self.state.lock();
        let rt = st.tables.get(gr).map(|t| t.rt.clone()).ok_or_else(|| ApiError::no_route(&gr.to_string()))?;
        if rt.namespaced {
            let ns_obj = st.tables.get(&GroupResource::new("", "namespaces")).and_then(|t| t.objects.get(&(String::new(), ns.to_owned())));
            match ns_obj {
                None => return Err(ApiError::not_found(&GroupResource::new("", "namespaces"), ns)),
                Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                    let name = meta_str(&obj, "name").unwrap_or_default().to_owned();
                    return Err(ApiError::forbidden(
                        gr,
                        &name,
                        format!(
                            "{gr} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        {
            let m = meta_mut(&mut obj);
            if m.get("name").and_then(Value::as_str).is_none_or(str::is_empty)
                && let Some(prefix) = m.get("generateName").and_then(Value::as_str).filter(|p| !p.is_empty())
            {
                let name = format!("{prefix}{}", random_suffix(5));
                m.insert("name".into(), json!(name));
            }
            if rt.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            for f in
                ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink"]
            {
                m.remove(f);
            }
        }
        let uid = new_uid();
        meta_mut(&mut obj).insert("uid".into(), json!(uid));
        admission::admit(&rt, Operation::Create, &mut obj, None)?;
        let name = meta_str(&obj, "name").unwrap_or_default().to_owned();
        let key = (if rt.namespaced { ns.to_owned() } else { String::new() }, name.clone());
        if st.tables.get(gr).is_some_and(|t| t.objects.contains_key(&key)) {
            return Err(ApiError::already_exists(gr, &name));
        }
        st.rv += 1;
        let rv = st.rv;
        {
            let m = meta_mut(&mut obj);
            m.insert("uid".into(), json!(uid));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if has_generation(&rt) {
                m.insert("generation".into(), json!(1));
            }
        }
        if rt.status_subresource && !rt.custom && !matches!(gr.resource.as_str(), "namespaces" | "services" | "pods") {
            // Built-in workloads ignore status on create, as the apiserver's strategies do.
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        let obj = Arc::new(obj);
        Self::index(&mut st, gr, &key, None, Some(&obj));
        if let Some(t) = st.tables.get_mut(gr) {
            t.objects.insert(key, obj.clone());
        }
        Self::emit(&mut st, &self.config, &self.control, gr.clone(), EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Read-modify-write under the store lock. The closure receives the current object and returns the desired
    /// one; a `metadata.resourceVersion` in the result that differs from the current revision is a 409.
    /// Admission, status-subresource rules, generation and finalizer completion are applied here.
    pub fn modify<F>(&self, gr: &GroupResource, ns: &str, name: &str, sub: Subresource, f: F) -> Result<Arc<Value>, ApiError>
    where
        F: FnOnce(&Value) -> Result<Value, ApiError>,
    {
        let mut st = self.state.lock();
        let rt = st.tables.get(gr).map(|t| t.rt.clone()).ok_or_else(|| ApiError::no_route(&gr.to_string()))?;
        let key = (if rt.namespaced { ns.to_owned() } else { String::new() }, name.to_owned());
        let old = st.tables.get(gr).and_then(|t| t.objects.get(&key)).cloned().ok_or_else(|| ApiError::not_found(gr, name))?;
        let mut new = f(&old)?;
        let old_rv = meta_str(&old, "resourceVersion").unwrap_or_default().to_owned();
        if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty())
            && rv != old_rv
        {
            return Err(ApiError::conflict(gr, name));
        }
        if meta_str(&new, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name").unwrap_or_default()
            )));
        }
        check_update_uid(&rt, ns, name, &old, meta_str(&new, "uid"))?;
        // Fields the server owns are carried over whatever the client sent.
        {
            let old_meta = meta(&old).cloned().unwrap_or_default();
            let m = meta_mut(&mut new);
            for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace", "name"] {
                match old_meta.get(f) {
                    Some(v) => {
                        m.insert(f.into(), v.clone());
                    }
                    None => {
                        m.remove(f);
                    }
                }
            }
            m.remove("selfLink");
        }
        match sub {
            Subresource::Status => {
                // Only status (and managedFields) changes are kept; everything else is reset to the stored
                // object, exactly as the apiserver's status strategies do.
                let status = new.get("status").cloned();
                let mut merged = (*old).clone();
                match status {
                    Some(s) => merged["status"] = s,
                    None => {
                        if let Some(o) = merged.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                // managedFields may be updated by the status writer.
                if let Some(mf) = new.pointer("/metadata/managedFields").cloned() {
                    meta_mut(&mut merged).insert("managedFields".into(), mf);
                }
                new = merged;
            }
            Subresource::Main if rt.status_subresource => match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            },
            Subresource::Main => {}
        }
        if sub == Subresource::Main {
            admission::admit(&rt, Operation::Update, &mut new, Some(&old))?;
        } else {
            admission::admit_status(&rt, &mut new, &old)?;
        }
        // Finalizers may not be added once deletion started (the apiserver forbids new finalizers then).
        let terminating = old.pointer("/metadata/deletionTimestamp").is_some();
        if terminating {
            let before: BTreeSet<String> = finalizers(&old).into_iter().collect();
            if let Some(added) = finalizers(&new).into_iter().find(|f| !before.contains(f)) {
                return Err(ApiError::forbidden(
                    gr,
                    name,
                    format!(
                        "{gr} \"{name}\" is forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [{added}]"
                    ),
                ));
            }
        }
        let mut unchanged_probe = new.clone();
        meta_mut(&mut unchanged_probe).insert("resourceVersion".into(), json!(old_rv));
        if unchanged_probe == *old {
            // No-op writes do not bump the revision or emit events (as etcd3 storage short-circuits).
            return Ok(old);
        }
        if has_generation(&rt) {
            let separate = rt.status_subresource;
            let gen_now = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            let bump = generation_view(&old, separate) != generation_view(&new, separate);
            meta_mut(&mut new).insert("generation".into(), json!(if bump { gen_now + 1 } else { gen_now }));
        }
        st.rv += 1;
        let rv = st.rv;
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        if terminating && finalizers(&new).is_empty() {
            // Last finalizer removed: the object goes away now.
            let new = Arc::new(new);
            Self::index(&mut st, gr, &key, Some(&old), None);
            if let Some(t) = st.tables.get_mut(gr) {
                t.objects.remove(&key);
            }
            Self::emit(&mut st, &self.config, &self.control, gr.clone(), EventType::Deleted, new.clone(), Some(old));
            return Ok(new);
        }
        let new = Arc::new(new);
        Self::index(&mut st, gr, &key, Some(&old), Some(&new));
        if let Some(t) = st.tables.get_mut(gr) {
            t.objects.insert(key, new.clone());
        }
        Self::emit(&mut st, &self.config, &self.control, gr.clone(), EventType::Modified, new.clone(), Some(old));
        Ok(new)
    }

    /// Deletes an object, honouring finalizers, preconditions and the propagation policy.
    pub fn delete(&self, gr: &GroupResource, ns: &str, name: &str, opts: &DeleteOptions) -> Result<Deleted, ApiError> {
        let mut st = self.state.lock();
        let rt = st.tables.get(gr).map(|t| t.rt.clone()).ok_or_else(|| ApiError::no_route(&gr.to_string()))?;
        let key = (if rt.namespaced { ns.to_owned() } else { String::new() }, name.to_owned());
        let old = st.tables.get(gr).and_then(|t| t.objects.get(&key)).cloned().ok_or_else(|| ApiError::not_found(gr, name))?;
        check_delete_precondition(&rt, name, &old, "uid", "UID", opts.uid.as_deref())?;
        check_delete_precondition(&rt, name, &old, "resourceVersion", "ResourceVersion", opts.resource_version.as_deref())?;
        let mut fins = finalizers(&old);
        // Namespaces always terminate through their content; workloads default to background deletion.
        let policy = opts.propagation.unwrap_or(Propagation::Background);
        match policy {
            Propagation::Foreground if !fins.iter().any(|f| f == "foregroundDeletion") => fins.push("foregroundDeletion".into()),
            Propagation::Orphan if !fins.iter().any(|f| f == "orphan") => fins.push("orphan".into()),
            _ => {}
        }
        let is_namespace = gr.group.is_empty() && gr.resource == "namespaces";
        if is_namespace && !fins.iter().any(|f| f == "kubernetes") {
            fins.push("kubernetes".into());
        }
        if fins.is_empty() {
            st.rv += 1;
            let rv = st.rv;
            let mut last = (*old).clone();
            meta_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
            let last = Arc::new(last);
            Self::index(&mut st, gr, &key, Some(&old), None);
            if let Some(t) = st.tables.get_mut(gr) {
                t.objects.remove(&key);
            }
            Self::emit(&mut st, &self.config, &self.control, gr.clone(), EventType::Deleted, last.clone(), Some(old));
            return Ok(Deleted::Gone(last));
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&old) == fins {
            return Ok(Deleted::Terminating(old));
        }
        let mut new = (*old).clone();
        st.rv += 1;
        let rv = st.rv;
        {
            let m = meta_mut(&mut new);
            if !m.contains_key("deletionTimestamp") {
                m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                if let Some(g) = m.get("generation").and_then(Value::as_i64) {
                    m.insert("generation".into(), json!(g + 1));
                }
            }
            m.insert("finalizers".into(), json!(fins));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        if is_namespace {
            new["status"] = json!({"phase": "Terminating"});
        }
        let new = Arc::new(new);
        if let Some(t) = st.tables.get_mut(gr) {
            t.objects.insert(key, new.clone());
        }
        Self::emit(&mut st, &self.config, &self.control, gr.clone(), EventType::Modified, new.clone(), Some(old));
        Ok(Deleted::Terminating(new))
    }

    // === watch ===

    /// Starts a watch. `from` = `Some(rv)` replays history after `rv` (410 if compacted); `None` replays the
    /// current state as ADDED events ("get state and start at most recent"). `initial_bookmark` sends the
    /// `k8s.io/initial-events-end` bookmark after the replay.
    pub fn watch(
        &self,
        gr: &GroupResource,
        namespace: Option<String>,
        labels: LabelSelector,
        fields: FieldSelector,
        from: Option<u64>,
        initial_bookmark: bool,
    ) -> Result<(u64, mpsc::UnboundedReceiver<WatchItem>), ApiError> {
        let mut st = self.state.lock();
        if !st.tables.contains_key(gr) {
            return Err(ApiError::no_route(&gr.to_string()));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let w = Watcher { id: st.next_watcher, gr: gr.clone(), namespace, labels, fields, tx };
        st.next_watcher += 1;
        match from {
            Some(rv) if rv < st.history_floor => {
                let _ = w.tx.send(WatchItem::Error(ApiError::gone(format!("too old resource version: {rv} ({})", st.history_floor))));
                return Ok((w.id, rx));
            }
            Some(rv) => {
                for c in st.history.iter().filter(|c| c.rv > rv && &c.gr == gr) {
                    Self::deliver(&w, c);
                }
            }
            None => {
                if let Some(t) = st.tables.get(gr) {
                    for obj in t.objects.values() {
                        if w.selects(obj) {
                            let _ = w.tx.send(WatchItem::Event(EventType::Added, obj.clone()));
                        }
                    }
                }
            }
        }
        if initial_bookmark {
            let _ = w.tx.send(WatchItem::Bookmark(st.rv, true));
        }
        let id = w.id;
        st.watchers.push(w);
        Ok((id, rx))
    }

    /// Ends a watch registration.
    pub fn unwatch(&self, id: u64) {
        self.state.lock().watchers.retain(|w| w.id != id);
    }

    /// The revision a watch bookmark carries (the current one).
    pub fn bookmark_revision(&self) -> u64 {
        self.state.lock().rv
    }

    /// Fault injection: closes every watch (clients see the stream end and must re-watch).
    pub fn drop_watches(&self) -> usize {
        let mut st = self.state.lock();
        let n = st.watchers.len();
        st.watchers.clear();
        n
    }

    /// Fault injection: forgets the watch history so any resume gets 410 Gone, and closes open watches.
    pub fn expire_history(&self) {
        let mut st = self.state.lock();
        st.history.clear();
        st.history_floor = st.rv + 1;
        let rv = st.rv;
        for w in st.watchers.drain(..) {
            let _ = w.tx.send(WatchItem::Error(ApiError::gone(format!("too old resource version: {rv} ({})", rv + 1))));
        }
    }

    /// Number of objects per type (for `/sim/stats`).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.state.lock().tables.iter().map(|(gr, t)| (gr.to_string(), t.objects.len())).collect()
    }

    /// Every stored object (for snapshots and the secret-leak scan in tests).
    pub fn dump(&self) -> Vec<(GroupResource, Arc<Value>)> {
        let st = self.state.lock();
        st.tables.iter().flat_map(|(gr, t)| t.objects.values().map(move |o| (gr.clone(), o.clone()))).collect()
    }

    /// Restores objects verbatim (snapshot load). CRDs must come first so their types are registered.
    pub fn restore(&self, gr: &GroupResource, obj: Value) {
        let mut st = self.state.lock();
        let ns = meta_str(&obj, "namespace").unwrap_or_default().to_owned();
        let name = meta_str(&obj, "name").unwrap_or_default().to_owned();
        if let Some(rv) = meta_str(&obj, "resourceVersion").and_then(|r| r.parse::<u64>().ok()) {
            st.rv = st.rv.max(rv);
            st.history_floor = st.rv;
        }
        let key = (ns, name);
        let obj = Arc::new(obj);
        let old = st.tables.get(gr).and_then(|t| t.objects.get(&key)).cloned();
        Self::index(&mut st, gr, &key, old.as_ref(), Some(&obj));
        if let Some(t) = st.tables.get_mut(gr) {
            t.objects.insert(key, obj);
        }
    }

    // === internals ===

    fn index(st: &mut State, gr: &GroupResource, key: &ObjKey, old: Option<&Arc<Value>>, new: Option<&Arc<Value>>) {
        let loc = (gr.clone(), key.0.clone(), key.1.clone());
        if let Some(o) = old {
            for owner in owner_uids(o) {
                if let Some(set) = st.dependents.get_mut(&owner) {
                    set.remove(&loc);
                    if set.is_empty() {
                        st.dependents.remove(&owner);
                    }
                }
            }
            if new.is_none()
                && let Some(uid) = meta_str(o, "uid")
            {
                st.by_uid.remove(uid);
            }
        }
        if let Some(n) = new {
            for owner in owner_uids(n) {
                st.dependents.entry(owner).or_default().insert(loc.clone());
            }
            if let Some(uid) = meta_str(n, "uid") {
                st.by_uid.insert(uid.to_owned(), loc);
            }
        }
    }

    fn deliver(w: &Watcher, c: &Change) {
        let now = w.selects(&c.object);
        // Without a recorded previous version (history entries whose labels did not change) the object was
        // selected before exactly when it is now.
        let before = c.old.as_ref().map_or(c.kind == EventType::Modified && now, |o| w.selects(o));
        let item = match (c.kind, before, now) {
            // Selector transitions look like add/delete to the watcher, as on the apiserver.
            (EventType::Deleted, true, _) | (EventType::Deleted, false, true) | (EventType::Modified, true, false) => {
                Some(EventType::Deleted)
            }
            (EventType::Added, _, true) | (EventType::Modified, false, true) => Some(EventType::Added),
            (EventType::Modified, true, true) => Some(EventType::Modified),
            _ => None,
        };
        if let Some(kind) = item {
            let _ = w.tx.send(WatchItem::Event(kind, c.object.clone()));
        }
    }

    fn emit(
        st: &mut State,
        config: &StoreConfig,
        control: &mpsc::UnboundedSender<Change>,
        gr: GroupResource,
        kind: EventType,
        object: Arc<Value>,
        old: Option<Arc<Value>>,
    ) {
        let change = Change { rv: st.rv, gr, kind, object, old };
        st.watchers.retain(|w| {
            if w.gr == change.gr {
                Self::deliver(w, &change);
            }
            !w.tx.is_closed()
        });
        // The history keeps the previous version only when labels changed: replaying a resumed watch needs it to
        // turn selector transitions into ADDED/DELETED, and pinning every old version would double memory.
        let labels_changed =
            change.old.as_ref().is_some_and(|o| o.pointer("/metadata/labels") != change.object.pointer("/metadata/labels"));
        st.history.push_back(Change { old: if labels_changed { change.old.clone() } else { None }, ..change.clone() });
        while st.history.len() > config.history_limit {
            if let Some(c) = st.history.pop_front() {
                st.history_floor = c.rv;
            }
        }
        let _ = control.send(change);
    }
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}", key.0, key.1)}).to_string();
    hex_encode(raw.as_bytes())
}

fn decode_continue(tok: &str, floor: u64) -> Result<ObjKey, ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {tok}"));
    let bytes = hex_decode(tok).ok_or_else(bad)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    if rv < floor {
        return Err(ApiError::gone(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        ));
    }
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_owned(), name.to_owned()))
}

fn hex_encode(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

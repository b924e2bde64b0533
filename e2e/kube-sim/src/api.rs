//! The HTTP face of kube-sim: Kubernetes API paths (discovery, CRUD, subresources, patch, watch, server-side
//! printing) translated onto [`Store`] calls, plus request accounting and fault injection hooks.
//!
//! This module owns no state of its own beyond [`ApiState`]; it never mutates objects except through the store.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::control::Controls;
use super::patch::{self, ApplyRequest};
use super::protobuf;
use super::resources::{self, GroupResource, ResourceType, TypeListKeys};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{self, DeleteOptions, Deleted, ListOptions, Propagation, Store, Subresource, WatchItem};
use super::table;

/// Shared state of the HTTP layer.
#[derive(Clone)]
pub struct ApiState {
    /// Object storage.
    pub store: Arc<Store>,
    /// Counters, faults, switches.
    pub controls: Arc<Controls>,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
}

type Params = BTreeMap<String, String>;

/// What a request path names.
struct Target {
    rt: Arc<ResourceType>,
    /// Storage type (differs from `rt.gr` only for the events.k8s.io view of core events).
    storage: GroupResource,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Target {
    fn events_v1(&self) -> bool {
        self.rt.gr.group == "events.k8s.io"
    }
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
    fn resource_label(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}/{s}", self.rt.gr.resource),
            None => self.rt.gr.resource.clone(),
        }
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &e.to_status());
    if let Some(r) = e.retry_after
        && let Ok(v) = r.to_string().parse()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The catch-all handler for Kubernetes API paths.
pub async fn handle(State(state): State<ApiState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let params: Params = Query::<Vec<(String, String)>>::try_from_uri(&uri).map(|q| q.0.into_iter().collect()).unwrap_or_default();
    let client = user_agent_product(&headers);
    if let Some(latency) = state.controls.latency() {
        tokio::time::sleep(latency).await;
    }
    if state.controls.is_down() {
        return error_response(&ApiError::unavailable());
    }
    let path = uri.path().trim_end_matches('/').to_owned();
    let result = route(&state, &method, &path, &params, &headers, &body, &client);
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn user_agent_product(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.split(['/', ' ']).next().unwrap_or(ua).to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn route(
    state: &ApiState,
    method: &Method,
    path: &str,
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
    client: &str,
) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if method == Method::GET
        && let Some(r) = discovery(state, &segs, headers)
    {
        state.controls.count("get", "discovery", client);
        return r;
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    let target = resolve(state, group, version, rest, path)?;
    let watching = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match (method, target.name.is_some(), watching) {
        (&Method::GET, _, true) => "watch",
        (&Method::GET, true, false) => "get",
        (&Method::GET, false, false) => "list",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, true, _) => "delete",
        (&Method::DELETE, false, _) => "deletecollection",
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            )));
        }
    };
    let resource_label = target.resource_label();
    state.controls.count(verb, &resource_label, client);
    if matches!(verb, "create" | "update" | "patch" | "delete" | "deletecollection") {
        if let Some(e) = state.controls.take_fault(&resource_label, verb, target.name.as_deref().unwrap_or_default()) {
            return Err(e);
        }
        if params.get("dryRun").is_some_and(|d| !d.is_empty()) {
            return Err(ApiError::not_implemented("server-side dry run (dryRun=All)"));
        }
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let body = &request_body(content_type, verb, &target, body.clone())?;
    let manager = params.get("fieldManager").cloned().unwrap_or_else(|| client.to_owned());
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if !accept.contains("json") && !accept.contains("*/*") && !accept.is_empty() {
        return Err(ApiError::not_acceptable(format!(
            "only the following media types are accepted: application/json, application/yaml (kube-sim does not speak protobuf); got {accept}"
        )));
    }
    let shape = Shape::from_accept(accept);
    match verb {
        "watch" => watch(state, &target, params, shape),
        "get" => get(state, &target, params, shape),
        "list" => list(state, &target, params, shape),
        "create" => create(state, &target, params, body, &manager),
        "update" => update(state, &target, params, body, &manager),
        "patch" => patch_object(state, &target, headers, params, body, &manager),
        "delete" => delete(state, &target, params, body),
        _ => delete_collection(state, &target, params, body),
    }
}

fn resolve(state: &ApiState, group: &str, version: &str, rest: &[&str], path: &str) -> Result<Target, ApiError> {
    let (namespace, resource, name, sub): (Option<&str>, &str, Option<&str>, Option<&str>) = match rest {
        // `/namespaces/{name}[/status|/finalize]` is the namespace object itself.
        ["namespaces"] => (None, "namespaces", None, None),
        ["namespaces", name] => (None, "namespaces", Some(*name), None),
        ["namespaces", name, s @ ("status" | "finalize")] if group.is_empty() => (None, "namespaces", Some(*name), Some(*s)),
        ["namespaces", ns, resource] => (Some(*ns), *resource, None, None),
        ["namespaces", ns, resource, name] => (Some(*ns), *resource, Some(*name), None),
        ["namespaces", ns, resource, name, sub] => (Some(*ns), *resource, Some(*name), Some(*sub)),
        [resource] => (None, *resource, None, None),
        [resource, name] => (None, *resource, Some(*name), None),
        [resource, name, sub] => (None, *resource, Some(*name), Some(*sub)),
        _ => return Err(ApiError::no_route(path)),
    };
    let rt = state.store.resolve(group, resource).ok_or_else(|| ApiError::no_route(path))?;
    if !rt.versions.iter().any(|v| v == version) {
        return Err(ApiError::no_route(path));
    }
    if namespace.is_some() && !rt.namespaced {
        return Err(ApiError::no_route(path));
    }
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route(path));
    }
    match sub {
        None | Some("status") if sub.is_none() || rt.status_subresource => {}
        Some("scale") if rt.scale.is_some() => {}
        Some("finalize") if rt.gr.resource == "namespaces" => {}
        Some("eviction") if rt.gr.group.is_empty() && rt.gr.resource == "pods" => {}
        Some(other) => {
            return Err(
                if matches!(other, "log" | "exec" | "attach" | "portforward" | "proxy" | "binding" | "ephemeralcontainers" | "resize") {
                    ApiError::not_implemented(&format!("the {}/{other} subresource", rt.gr.resource))
                } else {
                    ApiError::no_route(path)
                },
            );
        }
        None => {}
    }
    let storage = if rt.gr.group == "events.k8s.io" { GroupResource::new("", "events") } else { rt.gr.clone() };
    Ok(Target {
        rt,
        storage,
        version: version.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        sub: sub.map(str::to_owned),
    })
}

// === discovery ===

fn discovery(state: &ApiState, segs: &[&str], headers: &HeaderMap) -> Option<Result<Response, ApiError>> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let types = state.store.types();
    let groups = || {
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in types.iter().filter(|t| !t.gr.group.is_empty()) {
            let e = by_group.entry(t.gr.group.clone()).or_default();
            for v in &t.versions {
                if !e.contains(v) {
                    e.push(v.clone());
                }
            }
        }
        by_group
    };
    let group_json = |name: &str, versions: &[String]| {
        let vs: Vec<Value> = versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
        json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
    };
    let resource_list = |group: &str, version: &str| {
        let mut resources = Vec::new();
        for t in types.iter().filter(|t| t.gr.group == group && t.versions.iter().any(|v| v == version)) {
            resources.extend(resources::discovery_entries(t));
        }
        let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    };
    let ok = |v: Value| Some(Ok(json_response(StatusCode::OK, &v)));
    match segs {
        ["version"] => ok(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-sim", "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"
        })),
        ["healthz" | "livez" | "readyz"] => Some(Ok((StatusCode::OK, "ok").into_response())),
        ["api"] => ok(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}),
        ),
        ["api", "v1"] => ok(resource_list("", "v1")),
        ["apis"] => {
            let list: Vec<Value> = groups().iter().map(|(g, vs)| group_json(g, vs)).collect();
            ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}))
        }
        ["apis", g] => match groups().get(*g) {
            Some(vs) => {
                let mut v = group_json(g, vs);
                v["kind"] = json!("APIGroup");
                v["apiVersion"] = json!("v1");
                ok(v)
            }
            None => Some(Err(ApiError::no_route(&format!("/apis/{g}")))),
        },
        ["apis", g, v] => {
            if groups().get(*g).is_some_and(|vs| vs.iter().any(|x| x == v)) {
                ok(resource_list(g, v))
            } else {
                Some(Err(ApiError::no_route(&format!("/apis/{g}/{v}"))))
            }
        }
        // An empty protobuf message is a valid, empty OpenAPI v2 `Document`: kubectl then skips client-side schema
        // validation (as it does for kinds missing from a real server's document) and falls back to its compiled-in
        // strategic-merge metadata. kube-sim publishes no schemas (see docs/kube-sim.md).
        ["openapi", "v2"] => Some(Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")],
            Vec::<u8>::new(),
        )
            .into_response())),
        ["openapi", ..] => Some(Err(ApiError::no_route(
            "/openapi/v3: kube-sim serves no OpenAPI v3 documents (kubectl explain is unsupported); see docs/kube-sim.md",
        ))),
        _ => None,
    }
}

// === reads ===

fn params_list_options(target: &Target, params: &Params) -> Result<ListOptions, ApiError> {
    let labels =
        LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str)).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields =
        FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str)).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for label in fields.labels() {
        if !target.rt.supports_field_label(label) {
            return Err(ApiError::bad_request(format!("field label not supported: {label}")));
        }
    }
    let fields = if target.events_v1() {
        FieldSelector(fields.0.into_iter().map(|(k, eq, v)| (events_v1_field_to_core(&k), eq, v)).collect())
    } else {
        fields
    };
    let limit = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    Ok(ListOptions {
        namespace: target.namespace.clone(),
        labels,
        fields,
        limit,
        continue_token: params.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

fn present(target: &Target, obj: &Value) -> Value {
    let mut v = if target.events_v1() { core_event_to_v1(obj) } else { obj.clone() };
    // Objects are served in the version the client asked for (no conversion: all versions share a schema).
    v["apiVersion"] = json!(target.rt.api_version(&target.version));
    v
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The representation a client asked for in `Accept` (`as=Table`, `as=PartialObjectMetadata[List]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Full,
    Table,
    Metadata,
}

impl Shape {
    fn from_accept(accept: &str) -> Self {
        // Clients list several alternatives in preference order; the first one kube-sim can produce wins.
        for alternative in accept.split(',') {
            if alternative.contains("as=Table") {
                return Self::Table;
            }
            if alternative.contains("as=PartialObjectMetadata") {
                return Self::Metadata;
            }
            if alternative.contains("json") || alternative.contains("*/*") {
                return Self::Full;
            }
        }
        Self::Full
    }
}

/// `meta.k8s.io/v1` `PartialObjectMetadata` of an object (what metadata-only watchers receive).
fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

fn get(state: &ApiState, target: &Target, params: &Params, shape: Shape) -> Result<Response, ApiError> {
    let name = target.name.as_deref().unwrap_or_default();
    let obj = state
        .store
        .get(&target.storage, target.ns(), name)
        .map_err(|e| if target.events_v1() { ApiError::not_found(&target.rt.gr, name) } else { e })?;
    if target.sub.as_deref() == Some("scale") {
        return Ok(json_response(StatusCode::OK, &to_scale(target, &obj)));
    }
    let obj = Arc::new(present(target, &obj));
    match shape {
        Shape::Table => {
            let include = params.get("includeObject").is_some_and(|i| i == "Object");
            Ok(json_response(StatusCode::OK, &table::table(&target.rt, &[obj], None, None, include, true, now_secs())))
        }
        Shape::Metadata => Ok(json_response(StatusCode::OK, &partial_metadata(&obj))),
        Shape::Full => Ok(json_response(StatusCode::OK, &obj)),
    }
}

fn list(state: &ApiState, target: &Target, params: &Params, shape: Shape) -> Result<Response, ApiError> {
    let opts = params_list_options(target, params)?;
    let res = state.store.list(&target.storage, &opts)?;
    let want_av = target.rt.api_version(&target.version);
    let items: Vec<Arc<Value>> = res
        .items
        .into_iter()
        .map(|o| {
            if !target.events_v1() && o.get("apiVersion").and_then(Value::as_str) == Some(want_av.as_str()) {
                o
            } else {
                Arc::new(present(target, &o))
            }
        })
        .collect();
    if shape == Shape::Table {
        let include = params.get("includeObject").is_some_and(|i| i == "Object");
        return Ok(json_response(
            StatusCode::OK,
            &table::table(&target.rt, &items, Some(res.resource_version), res.continue_token.as_deref(), include, true, now_secs()),
        ));
    }
    let mut meta = json!({"resourceVersion": res.resource_version.to_string()});
    if let Some(c) = &res.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = res.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    if shape == Shape::Metadata {
        let items: Vec<Value> = items.iter().map(|o| partial_metadata(o)).collect();
        return Ok(json_response(
            StatusCode::OK,
            &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
        ));
    }
    // Typed (built-in) lists omit kind/apiVersion on items, as the apiserver's protobuf-backed encoders do;
    // custom resource lists keep them.
    let custom = target.rt.custom;
    let mut body = String::with_capacity(items.len() * 1024 + 256);
    let _ = write!(
        body,
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
        json!(format!("{}List", target.rt.kind)),
        json!(target.rt.api_version(&target.version)),
        meta
    );
    let mut bytes = body.into_bytes();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        // Serialised straight from the shared snapshot: no per-item clone on the hot path of a 10k-object list.
        let written =
            if custom { serde_json::to_writer(&mut bytes, &**item) } else { serde_json::to_writer(&mut bytes, &WithoutTypeMeta(item)) };
        written.map_err(|e| ApiError::internal(format!("encoding list item: {e}")))?;
    }
    bytes.extend_from_slice(b"]}");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Serialises an object without its `kind`/`apiVersion` (how typed list items are encoded).
struct WithoutTypeMeta<'a>(&'a Value);

impl serde::Serialize for WithoutTypeMeta<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(map) = self.0 else { return self.0.serialize(serializer) };
        let mut out = serializer.serialize_map(None)?;
        for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "kind" && k.as_str() != "apiVersion") {
            out.serialize_entry(k, v)?;
        }
        out.end()
    }
}

// === watch ===

struct WatchGuard {
    store: Arc<Store>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.store.unwatch(self.id);
    }
}

struct WatchState {
    rx: tokio::sync::mpsc::UnboundedReceiver<WatchItem>,
    _guard: WatchGuard,
    done: bool,
    first_table: bool,
}

fn watch(state: &ApiState, target: &Target, params: &Params, shape: Shape) -> Result<Response, ApiError> {
    let mut opts = params_list_options(target, params)?;
    if let Some(name) = &target.name {
        // Watch on a single object (legacy path form) = field selector on the name.
        opts.fields.0.push(("metadata.name".into(), true, name.clone()));
    }
    let rv_param = params.get("resourceVersion").map(String::as_str).unwrap_or_default();
    let send_initial = params.get("sendInitialEvents").is_some_and(|s| s == "true");
    let from = if send_initial || rv_param.is_empty() || rv_param == "0" {
        None
    } else {
        Some(rv_param.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv_param}")))?)
    };
    let bookmarks = params.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = params.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).map(Duration::from_secs);
    let (id, rx) = state.store.watch(&target.storage, opts.namespace.clone(), opts.labels, opts.fields, from, send_initial)?;
    let guard = WatchGuard { store: state.store.clone(), id };
    let deadline = tokio::time::Instant::now() + timeout.unwrap_or(Duration::from_secs(1800));
    let interval = state.bookmark_interval;
    let rt = target.rt.clone();
    let version = target.version.clone();
    let events_v1 = target.events_v1();
    let store = state.store.clone();
    let include_object = params.get("includeObject").is_some_and(|i| i == "Object");
    let init = WatchState { rx, _guard: guard, done: false, first_table: true };
    let stream = futures::stream::unfold(init, move |mut st| {
        let rt = rt.clone();
        let version = version.clone();
        let store = store.clone();
        async move {
            if st.done {
                return None;
            }
            let next_bookmark = tokio::time::sleep(interval);
            let item = tokio::select! {
                item = st.rx.recv() => item,
                () = tokio::time::sleep_until(deadline) => None,
                () = next_bookmark, if bookmarks => Some(WatchItem::Bookmark(store.bookmark_revision(), false)),
            };
            let item = item?;
            let line = match item {
                WatchItem::Event(kind, obj) => {
                    let mut o = if events_v1 { core_event_to_v1(&obj) } else { (*obj).clone() };
                    o["apiVersion"] = json!(rt.api_version(&version));
                    let object = match shape {
                        Shape::Table => {
                            let t = table::table(&rt, &[Arc::new(o)], None, None, include_object, st.first_table, now_secs());
                            st.first_table = false;
                            t
                        }
                        Shape::Metadata => partial_metadata(&o),
                        Shape::Full => o,
                    };
                    json!({"type": kind.as_str(), "object": object})
                }
                WatchItem::Bookmark(rv, initial_end) => {
                    if !bookmarks && !initial_end {
                        json!(null)
                    } else {
                        let mut md = json!({"resourceVersion": rv.to_string()});
                        if initial_end {
                            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                        }
                        let (kind, api_version) = if shape == Shape::Metadata {
                            ("PartialObjectMetadata".to_owned(), "meta.k8s.io/v1".to_owned())
                        } else {
                            (rt.kind.clone(), rt.api_version(&version))
                        };
                        json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": md}})
                    }
                }
                WatchItem::Error(e) => {
                    st.done = true;
                    json!({"type": "ERROR", "object": e.to_status()})
                }
            };
            let mut bytes = if line.is_null() { Vec::new() } else { serde_json::to_vec(&line).unwrap_or_default() };
            if !bytes.is_empty() {
                bytes.push(b'\n');
            }
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), st))
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header("Transfer-Encoding", "chunked")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

// === writes ===

/// The request body as JSON: protobuf bodies of built-in kinds (what kubectl's generators and client-go send)
/// are decoded to the object they stand for; CBOR and protobuf elsewhere are refused clearly (415).
fn request_body(content_type: &str, verb: &str, target: &Target, body: Bytes) -> Result<Bytes, ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.contains("cbor") {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, \
             application/yaml, application/vnd.kubernetes.protobuf (kube-sim does not decode {media})"
        )));
    }
    if media != "application/vnd.kubernetes.protobuf" || body.is_empty() {
        return Ok(body);
    }
    if target.rt.custom || !matches!(verb, "create" | "update" | "delete") {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, \
             application/yaml{}",
            if target.rt.custom { "" } else { ", application/vnd.kubernetes.protobuf" }
        )));
    }
    let object = protobuf::decode(&body).map_err(|e| match e {
        protobuf::DecodeError::Kind { .. } | protobuf::DecodeError::UnknownField { .. } => ApiError::unsupported_media_type(e.to_string()),
        other => ApiError::bad_request(other.to_string()),
    })?;
    serde_json::to_vec(&object).map(Bytes::from).map_err(|e| ApiError::internal(e.to_string()))
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).or_else(|_| {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded: {e}")))
    })
}

fn check_type(target: &Target, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = target.rt.api_version(&target.version);
    let want_kind = &target.rt.kind;
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
        Some(_) => {}
        None => obj["apiVersion"] = json!(want_av),
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k != want_kind => {
            Err(ApiError::bad_request(format!("the kind in the data ({k}) does not match the expected kind ({want_kind})")))
        }
        Some(_) => Ok(()),
        None => {
            obj["kind"] = json!(want_kind);
            Ok(())
        }
    }
}

/// `fieldValidation` for custom resources: unknown fields (what pruning would drop) fail the request under
/// `Strict` (kubectl's default) and come back as `Warning` headers under `Warn` (the server default). Built-in
/// kinds are not checked: kube-sim carries no `OpenAPI` schemas for them (`docs/kube-sim.md`).
fn unknown_fields(target: &Target, params: &Params, obj: &Value) -> Result<Vec<String>, ApiError> {
    let mode = params.get("fieldValidation").map_or("Warn", String::as_str);
    if mode == "Ignore" || !target.rt.custom {
        return Ok(Vec::new());
    }
    let Some(schema) = target.rt.schemas.get(&target.version) else { return Ok(Vec::new()) };
    let mut probe = obj.clone();
    let unknown: Vec<String> = schema.default_and_prune_report(&mut probe).into_iter().map(|p| format!("unknown field \"{p}\"")).collect();
    if unknown.is_empty() {
        return Ok(unknown);
    }
    match mode {
        "Strict" => Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = target.rt.kind,
            v = target.version
        ))),
        "Warn" => Ok(unknown),
        other => Err(ApiError::bad_request(format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Warn\", \"Strict\""
        ))),
    }
}

fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(v) = text.parse() {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

fn to_storage(target: &Target, obj: Value) -> Value {
    if target.events_v1() { v1_event_to_core(&obj) } else { obj }
}

fn create(state: &ApiState, target: &Target, params: &Params, body: &Bytes, manager: &str) -> Result<Response, ApiError> {
    if target.sub.as_deref() == Some("eviction") {
        let eviction = parse_body(body)?;
        let status = super::disruption::evict(&state.store, target.ns(), target.name.as_deref().unwrap_or_default(), &eviction)?;
        return Ok(json_response(StatusCode::CREATED, &status));
    }
    if target.name.is_some() {
        return Err(ApiError::method_not_allowed("POST on a named object is not allowed"));
    }
    let mut obj = parse_body(body)?;
    check_type(target, &mut obj)?;
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str)
        && target.rt.namespaced
        && Some(ns) != target.namespace.as_deref()
    {
        return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
    }
    let warnings = unknown_fields(target, params, &obj)?;
    let now = store::now_rfc3339();
    let api_version = target.rt.api_version(&target.version);
    patch::record_update(None, &mut obj, manager, &api_version, None, &now);
    let created = state.store.create(&target.storage, target.ns(), to_storage(target, obj))?;
    Ok(with_warnings(json_response(StatusCode::CREATED, &present(target, &created)), &warnings))
}

fn update(state: &ApiState, target: &Target, params: &Params, body: &Bytes, manager: &str) -> Result<Response, ApiError> {
    let name = target.name.clone().unwrap_or_default();
    let mut obj = parse_body(body)?;
    if target.sub.as_deref() == Some("scale") {
        let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let rv = obj.pointer("/metadata/resourceVersion").cloned();
        let updated = write_scale(state, target, &name, replicas, rv)?;
        return Ok(json_response(StatusCode::OK, &to_scale(target, &updated)));
    }
    check_type(target, &mut obj)?;
    let warnings = unknown_fields(target, params, &obj)?;
    let sub = subresource(target);
    let now = store::now_rfc3339();
    let api_version = target.rt.api_version(&target.version);
    let sub_name = target.sub.clone();
    let events_v1 = target.events_v1();
    let updated = state.store.modify(&target.storage, target.ns(), &name, sub, |old| {
        let mut new = if events_v1 { v1_event_to_core(&obj) } else { obj.clone() };
        patch::record_update(Some(old), &mut new, manager, &api_version, sub_name.as_deref(), &now);
        Ok(new)
    });
    let updated = match updated {
        Err(e) if e.code == 404 && target.sub.is_none() => {
            // PUT to a missing object creates it (AllowCreateOnUpdate), which kubectl replace --force relies on.
            let mut o = obj.clone();
            patch::record_update(None, &mut o, manager, &api_version, None, &now);
            let created = state.store.create(&target.storage, target.ns(), to_storage(target, o))?;
            return Ok(with_warnings(json_response(StatusCode::CREATED, &present(target, &created)), &warnings));
        }
        other => other?,
    };
    Ok(with_warnings(json_response(StatusCode::OK, &present(target, &updated)), &warnings))
}

fn subresource(target: &Target) -> Subresource {
    match target.sub.as_deref() {
        Some("status") => Subresource::Status,
        _ => Subresource::Main,
    }
}

fn patch_object(
    state: &ApiState,
    target: &Target,
    headers: &HeaderMap,
    params: &Params,
    body: &Bytes,
    manager: &str,
) -> Result<Response, ApiError> {
    let name = target.name.clone().ok_or_else(|| ApiError::method_not_allowed("PATCH requires a named object"))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let kind = content_type.split(';').next().unwrap_or_default().trim().to_owned();
    let api_version = target.rt.api_version(&target.version);
    let now = store::now_rfc3339();
    let rt = target.rt.clone();
    let version = target.version.clone();
    let keys = TypeListKeys { rt: &rt, version: &version };
    let accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
    if kind == "application/strategic-merge-patch+json" && target.rt.custom {
        return Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted}"
        )));
    }
    let patch_doc = if kind == "application/apply-patch+yaml" {
        parse_body(body)?
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
    };

    if kind == "application/apply-patch+yaml" {
        let Some(manager) = params.get("fieldManager").filter(|m| !m.is_empty()) else {
            return Err(ApiError::invalid(
                &target.rt.gr,
                "PatchOptions",
                "",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
                json!([{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]),
            ));
        };
        let mut applied = patch_doc;
        check_type(target, &mut applied)?;
        let warnings = unknown_fields(target, params, &applied)?;
        let force = params.get("force").is_some_and(|f| f == "true");
        let req = ApplyRequest { manager, force, api_version: &api_version, subresource: target.sub.as_deref(), now: &now };
        let map_err = |e: patch::ApplyError| match &e {
            patch::ApplyError::Conflicts(cs) => {
                let causes: Vec<Value> =
                    cs.iter().map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager_description()), "field": c.field})).collect();
                ApiError::conflict_msg(&target.rt.gr, &name, e.to_string(), Some(Value::Array(causes)))
            }
            patch::ApplyError::Invalid(m) => ApiError::bad_request(m.clone()),
        };
        let result = state.store.modify(&target.storage, target.ns(), &name, subresource(target), |old| {
            let mut new = patch::server_side_apply(Some(old), &applied, &req, &keys).map_err(map_err)?;
            // An apply never carries a resourceVersion precondition unless the user put one in.
            if applied.pointer("/metadata/resourceVersion").is_none()
                && let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
            {
                m.remove("resourceVersion");
            }
            Ok(new)
        });
        return match result {
            Err(e) if e.code == 404 && target.sub.is_none() => {
                let created_obj = patch::server_side_apply(None, &applied, &req, &keys).map_err(map_err)?;
                let created = state.store.create(&target.storage, target.ns(), to_storage(target, created_obj))?;
                Ok(with_warnings(json_response(StatusCode::CREATED, &present(target, &created)), &warnings))
            }
            other => Ok(with_warnings(json_response(StatusCode::OK, &present(target, &*other?)), &warnings)),
        };
    }

    let apply_patch = |doc: &Value| -> Result<Value, ApiError> {
        let mut doc = doc.clone();
        match kind.as_str() {
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_value(patch_doc.clone())
                    .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
                json_patch::patch(&mut doc, &ops).map_err(|e| {
                    ApiError::invalid(
                        &target.rt.gr,
                        &target.rt.kind,
                        &name,
                        format!("the server rejected our request due to an error in our request: {e}"),
                        json!([]),
                    )
                })?;
            }
            "application/merge-patch+json" => json_patch::merge(&mut doc, &patch_doc),
            "application/strategic-merge-patch+json" => {
                patch::strategic_merge(&mut doc, &patch_doc, &keys).map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            other => {
                return Err(ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: {accepted}, application/strategic-merge-patch+json (got {other:?})"
                )));
            }
        }
        Ok(doc)
    };

    if target.sub.as_deref() == Some("scale") {
        let current = state.store.get(&target.storage, target.ns(), &name)?;
        let scale = apply_patch(&to_scale(target, &current))?;
        let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let rv = scale.pointer("/metadata/resourceVersion").cloned().filter(|rv| Some(rv) != current.pointer("/metadata/resourceVersion"));
        let updated = write_scale(state, target, &name, replicas, rv)?;
        return Ok(json_response(StatusCode::OK, &to_scale(target, &updated)));
    }
    let sub_name = target.sub.clone();
    let events_v1 = target.events_v1();
    let mut warnings = Vec::new();
    let updated = state.store.modify(&target.storage, target.ns(), &name, subresource(target), |old| {
        let view = if events_v1 { core_event_to_v1(old) } else { old.clone() };
        let patched = apply_patch(&view)?;
        warnings = unknown_fields(target, params, &patched)?;
        let mut new = if events_v1 { v1_event_to_core(&patched) } else { patched };
        patch::record_update(Some(old), &mut new, manager, &api_version, sub_name.as_deref(), &now);
        Ok(new)
    })?;
    Ok(with_warnings(json_response(StatusCode::OK, &present(target, &updated)), &warnings))
}

fn delete_options(params: &Params, body: &Bytes) -> Result<DeleteOptions, ApiError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy =
        params.get("propagationPolicy").cloned().or_else(|| body.get("propagationPolicy").and_then(Value::as_str).map(str::to_owned));
    let orphan = body.get("orphanDependents").and_then(Value::as_bool).or_else(|| params.get("orphanDependents").map(|o| o == "true"));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some("Background"), _) => Some(Propagation::Background),
        (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
        (None, _) => None,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    };
    Ok(DeleteOptions {
        propagation,
        uid: body.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_owned),
        resource_version: body.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_owned),
    })
}

fn delete(state: &ApiState, target: &Target, params: &Params, body: &Bytes) -> Result<Response, ApiError> {
    let name = target.name.clone().unwrap_or_default();
    let opts = delete_options(params, body)?;
    match state.store.delete(&target.storage, target.ns(), &name, &opts)? {
        // Both answer 200 with the object (its final state, or the terminating one), for built-ins and custom
        // resources alike; kubectl prints `<kind> "<name>" deleted` from it.
        Deleted::Gone(obj) | Deleted::Terminating(obj) => Ok(json_response(StatusCode::OK, &present(target, &obj))),
    }
}

fn delete_collection(state: &ApiState, target: &Target, params: &Params, body: &Bytes) -> Result<Response, ApiError> {
    let opts = delete_options(params, body)?;
    let list_opts = params_list_options(target, params)?;
    let items = state.store.list(&target.storage, &ListOptions { limit: 0, continue_token: None, ..list_opts })?.items;
    let mut deleted = Vec::new();
    for obj in items {
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_owned();
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        match state.store.delete(&target.storage, &ns, &name, &opts) {
            Ok(Deleted::Gone(o) | Deleted::Terminating(o)) => deleted.push(present(target, &o)),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": format!("{}List", target.rt.kind), "apiVersion": target.rt.api_version(&target.version), "metadata": {"resourceVersion": state.store.revision().to_string()}, "items": deleted}),
    ))
}

// === scale subresource ===

fn pointer_of(path: &str) -> String {
    path.trim_start_matches('.').split('.').fold(String::new(), |acc, seg| format!("{acc}/{seg}"))
}

fn to_scale(target: &Target, obj: &Value) -> Value {
    let Some(scale) = &target.rt.scale else { return json!({}) };
    let spec = obj.pointer(&pointer_of(&scale.spec_replicas_path)).cloned().unwrap_or(json!(0));
    let status = obj.pointer(&pointer_of(&scale.status_replicas_path)).cloned().unwrap_or(json!(0));
    let selector = scale.label_selector_path.as_deref().and_then(|p| {
        if target.rt.custom {
            obj.pointer(&pointer_of(p)).cloned()
        } else {
            // Built-ins expose the spec selector serialised as a string.
            obj.pointer("/spec/selector")
                .and_then(|s| LabelSelector::from_json(s).ok())
                .map(|_| json!(selector_string(obj.pointer("/spec/selector"))))
        }
    });
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut md = json!({});
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(k) {
            md[k] = v.clone();
        }
    }
    let mut st = json!({"replicas": status});
    if let Some(s) = selector {
        st["selector"] = s;
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": md, "spec": {"replicas": spec}, "status": st})
}

fn selector_string(sel: Option<&Value>) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = sel.and_then(|s| s.get("matchLabels")).and_then(Value::as_object) {
        for (k, v) in ml {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel.and_then(|s| s.get("matchExpressions")).and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let vals: Vec<&str> =
                e.get("values").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            parts.push(match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
                "In" => format!("{key} in ({})", vals.join(",")),
                "NotIn" => format!("{key} notin ({})", vals.join(",")),
                "Exists" => key.to_owned(),
                _ => format!("!{key}"),
            });
        }
    }
    parts.join(",")
}

fn write_scale(state: &ApiState, target: &Target, name: &str, replicas: Value, rv: Option<Value>) -> Result<Arc<Value>, ApiError> {
    let Some(scale) = target.rt.scale.clone() else { return Err(ApiError::no_route("scale")) };
    if replicas.as_i64().is_none_or(|r| r < 0) {
        return Err(ApiError::invalid(
            &GroupResource::new("autoscaling", "scale"),
            "Scale",
            name,
            format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
            ),
            json!([{"reason": "FieldValueInvalid", "message": "Invalid value: must be greater than or equal to 0", "field": "spec.replicas"}]),
        ));
    }
    let ptr = pointer_of(&scale.spec_replicas_path);
    state.store.modify(&target.storage, target.ns(), name, Subresource::Main, |old| {
        let mut new = old.clone();
        set_pointer(&mut new, &ptr, replicas.clone());
        match &rv {
            Some(rv) => new["metadata"]["resourceVersion"] = rv.clone(),
            None => {
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
            }
        }
        Ok(new)
    })
}

fn set_pointer(obj: &mut Value, ptr: &str, v: Value) {
    let mut cur = obj;
    let segs: Vec<&str> = ptr.split('/').filter(|s| !s.is_empty()).collect();
    for (i, seg) in segs.iter().enumerate() {
        if i + 1 == segs.len() {
            cur[*seg] = v;
            return;
        }
        if !cur.get(*seg).is_some_and(Value::is_object) {
            cur[*seg] = json!({});
        }
        cur = &mut cur[*seg];
    }
}

// === events.k8s.io/v1 <-> core/v1 Event ===

fn events_v1_field_to_core(field: &str) -> String {
    match field {
        f if f.starts_with("regarding.") => f.replacen("regarding.", "involvedObject.", 1),
        "reportingController" => "reportingComponent".into(),
        other => other.into(),
    }
}

/// Presents a stored core/v1 Event as events.k8s.io/v1.
pub fn core_event_to_v1(core: &Value) -> Value {
    let mut v = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": core.get("metadata").cloned().unwrap_or(json!({}))});
    let copy = |v: &mut Value, from: &str, to: &str| {
        if let Some(x) = core.get(from).filter(|x| !x.is_null()) {
            v[to] = x.clone();
        }
    };
    copy(&mut v, "involvedObject", "regarding");
    copy(&mut v, "related", "related");
    copy(&mut v, "message", "note");
    copy(&mut v, "reason", "reason");
    copy(&mut v, "type", "type");
    copy(&mut v, "action", "action");
    copy(&mut v, "eventTime", "eventTime");
    copy(&mut v, "series", "series");
    copy(&mut v, "count", "deprecatedCount");
    copy(&mut v, "firstTimestamp", "deprecatedFirstTimestamp");
    copy(&mut v, "lastTimestamp", "deprecatedLastTimestamp");
    copy(&mut v, "source", "deprecatedSource");
    v["reportingController"] =
        core.get("reportingComponent").cloned().unwrap_or_else(|| core.pointer("/source/component").cloned().unwrap_or(json!("")));
    v["reportingInstance"] =
        core.get("reportingInstance").cloned().unwrap_or_else(|| core.pointer("/source/host").cloned().unwrap_or(json!("")));
    v
}

/// Stores an events.k8s.io/v1 Event in its core/v1 form.
pub fn v1_event_to_core(ev: &Value) -> Value {
    let mut v = json!({"apiVersion": "v1", "kind": "Event", "metadata": ev.get("metadata").cloned().unwrap_or(json!({}))});
    let copy = |v: &mut Value, from: &str, to: &str| {
        if let Some(x) = ev.get(from).filter(|x| !x.is_null()) {
            v[to] = x.clone();
        }
    };
    copy(&mut v, "regarding", "involvedObject");
    copy(&mut v, "related", "related");
    copy(&mut v, "note", "message");
    copy(&mut v, "reason", "reason");
    copy(&mut v, "type", "type");
    copy(&mut v, "action", "action");
    copy(&mut v, "eventTime", "eventTime");
    copy(&mut v, "series", "series");
    copy(&mut v, "deprecatedCount", "count");
    copy(&mut v, "deprecatedFirstTimestamp", "firstTimestamp");
    copy(&mut v, "deprecatedLastTimestamp", "lastTimestamp");
    copy(&mut v, "reportingController", "reportingComponent");
    copy(&mut v, "reportingInstance", "reportingInstance");
    v["source"] = ev.get("deprecatedSource").cloned().unwrap_or_else(|| json!({"component": ev.get("reportingController").cloned().unwrap_or(json!("")), "host": ev.get("reportingInstance").cloned().unwrap_or(json!(""))}));
    if v.get("involvedObject").is_none() {
        v["involvedObject"] = json!({});
    }
    v
}

//! Test controls under `/sim/` (never mixed into Kubernetes paths): request accounting, fault injection,
//! latency, simulated apiserver restarts, control-plane switches and stats.
//!
//! | path | method | body / effect |
//! |---|---|---|
//! | `/sim/requests` | GET | counters `{"total": n, "byVerb": {..}, "byResource": {..}, "byClient": {..}, "entries": [{verb, resource, client, count}]}` |
//! | `/sim/reset` | POST | zero counters, clear faults and latency |
//! | `/sim/faults` | POST | `{"resource": "replicasets", "verb": "patch"?, "name": "x"?, "code": 409\|429\|500\|503, "count": N}` — next N matching writes fail |
//! | `/sim/faults` | GET / DELETE | list / clear pending faults |
//! | `/sim/watches/drop` | POST | close every open watch |
//! | `/sim/history/expire` | POST | forget watch history: resumes get 410 Gone |
//! | `/sim/latency` | POST | `{"ms": 50}` added to every API request (0 clears) |
//! | `/sim/restart` | POST | `{"downMs": 500}` drop watches, expire nothing, answer 503 for the window |
//! | `/sim/controllers` | GET / POST | `{"replicaset": bool, "kubelet": bool, "job": bool, "endpoints": bool, "gc": bool, "disruption": bool}` switches |
//! | `/sim/clock` | GET | `{"now": RFC3339, "unixMillis": n, "revision": n}` |
//! | `/sim/stats` | GET | object counts per resource |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::ApiState;
use super::status::ApiError;

/// One pending injected fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Resource (plural, with `/status` etc. for subresources) the fault applies to; `*` for all.
    pub resource: String,
    /// Verb (`create`, `update`, `patch`, `delete`); absent = any write.
    #[serde(default)]
    pub verb: Option<String>,
    /// Object name; absent = any.
    #[serde(default)]
    pub name: Option<String>,
    /// HTTP code to answer: 409, 429, 500 or 503.
    pub code: u16,
    /// How many matching requests fail.
    pub count: u32,
}

/// Switches for the simulated control plane.
#[derive(Debug)]
pub struct Switches {
    /// `ReplicaSet` controller.
    pub replicaset: AtomicBool,
    /// Kubelet stand-in.
    pub kubelet: AtomicBool,
    /// Job controller.
    pub job: AtomicBool,
    /// Endpoints controller.
    pub endpoints: AtomicBool,
    /// Garbage collector (and namespace finalizer).
    pub gc: AtomicBool,
    /// Disruption controller (`PodDisruptionBudget` status).
    pub disruption: AtomicBool,
}

impl Switches {
    fn all(on: bool) -> Self {
        Self {
            replicaset: AtomicBool::new(on),
            kubelet: AtomicBool::new(on),
            job: AtomicBool::new(on),
            endpoints: AtomicBool::new(on),
            gc: AtomicBool::new(on),
            disruption: AtomicBool::new(on),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "replicaset": self.replicaset.load(Ordering::Relaxed),
            "kubelet": self.kubelet.load(Ordering::Relaxed),
            "job": self.job.load(Ordering::Relaxed),
            "endpoints": self.endpoints.load(Ordering::Relaxed),
            "gc": self.gc.load(Ordering::Relaxed),
            "disruption": self.disruption.load(Ordering::Relaxed),
        })
    }
}

/// Shared control state.
pub struct Controls {
    counters: Mutex<BTreeMap<(String, String, String), u64>>,
    faults: Mutex<Vec<Fault>>,
    latency_ms: AtomicU64,
    down_until: Mutex<Option<Instant>>,
    /// Control-plane switches.
    pub switches: Switches,
}

impl Controls {
    /// Fresh controls; `control_plane` sets every controller switch.
    pub fn new(control_plane: bool) -> Self {
        Self {
            counters: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(Vec::new()),
            latency_ms: AtomicU64::new(0),
            down_until: Mutex::new(None),
            switches: Switches::all(control_plane),
        }
    }

    /// Counts one request.
    pub fn count(&self, verb: &str, resource: &str, client: &str) {
        *self.counters.lock().entry((verb.to_owned(), resource.to_owned(), client.to_owned())).or_insert(0) += 1;
    }

    /// Consumes a matching fault, if any, as the error to answer with.
    pub fn take_fault(&self, resource: &str, verb: &str, name: &str) -> Option<ApiError> {
        let mut faults = self.faults.lock();
        let idx = faults.iter().position(|f| {
            (f.resource == "*" || f.resource == resource)
                && f.verb.as_deref().is_none_or(|v| v == verb)
                && f.name.as_deref().is_none_or(|n| n == name)
                && f.count > 0
        })?;
        let f = &mut faults[idx];
        f.count -= 1;
        let code = f.code;
        if f.count == 0 {
            faults.remove(idx);
        }
        let gr = super::resources::GroupResource::new("", resource);
        Some(match code {
            409 => ApiError::conflict(&gr, name),
            429 => ApiError::too_many_requests(),
            503 => ApiError::unavailable(),
            _ => ApiError::internal("injected fault (kube-sim /sim/faults)"),
        })
    }

    /// Extra latency per request.
    pub fn latency(&self) -> Option<Duration> {
        match self.latency_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Whether a simulated restart window is open.
    pub fn is_down(&self) -> bool {
        self.down_until.lock().is_some_and(|t| Instant::now() < t)
    }

    fn counters_json(&self) -> Value {
        let counters = self.counters.lock();
        let mut by_verb: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_resource: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_client: BTreeMap<&str, u64> = BTreeMap::new();
        let mut entries = Vec::new();
        let mut total = 0;
        for ((verb, resource, client), n) in counters.iter() {
            *by_verb.entry(verb).or_default() += n;
            *by_resource.entry(resource).or_default() += n;
            *by_client.entry(client).or_default() += n;
            total += n;
            entries.push(json!({"verb": verb, "resource": resource, "client": client, "count": n}));
        }
        json!({"total": total, "byVerb": by_verb, "byResource": by_resource, "byClient": by_client, "entries": entries})
    }
}

type S = State<ApiState>;

/// GET /sim/requests
pub async fn requests(State(s): S) -> Response {
    Json(s.controls.counters_json()).into_response()
}

/// POST /sim/reset
pub async fn reset(State(s): S) -> Response {
    s.controls.counters.lock().clear();
    s.controls.faults.lock().clear();
    s.controls.latency_ms.store(0, Ordering::Relaxed);
    *s.controls.down_until.lock() = None;
    Json(json!({"reset": true})).into_response()
}

/// POST /sim/faults
pub async fn add_fault(State(s): S, Json(f): Json<Fault>) -> Response {
    if !matches!(f.code, 409 | 429 | 500 | 503) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "code must be one of 409, 429, 500, 503"}))).into_response();
    }
    s.controls.faults.lock().push(f);
    Json(json!({"pending": *s.controls.faults.lock()})).into_response()
}

/// GET /sim/faults
pub async fn list_faults(State(s): S) -> Response {
    Json(json!({"pending": *s.controls.faults.lock()})).into_response()
}

/// DELETE /sim/faults
pub async fn clear_faults(State(s): S) -> Response {
    s.controls.faults.lock().clear();
    Json(json!({"pending": []})).into_response()
}

/// POST /sim/watches/drop
pub async fn drop_watches(State(s): S) -> Response {
    let n = s.store.drop_watches();
    Json(json!({"dropped": n})).into_response()
}

/// POST /sim/history/expire
pub async fn expire_history(State(s): S) -> Response {
    s.store.expire_history();
    Json(json!({"expired": true, "revision": s.store.revision()})).into_response()
}

#[derive(Deserialize)]
/// Body of POST /sim/latency.
pub struct LatencyBody {
    ms: u64,
}

/// POST /sim/latency
pub async fn latency(State(s): S, Json(b): Json<LatencyBody>) -> Response {
    s.controls.latency_ms.store(b.ms, Ordering::Relaxed);
    Json(json!({"ms": b.ms})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
/// Body of POST /sim/restart.
pub struct RestartBody {
    #[serde(default = "default_down")]
    down_ms: u64,
}

fn default_down() -> u64 {
    500
}

/// POST /sim/restart
pub async fn restart(State(s): S, body: Option<Json<RestartBody>>) -> Response {
    let down = body.map_or(default_down(), |b| b.down_ms);
    *s.controls.down_until.lock() = Some(Instant::now() + Duration::from_millis(down));
    let n = s.store.drop_watches();
    Json(json!({"downMs": down, "droppedWatches": n})).into_response()
}

/// GET /sim/controllers
pub async fn get_controllers(State(s): S) -> Response {
    Json(s.controls.switches.to_json()).into_response()
}

/// POST /sim/controllers
pub async fn set_controllers(State(s): S, Json(b): Json<BTreeMap<String, bool>>) -> Response {
    let sw = &s.controls.switches;
    for (k, v) in b {
        let flag = match k.as_str() {
            "replicaset" => &sw.replicaset,
            "kubelet" => &sw.kubelet,
            "job" => &sw.job,
            "endpoints" => &sw.endpoints,
            "gc" => &sw.gc,
            "disruption" => &sw.disruption,
            other => return (StatusCode::BAD_REQUEST, Json(json!({"error": format!("unknown controller {other:?}")}))).into_response(),
        };
        flag.store(v, Ordering::Relaxed);
    }
    Json(sw.to_json()).into_response()
}

/// GET /sim/clock
pub async fn clock(State(s): S) -> Response {
    let now = jiff::Timestamp::now();
    Json(json!({"now": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), "unixMillis": now.as_millisecond(), "revision": s.store.revision()})).into_response()
}

/// GET /sim/stats
pub async fn stats(State(s): S) -> Response {
    Json(json!({"objects": s.store.counts(), "revision": s.store.revision()})).into_response()
}

/// Convenience for tests: shared handle type.
pub type SharedControls = Arc<Controls>;

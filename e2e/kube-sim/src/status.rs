//! `metav1.Status` error bodies with the codes, reasons and message texts kube-apiserver uses, so clients
//! (kube-rs `ErrorResponse`, kubectl's error printer) see exactly what they would on a real cluster.

use serde_json::{Value, json};

use super::resources::{GroupResource, ResourceType};

/// An API failure: HTTP code + `Status` body.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable message, worded as kube-apiserver words it.
    pub message: String,
    /// `Status.details`, when the apiserver sends them.
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header (429/503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None, retry_after: None }
    }

    fn with_details(mut self, gr: &GroupResource, name: &str) -> Self {
        let mut d = json!({"name": name, "kind": gr.resource});
        if !gr.group.is_empty() {
            d["group"] = json!(gr.group);
        }
        self.details = Some(d);
        self
    }

    /// 404 for a named object.
    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{gr} \"{name}\" not found")).with_details(gr, name)
    }

    /// 404 for a path that names no resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(404, "NotFound", format!("the server could not find the requested resource ({path})"))
    }

    /// 409 on create of an existing name.
    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{gr} \"{name}\" already exists")).with_details(gr, name)
    }

    /// 409 on a stale `resourceVersion`.
    pub fn conflict(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {gr} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
        )
        .with_details(gr, name)
    }

    /// 409 with a custom message (UID precondition, server-side apply conflicts).
    pub fn conflict_msg(gr: &GroupResource, name: &str, message: String, causes: Option<Value>) -> Self {
        let mut e = Self::new(409, "Conflict", message).with_details(gr, name);
        if let (Some(c), Some(d)) = (causes, e.details.as_mut()) {
            d["causes"] = c;
        }
        e
    }

    /// 409 whose details name the kind rather than the resource (`{"kind": "ConfigMap"}`), as the generic
    /// registry's delete preconditions answer.
    pub fn conflict_on_kind(rt: &ResourceType, name: &str, message: String) -> Self {
        let mut e = Self::new(409, "Conflict", message);
        let mut d = json!({"name": name, "kind": rt.kind});
        if !rt.gr.group.is_empty() {
            d["group"] = json!(rt.gr.group);
        }
        e.details = Some(d);
        e
    }

    /// 422 with field causes.
    pub fn invalid(gr: &GroupResource, kind: &str, name: &str, message: String, causes: Value) -> Self {
        let mut e = Self::new(422, "Invalid", message);
        let mut d = json!({"name": name, "kind": kind, "causes": causes});
        if !gr.group.is_empty() {
            d["group"] = json!(gr.group);
        }
        e.details = Some(d);
        e
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 (e.g. creating in a terminating namespace).
    pub fn forbidden(gr: &GroupResource, name: &str, message: String) -> Self {
        Self::new(403, "Forbidden", message).with_details(gr, name)
    }

    /// 405.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 406.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// 410 for an expired watch/list position.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 415.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 429 with `Retry-After: 1`.
    pub fn too_many_requests() -> Self {
        let mut e = Self::new(429, "TooManyRequests", "Too many requests, please try again later.");
        e.retry_after = Some(1);
        e
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {}", message.into()))
    }

    /// 501: a request kube-sim deliberately does not emulate. Never a silent success.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(501, "NotImplemented", format!("kube-sim does not emulate {what}; see docs/kube-sim.md"))
    }

    /// 503 while a simulated apiserver restart is in progress.
    pub fn unavailable() -> Self {
        let mut e =
            Self::new(503, "ServiceUnavailable", "the server is currently unable to handle the request (kube-sim restart in progress)");
        e.retry_after = Some(1);
        e
    }

    /// The `Status` object body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if let Some(r) = self.retry_after {
            let d = s.as_object_mut().and_then(|o| o.get_mut("details"));
            match d {
                Some(d) => d["retryAfterSeconds"] = json!(r),
                None => s["details"] = json!({"retryAfterSeconds": r}),
            }
        }
        s
    }
}

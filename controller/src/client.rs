//! The controller's API client: every request is counted for `/metrics` (Argo's
//! `controller_clientset_k8s_request_total`), and every write is checked against the leadership [`Fence`] right
//! before it leaves the process.
//!
//! It wraps the `kube::Client` built from the configuration, so everything the controller does (reconcilers,
//! AnalysisRun providers, the Event recorder, the Service release loop) goes through one fence: a replica that does
//! not lead, or no longer does, cannot write anything, whichever part of it tries.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;

use crate::leader::Fence;
use crate::metrics::Metrics;

/// A write refused because this replica does not hold the leader Lease (or its lease expired).
#[derive(Debug, thiserror::Error)]
#[error("not the leader: {method} {path} refused (this replica does not hold the leader lease)")]
pub struct NotLeader {
    /// HTTP method of the refused request.
    pub method: Method,
    /// Path of the refused request.
    pub path: String,
}

/// `client` with request counting and, when `fence` is given, write fencing.
pub fn instrumented(client: Client, metrics: Arc<Metrics>, fence: Option<Fence>) -> Client {
    let default_namespace = client.default_namespace().to_owned();
    Client::new(Instrumented { inner: client, metrics, fence }, default_namespace)
}

#[derive(Clone)]
struct Instrumented {
    inner: Client,
    metrics: Arc<Metrics>,
    fence: Option<Fence>,
}

impl tower::Service<Request<Body>> for Instrumented {
    type Response = Response<Body>;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, Result<Response<Body>, tower::BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let info = RequestInfo::of(request.method(), request.uri().path(), request.uri().query());
        if info.writes()
            && let Some(fence) = &self.fence
            && !fence.allows_writes()
        {
            let refused = NotLeader { method: request.method().clone(), path: request.uri().path().to_owned() };
            return Box::pin(std::future::ready(Err(Box::new(refused) as tower::BoxError)));
        }
        let (inner, metrics) = (self.inner.clone(), self.metrics.clone());
        Box::pin(async move {
            let result = inner.send(request).await;
            let status = match &result {
                Ok(response) => response.status().as_u16(),
                Err(kube::Error::Api(status)) => status.code,
                Err(_) => 0,
            };
            metrics.request(&info.kind, &info.namespace, info.verb, status);
            result.map_err(Into::into)
        })
    }
}

/// What a request is, in the terms of Argo's client metrics.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The resource (plural); `Unknown` when the path is not a resource path.
    pub kind: String,
    /// The namespace, empty for cluster-wide requests.
    pub namespace: String,
    /// `Get`, `List`, `Watch`, `Create`, `Update`, `Patch`, `Delete` or `Unknown`.
    pub verb: &'static str,
}

impl RequestInfo {
    /// Reads `/api/v1/...` and `/apis/<group>/<version>/...` paths: `[namespaces/<ns>/]<resource>[/<name>[/<sub>]]`.
    pub fn of(method: &Method, path: &str, query: Option<&str>) -> Self {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest: &[&str] = match segments.as_slice() {
            ["api", _version, rest @ ..] | ["apis", _, _version, rest @ ..] => rest,
            _ => &[],
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => ((*ns).to_owned(), rest),
            _ => (String::new(), rest),
        };
        let (kind, named) = match rest {
            [] => ("Unknown".to_owned(), false),
            [resource] => ((*resource).to_owned(), false),
            [resource, ..] => ((*resource).to_owned(), true),
        };
        let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        let verb = match *method {
            Method::GET if watch => "Watch",
            Method::GET if named => "Get",
            Method::GET => "List",
            Method::POST => "Create",
            Method::PUT => "Update",
            Method::PATCH => "Patch",
            Method::DELETE => "Delete",
            _ => "Unknown",
        };
        Self { kind, namespace, verb }
    }

    /// Whether the request changes anything (what the fence stops).
    pub fn writes(&self) -> bool {
        matches!(self.verb, "Create" | "Update" | "Patch" | "Delete" | "Unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, path: &str, query: Option<&str>) -> (String, String, &'static str) {
        let i = RequestInfo::of(&method, path, query);
        (i.kind, i.namespace, i.verb)
    }

    #[test]
    fn requests_are_read_as_argos_client_metrics_read_them() {
        let t = |k: &str, n: &str, v: &'static str| (k.to_owned(), n.to_owned(), v);
        assert_eq!(info(Method::GET, "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web", None), t("rollouts", "shop", "Get"));
        assert_eq!(info(Method::GET, "/apis/argoproj.io/v1alpha1/rollouts", Some("labelSelector=x")), t("rollouts", "", "List"));
        assert_eq!(
            info(Method::GET, "/apis/apps/v1/namespaces/shop/replicasets", Some("watch=true&resourceVersion=5")),
            t("replicasets", "shop", "Watch")
        );
        assert_eq!(
            info(Method::PATCH, "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status", None),
            t("rollouts", "shop", "Patch")
        );
        assert_eq!(info(Method::POST, "/api/v1/namespaces/shop/pods/web-1/eviction", None), t("pods", "shop", "Create"));
        assert_eq!(info(Method::POST, "/api/v1/namespaces/shop/events", None), t("events", "shop", "Create"));
        assert_eq!(
            info(Method::PUT, "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases/l", None),
            t("leases", "serin-system", "Update")
        );
        assert_eq!(info(Method::DELETE, "/apis/apps/v1/namespaces/shop/replicasets/web-1", None), t("replicasets", "shop", "Delete"));
        assert_eq!(info(Method::GET, "/api/v1/namespaces/shop", None), t("namespaces", "", "Get"));
        assert_eq!(info(Method::GET, "/version", None), t("Unknown", "", "List"));
        assert!(RequestInfo::of(&Method::PATCH, "/api/v1/namespaces/a/services/s", None).writes());
        assert!(!RequestInfo::of(&Method::GET, "/api/v1/namespaces/a/services", Some("watch=1")).writes());
    }
}

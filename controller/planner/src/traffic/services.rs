//! `canaryService` / `stableService`: the Services whose selectors the Rollout narrows to one ReplicaSet by adding
//! `rollouts-pod-template-hash`, and marks with `argo-rollouts.argoproj.io/managed-by-rollouts: <rollout>`.
//!
//! Contract: pure. The caller decides which hash each Service should select (`None`: leave it as it is, e.g. while
//! the ReplicaSet it should select is not fully available yet). [`plan`] returns the selector changes, plus releases
//! of Services this Rollout marked earlier and no longer references (hash and annotation removed, so the Service
//! selects every pod of the app again). A Service marked by another Rollout is an error: two Rollouts would fight
//! over its selector.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use serin_api::labels::{MANAGED_BY_ROLLOUTS, POD_TEMPLATE_HASH};

use super::{RouteError, RouterKind, RouterObjects, by_name};

/// A Service the Rollout references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceTarget<'a> {
    /// Field path of the reference, e.g. `spec.strategy.canary.stableService`.
    pub path: &'static str,
    /// Name of the Service.
    pub name: &'a str,
    /// The pod-template hash it must select now; `None` leaves its selector as it is.
    pub hash: Option<&'a str>,
}

/// A change to a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceChange {
    /// Select only pods with this hash, and mark the Service managed by the Rollout.
    Select {
        /// The Service.
        name: String,
        /// The pod-template hash.
        hash: String,
        /// Observed `resourceVersion` (a precondition).
        resource_version: String,
    },
    /// Remove the hash from the selector and the managed-by mark.
    Release {
        /// The Service.
        name: String,
        /// Observed `resourceVersion` (a precondition).
        resource_version: String,
    },
}

/// The hash a Service selects, if any.
pub fn selected_hash(service: &Service) -> Option<&str> {
    service.spec.as_ref()?.selector.as_ref()?.get(POD_TEMPLATE_HASH).map(String::as_str)
}

/// The Rollout that marked a Service, if any.
pub fn managed_by(service: &Service) -> Option<&str> {
    service.metadata.annotations.as_ref()?.get(MANAGED_BY_ROLLOUTS).map(String::as_str)
}

/// The selector changes for `targets`, then the releases of Services marked by `rollout` that no target names.
pub fn plan(rollout: &str, targets: &[ServiceTarget<'_>], objects: &RouterObjects<'_>) -> Result<Vec<ServiceChange>, RouteError> {
    let mut changes = Vec::new();
    for target in targets {
        let Some(service) = by_name(objects.services, target.name) else {
            return Err(RouteError::missing(target.path, RouterKind::Service, target.name, objects));
        };
        if let Some(owner) = managed_by(service).filter(|owner| *owner != rollout) {
            return Err(RouteError::new(
                target.path,
                format!("Service {:?} is managed by Rollout {owner:?}; a Service can serve one Rollout only", target.name),
            ));
        }
        let Some(hash) = target.hash.filter(|h| !h.is_empty()) else { continue };
        if selected_hash(service) != Some(hash) || managed_by(service) != Some(rollout) {
            changes.push(ServiceChange::Select {
                name: target.name.to_owned(),
                hash: hash.to_owned(),
                resource_version: service.metadata.resource_version.clone().unwrap_or_default(),
            });
        }
    }
    changes.extend(releases(rollout, targets, objects.services));
    Ok(changes)
}

fn releases(rollout: &str, targets: &[ServiceTarget<'_>], services: &[Arc<Service>]) -> Vec<ServiceChange> {
    let mut out: Vec<ServiceChange> = services
        .iter()
        .filter(|s| managed_by(s) == Some(rollout))
        .filter(|s| !targets.iter().any(|t| Some(t.name) == s.metadata.name.as_deref()))
        .map(|s| ServiceChange::Release {
            name: s.metadata.name.clone().unwrap_or_default(),
            resource_version: s.metadata.resource_version.clone().unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(name: &str, selector: serde_json::Value, annotations: serde_json::Value) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "resourceVersion": "3", "annotations": annotations},
                "spec": {"selector": selector}
            }))
            .expect("fixture"),
        )
    }

    #[test]
    fn selects_marks_and_leaves_alone() {
        let services = [
            service("stable", json!({"app": "web"}), json!({})),
            service("canary", json!({"app": "web", POD_TEMPLATE_HASH: "abc"}), json!({MANAGED_BY_ROLLOUTS: "web"})),
        ];
        let objects = RouterObjects { services: &services, ..RouterObjects::default() };
        let targets = [
            ServiceTarget { path: "spec.strategy.canary.stableService", name: "stable", hash: Some("abc") },
            ServiceTarget { path: "spec.strategy.canary.canaryService", name: "canary", hash: Some("abc") },
        ];
        assert_eq!(
            plan("web", &targets, &objects).expect("plans"),
            vec![ServiceChange::Select { name: "stable".into(), hash: "abc".into(), resource_version: "3".into() }]
        );
        let hold = [ServiceTarget { path: "p", name: "stable", hash: None }];
        assert_eq!(
            plan("web", &hold, &objects).expect("plans"),
            vec![ServiceChange::Release { name: "canary".into(), resource_version: "3".into() }],
            "canary no longer referenced: released"
        );
    }

    #[test]
    fn missing_or_foreign_services_are_errors_at_the_reference() {
        let services = [service("other", json!({"app": "x"}), json!({MANAGED_BY_ROLLOUTS: "another"}))];
        let objects = RouterObjects { services: &services, ..RouterObjects::default() };
        let missing = [ServiceTarget { path: "spec.strategy.canary.canaryService", name: "nope", hash: Some("a") }];
        let err = plan("web", &missing, &objects).expect_err("missing");
        assert_eq!(err.path, "spec.strategy.canary.canaryService");
        assert!(err.message.contains("not found"), "{}", err.message);
        let foreign = [ServiceTarget { path: "spec.strategy.canary.stableService", name: "other", hash: Some("a") }];
        let err = plan("web", &foreign, &objects).expect_err("foreign");
        assert!(err.message.contains("managed by Rollout \"another\""), "{}", err.message);
    }
}

//! Pod disruption: the `pods/eviction` subresource and `PodDisruptionBudget` arithmetic, as kube-apiserver's
//! eviction REST handler and the disruption controller compute them. Pure over store snapshots except
//! [`evict`], which deletes the pod through the [`Store`] when the budgets allow it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::resources::GroupResource;
use super::selector::LabelSelector;
use super::status::ApiError;
use super::store::{DeleteOptions, ListOptions, Store};

/// The budget numbers the disruption controller publishes in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Pods the budget covers.
    pub expected: i64,
    /// Covered pods that are Ready and not terminating.
    pub current_healthy: i64,
    /// Healthy pods the budget demands.
    pub desired_healthy: i64,
    /// `max(current_healthy - desired_healthy, 0)`.
    pub disruptions_allowed: i64,
}

/// Whether a pod counts as healthy for budgets (Ready and not being deleted).
pub fn pod_healthy(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.get("type").and_then(Value::as_str) == Some("Ready") && c.get("status").and_then(Value::as_str) == Some("True"))
        })
}

/// Resolves an int-or-percent against `total` (`round_up` as apimachinery's scaled value).
fn scaled(v: &Value, total: i64, round_up: bool) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            let num = total * pct;
            Some(if round_up { (num + 99).div_euclid(100) } else { num.div_euclid(100) })
        }
        _ => None,
    }
}

/// Computes a budget over the pods it selects (`pods` are the namespace's pods).
pub fn budget(pdb: &Value, pods: &[Arc<Value>]) -> Budget {
    let selector = pdb.pointer("/spec/selector").and_then(|s| LabelSelector::from_json(s).ok());
    let covered: Vec<&Arc<Value>> = match &selector {
        // A PDB with a nil selector matches nothing; an empty one matches every pod (policy/v1 semantics).
        Some(sel) => pods.iter().filter(|p| sel.matches_object(p)).collect(),
        None => Vec::new(),
    };
    let expected = i64::try_from(covered.len()).unwrap_or(i64::MAX);
    let current_healthy = i64::try_from(covered.iter().filter(|p| pod_healthy(p)).count()).unwrap_or(i64::MAX);
    let spec = pdb.get("spec");
    let desired_healthy = if let Some(min) = spec.and_then(|s| s.get("minAvailable")) {
        scaled(min, expected, true).unwrap_or(expected)
    } else if let Some(max) = spec.and_then(|s| s.get("maxUnavailable")) {
        (expected - scaled(max, expected, true).unwrap_or(0)).max(0)
    } else {
        // Neither set: the apiserver defaults minAvailable to 1.
        1.min(expected)
    };
    Budget { expected, current_healthy, desired_healthy, disruptions_allowed: (current_healthy - desired_healthy).max(0) }
}

/// The `status` the disruption controller writes for a budget.
pub fn status(pdb: &Value, b: Budget, now: &str, previous: Option<&Value>) -> Value {
    let allowed = b.disruptions_allowed > 0;
    let (reason, message) = if allowed { ("SufficientPods", "") } else { ("InsufficientPods", "") };
    let was = previous.and_then(|p| p.pointer("/conditions/0/status")).and_then(Value::as_str);
    let want = if allowed { "True" } else { "False" };
    let since = match (was, previous.and_then(|p| p.pointer("/conditions/0/lastTransitionTime"))) {
        (Some(w), Some(t)) if w == want => t.clone(),
        _ => json!(now),
    };
    json!({
        "observedGeneration": pdb.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "expectedPods": b.expected,
        "currentHealthy": b.current_healthy,
        "desiredHealthy": b.desired_healthy,
        "disruptionsAllowed": b.disruptions_allowed,
        "conditions": [{"type": "DisruptionAllowed", "status": want, "reason": reason, "message": message,
                        "observedGeneration": pdb.pointer("/metadata/generation").cloned().unwrap_or(json!(1)), "lastTransitionTime": since}],
    })
}

fn pdb_gr() -> GroupResource {
    GroupResource::new("policy", "poddisruptionbudgets")
}

/// `POST pods/{name}/eviction`: deletes the pod unless a budget covering it has no disruption left. Budgets are
/// evaluated against the live pods (not the published status), so concurrent evictions cannot overdraw them.
pub fn evict(store: &Store, ns: &str, name: &str, body: &Value) -> Result<Value, ApiError> {
    let pods_gr = GroupResource::new("", "pods");
    let pod = store.get(&pods_gr, ns, name)?;
    if let Some(body_name) = body.pointer("/metadata/name").and_then(Value::as_str)
        && body_name != name
    {
        return Err(ApiError::bad_request(format!("name in URL does not match name in Eviction object: {name} vs {body_name}")));
    }
    if pod.pointer("/metadata/deletionTimestamp").is_none() {
        let pods = store.list(&pods_gr, &ListOptions { namespace: Some(ns.to_owned()), ..ListOptions::default() })?.items;
        let pdbs = store.list(&pdb_gr(), &ListOptions { namespace: Some(ns.to_owned()), ..ListOptions::default() })?.items;
        let covering: Vec<&Arc<Value>> = pdbs
            .iter()
            .filter(|p| p.pointer("/spec/selector").and_then(|s| LabelSelector::from_json(s).ok()).is_some_and(|s| s.matches_object(&pod)))
            .collect();
        if covering.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some(pdb) = covering.first() {
            let b = budget(pdb, &pods);
            // An unhealthy pod may go when the budget is already met (IfHealthyBudget, the default policy).
            let blocked = if pod_healthy(&pod) { b.disruptions_allowed == 0 } else { b.current_healthy < b.desired_healthy };
            if blocked {
                let pdb_name = pdb.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                let mut e = ApiError::too_many_requests();
                e.message = "Cannot evict pod as it would violate the pod's disruption budget.".into();
                e.retry_after = None;
                e.details = Some(json!({"causes": [{"reason": "DisruptionBudget", "message": format!(
                    "The disruption budget {pdb_name} needs {} healthy pods and has {} currently", b.desired_healthy, b.current_healthy)}]}));
                return Err(e);
            }
        }
        let opts = DeleteOptions {
            uid: body.pointer("/deleteOptions/preconditions/uid").and_then(Value::as_str).map(str::to_owned),
            resource_version: body.pointer("/deleteOptions/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_owned),
            ..DeleteOptions::default()
        };
        store.delete(&pods_gr, ns, name, &opts)?;
    }
    Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(app: &str, ready: bool) -> Arc<Value> {
        Arc::new(
            json!({"metadata": {"labels": {"app": app}}, "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}),
        )
    }

    #[test]
    fn min_available_and_max_unavailable() {
        let pods = vec![pod("a", true), pod("a", true), pod("a", false), pod("b", true)];
        let min = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "minAvailable": 2}});
        assert_eq!(budget(&min, &pods), Budget { expected: 3, current_healthy: 2, desired_healthy: 2, disruptions_allowed: 0 });
        let pct = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "maxUnavailable": "50%"}});
        // 50% of 3 rounded up = 2 may be unavailable, so 1 must stay healthy.
        assert_eq!(budget(&pct, &pods).disruptions_allowed, 1);
        let min_pct = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "minAvailable": "50%"}});
        assert_eq!(budget(&min_pct, &pods).desired_healthy, 2);
        let nil = json!({"spec": {"minAvailable": 1}});
        assert_eq!(budget(&nil, &pods).expected, 0);
    }
}

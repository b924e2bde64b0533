//! Label and annotation keys of the Argo Rollouts wire contract. Tools that read Argo's objects (Argo CD, the Argo
//! `kubectl` plugin, dashboards) look for exactly these keys.

/// Label on ReplicaSets, their pods and selector, and on the canary/stable Service selectors: the pod-template hash.
pub const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
/// Annotation on the Rollout and its ReplicaSets: the integer revision.
pub const REVISION: &str = "rollout.argoproj.io/revision";
/// Annotation on a ReplicaSet: the earlier revisions it served, comma-separated.
pub const REVISION_HISTORY: &str = "rollout.argoproj.io/revision-history";
/// Annotation on a ReplicaSet: `spec.replicas` of the Rollout when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "rollout.argoproj.io/desired-replicas";
/// Annotation on an old ReplicaSet: RFC 3339 time after which it is scaled to zero (no prefix, as in Argo).
pub const SCALE_DOWN_DEADLINE: &str = "scale-down-deadline";
/// Label that shards Rollouts between controllers started with `--instance-id`.
pub const CONTROLLER_INSTANCE_ID: &str = "argo-rollouts.argoproj.io/controller-instance-id";
/// Annotation on Services and routes the controller manages: the owning Rollout's name.
pub const MANAGED_BY_ROLLOUTS: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

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
//!
//! # Layout
//!
//! This file holds the list semantics ([`ListKind`], [`ListKeys`] and its implementations) and re-exports the
//! rest: `strategic` is the strategic merge patch, `apply` server-side apply with the schema-aware walks over
//! objects it is built on, `managed` the `FieldsV1` field sets, `managedFields` entries and the bookkeeping of
//! non-apply writes.

mod apply;
mod managed;
mod strategic;

#[cfg(test)]
mod tests;

pub use apply::{ApplyError, ApplyRequest, Conflict, server_side_apply};
pub use managed::{record_update, record_update_with_keys};
pub use strategic::{PatchError, strategic_merge};

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

//! The catalogue of resource types kube-sim serves: the built-in kinds Serin, kube-rs and kubectl touch, plus
//! whatever `CustomResourceDefinition` objects register at run time.
//!
//! Pure data: no I/O. Storage is keyed by [`GroupResource`] (all served versions of a resource share one
//! storage, as with a CRD whose conversion strategy is `None`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use super::patch::{BuiltinListKeys, ListKeys, ListKind};
use super::schema::Schema;

/// `group` + plural `resource`: the storage identity of a resource type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupResource {
    /// API group; empty for the core group.
    pub group: String,
    /// Plural resource name, e.g. `replicasets`.
    pub resource: String,
}

impl GroupResource {
    /// Builds a key from borrowed parts.
    pub fn new(group: &str, resource: &str) -> Self {
        Self { group: group.to_owned(), resource: resource.to_owned() }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() { f.write_str(&self.resource) } else { write!(f, "{}.{}", self.resource, self.group) }
    }
}

/// The `scale` subresource mapping (built-in workloads and CRDs that declare it).
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    /// JSON path (dotted, leading dot) of the desired replica count, e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// JSON path of the observed replica count.
    pub status_replicas_path: String,
    /// JSON path of the string label selector, if any.
    pub label_selector_path: Option<String>,
}

/// An additional printer column (`kubectl get` output).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// `OpenAPI` type of the cell (`string`, `integer`, `date`, ...).
    pub type_: String,
    /// Simple `JSONPath` into the object, e.g. `.status.phase`.
    pub json_path: String,
    /// Priority (0 = shown by default).
    pub priority: i64,
}

/// Everything the server needs to know about one resource type.
#[derive(Clone)]
pub struct ResourceType {
    /// Storage identity.
    pub gr: GroupResource,
    /// Served versions; the first is the preferred (storage) version.
    pub versions: Vec<String>,
    /// `Kind`, e.g. `ReplicaSet`.
    pub kind: String,
    /// Lower-case singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for discovery (`rs`, `po`, ...).
    pub short_names: Vec<String>,
    /// Discovery categories (`all`).
    pub categories: Vec<String>,
    /// Whether a `status` subresource exists (status is then ignored on main-resource writes).
    pub status_subresource: bool,
    /// Scale subresource, if any.
    pub scale: Option<ScaleSpec>,
    /// Extra printer columns; `Name` is implied, and `Age` for built-ins and for CRDs that declare no columns.
    pub columns: Vec<PrinterColumn>,
    /// Field labels accepted by field selectors besides `metadata.name` / `metadata.namespace`.
    pub field_labels: Vec<String>,
    /// Structural schemas per version for custom resources (None for built-ins).
    pub schemas: BTreeMap<String, Arc<Schema>>,
    /// Whether this type came from a CRD.
    pub custom: bool,
}

impl fmt::Debug for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceType").field("gr", &self.gr).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl ResourceType {
    /// `apiVersion` string for a version of this type.
    pub fn api_version(&self, version: &str) -> String {
        if self.gr.group.is_empty() { version.to_owned() } else { format!("{}/{version}", self.gr.group) }
    }

    /// The preferred version.
    pub fn preferred_version(&self) -> &str {
        self.versions.first().map_or("v1", String::as_str)
    }

    /// `Kind.group` as used in apiserver error messages (`ReplicaSet.apps`, `Pod`).
    pub fn qualified_kind(&self) -> String {
        if self.gr.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.gr.group) }
    }

    /// Whether `name` is a valid field label for selectors on this type.
    pub fn supports_field_label(&self, label: &str) -> bool {
        matches!(label, "metadata.name" | "metadata.namespace") || self.field_labels.iter().any(|l| l == label)
    }

    /// Verbs advertised in discovery.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }

    /// List-merge semantics for server-side apply and strategic merge on this type.
    pub fn list_kind(&self, version: &str, path: &[&str]) -> ListKind {
        if self.custom {
            self.schemas.get(version).map_or(ListKind::Atomic, |s| s.list_kind(path))
        } else {
            BuiltinListKeys.list_kind(path)
        }
    }
}

/// Adapter so a (type, version) pair can be handed to the patch functions.
pub struct TypeListKeys<'a> {
    /// The resource type.
    pub rt: &'a ResourceType,
    /// The version the request used.
    pub version: &'a str,
}

impl ListKeys for TypeListKeys<'_> {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        self.rt.list_kind(self.version, path)
    }
}

// === builtin catalogue ===

struct Builtin {
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    scale: bool,
    columns: &'static [(&'static str, &'static str, &'static str)],
    fields: &'static [&'static str],
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        resource: "namespaces",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        status: true,
        scale: false,
        columns: &[("Status", "string", ".status.phase")],
        fields: &["status.phase"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "pods",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
        status: true,
        scale: false,
        columns: &[],
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "services",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
        status: true,
        scale: false,
        columns: &[("Type", "string", ".spec.type"), ("Cluster-IP", "string", ".spec.clusterIP")],
        fields: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        short: &["ep"],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "secrets",
        kind: "Secret",
        namespaced: true,
        short: &[],
        status: false,
        scale: false,
        columns: &[("Type", "string", ".type")],
        fields: &["type"],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        scale: false,
        columns: &[
            ("Type", "string", ".type"),
            ("Reason", "string", ".reason"),
            ("Object", "string", ".involvedObject.name"),
            ("Message", "string", ".message"),
        ],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
    },
    Builtin {
        group: "",
        version: "v1",
        resource: "podtemplates",
        kind: "PodTemplate",
        namespaced: true,
        short: &[],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "events.k8s.io",
        version: "v1",
        resource: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        scale: false,
        columns: &[("Type", "string", ".type"), ("Reason", "string", ".reason"), ("Note", "string", ".note")],
        fields: &["regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "reportingController", "type"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "replicasets",
        kind: "ReplicaSet",
        namespaced: true,
        short: &["rs"],
        status: true,
        scale: true,
        columns: &[
            ("Desired", "integer", ".spec.replicas"),
            ("Current", "integer", ".status.replicas"),
            ("Ready", "integer", ".status.readyReplicas"),
        ],
        fields: &["status.replicas"],
    },
    Builtin {
        group: "apps",
        version: "v1",
        resource: "deployments",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
        status: true,
        scale: true,
        columns: &[
            ("Ready", "integer", ".status.readyReplicas"),
            ("Up-to-date", "integer", ".status.updatedReplicas"),
            ("Available", "integer", ".status.availableReplicas"),
        ],
        fields: &[],
    },
    Builtin {
        group: "batch",
        version: "v1",
        resource: "jobs",
        kind: "Job",
        namespaced: true,
        short: &[],
        status: true,
        scale: false,
        columns: &[("Succeeded", "integer", ".status.succeeded"), ("Failed", "integer", ".status.failed")],
        fields: &["status.successful"],
    },
    // RBAC objects are stored and served (so install manifests apply) but never enforced.
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
        short: &[],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "roles",
        kind: "Role",
        namespaced: true,
        short: &[],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
        short: &[],
        status: false,
        scale: false,
        columns: &[],
        fields: &[],
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        resource: "leases",
        kind: "Lease",
        namespaced: true,
        short: &[],
        status: false,
        scale: false,
        columns: &[("Holder", "string", ".spec.holderIdentity")],
        fields: &[],
    },
    Builtin {
        group: "policy",
        version: "v1",
        resource: "poddisruptionbudgets",
        kind: "PodDisruptionBudget",
        namespaced: true,
        short: &["pdb"],
        status: true,
        scale: false,
        columns: &[
            ("Min Available", "string", ".spec.minAvailable"),
            ("Max Unavailable", "string", ".spec.maxUnavailable"),
            ("Allowed Disruptions", "integer", ".status.disruptionsAllowed"),
        ],
        fields: &[],
    },
    Builtin {
        group: "networking.k8s.io",
        version: "v1",
        resource: "ingresses",
        kind: "Ingress",
        namespaced: true,
        short: &["ing"],
        status: true,
        scale: false,
        columns: &[("Class", "string", ".spec.ingressClassName")],
        fields: &[],
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        resource: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short: &["crd", "crds"],
        status: true,
        scale: false,
        columns: &[],
        fields: &[],
    },
];

/// The built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            gr: GroupResource::new(b.group, b.resource),
            versions: vec![b.version.to_owned()],
            kind: b.kind.to_owned(),
            singular: b.kind.to_ascii_lowercase(),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| (*s).to_owned()).collect(),
            categories: if matches!(b.resource, "pods" | "services" | "replicasets" | "deployments" | "jobs") {
                vec!["all".to_owned()]
            } else {
                Vec::new()
            },
            status_subresource: b.status,
            scale: b.scale.then(|| ScaleSpec {
                spec_replicas_path: ".spec.replicas".to_owned(),
                status_replicas_path: ".status.replicas".to_owned(),
                label_selector_path: Some(".status.selector".to_owned()),
            }),
            columns: b
                .columns
                .iter()
                .map(|(n, t, p)| PrinterColumn { name: (*n).to_owned(), type_: (*t).to_owned(), json_path: (*p).to_owned(), priority: 0 })
                .collect(),
            field_labels: b.fields.iter().map(|s| (*s).to_owned()).collect(),
            schemas: BTreeMap::new(),
            custom: false,
        })
        .collect()
}

/// Why a CRD could not be turned into a served resource type.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A required field is absent.
    #[error("{field}: Required value")]
    Missing {
        /// The missing field path.
        field: &'static str,
    },
    /// The schema of a version is not structural.
    #[error("spec.versions[{index}].schema.openAPIV3Schema: Invalid value: {reason}")]
    Schema {
        /// Version index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// `metadata.name` must be `<plural>.<group>`.
    #[error("metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group")]
    Name {
        /// Offending name.
        name: String,
    },
}

/// Builds the served resource type for a `CustomResourceDefinition` object.
pub fn from_crd(crd: &Value) -> Result<ResourceType, CrdError> {
    let spec = crd.get("spec").ok_or(CrdError::Missing { field: "spec" })?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let group = s(spec.get("group")).ok_or(CrdError::Missing { field: "spec.group" })?;
    let names = spec.get("names").ok_or(CrdError::Missing { field: "spec.names" })?;
    let plural = s(names.get("plural")).ok_or(CrdError::Missing { field: "spec.names.plural" })?;
    let kind = s(names.get("kind")).ok_or(CrdError::Missing { field: "spec.names.kind" })?;
    let name = s(crd.pointer("/metadata/name")).unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return Err(CrdError::Name { name });
    }
    let singular = s(names.get("singular")).unwrap_or_else(|| kind.to_ascii_lowercase());
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let versions_json = spec.get("versions").and_then(Value::as_array).ok_or(CrdError::Missing { field: "spec.versions" })?;
    let mut versions = Vec::new();
    let mut schemas = BTreeMap::new();
    let mut status_subresource = false;
    let mut scale = None;
    let mut columns = Vec::new();
    let mut field_labels = Vec::new();
    // The storage version goes first so it is the preferred one in discovery.
    let mut ordered: Vec<(usize, &Value)> = versions_json.iter().enumerate().collect();
    ordered.sort_by_key(|(_, v)| v.get("storage").and_then(Value::as_bool) != Some(true));
    for (index, v) in ordered {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let vname = s(v.get("name")).ok_or(CrdError::Missing { field: "spec.versions[].name" })?;
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            let compiled = Schema::new(schema).map_err(|e| CrdError::Schema { index, reason: e.to_string() })?;
            schemas.insert(vname.clone(), Arc::new(compiled));
        }
        // Subresources and columns are per version; the first served version's (the storage one) wins.
        if versions.is_empty() {
            status_subresource = v.pointer("/subresources/status").is_some();
            scale = v.pointer("/subresources/scale").map(|sc| ScaleSpec {
                spec_replicas_path: s(sc.get("specReplicasPath")).unwrap_or_else(|| ".spec.replicas".to_owned()),
                status_replicas_path: s(sc.get("statusReplicasPath")).unwrap_or_else(|| ".status.replicas".to_owned()),
                label_selector_path: s(sc.get("labelSelectorPath")),
            });
            if let Some(cols) = v.get("additionalPrinterColumns").and_then(Value::as_array) {
                columns = cols
                    .iter()
                    .filter_map(|c| {
                        Some(PrinterColumn {
                            name: s(c.get("name"))?,
                            type_: s(c.get("type")).unwrap_or_else(|| "string".to_owned()),
                            json_path: s(c.get("jsonPath"))?,
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        })
                    })
                    .collect();
            }
            if let Some(fields) = v.get("selectableFields").and_then(Value::as_array) {
                field_labels = fields.iter().filter_map(|f| s(f.get("jsonPath")).map(|p| p.trim_start_matches('.').to_owned())).collect();
            }
        }
        versions.push(vname);
    }
    Ok(ResourceType {
        gr: GroupResource::new(&group, &plural),
        versions,
        kind,
        singular,
        namespaced,
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        status_subresource,
        scale,
        columns,
        field_labels,
        schemas,
        custom: true,
    })
}

/// The `APIResource` discovery entries of one type (main resource plus subresources) for a version.
pub fn discovery_entries(rt: &ResourceType) -> Vec<Value> {
    let mut out = vec![json!({
        "name": rt.gr.resource,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": rt.verbs(),
        "shortNames": rt.short_names,
        "categories": rt.categories,
        "storageVersionHash": storage_version_hash(rt),
    })];
    if out[0]["shortNames"].as_array().is_some_and(Vec::is_empty)
        && let Some(o) = out[0].as_object_mut()
    {
        o.remove("shortNames");
    }
    if out[0]["categories"].as_array().is_some_and(Vec::is_empty)
        && let Some(o) = out[0].as_object_mut()
    {
        o.remove("categories");
    }
    if rt.status_subresource {
        out.push(json!({"name": format!("{}/status", rt.gr.resource), "singularName": "", "namespaced": rt.namespaced, "kind": rt.kind, "verbs": ["get", "patch", "update"]}));
    }
    if rt.scale.is_some() {
        out.push(json!({"name": format!("{}/scale", rt.gr.resource), "singularName": "", "namespaced": rt.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
    }
    out
}

fn storage_version_hash(rt: &ResourceType) -> String {
    // Opaque to clients; only stability matters. FNV-1a over the storage identity.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}/{}/{}", rt.gr.group, rt.preferred_version(), rt.kind).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}").chars().take(11).collect()
}

//! Admission: the defaulting and validation kube-apiserver performs for the kinds kube-sim stores, with the
//! same 422 `Invalid` error shape (`details.causes[].field`). Custom resources are defaulted, pruned and
//! validated against their CRD's structural schema ([`super::schema`]).
//!
//! Pure functions over `serde_json::Value`; the store calls them inside its lock.

use serde_json::{Map, Value, json};

use super::resources::{self, ResourceType};
use super::schema::{self, CauseReason, FieldError};
use super::selector::LabelSelector;
use super::status::ApiError;

/// Which write is being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// POST.
    Create,
    /// PUT / PATCH / apply on the main resource.
    Update,
}

fn err(reason: CauseReason, field: &str, message: String) -> FieldError {
    FieldError { reason, field: field.to_owned(), message: format!("{field}: {message}") }
}

fn required(field: &str) -> FieldError {
    err(CauseReason::FieldValueRequired, field, "Required value".to_owned())
}

fn invalid(field: &str, value: &Value, detail: &str) -> FieldError {
    let shown = match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    err(CauseReason::FieldValueInvalid, field, format!("Invalid value: {shown}: {detail}"))
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

fn validate_meta(rt: &ResourceType, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        errs.push(err(CauseReason::FieldValueRequired, "metadata.name", "Required value: name or generateName is required".into()));
    } else {
        let (ok, msg) = match rt.gr.resource.as_str() {
            "namespaces" if rt.gr.group.is_empty() => (is_dns1123_label(name), DNS1123_LABEL_MSG),
            "services" if rt.gr.group.is_empty() => (is_dns1035_label(name), DNS1035_LABEL_MSG),
            _ => (is_dns1123_subdomain(name), DNS1123_SUBDOMAIN_MSG),
        };
        if !ok {
            errs.push(invalid("metadata.name", &json!(name), msg));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                errs.push(invalid("metadata.labels", &json!(k), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
            }
            match v.as_str() {
                Some(s) if is_label_value(s) => {}
                _ => errs.push(invalid("metadata.labels", v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")),
            }
        }
    }
}

/// Defaults and validates a main-resource write. On failure returns the apiserver's 422.
pub fn admit(rt: &ResourceType, op: Operation, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    validate_meta(rt, obj, &mut errs);
    if rt.custom {
        if let Some(schema) = obj_version(obj).and_then(|v| rt.schemas.get(&v)).cloned() {
            schema.default_and_prune(obj);
            errs.extend(schema.validate(obj, old));
        }
    } else {
        builtin(rt, op, obj, old, &mut errs);
    }
    finish(rt, obj, errs)
}

/// Validates a status-subresource write (schema only for custom resources).
pub fn admit_status(rt: &ResourceType, obj: &mut Value, old: &Value) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    if rt.custom
        && let Some(schema) = obj_version(obj).and_then(|v| rt.schemas.get(&v)).cloned()
    {
        schema.default_and_prune(obj);
        errs.extend(schema.validate(obj, Some(old)));
    }
    finish(rt, obj, errs)
}

fn finish(rt: &ResourceType, obj: &Value, errs: Vec<FieldError>) -> Result<(), ApiError> {
    if errs.is_empty() {
        return Ok(());
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let message = schema::invalid_message(&rt.kind, &rt.gr.group, name, &errs);
    let causes: Vec<Value> = errs.iter().map(|e| json!({"reason": e.reason.as_str(), "message": e.body(), "field": e.field})).collect();
    Err(ApiError::invalid(&rt.gr, &rt.kind, name, message, Value::Array(causes)))
}

fn obj_version(obj: &Value) -> Option<String> {
    let av = obj.get("apiVersion").and_then(Value::as_str)?;
    Some(av.rsplit('/').next().unwrap_or(av).to_owned())
}

fn builtin(rt: &ResourceType, op: Operation, obj: &mut Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    match (rt.gr.group.as_str(), rt.gr.resource.as_str()) {
        ("", "namespaces") => {
            if obj.pointer("/status/phase").is_none() {
                obj["status"] = json!({"phase": "Active"});
            }
            if obj.pointer("/spec/finalizers").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        ("", "pods") => {
            let spec = ensure_object(obj, "spec");
            default_pod_spec(spec);
            validate_pod_spec(obj.get("spec"), "spec", errs);
            if let (Operation::Update, Some(old)) = (op, old) {
                let strip = |v: &Value| {
                    let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                    for list in ["containers", "initContainers"] {
                        if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                            for c in cs {
                                if let Some(o) = c.as_object_mut() {
                                    o.remove("image");
                                }
                            }
                        }
                    }
                    if let Some(o) = s.as_object_mut() {
                        o.remove("activeDeadlineSeconds");
                        o.remove("tolerations");
                        o.remove("terminationGracePeriodSeconds");
                    }
                    s
                };
                // Binding (scheduling) sets nodeName once; that is not a forbidden spec change.
                let binding = old.pointer("/spec/nodeName").is_none();
                let strip_binding = |v: &Value| {
                    let mut s = strip(v);
                    if binding && let Some(o) = s.as_object_mut() {
                        o.remove("nodeName");
                    }
                    s
                };
                if strip_binding(obj) != strip_binding(old) {
                    errs.push(err(
                        CauseReason::FieldValueForbidden,
                        "spec",
                        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                    ));
                }
            }
        }
        ("apps", "replicasets" | "deployments") => {
            let spec = ensure_object(obj, "spec");
            spec.entry("replicas").or_insert(json!(1));
            if rt.gr.resource == "deployments" {
                spec.entry("revisionHistoryLimit").or_insert(json!(10));
                spec.entry("progressDeadlineSeconds").or_insert(json!(600));
                // apps/v1 SetDefaults_Deployment: the type, then each rolling-update bound on its own.
                let strategy = spec.entry("strategy").or_insert(json!({}));
                if let Some(strategy) = strategy.as_object_mut() {
                    strategy.entry("type").or_insert(json!("RollingUpdate"));
                    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                        let rolling = strategy.entry("rollingUpdate").or_insert(json!({}));
                        if let Some(rolling) = rolling.as_object_mut() {
                            rolling.entry("maxUnavailable").or_insert(json!("25%"));
                            rolling.entry("maxSurge").or_insert(json!("25%"));
                        }
                    }
                }
            }
            if let Some(t) = spec.get_mut("template").and_then(Value::as_object_mut) {
                let ps = t.entry("spec").or_insert(json!({}));
                if let Some(ps) = ps.as_object_mut() {
                    default_pod_spec(ps);
                }
            }
            validate_workload(obj, old, errs);
        }
        ("batch", "jobs") => {
            default_job(obj, op);
            validate_job(obj, old, errs);
        }
        ("", "services") => {
            default_service(obj, old);
            let spec = obj.get("spec");
            let headless = spec.and_then(|s| s.get("clusterIP")).and_then(Value::as_str) == Some("None");
            let svc_type = spec.and_then(|s| s.get("type")).and_then(Value::as_str).unwrap_or("ClusterIP");
            let ports = spec.and_then(|s| s.get("ports")).and_then(Value::as_array);
            if !headless && svc_type != "ExternalName" && ports.is_none_or(Vec::is_empty) {
                errs.push(required("spec.ports"));
            }
            if let (Some(old), Some(new_ip)) = (old, spec.and_then(|s| s.get("clusterIP")).and_then(Value::as_str)) {
                let old_ip = old.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default();
                if !old_ip.is_empty() && old_ip != new_ip {
                    errs.push(invalid("spec.clusterIPs[0]", &json!(new_ip), "may not change once set"));
                }
            }
        }
        ("", "secrets") => default_secret(obj),
        ("policy", "poddisruptionbudgets") => {
            let spec = obj.get("spec");
            if spec.and_then(|s| s.get("minAvailable")).is_some() && spec.and_then(|s| s.get("maxUnavailable")).is_some() {
                errs.push(invalid_raw("spec", "policy.PodDisruptionBudgetSpec{...}", "minAvailable and maxUnavailable cannot be both set"));
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            if let Err(e) = resources::from_crd(obj) {
                errs.push(err(CauseReason::FieldValueInvalid, "spec", e.to_string()));
            }
            validate_api_approval(obj, old, errs);
            let spec = ensure_object(obj, "spec");
            spec.entry("scope").or_insert(json!("Namespaced"));
            spec.entry("conversion").or_insert(json!({"strategy": "None"}));
            if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
                let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
                names.entry("singular").or_insert(json!(kind.to_ascii_lowercase()));
                names.entry("listKind").or_insert(json!(format!("{kind}List")));
            }
        }
        _ => {}
    }
}

/// The annotation a CRD in a group Kubernetes reserves for itself must carry.
pub const API_APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";

/// Whether a CRD of this group needs [`API_APPROVAL_ANNOTATION`]: `k8s.io`, `kubernetes.io` and their subdomains.
pub fn is_protected_group(group: &str) -> bool {
    ["k8s.io", "kubernetes.io"].iter().any(|g| group == *g || group.strip_suffix(g).is_some_and(|rest| rest.ends_with('.')))
}

/// What a CRD's approval annotation says, as apiextensions-apiserver reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiApproval {
    /// A URL (of the approving pull request).
    Approved(String),
    /// A reason starting with `unapproved`: allowed, reported as not conformant.
    Bypassed(String),
    /// Anything else.
    Invalid(String),
    /// No annotation.
    Missing,
}

impl ApiApproval {
    /// Reads the annotation of a CRD object.
    pub fn of(crd: &Value) -> Self {
        match crd.pointer("/metadata/annotations").and_then(|a| a.get(API_APPROVAL_ANNOTATION)).and_then(Value::as_str) {
            None => Self::Missing,
            Some(v) if v.starts_with("unapproved") => Self::Bypassed(v.to_owned()),
            Some(v) if is_request_uri(v) => Self::Approved(v.to_owned()),
            Some(v) => Self::Invalid(v.to_owned()),
        }
    }

    /// `(status, reason, message)` of the CRD's `KubernetesAPIApprovalPolicyConformant` condition.
    pub fn condition(&self) -> (&'static str, &'static str, String) {
        match self {
            Self::Approved(v) => ("True", "ApprovedAnnotation", format!("approved in {v}")),
            Self::Bypassed(v) => ("False", "UnapprovedAnnotation", format!("not approved: {v:?}")),
            Self::Invalid(v) => ("False", "InvalidAnnotation", format!("not approved: {v:?}")),
            Self::Missing => ("False", "MissingAnnotation", API_APPROVAL_MISSING.to_owned()),
        }
    }
}

const API_APPROVAL_MISSING: &str = "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111";

/// Go's `url.ParseRequestURI` acceptance: an absolute URI (`scheme:...`) or an absolute path.
fn is_request_uri(s: &str) -> bool {
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = s.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// A CRD in a protected group needs an approval annotation (a URL, or a reason starting with `unapproved`). An
/// update that leaves the approval state as it was is never refused, so controllers that only touch the spec of
/// an older CRD keep working.
fn validate_api_approval(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let group = obj.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
    if !is_protected_group(group) {
        return;
    }
    let state = ApiApproval::of(obj);
    if old.is_some_and(|o| std::mem::discriminant(&ApiApproval::of(o)) == std::mem::discriminant(&state)) {
        return;
    }
    let field = format!("metadata.annotations[{API_APPROVAL_ANNOTATION}]");
    match state {
        ApiApproval::Approved(_) | ApiApproval::Bypassed(_) => {}
        ApiApproval::Missing => errs.push(err(CauseReason::FieldValueRequired, &field, format!("Required value: {API_APPROVAL_MISSING}"))),
        ApiApproval::Invalid(v) => errs.push(invalid(
            &field,
            &json!(v),
            "protected groups must have approval annotation \"api-approved.kubernetes.io\" with either a URL or a reason starting with \
             \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111",
        )),
    }
}

fn ensure_object<'a>(obj: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !obj.get(field).is_some_and(Value::is_object) {
        obj[field] = json!({});
    }
    match obj.get_mut(field) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("field was just made an object"),
    }
}

/// The pod-spec defaults the apiserver applies (so objects read back look like a real cluster's).
pub fn default_pod_spec(spec: &mut Map<String, Value>) {
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName").or_insert(json!("default-scheduler"));
    spec.entry("securityContext").or_insert(json!({}));
    spec.entry("terminationGracePeriodSeconds").or_insert(json!(30));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                c.entry("terminationMessagePath").or_insert(json!("/dev/termination-log"));
                c.entry("terminationMessagePolicy").or_insert(json!("File"));
                c.entry("resources").or_insert(json!({}));
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_owned();
                let latest =
                    !image.contains('@') && image.rsplit('/').next().is_none_or(|last| !last.contains(':') || last.ends_with(":latest"));
                c.entry("imagePullPolicy").or_insert(json!(if latest { "Always" } else { "IfNotPresent" }));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        p.entry("protocol").or_insert(json!("TCP"));
                    }
                }
            }
        }
    }
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    match containers {
        None => errs.push(required(&format!("{path}.containers"))),
        Some(cs) if cs.is_empty() => errs.push(required(&format!("{path}.containers"))),
        Some(cs) => {
            let mut seen = std::collections::BTreeSet::new();
            for (i, c) in cs.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if name.is_empty() {
                    errs.push(required(&format!("{path}.containers[{i}].name")));
                } else if !is_dns1123_label(name) {
                    errs.push(invalid(&format!("{path}.containers[{i}].name"), &json!(name), DNS1123_LABEL_MSG));
                } else if !seen.insert(name) {
                    errs.push(err(
                        CauseReason::FieldValueDuplicate,
                        &format!("{path}.containers[{i}].name"),
                        format!("Duplicate value: \"{name}\""),
                    ));
                }
                if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
                    errs.push(required(&format!("{path}.containers[{i}].image")));
                }
            }
        }
    }
    let rp = spec.and_then(|s| s.get("restartPolicy")).and_then(Value::as_str).unwrap_or("Always");
    if !matches!(rp, "Always" | "OnFailure" | "Never") {
        errs.push(err(
            CauseReason::FieldValueNotSupported,
            &format!("{path}.restartPolicy"),
            format!("Unsupported value: \"{rp}\": supported values: \"Always\", \"OnFailure\", \"Never\""),
        ));
    }
}

fn go_map(labels: Option<&Value>) -> String {
    let inner = labels
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    format!("map[string]string{{{inner}}}")
}

fn validate_workload(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let spec = obj.get("spec");
    let selector = spec.and_then(|s| s.get("selector"));
    match selector {
        None => errs.push(required("spec.selector")),
        Some(sel) => match LabelSelector::from_json(sel) {
            Err(e) => errs.push(invalid("spec.selector", sel, &e.to_string())),
            Ok(s) if s.is_empty() => errs.push(invalid("spec.selector", sel, "empty selector is invalid for deployment")),
            Ok(s) => {
                let labels = spec.and_then(|s| s.pointer("/template/metadata/labels"));
                if !s.matches(labels.and_then(Value::as_object)) {
                    errs.push(invalid_raw("spec.template.metadata.labels", &go_map(labels), "`selector` does not match template `labels`"));
                }
            }
        },
    }
    if let Some(r) = spec.and_then(|s| s.get("replicas"))
        && r.as_i64().is_some_and(|n| n < 0)
    {
        errs.push(invalid("spec.replicas", r, "must be greater than or equal to 0"));
    }
    validate_pod_spec(spec.and_then(|s| s.pointer("/template/spec")), "spec.template.spec", errs);
    if let Some(old) = old {
        let old_sel = old.pointer("/spec/selector");
        if old_sel.is_some() && old_sel != selector {
            errs.push(invalid_raw("spec.selector", &selector.map(Value::to_string).unwrap_or_default(), "field is immutable"));
        }
    }
}

fn invalid_raw(field: &str, shown: &str, detail: &str) -> FieldError {
    err(CauseReason::FieldValueInvalid, field, format!("Invalid value: {shown}: {detail}"))
}

fn default_job(obj: &mut Value, op: Operation) {
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_owned();
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let spec = ensure_object(obj, "spec");
    spec.entry("parallelism").or_insert(json!(1));
    spec.entry("completions").or_insert(json!(1));
    spec.entry("backoffLimit").or_insert(json!(6));
    spec.entry("completionMode").or_insert(json!("NonIndexed"));
    spec.entry("suspend").or_insert(json!(false));
    spec.entry("podReplacementPolicy").or_insert(json!("TerminatingOrFailed"));
    spec.entry("manualSelector").or_insert(json!(false));
    if op == Operation::Create && spec.get("manualSelector").and_then(Value::as_bool) != Some(true) {
        spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
        if let Some(t) = spec.get_mut("template").and_then(Value::as_object_mut) {
            let md = t.entry("metadata").or_insert(json!({}));
            if let Some(md) = md.as_object_mut() {
                let labels = md.entry("labels").or_insert(json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
                    l.insert("batch.kubernetes.io/job-name".into(), json!(name));
                    l.insert("controller-uid".into(), json!(uid));
                    l.insert("job-name".into(), json!(name));
                }
            }
        }
    }
    if let Some(ps) = spec.get_mut("template").and_then(|t| t.get_mut("spec")).and_then(Value::as_object_mut) {
        default_pod_spec(ps);
    }
    // batch/v1 SetDefaults_Job: a Job without labels takes its pod template's.
    let template_labels = obj.pointer("/spec/template/metadata/labels").filter(|l| l.as_object().is_some_and(|m| !m.is_empty())).cloned();
    if let Some(labels) = template_labels
        && obj.pointer("/metadata/labels").and_then(Value::as_object).is_none_or(Map::is_empty)
    {
        ensure_object(obj, "metadata").insert("labels".into(), labels);
    }
}

fn validate_job(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let tspec = obj.pointer("/spec/template/spec");
    validate_pod_spec(tspec, "spec.template.spec", errs);
    let rp = tspec.and_then(|s| s.get("restartPolicy")).and_then(Value::as_str).unwrap_or_default();
    if !matches!(rp, "OnFailure" | "Never") {
        errs.push(err(
            CauseReason::FieldValueNotSupported,
            "spec.template.spec.restartPolicy",
            format!("Unsupported value: \"{rp}\": supported values: \"OnFailure\", \"Never\""),
        ));
    }
    if let Some(old) = old
        && old.pointer("/spec/template") != obj.pointer("/spec/template")
    {
        errs.push(invalid_raw("spec.template", "core.PodTemplateSpec{...}", "field is immutable"));
    }
}

fn default_service(obj: &mut Value, old: Option<&Value>) {
    let spec = ensure_object(obj, "spec");
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    let external_name = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    if !external_name {
        // Allocated values survive updates that omit them (the apiserver's patchAllocatedValues).
        let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
        if spec.get("clusterIP").is_none_or(|v| v.as_str().is_some_and(str::is_empty)) {
            let ip = old_ip.unwrap_or_else(|| {
                let b: [u8; 2] = rand::random();
                json!(format!("10.96.{}.{}", b[0], b[1].max(2)))
            });
            spec.insert("clusterIP".into(), ip);
        }
        let ip = spec.get("clusterIP").cloned().unwrap_or(Value::Null);
        spec.insert("clusterIPs".into(), json!([ip]));
        spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        spec.entry("internalTrafficPolicy").or_insert(json!("Cluster"));
    }
    let service_type = spec.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let node_ports = matches!(service_type.as_str(), "NodePort" | "LoadBalancer");
    if node_ports {
        spec.entry("externalTrafficPolicy").or_insert(json!("Cluster"));
    }
    if service_type == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts").or_insert(json!(true));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert(json!("TCP"));
            if node_ports && !p.contains_key("nodePort") {
                // The allocator's range, 30000-32767; the port kept by an update that omits it.
                let kept = old.and_then(|o| o.pointer("/spec/ports")).and_then(Value::as_array).and_then(|ports| {
                    ports
                        .iter()
                        .find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"))
                        .and_then(|o| o.get("nodePort"))
                        .cloned()
                });
                p.insert("nodePort".into(), kept.unwrap_or_else(|| json!(30000 + rand::random::<u16>() % 2768)));
            }
            if !p.contains_key("targetPort")
                && let Some(port) = p.get("port").cloned()
            {
                p.insert("targetPort".into(), port);
            }
        }
    }
    if obj.get("status").is_none() {
        obj["status"] = json!({"loadBalancer": {}});
    }
}

fn default_secret(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    o.entry("type").or_insert(json!("Opaque"));
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert(json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                d.insert(k, json!(base64_encode(v.as_str().unwrap_or_default().as_bytes())));
            }
        }
    }
}

/// Standard base64 with padding (Secret `data` values).
pub fn base64_encode(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(group: &str, resource: &str) -> ResourceType {
        resources::builtins().into_iter().find(|r| r.gr.group == group && r.gr.resource == resource).unwrap()
    }

    #[test]
    fn names_are_validated_like_the_apiserver() {
        assert!(is_dns1123_subdomain("web-1.example"));
        assert!(!is_dns1123_subdomain("Web"));
        assert!(!is_dns1123_label("a.b"));
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}});
        let e = admit(&rt("", "configmaps"), Operation::Create, &mut obj, None).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""), "{}", e.message);
    }

    #[test]
    fn replicaset_selector_must_match_template() {
        let mut obj = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let e = admit(&rt("apps", "replicasets"), Operation::Create, &mut obj, None).unwrap_err();
        let causes = e.details.unwrap()["causes"].clone();
        assert_eq!(causes[0]["field"], "spec.template.metadata.labels");
        assert!(e.message.contains("`selector` does not match template `labels`"));
    }

    #[test]
    fn pod_defaults_match_a_real_cluster() {
        let mut obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}});
        admit(&rt("", "pods"), Operation::Create, &mut obj, None).unwrap();
        assert_eq!(obj["spec"]["restartPolicy"], "Always");
        assert_eq!(obj["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(obj["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn secret_string_data_is_encoded() {
        let mut obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "hello"}});
        admit(&rt("", "secrets"), Operation::Create, &mut obj, None).unwrap();
        assert_eq!(obj["data"]["k"], "aGVsbG8=");
        assert!(obj.get("stringData").is_none());
    }

    #[test]
    fn job_requires_never_or_on_failure() {
        let mut obj = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        let e = admit(&rt("batch", "jobs"), Operation::Create, &mut obj, None).unwrap_err();
        assert!(e.message.contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\""), "{}", e.message);
    }
}

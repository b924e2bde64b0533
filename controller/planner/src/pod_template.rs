//! Finding the ReplicaSet of the Rollout's pod template, as Argo Rollouts' `FindNewReplicaSet` does: first by the
//! `rollouts-pod-template-hash` label, then by comparing templates ([`equal_ignoring_hash`]).
//!
//! The second way is what makes a migration safe. Argo Rollouts 1.8 hashed the template with
//! `"creationTimestamp":null` in it, Argo Rollouts 1.9 (apimachinery 0.34, `omitzero`) without it, and Serin names
//! new ReplicaSets as 1.9 does. A ReplicaSet left by 1.8, or by an earlier Serin, carries a hash nobody computes
//! any more, and would be replaced by a copy (every pod restarted) if it were looked up by hash only.
//!
//! A ReplicaSet's template is the Rollout's template as the API server stored it: with the pod defaults filled in
//! (`dnsPolicy`, `terminationMessagePath`, probe timings, volume modes, ...) and quantities re-marshalled (`0.5` →
//! `500m`). So both templates are brought to one normal form before they are compared: pod defaults applied
//! ([`apply_pod_defaults`], the defaults of `k8s.io/kubernetes/pkg/apis/core/v1` that apply to a pod template, as
//! read back from kube-apiserver 1.36), quantities canonical, the hash label and `creationTimestamp` removed, and
//! empty values dropped (apimachinery's semantic equality takes an empty list or map for a missing one).
//!
//! Pure: no I/O, no clock.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Map, Value, json};
use serin_api::labels::POD_TEMPLATE_HASH;

use crate::pod_hash::remarshalled_quantity;

/// The ReplicaSet running `template`, if any: the oldest whose hash label is `hash`, else the oldest whose template
/// equals `template` ([`equal_ignoring_hash`]). ReplicaSets being deleted are skipped.
pub fn find_replica_set<'a>(replica_sets: &'a [Arc<ReplicaSet>], template: &PodTemplateSpec, hash: &str) -> Option<&'a ReplicaSet> {
    let mut candidates: Vec<&ReplicaSet> =
        replica_sets.iter().map(Arc::as_ref).filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
    // Argo sorts by creation time; the name breaks ties so the answer never depends on cache order.
    candidates.sort_by(|a, b| {
        let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    if let Some(rs) = candidates.iter().find(|rs| hash_label(rs) == Some(hash)) {
        return Some(rs);
    }
    let desired = normal_form(template);
    candidates.into_iter().find(|rs| rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|live| normal_form(live) == desired))
}

/// A ReplicaSet's `rollouts-pod-template-hash` label.
pub fn hash_label(rs: &ReplicaSet) -> Option<&str> {
    rs.metadata.labels.as_ref()?.get(POD_TEMPLATE_HASH).map(String::as_str)
}

/// Argo's `PodTemplateEqualIgnoreHash`: whether `live` (a ReplicaSet's template, as stored) and `desired` (a
/// Rollout's template) describe the same pods, the hash label aside.
pub fn equal_ignoring_hash(live: &PodTemplateSpec, desired: &PodTemplateSpec) -> bool {
    normal_form(live) == normal_form(desired)
}

/// The template with pod defaults applied, quantities canonical, the hash label, `creationTimestamp` and empty
/// values removed.
fn normal_form(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("creationTimestamp");
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH);
        }
    }
    if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
        apply_pod_defaults(spec);
        canonical_quantities(spec);
    }
    prune_empty(&mut value);
    value
}

/// The defaults kube-apiserver fills into a pod template (`SetObjectDefaults_PodTemplateSpec` of core/v1: the pod
/// spec, its containers, probes, lifecycle handlers, environment and volumes), on the JSON form of a `PodSpec`.
/// Fields already set are left alone. Pod-only defaults (a `hostNetwork` pod's host ports, requests copied from
/// limits, `enableServiceLinks`) are not applied to templates by the API server, so not here either.
pub fn apply_pod_defaults(spec: &mut Map<String, Value>) {
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in objects_mut(spec.get_mut(list)) {
            container_defaults(container);
        }
    }
    for volume in objects_mut(spec.get_mut("volumes")) {
        volume_defaults(volume);
    }
}

fn container_defaults(c: &mut Map<String, Value>) {
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let policy = if image_tag(image) == Some("latest") { "Always" } else { "IfNotPresent" };
    set_default(c, "imagePullPolicy", json!(policy));
    for port in objects_mut(c.get_mut("ports")) {
        set_default(port, "protocol", json!("TCP"));
    }
    for env in objects_mut(c.get_mut("env")) {
        if let Some(field_ref) = env.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef")).and_then(Value::as_object_mut) {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = c.get_mut(probe).and_then(Value::as_object_mut) {
            set_default(probe, "timeoutSeconds", json!(1));
            set_default(probe, "periodSeconds", json!(10));
            set_default(probe, "successThreshold", json!(1));
            set_default(probe, "failureThreshold", json!(3));
            handler_defaults(probe);
            if let Some(grpc) = probe.get_mut("grpc").and_then(Value::as_object_mut) {
                set_default(grpc, "service", json!(""));
            }
        }
    }
    if let Some(lifecycle) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = lifecycle.get_mut(hook).and_then(Value::as_object_mut) {
                handler_defaults(handler);
            }
        }
    }
}

/// `SetDefaults_HTTPGetAction`.
fn handler_defaults(handler: &mut Map<String, Value>) {
    if let Some(get) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(get, "path", json!("/"));
        set_default(get, "scheme", json!("HTTP"));
    }
}

/// `SetDefaults_Volume` and the volume sources' defaults (`0644` modes, the token lifetime, the host path type).
fn volume_defaults(v: &mut Map<String, Value>) {
    const SOURCES: [&str; 30] = [
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    ];
    if !SOURCES.iter().any(|source| v.get(*source).is_some_and(|s| !s.is_null())) {
        v.insert("emptyDir".to_owned(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
            set_default(s, "defaultMode", json!(420));
        }
    }
    if let Some(host_path) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_default(host_path, "type", json!(""));
    }
    if let Some(items) = v.get_mut("downwardAPI").and_then(|d| d.get_mut("items")) {
        downward_items_defaults(items);
    }
    if let Some(sources) = v.get_mut("projected").and_then(|p| p.get_mut("sources")) {
        for source in objects_mut(Some(sources)) {
            if let Some(items) = source.get_mut("downwardAPI").and_then(|d| d.get_mut("items")) {
                downward_items_defaults(items);
            }
            if let Some(token) = source.get_mut("serviceAccountToken").and_then(Value::as_object_mut) {
                set_default(token, "expirationSeconds", json!(3600));
            }
        }
    }
}

fn downward_items_defaults(items: &mut Value) {
    for item in objects_mut(Some(items)) {
        if let Some(field_ref) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    }
}

/// The tag of an image reference as `parsers.ParseImageName` reads it: `latest` when there is neither a tag nor a
/// digest, `None` with a digest and no tag.
fn image_tag(image: &str) -> Option<&str> {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A colon after the last slash starts the tag (a colon before it belongs to a registry port).
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag),
        None if digest.is_some() => None,
        None => Some("latest"),
    }
}

/// Quantities in the forms the API server stores them (`0.5` → `500m`, `1024Mi` → `1Gi`): resource limits and
/// requests of every container and of the pod, the pod overhead, `emptyDir.sizeLimit`. A quantity that does not
/// parse is left as written (it compares as text).
fn canonical_quantities(spec: &mut Map<String, Value>) {
    let canonical = |list: Option<&mut Value>| {
        for (_, quantity) in list.and_then(Value::as_object_mut).into_iter().flatten() {
            if let Some(text) = quantity.as_str()
                && let Ok(normal) = remarshalled_quantity(text)
            {
                *quantity = Value::String(normal);
            }
        }
    };
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in objects_mut(spec.get_mut(list)) {
            if let Some(resources) = container.get_mut("resources") {
                canonical(resources.get_mut("limits"));
                canonical(resources.get_mut("requests"));
            }
        }
    }
    if let Some(resources) = spec.get_mut("resources") {
        canonical(resources.get_mut("limits"));
        canonical(resources.get_mut("requests"));
    }
    canonical(spec.get_mut("overhead"));
    for volume in objects_mut(spec.get_mut("volumes")) {
        if let Some(size) = volume.get_mut("emptyDir").and_then(|e| e.get_mut("sizeLimit"))
            && let Some(text) = size.as_str()
            && let Ok(normal) = remarshalled_quantity(text)
        {
            *size = Value::String(normal);
        }
    }
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        None | Some(Value::Null) => {
            map.insert(key.to_owned(), value);
        }
        Some(Value::String(s)) if s.is_empty() && value.is_string() => {
            map.insert(key.to_owned(), value);
        }
        Some(_) => {}
    }
}

fn objects_mut(list: Option<&mut Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    list.and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
}

/// Drops nulls, empty objects and empty lists, deepest first.
fn prune_empty(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, v| !prune_empty(v));
            map.is_empty()
        }
        Value::Array(list) => {
            for item in list.iter_mut() {
                prune_empty(item);
            }
            list.is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(value: Value) -> PodTemplateSpec {
        serde_json::from_value(value).expect("valid PodTemplateSpec")
    }

    /// A Rollout template, and the ReplicaSet template kube-apiserver 1.36 stored for it (read back with
    /// `kubectl get rs -o json` on `../shared/realk8s`), hash label added.
    fn rollout_and_stored() -> (Value, Value) {
        let rollout = json!({
            "metadata": {"labels": {"app": "p"}},
            "spec": {
                "containers": [{
                    "name": "c", "image": "nginx:1.19-alpine",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "readinessProbe": {"httpGet": {"port": 80}},
                    "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}},
                }],
                "volumes": [
                    {"name": "s", "secret": {"secretName": "x"}},
                    {"name": "cm", "configMap": {"name": "y"}},
                    {"name": "e"},
                    {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
                ],
            },
        });
        let stored = json!({
            "metadata": {"labels": {"app": "p", "rollouts-pod-template-hash": "66597877b7"}},
            "spec": {
                "containers": [{
                    "env": [{"name": "X", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                    "image": "nginx:1.19-alpine", "imagePullPolicy": "IfNotPresent", "name": "c",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                                       "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                }],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "securityContext": {}, "terminationGracePeriodSeconds": 30,
                "volumes": [
                    {"name": "s", "secret": {"defaultMode": 420, "secretName": "x"}},
                    {"configMap": {"defaultMode": 420, "name": "y"}, "name": "cm"},
                    {"emptyDir": {}, "name": "e"},
                    {"name": "p", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3600, "path": "t"}}]}},
                ],
            },
        });
        (rollout, stored)
    }

    #[test]
    fn a_stored_replica_set_template_equals_the_rollout_template_it_was_made_from() {
        let (rollout, stored) = rollout_and_stored();
        assert!(equal_ignoring_hash(&template(stored.clone()), &template(rollout.clone())));
        // Defaults spelled out in the Rollout compare the same.
        assert!(equal_ignoring_hash(&template(stored.clone()), &template(stored.clone())));
        // Any real difference does not.
        let mut other = rollout.clone();
        other["spec"]["containers"][0]["image"] = json!("nginx:1.20-alpine");
        assert!(!equal_ignoring_hash(&template(stored.clone()), &template(other)));
        let mut other = rollout.clone();
        other["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("1");
        assert!(!equal_ignoring_hash(&template(stored.clone()), &template(other)));
        let mut other = rollout;
        other["metadata"]["labels"]["tier"] = json!("web");
        assert!(!equal_ignoring_hash(&template(stored), &template(other)));
    }

    /// Read back from kube-apiserver 1.36: probes (gRPC `service`), lifecycle handlers, a digest-pinned sidecar, a
    /// `latest` image, downward API items, host path type, a fractional binary quantity stored re-marshalled.
    #[test]
    fn probes_handlers_images_and_volume_defaults_match_the_api_server() {
        let rollout = json!({"metadata": {"labels": {"app": "p"}}, "spec": {
        "hostNetwork": true,
        "initContainers": [{"name": "side", "image": "busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111", "restartPolicy": "Always"}],
        "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 8080}],
            "livenessProbe": {"grpc": {"port": 9000}}, "startupProbe": {"exec": {"command": ["true"]}},
            "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
            "resources": {"limits": {"memory": "62.5Ki", "cpu": "1"}}}],
        "volumes": [
            {"name": "hp", "hostPath": {"path": "/tmp"}},
            {"name": "d", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "pr", "projected": {"sources": [{"downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
            {"name": "ed", "emptyDir": {"sizeLimit": "1024Mi"}},
        ]}});
        let stored = json!({"metadata": {"labels": {"app": "p"}}, "spec": {"containers": [{"image": "nginx", "imagePullPolicy": "Always", "lifecycle": {"preStop": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}}}, "livenessProbe": {"failureThreshold": 3, "grpc": {"port": 9000, "service": ""}, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1}, "name": "c", "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": {"limits": {"cpu": "1", "memory": "64k"}}, "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 3, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}], "dnsPolicy": "ClusterFirst", "hostNetwork": true, "initContainers": [{"image": "busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111", "imagePullPolicy": "IfNotPresent", "name": "side", "resources": {}, "restartPolicy": "Always", "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}], "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {}, "terminationGracePeriodSeconds": 30, "volumes": [{"hostPath": {"path": "/tmp", "type": ""}, "name": "hp"}, {"downwardAPI": {"defaultMode": 420, "items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}, "path": "l"}]}, "name": "d"}, {"name": "pr", "projected": {"defaultMode": 420, "sources": [{"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}, "path": "l"}]}}]}}, {"emptyDir": {"sizeLimit": "1Gi"}, "name": "ed"}]}});
        assert!(equal_ignoring_hash(&template(stored), &template(rollout)));
    }

    #[test]
    fn image_tags_as_kubernetes_reads_them() {
        assert_eq!(image_tag("nginx"), Some("latest"));
        assert_eq!(image_tag("nginx:1.27"), Some("1.27"));
        assert_eq!(image_tag("registry:5000/team/app"), Some("latest"));
        assert_eq!(image_tag("registry:5000/team/app:v2"), Some("v2"));
        assert_eq!(image_tag("app@sha256:abc"), None);
        assert_eq!(image_tag("app:v1@sha256:abc"), Some("v1"));
    }

    fn rs(name: &str, hash: &str, created: i64, tmpl: &Value) -> Arc<ReplicaSet> {
        let mut t = tmpl.clone();
        t["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {POD_TEMPLATE_HASH: hash},
                             "creationTimestamp": jiff::Timestamp::from_second(1_800_000_000 + created).expect("time").to_string()},
                "spec": {"selector": {"matchLabels": {POD_TEMPLATE_HASH: hash}}, "template": t},
            }))
            .expect("ReplicaSet"),
        )
    }

    #[test]
    fn the_hash_label_wins_then_the_oldest_equal_template() {
        let (rollout, stored) = rollout_and_stored();
        let desired = template(rollout);
        let mut other = stored.clone();
        other["spec"]["containers"][0]["image"] = json!("nginx:1.18");
        let sets = vec![rs("web-old", "aaaa", 1, &other), rs("web-18", "bbbb", 2, &stored), rs("web-18b", "cccc", 3, &stored)];
        let name = |rs: Option<&ReplicaSet>| rs.and_then(|r| r.metadata.name.clone());
        assert_eq!(name(find_replica_set(&sets, &desired, "cccc")), Some("web-18b".into()), "by hash first");
        assert_eq!(name(find_replica_set(&sets, &desired, "zzzz")), Some("web-18".into()), "then the oldest equal template");
        assert_eq!(name(find_replica_set(&sets[..1], &desired, "zzzz")), None);
    }
}

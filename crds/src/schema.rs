//! Hand-written CRD schema fragments for fields whose Rust type would produce the wrong schema.
//!
//! - Pod templates are schema-light the way Argo's are: the pod spec keeps unknown fields (so resources, volumes,
//!   probes, ... are stored as written and never rejected for a quantity format), but `containers`,
//!   `initContainers`, their `env` and `ports` keep Kubernetes' list-map markers so server-side apply and
//!   Argo CD's diff merge them by key instead of replacing whole lists. The full k8s schema would make the
//!   Rollout CRD several hundred KiB (Argo's is 511-660 KB).
//! - Raw JSON fields (`trafficRouting.plugins`, a step plugin's `config`, `web.jsonBody`, ...) are objects that
//!   preserve unknown fields, as in Argo.
//!
//! Pure functions of the generator; used through `#[schemars(schema_with = "...")]`.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

/// A free-form object: `type: object` with `x-kubernetes-preserve-unknown-fields`.
pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// A `PodTemplateSpec` (Rollout `spec.template`, Experiment `templates[].template`), kept light.
pub(crate) fn pod_template_spec(_: &mut SchemaGenerator) -> Schema {
    to_schema(pod_template_value())
}

/// The `metadata` of a Job metric: Argo applies only its labels and annotations.
pub(crate) fn job_metadata(_: &mut SchemaGenerator) -> Schema {
    to_schema(labels_and_annotations())
}

/// A batch `JobSpec` for the Job metric provider: free-form except for its light pod template.
pub(crate) fn job_spec(_: &mut SchemaGenerator) -> Schema {
    to_schema(json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "required": ["template"],
        "properties": { "template": pod_template_value() },
    }))
}

fn to_schema(value: Value) -> Schema {
    match Schema::try_from(value) {
        Ok(schema) => schema,
        // Every fragment above is a JSON object literal, so this arm is unreachable.
        Err(_) => json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true }),
    }
}

fn string_map() -> Value {
    json!({ "type": "object", "additionalProperties": { "type": "string" } })
}

fn labels_and_annotations() -> Value {
    json!({
        "type": "object",
        "properties": { "labels": string_map(), "annotations": string_map() },
    })
}

fn pod_template_value() -> Value {
    json!({
        "type": "object",
        "properties": {
            "metadata": labels_and_annotations(),
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "required": ["containers"],
                "properties": {
                    "containers": containers(),
                    "initContainers": containers(),
                    "volumes": {
                        "type": "array",
                        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    },
                },
            },
        },
    })
}

/// A container list keyed by `name`; each container keeps unknown fields, with `env` keyed by `name`, `ports`
/// keyed by `containerPort` + `protocol` (defaulted to `TCP`, as in core/v1, because list-map keys must be
/// required or defaulted) and `resources` free-form.
fn containers() -> Value {
    json!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "required": ["name"],
            "properties": {
                "name": { "type": "string" },
                "image": { "type": "string" },
                "env": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "required": ["name"],
                        "properties": { "name": { "type": "string" }, "value": { "type": "string" } },
                    },
                },
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                    "items": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "required": ["containerPort"],
                        "properties": {
                            "containerPort": { "type": "integer", "format": "int32" },
                            "protocol": { "type": "string", "default": "TCP" },
                            "name": { "type": "string" },
                        },
                    },
                },
                "resources": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
            },
        },
    })
}

//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to the JSON object
//! kube-apiserver would have read from the same request.
//!
//! kubectl's generators (`kubectl create secret|configmap|deployment|job|service|role|...`) and every client-go
//! program with a protobuf content type send built-in kinds this way. The body is the magic `k8s\0` followed by
//! a `runtime.Unknown` envelope: the `apiVersion`/`kind` and the object's own message in `raw`. The messages are
//! k8s-pb's generated types; `generated.rs` (written by `e2e/kube-sim/codegen`) turns each into JSON with the
//! names k8s-openapi knows and Go's rules for zero values: a non-pointer scalar is written by Go even when zero,
//! and stands for "unset" when its JSON tag is `omitempty`, so it is dropped; a pointer scalar is written only
//! when set, so a zero there (`replicas: 0`, `runAsUser: 0`, `automountServiceAccountToken: false`) is kept.
//!
//! Nothing is lost silently: before converting, the body is walked field by field, and a tag the k8s-pb
//! release does not know (a field newer than Kubernetes 1.35) refuses the request with 415, naming the type and
//! the tag, so the client can send JSON instead. Answers stay JSON, which every client accepts.

mod generated;

use std::collections::BTreeMap;

use prost::Message;
use serde_json::{Map, Number, Value, json};

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\x00";

/// Why a protobuf body was not turned into an object.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body lacks the `k8s\0` prefix.
    #[error("the body is not a Kubernetes protobuf message (it does not start with \"k8s\\x00\")")]
    NoMagic,
    /// The envelope or the object's message is not valid protobuf.
    #[error("the protobuf body of {what} cannot be decoded: {source}")]
    Malformed {
        /// `runtime.Unknown` or the kind.
        what: String,
        /// prost's error.
        source: prost::DecodeError,
    },
    /// The wire form breaks protobuf's framing.
    #[error("the protobuf body of {what} cannot be decoded: {detail}")]
    Wire {
        /// The message type.
        what: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// Another encoding than plain protobuf in the envelope.
    #[error("the protobuf envelope's contentEncoding {0:?} is not supported (only an empty one, as clients send)")]
    ContentEncoding(String),
    /// A kind outside the built-in kinds kube-sim decodes.
    #[error(
        "kube-sim decodes protobuf bodies of the built-in kinds it serves, not of {api_version} {kind}; send it as \
         application/json"
    )]
    Kind {
        /// `apiVersion` from the envelope.
        api_version: String,
        /// `kind` from the envelope.
        kind: String,
    },
    /// A field tag the k8s-pb release does not know: converting would drop it.
    #[error(
        "the protobuf body carries field {tag} of {message}, which kube-sim's protobuf types (Kubernetes 1.35) do \
         not know; send it as application/json so nothing is dropped"
    )]
    UnknownField {
        /// The message type.
        message: &'static str,
        /// The unknown tag.
        tag: u32,
    },
    /// A value that cannot be represented in JSON (embedded bytes that are not JSON, a non-finite number).
    #[error("{0}")]
    Value(String),
}

/// Decodes a protobuf request body into the JSON object it stands for, `apiVersion` and `kind` first.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let raw = body.strip_prefix(MAGIC).ok_or(DecodeError::NoMagic)?;
    let envelope = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(raw)
        .map_err(|source| DecodeError::Malformed { what: "runtime.Unknown".into(), source })?;
    if let Some(encoding) = envelope.content_encoding.filter(|e| !e.is_empty()) {
        return Err(DecodeError::ContentEncoding(encoding));
    }
    let type_meta = envelope.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let object = generated::decode_kind(&api_version, &kind, envelope.raw.as_deref().unwrap_or_default())
        .ok_or_else(|| DecodeError::Kind { api_version: api_version.clone(), kind: kind.clone() })??;
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!(kind));
    out.extend(object);
    Ok(Value::Object(out))
}

/// `(apiVersion, kind)` of every kind [`decode`] reads.
pub fn kinds() -> &'static [(&'static str, &'static str)] {
    generated::KINDS
}

/// Checks every tag, then converts one object's message.
fn object<T: Message + Default + ToJson>(kind: &str, raw: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    check::<T>(raw)?;
    let message = T::decode(raw).map_err(|source| DecodeError::Malformed { what: kind.to_owned(), source })?;
    match message.to_json()? {
        Some(Value::Object(m)) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// A prost message's JSON form, as Go's `encoding/json` writes the same object.
trait ToJson {
    /// The JSON value; `None` when Go writes nothing for it (a zero time).
    fn to_json(&self) -> Result<Option<Value>, DecodeError>;

    /// What the message's field `tag` holds.
    fn known(tag: u32) -> Known
    where
        Self: Sized;
}

impl<T: ToJson> ToJson for Box<T> {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        (**self).to_json()
    }

    fn known(tag: u32) -> Known {
        T::known(tag)
    }
}

/// What one field tag of a message holds, for the walk that finds unknown fields.
enum Known {
    /// A scalar, a string or bytes, a repeated one, or a map of them: nothing to look into.
    Leaf,
    /// A message (or a repeated one), checked with its own tags.
    Message(fn(&[u8]) -> Result<(), DecodeError>),
    /// A map whose values are messages: entries of key (1) and value (2).
    MapOfMessages(fn(&[u8]) -> Result<(), DecodeError>),
    /// Not a field of this message.
    Unknown,
}

/// Walks a message's wire form and fails on the first tag `T` does not know, at any depth.
fn check<T: ToJson>(buf: &[u8]) -> Result<(), DecodeError> {
    walk(buf, std::any::type_name::<T>(), |tag, bytes| match T::known(tag) {
        Known::Leaf => Ok(()),
        Known::Message(inner) => bytes.map_or(Ok(()), inner),
        Known::MapOfMessages(inner) => bytes.map_or(Ok(()), |entry| {
            walk(entry, std::any::type_name::<T>(), |t, value| match (t, value) {
                (2, Some(value)) => inner(value),
                _ => Ok(()),
            })
        }),
        Known::Unknown => Err(DecodeError::UnknownField { message: short_name(std::any::type_name::<T>()), tag }),
    })
}

fn short_name(type_name: &'static str) -> &'static str {
    type_name.rsplit("::").next().unwrap_or(type_name)
}

/// Calls `field(tag, payload)` for every field of a message; the payload is the bytes of a length-delimited
/// field, `None` for the other wire types.
fn walk(mut buf: &[u8], what: &str, mut field: impl FnMut(u32, Option<&[u8]>) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
    let malformed = |detail: &'static str| DecodeError::Wire { what: what.to_owned(), detail };
    while !buf.is_empty() {
        let key = prost::encoding::decode_varint(&mut buf).map_err(|source| DecodeError::Malformed { what: what.to_owned(), source })?;
        let tag = u32::try_from(key >> 3).map_err(|_| malformed("field number out of range"))?;
        match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut buf).map_err(|source| DecodeError::Malformed { what: what.to_owned(), source })?;
                field(tag, None)?;
            }
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                buf = buf.get(width..).ok_or_else(|| malformed("truncated fixed-width field"))?;
                field(tag, None)?;
            }
            2 => {
                let len =
                    prost::encoding::decode_varint(&mut buf).map_err(|source| DecodeError::Malformed { what: what.to_owned(), source })?;
                let len = usize::try_from(len).map_err(|_| malformed("length out of range"))?;
                let payload = buf.get(..len).ok_or_else(|| malformed("truncated length-delimited field"))?;
                buf = &buf[len..];
                field(tag, Some(payload))?;
            }
            _ => return Err(malformed("unsupported wire type (groups)")),
        }
    }
    Ok(())
}

// === field writers used by generated.rs ===

/// Scalars as Go writes them.
trait Scalar {
    fn is_zero(&self) -> bool;
    fn value(&self) -> Result<Value, DecodeError>;
}

impl Scalar for String {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }

    fn value(&self) -> Result<Value, DecodeError> {
        Ok(Value::String(self.clone()))
    }
}

impl Scalar for bool {
    fn is_zero(&self) -> bool {
        !*self
    }

    fn value(&self) -> Result<Value, DecodeError> {
        Ok(Value::Bool(*self))
    }
}

impl Scalar for i32 {
    fn is_zero(&self) -> bool {
        *self == 0
    }

    fn value(&self) -> Result<Value, DecodeError> {
        Ok(json!(self))
    }
}

impl Scalar for i64 {
    fn is_zero(&self) -> bool {
        *self == 0
    }

    fn value(&self) -> Result<Value, DecodeError> {
        Ok(json!(self))
    }
}

impl Scalar for f64 {
    fn is_zero(&self) -> bool {
        *self == 0.0
    }

    fn value(&self) -> Result<Value, DecodeError> {
        Number::from_f64(*self).map(Value::Number).ok_or_else(|| DecodeError::Value(format!("{self} is not a JSON number")))
    }
}

/// `[]byte` fields are base64 in JSON.
impl Scalar for Vec<u8> {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }

    fn value(&self) -> Result<Value, DecodeError> {
        Ok(Value::String(crate::admission::base64_encode(self)))
    }
}

fn put(m: &mut Map<String, Value>, key: &str, value: Value) {
    m.insert(key.to_owned(), value);
}

/// A Go pointer field (`*int32`, `*bool`, ...): present exactly when set, zero included.
fn pointer<T: Scalar>(m: &mut Map<String, Value>, key: &str, v: Option<&T>) -> Result<(), DecodeError> {
    if let Some(v) = v {
        put(m, key, v.value()?);
    }
    Ok(())
}

/// A non-pointer `omitempty` field: Go always encodes it, and its zero value means unset.
fn omitempty<T: Scalar>(m: &mut Map<String, Value>, key: &str, v: Option<&T>) -> Result<(), DecodeError> {
    pointer(m, key, v.filter(|v| !v.is_zero()))
}

/// A non-pointer field without `omitempty`: written even when zero (`port: 0` is a value to validate).
fn always<T: Scalar>(m: &mut Map<String, Value>, key: &str, v: Option<&T>) -> Result<(), DecodeError> {
    pointer(m, key, v)
}

/// A repeated scalar; protobuf cannot tell an empty list from none, and Go decodes both as nil.
fn list<T: Scalar>(m: &mut Map<String, Value>, key: &str, v: &[T]) -> Result<(), DecodeError> {
    if !v.is_empty() {
        put(m, key, Value::Array(v.iter().map(Scalar::value).collect::<Result<_, _>>()?));
    }
    Ok(())
}

fn message<T: ToJson>(m: &mut Map<String, Value>, key: &str, v: Option<&T>) -> Result<(), DecodeError> {
    if let Some(value) = v.map(ToJson::to_json).transpose()?.flatten() {
        put(m, key, value);
    }
    Ok(())
}

/// An embedded Go struct (`json:",inline"`): its fields are the parent's.
fn inline<T: ToJson>(m: &mut Map<String, Value>, v: Option<&T>) -> Result<(), DecodeError> {
    if let Some(Value::Object(fields)) = v.map(ToJson::to_json).transpose()?.flatten() {
        m.extend(fields);
    }
    Ok(())
}

fn messages<T: ToJson>(m: &mut Map<String, Value>, key: &str, v: &[T]) -> Result<(), DecodeError> {
    if !v.is_empty() {
        let items = v.iter().map(|x| x.to_json().map(|j| j.unwrap_or(Value::Null))).collect::<Result<_, _>>()?;
        put(m, key, Value::Array(items));
    }
    Ok(())
}

fn string_map(m: &mut Map<String, Value>, key: &str, v: &BTreeMap<String, String>) {
    if !v.is_empty() {
        put(m, key, Value::Object(v.iter().map(|(k, x)| (k.clone(), Value::String(x.clone()))).collect()));
    }
}

fn bytes_map(m: &mut Map<String, Value>, key: &str, v: &BTreeMap<String, Vec<u8>>) {
    if !v.is_empty() {
        put(m, key, Value::Object(v.iter().map(|(k, x)| (k.clone(), Value::String(crate::admission::base64_encode(x)))).collect()));
    }
}

fn message_map<T: ToJson>(m: &mut Map<String, Value>, key: &str, v: &BTreeMap<String, T>) -> Result<(), DecodeError> {
    if !v.is_empty() {
        let mut out = Map::new();
        for (k, x) in v {
            out.insert(k.clone(), x.to_json()?.unwrap_or(Value::Null));
        }
        put(m, key, Value::Object(out));
    }
    Ok(())
}

// === types whose JSON form is not a struct ===

use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::RawExtension;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;

fn leaves(tag: u32, known: &[u32]) -> Known {
    if known.contains(&tag) { Known::Leaf } else { Known::Unknown }
}

/// An RFC 3339 timestamp in UTC, with `digits` fractional digits (0: seconds, as `metav1.Time` writes).
fn timestamp(seconds: i64, nanos: i32, digits: usize) -> Result<Value, DecodeError> {
    let at = jiff::Timestamp::new(seconds, if digits == 0 { 0 } else { nanos })
        .map_err(|e| DecodeError::Value(format!("timestamp {seconds}s {nanos}ns: {e}")))?;
    let text = if digits == 0 {
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        format!("{}.{:06}Z", at.strftime("%Y-%m-%dT%H:%M:%S"), at.subsec_microsecond())
    };
    Ok(Value::String(text))
}

/// `metav1.Time`: Go marshals a zero time as an empty message and reads an empty message back as zero, which
/// JSON writes as nothing; the protobuf form keeps nanoseconds, which Go drops when decoding (JSON has seconds only).
impl ToJson for meta::Time {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        match (self.seconds, self.nanos) {
            (None, None) => Ok(None),
            (seconds, _) => timestamp(seconds.unwrap_or_default(), 0, 0).map(Some),
        }
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1, 2])
    }
}

/// `metav1.MicroTime`: microseconds kept.
impl ToJson for meta::MicroTime {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        match (self.seconds, self.nanos) {
            (None, None) => Ok(None),
            (seconds, nanos) => timestamp(seconds.unwrap_or_default(), nanos.unwrap_or_default(), 6).map(Some),
        }
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1, 2])
    }
}

/// `metav1.Duration`: nanoseconds on the wire, Go's duration string (`1h0m0s`) in JSON.
impl ToJson for meta::Duration {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        Ok(Some(Value::String(go_duration(self.duration.unwrap_or_default()))))
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1])
    }
}

/// Go's `time.Duration.String()`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        // Sub-second values use the largest unit that keeps an integer part: ns, µs, ms.
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(n, div));
    }
    let (hours, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = fraction(rest, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// `n / div` with the fraction's trailing zeros dropped (`1.5`, `2`).
fn fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `metav1.FieldsV1`: the JSON document itself.
impl ToJson for meta::FieldsV1 {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        embedded_json("FieldsV1", self.raw.as_deref())
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1])
    }
}

/// `runtime.RawExtension`: the embedded object's JSON bytes.
impl ToJson for RawExtension {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        embedded_json("RawExtension", self.raw.as_deref())
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1])
    }
}

/// apiextensions `JSON` (a CRD default, an enum value, an example).
impl ToJson for ext::Json {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        embedded_json("JSON", self.raw.as_deref())
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1])
    }
}

fn embedded_json(what: &str, raw: Option<&[u8]>) -> Result<Option<Value>, DecodeError> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => serde_json::from_slice(raw)
            .map(Some)
            .map_err(|e| DecodeError::Value(format!("the {what} in the protobuf body is not JSON: {e}"))),
    }
}

/// `resource.Quantity`: its canonical string.
impl ToJson for Quantity {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        Ok(Some(Value::String(self.string.clone().unwrap_or_else(|| "0".into()))))
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1])
    }
}

/// `intstr.IntOrString`: a number (type 0) or a string (type 1).
impl ToJson for IntOrString {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        Ok(Some(match self.r#type.unwrap_or_default() {
            0 => json!(self.int_val.unwrap_or_default()),
            _ => Value::String(self.str_val.clone().unwrap_or_default()),
        }))
    }

    fn known(tag: u32) -> Known {
        leaves(tag, &[1, 2, 3])
    }
}

/// `items`: one schema for every item, or a schema per position.
impl ToJson for ext::JsonSchemaPropsOrArray {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        match &self.schema {
            Some(schema) => schema.to_json(),
            None if self.j_son_schemas.is_empty() => Ok(None),
            None => Ok(Some(Value::Array(
                self.j_son_schemas.iter().map(|s| s.to_json().map(|j| j.unwrap_or(Value::Null))).collect::<Result<_, _>>()?,
            ))),
        }
    }

    fn known(tag: u32) -> Known {
        match tag {
            1 | 2 => Known::Message(check::<ext::JsonSchemaProps>),
            _ => Known::Unknown,
        }
    }
}

/// `additionalProperties`/`additionalItems`: a schema, or `true`/`false`.
impl ToJson for ext::JsonSchemaPropsOrBool {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        match &self.schema {
            Some(schema) => schema.to_json(),
            None => Ok(Some(Value::Bool(self.allows.unwrap_or_default()))),
        }
    }

    fn known(tag: u32) -> Known {
        match tag {
            1 => Known::Leaf,
            2 => Known::Message(check::<ext::JsonSchemaProps>),
            _ => Known::Unknown,
        }
    }
}

/// `dependencies` values: a schema, or a list of property names.
impl ToJson for ext::JsonSchemaPropsOrStringArray {
    fn to_json(&self) -> Result<Option<Value>, DecodeError> {
        match &self.schema {
            Some(schema) => schema.to_json(),
            None => Ok(Some(Value::Array(self.property.iter().cloned().map(Value::String).collect()))),
        }
    }

    fn known(tag: u32) -> Known {
        match tag {
            1 => Known::Message(check::<ext::JsonSchemaProps>),
            2 => Known::Leaf,
            _ => Known::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_pb::api::apps::v1 as apps;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};

    use super::*;

    /// A body as client-go writes it: the magic, then the envelope around the object's message.
    fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
        let envelope = Unknown {
            type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
            raw: Some(object.encode_to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC, &envelope.encode_to_vec()].concat()
    }

    fn meta(name: &str) -> meta::ObjectMeta {
        meta::ObjectMeta {
            name: Some(name.into()),
            // Go writes non-pointer fields even when empty, and a zero time as an empty message.
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(meta::Time::default()),
            ..meta::ObjectMeta::default()
        }
    }

    #[test]
    fn zero_values_follow_go_pointer_and_omitempty_rules() {
        let container = core::Container {
            name: Some("web".into()),
            image: Some("nginx".into()),
            // Non-pointer omitempty fields Go always writes: zero means unset.
            stdin: Some(false),
            tty: Some(false),
            working_dir: Some(String::new()),
            termination_message_path: Some(String::new()),
            ports: vec![core::ContainerPort {
                container_port: Some(80),
                host_port: Some(0),
                name: Some(String::new()),
                ..Default::default()
            }],
            security_context: Some(core::SecurityContext { run_as_user: Some(0), privileged: Some(false), ..Default::default() }),
            resources: Some(core::ResourceRequirements::default()),
            ..Default::default()
        };
        let deployment = apps::Deployment {
            metadata: Some(meta("web")),
            spec: Some(apps::DeploymentSpec {
                // Pointers: a zero is a value.
                replicas: Some(0),
                revision_history_limit: Some(0),
                min_ready_seconds: Some(0),
                paused: Some(false),
                template: Some(core::PodTemplateSpec {
                    metadata: Some(meta("")),
                    spec: Some(core::PodSpec {
                        containers: vec![container],
                        automount_service_account_token: Some(false),
                        host_network: Some(false),
                        ..Default::default()
                    }),
                }),
                strategy: Some(apps::DeploymentStrategy::default()),
                ..Default::default()
            }),
            status: Some(apps::DeploymentStatus::default()),
        };
        let got = decode(&body("apps/v1", "Deployment", &deployment)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 0,
                    "template": {
                        "metadata": {},
                        "spec": {
                            "containers": [{
                                "name": "web",
                                "image": "nginx",
                                "ports": [{"containerPort": 80}],
                                "resources": {},
                                "securityContext": {"privileged": false, "runAsUser": 0}
                            }],
                            "automountServiceAccountToken": false
                        }
                    },
                    "strategy": {},
                    "revisionHistoryLimit": 0
                },
                "status": {}
            })
        );
        // JSON keys come in apiVersion, kind, then the message's field order.
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
    }

    #[test]
    fn special_types_read_as_their_json_forms() {
        let secret = core::Secret {
            metadata: Some(meta::ObjectMeta {
                name: Some("s".into()),
                creation_timestamp: Some(meta::Time { seconds: Some(1_765_152_000), nanos: Some(0) }),
                ..Default::default()
            }),
            data: [("k".to_owned(), b"v\x00".to_vec()), ("empty".to_owned(), Vec::new())].into(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let got = decode(&body("v1", "Secret", &secret)).unwrap();
        assert_eq!(got["metadata"]["creationTimestamp"], "2025-12-08T00:00:00Z");
        assert_eq!(got["data"], json!({"empty": "", "k": "dgA="}));
        // Inline structs (`LocalObjectReference`) merge into their parent; IntOrString and Quantity are scalars.
        let pod = core::Pod {
            metadata: Some(meta("p")),
            spec: Some(core::PodSpec {
                containers: vec![core::Container {
                    name: Some("c".into()),
                    env_from: vec![core::EnvFromSource {
                        config_map_ref: Some(core::ConfigMapEnvSource {
                            local_object_reference: Some(core::LocalObjectReference { name: Some("cm".into()) }),
                            optional: Some(false),
                        }),
                        ..Default::default()
                    }],
                    readiness_probe: Some(core::Probe {
                        handler: Some(core::ProbeHandler {
                            http_get: Some(core::HttpGetAction {
                                path: Some("/healthz".into()),
                                port: Some(IntOrString { r#type: Some(1), int_val: Some(0), str_val: Some("http".into()) }),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        period_seconds: Some(5),
                        ..Default::default()
                    }),
                    resources: Some(core::ResourceRequirements {
                        limits: [("memory".to_owned(), Quantity { string: Some("64Mi".into()) })].into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        };
        let got = decode(&body("v1", "Pod", &pod)).unwrap();
        let c = &got["spec"]["containers"][0];
        assert_eq!(c["envFrom"], json!([{"configMapRef": {"name": "cm", "optional": false}}]));
        assert_eq!(c["readinessProbe"], json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}));
        assert_eq!(c["resources"], json!({"limits": {"memory": "64Mi"}}));
    }

    #[test]
    fn fields_newer_than_kube_sims_types_are_refused_not_dropped() {
        let config_map =
            core::ConfigMap { metadata: Some(meta("c")), data: [("a".to_owned(), "b".to_owned())].into(), ..Default::default() };
        let mut raw = config_map.encode_to_vec();
        // Field 99 (a string) of ConfigMap: unknown to k8s-pb.
        raw.extend_from_slice(&[0x9a, 0x06, 0x01, b'x']);
        let envelope = Unknown {
            type_meta: Some(TypeMeta { api_version: Some("v1".into()), kind: Some("ConfigMap".into()) }),
            raw: Some(raw),
            ..Default::default()
        };
        let err = decode(&[MAGIC, &envelope.encode_to_vec()].concat()).unwrap_err();
        assert!(matches!(err, DecodeError::UnknownField { message: "ConfigMap", tag: 99 }), "{err}");
        // The same deep inside: a new field of ObjectMeta.
        let mut meta_raw = meta("c").encode_to_vec();
        meta_raw.extend_from_slice(&[0xf8, 0x07, 0x01]);
        let mut raw = vec![0x0a];
        prost::encoding::encode_varint(meta_raw.len() as u64, &mut raw);
        raw.extend_from_slice(&meta_raw);
        let envelope = Unknown {
            type_meta: Some(TypeMeta { api_version: Some("v1".into()), kind: Some("ConfigMap".into()) }),
            raw: Some(raw),
            ..Default::default()
        };
        let err = decode(&[MAGIC, &envelope.encode_to_vec()].concat()).unwrap_err();
        assert!(matches!(err, DecodeError::UnknownField { message: "ObjectMeta", tag: 127 }), "{err}");
    }

    #[test]
    fn bodies_that_are_not_kubernetes_protobuf_are_refused() {
        assert!(matches!(decode(b"{}"), Err(DecodeError::NoMagic)));
        assert!(matches!(decode(b"k8s\x00\xff"), Err(DecodeError::Malformed { .. })));
        let widget = core::ConfigMap::default();
        assert!(matches!(
            decode(&body("example.serin.dev/v1", "Widget", &widget)),
            Err(DecodeError::Kind { ref kind, .. }) if kind == "Widget"
        ));
        assert!(kinds().contains(&("v1", "Secret")) && kinds().contains(&("apps/v1", "Deployment")));
    }

    #[test]
    fn go_durations() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (2_000_000, "2ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (-5_000_000_000, "-5s"),
        ] {
            assert_eq!(go_duration(nanos), text);
        }
    }
}

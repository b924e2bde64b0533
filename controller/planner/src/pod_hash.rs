//! The `rollouts-pod-template-hash`, computed byte for byte as Argo Rollouts computes it.
//!
//! Argo's `utils/hash.ComputePodTemplateHash` feeds Go's `encoding/json.Marshal(template)` to FNV-32a, then (when the
//! Rollout has a `status.collisionCount`) an 8-byte buffer holding the count as a little-endian `uint32` followed by
//! four zero bytes, prints the 32-bit sum in decimal and maps every digit through apimachinery's
//! `rand.SafeEncodeString`. The result names `ReplicaSets` and selects pods in Services, so one differing byte means
//! Serin and Argo disagree about which `ReplicaSet` is the new one after a migration.
//!
//! k8s-openapi serialises fields alphabetically and with serde's omission rules, so this module carries its own
//! encoder ([`go_json`]) that writes every Go struct's fields in declaration order (k8s.io/api v1.33) with that field's
//! exact Go rule:
//!
//! - `string`/`bool`/integer fields with `omitempty` drop the zero value, while pointer fields (`*bool`, `*int32`, …)
//!   drop only a missing value — `Some(false)` is written for `privileged` but not for `stdin`;
//! - struct-valued fields are never dropped: `metadata`, `spec`, a container's `resources` (`{}`); the one exception is
//!   `creationTimestamp` (see below);
//! - the few fields without `omitempty` are always written: `containers`, `projected.sources` and
//!   `nodeSelectorTerms` (`null` when absent), `grpc.service` (`null`), `resourceFieldRef.divisor` (`"0"`);
//! - quantities are written as Go's `resource.Quantity` marshals them after parsing (`0.5` → `500m`, `1024Mi` →
//!   `1Gi`, `100m` kept verbatim), `IntOrString` as a number or a string, maps with sorted keys, and strings with
//!   Go's HTML-safe escaping (`<` → `\u003c`).
//!
//! Every k8s-openapi struct is destructured without `..`, so a field added by a k8s-openapi upgrade fails to compile
//! here instead of silently missing from the hash. Fields the encoder does not model (the legacy in-tree volume
//! sources, generic ephemeral volumes, ephemeral containers, managed fields) make the functions return
//! [`PodHashError::UnsupportedField`] naming the field, never a hash that might be wrong.
//!
//! `creationTimestamp` is omitted when unset, as Argo Rollouts 1.9 writes it: k8s.io/apimachinery 0.34 tags it
//! `omitzero`. Argo Rollouts up to 1.8 wrote `"creationTimestamp":null` in its Go field position, so the same template
//! hashes differently there ([`legacy_pod_template_hash`]); the controller finds such ReplicaSets by their template
//! instead ([`crate::pod_template`]), as Argo 1.9's own `FindNewReplicaSet` does.
//!
//! Pure: no I/O, no clock.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{
    Affinity, AppArmorProfile, CSIVolumeSource, Capabilities, ClusterTrustBundleProjection, ConfigMapEnvSource, ConfigMapKeySelector,
    ConfigMapProjection, ConfigMapVolumeSource, Container, ContainerPort, ContainerResizePolicy, DownwardAPIProjection,
    DownwardAPIVolumeFile, DownwardAPIVolumeSource, EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, ExecAction, GRPCAction,
    HTTPGetAction, HTTPHeader, HostAlias, HostPathVolumeSource, ImageVolumeSource, KeyToPath, Lifecycle, LifecycleHandler,
    LocalObjectReference, NFSVolumeSource, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector,
    PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodAntiAffinity, PodDNSConfig, PodDNSConfigOption, PodOS,
    PodReadinessGate, PodResourceClaim, PodSchedulingGate, PodSecurityContext, PodSpec, PodTemplateSpec, PreferredSchedulingTerm, Probe,
    ProjectedVolumeSource, ResourceClaim, ResourceFieldSelector, ResourceRequirements, SELinuxOptions, SeccompProfile, SecretEnvSource,
    SecretKeySelector, SecretProjection, SecretVolumeSource, SecurityContext, ServiceAccountTokenProjection, SleepAction, Sysctl,
    TCPSocketAction, Toleration, TopologySpreadConstraint, Volume, VolumeDevice, VolumeMount, VolumeProjection, WeightedPodAffinityTerm,
    WindowsSecurityContextOptions,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The alphabet of apimachinery's `rand.SafeEncodeString` (no vowels, no digits that read as letters).
const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// Why the pod template hash could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodHashError {
    /// The template sets a field whose Go encoding Serin does not model; hashing anyway could disagree with Argo.
    #[error("cannot compute the pod template hash: `{path}` is set, and Serin cannot yet encode it exactly as Argo Rollouts does")]
    UnsupportedField {
        /// Field path relative to the pod template, e.g. `spec.volumes[0].gitRepo`.
        path: String,
    },
    /// A quantity that Go's `resource.ParseQuantity` rejects (Argo could not decode the Rollout at all), or one outside
    /// the range this module canonicalises exactly.
    #[error("cannot compute the pod template hash: `{path}` holds the quantity {value:?}, which {reason}")]
    InvalidQuantity {
        /// Field path relative to the pod template, e.g. `spec.containers[0].resources.limits[cpu]`.
        path: String,
        /// The quantity as written.
        value: String,
        /// What is wrong with it.
        reason: QuantityError,
    },
    /// A timestamp Go would not marshal as a four-digit-year RFC 3339 string.
    #[error("cannot compute the pod template hash: `{path}` holds a timestamp outside the years 1-9999")]
    InvalidTime {
        /// Field path relative to the pod template.
        path: String,
    },
}

impl PodHashError {
    /// Stable label for the `error` dimension of metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::UnsupportedField { .. } => "pod_hash_unsupported_field",
            Self::InvalidQuantity { .. } => "pod_hash_invalid_quantity",
            Self::InvalidTime { .. } => "pod_hash_invalid_time",
        }
    }
}

/// What is wrong with a quantity string, in the order Go's `ParseQuantity` would notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Empty after trimming whitespace.
    #[error("is empty")]
    Empty,
    /// Not `[+-]digits[.digits]suffix` (Go's `ErrFormatWrong`).
    #[error("does not have the form of a Kubernetes quantity")]
    Format,
    /// The suffix is none of the SI, binary or `e<exponent>` suffixes (Go's `ErrSuffix`).
    #[error("has an unknown suffix")]
    Suffix,
    /// The number cannot be parsed (Go's `ErrNumeric`).
    #[error("has a number that cannot be parsed")]
    Numeric,
    /// Valid, but too large or too precise for the exact arithmetic here (beyond ±10^29, or a decimal SI value above
    /// 999E whose Go output drops the suffix).
    #[error("is outside the range Serin canonicalises exactly")]
    OutOfRange,
}

/// The `rollouts-pod-template-hash` the current Argo Rollouts release (1.9) computes for `template` with the
/// Rollout's `status.collisionCount`: the name of every ReplicaSet Serin creates.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> Result<String, PodHashError> {
    let json = go_json(template)?;
    Ok(hash_go_json(json.as_bytes(), collision_count))
}

/// The hash Argo Rollouts up to 1.8 (and Serin before it followed 1.9) computed: an unset `creationTimestamp`
/// hashed as `null`. ReplicaSets named with it are found by their template ([`crate::pod_template`]), never
/// created again; this is kept to test that and to recognise them.
pub fn legacy_pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> Result<String, PodHashError> {
    let mut w = GoJson { legacy_creation_timestamp: true, ..GoJson::default() };
    template.encode(&mut w, &Path::ROOT)?;
    Ok(hash_go_json(w.out.as_bytes(), collision_count))
}

/// The exact bytes Go's `json.Marshal` produces for `template` as a `k8s.io/api/core/v1.PodTemplateSpec` (with
/// apimachinery 0.34's `omitzero` on `creationTimestamp`): the input to the hash, exposed so a mismatch with Argo can
/// be diagnosed by diffing JSON.
pub fn go_json(template: &PodTemplateSpec) -> Result<String, PodHashError> {
    let mut w = GoJson::default();
    template.encode(&mut w, &Path::ROOT)?;
    Ok(w.out)
}

/// Argo's hashing of already-marshalled template bytes: FNV-32a, the collision count, decimal, `SafeEncodeString`.
/// Argo's `ComputeStepHash` encoding for arbitrary bytes: FNV-32a, printed in decimal, then safe-encoded.
pub fn fnv32a_safe_encoded(bytes: &[u8]) -> String {
    safe_encode_string(&fnv32a(FNV32_OFFSET, bytes).to_string())
}

fn hash_go_json(bytes: &[u8], collision_count: Option<i32>) -> String {
    let mut hash = fnv32a(FNV32_OFFSET, bytes);
    if let Some(count) = collision_count {
        // Go: `b := make([]byte, 8); binary.LittleEndian.PutUint32(b, uint32(count))` — 8 bytes hashed, last 4 zero.
        let mut buf = [0_u8; 8];
        buf[..4].copy_from_slice(&count.cast_unsigned().to_le_bytes());
        hash = fnv32a(hash, &buf);
    }
    safe_encode_string(&hash.to_string())
}

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32-bit (Go's `hash/fnv.New32a`), continuing from `state`.
fn fnv32a(state: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(state, |h, &b| (h ^ u32::from(b)).wrapping_mul(FNV32_PRIME))
}

/// apimachinery's `rand.SafeEncodeString`: each character `c` becomes `alphabet[c % 27]`.
///
/// Defined here for ASCII input (the hash only ever encodes decimal digits); Go pads non-ASCII input with NUL bytes.
pub fn safe_encode_string(s: &str) -> String {
    s.chars().map(|c| char::from(SAFE_ALPHABET[(u32::from(c) % 27) as usize])).collect()
}

/// How Go's `resource.Quantity` re-marshals `input` after `UnmarshalJSON` (without the quotes).
///
/// Go keeps the string verbatim when it is already canonical (`100m`, `1Gi`, `1e3`) and otherwise prints the
/// canonical form (`0.5` → `500m`, `1000` → `1k`, `2048Ki` → `2Mi`, `1.5Gi` → `1536Mi`).
pub fn go_quantity(input: &str) -> Result<String, QuantityError> {
    quantity::marshal(input)
}

/// The quantity as Argo's hash sees it: Argo re-marshals every Rollout (`remarshalRollout`: `json.Marshal` then
/// `json.Unmarshal`) before hashing, so the hashed string is Go's marshalling applied twice. Go's marshalling is not
/// idempotent for a fractional binary amount: `62.5Ki` marshals to `64000` (binary format, not a multiple of 1024),
/// which parses back as a decimal amount and marshals to `64k`.
pub fn remarshalled_quantity(input: &str) -> Result<String, QuantityError> {
    quantity::marshal(&quantity::marshal(input)?)
}

// === Go JSON writer ===

/// A field path for error messages, relative to the pod template (`spec.containers[0].image`).
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Field(&'a str),
    Index(usize),
    Key(&'a str),
}

impl Path<'_> {
    const ROOT: Path<'static> = Path { parent: None, segment: Segment::Root };

    fn field<'b>(&'b self, name: &'b str) -> Path<'b> {
        Path { parent: Some(self), segment: Segment::Field(name) }
    }

    fn index(&self, index: usize) -> Path<'_> {
        Path { parent: Some(self), segment: Segment::Index(index) }
    }

    fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path { parent: Some(self), segment: Segment::Key(key) }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.segment {
            Segment::Root => Ok(()),
            Segment::Field(name) if matches!(self.parent.map(|p| p.segment), None | Some(Segment::Root)) => f.write_str(name),
            Segment::Field(name) => write!(f, ".{name}"),
            Segment::Index(index) => write!(f, "[{index}]"),
            Segment::Key(key) => write!(f, "[{key}]"),
        }
    }
}

/// Output buffer with Go `encoding/json`'s formatting rules.
#[derive(Default)]
struct GoJson {
    out: String,
    /// Write an unset `creationTimestamp` as `null` (k8s.io/apimachinery before 0.34, Argo Rollouts up to 1.8)
    /// instead of omitting it (`omitzero`, Argo Rollouts 1.9).
    legacy_creation_timestamp: bool,
}

impl GoJson {
    /// A Go string as `json.Marshal` writes it: HTML-safe (`<`, `>`, `&` as `\u003c` …), U+2028/U+2029 escaped, the
    /// short escapes `\b \f \n \r \t` (Go ≥ 1.22) and `\u00XX` for the other control characters.
    fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\u{8}' => self.out.push_str("\\b"),
                '\u{c}' => self.out.push_str("\\f"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\u{2028}' => self.out.push_str("\\u2028"),
                '\u{2029}' => self.out.push_str("\\u2029"),
                c if u32::from(c) < 0x20 || matches!(c, '<' | '>' | '&') => {
                    let b = u32::from(c);
                    self.out.push_str("\\u00");
                    self.out.push(char::from(HEX[(b >> 4) as usize]));
                    self.out.push(char::from(HEX[(b & 0xf) as usize]));
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn int(&mut self, n: i64) {
        self.out.push_str(&n.to_string());
    }

    fn bool(&mut self, b: bool) {
        self.out.push_str(if b { "true" } else { "false" });
    }

    fn null(&mut self) {
        self.out.push_str("null");
    }

    /// A Go struct: `fields` writes the fields in declaration order.
    fn object(
        &mut self,
        path: &Path<'_>,
        fields: impl FnOnce(&mut Fields<'_, '_>) -> Result<(), PodHashError>,
    ) -> Result<(), PodHashError> {
        self.out.push('{');
        let mut f = Fields { w: self, path, empty: true };
        fields(&mut f)?;
        self.out.push('}');
        Ok(())
    }

    fn array<T: GoEncode>(&mut self, path: &Path<'_>, items: &[T]) -> Result<(), PodHashError> {
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item.encode(self, &path.index(i))?;
        }
        self.out.push(']');
        Ok(())
    }
}

/// The fields of one Go struct being written; each method is named after the Go field's type and JSON tag.
struct Fields<'w, 'p> {
    w: &'w mut GoJson,
    path: &'p Path<'p>,
    empty: bool,
}

impl Fields<'_, '_> {
    fn key(&mut self, name: &str) {
        if !self.empty {
            self.w.out.push(',');
        }
        self.empty = false;
        self.w.string(name);
        self.w.out.push(':');
    }

    /// Go `string` without `omitempty`.
    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        self.w.string(value);
    }

    /// Go `string` with `omitempty`: absent and `""` are both dropped.
    fn string_omitempty(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.string(name, v);
        }
    }

    /// Go `*string` with `omitempty`: only absent is dropped (`""` is written).
    fn string_ptr(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.string(name, v);
        }
    }

    /// Go `*string` without `omitempty`: absent is written as `null`.
    fn string_ptr_nullable(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.string(name, v);
        } else {
            self.key(name);
            self.w.null();
        }
    }

    /// Go integer without `omitempty`.
    fn int(&mut self, name: &str, value: impl Into<i64>) {
        self.key(name);
        self.w.int(value.into());
    }

    /// Go integer with `omitempty`: absent and `0` are both dropped.
    fn int_omitempty<N: Into<i64>>(&mut self, name: &str, value: Option<N>) {
        if let Some(v) = value.map(Into::into).filter(|v| *v != 0) {
            self.int(name, v);
        }
    }

    /// Go `*int32`/`*int64` with `omitempty`: only absent is dropped.
    fn int_ptr<N: Into<i64>>(&mut self, name: &str, value: Option<N>) {
        if let Some(v) = value {
            self.int(name, v);
        }
    }

    /// Go `bool` with `omitempty`: absent and `false` are both dropped.
    fn bool_omitempty(&mut self, name: &str, value: Option<bool>) {
        if value == Some(true) {
            self.key(name);
            self.w.bool(true);
        }
    }

    /// Go `*bool` with `omitempty`: only absent is dropped.
    fn bool_ptr(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.key(name);
            self.w.bool(v);
        }
    }

    /// A Go struct-valued field from a required k8s-openapi field (never dropped).
    fn required<T: GoEncode>(&mut self, name: &str, value: &T) -> Result<(), PodHashError> {
        let parent = self.path;
        let path = parent.field(name);
        self.key(name);
        value.encode(self.w, &path)
    }

    /// A Go struct-valued field (never dropped, `omitempty` or not): absent is written as the zero struct.
    fn value<T: GoEncode + Default>(&mut self, name: &str, value: Option<&T>) -> Result<(), PodHashError> {
        match value {
            Some(v) => self.required(name, v),
            None => self.required(name, &T::default()),
        }
    }

    /// Go pointer-to-struct with `omitempty`: only absent is dropped.
    fn ptr<T: GoEncode>(&mut self, name: &str, value: Option<&T>) -> Result<(), PodHashError> {
        match value {
            Some(v) => self.required(name, v),
            None => Ok(()),
        }
    }

    /// Go slice with `omitempty`: absent and empty are both dropped.
    fn list<T: GoEncode>(&mut self, name: &str, items: Option<&Vec<T>>) -> Result<(), PodHashError> {
        match items {
            Some(items) if !items.is_empty() => {
                let parent = self.path;
                let path = parent.field(name);
                self.key(name);
                self.w.array(&path, items)
            }
            _ => Ok(()),
        }
    }

    /// Go slice without `omitempty`: absent is written as `null`, empty as `[]`.
    fn list_nullable<T: GoEncode>(&mut self, name: &str, items: Option<&[T]>) -> Result<(), PodHashError> {
        let parent = self.path;
        let path = parent.field(name);
        self.key(name);
        if let Some(items) = items {
            self.w.array(&path, items)
        } else {
            self.w.null();
            Ok(())
        }
    }

    /// Go `map[string]string` with `omitempty`: keys in byte order, as Go sorts them.
    fn string_map(&mut self, name: &str, map: Option<&BTreeMap<String, String>>) {
        let Some(map) = map.filter(|m| !m.is_empty()) else { return };
        self.key(name);
        self.w.out.push('{');
        for (i, (k, v)) in map.iter().enumerate() {
            if i > 0 {
                self.w.out.push(',');
            }
            self.w.string(k);
            self.w.out.push(':');
            self.w.string(v);
        }
        self.w.out.push('}');
    }

    /// Go `ResourceList` (`map[ResourceName]resource.Quantity`) with `omitempty`.
    fn quantity_map(&mut self, name: &str, map: Option<&BTreeMap<String, Quantity>>) -> Result<(), PodHashError> {
        let Some(map) = map.filter(|m| !m.is_empty()) else { return Ok(()) };
        let parent = self.path;
        let path = parent.field(name);
        self.key(name);
        self.w.out.push('{');
        for (i, (k, q)) in map.iter().enumerate() {
            if i > 0 {
                self.w.out.push(',');
            }
            self.w.string(k);
            self.w.out.push(':');
            q.encode(self.w, &path.key(k))?;
        }
        self.w.out.push('}');
        Ok(())
    }

    /// Go `resource.Quantity` value field: a struct, so never dropped; absent is the zero quantity, `"0"`.
    fn quantity_value(&mut self, name: &str, value: Option<&Quantity>) -> Result<(), PodHashError> {
        if let Some(q) = value {
            self.required(name, q)
        } else {
            self.key(name);
            self.w.string("0");
            Ok(())
        }
    }

    /// Go `metav1.Time` value field: a struct, so never dropped; unset (or Go's zero time) is `null`.
    fn time_value(&mut self, name: &str, value: Option<&Time>) -> Result<(), PodHashError> {
        let parent = self.path;
        let path = parent.field(name);
        self.key(name);
        if let Some(t) = value {
            t.encode(self.w, &path)
        } else {
            self.w.null();
            Ok(())
        }
    }

    /// A field the encoder does not model: fine while unset, an error naming it once it would be written.
    fn unsupported(&self, name: &str, is_set: bool) -> Result<(), PodHashError> {
        if is_set { Err(PodHashError::UnsupportedField { path: self.path.field(name).to_string() }) } else { Ok(()) }
    }
}

/// A Rust value that knows how its Go counterpart marshals.
trait GoEncode {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError>;
}

impl GoEncode for String {
    fn encode(&self, w: &mut GoJson, _: &Path<'_>) -> Result<(), PodHashError> {
        w.string(self);
        Ok(())
    }
}

impl GoEncode for i64 {
    fn encode(&self, w: &mut GoJson, _: &Path<'_>) -> Result<(), PodHashError> {
        w.int(*self);
        Ok(())
    }
}

impl GoEncode for Quantity {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let canonical = remarshalled_quantity(&self.0).map_err(|reason| PodHashError::InvalidQuantity {
            path: path.to_string(),
            value: self.0.clone(),
            reason,
        })?;
        w.string(&canonical);
        Ok(())
    }
}

impl GoEncode for IntOrString {
    fn encode(&self, w: &mut GoJson, _: &Path<'_>) -> Result<(), PodHashError> {
        match self {
            IntOrString::Int(n) => w.int(i64::from(*n)),
            IntOrString::String(s) => w.string(s),
        }
        Ok(())
    }
}

/// 0001-01-01T00:00:00Z, Go's zero `time.Time`, in Unix seconds.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// `metav1.Time.IsZero`.
fn is_go_zero_time(t: &Time) -> bool {
    t.0.as_second() == GO_ZERO_TIME && t.0.subsec_nanosecond() == 0
}

/// `metav1.Time.MarshalJSON`: `null` for Go's zero time, else RFC 3339 in UTC with whole seconds.
impl GoEncode for Time {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        /// 9999-12-31T23:59:59Z, the last second with a four-digit year.
        const LAST_FOUR_DIGIT_YEAR: i64 = 253_402_300_799;
        let seconds = self.0.as_second();
        if is_go_zero_time(self) {
            w.null();
            return Ok(());
        }
        let invalid = || PodHashError::InvalidTime { path: path.to_string() };
        if !(GO_ZERO_TIME..=LAST_FOUR_DIGIT_YEAR).contains(&seconds) {
            return Err(invalid());
        }
        let formatted = k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", self.0).map_err(|_| invalid())?;
        w.string(&formatted);
        Ok(())
    }
}

// === impl GoEncode: template and metadata ===

impl GoEncode for PodTemplateSpec {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodTemplateSpec { metadata, spec } = self;
        w.object(path, |o| {
            o.value("metadata", metadata.as_ref())?;
            o.value("spec", spec.as_ref())
        })
    }
}

impl GoEncode for ObjectMeta {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ObjectMeta {
            annotations,
            creation_timestamp,
            deletion_grace_period_seconds,
            deletion_timestamp,
            finalizers,
            generate_name,
            generation,
            labels,
            managed_fields,
            name,
            namespace,
            owner_references,
            resource_version,
            self_link,
            uid,
        } = self;
        w.object(path, |o| {
            o.string_omitempty("name", name.as_deref());
            o.string_omitempty("generateName", generate_name.as_deref());
            o.string_omitempty("namespace", namespace.as_deref());
            o.string_omitempty("selfLink", self_link.as_deref());
            o.string_omitempty("uid", uid.as_deref());
            o.string_omitempty("resourceVersion", resource_version.as_deref());
            o.int_omitempty("generation", *generation);
            if o.w.legacy_creation_timestamp {
                o.time_value("creationTimestamp", creation_timestamp.as_ref())?;
            } else if let Some(t) = creation_timestamp.as_ref().filter(|t| !is_go_zero_time(t)) {
                // `omitzero`: written only when set (and not Go's zero time), in its field position.
                o.time_value("creationTimestamp", Some(t))?;
            }
            if let Some(t) = deletion_timestamp {
                o.time_value("deletionTimestamp", Some(t))?;
            }
            o.int_ptr("deletionGracePeriodSeconds", *deletion_grace_period_seconds);
            o.string_map("labels", labels.as_ref());
            o.string_map("annotations", annotations.as_ref());
            o.list("ownerReferences", owner_references.as_ref())?;
            o.list("finalizers", finalizers.as_ref())?;
            o.unsupported("managedFields", managed_fields.as_ref().is_some_and(|m| !m.is_empty()))
        })
    }
}

impl GoEncode for OwnerReference {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let OwnerReference { api_version, block_owner_deletion, controller, kind, name, uid } = self;
        w.object(path, |o| {
            o.string("apiVersion", api_version);
            o.string("kind", kind);
            o.string("name", name);
            o.string("uid", uid);
            o.bool_ptr("controller", *controller);
            o.bool_ptr("blockOwnerDeletion", *block_owner_deletion);
            Ok(())
        })
    }
}

impl GoEncode for LabelSelector {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let LabelSelector { match_expressions, match_labels } = self;
        w.object(path, |o| {
            o.string_map("matchLabels", match_labels.as_ref());
            o.list("matchExpressions", match_expressions.as_ref())
        })
    }
}

impl GoEncode for LabelSelectorRequirement {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let LabelSelectorRequirement { key, operator, values } = self;
        w.object(path, |o| {
            o.string("key", key);
            o.string("operator", operator);
            o.list("values", values.as_ref())
        })
    }
}

// === impl GoEncode: pod spec ===

impl GoEncode for PodSpec {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodSpec {
            active_deadline_seconds,
            affinity,
            automount_service_account_token,
            containers,
            dns_config,
            dns_policy,
            enable_service_links,
            ephemeral_containers,
            host_aliases,
            host_ipc,
            host_network,
            host_pid,
            host_users,
            hostname,
            image_pull_secrets,
            init_containers,
            node_name,
            node_selector,
            os,
            overhead,
            preemption_policy,
            priority,
            priority_class_name,
            readiness_gates,
            resource_claims,
            resources,
            restart_policy,
            runtime_class_name,
            scheduler_name,
            scheduling_gates,
            security_context,
            service_account,
            service_account_name,
            set_hostname_as_fqdn,
            share_process_namespace,
            subdomain,
            termination_grace_period_seconds,
            tolerations,
            topology_spread_constraints,
            volumes,
        } = self;
        w.object(path, |o| {
            o.list("volumes", volumes.as_ref())?;
            o.list("initContainers", init_containers.as_ref())?;
            // `json:"containers"` has no omitempty. k8s-openapi cannot tell an absent list from an empty one; absent
            // (Go nil → `null`) is the only way an empty list reaches a decoded template in practice.
            o.list_nullable("containers", Some(containers.as_slice()).filter(|c| !c.is_empty()))?;
            o.unsupported("ephemeralContainers", ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()))?;
            o.string_omitempty("restartPolicy", restart_policy.as_deref());
            o.int_ptr("terminationGracePeriodSeconds", *termination_grace_period_seconds);
            o.int_ptr("activeDeadlineSeconds", *active_deadline_seconds);
            o.string_omitempty("dnsPolicy", dns_policy.as_deref());
            o.string_map("nodeSelector", node_selector.as_ref());
            o.string_omitempty("serviceAccountName", service_account_name.as_deref());
            o.string_omitempty("serviceAccount", service_account.as_deref());
            o.bool_ptr("automountServiceAccountToken", *automount_service_account_token);
            o.string_omitempty("nodeName", node_name.as_deref());
            o.bool_omitempty("hostNetwork", *host_network);
            o.bool_omitempty("hostPID", *host_pid);
            o.bool_omitempty("hostIPC", *host_ipc);
            o.bool_ptr("shareProcessNamespace", *share_process_namespace);
            o.ptr("securityContext", security_context.as_ref())?;
            o.list("imagePullSecrets", image_pull_secrets.as_ref())?;
            o.string_omitempty("hostname", hostname.as_deref());
            o.string_omitempty("subdomain", subdomain.as_deref());
            o.ptr("affinity", affinity.as_ref())?;
            o.string_omitempty("schedulerName", scheduler_name.as_deref());
            o.list("tolerations", tolerations.as_ref())?;
            o.list("hostAliases", host_aliases.as_ref())?;
            o.string_omitempty("priorityClassName", priority_class_name.as_deref());
            o.int_ptr("priority", *priority);
            o.ptr("dnsConfig", dns_config.as_ref())?;
            o.list("readinessGates", readiness_gates.as_ref())?;
            o.string_ptr("runtimeClassName", runtime_class_name.as_deref());
            o.bool_ptr("enableServiceLinks", *enable_service_links);
            o.string_ptr("preemptionPolicy", preemption_policy.as_deref());
            o.quantity_map("overhead", overhead.as_ref())?;
            o.list("topologySpreadConstraints", topology_spread_constraints.as_ref())?;
            o.bool_ptr("setHostnameAsFQDN", *set_hostname_as_fqdn);
            o.ptr("os", os.as_ref())?;
            o.bool_ptr("hostUsers", *host_users);
            o.list("schedulingGates", scheduling_gates.as_ref())?;
            o.list("resourceClaims", resource_claims.as_ref())?;
            o.ptr("resources", resources.as_ref())
        })
    }
}

impl GoEncode for LocalObjectReference {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let LocalObjectReference { name } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            Ok(())
        })
    }
}

impl GoEncode for PodSecurityContext {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodSecurityContext {
            app_armor_profile,
            fs_group,
            fs_group_change_policy,
            run_as_group,
            run_as_non_root,
            run_as_user,
            se_linux_change_policy,
            se_linux_options,
            seccomp_profile,
            supplemental_groups,
            supplemental_groups_policy,
            sysctls,
            windows_options,
        } = self;
        w.object(path, |o| {
            o.ptr("seLinuxOptions", se_linux_options.as_ref())?;
            o.ptr("windowsOptions", windows_options.as_ref())?;
            o.int_ptr("runAsUser", *run_as_user);
            o.int_ptr("runAsGroup", *run_as_group);
            o.bool_ptr("runAsNonRoot", *run_as_non_root);
            o.list("supplementalGroups", supplemental_groups.as_ref())?;
            o.string_ptr("supplementalGroupsPolicy", supplemental_groups_policy.as_deref());
            o.int_ptr("fsGroup", *fs_group);
            o.list("sysctls", sysctls.as_ref())?;
            o.string_ptr("fsGroupChangePolicy", fs_group_change_policy.as_deref());
            o.ptr("seccompProfile", seccomp_profile.as_ref())?;
            o.ptr("appArmorProfile", app_armor_profile.as_ref())?;
            o.string_ptr("seLinuxChangePolicy", se_linux_change_policy.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for Sysctl {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Sysctl { name, value } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string("value", value);
            Ok(())
        })
    }
}

impl GoEncode for SELinuxOptions {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SELinuxOptions { level, role, type_, user } = self;
        w.object(path, |o| {
            o.string_omitempty("user", user.as_deref());
            o.string_omitempty("role", role.as_deref());
            o.string_omitempty("type", type_.as_deref());
            o.string_omitempty("level", level.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for WindowsSecurityContextOptions {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let WindowsSecurityContextOptions { gmsa_credential_spec, gmsa_credential_spec_name, host_process, run_as_user_name } = self;
        w.object(path, |o| {
            o.string_ptr("gmsaCredentialSpecName", gmsa_credential_spec_name.as_deref());
            o.string_ptr("gmsaCredentialSpec", gmsa_credential_spec.as_deref());
            o.string_ptr("runAsUserName", run_as_user_name.as_deref());
            o.bool_ptr("hostProcess", *host_process);
            Ok(())
        })
    }
}

impl GoEncode for SeccompProfile {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SeccompProfile { localhost_profile, type_ } = self;
        w.object(path, |o| {
            o.string("type", type_);
            o.string_ptr("localhostProfile", localhost_profile.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for AppArmorProfile {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let AppArmorProfile { localhost_profile, type_ } = self;
        w.object(path, |o| {
            o.string("type", type_);
            o.string_ptr("localhostProfile", localhost_profile.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for Toleration {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Toleration { effect, key, operator, toleration_seconds, value } = self;
        w.object(path, |o| {
            o.string_omitempty("key", key.as_deref());
            o.string_omitempty("operator", operator.as_deref());
            o.string_omitempty("value", value.as_deref());
            o.string_omitempty("effect", effect.as_deref());
            o.int_ptr("tolerationSeconds", *toleration_seconds);
            Ok(())
        })
    }
}

impl GoEncode for HostAlias {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let HostAlias { hostnames, ip } = self;
        w.object(path, |o| {
            o.string("ip", ip);
            o.list("hostnames", hostnames.as_ref())
        })
    }
}

impl GoEncode for PodDNSConfig {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodDNSConfig { nameservers, options, searches } = self;
        w.object(path, |o| {
            o.list("nameservers", nameservers.as_ref())?;
            o.list("searches", searches.as_ref())?;
            o.list("options", options.as_ref())
        })
    }
}

impl GoEncode for PodDNSConfigOption {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodDNSConfigOption { name, value } = self;
        w.object(path, |o| {
            o.string_omitempty("name", name.as_deref());
            o.string_ptr("value", value.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for PodReadinessGate {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodReadinessGate { condition_type } = self;
        w.object(path, |o| {
            o.string("conditionType", condition_type);
            Ok(())
        })
    }
}

impl GoEncode for PodOS {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodOS { name } = self;
        w.object(path, |o| {
            o.string("name", name);
            Ok(())
        })
    }
}

impl GoEncode for PodSchedulingGate {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodSchedulingGate { name } = self;
        w.object(path, |o| {
            o.string("name", name);
            Ok(())
        })
    }
}

impl GoEncode for PodResourceClaim {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodResourceClaim { name, resource_claim_name, resource_claim_template_name } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string_ptr("resourceClaimName", resource_claim_name.as_deref());
            o.string_ptr("resourceClaimTemplateName", resource_claim_template_name.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for TopologySpreadConstraint {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let TopologySpreadConstraint {
            label_selector,
            match_label_keys,
            max_skew,
            min_domains,
            node_affinity_policy,
            node_taints_policy,
            topology_key,
            when_unsatisfiable,
        } = self;
        w.object(path, |o| {
            o.int("maxSkew", *max_skew);
            o.string("topologyKey", topology_key);
            o.string("whenUnsatisfiable", when_unsatisfiable);
            o.ptr("labelSelector", label_selector.as_ref())?;
            o.int_ptr("minDomains", *min_domains);
            o.string_ptr("nodeAffinityPolicy", node_affinity_policy.as_deref());
            o.string_ptr("nodeTaintsPolicy", node_taints_policy.as_deref());
            o.list("matchLabelKeys", match_label_keys.as_ref())
        })
    }
}

// === impl GoEncode: affinity ===

impl GoEncode for Affinity {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Affinity { node_affinity, pod_affinity, pod_anti_affinity } = self;
        w.object(path, |o| {
            o.ptr("nodeAffinity", node_affinity.as_ref())?;
            o.ptr("podAffinity", pod_affinity.as_ref())?;
            o.ptr("podAntiAffinity", pod_anti_affinity.as_ref())
        })
    }
}

impl GoEncode for NodeAffinity {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let NodeAffinity { preferred_during_scheduling_ignored_during_execution, required_during_scheduling_ignored_during_execution } =
            self;
        w.object(path, |o| {
            o.ptr("requiredDuringSchedulingIgnoredDuringExecution", required_during_scheduling_ignored_during_execution.as_ref())?;
            o.list("preferredDuringSchedulingIgnoredDuringExecution", preferred_during_scheduling_ignored_during_execution.as_ref())
        })
    }
}

impl GoEncode for NodeSelector {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let NodeSelector { node_selector_terms } = self;
        // `json:"nodeSelectorTerms"` has no omitempty; as with `containers`, empty can only have come from absent.
        w.object(path, |o| o.list_nullable("nodeSelectorTerms", Some(node_selector_terms.as_slice()).filter(|t| !t.is_empty())))
    }
}

impl GoEncode for NodeSelectorTerm {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let NodeSelectorTerm { match_expressions, match_fields } = self;
        w.object(path, |o| {
            o.list("matchExpressions", match_expressions.as_ref())?;
            o.list("matchFields", match_fields.as_ref())
        })
    }
}

impl GoEncode for NodeSelectorRequirement {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let NodeSelectorRequirement { key, operator, values } = self;
        w.object(path, |o| {
            o.string("key", key);
            o.string("operator", operator);
            o.list("values", values.as_ref())
        })
    }
}

impl GoEncode for PreferredSchedulingTerm {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PreferredSchedulingTerm { preference, weight } = self;
        w.object(path, |o| {
            o.int("weight", *weight);
            o.required("preference", preference)
        })
    }
}

impl GoEncode for PodAffinity {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodAffinity { preferred_during_scheduling_ignored_during_execution, required_during_scheduling_ignored_during_execution } =
            self;
        w.object(path, |o| {
            o.list("requiredDuringSchedulingIgnoredDuringExecution", required_during_scheduling_ignored_during_execution.as_ref())?;
            o.list("preferredDuringSchedulingIgnoredDuringExecution", preferred_during_scheduling_ignored_during_execution.as_ref())
        })
    }
}

impl GoEncode for PodAntiAffinity {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodAntiAffinity { preferred_during_scheduling_ignored_during_execution, required_during_scheduling_ignored_during_execution } =
            self;
        w.object(path, |o| {
            o.list("requiredDuringSchedulingIgnoredDuringExecution", required_during_scheduling_ignored_during_execution.as_ref())?;
            o.list("preferredDuringSchedulingIgnoredDuringExecution", preferred_during_scheduling_ignored_during_execution.as_ref())
        })
    }
}

impl GoEncode for WeightedPodAffinityTerm {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let WeightedPodAffinityTerm { pod_affinity_term, weight } = self;
        w.object(path, |o| {
            o.int("weight", *weight);
            o.required("podAffinityTerm", pod_affinity_term)
        })
    }
}

impl GoEncode for PodAffinityTerm {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PodAffinityTerm { label_selector, match_label_keys, mismatch_label_keys, namespace_selector, namespaces, topology_key } = self;
        w.object(path, |o| {
            o.ptr("labelSelector", label_selector.as_ref())?;
            o.list("namespaces", namespaces.as_ref())?;
            o.string("topologyKey", topology_key);
            o.ptr("namespaceSelector", namespace_selector.as_ref())?;
            o.list("matchLabelKeys", match_label_keys.as_ref())?;
            o.list("mismatchLabelKeys", mismatch_label_keys.as_ref())
        })
    }
}

// === impl GoEncode: containers ===

impl GoEncode for Container {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Container {
            args,
            command,
            env,
            env_from,
            image,
            image_pull_policy,
            lifecycle,
            liveness_probe,
            name,
            ports,
            readiness_probe,
            resize_policy,
            resources,
            restart_policy,
            security_context,
            startup_probe,
            stdin,
            stdin_once,
            termination_message_path,
            termination_message_policy,
            tty,
            volume_devices,
            volume_mounts,
            working_dir,
        } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string_omitempty("image", image.as_deref());
            o.list("command", command.as_ref())?;
            o.list("args", args.as_ref())?;
            o.string_omitempty("workingDir", working_dir.as_deref());
            o.list("ports", ports.as_ref())?;
            o.list("envFrom", env_from.as_ref())?;
            o.list("env", env.as_ref())?;
            o.value("resources", resources.as_ref())?;
            o.list("resizePolicy", resize_policy.as_ref())?;
            o.string_ptr("restartPolicy", restart_policy.as_deref());
            o.list("volumeMounts", volume_mounts.as_ref())?;
            o.list("volumeDevices", volume_devices.as_ref())?;
            o.ptr("livenessProbe", liveness_probe.as_ref())?;
            o.ptr("readinessProbe", readiness_probe.as_ref())?;
            o.ptr("startupProbe", startup_probe.as_ref())?;
            o.ptr("lifecycle", lifecycle.as_ref())?;
            o.string_omitempty("terminationMessagePath", termination_message_path.as_deref());
            o.string_omitempty("terminationMessagePolicy", termination_message_policy.as_deref());
            o.string_omitempty("imagePullPolicy", image_pull_policy.as_deref());
            o.ptr("securityContext", security_context.as_ref())?;
            o.bool_omitempty("stdin", *stdin);
            o.bool_omitempty("stdinOnce", *stdin_once);
            o.bool_omitempty("tty", *tty);
            Ok(())
        })
    }
}

impl GoEncode for ContainerPort {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ContainerPort { container_port, host_ip, host_port, name, protocol } = self;
        w.object(path, |o| {
            o.string_omitempty("name", name.as_deref());
            o.int_omitempty("hostPort", *host_port);
            o.int("containerPort", *container_port);
            o.string_omitempty("protocol", protocol.as_deref());
            o.string_omitempty("hostIP", host_ip.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for EnvFromSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let EnvFromSource { config_map_ref, prefix, secret_ref } = self;
        w.object(path, |o| {
            o.string_omitempty("prefix", prefix.as_deref());
            o.ptr("configMapRef", config_map_ref.as_ref())?;
            o.ptr("secretRef", secret_ref.as_ref())
        })
    }
}

impl GoEncode for ConfigMapEnvSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ConfigMapEnvSource { name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for SecretEnvSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SecretEnvSource { name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for EnvVar {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let EnvVar { name, value, value_from } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string_omitempty("value", value.as_deref());
            o.ptr("valueFrom", value_from.as_ref())
        })
    }
}

impl GoEncode for EnvVarSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let EnvVarSource { config_map_key_ref, field_ref, resource_field_ref, secret_key_ref } = self;
        w.object(path, |o| {
            o.ptr("fieldRef", field_ref.as_ref())?;
            o.ptr("resourceFieldRef", resource_field_ref.as_ref())?;
            o.ptr("configMapKeyRef", config_map_key_ref.as_ref())?;
            o.ptr("secretKeyRef", secret_key_ref.as_ref())
        })
    }
}

impl GoEncode for ObjectFieldSelector {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ObjectFieldSelector { api_version, field_path } = self;
        w.object(path, |o| {
            o.string_omitempty("apiVersion", api_version.as_deref());
            o.string("fieldPath", field_path);
            Ok(())
        })
    }
}

impl GoEncode for ResourceFieldSelector {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ResourceFieldSelector { container_name, divisor, resource } = self;
        w.object(path, |o| {
            o.string_omitempty("containerName", container_name.as_deref());
            o.string("resource", resource);
            o.quantity_value("divisor", divisor.as_ref())
        })
    }
}

impl GoEncode for ConfigMapKeySelector {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ConfigMapKeySelector { key, name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.string("key", key);
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for SecretKeySelector {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SecretKeySelector { key, name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.string("key", key);
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for ResourceRequirements {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ResourceRequirements { claims, limits, requests } = self;
        w.object(path, |o| {
            o.quantity_map("limits", limits.as_ref())?;
            o.quantity_map("requests", requests.as_ref())?;
            o.list("claims", claims.as_ref())
        })
    }
}

impl GoEncode for ResourceClaim {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ResourceClaim { name, request } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string_omitempty("request", request.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for ContainerResizePolicy {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ContainerResizePolicy { resource_name, restart_policy } = self;
        w.object(path, |o| {
            o.string("resourceName", resource_name);
            o.string("restartPolicy", restart_policy);
            Ok(())
        })
    }
}

impl GoEncode for VolumeMount {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let VolumeMount { mount_path, mount_propagation, name, read_only, recursive_read_only, sub_path, sub_path_expr } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.bool_omitempty("readOnly", *read_only);
            o.string_ptr("recursiveReadOnly", recursive_read_only.as_deref());
            o.string("mountPath", mount_path);
            o.string_omitempty("subPath", sub_path.as_deref());
            o.string_ptr("mountPropagation", mount_propagation.as_deref());
            o.string_omitempty("subPathExpr", sub_path_expr.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for VolumeDevice {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let VolumeDevice { device_path, name } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string("devicePath", device_path);
            Ok(())
        })
    }
}

impl GoEncode for Probe {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Probe {
            exec,
            failure_threshold,
            grpc,
            http_get,
            initial_delay_seconds,
            period_seconds,
            success_threshold,
            tcp_socket,
            termination_grace_period_seconds,
            timeout_seconds,
        } = self;
        w.object(path, |o| {
            // The inlined ProbeHandler comes first.
            o.ptr("exec", exec.as_ref())?;
            o.ptr("httpGet", http_get.as_ref())?;
            o.ptr("tcpSocket", tcp_socket.as_ref())?;
            o.ptr("grpc", grpc.as_ref())?;
            o.int_omitempty("initialDelaySeconds", *initial_delay_seconds);
            o.int_omitempty("timeoutSeconds", *timeout_seconds);
            o.int_omitempty("periodSeconds", *period_seconds);
            o.int_omitempty("successThreshold", *success_threshold);
            o.int_omitempty("failureThreshold", *failure_threshold);
            o.int_ptr("terminationGracePeriodSeconds", *termination_grace_period_seconds);
            Ok(())
        })
    }
}

impl GoEncode for ExecAction {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ExecAction { command } = self;
        w.object(path, |o| o.list("command", command.as_ref()))
    }
}

impl GoEncode for HTTPGetAction {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let HTTPGetAction { host, http_headers, path: url_path, port, scheme } = self;
        w.object(path, |o| {
            o.string_omitempty("path", url_path.as_deref());
            o.required("port", port)?;
            o.string_omitempty("host", host.as_deref());
            o.string_omitempty("scheme", scheme.as_deref());
            o.list("httpHeaders", http_headers.as_ref())
        })
    }
}

impl GoEncode for HTTPHeader {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let HTTPHeader { name, value } = self;
        w.object(path, |o| {
            o.string("name", name);
            o.string("value", value);
            Ok(())
        })
    }
}

impl GoEncode for TCPSocketAction {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let TCPSocketAction { host, port } = self;
        w.object(path, |o| {
            o.required("port", port)?;
            o.string_omitempty("host", host.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for GRPCAction {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let GRPCAction { port, service } = self;
        w.object(path, |o| {
            o.int("port", *port);
            // `Service *string json:"service"`: no omitempty, so an unset service is written as null.
            o.string_ptr_nullable("service", service.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for Lifecycle {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Lifecycle { post_start, pre_stop, stop_signal } = self;
        w.object(path, |o| {
            o.ptr("postStart", post_start.as_ref())?;
            o.ptr("preStop", pre_stop.as_ref())?;
            o.string_ptr("stopSignal", stop_signal.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for LifecycleHandler {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let LifecycleHandler { exec, http_get, sleep, tcp_socket } = self;
        w.object(path, |o| {
            o.ptr("exec", exec.as_ref())?;
            o.ptr("httpGet", http_get.as_ref())?;
            o.ptr("tcpSocket", tcp_socket.as_ref())?;
            o.ptr("sleep", sleep.as_ref())
        })
    }
}

impl GoEncode for SleepAction {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SleepAction { seconds } = self;
        w.object(path, |o| {
            o.int("seconds", *seconds);
            Ok(())
        })
    }
}

impl GoEncode for SecurityContext {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SecurityContext {
            allow_privilege_escalation,
            app_armor_profile,
            capabilities,
            privileged,
            proc_mount,
            read_only_root_filesystem,
            run_as_group,
            run_as_non_root,
            run_as_user,
            se_linux_options,
            seccomp_profile,
            windows_options,
        } = self;
        w.object(path, |o| {
            o.ptr("capabilities", capabilities.as_ref())?;
            o.bool_ptr("privileged", *privileged);
            o.ptr("seLinuxOptions", se_linux_options.as_ref())?;
            o.ptr("windowsOptions", windows_options.as_ref())?;
            o.int_ptr("runAsUser", *run_as_user);
            o.int_ptr("runAsGroup", *run_as_group);
            o.bool_ptr("runAsNonRoot", *run_as_non_root);
            o.bool_ptr("readOnlyRootFilesystem", *read_only_root_filesystem);
            o.bool_ptr("allowPrivilegeEscalation", *allow_privilege_escalation);
            o.string_ptr("procMount", proc_mount.as_deref());
            o.ptr("seccompProfile", seccomp_profile.as_ref())?;
            o.ptr("appArmorProfile", app_armor_profile.as_ref())
        })
    }
}

impl GoEncode for Capabilities {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Capabilities { add, drop } = self;
        w.object(path, |o| {
            o.list("add", add.as_ref())?;
            o.list("drop", drop.as_ref())
        })
    }
}

// === impl GoEncode: volumes ===

impl GoEncode for Volume {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let Volume {
            aws_elastic_block_store,
            azure_disk,
            azure_file,
            cephfs,
            cinder,
            config_map,
            csi,
            downward_api,
            empty_dir,
            ephemeral,
            fc,
            flex_volume,
            flocker,
            gce_persistent_disk,
            git_repo,
            glusterfs,
            host_path,
            image,
            iscsi,
            name,
            nfs,
            persistent_volume_claim,
            photon_persistent_disk,
            portworx_volume,
            projected,
            quobyte,
            rbd,
            scale_io,
            secret,
            storageos,
            vsphere_volume,
        } = self;
        w.object(path, |o| {
            o.string("name", name);
            // The inlined VolumeSource, in Go declaration order (`projected` sits before `portworxVolume`).
            o.ptr("hostPath", host_path.as_ref())?;
            o.ptr("emptyDir", empty_dir.as_ref())?;
            o.unsupported("gcePersistentDisk", gce_persistent_disk.is_some())?;
            o.unsupported("awsElasticBlockStore", aws_elastic_block_store.is_some())?;
            o.unsupported("gitRepo", git_repo.is_some())?;
            o.ptr("secret", secret.as_ref())?;
            o.ptr("nfs", nfs.as_ref())?;
            o.unsupported("iscsi", iscsi.is_some())?;
            o.unsupported("glusterfs", glusterfs.is_some())?;
            o.ptr("persistentVolumeClaim", persistent_volume_claim.as_ref())?;
            o.unsupported("rbd", rbd.is_some())?;
            o.unsupported("flexVolume", flex_volume.is_some())?;
            o.unsupported("cinder", cinder.is_some())?;
            o.unsupported("cephfs", cephfs.is_some())?;
            o.unsupported("flocker", flocker.is_some())?;
            o.ptr("downwardAPI", downward_api.as_ref())?;
            o.unsupported("fc", fc.is_some())?;
            o.unsupported("azureFile", azure_file.is_some())?;
            o.ptr("configMap", config_map.as_ref())?;
            o.unsupported("vsphereVolume", vsphere_volume.is_some())?;
            o.unsupported("quobyte", quobyte.is_some())?;
            o.unsupported("azureDisk", azure_disk.is_some())?;
            o.unsupported("photonPersistentDisk", photon_persistent_disk.is_some())?;
            o.ptr("projected", projected.as_ref())?;
            o.unsupported("portworxVolume", portworx_volume.is_some())?;
            o.unsupported("scaleIO", scale_io.is_some())?;
            o.unsupported("storageos", storageos.is_some())?;
            o.ptr("csi", csi.as_ref())?;
            o.unsupported("ephemeral", ephemeral.is_some())?;
            o.ptr("image", image.as_ref())
        })
    }
}

impl GoEncode for HostPathVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let HostPathVolumeSource { path: host_path, type_ } = self;
        w.object(path, |o| {
            o.string("path", host_path);
            o.string_ptr("type", type_.as_deref());
            Ok(())
        })
    }
}

impl GoEncode for EmptyDirVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let EmptyDirVolumeSource { medium, size_limit } = self;
        w.object(path, |o| {
            o.string_omitempty("medium", medium.as_deref());
            o.ptr("sizeLimit", size_limit.as_ref())
        })
    }
}

impl GoEncode for SecretVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SecretVolumeSource { default_mode, items, optional, secret_name } = self;
        w.object(path, |o| {
            o.string_omitempty("secretName", secret_name.as_deref());
            o.list("items", items.as_ref())?;
            o.int_ptr("defaultMode", *default_mode);
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for ConfigMapVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ConfigMapVolumeSource { default_mode, items, name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.list("items", items.as_ref())?;
            o.int_ptr("defaultMode", *default_mode);
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for KeyToPath {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let KeyToPath { key, mode, path: file_path } = self;
        w.object(path, |o| {
            o.string("key", key);
            o.string("path", file_path);
            o.int_ptr("mode", *mode);
            Ok(())
        })
    }
}

impl GoEncode for NFSVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let NFSVolumeSource { path: export_path, read_only, server } = self;
        w.object(path, |o| {
            o.string("server", server);
            o.string("path", export_path);
            o.bool_omitempty("readOnly", *read_only);
            Ok(())
        })
    }
}

impl GoEncode for PersistentVolumeClaimVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let PersistentVolumeClaimVolumeSource { claim_name, read_only } = self;
        w.object(path, |o| {
            o.string("claimName", claim_name);
            o.bool_omitempty("readOnly", *read_only);
            Ok(())
        })
    }
}

impl GoEncode for DownwardAPIVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let DownwardAPIVolumeSource { default_mode, items } = self;
        w.object(path, |o| {
            o.list("items", items.as_ref())?;
            o.int_ptr("defaultMode", *default_mode);
            Ok(())
        })
    }
}

impl GoEncode for DownwardAPIVolumeFile {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let DownwardAPIVolumeFile { field_ref, mode, path: file_path, resource_field_ref } = self;
        w.object(path, |o| {
            o.string("path", file_path);
            o.ptr("fieldRef", field_ref.as_ref())?;
            o.ptr("resourceFieldRef", resource_field_ref.as_ref())?;
            o.int_ptr("mode", *mode);
            Ok(())
        })
    }
}

impl GoEncode for ProjectedVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ProjectedVolumeSource { default_mode, sources } = self;
        w.object(path, |o| {
            // `json:"sources"` has no omitempty: absent is null, empty is [].
            o.list_nullable("sources", sources.as_deref())?;
            o.int_ptr("defaultMode", *default_mode);
            Ok(())
        })
    }
}

impl GoEncode for VolumeProjection {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let VolumeProjection { cluster_trust_bundle, config_map, downward_api, secret, service_account_token } = self;
        w.object(path, |o| {
            o.ptr("secret", secret.as_ref())?;
            o.ptr("downwardAPI", downward_api.as_ref())?;
            o.ptr("configMap", config_map.as_ref())?;
            o.ptr("serviceAccountToken", service_account_token.as_ref())?;
            o.ptr("clusterTrustBundle", cluster_trust_bundle.as_ref())
        })
    }
}

impl GoEncode for SecretProjection {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let SecretProjection { items, name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.list("items", items.as_ref())?;
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for ConfigMapProjection {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ConfigMapProjection { items, name, optional } = self;
        w.object(path, |o| {
            o.string_omitempty("name", Some(name.as_str()));
            o.list("items", items.as_ref())?;
            o.bool_ptr("optional", *optional);
            Ok(())
        })
    }
}

impl GoEncode for DownwardAPIProjection {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let DownwardAPIProjection { items } = self;
        w.object(path, |o| o.list("items", items.as_ref()))
    }
}

impl GoEncode for ServiceAccountTokenProjection {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ServiceAccountTokenProjection { audience, expiration_seconds, path: token_path } = self;
        w.object(path, |o| {
            o.string_omitempty("audience", audience.as_deref());
            o.int_ptr("expirationSeconds", *expiration_seconds);
            o.string("path", token_path);
            Ok(())
        })
    }
}

impl GoEncode for ClusterTrustBundleProjection {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ClusterTrustBundleProjection { label_selector, name, optional, path: bundle_path, signer_name } = self;
        w.object(path, |o| {
            o.string_ptr("name", name.as_deref());
            o.string_ptr("signerName", signer_name.as_deref());
            o.ptr("labelSelector", label_selector.as_ref())?;
            o.bool_ptr("optional", *optional);
            o.string("path", bundle_path);
            Ok(())
        })
    }
}

impl GoEncode for CSIVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let CSIVolumeSource { driver, fs_type, node_publish_secret_ref, read_only, volume_attributes } = self;
        w.object(path, |o| {
            o.string("driver", driver);
            o.bool_ptr("readOnly", *read_only);
            o.string_ptr("fsType", fs_type.as_deref());
            o.string_map("volumeAttributes", volume_attributes.as_ref());
            o.ptr("nodePublishSecretRef", node_publish_secret_ref.as_ref())
        })
    }
}

impl GoEncode for ImageVolumeSource {
    fn encode(&self, w: &mut GoJson, path: &Path<'_>) -> Result<(), PodHashError> {
        let ImageVolumeSource { pull_policy, reference } = self;
        w.object(path, |o| {
            o.string_omitempty("reference", reference.as_deref());
            o.string_omitempty("pullPolicy", pull_policy.as_deref());
            Ok(())
        })
    }
}

// === Quantity ===

/// Go's `resource.ParseQuantity` followed by `Quantity.MarshalJSON`, in exact integer arithmetic (`i128` where Go
/// uses `int64` or `inf.Dec`; values beyond its range are reported, never approximated).
mod quantity {
    use super::QuantityError;

    /// `resource.Format`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Format {
        DecimalExponent,
        BinarySi,
        DecimalSi,
    }

    /// `unscaled × 10^exponent`.
    #[derive(Debug, Clone, Copy)]
    struct Amount {
        unscaled: i128,
        exponent: i32,
    }

    /// Go's `maxInt64Factors`: digits an `int64` always holds.
    const MAX_INT64_FACTORS: i32 = 18;
    /// Go's `Nano` scale: the finest quantity precision.
    const NANO: i32 = -9;
    /// Decimal exponents accepted in an `e<n>` suffix; far beyond any real quantity, well inside `i128`.
    const MAX_EXPONENT: i32 = 40;

    /// The parts `parseQuantityString` splits a quantity into.
    struct Parts<'a> {
        positive: bool,
        /// Sign, integer digits (leading zeros kept), `.` and fraction: what Go hands to `inf.Dec.SetString`.
        value: &'a str,
        /// Integer digits without leading zeros (`"0"` when there are none).
        num: &'a str,
        /// Fraction digits.
        denom: &'a str,
        suffix: &'a str,
    }

    pub(super) fn marshal(input: &str) -> Result<String, QuantityError> {
        // `UnmarshalJSON` trims whitespace before parsing.
        let s = input.trim();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        if !s.is_ascii() {
            return Err(QuantityError::Format);
        }
        if s == "0" {
            return Ok(s.to_owned());
        }
        let parts = split(s)?;
        let (base, exponent, format) = interpret(parts.suffix)?;
        if let Some(fast) = parse_fast(s, &parts, exponent, format)? {
            return Ok(fast);
        }
        let (amount, format) = parse_slow(&parts, base, exponent, format)?;
        canonicalize(amount, format)
    }

    /// `parseQuantityString`.
    fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
        let b = s.as_bytes();
        let end = b.len();
        let mut positive = true;
        let mut pos = 0;
        match b.first() {
            Some(b'-') => {
                positive = false;
                pos += 1;
            }
            Some(b'+') => pos += 1,
            _ => {}
        }
        // Leading zeros; all zeros is zero.
        while pos < end && b[pos] == b'0' {
            pos += 1;
        }
        if pos >= end {
            return Ok(Parts { positive, value: "0", num: "0", denom: "", suffix: "" });
        }
        let num_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos >= end {
            return Ok(Parts { positive, value: s, num: &s[num_start..], denom: "", suffix: "" });
        }
        let num = if pos == num_start { "0" } else { &s[num_start..pos] };
        let mut denom = "";
        if b[pos] == b'.' {
            pos += 1;
            let denom_start = pos;
            while pos < end && b[pos].is_ascii_digit() {
                pos += 1;
            }
            denom = &s[denom_start..pos];
            if pos >= end {
                return Ok(Parts { positive, value: s, num, denom, suffix: "" });
            }
        }
        let value = &s[..pos];
        let suffix_start = pos;
        while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
            pos += 1;
        }
        if pos < end && matches!(b[pos], b'-' | b'+') {
            pos += 1;
        }
        if b[pos..].iter().all(u8::is_ascii_digit) {
            Ok(Parts { positive, value, num, denom, suffix: &s[suffix_start..] })
        } else {
            Err(QuantityError::Format)
        }
    }

    /// `suffixHandler.interpret`: base, power of the base, and format.
    fn interpret(suffix: &str) -> Result<(u32, i32, Format), QuantityError> {
        let decimal = |exponent| Ok((10, exponent, Format::DecimalSi));
        let binary = |exponent| Ok((2, exponent, Format::BinarySi));
        match suffix {
            "n" => decimal(-9),
            "u" => decimal(-6),
            "m" => decimal(-3),
            "" => decimal(0),
            "k" => decimal(3),
            "M" => decimal(6),
            "G" => decimal(9),
            "T" => decimal(12),
            "P" => decimal(15),
            "E" => decimal(18),
            "Ki" => binary(10),
            "Mi" => binary(20),
            "Gi" => binary(30),
            "Ti" => binary(40),
            "Pi" => binary(50),
            "Ei" => binary(60),
            _ if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) => {
                let exponent: i64 = suffix[1..].parse().map_err(|_| QuantityError::Suffix)?;
                let exponent = i32::try_from(exponent).map_err(|_| QuantityError::OutOfRange)?;
                if exponent.abs() > MAX_EXPONENT {
                    return Err(QuantityError::OutOfRange);
                }
                Ok((10, exponent, Format::DecimalExponent))
            }
            _ => Err(QuantityError::Suffix),
        }
    }

    /// `ParseQuantity`'s `int64` fast path, including its reuse of the input string when it is already canonical.
    fn parse_fast(s: &str, p: &Parts<'_>, exponent: i32, format: Format) -> Result<Option<String>, QuantityError> {
        let digits = i32::try_from(p.num.len() + p.denom.len()).unwrap_or(i32::MAX);
        let (mut scale, mantissa, precision) = match format {
            Format::DecimalExponent | Format::DecimalSi => (exponent, 1_i64, MAX_INT64_FACTORS - digits),
            Format::BinarySi if exponent >= 0 && p.denom.is_empty() => {
                let num_digits = i32::try_from(p.num.len()).unwrap_or(i32::MAX);
                (0, 1_i64 << exponent, 15 - num_digits - exponent * 3 / 10 - 1)
            }
            Format::BinarySi => (0, 1, -1),
        };
        if precision < 0 {
            return Ok(None);
        }
        scale -= i32::try_from(p.denom.len()).unwrap_or(i32::MAX);
        if scale < NANO {
            return Ok(None);
        }
        let shifted = format!("{}{}", p.num, p.denom);
        let value: i64 = shifted.parse().map_err(|_| QuantityError::Numeric)?;
        let Some(result) = value.checked_mul(mantissa) else { return Ok(None) };
        let result = if p.positive { result } else { -result };
        let canonical_already = match format {
            Format::BinarySi => exponent % 10 == 0 && value & 0x07 != 0,
            Format::DecimalExponent | Format::DecimalSi => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
        };
        if canonical_already {
            return Ok(Some(s.to_owned()));
        }
        canonicalize(Amount { unscaled: i128::from(result), exponent: scale }, format).map(Some)
    }

    /// `ParseQuantity`'s `inf.Dec` path: exact value, rounded up to nano units, binary values capped at `2^63-1`.
    fn parse_slow(p: &Parts<'_>, base: u32, exponent: i32, format: Format) -> Result<(Amount, Format), QuantityError> {
        let unsigned = p.value.strip_prefix(['+', '-']).unwrap_or(p.value);
        let (int_digits, frac_digits) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(QuantityError::Numeric);
        }
        let mut magnitude: i128 = 0;
        for d in int_digits.bytes().chain(frac_digits.bytes()) {
            magnitude = magnitude.checked_mul(10).and_then(|m| m.checked_add(i128::from(d - b'0'))).ok_or(QuantityError::OutOfRange)?;
        }
        // value = magnitude × 10^-scale
        let mut scale = i32::try_from(frac_digits.len()).map_err(|_| QuantityError::OutOfRange)?;
        if base == 10 {
            scale -= exponent;
        } else {
            magnitude = magnitude.checked_mul(1_i128 << exponent).ok_or(QuantityError::OutOfRange)?;
        }
        if magnitude != 0 && scale > -NANO {
            // Round up (away from zero: the sign is applied afterwards) to nano units.
            let divisor = pow10(scale + NANO)?;
            magnitude = magnitude / divisor + i128::from(magnitude % divisor != 0);
            scale = -NANO;
        }
        let mut format = format;
        if format == Format::BinarySi {
            // Binary suffixes never lower the scale below zero, so 10^scale is exact here.
            let one = pow10(scale)?;
            if magnitude > i128::from(i64::MAX).checked_mul(one).ok_or(QuantityError::OutOfRange)? {
                magnitude = i128::from(i64::MAX);
                scale = 0;
            } else if magnitude > 0 && magnitude < one {
                format = Format::DecimalSi;
            }
        }
        let unscaled = if p.positive { magnitude } else { -magnitude };
        Ok((Amount { unscaled, exponent: -scale }, format))
    }

    /// `CanonicalizeBytes` plus the suffix: the string `MarshalJSON` writes for a parsed value.
    fn canonicalize(amount: Amount, format: Format) -> Result<String, QuantityError> {
        if amount.unscaled == 0 {
            return Ok("0".to_owned());
        }
        let mut format = format;
        if format == Format::BinarySi {
            let integer = as_integer(amount)?;
            match integer {
                Some(n) if !(-1024 < n && n < 1024) => {
                    let (mut n, mut power) = (n, 0);
                    while n % 1024 == 0 {
                        n /= 1024;
                        power += 1;
                    }
                    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(power).ok_or(QuantityError::OutOfRange)?;
                    return Ok(format!("{n}{suffix}"));
                }
                // Between -1024 and 1024, or not a whole number: Go prints it as decimal SI.
                _ => format = Format::DecimalSi,
            }
        }
        let Amount { mut unscaled, mut exponent } = amount;
        while unscaled % 10 == 0 {
            unscaled /= 10;
            exponent += 1;
        }
        let down = exponent.rem_euclid(3);
        unscaled = unscaled.checked_mul(pow10(down)?).ok_or(QuantityError::OutOfRange)?;
        exponent -= down;
        let suffix = match format {
            Format::DecimalExponent if exponent == 0 => String::new(),
            Format::DecimalExponent => format!("e{exponent}"),
            Format::DecimalSi | Format::BinarySi => match exponent {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                // Go would drop the suffix here (printing a wrong value); refuse rather than copy that.
                _ => return Err(QuantityError::OutOfRange),
            }
            .to_owned(),
        };
        Ok(format!("{unscaled}{suffix}"))
    }

    /// The amount as a whole number, or `None` when it has a fraction.
    fn as_integer(amount: Amount) -> Result<Option<i128>, QuantityError> {
        if amount.exponent >= 0 {
            return amount.unscaled.checked_mul(pow10(amount.exponent)?).map(Some).ok_or(QuantityError::OutOfRange);
        }
        let divisor = pow10(-amount.exponent)?;
        Ok((amount.unscaled % divisor == 0).then(|| amount.unscaled / divisor))
    }

    fn pow10(exponent: i32) -> Result<i128, QuantityError> {
        let exponent = u32::try_from(exponent).map_err(|_| QuantityError::OutOfRange)?;
        10_i128.checked_pow(exponent).ok_or(QuantityError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn template(value: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(value).expect("valid PodTemplateSpec")
    }

    fn hash(value: serde_json::Value) -> String {
        pod_template_hash(&template(value), None).expect("hashable template")
    }

    /// The template of the Rollout in Argo's e2e fixtures `test/e2e/functional/canary-scaledowndelay.yaml`,
    /// `canary-scaledownonabort.yaml` and `canary-scaledownonabortnotrafficrouting.yaml` (identical templates).
    fn canary_scaledowndelay() -> serde_json::Value {
        json!({
            "metadata": {"labels": {"app": "canary-scaledowndelay"}},
            "spec": {"containers": [{
                "name": "canary-scaledowndelay",
                "image": "nginx:1.19-alpine",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "resources": {"requests": {"memory": "16Mi", "cpu": "5m"}},
            }]},
        })
    }

    fn legacy_hash(value: serde_json::Value) -> String {
        legacy_pod_template_hash(&template(value), None).expect("hashable template")
    }

    // --- pinned values from Argo Rollouts' own tests ---
    //
    // Argo's e2e tests up to 1.8 pin hashes of templates with `"creationTimestamp":null` (now
    // `legacy_pod_template_hash`); 1.9 dropped the field (`omitzero`), which changed every hash.

    /// argoproj/argo-rollouts `utils/hash/hash_test.go`: `assert.Equal(t, "7bb4fbc896", hashRed)` for
    /// `generatePodTemplate("red")`, collision count nil, on a branch (never merged) that restores the 1.8 hash after
    /// `omitzero`; so the 1.8 hash.
    #[test]
    fn argo_unit_test_red_template() {
        let red = template(json!({
            "metadata": {"labels": {"name": "red"}},
            "spec": {
                "containers": [{
                    "name": "red",
                    "image": "red",
                    "imagePullPolicy": "Always",
                    "terminationMessagePath": "/dev/termination-log",
                }],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "securityContext": {},
            },
        }));
        assert_eq!(
            go_json(&red).unwrap(),
            r#"{"metadata":{"labels":{"name":"red"}},"spec":{"containers":[{"name":"red","image":"red","resources":{},"terminationMessagePath":"/dev/termination-log","imagePullPolicy":"Always"}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst","securityContext":{}}}"#
        );
        assert_eq!(legacy_pod_template_hash(&red, None).unwrap(), "7bb4fbc896");
        assert_ne!(pod_template_hash(&red, None).unwrap(), "7bb4fbc896");
        // `HashForDifferentTemplates`: the same template with collision count 1 hashes differently.
        assert_ne!(legacy_pod_template_hash(&red, Some(1)).unwrap(), "7bb4fbc896");
    }

    /// argoproj/argo-rollouts `test/e2e/canary_test.go`, `TestCanaryScaleDownOnAbort` and
    /// `TestCanaryScaleDownOnAbortNoTrafficRouting`: after the abort the canary Service selects the stable (revision 1)
    /// pods. Argo 1.8's test pins `"rollouts-pod-template-hash": "66597877b7"`, Argo 1.9 pins `674d8cf959` for the same
    /// fixture. The e2e harness applies the YAML unchanged (no pod delay, no image prefix by default; its labels go on
    /// the Rollout's metadata, not the template).
    #[test]
    fn argo_e2e_canary_scaledown_on_abort() {
        assert_eq!(hash(canary_scaledowndelay()), "674d8cf959");
        assert_eq!(legacy_hash(canary_scaledowndelay()), "66597877b7");
    }

    /// argoproj/argo-rollouts `test/e2e/canary_test.go` (1.8), `TestCanaryDynamicStableScale`: the canary Service ends
    /// on the stable pods, `"rollouts-pod-template-hash": "868d98995b"` (fixture `canary-dynamic-stable-scale.yaml`).
    #[test]
    fn argo_e2e_dynamic_stable_scale() {
        let t = json!({
            "metadata": {"labels": {"app": "dynamic-stable-scale"}},
            "spec": {
                "readinessGates": [{"conditionType": "argoproj.io/e2e-readiness"}],
                "containers": [{
                    "name": "dynamic-stable-scale",
                    "image": "nginx:1.19-alpine",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "resources": {"requests": {"memory": "16Mi", "cpu": "5m"}},
                }],
            },
        });
        assert_eq!(legacy_hash(t), "868d98995b");
    }

    /// argoproj/argo-rollouts `test/e2e/functional_test.go` (1.8), `TestRolloutAbortRetryPromote`: the comment beside
    /// the expected `RolloutNotCompleted` event records "started update to revision 0 (7fd9b5545c)". A comment, not an
    /// assertion, so weaker evidence than the tests above; it agrees.
    #[test]
    fn argo_e2e_abort_retry_promote_event_comment() {
        let t = json!({
            "metadata": {"labels": {"app": "abort-retry-promote"}},
            "spec": {"containers": [{
                "name": "abort-retry-promote",
                "image": "nginx:1.19-alpine",
                "resources": {"requests": {"memory": "16Mi", "cpu": "1m"}},
            }]},
        });
        assert_eq!(legacy_hash(t), "7fd9b5545c");
    }

    /// A `creationTimestamp` that is set is written in its Go field position by both encodings; only an unset one
    /// differs (`omitzero`).
    #[test]
    fn only_an_unset_creation_timestamp_differs_between_argo_18_and_19() {
        let unset = template(json!({"metadata": {"name": "web"}, "spec": {"containers": []}}));
        let mut w = GoJson { legacy_creation_timestamp: true, ..GoJson::default() };
        unset.encode(&mut w, &Path::ROOT).unwrap();
        assert_eq!(w.out, r#"{"metadata":{"name":"web","creationTimestamp":null},"spec":{"containers":null}}"#);
        assert_eq!(go_json(&unset).unwrap(), r#"{"metadata":{"name":"web"},"spec":{"containers":null}}"#);
        let set = template(json!({"metadata": {"name": "web", "creationTimestamp": "2024-01-02T03:04:05Z"}, "spec": {"containers": []}}));
        assert_eq!(pod_template_hash(&set, None), legacy_pod_template_hash(&set, None));
    }

    // --- hashing ---

    /// An independent statement of Argo's recipe: FNV-1a over the JSON, then over 8 bytes of collision count.
    fn reference_hash(json: &[u8], collision_count: Option<i32>) -> String {
        let mut bytes = json.to_vec();
        if let Some(c) = collision_count {
            bytes.extend_from_slice(&c.to_le_bytes());
            bytes.extend_from_slice(&[0, 0, 0, 0]);
        }
        let mut h: u32 = 2_166_136_261;
        for b in bytes {
            h ^= u32::from(b);
            h = h.wrapping_mul(16_777_619);
        }
        safe_encode_string(&h.to_string())
    }

    #[test]
    fn collision_count_changes_the_hash() {
        let t = template(canary_scaledowndelay());
        let json = go_json(&t).unwrap();
        let none = pod_template_hash(&t, None).unwrap();
        let zero = pod_template_hash(&t, Some(0)).unwrap();
        let one = pod_template_hash(&t, Some(1)).unwrap();
        let two = pod_template_hash(&t, Some(2)).unwrap();
        // A present count of zero still appends 8 bytes, so it differs from no count at all.
        assert_ne!(none, zero);
        assert_ne!(zero, one);
        assert_ne!(one, two);
        for c in [None, Some(0), Some(1), Some(2), Some(i32::MAX), Some(-1)] {
            assert_eq!(pod_template_hash(&t, c).unwrap(), reference_hash(json.as_bytes(), c), "collision count {c:?}");
        }
    }

    #[test]
    fn safe_encode_string_maps_digits_like_apimachinery() {
        // alphabet[b % 27] for '0'..='9' (48..=57).
        assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
        // The FNV sum behind Argo's pinned 7bb4fbc896.
        assert_eq!(safe_encode_string("3660967452"), "7bb4fbc896");
        assert_eq!(safe_encode_string(""), "");
        assert_eq!(safe_encode_string("a"), "v"); // 97 % 27 = 16
    }

    #[test]
    fn fnv32a_matches_the_published_test_vectors() {
        assert_eq!(fnv32a(FNV32_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv32a(FNV32_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(FNV32_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    // --- Go JSON encoding ---

    #[test]
    fn empty_template_marshals_like_go_zero_values() {
        assert_eq!(go_json(&PodTemplateSpec::default()).unwrap(), r#"{"metadata":{},"spec":{"containers":null}}"#);
    }

    #[test]
    fn fields_follow_go_order_and_omitempty_rules() {
        let t = template(json!({
            "metadata": {
                "name": "web",
                "labels": {"app": "web", "Tier": "<front&end>"},
                "annotations": {"note": "a\"b\\c\nd\te\u{1}f\u{2028}g é"},
            },
            "spec": {
                "volumes": [
                    {"name": "cfg", "configMap": {"name": "web-config", "items": [{"key": "a", "path": "a.txt", "mode": 420}], "defaultMode": 0}},
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1024Mi"}},
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}},
                    {"name": "podinfo", "downwardAPI": {"items": [{"path": "cpu", "resourceFieldRef": {"containerName": "web", "resource": "limits.cpu"}}]}},
                ],
                "containers": [{
                    "name": "web",
                    "image": "nginx",
                    "command": ["nginx"],
                    "args": [],
                    "ports": [{"containerPort": 80, "hostPort": 0, "protocol": "TCP", "name": "http"}],
                    "env": [{"name": "A", "value": ""}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"limits": {"memory": "0.5Gi", "cpu": "0.5"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 0, "timeoutSeconds": 2, "terminationGracePeriodSeconds": 0},
                    "livenessProbe": {"grpc": {"port": 9090}},
                    "securityContext": {"privileged": false, "runAsNonRoot": true},
                    "stdin": false,
                    "tty": true,
                }],
                "terminationGracePeriodSeconds": 0,
                "hostNetwork": false,
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}},
                }]}},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
            },
        }));
        let expected = concat!(
            r#"{"metadata":{"name":"web","#,
            r#""labels":{"Tier":"\u003cfront\u0026end\u003e","app":"web"},"#,
            r#""annotations":{"note":"a\"b\\c\nd\te\u0001f\u2028g é"}},"#,
            r#""spec":{"volumes":["#,
            r#"{"name":"cfg","configMap":{"name":"web-config","items":[{"key":"a","path":"a.txt","mode":420}],"defaultMode":0}},"#,
            r#"{"name":"scratch","emptyDir":{"sizeLimit":"1Gi"}},"#,
            r#"{"name":"token","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3600,"path":"token"}}]}},"#,
            r#"{"name":"podinfo","downwardAPI":{"items":[{"path":"cpu","resourceFieldRef":{"containerName":"web","resource":"limits.cpu","divisor":"0"}}]}}],"#,
            r#""containers":[{"name":"web","image":"nginx","command":["nginx"],"#,
            r#""ports":[{"name":"http","containerPort":80,"protocol":"TCP"}],"#,
            r#""env":[{"name":"A"},{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],"#,
            r#""resources":{"limits":{"cpu":"500m","memory":"512Mi"}},"#,
            r#""livenessProbe":{"grpc":{"port":9090,"service":null}},"#,
            r#""readinessProbe":{"httpGet":{"path":"/healthz","port":"http"},"timeoutSeconds":2,"terminationGracePeriodSeconds":0},"#,
            r#""securityContext":{"privileged":false,"runAsNonRoot":true},"tty":true}],"#,
            r#""terminationGracePeriodSeconds":0,"#,
            r#""affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}}]}},"#,
            r#""tolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule"}],"#,
            r#""topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]}}"#,
        );
        assert_eq!(go_json(&t).unwrap(), expected);
    }

    #[test]
    fn non_omitempty_fields_are_written_when_absent() {
        let t = template(json!({
            "spec": {
                "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": ""}, "secretRef": {"name": "s", "optional": false}}]}],
                "volumes": [{"name": "p", "projected": {}}, {"name": "q", "projected": {"sources": []}}],
                "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                    ]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}],
                }},
                "securityContext": {"runAsUser": 0, "supplementalGroups": [1, 2], "seccompProfile": {"type": "RuntimeDefault"}},
                "enableServiceLinks": false,
                "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
            },
        }));
        let expected = concat!(
            r#"{"metadata":{},"spec":{"#,
            r#""volumes":[{"name":"p","projected":{"sources":null}},{"name":"q","projected":{"sources":[]}}],"#,
            r#""containers":[{"name":"c","envFrom":[{"configMapRef":{},"secretRef":{"name":"s","optional":false}}],"resources":{}}],"#,
            r#""securityContext":{"runAsUser":0,"supplementalGroups":[1,2],"seccompProfile":{"type":"RuntimeDefault"}},"#,
            r#""affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}]},"#,
            r#""preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{}}]}},"#,
            r#""hostAliases":[{"ip":"10.0.0.1","hostnames":["a"]}],"enableServiceLinks":false}}"#,
        );
        assert_eq!(go_json(&t).unwrap(), expected);
    }

    #[test]
    fn lifecycle_tcp_and_int_or_string_ports() {
        let t = template(json!({"spec": {"containers": [{
            "name": "c",
            "lifecycle": {"postStart": {"exec": {"command": ["sleep", "5"]}}, "preStop": {"sleep": {"seconds": 3}}},
            "startupProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 30},
            "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": true, "subPath": ""}],
        }]}}));
        let expected = concat!(
            r#"{"metadata":{},"spec":{"containers":[{"name":"c","resources":{},"#,
            r#""volumeMounts":[{"name":"v","readOnly":true,"mountPath":"/v"}],"#,
            r#""startupProbe":{"tcpSocket":{"port":8080},"failureThreshold":30},"#,
            r#""lifecycle":{"postStart":{"exec":{"command":["sleep","5"]}},"preStop":{"sleep":{"seconds":3}}}}]}}"#,
        );
        assert_eq!(go_json(&t).unwrap(), expected);
    }

    #[test]
    fn strings_use_go_html_safe_escaping() {
        let mut w = GoJson::default();
        w.string("<>&\"\\/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}\u{2028}\u{2029}ü😀");
        assert_eq!(w.out, r#""\u003c\u003e\u0026\"\\/\b\f\n\r\t\u0000\u001f"#.to_owned() + "\u{7f}" + r"\u2028\u2029" + "ü😀\"");
    }

    #[test]
    fn creation_timestamp_is_rfc3339_seconds_or_omitted() {
        let mut t = PodTemplateSpec::default();
        let meta = t.metadata.get_or_insert_with(Default::default);
        meta.creation_timestamp = Some(Time("2024-01-02T03:04:05.5Z".parse().unwrap()));
        assert_eq!(go_json(&t).unwrap(), r#"{"metadata":{"creationTimestamp":"2024-01-02T03:04:05Z"},"spec":{"containers":null}}"#);
        let meta = t.metadata.get_or_insert_with(Default::default);
        meta.creation_timestamp = Some(Time("0001-01-01T00:00:00Z".parse().unwrap()));
        assert_eq!(go_json(&t).unwrap(), r#"{"metadata":{},"spec":{"containers":null}}"#, "Go's zero time: omitzero");
    }

    #[test]
    fn labels_and_annotations_change_the_hash() {
        let base = hash(canary_scaledowndelay());
        let mut with_annotation = canary_scaledowndelay();
        with_annotation["metadata"]["annotations"] = json!({"rev": "two"});
        assert_ne!(hash(with_annotation), base);
    }

    // --- unsupported fields and invalid values ---

    #[test]
    fn unmodelled_fields_are_errors_naming_the_field() {
        let volume = template(json!({"spec": {"containers": [{"name": "c"}], "volumes": [
            {"name": "ok", "emptyDir": {}},
            {"name": "repo", "gitRepo": {"repository": "https://example.com/r.git"}},
        ]}}));
        let err = pod_template_hash(&volume, None).unwrap_err();
        assert_eq!(err, PodHashError::UnsupportedField { path: "spec.volumes[1].gitRepo".into() });
        assert_eq!(err.metric_label(), "pod_hash_unsupported_field");

        let ephemeral = template(json!({"spec": {"containers": [{"name": "c"}], "volumes": [
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
        ]}}));
        assert_eq!(go_json(&ephemeral).unwrap_err(), PodHashError::UnsupportedField { path: "spec.volumes[0].ephemeral".into() });

        let debug = template(json!({"spec": {"containers": [{"name": "c"}], "ephemeralContainers": [{"name": "debug"}]}}));
        assert_eq!(go_json(&debug).unwrap_err(), PodHashError::UnsupportedField { path: "spec.ephemeralContainers".into() });

        let managed = template(json!({"metadata": {"managedFields": [{"manager": "kubectl"}]}}));
        assert_eq!(go_json(&managed).unwrap_err(), PodHashError::UnsupportedField { path: "metadata.managedFields".into() });
        // Present but empty is omitted by Go's omitempty, so it is no obstacle.
        let empty = template(json!({"metadata": {"managedFields": []}, "spec": {"ephemeralContainers": []}}));
        assert!(go_json(&empty).is_ok());
    }

    #[test]
    fn invalid_quantities_are_errors_naming_the_field() {
        let t = template(json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1K"}}}]}}));
        let err = pod_template_hash(&t, None).unwrap_err();
        assert_eq!(
            err,
            PodHashError::InvalidQuantity {
                path: "spec.containers[0].resources.limits[cpu]".into(),
                value: "1K".into(),
                reason: QuantityError::Suffix
            }
        );
        assert_eq!(err.metric_label(), "pod_hash_invalid_quantity");
        assert!(err.to_string().contains("spec.containers[0].resources.limits[cpu]"), "{err}");
    }

    // --- quantities ---

    #[test]
    fn quantities_marshal_like_go() {
        let cases = [
            // Canonical input is kept verbatim.
            ("100m", "100m"),
            ("64Mi", "64Mi"),
            ("16Mi", "16Mi"),
            ("1", "1"),
            ("1Gi", "1Gi"),
            ("100Ki", "100Ki"),
            ("1024", "1024"),
            ("1E", "1E"),
            ("1e3", "1e3"),
            ("1Ei", "1Ei"),
            ("0", "0"),
            // ...including Go's quirks: a sign or leading zeros survive when the digits are canonical.
            ("+1", "+1"),
            ("007", "007"),
            // Everything else is canonicalised.
            ("0.5", "500m"),
            ("0.001", "1m"),
            ("1000m", "1"),
            ("1000", "1k"),
            ("1.0", "1"),
            ("12.50", "12500m"),
            ("-1.5", "-1500m"),
            ("1024Mi", "1Gi"),
            ("1024Ki", "1Mi"),
            ("2048Ki", "2Mi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("0.5Ki", "512"),
            ("1.1Ki", "1126400m"),
            ("1.5e3", "1500"),
            ("0.1n", "1n"),
            ("0m", "0"),
            ("-0", "0"),
            ("000", "0"),
            ("8Ei", "9223372036854775807"),
            (" 250m ", "250m"),
        ];
        for (input, want) in cases {
            assert_eq!(go_quantity(input).as_deref(), Ok(want), "quantity {input:?}");
        }
    }

    /// Argo's e2e `TestContainerResourceFormats` (`functional_test.go`) writes the same CPU request three ways; the
    /// unquoted YAML number reaches k8s-openapi as a JSON number. All three marshal as Go's `1m`.
    #[test]
    fn container_resource_formats_fixture_marshals_one_millicore_three_times() {
        let t = template(json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": 0.001}}},
            {"name": "b", "resources": {"requests": {"cpu": "0.001"}}},
            {"name": "c", "resources": {"requests": {"cpu": "1m"}}},
        ]}}));
        let json = go_json(&t).unwrap();
        assert_eq!(json.matches(r#""resources":{"requests":{"cpu":"1m"}}"#).count(), 3, "{json}");
    }

    #[test]
    fn invalid_quantities_are_rejected_as_go_rejects_them() {
        let cases = [
            ("", QuantityError::Empty),
            ("  ", QuantityError::Empty),
            ("abc", QuantityError::Format),
            ("1.2.3", QuantityError::Format),
            ("1Mib", QuantityError::Format),
            ("1K", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1mi", QuantityError::Suffix),
            ("½", QuantityError::Format),
            ("1000E", QuantityError::OutOfRange),
        ];
        for (input, want) in cases {
            assert_eq!(go_quantity(input), Err(want), "quantity {input:?}");
        }
    }

    fn quantity_strategy() -> impl Strategy<Value = String> {
        let suffix = prop::sample::select(vec!["", "n", "u", "m", "k", "M", "G", "T", "P", "Ki", "Mi", "Gi", "Ti", "e3", "e-3", "E2"]);
        ("[+-]?", "[0-9]{1,9}", prop::option::of("[0-9]{0,6}"), suffix).prop_map(|(sign, int, frac, suffix)| match frac {
            Some(frac) => format!("{sign}{int}.{frac}{suffix}"),
            None => format!("{sign}{int}{suffix}"),
        })
    }

    /// Go's marshalling is not idempotent for a fractional binary amount; Argo hashes after a re-marshal.
    #[test]
    fn a_fractional_binary_quantity_is_hashed_as_argo_sees_it_after_its_remarshal() {
        assert_eq!(go_quantity("62.5Ki").as_deref(), Ok("64000"));
        assert_eq!(go_quantity("64000").as_deref(), Ok("64k"));
        assert_eq!(remarshalled_quantity("62.5Ki").as_deref(), Ok("64k"));
        assert_eq!(remarshalled_quantity("1.5Gi").as_deref(), Ok("1536Mi"));
    }

    proptest! {
        /// Argo re-marshals every Rollout before hashing (`remarshalRollout`) and the API server marshals what it
        /// stores: once re-marshalled, a quantity is stable under any further round trip.
        #[test]
        fn a_remarshalled_quantity_is_stable(q in quantity_strategy()) {
            let twice = remarshalled_quantity(&q).unwrap();
            prop_assert_eq!(go_quantity(&twice).unwrap(), twice.clone(), "input {}", q);
        }

        #[test]
        fn hashes_use_only_the_safe_alphabet(image in "[a-z0-9:./-]{1,30}", count in prop::option::of(any::<i32>())) {
            let t = template(json!({"spec": {"containers": [{"name": "c", "image": image}]}}));
            let h = pod_template_hash(&t, count).unwrap();
            prop_assert!(!h.is_empty() && h.len() <= 10);
            prop_assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        }
    }
}

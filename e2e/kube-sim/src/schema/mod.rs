//! Structural-schema semantics for custom resources, as the kube-apiserver
//! (`apiextensions-apiserver`, v1.32) applies a CRD version's `openAPIV3Schema`:
//! defaulting, pruning, validation with the apiserver's field paths and
//! messages, and list-type metadata for server-side apply.
//!
//! # Contract
//!
//! Everything here is pure: functions of `serde_json::Value`s, no I/O, no
//! clock, no global state besides lazily compiled constant regexes. A
//! [`Schema`] is compiled once per CRD version ([`Schema::new`]) and is
//! `Send + Sync`.
//!
//! The apiserver's request pipeline, and the call that emulates each step:
//!
//! 1. decoding: [`Schema::default_and_prune`] (or
//!    [`Schema::default_and_prune_report`], which also returns the pruned
//!    unknown-field paths for `fieldValidation=Strict|Warn`). Defaults first
//!    (also for non-nullable `null`s), then unknown fields are pruned, embedded
//!    `metadata` is coerced to `ObjectMeta`'s fields, and non-nullable `null`s
//!    without a default are dropped.
//! 2. validation: [`Schema::validate`] with `old = None` on create and
//!    `Some(stored)` on update. Order of the errors: `OpenAPI` value validation,
//!    embedded-resource checks, list-type uniqueness, `x-kubernetes-validations`
//!    (or, when an earlier error blocks them, the apiserver's fieldless
//!    "some validation rules were not checked" error).
//! 3. the 422 `Status`: `details.causes[i] = {reason: e.reason.as_str(),
//!    message: e.body(), field: e.field}` (the apiserver's cause message has
//!    no field prefix; [`FieldError::message`] has it) and `message =`
//!    [`invalid_message`]`(kind, group, name, &errors)`.
//!
//! Server-side apply asks [`Schema::list_kind`] and [`Schema::map_is_atomic`]
//! (also as [`ListKeys`]) for `x-kubernetes-list-type`/`-list-map-keys` and
//! `x-kubernetes-map-type`.
//!
//! On update, validation ratchets as in v1.32 (`CRDValidationRatcheting`,
//! on by default): errors inside a value that is unchanged from the
//! correlated old value (same property, same map key, same list-map key) are
//! dropped; list-type uniqueness is only checked when the old object passed it.
//!
//! Paths follow the apiserver: `OpenAPI` errors spell map keys like fields
//! (`spec.labels.app`), embedded/list-type/rule errors use `[key]`
//! (`spec.labels[app]`); indices are `[i]` in both. Errors without a path
//! (junctors, the blocking-rules error) have the field `<nil>`, as the
//! apiserver reports them.
//!
//! # Not emulated
//!
//! - CEL: of `x-kubernetes-validations` only the transition rule
//!   `self == oldSelf` (either operand order, whitespace-insensitive, not with
//!   `optionalOldSelf`) is evaluated; every other rule is accepted without
//!   evaluation, and `messageExpression` is never evaluated (`message` or
//!   `failed rule: <rule>` is used).
//! - `format`: checked loosely for `date-time`, `date`, `byte`, `uuid`
//!   (3/4/5), `ipv4`, `ipv6`, `cidr`, `mac`, `hostname`, `email`, `uri`,
//!   `duration`, `bsonobjectid`, `hexcolor`, `ssn`; `isbn*`, `creditcard`,
//!   `rgbcolor`, `password` accept anything. Numeric formats (`int32`,
//!   `int64`, `float`, `double`) are stripped by the real apiserver and so are
//!   not enforced, unless opted in with [`Schema::with_numeric_format_ranges`].
//! - `pattern` uses the `regex` crate, whose `\d`, `\w`, `\s` and `\b` are
//!   Unicode-aware where Go's RE2 classes are ASCII-only.
//! - `anyOf`/`oneOf` report the failing branch with the fewest errors where
//!   kube-openapi picks the one with the most passing checks.
//! - Root `apiVersion`, `kind` and `metadata` are the caller's: never pruned,
//!   defaulted or checked here (beyond the schema's own `metadata` node);
//!   embedded `metadata` is only coerced (unknown and empty fields dropped)
//!   and checked for `name`/`generateName` path-segment rules.
//! - Error order among sibling properties follows the schema (Go iterates
//!   maps randomly); quirks of Go's reflection-based `enum` matching (e.g.
//!   `1.5` matching `1`) are not reproduced.
//! - Scale subresource checks and CRD conversion.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::num::FpCategory;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::patch::{ListKeys, ListKind};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The `reason` of one `details.causes` entry of a 422 `Status`, i.e. the
/// apiserver's `field.ErrorType`.
#[allow(clippy::enum_variant_names)] // the names are the apiserver's cause types
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CauseReason {
    /// `FieldValueInvalid`: malformed value, rendered `Invalid value`.
    FieldValueInvalid,
    /// `FieldValueRequired`: missing value, rendered `Required value`.
    FieldValueRequired,
    /// `FieldValueNotSupported`: value outside an `enum`, rendered `Unsupported value`.
    FieldValueNotSupported,
    /// `FieldValueTypeInvalid`: wrong JSON type or `format`, rendered `Invalid value`.
    FieldValueTypeInvalid,
    /// `FieldValueTooLong`: string above `maxLength`, rendered `Too long`.
    FieldValueTooLong,
    /// `FieldValueTooMany`: above `maxItems`/`maxProperties`, rendered `Too many`.
    FieldValueTooMany,
    /// `FieldValueDuplicate`: repeated set element or list-map key, rendered `Duplicate value`.
    FieldValueDuplicate,
    /// `FieldValueForbidden`: rendered `Forbidden`.
    FieldValueForbidden,
}

impl CauseReason {
    /// The reason as it appears on the wire, e.g. `"FieldValueInvalid"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldValueInvalid => "FieldValueInvalid",
            Self::FieldValueRequired => "FieldValueRequired",
            Self::FieldValueNotSupported => "FieldValueNotSupported",
            Self::FieldValueTypeInvalid => "FieldValueTypeInvalid",
            Self::FieldValueTooLong => "FieldValueTooLong",
            Self::FieldValueTooMany => "FieldValueTooMany",
            Self::FieldValueDuplicate => "FieldValueDuplicate",
            Self::FieldValueForbidden => "FieldValueForbidden",
        }
    }

    /// The human label that opens the error body.
    fn label(self) -> &'static str {
        match self {
            Self::FieldValueInvalid | Self::FieldValueTypeInvalid => "Invalid value",
            Self::FieldValueRequired => "Required value",
            Self::FieldValueNotSupported => "Unsupported value",
            Self::FieldValueTooLong => "Too long",
            Self::FieldValueTooMany => "Too many",
            Self::FieldValueDuplicate => "Duplicate value",
            Self::FieldValueForbidden => "Forbidden",
        }
    }

    /// Whether the apiserver skips `x-kubernetes-validations` after such an
    /// error (they would break the rules' cost estimates).
    fn blocks_rules(self) -> bool {
        matches!(
            self,
            Self::FieldValueNotSupported
                | Self::FieldValueRequired
                | Self::FieldValueTooLong
                | Self::FieldValueTooMany
                | Self::FieldValueTypeInvalid
        )
    }
}

/// One invalid field, as in the `details.causes` of a 422 `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The cause type.
    pub reason: CauseReason,
    /// The apiserver's path, e.g. `spec.template.spec.containers[0].image`,
    /// or `<nil>` for errors the apiserver reports without a path.
    pub field: String,
    /// The full text, `"<field>: <body>"`, e.g.
    /// `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
    pub message: String,
}

impl FieldError {
    /// The message without the leading `"<field>: "`: what the apiserver puts
    /// in `details.causes[].message` (`field.Error.ErrorBody()`).
    #[must_use]
    pub fn body(&self) -> &str {
        self.message.strip_prefix(self.field.as_str()).and_then(|rest| rest.strip_prefix(": ")).unwrap_or(&self.message)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// Why an `openAPIV3Schema` was refused by [`Schema::new`]: it is not a
/// structural schema the apiserver would accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// Where in the schema, e.g. `openAPIV3Schema.properties[spec].type`.
    pub path: String,
    /// What is wrong, in the apiserver's words where it has some.
    pub message: String,
}

/// The apiserver's top-level message of a 422 `Invalid` `Status`:
/// `Rollout.argoproj.io "demo" is invalid: spec.replicas: Invalid value: ...`
/// for one error, `... is invalid: [spec.a: ..., spec.b: ...]` for several
/// (identical messages counted once), `... is invalid` for none. An empty
/// `group` (core) leaves the kind bare.
#[must_use]
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() { kind.to_owned() } else { format!("{kind}.{group}") };
    let head = format!("{qualified} {} is invalid", go_quote(name));
    let mut unique: Vec<&str> = Vec::new();
    for e in errors {
        if !unique.contains(&e.message.as_str()) {
            unique.push(&e.message);
        }
    }
    match unique.as_slice() {
        [] => head,
        [one] => format!("{head}: {one}"),
        many => format!("{head}: [{}]", many.join(", ")),
    }
}

// ---------------------------------------------------------------------------
// The compiled schema
// ---------------------------------------------------------------------------

/// A compiled view of one CRD version's `openAPIV3Schema`.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Node,
    has_rules: bool,
    numeric_format_ranges: bool,
}

impl Schema {
    /// Compiles the JSON value of `openAPIV3Schema`.
    ///
    /// # Errors
    ///
    /// Refuses clearly non-structural input, as the apiserver refuses such a
    /// CRD: a non-object schema, a missing or non-`object` root `type` (unless
    /// `x-kubernetes-preserve-unknown-fields`), a missing `type` on a property,
    /// `additionalProperties` schema or array item (unless int-or-string or
    /// preserve-unknown-fields), an array without `items`, tuple `items`,
    /// `$ref`, `properties` together with an `additionalProperties` schema,
    /// an unknown `type` or `x-kubernetes-list-type`, list-map without keys,
    /// a `pattern` that does not compile, a non-positive `multipleOf`, and
    /// ill-typed keywords.
    pub fn new(open_api_v3_schema: &Value) -> Result<Schema, SchemaError> {
        let mut parser = Parser { has_rules: false };
        let root = parser.parse_node(open_api_v3_schema, "openAPIV3Schema", Level::Root)?;
        Ok(Schema { root, has_rules: parser.has_rules, numeric_format_ranges: false })
    }

    /// Opt-in deviation from the apiserver: reject integers outside the
    /// range of `format: int32` (the real apiserver strips numeric formats
    /// and accepts any value). The error reads like a `maximum`/`minimum`
    /// failure with the `int32` bound.
    #[must_use]
    pub fn with_numeric_format_ranges(mut self, enabled: bool) -> Self {
        self.numeric_format_ranges = enabled;
        self
    }

    /// Applies `default`s, then prunes unknown fields, as the apiserver does
    /// on create and update (and on reads from storage).
    ///
    /// Defaults fill absent fields and non-nullable `null`s, also inside
    /// array items and `additionalProperties` values and inside defaulted
    /// values; never inside `metadata`. Pruning removes fields not in
    /// `properties` (nor covered by an `additionalProperties` schema) unless
    /// the node has `x-kubernetes-preserve-unknown-fields: true`; known
    /// fields below such a node are still pruned by their own schema.
    /// `x-kubernetes-embedded-resource` nodes keep `apiVersion`, `kind` and
    /// `metadata` (coerced to `ObjectMeta`'s fields). The root's `apiVersion`,
    /// `kind` and `metadata` are never touched. Last, non-nullable `null`s
    /// without a default are dropped.
    pub fn default_and_prune(&self, obj: &mut Value) {
        let _unknown = self.default_and_prune_report(obj);
    }

    /// [`Schema::default_and_prune`], returning the paths of the unknown
    /// fields it pruned (`spec.foo`, `spec.items[0].bar`,
    /// `spec.template.metadata.foo`), in the order met: what the apiserver
    /// reports as `unknown field "<path>"` under `fieldValidation=Strict`
    /// (error) or `Warn` (warning).
    pub fn default_and_prune_report(&self, obj: &mut Value) -> Vec<String> {
        apply_defaults(&self.root, obj, true);
        let mut unknown = Vec::new();
        prune(&self.root, obj, "", true, &mut unknown);
        prune_nulls(&self.root, obj, true);
        unknown
    }

    /// Validates an object (after [`Schema::default_and_prune`]); `old` is
    /// the stored object on update and `None` on create.
    ///
    /// Checks `type` (integers accept whole JSON numbers; int-or-string;
    /// `nullable`), `format`, `enum`, `minimum`/`maximum` (+ `exclusive*`),
    /// `multipleOf`, `minLength`/`maxLength`, `pattern`, `minItems`/`maxItems`,
    /// `uniqueItems`, `minProperties`/`maxProperties`, `required`,
    /// `additionalProperties`, `allOf`/`anyOf`/`oneOf`/`not`, embedded
    /// resources' `apiVersion`/`kind`, `x-kubernetes-list-type` `set`/`map`
    /// uniqueness, and the transition rule `self == oldSelf` (update only).
    /// Other CEL rules are not evaluated (see the module docs).
    #[must_use]
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut path = Vec::new();
        self.check(&self.root, obj, old, &mut path, &mut errors);
        check_embedded(&self.root, obj, &mut path, &mut errors);
        let old_lists_valid = old.is_none_or(|o| {
            let mut old_errors = Vec::new();
            check_lists(&self.root, o, &mut path, &mut old_errors);
            old_errors.is_empty()
        });
        if old_lists_valid {
            check_lists(&self.root, obj, &mut path, &mut errors);
        }
        if self.has_rules {
            if errors.iter().any(|e| e.reason.blocks_rules()) {
                errors.push(field_error(
                    CauseReason::FieldValueInvalid,
                    NIL_FIELD.to_owned(),
                    Some("\"null\""),
                    "some validation rules were not checked because the object was invalid; \
                     correct the existing errors to complete validation",
                ));
            } else if let Some(old) = old {
                check_rules(&self.root, obj, old, &mut path, &mut errors, true);
            }
        }
        errors
    }

    /// Server-side-apply list semantics of the list at `path` (field names
    /// only, list indices omitted; map keys may be omitted, as `patch.rs`
    /// spells paths, or included): `Atomic` unless the schema says
    /// `x-kubernetes-list-type: set` (`Set`) or `map` (`Map` with
    /// `x-kubernetes-list-map-keys`). Unknown paths are `Atomic`.
    #[must_use]
    pub fn list_kind(&self, path: &[&str]) -> ListKind {
        let Some(mut node) = self.resolve(path) else {
            return ListKind::Atomic;
        };
        // A map of lists addressed without its key.
        while node.ty != Some(JsonType::Array) {
            match node.additional_schema() {
                Some(values) => node = values,
                None => break,
            }
        }
        match node.list_type {
            ListType::Atomic => ListKind::Atomic,
            ListType::Set => ListKind::Set,
            ListType::Map => ListKind::Map(node.list_map_keys.clone()),
        }
    }

    /// Whether the object at `path` (for a list, its elements) is atomic for
    /// server-side apply: `x-kubernetes-map-type: atomic`. Unknown paths are
    /// granular.
    #[must_use]
    pub fn map_is_atomic(&self, path: &[&str]) -> bool {
        self.resolve(path).and_then(through_arrays).is_some_and(|node| node.map_atomic)
    }

    /// The schema node at a path of field names (see [`Schema::list_kind`]).
    fn resolve(&self, path: &[&str]) -> Option<&Node> {
        let mut node = &self.root;
        for segment in path {
            let object = through_arrays(node)?;
            node = if let Some(prop) = object.property(segment) {
                prop
            } else {
                let values = object.additional_schema()?;
                // Map keys are usually omitted; otherwise the segment is the key.
                through_arrays(values).and_then(|v| v.property(segment)).unwrap_or(values)
            };
        }
        Some(node)
    }
}

/// Array schemas stand for their items in field-name paths.
fn through_arrays(node: &Node) -> Option<&Node> {
    let mut node = node;
    while node.ty == Some(JsonType::Array) {
        node = node.items.as_deref()?;
    }
    Some(node)
}

impl ListKeys for Schema {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        Schema::list_kind(self, path)
    }

    fn map_is_atomic(&self, path: &[&str]) -> bool {
        Schema::map_is_atomic(self, path)
    }
}

// ---------------------------------------------------------------------------
// Schema nodes and their parsing
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl JsonType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "object" => Self::Object,
            "array" => Self::Array,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "array",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ListType {
    #[default]
    Atomic,
    Set,
    Map,
}

#[derive(Debug, Clone, Default)]
enum Additional {
    #[default]
    Absent,
    Allow(bool),
    Schema(Box<Node>),
}

#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    regex: Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    /// `self == oldSelf`: evaluated on update.
    Immutable,
    /// Anything else: accepted without evaluation.
    NotEvaluated,
}

#[derive(Debug, Clone)]
struct Rule {
    expression: String,
    message: Option<String>,
    reason: Option<String>,
    field_path: Option<String>,
    kind: RuleKind,
}

impl Rule {
    fn message_or_default(&self) -> String {
        match self.message.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => format!("failed rule: {}", self.expression.trim()),
        }
    }
}

#[allow(clippy::struct_excessive_bools)] // one flag per schema keyword
#[derive(Debug, Clone, Default)]
struct Node {
    ty: Option<JsonType>,
    int_or_string: bool,
    nullable: bool,
    preserve_unknown: bool,
    embedded: bool,
    /// A format the apiserver keeps (and so checks), as written.
    format: Option<String>,
    /// The format as written, kept or not.
    raw_format: Option<String>,
    default: Option<Value>,
    properties: Vec<(String, Node)>,
    additional: Additional,
    items: Option<Box<Node>>,
    required: Vec<String>,
    enumeration: Option<Vec<Value>>,
    maximum: Option<f64>,
    exclusive_maximum: bool,
    minimum: Option<f64>,
    exclusive_minimum: bool,
    multiple_of: Option<f64>,
    max_length: Option<u64>,
    min_length: Option<u64>,
    pattern: Option<Pattern>,
    max_items: Option<u64>,
    min_items: Option<u64>,
    unique_items: bool,
    max_properties: Option<u64>,
    min_properties: Option<u64>,
    list_type: ListType,
    list_map_keys: Vec<String>,
    map_atomic: bool,
    all_of: Vec<Node>,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    not: Option<Box<Node>>,
    rules: Vec<Rule>,
}

impl Node {
    fn property(&self, name: &str) -> Option<&Node> {
        self.properties.iter().find(|(n, _)| n == name).map(|(_, node)| node)
    }

    fn additional_schema(&self) -> Option<&Node> {
        match &self.additional {
            Additional::Schema(node) => Some(node),
            _ => None,
        }
    }

    /// The schema of an object member: its property, else the
    /// `additionalProperties` schema.
    fn child(&self, name: &str) -> Option<&Node> {
        self.property(name).or_else(|| self.additional_schema())
    }

    /// The types kube-openapi validates against (int-or-string counts as
    /// `integer,string`).
    fn type_names(&self) -> &'static [&'static str] {
        if self.int_or_string {
            return &["integer", "string"];
        }
        match self.ty {
            None => &[],
            Some(JsonType::Object) => &["object"],
            Some(JsonType::Array) => &["array"],
            Some(JsonType::String) => &["string"],
            Some(JsonType::Integer) => &["integer"],
            Some(JsonType::Number) => &["number"],
            Some(JsonType::Boolean) => &["boolean"],
        }
    }
}

/// Formats the apiserver keeps after `StripUnsupportedFormatsPostProcess`
/// (names normalized by dropping `-`).
const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Field,
    Items,
    Junctor,
}

struct Parser {
    has_rules: bool,
}

fn schema_err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError { path: path.to_owned(), message: message.into() }
}

fn opt_bool(m: &Map<String, Value>, key: &str, path: &str) -> Result<bool, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(schema_err(&format!("{path}.{key}"), "must be a boolean")),
    }
}

fn opt_u64(m: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| schema_err(&format!("{path}.{key}"), "must be a non-negative integer")),
    }
}

fn opt_f64(m: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| schema_err(&format!("{path}.{key}"), "must be a number")),
    }
}

fn opt_str<'m>(m: &'m Map<String, Value>, key: &str, path: &str) -> Result<Option<&'m str>, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(schema_err(&format!("{path}.{key}"), "must be a string")),
    }
}

fn str_list(m: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<String>, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| schema_err(&format!("{path}.{key}"), "must be a list of strings")))
            .collect(),
        Some(_) => Err(schema_err(&format!("{path}.{key}"), "must be a list of strings")),
    }
}

impl Parser {
    fn parse_node(&mut self, value: &Value, path: &str, level: Level) -> Result<Node, SchemaError> {
        let Value::Object(m) = value else {
            return Err(schema_err(path, "must be a schema object"));
        };
        if m.contains_key("$ref") {
            return Err(schema_err(&format!("{path}.$ref"), "Forbidden: $ref is not supported in structural schemas"));
        }
        let mut node = Node {
            nullable: opt_bool(m, "nullable", path)?,
            int_or_string: opt_bool(m, "x-kubernetes-int-or-string", path)?,
            preserve_unknown: opt_bool(m, "x-kubernetes-preserve-unknown-fields", path)?,
            embedded: opt_bool(m, "x-kubernetes-embedded-resource", path)?,
            ..Node::default()
        };
        if let Some(t) = opt_str(m, "type", path)? {
            node.ty = Some(JsonType::parse(t).ok_or_else(|| {
                schema_err(
                    &format!("{path}.type"),
                    format!(
                        "Unsupported value: {}: supported values: \"array\", \"boolean\", \
                         \"integer\", \"number\", \"object\", \"string\"",
                        go_quote(t)
                    ),
                )
            })?);
        }
        check_type_presence(&node, path, level)?;
        self.parse_structure(&mut node, m, path, level)?;
        parse_value_validations(&mut node, m, path)?;
        self.parse_junctors(&mut node, m, path)?;
        self.parse_extensions(&mut node, m, path)?;
        Ok(node)
    }

    fn parse_structure(&mut self, node: &mut Node, m: &Map<String, Value>, path: &str, level: Level) -> Result<(), SchemaError> {
        let (member_level, item_level) =
            if level == Level::Junctor { (Level::Junctor, Level::Junctor) } else { (Level::Field, Level::Items) };
        match m.get("properties") {
            None | Some(Value::Null) => {}
            Some(Value::Object(props)) => {
                for (name, sub) in props {
                    let child = self.parse_node(sub, &format!("{path}.properties[{name}]"), member_level)?;
                    node.properties.push((name.clone(), child));
                }
            }
            Some(_) => {
                return Err(schema_err(&format!("{path}.properties"), "must be an object"));
            }
        }
        node.additional = match m.get("additionalProperties") {
            None | Some(Value::Null) => Additional::Absent,
            Some(Value::Bool(b)) => Additional::Allow(*b),
            Some(sub @ Value::Object(_)) => {
                Additional::Schema(Box::new(self.parse_node(sub, &format!("{path}.additionalProperties"), member_level)?))
            }
            Some(_) => {
                return Err(schema_err(&format!("{path}.additionalProperties"), "must be a boolean or a schema object"));
            }
        };
        if !node.properties.is_empty() && matches!(node.additional, Additional::Schema(_)) {
            return Err(schema_err(
                &format!("{path}.additionalProperties"),
                "Forbidden: additionalProperties and properties are mutual exclusive",
            ));
        }
        match m.get("items") {
            None | Some(Value::Null) => {
                if node.ty == Some(JsonType::Array) && level != Level::Junctor {
                    return Err(schema_err(&format!("{path}.items"), "Required value: must be specified"));
                }
            }
            Some(sub @ Value::Object(_)) => {
                node.items = Some(Box::new(self.parse_node(sub, &format!("{path}.items"), item_level)?));
            }
            Some(_) => {
                return Err(schema_err(&format!("{path}.items"), "Forbidden: items must be a schema object and not an array"));
            }
        }
        node.required = str_list(m, "required", path)?;
        Ok(())
    }

    fn parse_junctors(&mut self, node: &mut Node, m: &Map<String, Value>, path: &str) -> Result<(), SchemaError> {
        for (key, target) in [("allOf", &mut node.all_of), ("anyOf", &mut node.any_of), ("oneOf", &mut node.one_of)] {
            match m.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Array(list)) => {
                    for (i, sub) in list.iter().enumerate() {
                        target.push(self.parse_node(sub, &format!("{path}.{key}[{i}]"), Level::Junctor)?);
                    }
                }
                Some(_) => return Err(schema_err(&format!("{path}.{key}"), "must be a list")),
            }
        }
        if let Some(sub) = m.get("not").filter(|v| !v.is_null()) {
            node.not = Some(Box::new(self.parse_node(sub, &format!("{path}.not"), Level::Junctor)?));
        }
        Ok(())
    }

    fn parse_extensions(&mut self, node: &mut Node, m: &Map<String, Value>, path: &str) -> Result<(), SchemaError> {
        node.list_type = match opt_str(m, "x-kubernetes-list-type", path)? {
            None | Some("atomic") => ListType::Atomic,
            Some("set") => ListType::Set,
            Some("map") => ListType::Map,
            Some(other) => {
                return Err(schema_err(
                    &format!("{path}.x-kubernetes-list-type"),
                    format!("Unsupported value: {}: supported values: \"atomic\", \"map\", \"set\"", go_quote(other)),
                ));
            }
        };
        if node.list_type != ListType::Atomic && node.ty.is_some_and(|t| t != JsonType::Array) {
            return Err(schema_err(&format!("{path}.x-kubernetes-list-type"), "Forbidden: must only be used if type is array"));
        }
        node.list_map_keys = str_list(m, "x-kubernetes-list-map-keys", path)?;
        let keys_path = format!("{path}.x-kubernetes-list-map-keys");
        if node.list_type == ListType::Map && node.list_map_keys.is_empty() {
            return Err(schema_err(&keys_path, "Required value: must not be empty if x-kubernetes-list-type is map"));
        }
        if node.list_type != ListType::Map && !node.list_map_keys.is_empty() {
            return Err(schema_err(&keys_path, "Forbidden: must not be set if x-kubernetes-list-type is not map"));
        }
        node.map_atomic = match opt_str(m, "x-kubernetes-map-type", path)? {
            None | Some("granular") => false,
            Some("atomic") => true,
            Some(other) => {
                return Err(schema_err(
                    &format!("{path}.x-kubernetes-map-type"),
                    format!("Unsupported value: {}: supported values: \"atomic\", \"granular\"", go_quote(other)),
                ));
            }
        };
        match m.get("x-kubernetes-validations") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, rule) in list.iter().enumerate() {
                    node.rules.push(parse_rule(rule, &format!("{path}.x-kubernetes-validations[{i}]"))?);
                }
                self.has_rules |= !node.rules.is_empty();
            }
            Some(_) => {
                return Err(schema_err(&format!("{path}.x-kubernetes-validations"), "must be a list"));
            }
        }
        Ok(())
    }
}

fn check_type_presence(node: &Node, path: &str, level: Level) -> Result<(), SchemaError> {
    let type_path = format!("{path}.type");
    if level == Level::Root
        && let Some(t) = node.ty.filter(|t| *t != JsonType::Object)
    {
        return Err(schema_err(&type_path, format!("Invalid value: {}: must be object at the root", go_quote(t.name()))));
    }
    if node.ty.is_some() || node.int_or_string || node.preserve_unknown {
        return Ok(());
    }
    let what = match level {
        Level::Root => "at the root",
        Level::Field => "for specified object fields",
        Level::Items => "for specified array items",
        Level::Junctor => return Ok(()),
    };
    Err(schema_err(&type_path, format!("Required value: must not be empty {what}")))
}

fn parse_value_validations(node: &mut Node, m: &Map<String, Value>, path: &str) -> Result<(), SchemaError> {
    node.enumeration = match m.get("enum") {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) => Some(values.clone()),
        Some(_) => return Err(schema_err(&format!("{path}.enum"), "must be a list")),
    };
    node.maximum = opt_f64(m, "maximum", path)?;
    node.exclusive_maximum = opt_bool(m, "exclusiveMaximum", path)?;
    node.minimum = opt_f64(m, "minimum", path)?;
    node.exclusive_minimum = opt_bool(m, "exclusiveMinimum", path)?;
    node.multiple_of = opt_f64(m, "multipleOf", path)?;
    if node.multiple_of.is_some_and(|f| f <= 0.0) {
        return Err(schema_err(&format!("{path}.multipleOf"), "Invalid value: must be greater than zero"));
    }
    node.max_length = opt_u64(m, "maxLength", path)?;
    node.min_length = opt_u64(m, "minLength", path)?;
    node.max_items = opt_u64(m, "maxItems", path)?;
    node.min_items = opt_u64(m, "minItems", path)?;
    node.unique_items = opt_bool(m, "uniqueItems", path)?;
    node.max_properties = opt_u64(m, "maxProperties", path)?;
    node.min_properties = opt_u64(m, "minProperties", path)?;
    if let Some(source) = opt_str(m, "pattern", path)? {
        let regex = Regex::new(source).map_err(|e| {
            schema_err(
                &format!("{path}.pattern"),
                format!("Invalid value: {}: must be a valid regular expression, but isn't: {e}", go_quote(source)),
            )
        })?;
        node.pattern = Some(Pattern { source: source.to_owned(), regex });
    }
    if let Some(format) = opt_str(m, "format", path)? {
        node.raw_format = Some(format.to_owned());
        if SUPPORTED_FORMATS.contains(&format.replace('-', "").as_str()) {
            node.format = Some(format.to_owned());
        }
    }
    node.default = m.get("default").cloned();
    Ok(())
}

fn parse_rule(value: &Value, path: &str) -> Result<Rule, SchemaError> {
    let Value::Object(m) = value else {
        return Err(schema_err(path, "must be an object"));
    };
    let rule = opt_str(m, "rule", path)?
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| schema_err(&format!("{path}.rule"), "Required value"))?
        .to_owned();
    let reason = opt_str(m, "reason", path)?.map(str::to_owned);
    if let Some(r) = &reason {
        const REASONS: [&str; 4] = ["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"];
        if !REASONS.contains(&r.as_str()) {
            return Err(schema_err(
                &format!("{path}.reason"),
                format!(
                    "Unsupported value: {}: supported values: \"FieldValueDuplicate\", \
                     \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"",
                    go_quote(r)
                ),
            ));
        }
    }
    let optional_old_self = opt_bool(m, "optionalOldSelf", path)?;
    let compact: String = rule.chars().filter(|c| !c.is_whitespace()).collect();
    let kind = if !optional_old_self && (compact == "self==oldSelf" || compact == "oldSelf==self") {
        RuleKind::Immutable
    } else {
        RuleKind::NotEvaluated
    };
    Ok(Rule {
        expression: rule,
        message: opt_str(m, "message", path)?.map(str::to_owned),
        reason,
        field_path: opt_str(m, "fieldPath", path)?.map(str::to_owned),
        kind,
    })
}

// ---------------------------------------------------------------------------
// Defaulting and pruning
// ---------------------------------------------------------------------------

const TYPE_META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// `ObjectMeta`'s JSON fields: what survives the coercion of embedded metadata.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// `resource` marks the root and embedded resources, whose `metadata` is
/// never defaulted.
fn apply_defaults(node: &Node, value: &mut Value, resource: bool) {
    match value {
        Value::Object(map) => {
            for (name, prop) in &node.properties {
                if resource && name == "metadata" {
                    continue;
                }
                let Some(default) = &prop.default else {
                    continue;
                };
                let missing = match map.get(name.as_str()) {
                    None => true,
                    Some(Value::Null) => !prop.nullable,
                    Some(_) => false,
                };
                if missing {
                    map.insert(name.clone(), default.clone());
                }
            }
            let additional = node.additional_schema();
            for (key, child) in map.iter_mut() {
                if resource && key == "metadata" {
                    continue;
                }
                if let Some(prop) = node.property(key) {
                    apply_defaults(prop, child, prop.embedded);
                } else if let Some(schema) = additional {
                    default_null(schema, child);
                    apply_defaults(schema, child, schema.embedded);
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for item in items {
                    default_null(schema, item);
                    apply_defaults(schema, item, schema.embedded);
                }
            }
        }
        _ => {}
    }
}

fn default_null(schema: &Node, value: &mut Value) {
    if value.is_null()
        && !schema.nullable
        && let Some(default) = &schema.default
    {
        value.clone_from(default);
    }
}

fn member_path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// Structural pruning; `root` is the resource root, whose type meta is kept
/// as is. Unknown-field paths are appended to `unknown`.
fn prune(node: &Node, value: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    if node.preserve_unknown {
        prune_preserving(node, value, path, root, unknown);
        return;
    }
    match value {
        Value::Object(map) => {
            let embedded = root || node.embedded;
            map.retain(|key, child| {
                if root && TYPE_META_FIELDS.contains(&key.as_str()) {
                    return true;
                }
                if embedded {
                    match key.as_str() {
                        "apiVersion" | "kind" if child.is_string() => return true,
                        "metadata" if child.is_object() => {
                            coerce_metadata(child, &member_path(path, key), unknown);
                            return true;
                        }
                        _ => {}
                    }
                }
                let child_path = member_path(path, key);
                if let Some(prop) = node.property(key) {
                    prune(prop, child, &child_path, false, unknown);
                    return true;
                }
                match &node.additional {
                    Additional::Schema(schema) => {
                        prune(schema, child, &child_path, false, unknown);
                        true
                    }
                    Additional::Allow(true) => true,
                    Additional::Allow(false) | Additional::Absent => {
                        unknown.push(child_path);
                        false
                    }
                }
            });
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// Pruning below `x-kubernetes-preserve-unknown-fields`: unknown members stay,
/// known members are pruned by their own schema.
fn prune_preserving(node: &Node, value: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (root || node.embedded) && TYPE_META_FIELDS.contains(&key.as_str()) {
                    if !root && key == "metadata" && child.is_object() {
                        coerce_metadata(child, &member_path(path, key), unknown);
                    }
                    continue;
                }
                if let Some(schema) = node.child(key) {
                    prune(schema, child, &member_path(path, key), false, unknown);
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_preserving(schema, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// The round trip of embedded metadata through `ObjectMeta`: unknown fields
/// are dropped (and reported), empty ones vanish (`omitempty`).
fn coerce_metadata(meta: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if let Value::Object(map) = meta {
        map.retain(|key, value| {
            if !OBJECT_META_FIELDS.contains(&key.as_str()) {
                unknown.push(format!("{path}.{key}"));
                return false;
            }
            !is_go_empty(value)
        });
    }
}

fn is_go_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64().is_some_and(|f| f.classify() == FpCategory::Zero),
    }
}

/// Drops `null` members whose schema is neither nullable nor defaulted.
fn prune_nulls(node: &Node, value: &mut Value, root: bool) {
    match value {
        Value::Object(map) => map.retain(|key, child| {
            if root && TYPE_META_FIELDS.contains(&key.as_str()) {
                return true;
            }
            let Some(schema) = node.child(key) else {
                return true;
            };
            if child.is_null() {
                return schema.nullable || schema.default.is_some();
            }
            prune_nulls(schema, child, false);
            true
        }),
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for item in items {
                    prune_nulls(schema, item, false);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Paths and error construction
// ---------------------------------------------------------------------------

const NIL_FIELD: &str = "<nil>";

#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Field(&'a str),
    Key(&'a str),
    Index(usize),
}

/// The path as kube-openapi spells it: map keys like fields.
fn openapi_path(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) | Seg::Key(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

/// The path as `field.Path` spells it: map keys in brackets.
fn field_path(path: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Seg::Key(key) => {
                s.push('[');
                s.push_str(key);
                s.push(']');
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

fn nil_if_empty(path: String) -> String {
    if path.is_empty() { NIL_FIELD.to_owned() } else { path }
}

fn child_field(path: &[Seg<'_>], name: &str) -> String {
    let mut s = field_path(path);
    if !s.is_empty() {
        s.push('.');
    }
    s.push_str(name);
    s
}

/// Builds an error the way `field.Error` renders: `<label>[: <bad>][: <detail>]`.
fn field_error(reason: CauseReason, field: String, bad: Option<&str>, detail: &str) -> FieldError {
    let mut body = reason.label().to_owned();
    if let Some(bad) = bad {
        body.push_str(": ");
        body.push_str(bad);
    }
    if !detail.is_empty() {
        body.push_str(": ");
        body.push_str(detail);
    }
    let message = format!("{field}: {body}");
    FieldError { reason, field, message }
}

fn invalid(p: &str, bad: &str, detail: &str) -> FieldError {
    field_error(CauseReason::FieldValueInvalid, nil_if_empty(p.to_owned()), Some(bad), detail)
}

fn type_error(p: &str, type_name: &str, actual: &str) -> FieldError {
    let quoted = go_quote(actual);
    field_error(
        CauseReason::FieldValueTypeInvalid,
        nil_if_empty(p.to_owned()),
        Some(&quoted),
        &format!("{p} in body must be of type {type_name}: {quoted}"),
    )
}

fn too_many(p: &str, actual: usize, max: u64) -> FieldError {
    let noun = if max == 1 { "item" } else { "items" };
    field_error(
        CauseReason::FieldValueTooMany,
        nil_if_empty(p.to_owned()),
        Some(&actual.to_string()),
        &format!("must have at most {max} {noun}"),
    )
}

fn junctor_error(p: &str, text: &str) -> FieldError {
    field_error(CauseReason::FieldValueInvalid, NIL_FIELD.to_owned(), Some("\"\""), &format!("{} {text}", go_quote(p)))
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------
// OpenAPI value validation (kube-openapi's validators, in their order)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(n: &Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) => match num(n) {
            Num::Int(_) => "integer",
            Num::Float(_) => "number",
        },
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `swag.IsFloat64AJSONInteger`: whole (up to a relative 1e-9) and within ±(2^53-1).
#[allow(clippy::float_cmp)]
fn is_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || f.abs() > MAX_JSON_FLOAT {
        return false;
    }
    let whole = f.trunc();
    if f == whole {
        return true;
    }
    (f - whole).abs() / (f.abs() + whole.abs()) < 1e-9
}

/// Go's `int64(f)` for the bounds kube-openapi compares integers against.
#[allow(clippy::cast_possible_truncation)]
fn trunc_i64(f: f64) -> i64 {
    f as i64
}

#[allow(clippy::cast_precision_loss)]
fn i64_as_f64(i: i64) -> f64 {
    i as f64
}

impl Schema {
    fn check<'a>(&self, node: &'a Node, value: &'a Value, old: Option<&'a Value>, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>) {
        let start = out.len();
        self.check_here(node, value, old, path, out);
        if out.len() > start && old.is_some_and(|o| o == value) {
            out.truncate(start);
        }
    }

    fn check_here<'a>(&self, node: &'a Node, value: &'a Value, old: Option<&'a Value>, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>) {
        let p = openapi_path(path);
        check_type(node, value, &p, out);
        if value.is_null() {
            check_enum(node, value, &p, out);
            return;
        }
        self.check_junctors(node, value, old, path, &p, out);
        match value {
            Value::String(s) => {
                check_string(node, s, &p, out);
                check_format(node, s, &p, out);
            }
            Value::Number(n) => self.check_number(node, n, &p, out),
            _ => {}
        }
        if let Value::Array(items) = value {
            self.check_array(node, items, old, path, &p, out);
        }
        check_enum(node, value, &p, out);
        if let Value::Object(map) = value {
            self.check_object(node, map, old, path, &p, out);
        }
    }

    fn branch<'a>(&self, node: &'a Node, value: &'a Value, old: Option<&'a Value>, path: &mut Vec<Seg<'a>>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        self.check(node, value, old, path, &mut errors);
        errors
    }

    fn check_junctors<'a>(
        &self,
        node: &'a Node,
        value: &'a Value,
        old: Option<&'a Value>,
        path: &mut Vec<Seg<'a>>,
        p: &str,
        out: &mut Vec<FieldError>,
    ) {
        if !node.any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut matched = false;
            for branch in &node.any_of {
                let errors = self.branch(branch, value, old, path);
                if errors.is_empty() {
                    matched = true;
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| errors.len() < b.len()) {
                    best = Some(errors);
                }
            }
            if !matched {
                out.push(junctor_error(p, "must validate at least one schema (anyOf)"));
            }
            out.extend(best.unwrap_or_default());
        }
        if !node.one_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut valid = 0usize;
            for branch in &node.one_of {
                let errors = self.branch(branch, value, old, path);
                if errors.is_empty() {
                    valid += 1;
                    best = None;
                } else if valid == 0 && best.as_ref().is_none_or(|b| errors.len() < b.len()) {
                    best = Some(errors);
                }
            }
            if valid != 1 {
                let found = if valid == 0 { "Found none valid".to_owned() } else { format!("Found {valid} valid alternatives") };
                out.push(junctor_error(p, &format!("must validate one and only one schema (oneOf). {found}")));
                out.extend(best.unwrap_or_default());
            }
        }
        if !node.all_of.is_empty() {
            let mut valid = 0usize;
            for branch in &node.all_of {
                let errors = self.branch(branch, value, old, path);
                if errors.is_empty() {
                    valid += 1;
                }
                out.extend(errors);
            }
            if valid != node.all_of.len() {
                let suffix = if valid == 0 { ". None validated" } else { "" };
                out.push(junctor_error(p, &format!("must validate all the schemas (allOf){suffix}")));
            }
        }
        if let Some(not) = node.not.as_deref()
            && self.branch(not, value, old, path).is_empty()
        {
            out.push(junctor_error(p, "must not validate the schema (not)"));
        }
    }

    fn check_number(&self, node: &Node, n: &Number, p: &str, out: &mut Vec<FieldError>) {
        match num(n) {
            Num::Int(i) => check_int(node, i, p, out),
            Num::Float(f) => check_float(node, f, p, out),
        }
        if self.numeric_format_ranges && node.raw_format.as_deref() == Some("int32") {
            let whole = match num(n) {
                Num::Int(i) => Some(i),
                Num::Float(f) if is_json_integer(f) => Some(trunc_i64(f)),
                Num::Float(_) => None,
            };
            if let Some(i) = whole {
                let bad = go_number(n);
                if i > i64::from(i32::MAX) {
                    out.push(invalid(p, &bad, &format!("{p} in body should be less than or equal to {}", i32::MAX)));
                } else if i < i64::from(i32::MIN) {
                    out.push(invalid(p, &bad, &format!("{p} in body should be greater than or equal to {}", i32::MIN)));
                }
            }
        }
    }

    fn check_array<'a>(
        &self,
        node: &'a Node,
        items: &'a [Value],
        old: Option<&'a Value>,
        path: &mut Vec<Seg<'a>>,
        p: &str,
        out: &mut Vec<FieldError>,
    ) {
        if let Some(schema) = node.items.as_deref() {
            let old_items = old.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                let old_item = old_items.and_then(|o| correlate_item(node, item, o));
                path.push(Seg::Index(i));
                self.check(schema, item, old_item, path, out);
                path.pop();
            }
        }
        let len = items.len();
        if let Some(min) = node.min_items.filter(|min| as_u64(len) < *min) {
            out.push(invalid(p, &len.to_string(), &format!("{p} in body should have at least {min} items")));
        }
        if let Some(max) = node.max_items.filter(|max| as_u64(len) > *max) {
            out.push(too_many(p, len, max));
        }
        if node.unique_items && items.iter().enumerate().any(|(i, a)| items[..i].iter().any(|b| a == b)) {
            out.push(invalid(p, "\"\"", &format!("{p} in body shouldn't contain duplicates")));
        }
    }

    fn check_object<'a>(
        &self,
        node: &'a Node,
        map: &'a Map<String, Value>,
        old: Option<&'a Value>,
        path: &mut Vec<Seg<'a>>,
        p: &str,
        out: &mut Vec<FieldError>,
    ) {
        let count = map.len();
        if let Some(min) = node.min_properties.filter(|min| as_u64(count) < *min) {
            out.push(invalid(p, &count.to_string(), &format!("{p} in body should have at least {min} properties")));
            return;
        }
        if let Some(max) = node.max_properties.filter(|max| as_u64(count) > *max) {
            out.push(too_many(p, count, max));
            return;
        }
        match &node.additional {
            Additional::Allow(false) => {
                for key in map.keys().filter(|k| node.property(k).is_none()) {
                    out.push(invalid(p, &go_quote(key), &format!("{p}.{key} in body is a forbidden property")));
                }
            }
            Additional::Schema(schema) => {
                for (key, child) in map.iter().filter(|(k, _)| node.property(k).is_none()) {
                    path.push(Seg::Key(key));
                    self.check(schema, child, old.and_then(|o| o.get(key)), path, out);
                    path.pop();
                }
            }
            Additional::Allow(true) | Additional::Absent => {}
        }
        for (name, prop) in &node.properties {
            if let Some(child) = map.get(name.as_str()) {
                path.push(Seg::Field(name));
                self.check(prop, child, old.and_then(|o| o.get(name)), path, out);
                path.pop();
            }
        }
        for name in &node.required {
            if !map.contains_key(name.as_str()) {
                path.push(Seg::Field(name));
                let field = openapi_path(path);
                path.pop();
                out.push(field_error(CauseReason::FieldValueRequired, field, None, ""));
            }
        }
    }
}

/// kube-openapi's type validator, quirks included: a kept `format` on a
/// non-string value reports the Go format of the value instead of its type.
fn check_type(node: &Node, value: &Value, p: &str, out: &mut Vec<FieldError>) {
    let types = node.type_names();
    let format = node.format.as_deref();
    if types.is_empty() && format.is_none() {
        return;
    }
    if value.is_null() {
        if !types.is_empty() && !node.nullable {
            out.push(type_error(p, &types.join(","), "null"));
        }
        return;
    }
    let actual = json_type_name(value);
    let float_int = actual == "number" && value.as_f64().is_some_and(is_json_integer) && types.contains(&"integer");
    let int_float = actual == "integer" && types.contains(&"number");
    let matches = types.contains(&actual) || float_int || int_float;
    let stringish = value.is_string() || value.is_array();
    if let Some(format) = format {
        if !stringish && !matches {
            let go_format = match value {
                Value::Number(n) => match num(n) {
                    Num::Int(_) => "int64",
                    Num::Float(_) => "float64",
                },
                _ => "",
            };
            out.push(type_error(p, format, go_format));
            return;
        }
        if stringish && !types.iter().any(|t| *t == "integer" || *t == "number") {
            return;
        }
    }
    if !types.is_empty() && !matches {
        out.push(type_error(p, &types.join(","), actual));
    }
}

fn check_string(node: &Node, s: &str, p: &str, out: &mut Vec<FieldError>) {
    let len = as_u64(s.chars().count());
    if let Some(max) = node.max_length.filter(|max| len > *max) {
        let unit = if max == 1 { "byte" } else { "bytes" };
        out.push(field_error(
            CauseReason::FieldValueTooLong,
            nil_if_empty(p.to_owned()),
            None,
            &format!("may not be more than {max} {unit}"),
        ));
        return;
    }
    if let Some(min) = node.min_length.filter(|min| len < *min) {
        out.push(invalid(p, &go_quote(s), &format!("{p} in body should be at least {min} chars long")));
        return;
    }
    if let Some(pattern) = node.pattern.as_ref().filter(|pat| !pat.regex.is_match(s)) {
        out.push(invalid(p, &go_quote(s), &format!("{p} in body should match '{}'", pattern.source)));
    }
}

fn check_format(node: &Node, s: &str, p: &str, out: &mut Vec<FieldError>) {
    if let Some(format) = node.format.as_deref()
        && !format_valid(format, s)
    {
        let quoted = go_quote(s);
        out.push(field_error(
            CauseReason::FieldValueTypeInvalid,
            nil_if_empty(p.to_owned()),
            Some(&quoted),
            &format!("{p} in body must be of type {format}: {quoted}"),
        ));
    }
}

fn bound_words(lower: bool, exclusive: bool) -> &'static str {
    match (lower, exclusive) {
        (true, true) => "greater than",
        (true, false) => "greater than or equal to",
        (false, true) => "less than",
        (false, false) => "less than or equal to",
    }
}

fn check_int(node: &Node, i: i64, p: &str, out: &mut Vec<FieldError>) {
    let bad = i.to_string();
    if let Some(factor) = node.multiple_of {
        let int_factor = trunc_i64(factor);
        if int_factor > 0 {
            if i % int_factor != 0 {
                out.push(invalid(p, &bad, &format!("{p} in body should be a multiple of {int_factor}")));
            }
        } else if !float_multiple(i64_as_f64(i), factor) {
            out.push(invalid(p, &bad, &format!("{p} in body should be a multiple of {}", go_float(factor))));
        }
    }
    if let Some(min) = node.minimum {
        let bound = trunc_i64(min);
        let exclusive = node.exclusive_minimum;
        if i < bound || (exclusive && i == bound) {
            out.push(invalid(p, &bad, &format!("{p} in body should be {} {bound}", bound_words(true, exclusive))));
        }
    }
    if let Some(max) = node.maximum {
        let bound = trunc_i64(max);
        let exclusive = node.exclusive_maximum;
        if i > bound || (exclusive && i == bound) {
            out.push(invalid(p, &bad, &format!("{p} in body should be {} {bound}", bound_words(false, exclusive))));
        }
    }
}

fn float_multiple(value: f64, factor: f64) -> bool {
    let quotient = if factor < 1.0 { 1.0 / factor * value } else { value / factor };
    is_json_integer(quotient)
}

fn check_float(node: &Node, f: f64, p: &str, out: &mut Vec<FieldError>) {
    let bad = go_float(f);
    if let Some(factor) = node.multiple_of.filter(|factor| !float_multiple(f, *factor)) {
        out.push(invalid(p, &bad, &format!("{p} in body should be a multiple of {}", go_float(factor))));
    }
    if let Some(min) = node.minimum {
        let exclusive = node.exclusive_minimum;
        if f < min || (exclusive && f <= min) {
            out.push(invalid(p, &bad, &format!("{p} in body should be {} {}", bound_words(true, exclusive), go_float(min))));
        }
    }
    if let Some(max) = node.maximum {
        let exclusive = node.exclusive_maximum;
        if f > max || (exclusive && f >= max) {
            out.push(invalid(p, &bad, &format!("{p} in body should be {} {}", bound_words(false, exclusive), go_float(max))));
        }
    }
}

#[allow(clippy::float_cmp)]
fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (num(a), num(b)) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Int(x), Num::Float(y)) | (Num::Float(y), Num::Int(x)) => i64_as_f64(x) == y,
        (Num::Float(x), Num::Float(y)) => x == y,
    }
}

fn check_enum(node: &Node, value: &Value, p: &str, out: &mut Vec<FieldError>) {
    let Some(allowed) = node.enumeration.as_deref() else {
        return;
    };
    let matches = |candidate: &Value| match (candidate, value) {
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        _ => candidate == value,
    };
    if allowed.is_empty() || allowed.iter().any(matches) {
        return;
    }
    let listed: Vec<String> = allowed
        .iter()
        .map(|v| match v {
            Value::String(s) => go_quote(s),
            other => go_quote(&go_json(other)),
        })
        .collect();
    out.push(field_error(
        CauseReason::FieldValueNotSupported,
        nil_if_empty(p.to_owned()),
        Some(&go_value(value)),
        &format!("supported values: {}", listed.join(", ")),
    ));
}

/// The old element an array element is compared with for ratcheting and
/// transition rules: same list-map key, or an equal set element.
fn correlate_item<'a>(list: &Node, item: &Value, old_items: &'a [Value]) -> Option<&'a Value> {
    match list.list_type {
        ListType::Atomic => None,
        ListType::Set => old_items.iter().find(|o| *o == item),
        ListType::Map => {
            let key = list_map_key(list, item)?;
            old_items.iter().find(|o| list_map_key(list, o).as_ref() == Some(&key))
        }
    }
}

/// The key tuple of a list-map element (absent keys fall back to the item
/// schema's default, then to a marker).
fn list_map_key(list: &Node, item: &Value) -> Option<Vec<String>> {
    let Value::Object(map) = item else {
        return None;
    };
    Some(
        list.list_map_keys
            .iter()
            .map(|k| match map.get(k.as_str()) {
                Some(v) => go_json(v),
                None => list
                    .items
                    .as_deref()
                    .and_then(|it| it.property(k))
                    .and_then(|prop| prop.default.as_ref())
                    .map_or_else(|| "\u{0}unspecified".to_owned(), go_json),
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Embedded resources, list types, transition rules
// ---------------------------------------------------------------------------

fn check_embedded<'a>(node: &'a Node, value: &'a Value, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            if node.embedded {
                check_embedded_resource(map, path, out);
            }
            for (key, child) in map {
                if let Some(prop) = node.property(key) {
                    path.push(Seg::Field(key));
                    check_embedded(prop, child, path, out);
                    path.pop();
                } else if let Some(schema) = node.additional_schema() {
                    path.push(Seg::Key(key));
                    check_embedded(schema, child, path, out);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    check_embedded(schema, item, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

fn check_embedded_resource(map: &Map<String, Value>, path: &[Seg<'_>], out: &mut Vec<FieldError>) {
    let required = |name: &str| field_error(CauseReason::FieldValueRequired, child_field(path, name), None, "");
    for name in ["apiVersion", "kind"] {
        if !map.contains_key(name) {
            out.push(required(name));
        }
    }
    for (key, value) in map {
        match (key.as_str(), value) {
            ("apiVersion" | "kind", Value::String(s)) if s.is_empty() => out.push(required(key)),
            ("apiVersion" | "kind", Value::String(s)) => {
                let problem = if key == "kind" {
                    kind_problem(s)
                } else {
                    (s.split('/').count() > 2).then(|| format!("unexpected GroupVersion string: {s}"))
                };
                if let Some(problem) = problem {
                    out.push(field_error(CauseReason::FieldValueInvalid, child_field(path, key), Some(&go_quote(s)), &problem));
                }
            }
            ("apiVersion" | "kind", other) => {
                out.push(field_error(CauseReason::FieldValueInvalid, child_field(path, key), Some(&go_value(other)), "must be a string"));
            }
            ("metadata", Value::Object(meta)) => check_embedded_metadata(meta, path, out),
            ("metadata", Value::Null) => {}
            ("metadata", other) => out.push(field_error(
                CauseReason::FieldValueInvalid,
                child_field(path, "metadata"),
                Some(&go_value(other)),
                &format!("invalid metadata: expected object, got {}", go_type_name(other)),
            )),
            _ => {}
        }
    }
}

fn kind_problem(kind: &str) -> Option<String> {
    let lower = kind.to_lowercase();
    let mut problems = Vec::new();
    if lower.len() > 63 {
        problems.push("must be no more than 63 characters".to_owned());
    }
    let bytes = lower.as_bytes();
    let well_formed = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if !well_formed {
        problems.push(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', \
             start with an alphabetic character, and end with an alphanumeric character \
             (e.g. 'my-name',  or 'abc-123', regex used for validation is \
             '[a-z]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        );
    }
    (!problems.is_empty()).then(|| format!("may have mixed case, but should otherwise match: {}", problems.join(",")))
}

fn check_embedded_metadata(meta: &Map<String, Value>, path: &[Seg<'_>], out: &mut Vec<FieldError>) {
    for (key, prefix) in [("name", false), ("generateName", true)] {
        let Some(Value::String(name)) = meta.get(key) else {
            continue;
        };
        let mut problems = Vec::new();
        if !prefix && (name == "." || name == "..") {
            problems.push(format!("may not be '{name}'"));
        }
        for bad in ['/', '%'] {
            if name.contains(bad) {
                problems.push(format!("may not contain '{bad}'"));
            }
        }
        for problem in problems {
            out.push(field_error(
                CauseReason::FieldValueInvalid,
                child_field(path, &format!("metadata.{key}")),
                Some(&go_quote(name)),
                &problem,
            ));
        }
    }
}

fn check_lists<'a>(node: &'a Node, value: &'a Value, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if let Some(prop) = node.property(key) {
                    path.push(Seg::Field(key));
                    check_lists(prop, child, path, out);
                    path.pop();
                } else if let Some(schema) = node.additional_schema() {
                    path.push(Seg::Key(key));
                    check_lists(schema, child, path, out);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            match node.list_type {
                ListType::Atomic => {}
                ListType::Set => set_duplicates(items, path, out),
                ListType::Map => map_duplicates(node, items, path, out),
            }
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    check_lists(schema, item, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

fn indexed_field(path: &[Seg<'_>], i: usize) -> String {
    let mut s = field_path(path);
    let _ = write!(s, "[{i}]");
    s
}

/// Each duplicated element is reported once, at its second occurrence.
fn set_duplicates(items: &[Value], path: &[Seg<'_>], out: &mut Vec<FieldError>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let count = seen.entry(go_json(item)).or_insert(0);
        *count += 1;
        if *count == 2 {
            out.push(field_error(CauseReason::FieldValueDuplicate, indexed_field(path, i), Some(&go_value(item)), ""));
        }
    }
}

fn map_duplicates(list: &Node, items: &[Value], path: &[Seg<'_>], out: &mut Vec<FieldError>) {
    if let Some((i, item)) = items.iter().enumerate().find(|(_, item)| !item.is_null() && !item.is_object()) {
        out.push(field_error(
            CauseReason::FieldValueInvalid,
            indexed_field(path, i),
            Some(&go_value(item)),
            "must be an object for an array of list-type map",
        ));
        return;
    }
    let mut seen: HashMap<Vec<String>, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let (Some(key), Value::Object(map)) = (list_map_key(list, item), item) else {
            continue;
        };
        let count = seen.entry(key).or_insert(0);
        *count += 1;
        if *count == 2 {
            let shown: Map<String, Value> =
                list.list_map_keys.iter().map(|k| (k.clone(), map.get(k.as_str()).cloned().unwrap_or(Value::Null))).collect();
            out.push(field_error(CauseReason::FieldValueDuplicate, indexed_field(path, i), Some(&go_sharp(&Value::Object(shown))), ""));
        }
    }
}

/// Transition rules where both the new and the correlated old value exist.
fn check_rules<'a>(node: &'a Node, new: &'a Value, old: &'a Value, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>, root: bool) {
    if new == old {
        return;
    }
    for rule in node.rules.iter().filter(|r| r.kind == RuleKind::Immutable) {
        let equal = if root { cel_equal(Some(node), &cel_root_view(new), &cel_root_view(old)) } else { cel_equal(Some(node), new, old) };
        if !equal {
            out.push(rule_error(node, rule, path));
        }
    }
    match (new, old) {
        (Value::Object(n), Value::Object(o)) => {
            for (key, child) in n {
                if root && key == "metadata" {
                    continue;
                }
                let Some(prev) = o.get(key) else {
                    continue;
                };
                if let Some(prop) = node.property(key) {
                    path.push(Seg::Field(key));
                    check_rules(prop, child, prev, path, out, false);
                    path.pop();
                } else if let Some(schema) = node.additional_schema() {
                    path.push(Seg::Key(key));
                    check_rules(schema, child, prev, path, out, false);
                    path.pop();
                }
            }
        }
        (Value::Array(n), Value::Array(o)) if node.list_type == ListType::Map => {
            if let Some(schema) = node.items.as_deref() {
                for (i, item) in n.iter().enumerate() {
                    if let Some(prev) = correlate_item(node, item, o) {
                        path.push(Seg::Index(i));
                        check_rules(schema, item, prev, path, out, false);
                        path.pop();
                    }
                }
            }
        }
        _ => {}
    }
}

/// What CEL sees of the resource root: `metadata` only has `name` and
/// `generateName`.
fn cel_root_view(value: &Value) -> Value {
    let mut view = value.clone();
    if let Some(Value::Object(meta)) = view.get_mut("metadata") {
        meta.retain(|k, _| k == "name" || k == "generateName");
    }
    view
}

fn rule_error(node: &Node, rule: &Rule, path: &[Seg<'_>]) -> FieldError {
    let mut field = field_path(path);
    if let Some(extra) = rule.field_path.as_deref() {
        append_rule_field_path(&mut field, extra);
    }
    let field = nil_if_empty(field);
    let type_label = go_quote(node.ty.map_or("", JsonType::name));
    let message = rule.message_or_default();
    match rule.reason.as_deref() {
        Some("FieldValueForbidden") => field_error(CauseReason::FieldValueForbidden, field, None, &message),
        Some("FieldValueRequired") => field_error(CauseReason::FieldValueRequired, field, None, &message),
        Some("FieldValueDuplicate") => field_error(CauseReason::FieldValueDuplicate, field, Some(&type_label), ""),
        _ => field_error(CauseReason::FieldValueInvalid, field, Some(&type_label), &message),
    }
}

/// Appends a rule's `fieldPath` (`.a.b`, `['a.b']`) as child fields.
fn append_rule_field_path(field: &mut String, extra: &str) {
    let mut rest = extra.trim();
    while !rest.is_empty() {
        let (name, tail) = if let Some(after) = rest.strip_prefix("['") {
            match after.split_once("']") {
                Some(split) => split,
                None => (after, ""),
            }
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            after.split_at(end)
        } else {
            (rest, "")
        };
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(name);
        rest = tail;
    }
}

/// CEL equality over schema-typed values: numbers compare by value, lists
/// of type `set` and `map` ignore order.
fn cel_equal(node: Option<&Node>, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| cel_equal(node.and_then(|n| n.child(k)), v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return false;
            }
            let items = node.and_then(|n| n.items.as_deref());
            let contains = |list: &[Value], v: &Value| list.iter().any(|w| cel_equal(items, v, w));
            match node.map(|n| n.list_type) {
                Some(ListType::Set) => x.iter().all(|v| contains(y, v)) && y.iter().all(|w| contains(x, w)),
                Some(ListType::Map) => x.iter().all(|v| node.and_then(|n| correlate_item(n, v, y)).is_some_and(|w| cel_equal(items, v, w))),
                _ => x.iter().zip(y).all(|(v, w)| cel_equal(items, v, w)),
            }
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------
// Formats (loose versions of go-openapi/strfmt's checks)
// ---------------------------------------------------------------------------

fn format_valid(format: &str, s: &str) -> bool {
    match format.replace('-', "").as_str() {
        "datetime" => is_date_time(s),
        "date" => is_date(s),
        "byte" => is_base64(s),
        "uuid" => is_uuid(s, None),
        "uuid3" => is_uuid(s, Some(b'3')),
        "uuid4" => is_uuid(s, Some(b'4')),
        "uuid5" => is_uuid(s, Some(b'5')),
        "ipv4" => s.parse::<IpAddr>().is_ok() && s.contains('.'),
        "ipv6" => s.parse::<IpAddr>().is_ok() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "hostname" => is_hostname(s),
        "email" => is_email(s),
        "uri" => is_uri(s),
        "duration" => is_duration(s),
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "hexcolor" => {
            let hex = s.strip_prefix('#').unwrap_or(s);
            (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        "ssn" => is_ssn(s),
        _ => true,
    }
}

fn digits_value(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits_value(&s[..4]), digits_value(&s[5..7]), digits_value(&s[8..])) else {
        return false;
    };
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// strfmt's `IsDateTime`: a date, `T`, `hh:mm:ss`, optional fraction, `Z` or
/// a `±hh:mm` offset (case-insensitive).
fn is_date_time(value: &str) -> bool {
    if value.len() < 4 {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let clock = time.as_bytes();
    if clock.len() < 9 || clock[2] != b':' || clock[5] != b':' {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) = (digits_value(&time[..2]), digits_value(&time[3..5]), digits_value(&time[6..8])) else {
        return false;
    };
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &time[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    if rest == "z" {
        return true;
    }
    let zone = rest.as_bytes();
    zone.len() == 6
        && (zone[0] == b'+' || zone[0] == b'-')
        && zone[3] == b':'
        && digits_value(&rest[1..3]).is_some()
        && digits_value(&rest[4..]).is_some()
}

/// `base64.StdEncoding.DecodeString` succeeds (CR and LF are ignored).
fn is_base64(s: &str) -> bool {
    let data: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    if !data.len().is_multiple_of(4) {
        return false;
    }
    let padding = data.iter().rev().take_while(|b| **b == b'=').count();
    if padding > 2 {
        return false;
    }
    data[..data.len() - padding].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// `8-4-4-4-12` hex digits, each dash optional; `version` also checks the
/// version digit and (for 4 and 5) the variant.
fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let mut rest = s.as_bytes();
    let mut groups: Vec<&[u8]> = Vec::new();
    for (i, len) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if rest.len() < len || !rest[..len].iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        groups.push(&rest[..len]);
        rest = &rest[len..];
        if i < 4
            && let Some(after) = rest.strip_prefix(b"-")
        {
            rest = after;
        }
    }
    if !rest.is_empty() {
        return false;
    }
    match version {
        None => true,
        Some(v) => groups[2][0] == v && (v == b'3' || matches!(groups[3][0].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')),
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    digits_value(prefix).is_some_and(|p| p <= max)
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `xx:` / `xx-` pairs or `xxxx.` groups.
fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex_groups = |sep: char, width: usize, counts: &[usize]| {
        let groups: Vec<&str> = s.split(sep).collect();
        counts.contains(&groups.len()) && groups.iter().all(|g| g.len() == width && g.bytes().all(|c| c.is_ascii_hexdigit()))
    };
    match (b[2], b[4]) {
        (b':', _) => hex_groups(':', 2, &[6, 8, 20]),
        (b'-', _) => hex_groups('-', 2, &[6, 8, 20]),
        (_, b'.') => hex_groups('.', 4, &[3, 4, 10]),
        _ => false,
    }
}

fn lazy_regex(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn is_hostname(s: &str) -> bool {
    static HOSTNAME: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = lazy_regex(
        &HOSTNAME,
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([-a-zA-Z0-9\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    ) else {
        return true;
    };
    re.is_match(s) && s.len() <= 255 && s.split('.').all(|label| label.len() <= 63)
}

fn is_email(s: &str) -> bool {
    let s = s.trim();
    let address = match (s.find('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => s,
    };
    match address.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !address.chars().any(char::is_whitespace),
        None => false,
    }
}

/// `url.ParseRequestURI`: an absolute URI or an absolute path.
fn is_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if s == "*" || s.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// strfmt's `IsDuration`: Go's `time.ParseDuration`, or any `<n> <unit>` part
/// with a unit it knows.
fn is_duration(s: &str) -> bool {
    static PART: OnceLock<Option<Regex>> = OnceLock::new();
    const UNITS: [&str; 40] = [
        "ns",
        "nano",
        "nanos",
        "nanosecond",
        "nanoseconds",
        "us",
        "µs",
        "micro",
        "micros",
        "microsecond",
        "microseconds",
        "ms",
        "milli",
        "millis",
        "millisecond",
        "milliseconds",
        "s",
        "sec",
        "secs",
        "second",
        "seconds",
        "m",
        "min",
        "mins",
        "minute",
        "minutes",
        "h",
        "hr",
        "hrs",
        "hour",
        "hours",
        "d",
        "day",
        "days",
        "w",
        "wk",
        "wks",
        "week",
        "weeks",
        "µ",
    ];
    if is_go_duration(s) {
        return true;
    }
    let Some(re) = lazy_regex(&PART, r"(\d+)\s*([A-Za-zµ]+)") else {
        return true;
    };
    re.captures_iter(s).any(|c| c.get(2).is_some_and(|unit| UNITS.contains(&unit.as_str().to_lowercase().as_str())))
}

fn is_go_duration(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body == "0" {
        return true;
    }
    if body.is_empty() {
        return false;
    }
    let mut rest = body;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut number_len = int_len;
        let mut frac_len = 0;
        if rest[int_len..].starts_with('.') {
            frac_len = rest[int_len + 1..].bytes().take_while(u8::is_ascii_digit).count();
            number_len = int_len + 1 + frac_len;
        }
        if int_len == 0 && frac_len == 0 {
            return false;
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        if !matches!(&rest[..unit_len], "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
        rest = &rest[unit_len..];
    }
    true
}

fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: &[u8]| range.iter().all(u8::is_ascii_digit);
    match b.len() {
        9 => digits(b),
        11 => digits(&b[..3]) && matches!(b[3], b'-' | b' ') && digits(&b[4..6]) && matches!(b[6], b'-' | b' ') && digits(&b[7..]),
        10 => {
            (matches!(b[3], b'-' | b' ') && digits(&b[..3]) && digits(&b[4..]))
                || (matches!(b[5], b'-' | b' ') && digits(&b[..5]) && digits(&b[6..]))
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Go-style rendering of values (what `fmt` and `encoding/json` print)
// ---------------------------------------------------------------------------

/// `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control()
                || (c.is_whitespace() && c != ' ')
                || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}') =>
            {
                if u32::from(c) <= 0xffff {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                } else {
                    let _ = write!(out, "\\U{:08x}", u32::from(c));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The shortest round-trip digits of `|f|` and its decimal exponent
/// (`d.ddd × 10^exp`).
fn shortest_digits(f: f64) -> (String, i32) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

fn fixed_notation(digits: &str, exp: i32) -> String {
    let point = exp + 1;
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if point <= 0 {
        let zeros = usize::try_from(-point).unwrap_or(0);
        format!("0.{}{digits}", "0".repeat(zeros))
    } else if point >= len {
        let zeros = usize::try_from(point - len).unwrap_or(0);
        format!("{digits}{}", "0".repeat(zeros))
    } else {
        let at = usize::try_from(point).unwrap_or(0);
        format!("{}.{}", &digits[..at], &digits[at..])
    }
}

fn special_float(f: f64) -> Option<String> {
    match f.classify() {
        FpCategory::Nan => Some("NaN".to_owned()),
        FpCategory::Infinite => Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()),
        FpCategory::Zero => Some(if f.is_sign_negative() { "-0" } else { "0" }.to_owned()),
        FpCategory::Normal | FpCategory::Subnormal => None,
    }
}

/// `fmt`'s `%v` of a `float64` (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float(f: f64) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let (digits, exp) = shortest_digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..6).contains(&exp) {
        return format!("{sign}{}", fixed_notation(&digits, exp));
    }
    let mantissa = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
}

/// `encoding/json`'s rendering of a `float64`.
fn go_json_float(f: f64) -> String {
    if let Some(s) = special_float(f) {
        return if s == "-0" { s } else { s.replace('+', "") };
    }
    let (digits, exp) = shortest_digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    if (-6..21).contains(&exp) {
        return format!("{sign}{}", fixed_notation(&digits, exp));
    }
    let mantissa = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{}", exp.abs())
}

/// `%v` of a decoded JSON number: `int64` when it fits, else `float64`.
fn go_number(n: &Number) -> String {
    match num(n) {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => go_float(f),
    }
}

/// `json.Marshal` of a decoded JSON value (sorted keys, Go's escaping).
fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(value, &mut out);
    out
}

fn write_go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => out.push_str(&i.to_string()),
            Num::Float(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => write_go_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(key, out);
                out.push(':');
                if let Some(v) = map.get(key.as_str()) {
                    write_go_json(v, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `%#v` of a decoded JSON value, as it appears inside composite bad values.
fn go_sharp(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_sharp).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries.into_iter().map(|(k, v)| format!("{}:{}", go_quote(k), go_sharp(v))).collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// How `field.Error` renders a bad value (v1.32): scalars with `%v` (strings
/// quoted, `nil` as `"null"`), composites with `%#v`.
fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "\"null\"".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(_) | Value::Object(_) => go_sharp(value),
    }
}

/// The Go type name of a decoded JSON value (`%T`).
fn go_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) => match num(n) {
            Num::Int(_) => "int64",
            Num::Float(_) => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(v: &Value) -> Schema {
        match Schema::new(v) {
            Ok(s) => s,
            Err(e) => panic!("schema rejected: {e}"),
        }
    }

    fn messages(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(|e| e.message.clone()).collect()
    }

    fn rollout_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "default": {},
                    "required": ["image"],
                    "properties": {
                        "replicas": {"type": "integer", "default": 1, "minimum": 0, "maximum": 10},
                        "image": {"type": "string", "minLength": 1},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "port": {"type": "integer", "default": 80},
                                    "protocol": {"type": "string", "default": "TCP"}
                                }
                            }
                        },
                        "labels": {
                            "type": "object",
                            "additionalProperties": {"type": "string", "maxLength": 5}
                        }
                    }
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        })
    }

    #[test]
    fn new_rejects_root_without_type() {
        let err = Schema::new(&json!({"properties": {}})).err();
        assert_eq!(err.map(|e| e.to_string()), Some("openAPIV3Schema.type: Required value: must not be empty at the root".to_owned()));
        assert!(Schema::new(&json!({"type": "string"})).is_err());
        assert!(Schema::new(&json!([])).is_err());
    }

    #[test]
    fn new_accepts_preserving_root_without_type() {
        let s = schema(&json!({"x-kubernetes-preserve-unknown-fields": true}));
        let mut obj = json!({"apiVersion": "v1", "kind": "K", "anything": {"goes": 1}});
        let before = obj.clone();
        s.default_and_prune(&mut obj);
        assert_eq!(obj, before);
        assert!(s.validate(&obj, None).is_empty());
    }

    #[test]
    fn new_rejects_non_structural_nodes() {
        let missing_type = json!({"type": "object", "properties": {"spec": {"properties": {}}}});
        let err = Schema::new(&missing_type).err().map(|e| e.path);
        assert_eq!(err.as_deref(), Some("openAPIV3Schema.properties[spec].type"));
        let no_items = json!({"type": "object", "properties": {"xs": {"type": "array"}}});
        assert!(Schema::new(&no_items).is_err());
        let bad_pattern = json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "+"}}});
        assert!(Schema::new(&bad_pattern).is_err());
        let bad_list = json!({"type": "object", "properties": {"xs": {
            "type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}}});
        assert!(Schema::new(&bad_list).is_err());
        let reference = json!({"type": "object", "properties": {"x": {"$ref": "#/a"}}});
        assert!(Schema::new(&reference).is_err());
        let both = json!({"type": "object", "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "string"}});
        assert!(Schema::new(&both).is_err());
        let int_or_string = json!({"type": "object", "properties": {
            "x": {"x-kubernetes-int-or-string": true}}});
        assert!(Schema::new(&int_or_string).is_ok());
    }

    #[test]
    fn defaults_fill_absent_fields_and_defaulted_objects() {
        let s = schema(&rollout_schema());
        let mut obj = json!({"apiVersion": "x/v1", "kind": "Rollout", "metadata": {"name": "a"}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["spec"], json!({"replicas": 1}));
        let mut obj = json!({"spec": {"replicas": 3, "image": "x"}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["spec"]["replicas"], json!(3));
    }

    #[test]
    fn defaults_apply_inside_array_items() {
        let s = schema(&rollout_schema());
        let mut obj = json!({"spec": {"image": "x", "ports": [
            {"name": "http"}, {"name": "grpc", "port": 9000, "protocol": "UDP"}]}});
        s.default_and_prune(&mut obj);
        assert_eq!(
            obj["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "grpc", "port": 9000, "protocol": "UDP"}
            ])
        );
    }

    #[test]
    fn defaults_apply_inside_additional_properties_and_replace_nulls() {
        let s = schema(&json!({"type": "object", "properties": {"m": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {
                "x": {"type": "string", "default": "dx"},
                "n": {"type": "string", "nullable": true, "default": "dn"}
            }}
        }}}));
        let mut obj = json!({"m": {"one": {}, "two": {"x": null, "n": null}}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["m"], json!({"one": {"x": "dx", "n": "dn"}, "two": {"x": "dx", "n": null}}));
    }

    #[test]
    fn defaults_never_enter_metadata() {
        let s = schema(&json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}},
            "spec": {"type": "object", "properties": {"tpl": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {"metadata": {"type": "object", "default": {"labels": {"a": "b"}}}}
            }}}
        }}));
        let mut obj = json!({"metadata": {}, "spec": {"tpl": {"apiVersion": "v1", "kind": "Pod"}}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj["metadata"], json!({}));
        assert_eq!(obj["spec"]["tpl"].get("metadata"), None);
    }

    #[test]
    fn prune_reports_unknown_fields_and_keeps_type_meta() {
        let s = schema(&rollout_schema());
        let mut obj = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "whatever": 1},
            "spec": {"image": "x", "bogus": true, "ports": [{"name": "a", "extra": 1}]},
            "top": 1
        });
        let unknown = s.default_and_prune_report(&mut obj);
        assert_eq!(unknown, vec!["spec.bogus", "spec.ports[0].extra", "top"]);
        assert_eq!(obj["metadata"], json!({"name": "demo", "whatever": 1}));
        assert_eq!(obj["apiVersion"], json!("argoproj.io/v1alpha1"));
        assert_eq!(obj["spec"]["ports"][0], json!({"name": "a", "port": 80, "protocol": "TCP"}));
    }

    #[test]
    fn preserve_unknown_fields_at_depth_still_prunes_known_children() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"free": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"strict": {"type": "object", "properties": {"a": {"type": "string"}}}}
            }}
        }}}));
        let mut obj = json!({"spec": {"free": {"x": {"deep": [1, {"y": 2}]},
            "strict": {"a": "ok", "b": "gone"}}, "nope": 1}});
        let unknown = s.default_and_prune_report(&mut obj);
        assert_eq!(unknown, vec!["spec.free.strict.b", "spec.nope"]);
        assert_eq!(obj, json!({"spec": {"free": {"x": {"deep": [1, {"y": 2}]}, "strict": {"a": "ok"}}}}));
    }

    #[test]
    fn preserve_unknown_fields_on_array_keeps_item_members() {
        let s = schema(&json!({"type": "object", "properties": {"xs": {
            "type": "array",
            "x-kubernetes-preserve-unknown-fields": true,
            "items": {"type": "object", "properties": {"a": {"type": "string"}}}
        }}}));
        let mut obj = json!({"xs": [{"a": "1", "b": 2}]});
        assert!(s.default_and_prune_report(&mut obj).is_empty());
        assert_eq!(obj, json!({"xs": [{"a": "1", "b": 2}]}));
    }

    #[test]
    fn embedded_resource_keeps_type_meta_and_coerces_metadata() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "properties": {"template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}
            }}
        }}}));
        let mut obj = json!({"spec": {"template": {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {}, "creationTimestamp": null, "junk": 1},
            "spec": {"n": 1, "other": 2}, "status": {}
        }}});
        let unknown = s.default_and_prune_report(&mut obj);
        assert_eq!(unknown, vec!["spec.template.metadata.junk", "spec.template.spec.other", "spec.template.status"]);
        assert_eq!(obj["spec"]["template"], json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"n": 1}}));
        assert!(s.validate(&obj, None).is_empty());
        let missing = json!({"spec": {"template": {"spec": {}}}});
        assert_eq!(
            messages(&s.validate(&missing, None)),
            vec!["spec.template.apiVersion: Required value", "spec.template.kind: Required value"]
        );
        let bad_kind = json!({"spec": {"template": {"apiVersion": "a/b/c", "kind": "Not_Ok"}}});
        let errors = messages(&s.validate(&bad_kind, None));
        assert_eq!(errors[0], "spec.template.apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c");
        assert!(errors[1].starts_with(
            "spec.template.kind: Invalid value: \"Not_Ok\": may have mixed case, but should otherwise match: a DNS-1035 label"
        ));
    }

    #[test]
    fn non_nullable_nulls_without_default_are_dropped_then_required() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "string", "nullable": true},
                "c": {"type": "array", "items": {"type": "string"}}
            }
        }}}));
        let mut obj = json!({"spec": {"a": null, "b": null, "c": ["x", null]}});
        s.default_and_prune(&mut obj);
        assert_eq!(obj, json!({"spec": {"b": null, "c": ["x", null]}}));
        assert_eq!(
            messages(&s.validate(&obj, None)),
            vec!["spec.c[1]: Invalid value: \"null\": spec.c[1] in body must be of type string: \"null\"", "spec.a: Required value"]
        );
    }

    #[test]
    fn type_errors_use_apiserver_text() {
        let s = schema(&rollout_schema());
        let errors = s.validate(&json!({"spec": {"replicas": "string", "image": "x"}}), None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, CauseReason::FieldValueTypeInvalid);
        assert_eq!(errors[0].field, "spec.replicas");
        assert_eq!(
            errors[0].message,
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        );
        assert_eq!(errors[0].body(), "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"");
        for (value, label) in [(json!(true), "boolean"), (json!([]), "array"), (json!({}), "object"), (json!(1.5), "number")] {
            let errors = s.validate(&json!({"spec": {"image": value}}), None);
            assert_eq!(
                errors[0].message,
                format!("spec.image: Invalid value: \"{label}\": spec.image in body must be of type string: \"{label}\"")
            );
        }
    }

    #[test]
    fn integers_accept_whole_numbers_only() {
        let s = schema(&rollout_schema());
        assert!(s.validate(&json!({"spec": {"replicas": 3.0, "image": "x"}}), None).is_empty());
        let errors = s.validate(&json!({"spec": {"replicas": 2.5, "image": "x"}}), None);
        assert_eq!(
            errors[0].message,
            "spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\""
        );
        let number = schema(&json!({"type": "object", "properties": {"n": {"type": "number"}}}));
        assert!(number.validate(&json!({"n": 7}), None).is_empty());
    }

    #[test]
    fn int_or_string_and_nullable() {
        let s = schema(&json!({"type": "object", "properties": {
            "field": {"x-kubernetes-int-or-string": true},
            "nf": {"x-kubernetes-int-or-string": true, "nullable": true},
            "obj": {"type": "object", "nullable": true},
            "free": {"nullable": true, "x-kubernetes-preserve-unknown-fields": true}
        }}));
        assert!(s.validate(&json!({"field": 42, "nf": null, "obj": null, "free": [1]}), None).is_empty());
        assert!(s.validate(&json!({"field": "25%"}), None).is_empty());
        assert_eq!(
            messages(&s.validate(&json!({"field": true, "obj": "x"}), None)),
            vec![
                "field: Invalid value: \"boolean\": field in body must be of type integer,string: \"boolean\"",
                "obj: Invalid value: \"string\": obj in body must be of type object: \"string\""
            ]
        );
        assert_eq!(
            messages(&s.validate(&json!({"field": null}), None)),
            vec!["field: Invalid value: \"null\": field in body must be of type integer,string: \"null\""]
        );
    }

    #[test]
    fn required_and_enum_messages() {
        let s = schema(&json!({"type": "object", "properties": {"field": {
            "type": "object",
            "required": ["nestedint", "nestedstring"],
            "properties": {
                "nestedint": {"type": "integer", "enum": [1, 2]},
                "nestedstring": {"type": "string", "enum": ["a", "b"]}
            }
        }}}));
        assert_eq!(
            messages(&s.validate(&json!({"field": {}}), None)),
            vec!["field.nestedint: Required value", "field.nestedstring: Required value"]
        );
        let errors = s.validate(&json!({"field": {"nestedint": "x", "nestedstring": true}}), None);
        assert_eq!(
            messages(&errors),
            vec![
                "field.nestedint: Invalid value: \"string\": field.nestedint in body must be of type integer: \"string\"",
                "field.nestedint: Unsupported value: \"x\": supported values: \"1\", \"2\"",
                "field.nestedstring: Invalid value: \"boolean\": field.nestedstring in body must be of type string: \"boolean\"",
                "field.nestedstring: Unsupported value: true: supported values: \"a\", \"b\""
            ]
        );
        assert_eq!(errors[1].reason, CauseReason::FieldValueNotSupported);
        assert!(s.validate(&json!({"field": {"nestedint": 2.0, "nestedstring": "b"}}), None).is_empty());
    }

    #[test]
    fn numeric_bounds_and_multiple_of() {
        let s = schema(&json!({"type": "object", "properties": {
            "i": {"type": "integer", "minimum": 1, "maximum": 10, "exclusiveMaximum": true, "multipleOf": 3},
            "f": {"type": "number", "minimum": 0.5, "maximum": 1_000_000}
        }}));
        assert_eq!(
            messages(&s.validate(&json!({"i": 10}), None)),
            vec!["i: Invalid value: 10: i in body should be a multiple of 3", "i: Invalid value: 10: i in body should be less than 10"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"i": 0}), None)),
            vec!["i: Invalid value: 0: i in body should be greater than or equal to 1"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"f": 0.25}), None)),
            vec!["f: Invalid value: 0.25: f in body should be greater than or equal to 0.5"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"f": 2_500_000.5}), None)),
            vec!["f: Invalid value: 2.5000005e+06: f in body should be less than or equal to 1e+06"]
        );
        assert!(s.validate(&json!({"i": 9, "f": 3}), None).is_empty());
    }

    #[test]
    fn string_length_and_pattern() {
        let s = schema(&json!({"type": "object", "properties": {
            "fieldX": {"type": "string", "maxLength": 2},
            "one": {"type": "string", "maxLength": 1},
            "name": {"type": "string", "minLength": 3, "pattern": "^[a-z]+$"}
        }}));
        let errors = s.validate(&json!({"fieldX": "abc", "one": "ab"}), None);
        assert_eq!(messages(&errors), vec!["fieldX: Too long: may not be more than 2 bytes", "one: Too long: may not be more than 1 byte"]);
        assert_eq!(errors[0].reason, CauseReason::FieldValueTooLong);
        assert!(s.validate(&json!({"fieldX": "éé"}), None).is_empty());
        assert_eq!(
            messages(&s.validate(&json!({"name": "ab"}), None)),
            vec!["name: Invalid value: \"ab\": name in body should be at least 3 chars long"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"name": "ABCD"}), None)),
            vec!["name: Invalid value: \"ABCD\": name in body should match '^[a-z]+$'"]
        );
    }

    #[test]
    fn formats_are_type_errors() {
        let s = schema(&json!({"type": "object", "properties": {
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "blob": {"type": "string", "format": "byte"},
            "id": {"type": "string", "format": "uuid"},
            "url": {"type": "string", "format": "uri"},
            "n": {"type": "integer", "format": "int32"}
        }}));
        assert!(
            s.validate(
                &json!({"when": "2024-02-29T10:00:00.5Z", "day": "2024-02-29", "blob": "aGk=",
                    "id": "123e4567-e89b-12d3-a456-426614174000", "url": "https://x/y",
                    "n": 5_000_000_000_i64}),
                None
            )
            .is_empty()
        );
        let errors = s.validate(&json!({"when": "yesterday", "day": "2023-02-29", "blob": "a", "id": "nope", "url": "123"}), None);
        assert_eq!(
            messages(&errors),
            vec![
                "when: Invalid value: \"yesterday\": when in body must be of type date-time: \"yesterday\"",
                "day: Invalid value: \"2023-02-29\": day in body must be of type date: \"2023-02-29\"",
                "blob: Invalid value: \"a\": blob in body must be of type byte: \"a\"",
                "id: Invalid value: \"nope\": id in body must be of type uuid: \"nope\"",
                "url: Invalid value: \"123\": url in body must be of type uri: \"123\""
            ]
        );
        assert!(errors.iter().all(|e| e.reason == CauseReason::FieldValueTypeInvalid));
    }

    #[test]
    fn numeric_format_ranges_are_opt_in() {
        let raw = json!({"type": "object", "properties": {"n": {"type": "integer", "format": "int32"}}});
        let strict = schema(&raw).with_numeric_format_ranges(true);
        assert_eq!(
            messages(&strict.validate(&json!({"n": 2_147_483_648_i64}), None)),
            vec!["n: Invalid value: 2147483648: n in body should be less than or equal to 2147483647"]
        );
        assert!(strict.validate(&json!({"n": -2_147_483_648_i64}), None).is_empty());
    }

    #[test]
    fn array_keywords() {
        let s = schema(&json!({"type": "object", "properties": {
            "xs": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true,
                "items": {"type": "string"}},
            "ys": {"type": "array", "maxItems": 1, "items": {"type": "string"}}
        }}));
        assert_eq!(messages(&s.validate(&json!({"xs": []}), None)), vec!["xs: Invalid value: 0: xs in body should have at least 1 items"]);
        let errors = s.validate(&json!({"xs": ["a", "b", "a"], "ys": ["a", "b"]}), None);
        assert_eq!(
            messages(&errors),
            vec![
                "xs: Too many: 3: must have at most 2 items",
                "xs: Invalid value: \"\": xs in body shouldn't contain duplicates",
                "ys: Too many: 2: must have at most 1 item"
            ]
        );
        assert_eq!(errors[0].reason, CauseReason::FieldValueTooMany);
    }

    #[test]
    fn object_keywords_and_additional_properties() {
        let s = schema(&json!({"type": "object", "properties": {
            "fieldX": {"type": "object", "maxProperties": 2, "minProperties": 1,
                "additionalProperties": {"type": "boolean"}},
            "closed": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "additionalProperties": false}
        }}));
        assert_eq!(
            messages(&s.validate(&json!({"fieldX": {"a": true, "b": true, "c": "x"}}), None)),
            vec!["fieldX: Too many: 3: must have at most 2 items"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"fieldX": {}}), None)),
            vec!["fieldX: Invalid value: 0: fieldX in body should have at least 1 properties"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"fieldX": {"a": "no"}}), None)),
            vec!["fieldX.a: Invalid value: \"string\": fieldX.a in body must be of type boolean: \"string\""]
        );
        assert_eq!(
            messages(&s.validate(&json!({"closed": {"k": 1}}), None)),
            vec!["closed: Invalid value: \"k\": closed.k in body is a forbidden property"]
        );
    }

    #[test]
    fn error_paths_carry_indices() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "containers": {"type": "array", "items": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "image": {"type": "string"}}}}
            }}}}
        }}}}));
        let obj = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"image": 5}]}}}});
        assert_eq!(
            messages(&s.validate(&obj, None)),
            vec![
                "spec.template.spec.containers[1].image: Invalid value: \"integer\": spec.template.spec.containers[1].image in body must be of type string: \"integer\"",
                "spec.template.spec.containers[1].name: Required value"
            ]
        );
    }

    #[test]
    fn list_map_duplicates() {
        let s = schema(&rollout_schema());
        let obj = json!({"spec": {"image": "x", "ports": [
            {"name": "http", "port": 80}, {"name": "grpc"}, {"name": "http", "port": 81}]}});
        let errors = s.validate(&obj, None);
        assert_eq!(messages(&errors), vec!["spec.ports[2]: Duplicate value: map[string]interface {}{\"name\":\"http\"}"]);
        assert_eq!(errors[0].reason, CauseReason::FieldValueDuplicate);
        let multi = schema(&json!({"type": "object", "properties": {"xs": {
            "type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["a", "b"],
            "items": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
        }}}));
        assert_eq!(
            messages(&multi.validate(&json!({"xs": [{"b": 1, "a": "x"}, {"a": "x", "b": 1}, {"a": "x", "b": 2}]}), None)),
            vec!["xs[1]: Duplicate value: map[string]interface {}{\"a\":\"x\", \"b\":1}"]
        );
        assert_eq!(
            messages(&multi.validate(&json!({"xs": ["s"]}), None))[1],
            "xs[0]: Invalid value: \"s\": must be an object for an array of list-type map"
        );
    }

    #[test]
    fn list_set_duplicates_and_map_key_paths() {
        let s = schema(&json!({"type": "object", "properties": {"m": {
            "type": "object",
            "additionalProperties": {"type": "array", "x-kubernetes-list-type": "set",
                "items": {"type": "string"}}
        }}}));
        assert_eq!(
            messages(&s.validate(&json!({"m": {"k": ["a", "b", "a", "a", "b"]}}), None)),
            vec!["m[k][2]: Duplicate value: \"a\"", "m[k][4]: Duplicate value: \"b\""]
        );
    }

    #[test]
    fn list_uniqueness_ratchets_when_old_was_invalid() {
        let s = schema(&rollout_schema());
        let old = json!({"spec": {"image": "x", "ports": [{"name": "a"}, {"name": "a"}]}});
        let new = json!({"spec": {"image": "y", "ports": [{"name": "a"}, {"name": "a"}]}});
        assert_eq!(s.validate(&new, None).len(), 1);
        assert!(s.validate(&new, Some(&old)).is_empty());
    }

    #[test]
    fn ratcheting_drops_errors_of_unchanged_values() {
        let s = schema(&rollout_schema());
        let old = json!({"spec": {"image": "x", "mode": "legacy", "labels": {"k": "toolong"}}});
        let new = json!({"spec": {"image": "y", "mode": "legacy", "labels": {"k": "toolong"}}});
        assert!(s.validate(&new, Some(&old)).is_empty());
        let changed = json!({"spec": {"image": "y", "mode": "other", "labels": {"k": "toolong2"}}});
        assert_eq!(
            messages(&s.validate(&changed, Some(&old))),
            vec![
                "spec.mode: Unsupported value: \"other\": supported values: \"a\", \"b\"",
                "spec.labels.k: Too long: may not be more than 5 bytes"
            ]
        );
    }

    #[test]
    fn transition_rule_self_equals_old_self() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "field": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]},
            "fixed": {"type": "string", "x-kubernetes-validations": [
                {"rule": "oldSelf==self", "message": " fixed is immutable ", "reason": "FieldValueForbidden"}]},
            "other": {"type": "string", "x-kubernetes-validations": [{"rule": "self.size() < 3"}]}
        }}}}));
        let old = json!({"spec": {"field": "x", "fixed": "a"}});
        assert!(s.validate(&json!({"spec": {"field": "y", "other": "long"}}), None).is_empty());
        assert!(s.validate(&old, Some(&old)).is_empty());
        assert!(s.validate(&json!({"spec": {}}), Some(&old)).is_empty());
        let errors = s.validate(&json!({"spec": {"field": "y", "fixed": "b"}}), Some(&old));
        assert_eq!(
            messages(&errors),
            vec!["spec.field: Invalid value: \"string\": failed rule: self == oldSelf", "spec.fixed: Forbidden: fixed is immutable"]
        );
        assert_eq!(errors[1].reason, CauseReason::FieldValueForbidden);
    }

    #[test]
    fn transition_rules_correlate_list_map_items() {
        let s = schema(&json!({"type": "object", "properties": {"field": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
            "items": {"type": "object", "properties": {
                "k": {"type": "string"},
                "v": {"type": "number", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "v is fixed"}]}
            }}
        }}}));
        let old = json!({"field": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]});
        let new = json!({"field": [{"k": "b", "v": 2.0}, {"k": "c", "v": 9}, {"k": "a", "v": 1.5}]});
        assert_eq!(messages(&s.validate(&new, Some(&old))), vec!["field[2].v: Invalid value: \"number\": v is fixed"]);
    }

    #[test]
    fn blocking_errors_skip_rules() {
        let s = schema(&json!({"type": "object", "required": ["spec"], "properties": {"spec": {
            "type": "object", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]
        }}}));
        let errors = s.validate(&json!({}), None);
        assert_eq!(
            messages(&errors),
            vec![
                "spec: Required value",
                "<nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
            ]
        );
        assert_eq!(errors[1].field, "<nil>");
        let plain = schema(&json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}}));
        assert_eq!(plain.validate(&json!({}), None).len(), 1);
    }

    #[test]
    fn junctors() {
        let s = schema(&json!({"type": "object", "properties": {
            "field": {"x-kubernetes-int-or-string": true, "nullable": true,
                "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "one": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "b$"}]},
            "all": {"type": "integer", "allOf": [{"minimum": 2}, {"maximum": 5}]},
            "not": {"type": "string", "not": {"enum": ["forbidden"]}}
        }}));
        assert_eq!(
            messages(&s.validate(&json!({"field": true}), None)),
            vec![
                "field: Invalid value: \"boolean\": field in body must be of type integer,string: \"boolean\"",
                "<nil>: Invalid value: \"\": \"field\" must validate at least one schema (anyOf)",
                "field: Invalid value: \"boolean\": field in body must be of type integer: \"boolean\""
            ]
        );
        assert_eq!(
            messages(&s.validate(&json!({"one": "ab"}), None)),
            vec!["<nil>: Invalid value: \"\": \"one\" must validate one and only one schema (oneOf). Found 2 valid alternatives"]
        );
        assert_eq!(
            messages(&s.validate(&json!({"all": 9}), None)),
            vec![
                "all: Invalid value: 9: all in body should be less than or equal to 5",
                "<nil>: Invalid value: \"\": \"all\" must validate all the schemas (allOf)"
            ]
        );
        assert_eq!(
            messages(&s.validate(&json!({"not": "forbidden"}), None)),
            vec!["<nil>: Invalid value: \"\": \"not\" must not validate the schema (not)"]
        );
        assert!(s.validate(&json!({"field": 3, "one": "ax", "all": 3, "not": "ok"}), None).is_empty());
    }

    #[test]
    fn invalid_message_formats() {
        let a = field_error(CauseReason::FieldValueRequired, "spec.a".into(), None, "");
        let b = field_error(CauseReason::FieldValueInvalid, "spec.b".into(), Some("1"), "bad");
        assert_eq!(
            invalid_message("Rollout", "argoproj.io", "demo", std::slice::from_ref(&a)),
            "Rollout.argoproj.io \"demo\" is invalid: spec.a: Required value"
        );
        assert_eq!(
            invalid_message("Rollout", "argoproj.io", "demo", &[a.clone(), b, a.clone()]),
            "Rollout.argoproj.io \"demo\" is invalid: [spec.a: Required value, spec.b: Invalid value: 1: bad]"
        );
        assert_eq!(invalid_message("Pod", "", "p", &[a.clone(), a]), "Pod \"p\" is invalid: spec.a: Required value");
        assert_eq!(invalid_message("Pod", "", "p", &[]), "Pod \"p\" is invalid");
    }

    #[test]
    fn list_kinds_for_server_side_apply() {
        let s = schema(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "items": {"type": "object", "properties": {
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
                }}},
            "args": {"type": "array", "items": {"type": "string"}},
            "byName": {"type": "object", "additionalProperties": {"type": "array",
                "x-kubernetes-list-type": "set", "items": {"type": "string"}}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                "additionalProperties": {"type": "string"}},
            "refs": {"type": "array", "items": {"type": "object", "x-kubernetes-map-type": "atomic",
                "properties": {"name": {"type": "string"}}}},
            "maps": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "xs": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}}
        }}}}));
        assert_eq!(s.list_kind(&["spec", "ports"]), ListKind::Map(vec!["containerPort".into(), "protocol".into()]));
        assert_eq!(s.list_kind(&["spec", "ports", "tags"]), ListKind::Set);
        assert_eq!(s.list_kind(&["spec", "args"]), ListKind::Atomic);
        assert_eq!(s.list_kind(&["spec", "byName"]), ListKind::Set);
        assert_eq!(s.list_kind(&["spec", "byName", "anyKey"]), ListKind::Set);
        assert_eq!(s.list_kind(&["spec", "maps", "xs"]), ListKind::Set);
        assert_eq!(s.list_kind(&["spec", "maps", "key", "xs"]), ListKind::Set);
        assert_eq!(s.list_kind(&["spec", "missing"]), ListKind::Atomic);
        assert_eq!(ListKeys::list_kind(&s, &["spec", "ports", "tags"]), ListKind::Set);
        assert!(ListKeys::map_is_atomic(&s, &["spec", "selector"]));
        assert!(s.map_is_atomic(&["spec", "refs"]));
        assert!(!s.map_is_atomic(&["spec", "ports"]));
        assert!(!s.map_is_atomic(&["nope"]));
    }

    #[test]
    fn go_rendering_helpers() {
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(123_456.0), "123456");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.000_01), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1_000_000.0), "1000000");
        assert_eq!(go_quote("a\"b\n\u{1}é"), "\"a\\\"b\\n\\x01é\"");
        assert_eq!(
            go_value(&json!({"b": [1, null], "a": "x"})),
            "map[string]interface {}{\"a\":\"x\", \"b\":[]interface {}{1, interface {}(nil)}}"
        );
        assert_eq!(go_json(&json!({"b": 1.5, "a": "<"})), "{\"a\":\"\\u003c\",\"b\":1.5}");
    }

    #[test]
    fn format_checkers() {
        assert!(is_date_time("2024-01-02T03:04:05Z"));
        assert!(is_date_time("2024-01-02t03:04:05.123+02:00"));
        assert!(!is_date_time("2024-01-02 03:04:05Z"));
        assert!(!is_date_time("2024-01-02T24:00:00Z"));
        assert!(is_base64("") && is_base64("aGVsbG8=") && !is_base64("aGVsbG8"));
        assert!(is_uuid("123E4567E89B12D3A456426614174000", None));
        assert!(is_uuid("123e4567-e89b-42d3-a456-426614174000", Some(b'4')));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-426614174000", Some(b'4')));
        assert!(format_valid("ipv4", "10.0.0.1") && !format_valid("ipv4", "::1"));
        assert!(format_valid("cidr", "10.0.0.0/8") && !format_valid("cidr", "10.0.0.0/33"));
        assert!(is_mac("00:00:5e:00:53:01") && is_mac("0000.5e00.5301") && !is_mac("00:00:5e"));
        assert!(is_hostname("example.com") && !is_hostname("-bad-.com"));
        assert!(is_duration("1h30m") && is_duration("3 days") && !is_duration("soon"));
        assert!(is_email("a@b.c") && !is_email("nope"));
        assert!(is_ssn("123-45-6789") && !is_ssn("12-345-6789"));
    }

    #[test]
    fn schema_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Schema>();
    }
}

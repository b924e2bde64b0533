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
//!
//! # Layout
//!
//! This file holds the errors and the compiled [`Schema`] with its public
//! API. `compile` parses an `openAPIV3Schema` into schema nodes, `default`
//! defaults and prunes, `validate` builds field paths and errors and runs the
//! `OpenAPI`, embedded-resource, list-type and transition-rule checks,
//! `format` holds the `format` checks and `render` the Go-style rendering of
//! values used in messages.

use std::fmt;

use serde_json::Value;

use super::patch::{ListKeys, ListKind};

use compile::{JsonType, Level, ListType, Node, Parser};
use default::{apply_defaults, prune, prune_nulls};
use render::go_quote;
use validate::{NIL_FIELD, check_embedded, check_lists, check_rules, field_error};

mod compile;
mod default;
mod format;
mod render;
mod validate;

#[cfg(test)]
mod tests;

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
    /// only, list indices omitted; map keys may be omitted, as the `patch`
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

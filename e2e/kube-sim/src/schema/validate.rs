//! Validation ([`Schema::validate`](super::Schema::validate)): field paths and error construction,
//! `OpenAPI` value validation, embedded resources, list-type uniqueness and transition rules.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use super::compile::{Additional, JsonType, ListType, Node, Rule, RuleKind};
use super::format::format_valid;
use super::render::{Num, go_float, go_json, go_number, go_quote, go_sharp, go_type_name, go_value, num};
use super::{CauseReason, FieldError, Schema};

// ---------------------------------------------------------------------------
// Paths and error construction
// ---------------------------------------------------------------------------

pub(super) const NIL_FIELD: &str = "<nil>";

#[derive(Debug, Clone, Copy)]
pub(super) enum Seg<'a> {
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
pub(super) fn field_error(reason: CauseReason, field: String, bad: Option<&str>, detail: &str) -> FieldError {
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
    pub(super) fn check<'a>(
        &self,
        node: &'a Node,
        value: &'a Value,
        old: Option<&'a Value>,
        path: &mut Vec<Seg<'a>>,
        out: &mut Vec<FieldError>,
    ) {
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

pub(super) fn check_embedded<'a>(node: &'a Node, value: &'a Value, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>) {
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

pub(super) fn check_lists<'a>(node: &'a Node, value: &'a Value, path: &mut Vec<Seg<'a>>, out: &mut Vec<FieldError>) {
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
pub(super) fn check_rules<'a>(
    node: &'a Node,
    new: &'a Value,
    old: &'a Value,
    path: &mut Vec<Seg<'a>>,
    out: &mut Vec<FieldError>,
    root: bool,
) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::tests::{messages, rollout_schema, schema};

    use super::*;

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
}

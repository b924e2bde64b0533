//! Schema nodes and their parsing: the compiled form of an `openAPIV3Schema` and the structural checks
//! [`Schema::new`](super::Schema::new) makes on it.

use regex::Regex;
use serde_json::{Map, Value};

use super::SchemaError;
use super::render::go_quote;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonType {
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

    pub(super) fn name(self) -> &'static str {
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
pub(super) enum ListType {
    #[default]
    Atomic,
    Set,
    Map,
}

#[derive(Debug, Clone, Default)]
pub(super) enum Additional {
    #[default]
    Absent,
    Allow(bool),
    Schema(Box<Node>),
}

#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) source: String,
    pub(super) regex: Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleKind {
    /// `self == oldSelf`: evaluated on update.
    Immutable,
    /// Anything else: accepted without evaluation.
    NotEvaluated,
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    expression: String,
    message: Option<String>,
    pub(super) reason: Option<String>,
    pub(super) field_path: Option<String>,
    pub(super) kind: RuleKind,
}

impl Rule {
    pub(super) fn message_or_default(&self) -> String {
        match self.message.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => format!("failed rule: {}", self.expression.trim()),
        }
    }
}

#[allow(clippy::struct_excessive_bools)] // one flag per schema keyword
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    pub(super) ty: Option<JsonType>,
    int_or_string: bool,
    pub(super) nullable: bool,
    pub(super) preserve_unknown: bool,
    pub(super) embedded: bool,
    /// A format the apiserver keeps (and so checks), as written.
    pub(super) format: Option<String>,
    /// The format as written, kept or not.
    pub(super) raw_format: Option<String>,
    pub(super) default: Option<Value>,
    pub(super) properties: Vec<(String, Node)>,
    pub(super) additional: Additional,
    pub(super) items: Option<Box<Node>>,
    pub(super) required: Vec<String>,
    pub(super) enumeration: Option<Vec<Value>>,
    pub(super) maximum: Option<f64>,
    pub(super) exclusive_maximum: bool,
    pub(super) minimum: Option<f64>,
    pub(super) exclusive_minimum: bool,
    pub(super) multiple_of: Option<f64>,
    pub(super) max_length: Option<u64>,
    pub(super) min_length: Option<u64>,
    pub(super) pattern: Option<Pattern>,
    pub(super) max_items: Option<u64>,
    pub(super) min_items: Option<u64>,
    pub(super) unique_items: bool,
    pub(super) max_properties: Option<u64>,
    pub(super) min_properties: Option<u64>,
    pub(super) list_type: ListType,
    pub(super) list_map_keys: Vec<String>,
    pub(super) map_atomic: bool,
    pub(super) all_of: Vec<Node>,
    pub(super) any_of: Vec<Node>,
    pub(super) one_of: Vec<Node>,
    pub(super) not: Option<Box<Node>>,
    pub(super) rules: Vec<Rule>,
}

impl Node {
    pub(super) fn property(&self, name: &str) -> Option<&Node> {
        self.properties.iter().find(|(n, _)| n == name).map(|(_, node)| node)
    }

    pub(super) fn additional_schema(&self) -> Option<&Node> {
        match &self.additional {
            Additional::Schema(node) => Some(node),
            _ => None,
        }
    }

    /// The schema of an object member: its property, else the
    /// `additionalProperties` schema.
    pub(super) fn child(&self, name: &str) -> Option<&Node> {
        self.property(name).or_else(|| self.additional_schema())
    }

    /// The types kube-openapi validates against (int-or-string counts as
    /// `integer,string`).
    pub(super) fn type_names(&self) -> &'static [&'static str] {
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
pub(super) enum Level {
    Root,
    Field,
    Items,
    Junctor,
}

pub(super) struct Parser {
    pub(super) has_rules: bool,
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
    pub(super) fn parse_node(&mut self, value: &Value, path: &str, level: Level) -> Result<Node, SchemaError> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::Schema;
    use crate::schema::tests::schema;

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
}

//! Label and field selectors: the query-string syntax of `labelSelector` / `fieldSelector` and the structured
//! `metav1.LabelSelector` used by `ReplicaSets`, Jobs and Services. Pure: no I/O.

use serde_json::{Map, Value};

/// A parse failure, reported to clients as a 400 `BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v` / `k==v`
    Equals(String, String),
    /// `k!=v`
    NotEquals(String, String),
    /// `k in (a,b)`
    In(String, Vec<String>),
    /// `k notin (a,b)`
    NotIn(String, Vec<String>),
    /// `k`
    Exists(String),
    /// `!k`
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        }
    }
}

/// A parsed label selector (all requirements must hold). Empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(Self(reqs))
    }

    /// Builds a selector from a structured `metav1.LabelSelector` JSON object. `None` (absent selector) selects
    /// nothing, as the apiserver treats a nil selector on workloads.
    pub fn from_json(sel: &Value) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                reqs.push(Requirement::Equals(k.clone(), v.as_str().unwrap_or_default().to_owned()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default().to_owned();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or_default();
                reqs.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => return Err(SelectorError(format!("\"{other}\" is not a valid label selector operator"))),
                });
            }
        }
        Ok(Self(reqs))
    }

    /// Whether a label map satisfies every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    /// True when nothing is required.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError(format!("{whole}: found '{rest}', expected: '('")))?;
    Ok(inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    if let Some(k) = part.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) { Ok(Requirement::DoesNotExist(k.to_owned())) } else { Err(SelectorError(part.to_owned())) };
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k, part)?, v.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Equals(key(k, part)?, v.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Equals(key(k, part)?, v.trim().to_owned()));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let k = words.next().unwrap_or_default().trim();
    let rest = words.next().unwrap_or_default().trim();
    if rest.is_empty() {
        return Ok(Requirement::Exists(key(k, part)?));
    }
    if let Some(r) = rest.strip_prefix("notin") {
        return Ok(Requirement::NotIn(key(k, part)?, parse_set(r, part)?));
    }
    if let Some(r) = rest.strip_prefix("in") {
        return Ok(Requirement::In(key(k, part)?, parse_set(r, part)?));
    }
    Err(SelectorError(part.to_owned()))
}

fn key(k: &str, whole: &str) -> Result<String, SelectorError> {
    let k = k.trim();
    if valid_key(k) { Ok(k.to_owned()) } else { Err(SelectorError(whole.to_owned())) }
}

/// A parsed field selector: `path=value` / `path==value` / `path!=value` terms, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses the `fieldSelector` query syntax.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(SelectorError(format!("invalid selector: '{part}'; can't understand '{part}'")));
            };
            terms.push((k.trim().to_owned(), eq, v.trim().to_owned()));
        }
        Ok(Self(terms))
    }

    /// Field labels referenced (for support checks).
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _, _)| k.as_str())
    }

    /// Whether the object satisfies every term. Missing fields compare as the empty string, as on the apiserver.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let got = field_value(obj, path);
            (got == *want) == *eq
        })
    }
}

/// Reads a dotted field as the string the apiserver's field-label conversion would produce.
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: &Value) -> Option<&Map<String, Value>> {
        v.as_object()
    }

    #[test]
    fn parses_every_operator() {
        let s = LabelSelector::parse("a=1,b!=2,c in (x, y),d notin (z),e,!f,g==3").unwrap();
        assert_eq!(s.0.len(), 7);
        let l = json!({"a":"1","b":"9","c":"y","d":"q","e":"","g":"3"});
        assert!(s.matches(labels(&l)));
        let l2 = json!({"a":"1","b":"9","c":"y","d":"q","e":"","g":"3","f":"x"});
        assert!(!s.matches(labels(&l2)));
    }

    #[test]
    fn notin_and_not_equals_match_missing_keys() {
        let s = LabelSelector::parse("x notin (a),y!=b").unwrap();
        assert!(s.matches(None));
    }

    #[test]
    fn bad_selectors_are_errors() {
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("!").is_err());
    }

    #[test]
    fn structured_selector() {
        let sel = json!({"matchLabels":{"app":"a"},"matchExpressions":[{"key":"tier","operator":"In","values":["web"]}]});
        let s = LabelSelector::from_json(&sel).unwrap();
        assert!(s.matches(labels(&json!({"app":"a","tier":"web"}))));
        assert!(!s.matches(labels(&json!({"app":"a","tier":"db"}))));
        assert!(LabelSelector::from_json(&json!({"matchExpressions":[{"key":"k","operator":"Bogus"}]})).is_err());
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=x,status.phase!=Running").unwrap();
        assert!(f.matches(&json!({"metadata":{"name":"x"},"status":{"phase":"Pending"}})));
        assert!(!f.matches(&json!({"metadata":{"name":"x"},"status":{"phase":"Running"}})));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}

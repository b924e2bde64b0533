//! [`MetricValue`]: what a metric provider measured, before conditions judge it.
//!
//! A JSON value cannot hold NaN or infinities, and Prometheus returns both, so providers hand over this type
//! instead. Its shape follows what Argo's providers give the expr environment: a Prometheus scalar is a float, an
//! instant vector or a matrix is an array of floats, a web response is the JSON value at `jsonPath` (numbers are
//! floats, as Go's `encoding/json` decodes them) or the raw body as a string.

use std::fmt;

/// A measured value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// No value (`nil` in Go): e.g. a JSON `null`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// A number. Every JSON number becomes a float, as in Go.
    Float(f64),
    /// A string, e.g. a non-JSON web response body.
    String(String),
    /// A list, e.g. a Prometheus instant vector.
    Array(Vec<MetricValue>),
    /// A JSON object, keys in document order.
    Map(Vec<(String, MetricValue)>),
}

impl MetricValue {
    /// A list of floats, the shape of a Prometheus vector.
    pub fn floats(values: impl IntoIterator<Item = f64>) -> Self {
        Self::Array(values.into_iter().map(Self::Float).collect())
    }

    /// Whether the value carries no data: nil, or an empty list (Argo's "no data returned" case).
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Nil => true,
            Self::Array(items) => items.is_empty(),
            _ => false,
        }
    }
}

impl From<&serde_json::Value> for MetricValue {
    fn from(value: &serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Self::Nil,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Self::String(s.clone()),
            Value::Array(items) => Self::Array(items.iter().map(Self::from).collect()),
            Value::Object(map) => Self::Map(map.iter().map(|(k, v)| (k.clone(), Self::from(v))).collect()),
        }
    }
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` does for Prometheus sample values: the shortest
/// decimal that round-trips, `NaN`, `+Inf`, `-Inf`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        // Rust's `Display` for floats is the shortest round-tripping decimal without exponent, and prints integral
        // values as `1`: the same as Go's 'f' format with precision -1.
        format!("{f}")
    }
}

/// The text stored in `measurement.value`: floats as Prometheus prints them, lists as `[a,b]` (Argo's Prometheus
/// provider format), strings as themselves, everything else as JSON.
impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("<nil>"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Float(x) => f.write_str(&format_float(*x)),
            Self::String(s) => f.write_str(s),
            Self::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_json_like(f, item)?;
                }
                f.write_str("]")
            }
            Self::Map(_) => write_json_like(f, self),
        }
    }
}

fn write_json_like(f: &mut fmt::Formatter<'_>, value: &MetricValue) -> fmt::Result {
    match value {
        MetricValue::Nil => f.write_str("null"),
        MetricValue::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        MetricValue::Map(entries) => {
            f.write_str("{")?;
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}:", serde_json::Value::String(k.clone()))?;
                write_json_like(f, v)?;
            }
            f.write_str("}")
        }
        other => write!(f, "{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_vector_prints_like_argo() {
        assert_eq!(MetricValue::floats([0.99, 1.0]).to_string(), "[0.99,1]");
        assert_eq!(MetricValue::floats([f64::NAN]).to_string(), "[NaN]");
        assert_eq!(MetricValue::floats([]).to_string(), "[]");
        assert_eq!(MetricValue::Float(f64::INFINITY).to_string(), "+Inf");
    }

    #[test]
    fn json_values_keep_their_shape() {
        let json = serde_json::json!({"ok": true, "rate": 0.5, "tags": ["a"]});
        let value = MetricValue::from(&json);
        assert_eq!(value.to_string(), r#"{"ok":true,"rate":0.5,"tags":["a"]}"#);
        assert!(MetricValue::from(&serde_json::json!([])).is_empty());
        assert!(!MetricValue::from(&serde_json::json!([1])).is_empty());
    }
}

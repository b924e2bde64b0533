//! The `duration` of a canary `pause` step: a Kubernetes IntOrString where a number means seconds.
//!
//! Argo accepts `30` (an integer), `"30"` (a string holding only an integer, also seconds) and Go durations such
//! as `"30s"` or `"1h"`. Decoding keeps whatever was written so it serializes back unchanged; an unusable value
//! (`"1d"`) is only an error when [`PauseDuration::seconds`] is asked, which is where Argo reports it too
//! (as an invalid spec), so a typo never makes the whole Rollout undecodable.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::go_duration::{GoDuration, GoDurationError};

/// A pause duration as written: an integer number of seconds, or a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PauseDuration {
    /// `duration: 30`: whole seconds.
    Int(i64),
    /// `duration: "30"` (seconds) or `duration: 30s` (a Go duration).
    String(String),
}

/// Why a pause duration has no usable number of seconds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PauseDurationError {
    /// The string is neither an integer nor a Go duration.
    #[error("invalid pause duration {text:?}: {source}")]
    Unparsable {
        /// The text as written.
        text: String,
        /// Go's parse error for it.
        source: GoDurationError,
    },
    /// The value does not fit Argo's 32-bit seconds.
    #[error("pause duration {0:?} is out of range")]
    OutOfRange(String),
}

// === impl PauseDuration ===

impl PauseDuration {
    /// The pause in whole seconds, following Argo's `RolloutPause.DurationSeconds`: an integer is taken as is; a
    /// string that parses as a base-10 32-bit integer is seconds; otherwise it is a Go duration truncated to whole
    /// seconds (`"1ms"` is `0`). Values that are not positive come back as they are: rejecting them is validation.
    pub fn seconds(&self) -> Result<i32, PauseDurationError> {
        match self {
            Self::Int(value) => i32::try_from(*value).map_err(|_| PauseDurationError::OutOfRange(value.to_string())),
            Self::String(text) => {
                // Go: strconv.ParseInt(s, 10, 32) first; Rust's i32 parser accepts the same syntax (optional sign,
                // ASCII digits, no spaces or underscores).
                if let Ok(seconds) = text.parse::<i32>() {
                    return Ok(seconds);
                }
                let parsed = GoDuration::parse(text).map_err(|source| PauseDurationError::Unparsable { text: text.clone(), source })?;
                i32::try_from(parsed.whole_seconds()).map_err(|_| PauseDurationError::OutOfRange(text.clone()))
            }
        }
    }
}

impl From<i64> for PauseDuration {
    fn from(seconds: i64) -> Self {
        Self::Int(seconds)
    }
}

impl From<&str> for PauseDuration {
    fn from(text: &str) -> Self {
        Self::String(text.to_owned())
    }
}

impl fmt::Display for PauseDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::String(text) => f.write_str(text),
        }
    }
}

impl Serialize for PauseDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(value) => serializer.serialize_i64(*value),
            Self::String(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for PauseDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PauseDurationVisitor;

        impl Visitor<'_> for PauseDurationVisitor {
            type Value = PauseDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer number of seconds or a duration string")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                Ok(PauseDuration::Int(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                i64::try_from(value).map(PauseDuration::Int).map_err(|_| E::custom(format!("pause duration {value} is out of range")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(PauseDuration::String(value.to_owned()))
            }
        }

        deserializer.deserialize_any(PauseDurationVisitor)
    }
}

impl JsonSchema for PauseDuration {
    fn schema_name() -> Cow<'static, str> {
        "PauseDuration".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        IntOrString::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(value: serde_json::Value) -> Result<i32, PauseDurationError> {
        serde_json::from_value::<PauseDuration>(value).unwrap().seconds()
    }

    /// Argo's `TestRolloutPauseDuration`, plus signed and unit-less strings.
    #[test]
    fn seconds_follow_argo() {
        assert_eq!(seconds(serde_json::json!(10)), Ok(10));
        assert_eq!(seconds(serde_json::json!("10")), Ok(10));
        assert_eq!(seconds(serde_json::json!("10s")), Ok(10));
        assert_eq!(seconds(serde_json::json!("1h")), Ok(3600));
        assert_eq!(seconds(serde_json::json!("1m30s")), Ok(90));
        assert_eq!(seconds(serde_json::json!("1ms")), Ok(0));
        assert_eq!(seconds(serde_json::json!("+5")), Ok(5));
        assert_eq!(seconds(serde_json::json!("-5")), Ok(-5), "not positive, but rejecting it is validation");
        assert_eq!(seconds(serde_json::json!(0)), Ok(0));
        assert!(matches!(seconds(serde_json::json!("1z")), Err(PauseDurationError::Unparsable { .. })));
        assert!(matches!(seconds(serde_json::json!("1d")), Err(PauseDurationError::Unparsable { .. })));
        assert!(matches!(seconds(serde_json::json!("")), Err(PauseDurationError::Unparsable { .. })));
        // Out of int32: ParseInt fails, then ParseDuration fails for want of a unit.
        assert!(matches!(seconds(serde_json::json!("20000000000")), Err(PauseDurationError::Unparsable { .. })));
        assert_eq!(seconds(serde_json::json!(20_000_000_000_i64)), Err(PauseDurationError::OutOfRange("20000000000".into())));
        assert_eq!(seconds(serde_json::json!("1000000h")), Err(PauseDurationError::OutOfRange("1000000h".into())));
    }

    #[test]
    fn keeps_the_form_it_was_written_in() {
        for value in [serde_json::json!(30), serde_json::json!("30"), serde_json::json!("30s")] {
            let parsed: PauseDuration = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
        }
        assert!(serde_json::from_value::<PauseDuration>(serde_json::json!(1.5)).is_err());
        assert!(serde_json::from_value::<PauseDuration>(serde_json::json!(true)).is_err());
    }
}

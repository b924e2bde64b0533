//! `maxSurge` / `maxUnavailable`: an absolute number of pods or a percentage of the desired count.
//!
//! Argo resolves these with apimachinery's deprecated `intstr.GetValueFromIntOrPercent`, whose legacy parser
//! treats *every* string as a percentage: it deletes all `%` characters and parses the rest, so `"1"` means 1%
//! (not one pod) and `"%5%"` means 5%. [`IntOrPercent::scaled_value`] reproduces that quirk and the rounding
//! exactly; a Rollout written for Argo must scale the same way here.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IntOrString holding a pod count (`5`) or a percentage (`"25%"`), kept in the form it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntOrPercent {
    /// An absolute number of pods.
    Int(i32),
    /// A percentage. Per Argo's quirk the `%` sign is optional: `"10"` is 10%.
    String(String),
}

/// Why an [`IntOrPercent`] has no value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntOrPercentError {
    /// The string is not an integer once `%` signs are removed.
    #[error("invalid value for IntOrString: invalid value {0:?}")]
    InvalidValue(String),
    /// The scaled value does not fit in 32 bits.
    #[error("value {0:?} scaled to {1} is out of range")]
    OutOfRange(String, i128),
}

// === impl IntOrPercent ===

impl IntOrPercent {
    /// A percentage, written `"<percent>%"`.
    pub fn percent(percent: i32) -> Self {
        Self::String(format!("{percent}%"))
    }

    /// Whether Argo treats this value as a percentage (every string is one).
    pub fn is_percent(&self) -> bool {
        matches!(self, Self::String(_))
    }

    /// Resolves the value against `total` pods like `intstr.GetValueFromIntOrPercent`: an integer is returned
    /// unchanged; a percentage is `percent * total / 100`, rounded up (`round_up`, used for `maxSurge`) or down
    /// (`maxUnavailable`).
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, IntOrPercentError> {
        match self {
            Self::Int(value) => Ok(*value),
            Self::String(text) => {
                // Go: strings.Replace(s, "%", "", -1) then strconv.Atoi. Rust's i64 parser accepts exactly what
                // Atoi accepts in base 10: an optional sign and ASCII digits, nothing else.
                let percent: i64 = text.replace('%', "").parse().map_err(|_| IntOrPercentError::InvalidValue(text.clone()))?;
                let product = i128::from(percent) * i128::from(total);
                // Go rounds float64(percent)*float64(total)/100 with math.Ceil/Floor; for integer inputs the
                // integer floor/ceil division below gives the same result.
                let scaled = if round_up { -((-product).div_euclid(100)) } else { product.div_euclid(100) };
                i32::try_from(scaled).map_err(|_| IntOrPercentError::OutOfRange(text.clone(), scaled))
            }
        }
    }
}

impl From<i32> for IntOrPercent {
    fn from(value: i32) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for IntOrPercent {
    fn from(text: &str) -> Self {
        Self::String(text.to_owned())
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::String(text) => f.write_str(text),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(value) => serializer.serialize_i32(*value),
            Self::String(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntOrPercentVisitor;

        impl Visitor<'_> for IntOrPercentVisitor {
            type Value = IntOrPercent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-bit integer or a percentage string")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                i32::try_from(value).map(IntOrPercent::Int).map_err(|_| E::custom(format!("{value} does not fit in 32 bits")))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                i32::try_from(value).map(IntOrPercent::Int).map_err(|_| E::custom(format!("{value} does not fit in 32 bits")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(IntOrPercent::String(value.to_owned()))
            }
        }

        deserializer.deserialize_any(IntOrPercentVisitor)
    }
}

impl JsonSchema for IntOrPercent {
    fn schema_name() -> Cow<'static, str> {
        "IntOrPercent".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        IntOrString::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled(value: impl Into<IntOrPercent>, total: i32, round_up: bool) -> Result<i32, IntOrPercentError> {
        value.into().scaled_value(total, round_up)
    }

    /// apimachinery's `TestGetValueFromIntOrPercent`, extended with Argo's defaults.
    #[test]
    fn scales_like_apimachinery() {
        assert_eq!(scaled(123, 0, false), Ok(123));
        assert_eq!(scaled(3, 10, true), Ok(3), "integers are never scaled");
        assert_eq!(scaled("90%", 100, true), Ok(90));
        assert_eq!(scaled("90%", 95, true), Ok(86));
        assert_eq!(scaled("90%", 95, false), Ok(85));
        assert_eq!(scaled("25%", 10, true), Ok(3), "maxSurge default rounds 2.5 up");
        assert_eq!(scaled("25%", 10, false), Ok(2), "maxUnavailable default rounds 2.5 down");
        assert_eq!(scaled("25%", 4, true), Ok(1));
        assert_eq!(scaled("25%", 1, false), Ok(0));
        assert_eq!(scaled("25%", 0, true), Ok(0));
        assert_eq!(scaled("100%", 7, false), Ok(7));
        assert_eq!(scaled("0%", 7, true), Ok(0));
        assert_eq!(scaled("-10%", 15, true), Ok(-1), "ceil of -1.5");
        assert_eq!(scaled("-10%", 15, false), Ok(-2), "floor of -1.5");
        assert_eq!(scaled("+5%", 100, false), Ok(5));
    }

    /// The legacy parser treats any string as a percentage and ignores every `%`.
    #[test]
    fn a_string_without_percent_sign_is_still_a_percentage() {
        assert_eq!(scaled("1", 200, false), Ok(2));
        assert_eq!(scaled("90", 95, true), Ok(86));
        assert_eq!(scaled("%5%", 100, false), Ok(5));
        assert_eq!(scaled("5%%", 100, false), Ok(5));
        assert!(IntOrPercent::from("1").is_percent());
        assert!(!IntOrPercent::from(1).is_percent());
    }

    #[test]
    fn rejects_what_atoi_rejects() {
        for text in ["%", "", "90#", "#%", " 5%", "5.5%", "five", "1_0%", "0x10%"] {
            assert_eq!(scaled(text, 100, true), Err(IntOrPercentError::InvalidValue(text.into())), "{text:?}");
        }
        assert!(matches!(scaled("99999999999%", 100, true), Err(IntOrPercentError::OutOfRange(..))));
    }

    #[test]
    fn keeps_the_form_it_was_written_in() {
        for value in [serde_json::json!(0), serde_json::json!("25%"), serde_json::json!("1")] {
            let parsed: IntOrPercent = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
        }
        assert_eq!(IntOrPercent::percent(25), IntOrPercent::String("25%".into()));
        assert!(serde_json::from_value::<IntOrPercent>(serde_json::json!(4_294_967_296_i64)).is_err());
    }
}

//! Go-syntax durations (`300ms`, `1.5h`, `2h45m`), read exactly as Go's `time.ParseDuration` reads them.
//!
//! Pure parsing, no I/O. Two types, because Argo treats durations in two different ways:
//! - [`GoDuration`] is a duration that parsed. It remembers the text it came from, so it serializes back
//!   unchanged (`90s` stays `90s`, it does not become `1m30s`).
//! - [`DurationString`] is Argo's wire type for duration fields (`interval`, `initialDelay`, an experiment's
//!   `duration`). Argo stores these as plain strings and parses them only when it uses them, because an
//!   AnalysisTemplate may hold a `{{args.interval}}` placeholder that is substituted at run time. Decoding must
//!   therefore accept any string; [`DurationString::parse`] is where the Go rules apply.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a Go duration. Messages match Go's `time.ParseDuration` errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GoDurationError {
    /// Empty, malformed, or out of the `i64` nanosecond range.
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A number without a unit, such as `1` (only a bare `0` may omit the unit).
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit Go does not know, such as `d`.
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit {
        /// The offending unit.
        unit: String,
        /// The whole input.
        text: String,
    },
}

/// A parsed Go duration: a signed nanosecond count plus the exact text it was parsed from.
///
/// Equality compares the text as well as the value, so `60s` and `1m` are different `GoDuration`s with the
/// same [`as_nanos`](Self::as_nanos).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GoDuration {
    text: String,
    nanos: i64,
}

// === impl GoDuration ===

impl GoDuration {
    /// Parses `text` with Go's `time.ParseDuration` rules: an optional sign, then one or more
    /// `<decimal><unit>` pairs with units `ns`, `us` (or `µs`/`μs`), `ms`, `s`, `m`, `h`; a bare `0` is allowed.
    pub fn parse(text: &str) -> Result<Self, GoDurationError> {
        Ok(Self { text: text.to_owned(), nanos: parse_nanos(text)? })
    }

    /// The text this duration was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The signed number of nanoseconds (Go's `time.Duration`).
    pub fn as_nanos(&self) -> i64 {
        self.nanos
    }

    /// Whether the duration is below zero (`-1s`).
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Whole seconds, truncated toward zero like Go's `int64(d.Seconds())`.
    pub fn whole_seconds(&self) -> i64 {
        self.nanos / NANOS_PER_SECOND
    }

    /// The duration as a [`std::time::Duration`], or `None` when it is negative.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos).ok().map(std::time::Duration::from_nanos)
    }
}

impl FromStr for GoDuration {
    type Err = GoDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

/// Argo's `DurationString`: a duration as written (`30s`, `5m`, `1h`), kept as text until it is used.
///
/// Decoding accepts any string (see the module docs for why); call [`parse`](Self::parse) to apply Go's rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DurationString(pub String);

// === impl DurationString ===

impl DurationString {
    /// Parses the text with Go's `time.ParseDuration` rules.
    pub fn parse(&self) -> Result<GoDuration, GoDurationError> {
        GoDuration::parse(&self.0)
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DurationString {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl fmt::Display for DurationString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Go's `1<<63`: the magnitude bound every intermediate value is checked against.
const LIMIT: u64 = 1 << 63;

/// Go's `unitMap`. Both micro signs are accepted: U+00B5 (micro sign) and U+03BC (Greek mu).
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{00b5}s", 1_000),
    ("\u{03bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// A line-by-line port of Go's `time.ParseDuration`, so edge cases (overflow, `-0`, `.5s`, `5.s`, 20-digit
/// fractions) behave exactly as in Go. Works on bytes like Go does; units are compared byte-wise.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "Go computes the fractional part in float64; doing the same keeps results bit-identical"
)]
fn parse_nanos(text: &str) -> Result<i64, GoDurationError> {
    let invalid = || GoDurationError::Invalid(text.to_owned());
    let mut s = text.as_bytes();
    let mut negative = false;
    if let Some((&sign, rest)) = s.split_first()
        && (sign == b'-' || sign == b'+')
    {
        negative = sign == b'-';
        s = rest;
    }
    // Special case: a bare "0" (possibly signed) is zero and needs no unit.
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        // The next character must be [0-9.].
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Consume [0-9]*.
        let before = s.len();
        let (mut value, rest) = leading_int(s).ok_or_else(invalid)?;
        s = rest;
        let digits_before_point = before != s.len();
        // Consume (\.[0-9]*)?.
        let mut fraction = 0_u64;
        let mut scale = 1.0_f64;
        let mut digits_after_point = false;
        if let Some((&b'.', rest)) = s.split_first() {
            let before = rest.len();
            let rest_after;
            (fraction, scale, rest_after) = leading_fraction(rest);
            digits_after_point = before != rest_after.len();
            s = rest_after;
        }
        if !digits_before_point && !digits_after_point {
            // No digits at all, e.g. ".s" or "-.s".
            return Err(invalid());
        }
        // Consume the unit: everything up to the next digit or '.'.
        let unit_len = s.iter().position(|&c| c == b'.' || c.is_ascii_digit()).unwrap_or(s.len());
        if unit_len == 0 {
            return Err(GoDurationError::MissingUnit(text.to_owned()));
        }
        let (unit_bytes, rest) = s.split_at(unit_len);
        s = rest;
        let Some(&(_, unit)) = UNITS.iter().find(|(name, _)| name.as_bytes() == unit_bytes) else {
            return Err(GoDurationError::UnknownUnit { unit: String::from_utf8_lossy(unit_bytes).into_owned(), text: text.to_owned() });
        };
        if value > LIMIT / unit {
            return Err(invalid());
        }
        value *= unit;
        if fraction > 0 {
            // float64 is needed to be nanosecond accurate for fractions of hours.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 1<<63, so the negation always fits (1<<63 becomes i64::MIN).
        return 0_i64.checked_sub_unsigned(total).ok_or_else(invalid);
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `leadingInt`: consumes `[0-9]*`; `None` on overflow past `1<<63`.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > LIMIT {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's `leadingFraction`: consumes `[0-9]*` after the point. On overflow it stops accumulating precision
/// instead of failing, exactly like Go.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut x: u64 = 0;
    let mut scale = 1.0_f64;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (LIMIT - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > LIMIT {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, &s[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;

    fn nanos(text: &str) -> i64 {
        match GoDuration::parse(text) {
            Ok(d) => d.as_nanos(),
            Err(err) => panic!("{text:?} should parse: {err}"),
        }
    }

    /// Go's `parseDurationTests` (src/time/time_test.go), plus the brief's examples.
    #[test]
    fn parses_what_go_parses() {
        let cases: &[(&str, i64)] = &[
            // simple
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            // sign
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("-1s", -S),
            // decimal
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("1.5h", H + 30 * M),
            // different units
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12\u{00b5}s", 12 * US),
            ("12\u{03bc}s", 12 * US),
            ("1\u{00b5}s", US),
            ("1us", US),
            ("13ms", 13 * MS),
            ("300ms", 300 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            // composite durations
            ("3h30m", 3 * H + 30 * M),
            ("2h45m", 2 * H + 45 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            // large value
            ("52763797000ns", 52_763_797_000),
            // more than 9 digits after the decimal point (golang.org/issue/6617)
            ("0.3333333333333333333h", 20 * M),
            // 1<<53+1 cannot be stored precisely in a float64
            ("9007199254740993ns", (1 << 53) + 1),
            // largest duration representable in nanoseconds
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            // largest negative round-trip value (golang.org/issue/48629)
            ("-2562047h47m16.854775808s", i64::MIN),
            // huge string (golang.org/issue/15011)
            ("0.100000000000000000000h", 6 * M),
            // first overflow check in leadingFraction
            ("0.830103483285477580700h", 49 * M + 48 * S + 372_539_827),
        ];
        for &(text, want) in cases {
            assert_eq!(nanos(text), want, "{text:?}");
        }
    }

    /// Go's `parseDurationErrorTests` (the ones expressible as valid UTF-8), plus the brief's examples.
    #[test]
    fn rejects_what_go_rejects() {
        let cases = [
            "",
            "3",
            "1",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{fffd}",
            "\u{fffd} hello \u{fffd} world",
            " 1s",
            "1s ",
            "1 s",
            "1S",
            // overflow
            "9223372036854775810ns",
            "9223372036854775808ns",
            "-9223372036854775809ns",
            "9223372036854776us",
            "3000000h",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
        ];
        for text in cases {
            assert!(GoDuration::parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn error_messages_match_go() {
        assert_eq!(GoDuration::parse("").unwrap_err().to_string(), r#"time: invalid duration """#);
        assert_eq!(GoDuration::parse("1").unwrap_err().to_string(), r#"time: missing unit in duration "1""#);
        assert_eq!(GoDuration::parse("1d").unwrap_err().to_string(), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(GoDuration::parse("5s1x").unwrap_err(), GoDurationError::UnknownUnit { unit: "x".into(), text: "5s1x".into() });
    }

    #[test]
    fn keeps_the_original_text() {
        let d = GoDuration::parse("90s").unwrap();
        assert_eq!(d.as_str(), "90s");
        assert_eq!(d.to_string(), "90s");
        assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::json!("90s"));
        let back: GoDuration = serde_json::from_value(serde_json::json!("1h30m")).unwrap();
        assert_eq!(back.as_str(), "1h30m");
        assert_eq!(back.whole_seconds(), 5400);
        assert!(serde_json::from_value::<GoDuration>(serde_json::json!("1d")).is_err());
    }

    #[test]
    fn conversions() {
        let d = GoDuration::parse("1.5s").unwrap();
        assert_eq!(d.whole_seconds(), 1);
        assert_eq!(d.to_std(), Some(std::time::Duration::from_millis(1500)));
        let neg = GoDuration::parse("-1.5s").unwrap();
        assert!(neg.is_negative());
        assert_eq!(neg.whole_seconds(), -1, "truncates toward zero like Go");
        assert_eq!(neg.to_std(), None);
    }

    #[test]
    fn duration_string_decodes_anything_and_parses_on_demand() {
        let templated: DurationString = serde_json::from_value(serde_json::json!("{{args.interval}}")).unwrap();
        assert_eq!(templated.as_str(), "{{args.interval}}");
        assert!(templated.parse().is_err());
        let five: DurationString = "5m".into();
        assert_eq!(five.parse().unwrap().as_nanos(), 5 * M);
        assert_eq!(serde_json::to_value(&five).unwrap(), serde_json::json!("5m"));
    }
}

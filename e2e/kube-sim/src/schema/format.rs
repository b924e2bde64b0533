//! `format` checks: loose versions of go-openapi/strfmt's validators.

use std::net::IpAddr;
use std::sync::OnceLock;

use regex::Regex;

pub(super) fn format_valid(format: &str, s: &str) -> bool {
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

#[cfg(test)]
mod tests {

    use super::*;

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
}

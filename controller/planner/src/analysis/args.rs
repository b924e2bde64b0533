//! Analysis arguments: resolving their values and substituting `{{args.name}}` placeholders into a metric.
//!
//! As in Argo, substitution runs over the whole JSON-serialised metric, values JSON-escaped, so every string
//! field may be templated (the query, URL, headers, body, conditions, and the `interval`, `count` and limit fields,
//! which is why those are strings or IntOrStrings on the wire).
//!
//! Secret arguments (`valueFrom.secretKeyRef`) are resolved by the caller at measurement time and kept apart:
//! [`Args::public`] substitutes `*****` for them (for anything stored, such as the resolved query shown on a
//! metric result), [`Args::all`] the real values (for the provider request only), and [`Args::redact`] scrubs
//! secret values out of any text coming back from a provider.

use std::collections::BTreeMap;

use serin_api::analysis_template::{Argument, Metric};

/// What stands in for a secret value in anything Serin stores or prints.
pub const REDACTED: &str = "*****";

/// Why arguments could not be resolved or substituted. Messages are user-facing (they land on the run).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A template argument without a value, and the caller supplied none.
    #[error("argument \"{0}\" was not supplied")]
    NotSupplied(String),
    /// An argument with both `value` and `valueFrom`.
    #[error("argument \"{0}\" has both value and valueFrom")]
    ValueAndValueFrom(String),
    /// `valueFrom` with neither `secretKeyRef` nor `fieldRef`, or a `fieldRef` left for the run to resolve.
    #[error("argument \"{0}\": valueFrom must set secretKeyRef")]
    UnsupportedValueFrom(String),
    /// The Secret or key behind a `secretKeyRef` could not be read.
    #[error("argument \"{name}\": {message}")]
    Secret {
        /// The argument.
        name: String,
        /// What went wrong (never the value).
        message: String,
    },
    /// A `{{...}}` placeholder with no matching argument.
    #[error("failed to resolve {{{{{0}}}}}")]
    Unresolved(String),
    /// The metric no longer decodes after substitution (e.g. a count that is not a number where one is required).
    #[error("metric \"{metric}\" is invalid after argument substitution: {message}")]
    Invalid {
        /// The metric.
        metric: String,
        /// The decoding error.
        message: String,
    },
}

/// Resolved argument values of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    values: BTreeMap<String, String>,
    secrets: Vec<String>,
}

impl Args {
    /// Resolves a run's arguments. `secret(name, key)` reads a Secret's key (the caller does the I/O); it is only
    /// called for `secretKeyRef` arguments.
    pub fn resolve(args: &[Argument], mut secret: impl FnMut(&str, &str) -> Result<String, String>) -> Result<Self, ArgError> {
        let mut resolved = Self::default();
        for arg in args {
            let value = match (&arg.value, &arg.value_from) {
                (Some(_), Some(_)) => return Err(ArgError::ValueAndValueFrom(arg.name.clone())),
                (Some(value), None) => value.clone(),
                (None, None) => return Err(ArgError::NotSupplied(arg.name.clone())),
                (None, Some(from)) => {
                    let Some(key_ref) = &from.secret_key_ref else {
                        return Err(ArgError::UnsupportedValueFrom(arg.name.clone()));
                    };
                    let value =
                        secret(&key_ref.name, &key_ref.key).map_err(|message| ArgError::Secret { name: arg.name.clone(), message })?;
                    if !value.is_empty() && !resolved.secrets.contains(&value) {
                        resolved.secrets.push(value.clone());
                    }
                    value
                }
            };
            resolved.values.insert(arg.name.clone(), value);
        }
        // Longest first, so a secret that contains another is redacted whole.
        resolved.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(resolved)
    }

    /// Whether any argument is a secret.
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The metric with every placeholder replaced by its real value: for the provider request only.
    pub fn all(&self, metric: &Metric) -> Result<Metric, ArgError> {
        substitute(metric, &|name| self.values.get(name).cloned())
    }

    /// The metric with secret values replaced by [`REDACTED`]: safe to store and print.
    pub fn public(&self, metric: &Metric) -> Result<Metric, ArgError> {
        substitute(metric, &|name| self.values.get(name).map(|v| if self.secrets.contains(v) { REDACTED.to_owned() } else { v.clone() }))
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Substitutes `{{args.name}}` placeholders (spaces inside the braces allowed) over the JSON form of `metric`.
fn substitute(metric: &Metric, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Metric, ArgError> {
    let json = serde_json::to_string(metric).map_err(|e| invalid(metric, &e))?;
    if !json.contains("{{") {
        return Ok(metric.clone());
    }
    let replaced = replace_placeholders(&json, |tag| {
        let name = tag.strip_prefix("args.")?;
        lookup(name).map(|value| json_escape(&value))
    })?;
    serde_json::from_str(&replaced).map_err(|e| invalid(metric, &e))
}

fn invalid(metric: &Metric, error: &serde_json::Error) -> ArgError {
    ArgError::Invalid { metric: metric.name.clone(), message: error.to_string() }
}

/// Replaces every `{{tag}}` in `text` with `value(tag.trim())`; an unknown tag is an error.
pub fn replace_placeholders(text: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, ArgError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            // An unterminated placeholder is literal text, as in Go's fasttemplate.
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let tag = after[..end].trim();
        match value(tag) {
            Some(v) => out.push_str(&v),
            None => return Err(ArgError::Unresolved(tag.to_owned())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `value` escaped for the inside of a JSON string.
fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use serin_api::analysis_template::{SecretKeyRef, ValueFrom};
    use serin_api::metric_provider::{MetricProvider, WebMetric, WebMetricHeader};

    use super::*;

    fn arg(name: &str, value: &str) -> Argument {
        Argument { name: name.into(), value: Some(value.into()), value_from: None }
    }

    fn secret_arg(name: &str) -> Argument {
        Argument {
            name: name.into(),
            value: None,
            value_from: Some(ValueFrom {
                secret_key_ref: Some(SecretKeyRef { name: "creds".into(), key: "token".into() }),
                field_ref: None,
            }),
        }
    }

    fn web_metric() -> Metric {
        Metric {
            name: "web".into(),
            success_condition: Some("result == \"{{args.expected}}\"".into()),
            count: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("{{ args.count }}".into())),
            provider: MetricProvider {
                web: Some(WebMetric {
                    url: "http://svc/{{args.path}}?token={{args.token}}".into(),
                    headers: vec![WebMetricHeader { key: "Authorization".into(), value: "Bearer {{args.token}}".into() }],
                    ..WebMetric::default()
                }),
                ..MetricProvider::default()
            },
            ..Metric::default()
        }
    }

    fn args() -> Args {
        Args::resolve(
            &[arg("expected", "a \"quoted\" value"), arg("count", "3"), arg("path", "health"), secret_arg("token")],
            |name, key| {
                assert_eq!((name, key), ("creds", "token"));
                Ok("s3cr3t".into())
            },
        )
        .expect("resolves")
    }

    #[test]
    fn substitutes_everywhere_with_json_escaping() {
        let metric = args().all(&web_metric()).expect("substitutes");
        assert_eq!(metric.success_condition.as_deref(), Some("result == \"a \"quoted\" value\""));
        let web = metric.provider.web.expect("web");
        assert_eq!(web.url, "http://svc/health?token=s3cr3t");
        assert_eq!(web.headers[0].value, "Bearer s3cr3t");
        assert_eq!(metric.count, Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("3".into())));
    }

    #[test]
    fn public_form_and_redaction_hide_secrets() {
        let args = args();
        let public = args.public(&web_metric()).expect("substitutes");
        let web = public.provider.web.expect("web");
        assert_eq!(web.url, "http://svc/health?token=*****");
        assert!(!serde_json::to_string(&web).expect("json").contains("s3cr3t"));
        assert_eq!(args.redact("GET http://svc/health?token=s3cr3t: 500"), "GET http://svc/health?token=*****: 500");
        assert!(args.has_secrets());
    }

    #[test]
    fn errors_name_the_argument() {
        let missing = Args::resolve(&[Argument { name: "host".into(), value: None, value_from: None }], |_, _| Ok(String::new()));
        assert_eq!(missing.expect_err("missing").to_string(), "argument \"host\" was not supplied");

        let unknown = Args::default().all(&web_metric()).expect_err("unknown placeholder");
        assert_eq!(unknown.to_string(), "failed to resolve {{args.count}}");

        let unreadable = Args::resolve(&[secret_arg("token")], |_, _| Err("secret \"creds\" not found".into()));
        assert_eq!(unreadable.expect_err("secret").to_string(), "argument \"token\": secret \"creds\" not found");
    }

    #[test]
    fn text_without_placeholders_and_unterminated_braces_pass_through() {
        assert_eq!(replace_placeholders("a {{b", |_| None).expect("literal"), "a {{b");
        assert_eq!(replace_placeholders("x{{ args.y }}z", |t| Some(t.to_uppercase())).expect("ok"), "xARGS.Yz");
    }
}

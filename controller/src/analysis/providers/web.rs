//! The web provider (`provider.web`): one HTTP request per measurement; the value is read from the response.
//!
//! What the value is follows Argo's webmetric provider:
//! - a response status outside 2xx is an error naming the code;
//! - a body that is JSON is decoded (numbers become floats, as Go decodes them) and the value is the first one the
//!   `jsonPath` template yields (default `{$}`, the whole document), objects included;
//! - a body that is not JSON (an empty body too) is the value itself, as text.
//!
//! `jsonPath` is a Kubernetes `JSONPath` template (`kubectl -o jsonpath` syntax): `{$.data.ok}`, `{.items[0].value}`,
//! `{.items[?(@.name=="b")].value}`. As in Kubernetes, text outside braces is literal: a template of plain text
//! (such as `$.data.ok` without braces) yields that text. `range`/`end` are not supported.
//!
//! Object keys are sorted, so the measurement's value text reads as Go's `json.Marshal` writes it in Argo.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serin_api::metric_provider::WebMetric;
use serin_planner::analysis::MetricValue;

use super::http::{self, HttpClients};
use super::{MeasureContext, Provider, ProviderError, Reading};

/// Timeout when `timeoutSeconds` is unset or not positive (Argo's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Read when `jsonPath` is unset or empty: the whole document.
const DEFAULT_JSON_PATH: &str = "{$}";

/// A web metric, validated and ready to send.
#[derive(Clone)]
pub struct WebProvider {
    client: reqwest::Client,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    timeout: Duration,
    json_path: json_path::Template,
}

// === impl WebProvider ===

impl WebProvider {
    /// Validates the metric (body and jsonBody not both, no body with GET, a valid http(s) URL, headers, jsonPath,
    /// authentication) and prepares its request.
    pub fn new(metric: &WebMetric, clients: &HttpClients) -> Result<Self, ProviderError> {
        let method = match metric.method.as_ref().map_or("", |method| method.as_str()) {
            "" => Method::GET,
            name => Method::from_bytes(name.as_bytes())
                .map_err(|_| ProviderError::new(format!("web metric method {name:?} is not a valid HTTP method")))?,
        };

        // Like Argo, an empty `body` counts as none, and only GET refuses a body.
        let text_body = metric.body.as_deref().filter(|body| !body.is_empty());
        let body = match (text_body, &metric.json_body) {
            (Some(_), Some(_)) => {
                return Err(ProviderError::new("use either body or jsonBody for a web metric, not both"));
            }
            (Some(_), None) | (None, Some(_)) if method == Method::GET => {
                return Err(ProviderError::new("body and jsonBody can only be used with the POST or PUT method"));
            }
            (Some(text), None) => Some(text.as_bytes().to_vec()),
            (None, Some(json)) => {
                Some(serde_json::to_vec(json).map_err(|e| ProviderError::new(format!("could not serialise jsonBody: {e}")))?)
            }
            (None, None) => None,
        };

        // The parse error never echoes the URL, which may carry credentials.
        let url = Url::parse(&metric.url).map_err(|e| ProviderError::new(format!("web metric url is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderError::new(format!("unsupported protocol scheme {:?}", url.scheme())));
        }

        let mut headers = http::header_map(&metric.headers)?;
        if metric.json_body.is_some() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        http::apply_authentication(&mut headers, metric.authentication.as_ref())?;

        let timeout = metric
            .timeout_seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .filter(|seconds| *seconds > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);

        let template = metric.json_path.as_deref().filter(|path| !path.is_empty()).unwrap_or(DEFAULT_JSON_PATH);
        let json_path =
            json_path::Template::parse(template).map_err(|e| ProviderError::new(format!("jsonPath {template:?} is not valid: {e}")))?;

        let client = clients.client(metric.insecure.unwrap_or(false)).clone();
        Ok(Self { client, method, url, headers, body, timeout, json_path })
    }

    async fn measure(&self) -> Result<MetricValue, ProviderError> {
        let mut request = self.client.request(self.method.clone(), self.url.clone()).headers(self.headers.clone()).timeout(self.timeout);
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|e| ProviderError::new(http::describe_error(&e, self.timeout)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::new(format!("received non 2xx response code: {}", status.as_u16())));
        }
        let body = response.bytes().await.map_err(|e| ProviderError::new(http::describe_error(&e, self.timeout)))?;
        read_value(&body, &self.json_path)
    }
}

impl Provider for WebProvider {
    fn kind(&self) -> &'static str {
        "web"
    }

    async fn run(&self, cx: MeasureContext<'_>) -> Result<Reading, ProviderError> {
        let measured = self.measure().await;
        // The URL, headers and bodies may hold secrets: log which metric and whether it worked, nothing more.
        if measured.is_ok() {
            tracing::debug!(metric = %cx.metric.name, "web measurement taken");
        } else {
            tracing::debug!(metric = %cx.metric.name, "web measurement failed");
        }
        Ok(Reading::Value { value: measured?, metadata: BTreeMap::new() })
    }
}

/// Only the method and timeout: the URL, headers and body may carry secrets.
impl fmt::Debug for WebProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebProvider").field("method", &self.method).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// The measured value of a successful response body.
fn read_value(body: &[u8], template: &json_path::Template) -> Result<MetricValue, ProviderError> {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(body) else {
        // Argo keeps a body that is not JSON as the value, verbatim.
        return Ok(MetricValue::String(String::from_utf8_lossy(body).into_owned()));
    };
    match template.first_value(&document) {
        Ok(Some(json_path::Match::Json(value))) => Ok(sort_keys(MetricValue::from(value))),
        Ok(Some(json_path::Match::Text(text))) => Ok(MetricValue::String(text.to_owned())),
        Ok(None) => Err(ProviderError::new("Could not find JSONPath in body: the path matched no value")),
        Err(e) => Err(ProviderError::new(format!("Could not find JSONPath in body: {e}"))),
    }
}

/// Sorts object keys at every level, the order Go's `json.Marshal` writes a map in.
fn sort_keys(value: MetricValue) -> MetricValue {
    match value {
        MetricValue::Map(mut entries) => {
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            MetricValue::Map(entries.into_iter().map(|(key, value)| (key, sort_keys(value))).collect())
        }
        MetricValue::Array(items) => MetricValue::Array(items.into_iter().map(sort_keys).collect()),
        scalar @ (MetricValue::Nil | MetricValue::Bool(_) | MetricValue::Float(_) | MetricValue::String(_)) => scalar,
    }
}

/// Kubernetes `JSONPath` templates, evaluated with an RFC 9535 engine: each `{...}` action is translated into an RFC
/// 9535 query (`.items[0].name` becomes `$['items'][0]['name']`); brackets (indexes, slices, wildcards, quoted
/// keys, filters) are written alike in both and pass through.
mod json_path {
    use std::fmt::Write as _;

    use jsonpath_rust::parser::model::JpQuery;
    use jsonpath_rust::parser::parse_json_path;
    use jsonpath_rust::query::js_path_process;
    use serde_json::Value;

    /// A parsed template: literal text and path actions, in order.
    #[derive(Clone, Debug)]
    pub(super) struct Template {
        parts: Vec<Part>,
    }

    #[derive(Clone, Debug)]
    enum Part {
        Text(String),
        Path(JpQuery),
    }

    /// The first thing a template yields.
    #[derive(Debug, PartialEq)]
    pub(super) enum Match<'t, 'd> {
        /// Literal text of the template.
        Text(&'t str),
        /// A value of the document.
        Json(&'d Value),
    }

    impl Template {
        pub(super) fn parse(template: &str) -> Result<Self, String> {
            let mut parts = Vec::new();
            let mut rest = template;
            while !rest.is_empty() {
                let Some(open) = rest.find('{') else {
                    parts.push(Part::Text(rest.to_owned()));
                    break;
                };
                if open > 0 {
                    parts.push(Part::Text(rest[..open].to_owned()));
                }
                let inside = &rest[open + 1..];
                let close = find_unquoted(inside, '}').ok_or("unclosed action: missing `}`")?;
                parts.extend(action(inside[..close].trim())?);
                rest = &inside[close + 1..];
            }
            Ok(Self { parts })
        }

        /// What Argo takes from the template's results: the first value of the first part that yields one. Text
        /// always yields itself; a path may match nothing, and then the next part is tried.
        pub(super) fn first_value<'t, 'd>(&'t self, document: &'d Value) -> Result<Option<Match<'t, 'd>>, String> {
            for part in &self.parts {
                match part {
                    Part::Text(text) => return Ok(Some(Match::Text(text))),
                    Part::Path(query) => {
                        let nodes = js_path_process(query, document).map_err(|e| one_line(&e.to_string()))?;
                        if let Some(node) = nodes.into_iter().next() {
                            return Ok(Some(Match::Json(node.val)));
                        }
                    }
                }
            }
            Ok(None)
        }
    }

    /// One `{...}` action: a quoted string is text, anything else a path.
    fn action(action: &str) -> Result<Option<Part>, String> {
        if action.is_empty() {
            return Ok(None);
        }
        if action.len() >= 2 && action.starts_with('"') && action.ends_with('"') {
            let text: String = serde_json::from_str(action).map_err(|_| format!("{action} is not a valid quoted string"))?;
            return Ok(Some(Part::Text(text)));
        }
        let keyword = action.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default();
        if matches!(keyword, "range" | "end") {
            return Err("range and end are not supported".to_owned());
        }
        let query = to_rfc9535(action)?;
        parse_json_path(&query).map(|parsed| Some(Part::Path(parsed))).map_err(|e| one_line(&e.to_string()))
    }

    /// Translates a Kubernetes path (`$.a.b`, `.a[0]`, `..name`, `.labels.app\.kubernetes\.io/name`) into RFC 9535.
    pub(super) fn to_rfc9535(path: &str) -> Result<String, String> {
        let mut query = String::from("$");
        // `$` (the root) or `@` (the current object) may lead; at the top of a template both are the document.
        let mut rest = path.strip_prefix(['$', '@']).unwrap_or(path);
        loop {
            rest = rest.trim_start();
            let Some(next) = rest.chars().next() else { break };
            match next {
                '.' if rest.starts_with("..") => {
                    query.push_str("..");
                    rest = &rest[2..];
                    if let Some(after) = rest.strip_prefix('*') {
                        query.push('*');
                        rest = after;
                    } else if !rest.starts_with('[') {
                        let (name, after) = field_name(rest);
                        if name.is_empty() {
                            return Err("`..` must be followed by a field name, `*` or `[`".to_owned());
                        }
                        push_member(&mut query, &name);
                        rest = after;
                    }
                }
                '.' => {
                    let (name, after) = field_name(&rest[1..]);
                    match name.as_str() {
                        // `.` alone is the current object.
                        "" => {}
                        "*" => query.push_str("[*]"),
                        _ => push_member(&mut query, &name),
                    }
                    rest = after;
                }
                '[' => {
                    let close = find_unquoted(&rest[1..], ']').ok_or("unclosed `[`")? + 1;
                    query.push_str(&rest[..=close]);
                    rest = &rest[close + 1..];
                }
                other => {
                    return Err(format!("unexpected {other:?}: a path goes on with `.field`, `..field` or `[...]`"));
                }
            }
        }
        Ok(query)
    }

    /// A field name up to the next terminator, as Kubernetes reads it: a backslash escapes the next character.
    fn field_name(text: &str) -> (String, &str) {
        let mut name = String::new();
        let mut chars = text.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => name.extend(chars.next().map(|(_, escaped)| escaped)),
                '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}' => return (name, &text[at..]),
                c if c.is_whitespace() => return (name, &text[at..]),
                c => name.push(c),
            }
        }
        (name, "")
    }

    /// Appends `['name']`, escaped as RFC 9535 single-quoted strings are.
    fn push_member(query: &mut String, name: &str) {
        query.push_str("['");
        for c in name.chars() {
            match c {
                '\'' => query.push_str("\\'"),
                '\\' => query.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(query, "\\u{:04x}", u32::from(c));
                }
                c => query.push(c),
            }
        }
        query.push_str("']");
    }

    /// Byte offset of the first `end` outside quotes and outside nested brackets or parentheses: filters may
    /// hold `}`, `]` or `)` inside string literals and sub-queries.
    fn find_unquoted(text: &str, end: char) -> Option<usize> {
        let mut quote = None;
        let mut escaped = false;
        let mut depth = 0_usize;
        for (at, c) in text.char_indices() {
            if let Some(open) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == open {
                    quote = None;
                }
                continue;
            }
            match c {
                c if c == end && depth == 0 => return Some(at),
                '\'' | '"' => quote = Some(c),
                '[' | '(' => depth += 1,
                ']' | ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    /// pest's errors span several lines; a measurement message should not.
    fn one_line(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::http::{HeaderMap as AxumHeaders, Method as AxumMethod, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{any, get};
    use serde_json::json;
    use serin_api::AnalysisRun;
    use serin_api::analysis_template::Metric;
    use serin_api::metric_provider::{Authentication, BasicAuth, WebMetricHeader, WebMetricMethod};

    use super::json_path::{Match, Template, to_rfc9535};
    use super::*;

    const DOCUMENT: &str = r#"{
        "data": {"ok": true, "rate": 0.95, "count": 3, "status": "green", "nothing": null},
        "items": [{"name": "a", "value": 1}, {"name": "b", "value": 2}],
        "labels": {"app.kubernetes.io/name": "shop", "zeta": 1, "alpha": {"z": 1, "b": 2}}
    }"#;

    /// A local server: JSON, text, empty, failing, slow, and an echo of what it received.
    async fn serve() -> SocketAddr {
        async fn echo(method: AxumMethod, headers: AxumHeaders, body: String) -> impl IntoResponse {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            axum::Json(json!({
                "method": method.as_str(),
                "contentType": header("content-type"),
                "authorization": header("authorization"),
                "tenant": header("x-tenant"),
                "body": body,
            }))
        }
        let app = Router::new()
            .route("/json", get(|| async { ([("content-type", "application/json")], DOCUMENT) }))
            .route("/text", get(|| async { "all good" }))
            .route("/empty", get(|| async { "" }))
            .route("/number", get(|| async { "42" }))
            .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, r#"{"ok": false}"#) }))
            .route("/redirect", get(|| async { (StatusCode::MULTIPLE_CHOICES, "choose") }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/echo", any(echo));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        addr
    }

    fn metric(addr: SocketAddr, path: &str) -> WebMetric {
        WebMetric { url: format!("http://{addr}{path}"), ..WebMetric::default() }
    }

    async fn measure(web: &WebMetric) -> Result<MetricValue, ProviderError> {
        let clients = HttpClients::new().expect("clients");
        let provider = WebProvider::new(web, &clients)?;
        let run = AnalysisRun::default();
        let metric = Metric { name: "web-test".to_owned(), ..Metric::default() };
        let cx = MeasureContext { run: &run, metric: &metric, now: jiff::Timestamp::UNIX_EPOCH };
        match provider.run(cx).await? {
            Reading::Value { value, metadata } => {
                assert!(metadata.is_empty());
                Ok(value)
            }
            other => panic!("a web measurement is a value, got {other:?}"),
        }
    }

    fn with_path(mut web: WebMetric, path: &str) -> WebMetric {
        web.json_path = Some(path.to_owned());
        web
    }

    fn json_value(json: &serde_json::Value) -> MetricValue {
        MetricValue::from(json)
    }

    #[tokio::test]
    async fn json_body_at_the_default_path_is_the_whole_document_with_sorted_keys() {
        let addr = serve().await;
        let value = measure(&metric(addr, "/json")).await.expect("measured");
        let MetricValue::Map(entries) = &value else { panic!("an object, got {value:?}") };
        let keys: Vec<_> = entries.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["data", "items", "labels"]);
        assert!(value.to_string().contains(r#""labels":{"alpha":{"b":2,"z":1},"app.kubernetes.io/name":"shop""#));
        assert!(value.to_string().starts_with(r#"{"data":{"count":3,"nothing":null,"ok":true,"rate":0.95"#));
    }

    #[tokio::test]
    async fn json_path_selects_values_of_every_json_type() {
        let addr = serve().await;
        let web = metric(addr, "/json");
        let cases = [
            ("{$.data.ok}", MetricValue::Bool(true)),
            ("{.data.rate}", MetricValue::Float(0.95)),
            ("{$.data.count}", MetricValue::Float(3.0)),
            ("{$.data.status}", MetricValue::String("green".to_owned())),
            ("{$.data.nothing}", MetricValue::Nil),
            ("{$.items[1].value}", MetricValue::Float(2.0)),
            ("{$.items[*].name}", MetricValue::String("a".to_owned())),
            (r#"{$.items[?(@.name=="b")].value}"#, MetricValue::Float(2.0)),
            (r"{.labels.app\.kubernetes\.io/name}", MetricValue::String("shop".to_owned())),
            ("{$.items[-1:].name}", MetricValue::String("b".to_owned())),
        ];
        for (path, expected) in cases {
            let value = measure(&with_path(web.clone(), path)).await.expect(path);
            assert_eq!(value, expected, "{path}");
        }
        let list = measure(&with_path(web.clone(), "{$.items}")).await.expect("list");
        assert_eq!(list.to_string(), r#"[{"name":"a","value":1},{"name":"b","value":2}]"#);
        let object = measure(&with_path(web, "{$.labels.alpha}")).await.expect("object");
        assert_eq!(object, json_value(&json!({"b": 2, "z": 1})));
    }

    #[tokio::test]
    async fn a_path_matching_nothing_is_an_error() {
        let addr = serve().await;
        let error = measure(&with_path(metric(addr, "/json"), "{$.data.missing}")).await.expect_err("no such field");
        assert!(error.0.starts_with("Could not find JSONPath in body"), "{error}");
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_the_value_as_text() {
        let addr = serve().await;
        let text = measure(&with_path(metric(addr, "/text"), "{$.data.ok}")).await.expect("text");
        assert_eq!(text, MetricValue::String("all good".to_owned()));
        let empty = measure(&metric(addr, "/empty")).await.expect("empty body");
        assert_eq!(empty, MetricValue::String(String::new()));
        // A bare JSON number is JSON: a float, as Go decodes it.
        assert_eq!(measure(&metric(addr, "/number")).await, Ok(MetricValue::Float(42.0)));
    }

    #[tokio::test]
    async fn a_status_outside_2xx_is_an_error_naming_the_code() {
        let addr = serve().await;
        let error = measure(&metric(addr, "/fail")).await.expect_err("500");
        assert_eq!(error.0, "received non 2xx response code: 500");
        let error = measure(&metric(addr, "/redirect")).await.expect_err("300");
        assert_eq!(error.0, "received non 2xx response code: 300");
    }

    #[tokio::test]
    async fn a_slow_response_times_out() {
        let addr = serve().await;
        let web = WebMetric { timeout_seconds: Some(1), ..metric(addr, "/slow") };
        let started = std::time::Instant::now();
        let error = measure(&web).await.expect_err("timed out");
        assert_eq!(error.0, "request timed out after 1s");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn get_is_the_default_method_and_sends_headers() {
        let addr = serve().await;
        let web =
            WebMetric { headers: vec![WebMetricHeader { key: "X-Tenant".to_owned(), value: "blue".to_owned() }], ..metric(addr, "/echo") };
        let echoed = measure(&web).await.expect("echo");
        let expected = json!({"authorization": null, "body": "", "contentType": null, "method": "GET", "tenant": "blue"});
        assert_eq!(echoed, json_value(&expected));
    }

    #[tokio::test]
    async fn post_sends_the_text_body_as_given() {
        let addr = serve().await;
        let web = WebMetric {
            method: Some(WebMetricMethod::Post),
            body: Some("service=shop".to_owned()),
            json_path: Some("{$.body}".to_owned()),
            ..metric(addr, "/echo")
        };
        assert_eq!(measure(&web).await, Ok(MetricValue::String("service=shop".to_owned())));
        let content_type = measure(&with_path(web, "{$.contentType}")).await;
        assert_eq!(content_type, Ok(MetricValue::Nil));
    }

    #[tokio::test]
    async fn json_body_is_serialised_with_a_json_content_type_unless_one_is_set() {
        let addr = serve().await;
        let web = WebMetric {
            method: Some(WebMetricMethod::Put),
            json_body: Some(json!({"service": "shop", "window": 5})),
            ..metric(addr, "/echo")
        };
        let echoed = measure(&web).await.expect("echo");
        let MetricValue::Map(entries) = echoed else { panic!("an object") };
        let field = |name: &str| entries.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        assert_eq!(field("method"), Some(MetricValue::String("PUT".to_owned())));
        assert_eq!(field("body"), Some(MetricValue::String(r#"{"service":"shop","window":5}"#.to_owned())));
        assert_eq!(field("contentType"), Some(MetricValue::String("application/json".to_owned())));

        let custom = WebMetric {
            headers: vec![WebMetricHeader { key: "content-type".to_owned(), value: "application/vnd+json".to_owned() }],
            json_path: Some("{$.contentType}".to_owned()),
            ..web
        };
        assert_eq!(measure(&custom).await, Ok(MetricValue::String("application/vnd+json".to_owned())));
    }

    #[tokio::test]
    async fn basic_auth_is_sent_as_an_authorization_header() {
        let addr = serve().await;
        let web = WebMetric {
            authentication: Some(Authentication {
                basic_auth: Some(BasicAuth { username: Some("user".to_owned()), password: Some("pass".to_owned()) }),
                ..Authentication::default()
            }),
            json_path: Some("{$.authorization}".to_owned()),
            ..metric(addr, "/echo")
        };
        assert_eq!(measure(&web).await, Ok(MetricValue::String("Basic dXNlcjpwYXNz".to_owned())));
    }

    #[tokio::test]
    async fn connection_errors_do_not_reveal_the_url() {
        // Port 9 (discard) on localhost is closed on test machines; the query string stands in for a secret.
        let web = WebMetric { url: "http://127.0.0.1:9/?token=s3cret".to_owned(), ..WebMetric::default() };
        let error = measure(&web).await.expect_err("connection refused");
        assert!(!error.0.contains("s3cret") && !error.0.contains("127.0.0.1"), "{error}");
        assert!(error.0.starts_with("could not connect: "), "{error}");
    }

    #[test]
    fn invalid_metrics_are_rejected_before_any_request() {
        let clients = HttpClients::new().expect("clients");
        let base = WebMetric { url: "http://metrics.local/check".to_owned(), ..WebMetric::default() };
        let reject = |web: WebMetric| WebProvider::new(&web, &clients).expect_err("invalid").0;

        let both =
            WebMetric { method: Some(WebMetricMethod::Post), body: Some("a".to_owned()), json_body: Some(json!({})), ..base.clone() };
        assert!(reject(both).contains("not both"));
        assert!(reject(WebMetric { body: Some("a".to_owned()), ..base.clone() }).contains("POST or PUT"));
        assert!(reject(WebMetric { json_body: Some(json!(1)), ..base.clone() }).contains("POST or PUT"));
        let bad_url = reject(WebMetric { url: "not a url?secret=1".to_owned(), ..base.clone() });
        assert!(bad_url.contains("not a valid URL") && !bad_url.contains("secret"), "{bad_url}");
        assert_eq!(reject(WebMetric { url: "bad://url.com".to_owned(), ..base.clone() }), r#"unsupported protocol scheme "bad""#);
        assert!(reject(with_path(base.clone(), "{$.a")).contains("unclosed"));
        assert!(reject(with_path(base.clone(), "{range .items[*]}{.name}{end}")).contains("range"));
        let method = WebMetric { method: Some(WebMetricMethod::from("GE T")), ..base.clone() };
        assert!(reject(method).contains("not a valid HTTP method"));

        // An empty body is no body, and an empty method is GET, as in Argo.
        let empty = WebMetric { body: Some(String::new()), method: Some(WebMetricMethod::from("")), ..base };
        assert!(WebProvider::new(&empty, &clients).is_ok());
    }

    #[test]
    fn debug_output_hides_the_request() {
        let clients = HttpClients::new().expect("clients");
        let web = WebMetric {
            url: "https://metrics.local/?token=s3cret".to_owned(),
            headers: vec![WebMetricHeader { key: "Authorization".to_owned(), value: "Bearer s3cret".to_owned() }],
            ..WebMetric::default()
        };
        let provider = WebProvider::new(&web, &clients).expect("valid");
        assert!(!format!("{provider:?}").contains("s3cret"));
    }

    #[test]
    fn kubernetes_paths_translate_to_rfc_9535() {
        let cases = [
            ("$", "$"),
            ("@", "$"),
            (".", "$"),
            ("$.data.ok", "$['data']['ok']"),
            (".items[0].value", "$['items'][0]['value']"),
            (".items[*].name", "$['items'][*]['name']"),
            (".items.*", "$['items'][*]"),
            ("..name", "$..['name']"),
            ("..[0]", "$..[0]"),
            (r"$.labels.app\.kubernetes\.io/name", "$['labels']['app.kubernetes.io/name']"),
            (".a-b.it's", r"$['a-b']['it\'s']"),
            (r#".items[?(@.name=="]")].value"#, r#"$['items'][?(@.name=="]")]['value']"#),
            ("$.items[1:3]", "$['items'][1:3]"),
        ];
        for (path, expected) in cases {
            assert_eq!(to_rfc9535(path).as_deref(), Ok(expected), "{path}");
        }
        assert!(to_rfc9535("items").is_err());
        assert!(to_rfc9535(".items[0").is_err());
    }

    #[test]
    fn template_text_outside_braces_is_literal() {
        let document = json!({"a": 1});
        let first = |template: &str| {
            let parsed = Template::parse(template).expect(template);
            parsed.first_value(&document).expect(template).map(|found| match found {
                Match::Text(text) => MetricValue::String(text.to_owned()),
                Match::Json(value) => MetricValue::from(value),
            })
        };
        // Kubernetes templates need braces: without them the path is plain text, and Argo's result is that text.
        assert_eq!(first("$.a"), Some(MetricValue::String("$.a".to_owned())));
        assert_eq!(first("{.a}"), Some(MetricValue::Float(1.0)));
        assert_eq!(first("{.missing}{.a}"), Some(MetricValue::Float(1.0)));
        assert_eq!(first(r#"{"quoted"}{.a}"#), Some(MetricValue::String("quoted".to_owned())));
        assert_eq!(first("{.missing}"), None);
    }
}

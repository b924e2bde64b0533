//! The HTTP clients of the web and prometheus providers, and the request pieces both build the same way.
//!
//! [`HttpClients`] is built once at startup and cloned into every provider: a `reqwest::Client` is a handle to a
//! shared connection pool, so cloning is cheap and connections are reused across measurements. There are two
//! clients, because certificate checking is a client setting: one verifies TLS certificates, the other accepts any
//! certificate for metrics that set `insecure: true`. Timeouts differ per metric, so they are set on each request.
//!
//! Provider requests carry substituted secrets (in the URL, headers, body and credentials). Nothing here puts a URL,
//! a header value or a body into an error message, and `describe_error` leaves out the URL reqwest would print.

use std::error::Error as _;
use std::sync::Once;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serin_api::metric_provider::{Authentication, WebMetricHeader};

use super::ProviderError;

/// Sent as `User-Agent`, so a metrics backend can tell Serin's requests apart.
const USER_AGENT: &str = concat!("serin-controller/", env!("CARGO_PKG_VERSION"));

/// The provider HTTP clients: one verifying TLS certificates, one not. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClients {
    verified: reqwest::Client,
    insecure: reqwest::Client,
}

// === impl HttpClients ===

impl HttpClients {
    /// Builds both clients, first making rustls's ring provider the process default if none is.
    pub fn new() -> Result<Self, ProviderError> {
        install_crypto_provider();
        let verified = builder().build().map_err(|e| build_failed(&e))?;
        let insecure = builder().tls_danger_accept_invalid_certs(true).build().map_err(|e| build_failed(&e))?;
        Ok(Self { verified, insecure })
    }

    /// The client for a metric: the one that skips certificate verification when `insecure` is set.
    pub fn client(&self, insecure: bool) -> &reqwest::Client {
        if insecure { &self.insecure } else { &self.verified }
    }
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(USER_AGENT)
}

/// reqwest is built without a bundled crypto provider (`rustls-no-provider`): it uses the process default and
/// panics when there is none. ring is the provider kube already uses, so the process keeps one TLS stack.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means a default is already installed (by kube or a test); that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The metric's headers applied like Go's `Header.Set`, as Argo does: names are case-insensitive and a later
/// header replaces an earlier one of the same name. Values are marked sensitive so they never show in `Debug`.
pub(crate) fn header_map(headers: &[WebMetricHeader]) -> Result<HeaderMap, ProviderError> {
    let mut map = HeaderMap::new();
    for header in headers {
        let name = HeaderName::from_bytes(header.key.as_bytes())
            .map_err(|_| ProviderError::new(format!("header {:?} is not a valid HTTP header name", header.key)))?;
        let mut value = HeaderValue::from_bytes(header.value.as_bytes())
            .map_err(|_| ProviderError::new(format!("the value of header {name} is not valid in HTTP")))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// Adds the metric's `authentication` to `headers`: basic auth becomes the `Authorization` header (replacing one
/// set in `headers`). `oauth2` and `sigv4` are refused rather than silently sending unauthenticated requests.
pub(crate) fn apply_authentication(headers: &mut HeaderMap, authentication: Option<&Authentication>) -> Result<(), ProviderError> {
    let Some(authentication) = authentication else { return Ok(()) };
    if authentication.oauth2.is_some() {
        return Err(ProviderError::new("authentication.oauth2 is not supported by Serin yet"));
    }
    if authentication.sigv4.is_some() {
        return Err(ProviderError::new("authentication.sigv4 is not supported by Serin yet"));
    }
    if let Some(basic) = &authentication.basic_auth {
        let username = basic.username.as_deref().unwrap_or_default();
        let password = basic.password.as_deref().unwrap_or_default();
        if !username.is_empty() || !password.is_empty() {
            headers.insert(AUTHORIZATION, basic_authorization(username, password)?);
        }
    }
    Ok(())
}

/// `Basic base64(username:password)`, marked sensitive.
fn basic_authorization(username: &str, password: &str) -> Result<HeaderValue, ProviderError> {
    let credentials = base64(format!("{username}:{password}").as_bytes());
    let mut value = HeaderValue::try_from(format!("Basic {credentials}"))
        .map_err(|_| ProviderError::new("authentication.basicAuth is not valid in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Standard base64 with padding (RFC 4648 §4), for basic auth; too small a need for a dependency.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let group = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for position in 0..4 {
            // A chunk of n bytes fills n + 1 characters; the rest are padding.
            if position <= chunk.len() {
                let index = (group >> (18 - 6 * position)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A failed request, described without its URL (reqwest's own message prints it, and it may carry credentials):
/// what failed and its causes, e.g. `could not connect: client error (Connect): tcp connect error: Connection
/// refused (os error 111)`.
pub(crate) fn describe_error(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("request timed out after {}", seconds(timeout));
    }
    let what = if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "could not read the response body"
    } else if error.is_redirect() {
        "could not follow a redirect"
    } else if error.is_builder() {
        "could not build the request"
    } else if error.is_request() {
        "error sending request"
    } else {
        "request failed"
    };
    with_causes(what.to_owned(), error.source())
}

/// `30s`, as a timeout is written in a metric.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

fn build_failed(error: &reqwest::Error) -> ProviderError {
    ProviderError::new(format!("could not build the HTTP client: {}", describe_error(error, Duration::ZERO)))
}

/// Appends each cause once (hyper sometimes repeats a cause's text in its wrapper).
fn with_causes(mut message: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use serin_api::metric_provider::{BasicAuth, OAuth2Config};

    use super::*;

    fn header(key: &str, value: &str) -> WebMetricHeader {
        WebMetricHeader { key: key.to_owned(), value: value.to_owned() }
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn later_headers_replace_earlier_ones_case_insensitively() {
        let map = header_map(&[header("X-Scope-OrgID", "a"), header("x-scope-orgid", "b"), header("Accept", "c")]).expect("valid headers");
        assert_eq!(map.len(), 2);
        assert_eq!(map["x-scope-orgid"], "b");
        assert!(map["x-scope-orgid"].is_sensitive());
    }

    #[test]
    fn invalid_headers_are_named_without_their_value() {
        let error = header_map(&[header("bad name", "v")]).expect_err("space in name");
        assert!(error.0.contains("bad name"), "{error}");
        let error = header_map(&[header("Authorization", "Bearer s3cret\n")]).expect_err("newline in value");
        assert!(error.0.contains("authorization") && !error.0.contains("s3cret"), "{error}");
    }

    #[test]
    fn basic_auth_replaces_an_authorization_header() {
        let mut headers = header_map(&[header("Authorization", "Bearer x")]).expect("valid headers");
        let authentication = Authentication {
            basic_auth: Some(BasicAuth { username: Some("Aladdin".into()), password: Some("open sesame".into()) }),
            ..Authentication::default()
        };
        apply_authentication(&mut headers, Some(&authentication)).expect("basic auth");
        assert_eq!(headers.get_all(AUTHORIZATION).iter().count(), 1);
        assert_eq!(headers[AUTHORIZATION], "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(headers[AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn unsupported_authentication_is_refused() {
        let authentication = Authentication { oauth2: Some(OAuth2Config::default()), ..Authentication::default() };
        let error = apply_authentication(&mut HeaderMap::new(), Some(&authentication)).expect_err("oauth2");
        assert!(error.0.contains("oauth2"), "{error}");
        let mut headers = HeaderMap::new();
        apply_authentication(&mut headers, Some(&Authentication::default())).expect("nothing set");
        assert!(headers.is_empty());
    }

    #[test]
    fn clients_build_and_pick_by_insecure() {
        let clients = HttpClients::new().expect("clients build");
        // Building twice must not trip over the already installed crypto provider.
        let again = HttpClients::new().expect("clients build again");
        assert!(!std::ptr::eq(clients.client(true), clients.client(false)));
        drop(again);
    }
}

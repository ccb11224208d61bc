//! The OIDC client-credentials token provider (KIP-768, RFC 6749 section 4.4): the client's id
//! and secret (HTTP Basic) and scope are posted to `sasl.oauthbearer.token.endpoint.url`, and
//! the JWT in `access_token` is the bearer token. Needs the `oauth` cargo feature.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::oauth::{extensions, from_jwt};
use crate::config::{OAuthBearerConfig, OAuthBearerTokenProvider, Password, TokenFuture};
use crate::error::ConfigError;

/// Bounds each token request (Java leaves `sasl.login.read.timeout.ms` unset; a stuck endpoint
/// must not hold a connection attempt forever).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct ClientCredentials {
    url: String,
    client_id: String,
    client_secret: Password,
    scope: Option<String>,
    sub_claim: String,
    extensions: BTreeMap<String, String>,
    http: std::sync::OnceLock<reqwest::Client>,
}

impl ClientCredentials {
    /// Reads `clientId`, `clientSecret`, `scope` and `extension_*` from the JAAS options.
    ///
    /// Errors: a [`ConfigError`] on `sasl.jaas.config` when the id or secret is missing, or on
    /// the URL when it is not http(s).
    pub(super) fn new(
        url: &str,
        mut options: BTreeMap<String, String>,
        cfg: &OAuthBearerConfig,
    ) -> Result<ClientCredentials, ConfigError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::new(
                "sasl.oauthbearer.token.endpoint.url",
                "must be an https://, http:// or file: URL",
            ));
        }
        let mut take = |k: &str| {
            options.remove(k).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    "sasl.jaas.config",
                    format!("OAuthBearerLoginModule needs `{k}` for the token endpoint"),
                )
            })
        };
        let client_id = take("clientId")?;
        let client_secret = Password::new(take("clientSecret")?);
        let scope = options.remove("scope").filter(|s| !s.is_empty());
        Ok(ClientCredentials {
            url: url.to_owned(),
            client_id,
            client_secret,
            scope,
            sub_claim: cfg.sub_claim_name.clone(),
            extensions: extensions(&options, "extension_")?,
            http: std::sync::OnceLock::new(),
        })
    }

    fn http(&self) -> Result<&reqwest::Client, String> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(self.http.get_or_init(|| client))
    }

    async fn fetch(&self) -> Result<crate::config::OAuthBearerToken, String> {
        // RFC 6749 2.3.1: id and secret are form-encoded before the Basic encoding.
        let basic = STANDARD.encode(format!(
            "{}:{}",
            form_encode(&self.client_id),
            form_encode(self.client_secret.expose())
        ));
        let mut body = "grant_type=client_credentials".to_owned();
        if let Some(scope) = &self.scope {
            body.push_str("&scope=");
            body.push_str(&form_encode(scope));
        }
        let resp = self
            .http()?
            .post(&self.url)
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| format!("token endpoint {}: {e}", self.url))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("token endpoint {}: {e}", self.url))?;
        if !status.is_success() {
            let shown: String = text.chars().take(200).collect();
            return Err(format!(
                "token endpoint {} answered {status}: {shown}",
                self.url
            ));
        }
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| format!("token endpoint {} answered with no JSON", self.url))?;
        let token = json
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("token endpoint {} answered with no access_token", self.url))?;
        from_jwt(token.to_owned(), &self.sub_claim, self.extensions.clone())
    }
}

impl OAuthBearerTokenProvider for ClientCredentials {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move { Ok(self.fetch().await?) })
    }
}

/// `application/x-www-form-urlencoded` encoding of `s` (as Java's `URLEncoder`).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_encoding_matches_java() {
        assert_eq!(
            super::form_encode("a b+c/é*_.-~"),
            "a+b%2Bc%2F%C3%A9*_.-%7E"
        );
    }
}

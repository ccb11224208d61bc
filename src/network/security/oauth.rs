//! SASL OAUTHBEARER (RFC 7628, KIP-255): where tokens come from (the application's provider, an
//! OIDC token endpoint, a token file, or unsecured tokens for tests), when they are refreshed
//! (`sasl.login.refresh.*`), and the client's message carrying one.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::time::Instant;

use crate::config::{
    OAuthBearerConfig, OAuthBearerToken, OAuthBearerTokenProvider, Password, SaslMechanism,
    SecurityConfig, TokenFuture,
};
use crate::error::ConfigError;

const JAAS: &str = "sasl.jaas.config";

/// The last token and when to ask for the next one, shared by every connection of a client.
pub(crate) struct TokenCache {
    provider: Arc<dyn OAuthBearerTokenProvider>,
    config: OAuthBearerConfig,
    last: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    token: Arc<OAuthBearerToken>,
    refresh_at: Instant,
    expires_at: Instant,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache(..)")
    }
}

impl TokenCache {
    pub(crate) fn new(
        provider: Arc<dyn OAuthBearerTokenProvider>,
        config: OAuthBearerConfig,
    ) -> Self {
        TokenCache {
            provider,
            config,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The last token while it is not due for refresh, else a new one. A failed refresh keeps
    /// the last token while it lives (the next call asks again).
    ///
    /// Errors: the provider's message when there is no live token to fall back on.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call leaves the last token in place.
    pub(crate) async fn token(&self) -> Result<Arc<OAuthBearerToken>, String> {
        let mut last = self.last.lock().await;
        let now = Instant::now();
        if let Some(c) = last.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(c.token.clone());
        }
        match self.provider.token().await {
            Ok(token) => {
                let lifetime = token.lifetime;
                let refresh = self.config.refresh_after(lifetime, fastrand::f64());
                let token = Arc::new(token);
                tracing::debug!(
                    principal = %token.principal,
                    lifetime_ms = lifetime.as_millis() as u64,
                    refresh_in_ms = refresh.as_millis() as u64,
                    "OAUTHBEARER token obtained"
                );
                *last = Some(Cached {
                    token: token.clone(),
                    refresh_at: now + refresh,
                    expires_at: now + lifetime,
                });
                Ok(token)
            }
            Err(e) => match last.as_ref().filter(|c| now < c.expires_at) {
                Some(c) => {
                    tracing::warn!(error = %e, "OAUTHBEARER token refresh failed; the last token is still valid");
                    Ok(c.token.clone())
                }
                None => Err(format!("no OAUTHBEARER token: {e}")),
            },
        }
    }
}

/// The client's first (and only) message (RFC 7628 section 3.1): GS2 header, the bearer token
/// and the extensions, separated by 0x01.
pub(super) fn client_first(token: &OAuthBearerToken) -> Vec<u8> {
    let mut out = format!("n,,\x01auth=Bearer {}", token.value.expose());
    for (k, v) in &token.extensions {
        out.push('\x01');
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out.push_str("\x01\x01");
    out.into_bytes()
}

/// Where a client's tokens come from, as its config says.
pub(super) enum Source {
    Provider(Arc<dyn OAuthBearerTokenProvider>),
    Unsecured(Unsecured),
    File(TokenFile),
    #[cfg(feature = "oauth")]
    Oidc(super::oidc::ClientCredentials),
}

impl Source {
    /// The source `cfg` names, with its options checked.
    ///
    /// Errors: a [`ConfigError`] naming the key at fault (never quoting a secret).
    pub(super) fn from_config(cfg: &SecurityConfig) -> Result<Source, ConfigError> {
        let o = &cfg.oauthbearer;
        if let Some(p) = &o.token_provider {
            return Ok(Source::Provider(p.0.clone()));
        }
        let options = cfg.jaas_options(SaslMechanism::OAuthBearer)?;
        let url_key = "sasl.oauthbearer.token.endpoint.url";
        if let Some(url) = &o.token_endpoint_url {
            if let Some(path) = url.strip_prefix("file:") {
                let path = path.strip_prefix("//").unwrap_or(path).to_owned();
                let sub = o.sub_claim_name.clone();
                return Ok(Source::File(TokenFile { path, sub }));
            }
            #[cfg(feature = "oauth")]
            return super::oidc::ClientCredentials::new(url, options.unwrap_or_default(), o)
                .map(Source::Oidc);
            #[cfg(not(feature = "oauth"))]
            return Err(ConfigError::new(
                url_key,
                "an OAuth token endpoint needs the `oauth` cargo feature (an HTTP client)",
            ));
        }
        let _ = url_key;
        let options = options.ok_or_else(|| {
            ConfigError::new(
                JAAS,
                "required for OAUTHBEARER without sasl.oauthbearer.token.endpoint.url or a token \
                 provider: e.g. `org.apache.kafka.common.security.oauthbearer.\
                 OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";` \
                 (unsecured tokens, for tests)",
            )
        })?;
        Unsecured::new(options).map(Source::Unsecured)
    }

    pub(super) fn into_provider(self) -> Arc<dyn OAuthBearerTokenProvider> {
        match self {
            Source::Provider(p) => p,
            Source::Unsecured(u) => Arc::new(u),
            Source::File(f) => Arc::new(f),
            #[cfg(feature = "oauth")]
            Source::Oidc(o) => Arc::new(o),
        }
    }
}

/// Checks SASL extension names and values as RFC 7628 and Kafka do.
pub(super) fn extensions(
    options: &BTreeMap<String, String>,
    prefix: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (k, v) in options {
        let Some(name) = k.strip_prefix(prefix) else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic()) || name == "auth" {
            return Err(ConfigError::new(
                JAAS,
                format!("extension name `{name}` must be letters only, and not `auth`"),
            ));
        }
        if v.is_empty()
            || !v
                .chars()
                .all(|c| matches!(c, '\x21'..='\x7e' | ' ' | '\t' | '\r' | '\n'))
        {
            return Err(ConfigError::new(
                JAAS,
                format!("extension `{name}` must be printable ASCII"),
            ));
        }
        out.insert(name.to_owned(), v.clone());
    }
    Ok(out)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Java's unsecured login (OAuthBearerUnsecuredLoginCallbackHandler): a JWS with `alg` none
/// whose claims come from `unsecuredLogin*` options. For tests and development only: any
/// broker that checks signatures refuses it.
pub(super) struct Unsecured {
    claims: serde_json::Map<String, serde_json::Value>,
    principal: String,
    lifetime: Duration,
    extensions: BTreeMap<String, String>,
}

impl Unsecured {
    fn new(options: BTreeMap<String, String>) -> Result<Unsecured, ConfigError> {
        let get =
            |k: &str, default: &str| options.get(k).cloned().unwrap_or_else(|| default.into());
        let principal_claim = get("unsecuredLoginPrincipalClaimName", "sub");
        let lifetime_text = get("unsecuredLoginLifetimeSeconds", "3600");
        let lifetime = lifetime_text.trim().parse::<u64>().map_err(|_| {
            ConfigError::new(
                JAAS,
                "unsecuredLoginLifetimeSeconds must be a whole number of seconds",
            )
        })?;
        let mut claims = serde_json::Map::new();
        for (k, v) in &options {
            let (name, value) = if let Some(n) = k.strip_prefix("unsecuredLoginStringClaim_") {
                (n, serde_json::Value::String(v.clone()))
            } else if let Some(n) = k.strip_prefix("unsecuredLoginNumberClaim_") {
                let num: serde_json::Number = v
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::new(JAAS, format!("claim `{n}` is not a number")))?;
                (n, serde_json::Value::Number(num))
            } else if let Some(n) = k.strip_prefix("unsecuredLoginListClaim_") {
                // The first character is the separator, as in Java.
                let mut chars = v.chars();
                let items = match chars.next() {
                    Some(sep) => chars
                        .as_str()
                        .split(sep)
                        .filter(|s| !s.is_empty())
                        .map(|s| serde_json::Value::String(s.to_owned()))
                        .collect(),
                    None => Vec::new(),
                };
                (n, serde_json::Value::Array(items))
            } else {
                continue;
            };
            if matches!(name, "iat" | "exp") {
                return Err(ConfigError::new(
                    JAAS,
                    format!("claim `{name}` is set by the client"),
                ));
            }
            claims.insert(name.to_owned(), value);
        }
        let principal = match claims.get(&principal_claim) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(ConfigError::new(
                    JAAS,
                    format!(
                        "OAuthBearerLoginModule needs unsecuredLoginStringClaim_{principal_claim} \
                         (the principal), or sasl.oauthbearer.token.endpoint.url"
                    ),
                ));
            }
        };
        Ok(Unsecured {
            claims,
            principal,
            lifetime: Duration::from_secs(lifetime),
            extensions: extensions(&options, "unsecuredLoginExtension_")?,
        })
    }

    fn mint(&self) -> OAuthBearerToken {
        let now = now_secs();
        let mut claims = self.claims.clone();
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + self.lifetime.as_secs()).into());
        let body = serde_json::Value::Object(claims).to_string();
        let jws = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(body)
        );
        OAuthBearerToken {
            value: Password::new(jws),
            lifetime: self.lifetime,
            principal: self.principal.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

impl OAuthBearerTokenProvider for Unsecured {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.mint();
        Box::pin(async move { Ok(token) })
    }
}

/// A token read from a file (a `file:` token endpoint URL), read again at each refresh.
pub(super) struct TokenFile {
    path: String,
    sub: String,
}

impl OAuthBearerTokenProvider for TokenFile {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            // A token file is small: read inline rather than pull in tokio's `fs`.
            let text = std::fs::read_to_string(&self.path)
                .map_err(|e| format!("cannot read token file {}: {e}", self.path))?;
            let jwt = text.trim().to_owned();
            Ok(from_jwt(jwt, &self.sub, BTreeMap::new())?)
        })
    }
}

/// A token from a JWT, its lifetime and principal read from its claims (`exp`, `sub_claim`).
/// The signature is the broker's to check.
///
/// Errors: not a JWT, no `exp` or principal claim, or already expired.
pub(super) fn from_jwt(
    jwt: String,
    sub_claim: &str,
    extensions: BTreeMap<String, String>,
) -> Result<OAuthBearerToken, String> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or("the access token is not a JWT (no payload)")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the access token's payload is not base64url")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| "the access token's payload is not JSON")?;
    let exp = claims
        .get("exp")
        .and_then(serde_json::Value::as_f64)
        .ok_or("the access token has no numeric `exp` claim")?;
    let principal = claims
        .get(sub_claim)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("the access token has no `{sub_claim}` claim"))?
        .to_owned();
    let left = exp - now_secs() as f64;
    if left <= 0.0 {
        return Err("the access token has expired".into());
    }
    Ok(OAuthBearerToken {
        value: Password::new(jwt),
        lifetime: Duration::from_secs_f64(left),
        principal,
        extensions,
    })
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;

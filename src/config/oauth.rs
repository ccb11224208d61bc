//! OAUTHBEARER settings (KIP-255, KIP-768: `sasl.oauthbearer.*`, `sasl.login.refresh.*`) and
//! the token provider trait an application implements to bring its own tokens.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::Props;
use super::security::Password;
use crate::error::ConfigError;

/// An OAuth 2 bearer token for SASL OAUTHBEARER, as a [`OAuthBearerTokenProvider`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The token sent to the broker (a JWT for Kafka's validators). Secret: never printed.
    pub value: Password,
    /// How long from now the token stays valid: it is refreshed before this runs out, as the
    /// `sasl.login.refresh.*` settings say.
    pub lifetime: Duration,
    /// The principal the token names (for logs; the broker reads its own from the token).
    pub principal: String,
    /// SASL extensions sent beside the token (RFC 7628 key-value pairs; names are letters
    /// only and `auth` is reserved).
    pub extensions: BTreeMap<String, String>,
}

/// The error a token provider reports.
pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// What [`OAuthBearerTokenProvider::token`] returns.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<OAuthBearerToken, TokenError>> + Send + 'a>>;

/// A source of OAUTHBEARER tokens, asked whenever a connection authenticates (or
/// re-authenticates) and the last token is due for refresh. The client keeps the last token and
/// asks again once `sasl.login.refresh.window.factor` of its lifetime has passed.
///
/// Errors: a failure fails the authentication with [`crate::Error::AuthenticationFailed`]
/// naming it, unless the last token has not expired yet (it is then used, and the provider is
/// asked again on the next authentication). Messages must not hold secrets.
pub trait OAuthBearerTokenProvider: Send + Sync + 'static {
    /// A fresh token.
    ///
    /// # Cancel safety
    /// The future may be dropped (connect timeout, client closed) before it completes.
    fn token(&self) -> TokenFuture<'_>;
}

/// A shared [`OAuthBearerTokenProvider`] for [`OAuthBearerConfig::token_provider`]. Two are
/// equal when they are the same `Arc`.
#[derive(Clone)]
pub struct TokenProvider(pub Arc<dyn OAuthBearerTokenProvider>);

impl TokenProvider {
    /// Wraps `provider`.
    pub fn new(provider: Arc<dyn OAuthBearerTokenProvider>) -> TokenProvider {
        TokenProvider(provider)
    }
}

impl PartialEq for TokenProvider {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TokenProvider {}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenProvider(..)")
    }
}

/// Where OAUTHBEARER tokens come from and when they are refreshed. Read only when
/// `sasl.mechanism` is OAUTHBEARER. The source is, first found: [`token_provider`]; else
/// `sasl.oauthbearer.token.endpoint.url` (OIDC client credentials, with `clientId`,
/// `clientSecret` and optional `scope` from `sasl.jaas.config`; a `file:` URL reads the token
/// from that file); else the unsecured tokens of `sasl.jaas.config`'s
/// `unsecuredLoginStringClaim_sub` (for tests, as Java's default login callback handler).
/// With none of them the config still builds (the provider is set on the built config), and
/// connecting fails with a [`ConfigError`] on `sasl.jaas.config`.
///
/// [`token_provider`]: OAuthBearerConfig::token_provider
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OAuthBearerConfig {
    /// `sasl.oauthbearer.token.endpoint.url` (default unset).
    pub token_endpoint_url: Option<String>,
    /// `sasl.login.callback.handler.class` (default unset): only Java's
    /// `OAuthBearerLoginCallbackHandler` is accepted, meaning the client-credentials provider.
    pub login_callback_handler: Option<String>,
    /// `sasl.oauthbearer.scope.claim.name` (default `scope`).
    pub scope_claim_name: String,
    /// `sasl.oauthbearer.sub.claim.name` (default `sub`): the claim naming the principal.
    pub sub_claim_name: String,
    /// `sasl.login.refresh.window.factor` (default 0.8, 0.5 to 1.0): the share of a token's
    /// lifetime after which it is refreshed.
    pub refresh_window_factor: f64,
    /// `sasl.login.refresh.window.jitter` (default 0.05, 0 to 0.25): random share added.
    pub refresh_window_jitter: f64,
    /// `sasl.login.refresh.min.period.seconds` (default 60 s): the least wait before refreshing.
    pub refresh_min_period: Duration,
    /// `sasl.login.refresh.buffer.seconds` (default 300 s): the least time left at refresh.
    /// This and the minimum period are both ignored when their sum exceeds the lifetime.
    pub refresh_buffer: Duration,
    /// Not a property (default `None`): the application's own token source, used instead of
    /// the endpoint or `sasl.jaas.config`. Set it on the built config; `to_properties` does
    /// not carry it.
    pub token_provider: Option<TokenProvider>,
}

// Factors are parsed from text and compared as written: no NaN can get in.
impl Eq for OAuthBearerConfig {}

/// `sasl.login.callback.handler.class` values that mean the client-credentials provider.
pub(crate) const OIDC_HANDLERS: &[&str] = &[
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
];

fn factor(props: &Props, key: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
    let raw = props.string(key)?;
    match raw.trim().parse::<f64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ConfigError::new(
            key,
            format!("`{raw}` is not a number from {min} to {max}"),
        )),
    }
}

impl OAuthBearerConfig {
    pub(crate) fn from_props(props: &Props) -> Result<OAuthBearerConfig, ConfigError> {
        let handler = props.string("sasl.login.callback.handler.class")?;
        if !handler.is_empty() && !OIDC_HANDLERS.contains(&handler.as_str()) {
            return Err(ConfigError::new(
                "sasl.login.callback.handler.class",
                format!(
                    "`{handler}` is a Java class: only {} is understood (set a token provider \
                     on the config for your own)",
                    OIDC_HANDLERS[0]
                ),
            ));
        }
        Ok(OAuthBearerConfig {
            login_callback_handler: (!handler.is_empty()).then_some(handler),
            token_endpoint_url: props.opt_string("sasl.oauthbearer.token.endpoint.url")?,
            scope_claim_name: props.string("sasl.oauthbearer.scope.claim.name")?,
            sub_claim_name: props.string("sasl.oauthbearer.sub.claim.name")?,
            refresh_window_factor: factor(props, "sasl.login.refresh.window.factor", 0.5, 1.0)?,
            refresh_window_jitter: factor(props, "sasl.login.refresh.window.jitter", 0.0, 0.25)?,
            refresh_min_period: Duration::from_secs(
                props.int("sasl.login.refresh.min.period.seconds")?,
            ),
            refresh_buffer: Duration::from_secs(props.int("sasl.login.refresh.buffer.seconds")?),
            token_provider: None,
        })
    }

    /// When to refresh a token of `lifetime` fetched now, `jitter` drawn from 0..1.
    pub(crate) fn refresh_after(&self, lifetime: Duration, jitter: f64) -> Duration {
        let proposed = lifetime
            .mul_f64(self.refresh_window_factor + self.refresh_window_jitter * jitter)
            .min(lifetime);
        if self.refresh_min_period + self.refresh_buffer > lifetime {
            return proposed;
        }
        proposed.clamp(self.refresh_min_period, lifetime - self.refresh_buffer)
    }

    pub(crate) fn write(&self, out: &mut BTreeMap<String, String>) {
        let pairs = [
            (
                "sasl.login.callback.handler.class",
                self.login_callback_handler.clone().unwrap_or_default(),
            ),
            (
                "sasl.oauthbearer.token.endpoint.url",
                self.token_endpoint_url.clone().unwrap_or_default(),
            ),
            (
                "sasl.oauthbearer.scope.claim.name",
                self.scope_claim_name.clone(),
            ),
            (
                "sasl.oauthbearer.sub.claim.name",
                self.sub_claim_name.clone(),
            ),
            (
                "sasl.login.refresh.window.factor",
                self.refresh_window_factor.to_string(),
            ),
            (
                "sasl.login.refresh.window.jitter",
                self.refresh_window_jitter.to_string(),
            ),
            (
                "sasl.login.refresh.min.period.seconds",
                self.refresh_min_period.as_secs().to_string(),
            ),
            (
                "sasl.login.refresh.buffer.seconds",
                self.refresh_buffer.as_secs().to_string(),
            ),
        ];
        out.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(factor: f64, jitter: f64, min: u64, buffer: u64) -> OAuthBearerConfig {
        OAuthBearerConfig {
            token_endpoint_url: None,
            login_callback_handler: None,
            scope_claim_name: "scope".into(),
            sub_claim_name: "sub".into(),
            refresh_window_factor: factor,
            refresh_window_jitter: jitter,
            refresh_min_period: Duration::from_secs(min),
            refresh_buffer: Duration::from_secs(buffer),
            token_provider: None,
        }
    }

    #[test]
    fn refresh_follows_java_window_min_period_and_buffer() {
        let hour = Duration::from_secs(3600);
        // Java's defaults on a 1 h token: 80 % to 85 % of the lifetime.
        let c = config(0.8, 0.05, 60, 300);
        assert_eq!(c.refresh_after(hour, 0.0), Duration::from_secs(2880));
        assert_eq!(c.refresh_after(hour, 1.0), Duration::from_secs(3060));
        // The buffer moves the refresh earlier: 1 h - 20 min.
        let c = config(0.8, 0.05, 60, 1200);
        assert_eq!(c.refresh_after(hour, 0.0), Duration::from_secs(2400));
        // The minimum period moves it later.
        let c = config(0.5, 0.0, 2000, 60);
        assert_eq!(c.refresh_after(hour, 0.0), Duration::from_secs(2000));
        // Both ignored when they do not fit in the lifetime: the window alone.
        let c = config(0.8, 0.0, 60, 300);
        assert_eq!(
            c.refresh_after(Duration::from_secs(10), 0.0),
            Duration::from_secs(8)
        );
    }
}

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn claims(token: &OAuthBearerToken) -> serde_json::Value {
    let jws = token.value.expose();
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "{jws}");
    assert_eq!(parts[2], "", "unsecured: no signature");
    let header = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
    assert_eq!(header, br#"{"alg":"none"}"#);
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[test]
fn unsecured_token_carries_the_configured_claims() {
    let u = Unsecured::new(options(&[
        ("unsecuredLoginStringClaim_sub", "alice"),
        ("unsecuredLoginNumberClaim_level", "3"),
        ("unsecuredLoginListClaim_scope", ",read,write"),
        ("unsecuredLoginLifetimeSeconds", "120"),
        ("unsecuredLoginExtension_traceId", "t-1"),
    ]))
    .unwrap();
    let t = u.mint();
    assert_eq!(t.principal, "alice");
    assert_eq!(t.lifetime, Duration::from_secs(120));
    let c = claims(&t);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["level"], 3);
    assert_eq!(c["scope"], serde_json::json!(["read", "write"]));
    let iat = c["iat"].as_u64().unwrap();
    assert_eq!(c["exp"].as_u64().unwrap(), iat + 120);
    assert!(iat.abs_diff(now_secs()) <= 2);
    let first = String::from_utf8(client_first(&t)).unwrap();
    assert_eq!(
        first,
        format!(
            "n,,\x01auth=Bearer {}\x01traceId=t-1\x01\x01",
            t.value.expose()
        )
    );
    // The token read back as any JWT gives the same principal and lifetime.
    let back = from_jwt(t.value.expose().to_owned(), "sub", BTreeMap::new()).unwrap();
    assert_eq!(back.principal, "alice");
    assert!(back.lifetime <= Duration::from_secs(121) && back.lifetime > Duration::from_secs(100));
}

#[test]
fn unsecured_options_are_checked() {
    for (opts, why) in [
        (vec![], "unsecuredLoginStringClaim_sub"),
        (
            vec![
                ("unsecuredLoginStringClaim_sub", "a"),
                ("unsecuredLoginNumberClaim_exp", "1"),
            ],
            "set by the client",
        ),
        (
            vec![
                ("unsecuredLoginStringClaim_sub", "a"),
                ("unsecuredLoginExtension_auth", "x"),
            ],
            "not `auth`",
        ),
        (
            vec![
                ("unsecuredLoginStringClaim_sub", "a"),
                ("unsecuredLoginLifetimeSeconds", "x"),
            ],
            "whole number",
        ),
    ] {
        let e = Unsecured::new(options(&opts)).err().expect("refused");
        assert_eq!(e.key, "sasl.jaas.config");
        assert!(e.reason.contains(why), "{e}");
    }
}

/// Tokens of 10 s, one per call, numbered; fails while `failing` is set.
struct Counting {
    calls: AtomicUsize,
    failing: Mutex<bool>,
}

impl OAuthBearerTokenProvider for Counting {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if *self.failing.lock().unwrap() {
                return Err("endpoint down".into());
            }
            Ok(OAuthBearerToken {
                value: Password::new(format!("token-{n}")),
                lifetime: Duration::from_secs(10),
                principal: "alice".into(),
                extensions: BTreeMap::new(),
            })
        })
    }
}

#[tokio::test(start_paused = true)]
async fn token_is_refreshed_after_the_window_and_kept_while_refresh_fails() {
    let provider = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        failing: Mutex::new(false),
    });
    let config = OAuthBearerConfig {
        token_endpoint_url: None,
        login_callback_handler: None,
        scope_claim_name: "scope".into(),
        sub_claim_name: "sub".into(),
        refresh_window_factor: 0.8,
        refresh_window_jitter: 0.0,
        refresh_min_period: Duration::from_secs(60),
        refresh_buffer: Duration::from_secs(300),
        token_provider: None,
    };
    let cache = TokenCache::new(provider.clone(), config);
    let value = |t: Arc<OAuthBearerToken>| t.value.expose().to_owned();
    assert_eq!(value(cache.token().await.unwrap()), "token-0");
    tokio::time::advance(Duration::from_millis(7900)).await;
    assert_eq!(value(cache.token().await.unwrap()), "token-0");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    // 8 s = 0.8 of 10 s: refreshed, 2 s before the first token expires.
    tokio::time::advance(Duration::from_millis(200)).await;
    assert_eq!(value(cache.token().await.unwrap()), "token-1");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    // A failed refresh keeps the live token, and asks again next time.
    *provider.failing.lock().unwrap() = true;
    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(value(cache.token().await.unwrap()), "token-1");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 3);
    // Once it has expired, the failure is reported.
    tokio::time::advance(Duration::from_secs(2)).await;
    let e = cache.token().await.unwrap_err();
    assert!(e.contains("endpoint down"), "{e}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 4);
}

use super::*;
use crate::config::{AdminConfig, ConsumerConfig, ProducerConfig, SecurityProtocol};

const SECRET: &str = "s3cr3t-Pa55";

fn jaas(module: &str, password: &str) -> String {
    format!(
        "org.apache.kafka.common.security.{module} required username=\"alice\" \
         password=\"{password}\";"
    )
}

fn admin(extra: &[(&str, &str)]) -> Result<AdminConfig, ConfigError> {
    let mut props = vec![("bootstrap.servers", "localhost:9092")];
    props.extend_from_slice(extra);
    AdminConfig::from_properties(props)
}

#[test]
fn password_is_hidden() {
    let p = Password::new(SECRET);
    assert_eq!(format!("{p:?}"), "[hidden]");
    assert_eq!(p.to_string(), "[hidden]");
    assert_eq!(p.expose(), SECRET);
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let scram = jaas("scram.ScramLoginModule", SECRET);
    let c = ProducerConfig::builder()
        .bootstrap_servers("h:1")
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.jaas.config", &scram)
        .set("ssl.keystore.password", SECRET)
        .set("ssl.key.password", SECRET)
        .build()
        .unwrap();
    let creds = c.common.security.sasl_credentials().unwrap();
    assert_eq!(creds.username, "alice");
    assert_eq!(creds.password.expose(), SECRET);
    for text in [format!("{c:?}"), format!("{creds:?}"), format!("{c:#?}")] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("[hidden]"), "{text}");
    }
    // Errors about a JAAS config holding the secret never quote it.
    for bad in [
        format!("X required password=\"{SECRET}\""),
        format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{SECRET}\";"
        ),
        jaas("plain.PlainLoginModule", SECRET),
    ] {
        let e = admin(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.jaas.config", &bad),
        ])
        .unwrap_err();
        assert_eq!(e.key, "sasl.jaas.config");
        assert!(!e.to_string().contains(SECRET), "{e}");
    }
}

#[test]
fn sasl_settings() {
    let c = admin(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "plain"),
        ("sasl.jaas.config", &jaas("plain.PlainLoginModule", "pw")),
    ])
    .unwrap();
    assert_eq!(c.common.security_protocol, SecurityProtocol::SaslPlaintext);
    assert_eq!(c.common.security.sasl_mechanism, Some(SaslMechanism::Plain));
    let e = admin(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "sasl.jaas.config");
    assert!(e.reason.contains("PlainLoginModule required"), "{e}");
    let e = admin(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.jaas.config", &jaas("plain.PlainLoginModule", "pw")),
    ])
    .unwrap_err();
    assert!(
        e.reason
            .contains("needs org.apache.kafka.common.security.scram.ScramLoginModule"),
        "{e}"
    );
    // OAUTHBEARER needs a token source: unsecured claims, an endpoint or a provider; the
    // provider is set on the built config, so without the others connecting fails.
    let c = admin(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
    ])
    .unwrap();
    let e = crate::network::security::setup_error(SecurityProtocol::SaslSsl, &c.common.security)
        .expect("no token source");
    assert_eq!(e.key, "sasl.jaas.config");
    assert!(e.reason.contains("unsecuredLoginStringClaim_sub"), "{e}");
    let oauth = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required";
    let c = admin(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.jaas.config",
            &format!("{oauth} unsecuredLoginStringClaim_sub=\"a\";"),
        ),
        ("sasl.login.refresh.window.factor", "0.9"),
    ])
    .unwrap();
    assert_eq!(
        c.common.security.sasl_mechanism,
        Some(SaslMechanism::OAuthBearer)
    );
    assert_eq!(c.common.security.oauthbearer.refresh_window_factor, 0.9);
    let round = AdminConfig::from_properties(c.to_properties()).unwrap();
    assert_eq!(round, c);
    for (key, value) in [
        ("sasl.login.refresh.window.factor", "1.5"),
        ("sasl.login.refresh.window.jitter", "x"),
        ("sasl.login.callback.handler.class", "com.example.Handler"),
    ] {
        let e = admin(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.jaas.config",
                &format!("{oauth} unsecuredLoginStringClaim_sub=\"a\";"),
            ),
            (key, value),
        ])
        .unwrap_err();
        assert_eq!(e.key, key, "{e}");
    }
    #[cfg(feature = "oauth")]
    {
        // The client-credentials flow needs an id and a secret, and never quotes the secret.
        let e = admin(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://idp.example/token",
            ),
            (
                "sasl.jaas.config",
                &format!("{oauth} clientSecret=\"{SECRET}\";"),
            ),
        ])
        .unwrap_err();
        assert_eq!(e.key, "sasl.jaas.config");
        assert!(e.reason.contains("clientId"), "{e}");
        assert!(!e.to_string().contains(SECRET), "{e}");
    }
    let e = admin(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "GSSAPI"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "sasl.mechanism");
    assert!(e.reason.contains("not supported"), "{e}");
    // Without SASL the SASL settings are not checked (Java ignores them too).
    assert!(admin(&[("sasl.jaas.config", "garbage")]).is_ok());
}

#[test]
fn typed_sasl_setter_quotes_any_password() {
    let tricky = "p\"w;\\ x=y";
    let c = ConsumerConfig::builder()
        .bootstrap_servers("h:1")
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl_credentials(SaslMechanism::ScramSha256, "bob", tricky)
        .build()
        .unwrap();
    let creds = c.common.security.sasl_credentials().unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.password.expose()),
        ("bob", tricky)
    );
    assert_eq!(
        ConsumerConfig::from_properties(c.to_properties()).unwrap(),
        c
    );
}

#[cfg(feature = "tls")]
#[test]
fn tls_settings_and_round_trip() {
    let c = admin(&[
        ("security.protocol", "SSL"),
        ("ssl.enabled.protocols", "TLSv1.3"),
        ("ssl.endpoint.identification.algorithm", ""),
    ])
    .unwrap();
    assert_eq!(c.common.security.ssl_enabled_protocols, [TlsVersion::Tls13]);
    assert!(!c.common.security.ssl_endpoint_identification);
    assert_eq!(AdminConfig::from_properties(c.to_properties()).unwrap(), c);
    let d = admin(&[]).unwrap();
    assert!(d.common.security.ssl_endpoint_identification);
    assert_eq!(
        d.common.security.ssl_enabled_protocols,
        [TlsVersion::Tls12, TlsVersion::Tls13]
    );
    let e = admin(&[
        ("security.protocol", "SSL"),
        ("ssl.protocol", "TLSv1.2"),
        ("ssl.enabled.protocols", "TLSv1.3"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "ssl.protocol");
    let c = admin(&[("security.protocol", "SSL"), ("ssl.protocol", "tlsv1.2")]).unwrap();
    assert_eq!(c.common.security.ssl_protocol, TlsVersion::Tls12);
    assert_eq!(AdminConfig::from_properties(c.to_properties()).unwrap(), c);
    let e = admin(&[("ssl.enabled.protocols", "TLSv1.1")]).unwrap_err();
    assert_eq!(e.key, "ssl.enabled.protocols");
    let e = admin(&[("security.protocol", "SSL"), ("ssl.truststore.type", "JKS")]).unwrap_err();
    assert_eq!(e.key, "ssl.truststore.type");
    assert!(e.reason.contains("PKCS12"), "{e}");
}

#[cfg(feature = "tls")]
#[test]
fn tls_stores_are_loaded_at_build() {
    let e = admin(&[
        ("security.protocol", "SSL"),
        ("ssl.truststore.location", "/nonexistent/ca.pem"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "ssl.truststore.location");
    assert!(e.reason.contains("/nonexistent/ca.pem"), "{e}");
    let e = admin(&[
        ("security.protocol", "SSL"),
        ("ssl.truststore.certificates", "not a certificate"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "ssl.truststore.certificates");
    assert!(e.reason.contains("no certificate"), "{e}");
    let e = admin(&[
        ("security.protocol", "SSL"),
        (
            "ssl.keystore.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ),
        ("ssl.keystore.certificate.chain", "x"),
    ])
    .unwrap_err();
    assert!(e.reason.contains("ssl.key.password"), "{e}");
    assert!(!e.reason.contains("AAAA"), "{e}");
}

/// An encrypted PKCS#8 key (PBES2) and a certificate for it, as PEM: (chain, encrypted key).
fn encrypted_identity(password: &str) -> (String, String) {
    use pkcs8::der::Decode;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = key.serialize_der();
    let info = pkcs8::PrivateKeyInfo::from_der(&der).unwrap();
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7; 16])
            .unwrap();
    let encrypted = info.encrypt_with_params(params, password).unwrap();
    let pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap();
    (cert.pem(), pem.to_string())
}

#[cfg(feature = "tls")]
#[test]
fn encrypted_pem_keys_need_the_right_key_password() {
    let (chain, key) = encrypted_identity(SECRET);
    let with = |password: Option<&str>| {
        let mut p = vec![
            ("security.protocol", "SSL"),
            ("ssl.keystore.certificate.chain", chain.as_str()),
            ("ssl.keystore.key", key.as_str()),
        ];
        if let Some(pw) = password {
            p.push(("ssl.key.password", pw));
        }
        admin(&p)
    };
    assert!(with(Some(SECRET)).is_ok(), "{:?}", with(Some(SECRET)));
    let e = with(Some("wrong")).unwrap_err();
    assert_eq!(e.key, "ssl.keystore.key");
    assert!(e.reason.contains("wrong ssl.key.password"), "{e}");
    let e = with(None).unwrap_err();
    assert!(e.reason.contains("set ssl.key.password"), "{e}");
    // A key file with the certificate in it works the same.
    let dir = std::env::temp_dir().join(format!("ferrokafka-enc-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("client.pem");
    std::fs::write(&file, format!("{key}{chain}")).unwrap();
    let path = file.display().to_string();
    let c = admin(&[
        ("security.protocol", "SSL"),
        ("ssl.keystore.location", &path),
        ("ssl.key.password", SECRET),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(c.is_ok(), "{c:?}");
}

/// Without the `tls` cargo feature (a build with no C), SSL and SASL_SSL are refused when the
/// config is built, naming the feature; SASL_PLAINTEXT still works.
#[cfg(not(feature = "tls"))]
#[test]
fn tls_protocols_need_the_tls_feature() {
    for protocol in ["SSL", "SASL_SSL"] {
        let e = crate::ProducerConfig::builder()
            .bootstrap_servers("127.0.0.1:9092")
            .set("security.protocol", protocol)
            .set("sasl.mechanism", "PLAIN")
            .set(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"u\" password=\"p\";",
            )
            .build()
            .expect_err(protocol);
        assert_eq!(e.key, "security.protocol");
        assert!(e.to_string().contains("`tls` cargo feature"), "{e}");
    }
    crate::ProducerConfig::builder()
        .bootstrap_servers("127.0.0.1:9092")
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "PLAIN")
        .set(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"u\" password=\"p\";",
        )
        .build()
        .expect("SASL_PLAINTEXT needs no TLS");
}

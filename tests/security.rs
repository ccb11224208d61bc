//! TLS and SASL against Apache Kafka: one broker with a listener per setup
//! (tests/common/secure_broker.rs), certificates made at test time.

mod common;

use std::time::{Duration, Instant};

use common::secure_broker::{ALICE_PASSWORD, KEY_PASSWORD, P12_PASSWORD, SecureBroker};
use common::secure_client::{PLAIN, SCRAM, admin, failure, jaas, props, root, round_trip};
use ferrokafka::consumer::TopicPartition;
use ferrokafka::{
    AdminClient, AdminConfig, ConsumerConfig, Error, KafkaConsumer, KafkaProducer, ProducerConfig,
    ProducerRecord, TlsFailure,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_produce_and_consume_10k_each_codec() {
    let b = SecureBroker::shared();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let p = props(b, "SSL", &[("compression.type", codec.into())]);
        round_trip(&p, &format!("ssl-10k-{codec}"), 10_000).await;
    }
}

/// Asserts `e` is a TLS failure of `kind` naming `listener`'s address.
fn assert_tls(b: &SecureBroker, e: Error, kind: TlsFailure, listener: &str) {
    match root(e) {
        Error::Tls {
            addr,
            kind: k,
            reason,
        } => {
            assert_eq!(k, kind, "{reason}");
            assert_eq!(addr, b.bootstrap(listener));
        }
        other => panic!("expected a TLS failure ({kind:?}), got: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_host_name_check_on_and_off() {
    let b = SecureBroker::shared();
    // WRONGHOST's certificate, by the trusted CA, names only wrong.example.
    let (e, took) = failure(&props(b, "WRONGHOST", &[])).await;
    assert!(e.to_string().contains(&b.bootstrap("WRONGHOST")), "{e}");
    assert_tls(b, e, TlsFailure::HostnameMismatch, "WRONGHOST");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let off = props(
        b,
        "WRONGHOST",
        &[("ssl.endpoint.identification.algorithm", String::new())],
    );
    round_trip(&off, "ssl-no-name-check", 100).await;
    // The check on, with a certificate that names the host: works (the 10k test covers it too).
    round_trip(&props(b, "SSL", &[]), "ssl-name-check", 10).await;
}

/// Either TLS version alone works with a broker that enables both; a TLSv1.3-only listener
/// refuses a client held to TLSv1.2 by `ssl.protocol`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_each_tls_version() {
    let b = SecureBroker::shared();
    let v12 = props(b, "SSL", &[("ssl.protocol", "TLSv1.2".into())]);
    round_trip(&v12, "ssl-tls12", 100).await;
    let v13 = props(b, "SSL", &[("ssl.enabled.protocols", "TLSv1.3".into())]);
    round_trip(&v13, "ssl-tls13", 100).await;
    round_trip(&props(b, "TLS13", &[]), "ssl-tls13-only", 10).await;
    let (e, took) = failure(&props(b, "TLS13", &[("ssl.protocol", "TLSv1.2".into())])).await;
    eprintln!("TLSv1.2 client, TLSv1.3 listener: failed after {took:?}: {e}");
    assert_tls(b, e, TlsFailure::Handshake, "TLS13");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_wrong_ca_fails_clearly() {
    let b = SecureBroker::shared();
    let p = props(
        b,
        "SSL",
        &[("ssl.truststore.location", b.file("other-ca.pem"))],
    );
    let (e, took) = failure(&p).await;
    eprintln!("wrong CA: failed after {took:?}: {e}");
    assert_tls(b, e, TlsFailure::UntrustedCertificate, "SSL");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_expired_broker_certificate_fails_clearly() {
    let b = SecureBroker::shared();
    let (e, took) = failure(&props(b, "EXPIRED", &[])).await;
    eprintln!("expired broker certificate: failed after {took:?}: {e}");
    assert_tls(b, e, TlsFailure::ExpiredCertificate, "EXPIRED");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_without_client_certificate_fails_clearly() {
    let b = SecureBroker::shared();
    let (e, took) = failure(&props(b, "MTLS", &[])).await;
    eprintln!("mTLS without a client certificate: failed after {took:?}: {e}");
    assert_tls(b, e, TlsFailure::ClientCertificateRejected, "MTLS");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_with_pem_and_pkcs12_key_stores() {
    let b = SecureBroker::shared();
    let file = props(
        b,
        "MTLS",
        &[("ssl.keystore.location", b.file("client.pem"))],
    );
    round_trip(&file, "mtls-pem-file", 100).await;
    let read = |n: &str| std::fs::read_to_string(b.file(n)).expect("read PEM");
    let inline = props(
        b,
        "MTLS",
        &[
            ("ssl.keystore.certificate.chain", read("client-cert.pem")),
            ("ssl.keystore.key", read("client-key.pem")),
            ("ssl.truststore.location", String::new()),
            ("ssl.truststore.certificates", read("ca.pem")),
        ],
    );
    round_trip(&inline, "mtls-pem-inline", 100).await;
    let p12 = props(
        b,
        "MTLS",
        &[
            ("ssl.keystore.location", b.file("client.p12")),
            ("ssl.keystore.type", "PKCS12".into()),
            ("ssl.keystore.password", P12_PASSWORD.into()),
        ],
    );
    round_trip(&p12, "mtls-pkcs12", 100).await;
    let encrypted = props(
        b,
        "MTLS",
        &[
            ("ssl.keystore.location", b.file("client-enc.pem")),
            ("ssl.key.password", KEY_PASSWORD.into()),
        ],
    );
    round_trip(&encrypted, "mtls-pem-encrypted", 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plaintext_plain() {
    let b = SecureBroker::shared();
    let p = props(
        b,
        "SASL_PLAINTEXT",
        &[
            ("sasl.mechanism", "PLAIN".into()),
            ("sasl.jaas.config", jaas(PLAIN, ALICE_PASSWORD)),
        ],
    );
    round_trip(&p, "sasl-plain", 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_scram_sha_256_and_512() {
    let b = SecureBroker::shared();
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let p = props(
            b,
            "SASL_SSL",
            &[
                ("sasl.mechanism", m.into()),
                ("sasl.jaas.config", jaas(SCRAM, ALICE_PASSWORD)),
            ],
        );
        round_trip(&p, &format!("sasl-ssl-{}", m.to_lowercase()), 1000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_within_request_timeout() {
    let b = SecureBroker::shared();
    for (listener, m, module) in [
        ("SASL_SSL", "SCRAM-SHA-512", SCRAM),
        ("SASL_SSL", "SCRAM-SHA-256", SCRAM),
        ("SASL_PLAINTEXT", "PLAIN", PLAIN),
    ] {
        let p = props(
            b,
            listener,
            &[
                ("sasl.mechanism", m.into()),
                ("sasl.jaas.config", jaas(module, "not-the-password")),
            ],
        );
        let (e, took) = failure(&p).await;
        eprintln!("{m} wrong password: failed after {took:?}: {e}");
        assert!(!e.is_retriable(), "{e}");
        assert!(!e.to_string().contains("not-the-password"), "{e}");
        match root(e) {
            Error::AuthenticationFailed {
                addr,
                mechanism,
                message,
            } => {
                assert_eq!(addr, b.bootstrap(listener));
                assert_eq!(mechanism, m);
                assert!(message.contains("Authentication failed"), "{message}");
            }
            other => panic!("expected AuthenticationFailed, got: {other}"),
        }
        // request.timeout.ms is 10 s in these settings.
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_mechanism_names_the_enabled_ones() {
    let b = SecureBroker::shared();
    let p = props(
        b,
        "SASL_PLAINTEXT",
        &[
            ("sasl.mechanism", "SCRAM-SHA-256".into()),
            ("sasl.jaas.config", jaas(SCRAM, ALICE_PASSWORD)),
        ],
    );
    let (e, _) = failure(&p).await;
    assert!(!e.is_retriable(), "{e}");
    match root(e) {
        Error::UnsupportedSaslMechanism {
            addr,
            mechanism,
            enabled,
        } => {
            assert_eq!(addr, b.bootstrap("SASL_PLAINTEXT"));
            assert_eq!(mechanism, "SCRAM-SHA-256");
            assert_eq!(enabled, ["PLAIN"]);
        }
        other => panic!("expected UnsupportedSaslMechanism, got: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_client_on_tls_port_fails_clearly() {
    let b = SecureBroker::shared();
    let mut p = props(b, "SSL", &[]);
    p.retain(|(k, _)| !k.starts_with("ssl.") && k != "security.protocol");
    let (e, took) = failure(&p).await;
    eprintln!("plaintext client on a TLS port: failed after {took:?}: {e}");
    assert!(!e.is_retriable(), "{e}");
    assert_tls(b, e, TlsFailure::TlsListener, "SSL");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_on_plaintext_port_fails_clearly() {
    let b = SecureBroker::shared();
    let mut p = props(b, "SSL", &[]);
    p[0].1 = b.bootstrap("PLAINTEXT");
    let (e, took) = failure(&p).await;
    eprintln!("TLS client on a plaintext port: failed after {took:?}: {e}");
    assert!(!e.is_retriable(), "{e}");
    assert_tls(b, e, TlsFailure::NotTlsListener, "PLAINTEXT");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Producers and consumers stop at a wrong password too, with the broker's message, instead of
/// retrying until max.block.ms / the poll timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_stops_producer_and_consumer() {
    let b = SecureBroker::shared();
    let p = props(
        b,
        "SASL_SSL",
        &[
            ("sasl.mechanism", "SCRAM-SHA-256".into()),
            ("sasl.jaas.config", jaas(SCRAM, "not-the-password")),
        ],
    );
    let producer = KafkaProducer::new(ProducerConfig::from_properties(p.clone()).expect("config"))
        .expect("producer");
    let started = Instant::now();
    let e = producer
        .send(ProducerRecord::new("wrong-password", "v"))
        .await
        .expect_err("send with a wrong password succeeded");
    let took = started.elapsed();
    eprintln!("producer, wrong password: failed after {took:?}: {e}");
    assert!(
        matches!(root(e.clone()), Error::AuthenticationFailed { .. }),
        "{e}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    producer.close(Duration::from_secs(1)).await;

    let mut c = p.clone();
    c.push(("group.id".into(), "wrong-password".into()));
    let mut consumer =
        KafkaConsumer::new(ConsumerConfig::from_properties(c).expect("config")).expect("consumer");
    consumer.subscribe(["wrong-password"]).expect("subscribe");
    let started = Instant::now();
    let e = consumer
        .poll(Duration::from_secs(30))
        .await
        .expect_err("poll with a wrong password succeeded");
    let took = started.elapsed();
    eprintln!("consumer, wrong password: failed after {took:?}: {e}");
    assert!(
        matches!(root(e.clone()), Error::AuthenticationFailed { .. }),
        "{e}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// A `MakeWriter` for tracing that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Connecting with SASL logs at every level, yet never the password or the JAAS config, and
/// no config's Debug output holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs() {
    let b = SecureBroker::shared();
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .init();
    let wrong = "wrong-Pa55-xyz";
    for (listener, m, module, password) in [
        ("SASL_SSL", "SCRAM-SHA-512", SCRAM, ALICE_PASSWORD),
        ("SASL_SSL", "SCRAM-SHA-512", SCRAM, wrong),
        ("SASL_PLAINTEXT", "PLAIN", PLAIN, ALICE_PASSWORD),
        ("SASL_PLAINTEXT", "PLAIN", PLAIN, wrong),
    ] {
        let p = props(
            b,
            listener,
            &[
                ("sasl.mechanism", m.into()),
                ("sasl.jaas.config", jaas(module, password)),
            ],
        );
        let config = AdminConfig::from_properties(p.clone()).expect("config");
        let result = admin(&p).list_topics().await;
        assert_eq!(result.is_ok(), password == ALICE_PASSWORD, "{m} {result:?}");
        let text = format!("{config:?} {result:?}");
        assert!(!text.contains(password), "{text}");
    }
    let logs =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        logs.contains("SASL authentication succeeded"),
        "nothing logged?"
    );
    for secret in [
        ALICE_PASSWORD,
        wrong,
        "ScramLoginModule",
        "PlainLoginModule",
    ] {
        assert!(!logs.contains(secret), "`{secret}` in the logs");
    }
}

/// librdkafka reads, over each secured listener with the same credentials, what ferrokafka
/// wrote there: the broker setup is standard, not tailored to this client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reads_over_the_same_listeners() {
    let b = SecureBroker::shared();
    let ca = b.file("ca.pem");
    let rd_tls = |extra: &[(&'static str, String)]| {
        let mut v = vec![
            ("security.protocol", "SSL".to_owned()),
            ("ssl.ca.location", ca.clone()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    let rd_sasl = |protocol: &str, mechanism: &str| {
        let mut v = vec![
            ("security.protocol", protocol.to_owned()),
            ("sasl.mechanisms", mechanism.to_owned()),
            ("sasl.username", "alice".to_owned()),
            ("sasl.password", ALICE_PASSWORD.to_owned()),
        ];
        if protocol == "SASL_SSL" {
            v.push(("ssl.ca.location", ca.clone()));
        }
        v
    };
    // (listener, our extra settings, librdkafka's settings)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        ("SSL", vec![], rd_tls(&[])),
        (
            "MTLS",
            vec![("ssl.keystore.location", b.file("client.pem"))],
            rd_tls(&[
                ("ssl.certificate.location", b.file("client-cert.pem")),
                ("ssl.key.location", b.file("client-key.pem")),
            ]),
        ),
        (
            "SASL_PLAINTEXT",
            vec![
                ("sasl.mechanism", "PLAIN".into()),
                ("sasl.jaas.config", jaas(PLAIN, ALICE_PASSWORD)),
            ],
            rd_sasl("SASL_PLAINTEXT", "PLAIN"),
        ),
        (
            "SASL_SSL",
            vec![
                ("sasl.mechanism", "SCRAM-SHA-256".into()),
                ("sasl.jaas.config", jaas(SCRAM, ALICE_PASSWORD)),
            ],
            rd_sasl("SASL_SSL", "SCRAM-SHA-256"),
        ),
        (
            "SASL_SSL",
            vec![
                ("sasl.mechanism", "SCRAM-SHA-512".into()),
                ("sasl.jaas.config", jaas(SCRAM, ALICE_PASSWORD)),
            ],
            rd_sasl("SASL_SSL", "SCRAM-SHA-512"),
        ),
    ];
    for (i, (listener, ours, theirs)) in cases.into_iter().enumerate() {
        let topic = format!("rdkafka-secure-{i}");
        let p = props(b, listener, &ours);
        round_trip(&p, &topic, 200).await;
        let mut cmd = std::process::Command::new(common::python());
        cmd.arg(common::repo().join("tests/interop/rdkafka_secure.py"))
            .args(["--topic", &topic, "--count", "200"])
            .args([
                "-X",
                &format!("bootstrap.servers={}", b.bootstrap(listener)),
            ]);
        for (k, v) in &theirs {
            cmd.args(["-X", &format!("{k}={v}")]);
        }
        let out = cmd.output().expect("run rdkafka_secure.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.trim() == "read 200",
            "librdkafka over {listener} ({theirs:?}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A consumer group over SASL_SSL SCRAM-SHA-512: the coordinator's own connection
/// authenticates too; every record is read once and the commit lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_over_sasl_ssl_scram_512() {
    let b = SecureBroker::shared();
    let p = props(
        b,
        "SASL_SSL",
        &[
            ("sasl.mechanism", "SCRAM-SHA-512".into()),
            ("sasl.jaas.config", jaas(SCRAM, ALICE_PASSWORD)),
        ],
    );
    let topic = "sasl-group";
    // Writes 500 records (idempotent producer: InitProducerId goes over SASL too) and reads
    // them back without a group.
    round_trip(&p, topic, 500).await;
    let mut c = p.clone();
    c.push(("group.id".into(), "sasl-readers".into()));
    c.push(("auto.offset.reset".into(), "earliest".into()));
    c.push(("enable.auto.commit".into(), "false".into()));
    let mut consumer =
        KafkaConsumer::new(ConsumerConfig::from_properties(c).expect("config")).expect("consumer");
    consumer.subscribe([topic]).expect("subscribe");
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while n < 500 && Instant::now() < deadline {
        n += consumer
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
            .len();
    }
    assert_eq!(n, 500);
    consumer.commit_sync().await.expect("commit");
    let committed = consumer
        .committed(&[TopicPartition::new(topic, 0), TopicPartition::new(topic, 1)])
        .await
        .expect("committed");
    let total: i64 = committed.values().flatten().map(|o| o.offset).sum();
    assert_eq!(total, 500);
    consumer.close().await.expect("close");
}

/// A rustls `ClientConfig` built by the application replaces the `ssl.*` settings: here one
/// that trusts the test CA, on a config whose own settings (system roots) would refuse the
/// broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_rustls_client_config() {
    use ferrokafka::config::RustlsClientConfig;
    use ferrokafka::rustls;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let b = SecureBroker::shared();
    let mut p = props(b, "SSL", &[]);
    p.retain(|(k, _)| k != "ssl.truststore.location");
    let (e, _) = failure(&p).await;
    assert_tls(b, e, TlsFailure::UntrustedCertificate, "SSL");

    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(b.file("ca.pem")).expect("ca.pem") {
        roots.add(c.expect("CA certificate")).expect("add CA");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let custom = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let custom = RustlsClientConfig::new(std::sync::Arc::new(custom));
    let mut config = AdminConfig::from_properties(p.clone()).expect("config");
    config.common.security.rustls_client_config = Some(custom.clone());
    assert!(format!("{config:?}").contains("RustlsClientConfig"));
    let topics = AdminClient::new(config).list_topics().await;
    assert!(topics.is_ok(), "{topics:?}");

    let mut pc = ProducerConfig::from_properties(p.clone()).expect("producer config");
    pc.common.security.rustls_client_config = Some(custom);
    let producer = KafkaProducer::new(pc).expect("producer");
    let meta = producer
        .send(ProducerRecord::new("custom-rustls", "v"))
        .await
        .expect("send over the custom config");
    assert_eq!(meta.offset, 0);
    producer.close(Duration::from_secs(5)).await;
}

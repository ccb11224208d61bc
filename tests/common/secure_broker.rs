//! One Apache Kafka node with a listener per security setup, and the certificates it needs,
//! generated at test time with rcgen (nothing secret is committed):
//!
//! - `PLAINTEXT` (also inter-broker), `SSL`, `MTLS` (SSL with `ssl.client.auth=required`),
//!   `WRONGHOST` (SSL with a certificate for another host name), `EXPIRED` (SSL with a
//!   certificate that expired in 2001), `TLS13` (SSL, TLSv1.3 only), `SASL_PLAINTEXT` (PLAIN only)
//!   and `SASL_SSL` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); `OAUTH` (SASL_SSL, OAUTHBEARER with
//!   Kafka's default validator of unsecured JWS tokens) and `REAUTH` (SASL_SSL, SCRAM-SHA-512 and
//!   OAUTHBEARER, sessions of [`REAUTH_MS`]: KIP-368 re-authentication or a closed connection).
//! - Files in the run folder: `ca.pem` (the test CA), `other-ca.pem` (a CA nobody uses),
//!   `client.pem` / `client-cert.pem` / `client-key.pem` (a client certificate by the test CA)
//!   `client.p12` (the same, PKCS12, password [`P12_PASSWORD`]) and `client-enc.pem` (the
//!   same with the key encrypted, PKCS#8 PBES2, password [`KEY_PASSWORD`]).
//! - Users: `alice` / [`ALICE_PASSWORD`] for PLAIN and both SCRAM mechanisms.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use super::broker::{Node, free_port, kafka_libs, run_folder};

pub const ALICE_PASSWORD: &str = "alice-secret";
pub const P12_PASSWORD: &str = "p12-secret";
pub const KEY_PASSWORD: &str = "key-secret";
/// `connections.max.reauth.ms` of the `REAUTH` listener.
pub const REAUTH_MS: u64 = 2000;

/// The listeners, by name.
pub const LISTENERS: [&str; 10] = [
    "PLAINTEXT",
    "SSL",
    "TLS13",
    "MTLS",
    "WRONGHOST",
    "EXPIRED",
    "SASL_PLAINTEXT",
    "SASL_SSL",
    "OAUTH",
    "REAUTH",
];

pub struct SecureBroker {
    pub dir: PathBuf,
    ports: BTreeMap<&'static str, u16>,
    node: Node,
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params, KeyPair::generate().expect("CA key"))
}

/// A certificate for `names`, signed by `issuer`: (certificate PEM, key PEM).
fn leaf(
    names: &[&str],
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, &KeyPair>,
) -> (String, String) {
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("leaf params");
    leaf_with(params, cn, usage, issuer)
}

fn leaf_with(
    mut params: CertificateParams,
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, &KeyPair>,
) -> (String, String) {
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &std::path::Path, name: &str, data: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write test file");
    path.display().to_string()
}

impl SecureBroker {
    /// The broker shared by every test in this binary.
    pub fn shared() -> &'static SecureBroker {
        static SHARED: OnceLock<SecureBroker> = OnceLock::new();
        SHARED.get_or_init(SecureBroker::start)
    }

    fn start() -> SecureBroker {
        kafka_libs();
        let dir = run_folder("secure");
        let (ca_params, ca_key) = ca("ferrokafka test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let (other_params, other_key) = ca("ferrokafka other CA");
        let other_cert = other_params.self_signed(&other_key).expect("other CA");
        let server = ExtendedKeyUsagePurpose::ServerAuth;
        let (broker_cert, broker_key) = leaf(
            &["localhost", "127.0.0.1"],
            "broker",
            server.clone(),
            &issuer,
        );
        let (wrong_cert, wrong_key) = leaf(&["wrong.example"], "wrong", server.clone(), &issuer);
        let mut old = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])
            .expect("expired params");
        old.not_before = rcgen::date_time_ymd(2000, 1, 1);
        old.not_after = rcgen::date_time_ymd(2001, 1, 1);
        let (old_cert, old_key) = leaf_with(old, "expired", server, &issuer);
        let (client_cert, client_key) =
            leaf(&[], "client", ExtendedKeyUsagePurpose::ClientAuth, &issuer);
        let ca_pem = write(&dir, "ca.pem", ca_cert.pem());
        write(&dir, "other-ca.pem", other_cert.pem());
        let broker_pem = write(&dir, "broker.pem", format!("{broker_key}{broker_cert}"));
        let wrong_pem = write(&dir, "wrong.pem", format!("{wrong_key}{wrong_cert}"));
        let old_pem = write(&dir, "expired.pem", format!("{old_key}{old_cert}"));
        write(&dir, "client.pem", format!("{client_key}{client_cert}"));
        write(&dir, "client-cert.pem", &client_cert);
        write(&dir, "client-key.pem", &client_key);
        write(&dir, "client.p12", pkcs12(&client_cert, &client_key));
        write(
            &dir,
            "client-enc.pem",
            format!("{}{client_cert}", encrypt_key(&client_key)),
        );

        let mut ports: BTreeMap<&'static str, u16> = BTreeMap::new();
        for l in LISTENERS {
            ports.insert(l, free_port());
        }
        let cport = free_port();
        let listeners: Vec<String> = ports
            .iter()
            .map(|(l, p)| format!("{l}://127.0.0.1:{p}"))
            .collect();
        let map: Vec<String> = ports
            .keys()
            .map(|l| {
                let proto = match *l {
                    "MTLS" | "WRONGHOST" | "EXPIRED" | "TLS13" => "SSL",
                    "OAUTH" | "REAUTH" => "SASL_SSL",
                    other => other,
                };
                format!("{l}:{proto}")
            })
            .collect();
        let plain_jaas = format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             user_alice=\"{ALICE_PASSWORD}\";"
        );
        let scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
        let oauth_jaas =
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;";
        let mut props = vec![
            format!(
                "listeners={},CONTROLLER://127.0.0.1:{cport}",
                listeners.join(",")
            ),
            format!("advertised.listeners={}", listeners.join(",")),
            format!(
                "listener.security.protocol.map={},CONTROLLER:PLAINTEXT",
                map.join(",")
            ),
            "ssl.keystore.type=PEM".into(),
            format!("ssl.keystore.location={broker_pem}"),
            "ssl.truststore.type=PEM".into(),
            format!("ssl.truststore.location={ca_pem}"),
            "listener.name.mtls.ssl.client.auth=required".into(),
            "listener.name.wronghost.ssl.keystore.type=PEM".into(),
            format!("listener.name.wronghost.ssl.keystore.location={wrong_pem}"),
            "listener.name.tls13.ssl.enabled.protocols=TLSv1.3".into(),
            "listener.name.expired.ssl.keystore.type=PEM".into(),
            format!("listener.name.expired.ssl.keystore.location={old_pem}"),
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN".into(),
            format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={plain_jaas}"),
            format!("listener.name.sasl_ssl.plain.sasl.jaas.config={plain_jaas}"),
            format!("listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram_jaas}"),
            format!("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_jaas}"),
            // No server callback handler: the broker validates unsecured JWS tokens.
            "listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER".into(),
            format!("listener.name.oauth.oauthbearer.sasl.jaas.config={oauth_jaas}"),
            "listener.name.reauth.sasl.enabled.mechanisms=SCRAM-SHA-512,OAUTHBEARER".into(),
            format!("listener.name.reauth.scram-sha-512.sasl.jaas.config={scram_jaas}"),
            format!("listener.name.reauth.oauthbearer.sasl.jaas.config={oauth_jaas}"),
            format!("listener.name.reauth.connections.max.reauth.ms={REAUTH_MS}"),
        ];
        props.push("auto.create.topics.enable=true".into());
        let mut args = vec![
            "--node-id".to_string(),
            "1".into(),
            "--port".into(),
            ports["PLAINTEXT"].to_string(),
            "--controller-port".into(),
            cport.to_string(),
            "--voters".into(),
            format!("1@127.0.0.1:{cport}"),
        ];
        for p in props {
            args.push("--prop".into());
            args.push(p);
        }
        for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            args.push("--scram".into());
            args.push(format!("{m}=[name=alice,password={ALICE_PASSWORD}]"));
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secure")
            .to_string();
        let mut node = Node::kafka(&dir, &name, args, ports["PLAINTEXT"]);
        if let Err(e) = node.start() {
            node.forget();
            panic!("secure test broker did not start: {e}");
        }
        SecureBroker { dir, ports, node }
    }

    /// `127.0.0.1:PORT` of listener `name` (one of [`LISTENERS`]).
    pub fn bootstrap(&self, name: &str) -> String {
        format!("127.0.0.1:{}", self.ports[name])
    }

    /// The path of a file the harness wrote (e.g. `ca.pem`).
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn log_tail(&self) -> String {
        self.node.log_tail()
    }
}

/// The client certificate and key as a PKCS12 store (password [`P12_PASSWORD`]).
fn pkcs12(cert_pem: &str, key_pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let cert = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert");
    let key =
        rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let chain = p12_keystore::PrivateKeyChain::new(
        key.secret_pkcs8_der(),
        [1u8; 20],
        [p12_keystore::Certificate::from_der(cert.as_ref()).expect("p12 cert")],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "client",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    store.writer(P12_PASSWORD).write().expect("write PKCS12")
}

/// `key_pem` (PKCS#8) encrypted with [`KEY_PASSWORD`] (PBES2: PBKDF2-SHA256, AES-256-CBC).
fn encrypt_key(key_pem: &str) -> String {
    use pkcs8::der::Decode;
    use rustls_pki_types::pem::PemObject;
    let der =
        rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let info = pkcs8::PrivateKeyInfo::from_der(der.secret_pkcs8_der()).expect("PKCS#8");
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"test-salt", &[9; 16])
            .expect("PBES2 params");
    let doc = info
        .encrypt_with_params(params, KEY_PASSWORD)
        .expect("encrypt");
    doc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .expect("PEM")
        .to_string()
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        self.node.forget();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

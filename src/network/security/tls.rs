//! TLS with rustls (ring provider): the client config from `ssl.*` settings, the handshake,
//! and the mapping of its failures to [`TlsFailure`]s.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::{Password, SecurityConfig, StoreType, TlsVersion};
use crate::error::{ConfigError, Error, TlsFailure};

/// Builds the rustls client config `cfg` describes, loading every store it names.
///
/// Errors: a [`ConfigError`] naming the `ssl.*` key at fault (unreadable file, no certificate,
/// wrong PKCS12 password, encrypted PEM key, ...). Messages never quote secrets.
pub(crate) fn client_config(cfg: &SecurityConfig) -> Result<Arc<ClientConfig>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = cfg
        .ssl_enabled_protocols
        .iter()
        .filter(|v| **v <= cfg.ssl_protocol)
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let mut roots = RootCertStore::empty();
    for cert in trusted_certificates(cfg)? {
        roots.add(cert).map_err(|e| {
            ConfigError::new(truststore_key(cfg), format!("unusable CA certificate: {e}"))
        })?;
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ConfigError::new(truststore_key(cfg), e.to_string()))?;
    let verifier = Arc::new(Verifier {
        inner: webpki,
        check_name: cfg.ssl_endpoint_identification,
    });
    if versions.is_empty() {
        return Err(ConfigError::new(
            "ssl.protocol",
            "TLSv1.2 with ssl.enabled.protocols=TLSv1.3 leaves no version to use",
        ));
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| ConfigError::new("ssl.enabled.protocols", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(cfg)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| ConfigError::new(keystore_key(cfg), format!("unusable key: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn truststore_key(cfg: &SecurityConfig) -> &'static str {
    if cfg.ssl_truststore_certificates.is_some() {
        "ssl.truststore.certificates"
    } else {
        "ssl.truststore.location"
    }
}

fn keystore_key(cfg: &SecurityConfig) -> &'static str {
    if cfg.ssl_keystore_location.is_some() {
        "ssl.keystore.location"
    } else {
        "ssl.keystore.key"
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::new(key, format!("cannot read `{path}`: {e}")))
}

/// The store's format: as configured, else PEM when it looks like PEM, else PKCS12.
fn store_type(configured: Option<StoreType>, data: &[u8]) -> StoreType {
    configured.unwrap_or_else(|| {
        if data.windows(10).any(|w| w == b"-----BEGIN") {
            StoreType::Pem
        } else {
            StoreType::Pkcs12
        }
    })
}

fn pem_certificates(key: &str, data: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(key, format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            key,
            "no certificate found (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
        ));
    }
    Ok(certs)
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key in `data` (PEM), decrypted with `password` (`ssl.key.password`) when it is
/// an encrypted PKCS#8 key.
fn pem_key(
    key: &str,
    data: &[u8],
    password: Option<&Password>,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let text = String::from_utf8_lossy(data);
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let end = text[start..]
            .find(ENCRYPTED_END)
            .map(|e| start + e + ENCRYPTED_END.len())
            .ok_or_else(|| {
                ConfigError::new(key, "the encrypted private key block is not closed")
            })?;
        let password = password.ok_or_else(|| {
            ConfigError::new(key, "the private key is encrypted: set ssl.key.password")
        })?;
        // Errors below say what failed, never the data (key material) or the password.
        let (_, doc) = pkcs8::der::SecretDocument::from_pem(&text[start..end])
            .map_err(|_| ConfigError::new(key, "malformed encrypted private key"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|_| ConfigError::new(key, "malformed encrypted private key"))?;
        let plain = info.decrypt(password.expose()).map_err(|_| {
            ConfigError::new(
                key,
                "cannot decrypt the private key (wrong ssl.key.password, or an unsupported \
                 cipher: PBES2 with AES-CBC is supported)",
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(ConfigError::new(
            key,
            "legacy OpenSSL-encrypted keys are not supported: convert it to encrypted PKCS#8 \
             (`openssl pkcs8 -topk8`) or use a PKCS12 key store",
        ));
    }
    // The parser's error could echo key material: say only what is missing.
    PrivateKeyDer::from_pem_slice(data).map_err(|_| {
        ConfigError::new(
            key,
            "no private key found (expected an unencrypted PEM `PRIVATE KEY` block)",
        )
    })
}

fn pkcs12(
    key: &str,
    data: &[u8],
    password: Option<&Password>,
) -> Result<p12_keystore::KeyStore, ConfigError> {
    let password = password.map(Password::expose).unwrap_or_default();
    p12_keystore::KeyStore::from_pkcs12(data, password).map_err(|e| {
        ConfigError::new(
            key,
            format!("cannot open the PKCS12 store (wrong password?): {e}"),
        )
    })
}

fn trusted_certificates(cfg: &SecurityConfig) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    if cfg.ssl_truststore_certificates.is_some() && cfg.ssl_truststore_location.is_some() {
        return Err(ConfigError::new(
            "ssl.truststore.certificates",
            "conflicts with ssl.truststore.location: give one",
        ));
    }
    if let Some(pem) = &cfg.ssl_truststore_certificates {
        return pem_certificates("ssl.truststore.certificates", pem.expose().as_bytes());
    }
    let Some(path) = &cfg.ssl_truststore_location else {
        return system_roots();
    };
    let key = "ssl.truststore.location";
    let data = read_file(key, path)?;
    match store_type(cfg.ssl_truststore_type, &data) {
        StoreType::Pem => pem_certificates(key, &data),
        StoreType::Pkcs12 => {
            let store = pkcs12(key, &data, cfg.ssl_truststore_password.as_ref())?;
            let certs: Vec<CertificateDer<'static>> = store
                .entries()
                .filter_map(|(_, e)| match e {
                    p12_keystore::KeyStoreEntry::Certificate(c) => {
                        Some(CertificateDer::from(c.as_der().to_vec()))
                    }
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(ConfigError::new(
                    key,
                    "the PKCS12 store holds no certificate",
                ));
            }
            Ok(certs)
        }
    }
}

fn system_roots() -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(String::new, |e| format!(" ({e})"));
        return Err(ConfigError::new(
            "ssl.truststore.location",
            format!("not set, and no system root certificates were found{why}"),
        ));
    }
    Ok(found.certs)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(cfg: &SecurityConfig) -> Result<Option<Identity>, ConfigError> {
    let inline = (&cfg.ssl_keystore_certificate_chain, &cfg.ssl_keystore_key);
    if let Some(path) = &cfg.ssl_keystore_location {
        if inline.0.is_some() || inline.1.is_some() {
            return Err(ConfigError::new(
                "ssl.keystore.location",
                "conflicts with ssl.keystore.key / ssl.keystore.certificate.chain: give one",
            ));
        }
        let key = "ssl.keystore.location";
        let data = read_file(key, path)?;
        return match store_type(cfg.ssl_keystore_type, &data) {
            StoreType::Pem => Ok(Some((
                pem_certificates(key, &data)?,
                pem_key(key, &data, cfg.ssl_key_password.as_ref())?,
            ))),
            StoreType::Pkcs12 => {
                if cfg.ssl_key_password.is_some()
                    && cfg.ssl_key_password != cfg.ssl_keystore_password
                {
                    return Err(ConfigError::new(
                        "ssl.key.password",
                        "a PKCS12 key password other than the store password is not supported",
                    ));
                }
                let store = pkcs12(key, &data, cfg.ssl_keystore_password.as_ref())?;
                let (_, chain) = store.private_key_chain().ok_or_else(|| {
                    ConfigError::new(key, "the PKCS12 store holds no private key")
                })?;
                let certs = chain
                    .chain()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect();
                let pkcs8 = PrivatePkcs8KeyDer::from(chain.key().to_vec());
                Ok(Some((certs, PrivateKeyDer::Pkcs8(pkcs8))))
            }
        };
    }
    match inline {
        (None, None) => Ok(None),
        (Some(chain), Some(key)) => {
            let key = pem_key(
                "ssl.keystore.key",
                key.expose().as_bytes(),
                cfg.ssl_key_password.as_ref(),
            )?;
            let chain =
                pem_certificates("ssl.keystore.certificate.chain", chain.expose().as_bytes())?;
            Ok(Some((chain, key)))
        }
        (Some(_), None) => Err(ConfigError::new(
            "ssl.keystore.key",
            "required with ssl.keystore.certificate.chain",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "ssl.keystore.certificate.chain",
            "required with ssl.keystore.key",
        )),
    }
}

/// rustls's WebPKI verifier, with the host-name check optional
/// (`ssl.endpoint.identification.algorithm` empty). The chain is always verified.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match result {
            // webpki checks the name only once the chain has verified.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The host part of `host:port` or `[ipv6]:port`.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Runs the TLS handshake over `tcp` within `timeout`.
///
/// Errors: [`Error::Tls`] naming `addr` and the kind of failure; [`Error::Connect`] when the
/// timeout runs out.
pub(crate) async fn handshake(
    tcp: TcpStream,
    addr: &str,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, Error> {
    let tls_err = |kind, reason: String| Error::Tls {
        addr: addr.to_owned(),
        kind,
        reason,
    };
    let name = ServerName::try_from(host_of(addr).to_owned())
        .map_err(|e| tls_err(TlsFailure::Handshake, format!("invalid server name: {e}")))?;
    let connect = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => {
            let (kind, reason) = classify_io(&e);
            Err(tls_err(kind, reason))
        }
        Err(_) => Err(Error::Connect {
            addr: addr.to_owned(),
            reason: format!(
                "no TLS handshake within socket.connection.setup.timeout.ms ({} ms)",
                timeout.as_millis()
            ),
        }),
    }
}

/// The kind of a TLS failure from the I/O error rustls or the socket returned.
pub(crate) fn classify_io(e: &std::io::Error) -> (TlsFailure, String) {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return (classify(tls), tls.to_string());
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        // A Kafka listener without TLS reads the ClientHello as an oversized request and
        // closes without a word.
        return (
            TlsFailure::NotTlsListener,
            "the broker closed the connection during the TLS handshake: is this port a \
             PLAINTEXT or SASL_PLAINTEXT listener?"
                .to_owned(),
        );
    }
    (TlsFailure::Handshake, e.to_string())
}

fn classify(e: &rustls::Error) -> TlsFailure {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::HostnameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::ExpiredCertificate,
            _ => TlsFailure::UntrustedCertificate,
        },
        rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied,
        ) => TlsFailure::ClientCertificateRejected,
        rustls::Error::InvalidMessage(_) => TlsFailure::NotTlsListener,
        _ => TlsFailure::Handshake,
    }
}

//! The `ssl.*` and `sasl.*` rows of the property table (every client accepts them).

use super::{D, Enum, EnumList, Property, Scope, Str, p};
use crate::config::Kind::Password as Secret;
use crate::config::security::SASL_MECHANISMS;

const STORE_TYPES: &[&str] = &["", "PEM", "PKCS12", "JKS"];

pub(super) const ROWS: &[Property] = &[
    p(
        "ssl.protocol",
        Scope::COMMON,
        Enum(&["TLSv1.3", "TLSv1.2", "TLS"]),
        D("TLSv1.3"),
        "Highest TLS version: TLSv1.2 keeps TLSv1.3 off even when ssl.enabled.protocols lists \
         it (as Java's clients do); TLSv1.3 and TLS allow both.",
    ),
    p(
        "ssl.enabled.protocols",
        Scope::COMMON,
        EnumList(&["TLSv1.2", "TLSv1.3"]),
        D("TLSv1.2,TLSv1.3"),
        "TLS versions offered to brokers, comma-separated: TLSv1.2, TLSv1.3.",
    ),
    p(
        "ssl.endpoint.identification.algorithm",
        Scope::COMMON,
        Enum(&["https", ""]),
        D("https"),
        "`https`: check that the broker's certificate names the host connected to. Empty: do \
         not check the name (the certificate chain is still verified).",
    ),
    p(
        "ssl.truststore.type",
        Scope::COMMON,
        Enum(STORE_TYPES),
        D(""),
        "Format of the trust store: PEM or PKCS12 (JKS is refused). Empty: PEM for \
         ssl.truststore.certificates, else PEM when the file holds `-----BEGIN`, else PKCS12.",
    ),
    p(
        "ssl.truststore.location",
        Scope::COMMON,
        Str,
        D(""),
        "File of the CA certificates that sign broker certificates. Empty (and no \
         ssl.truststore.certificates): the system's root certificates.",
    ),
    p(
        "ssl.truststore.password",
        Scope::COMMON,
        Secret,
        D(""),
        "Password of a PKCS12 trust store. Secret: never printed.",
    ),
    p(
        "ssl.truststore.certificates",
        Scope::COMMON,
        Secret,
        D(""),
        "CA certificates as inline PEM, instead of ssl.truststore.location.",
    ),
    p(
        "ssl.keystore.type",
        Scope::COMMON,
        Enum(STORE_TYPES),
        D(""),
        "Format of the key store: PEM or PKCS12 (JKS is refused). Empty: guessed as for \
         ssl.truststore.type.",
    ),
    p(
        "ssl.keystore.location",
        Scope::COMMON,
        Str,
        D(""),
        "File with this client's certificate chain and private key, for brokers that require \
         client certificates (mutual TLS). An encrypted PEM key needs ssl.key.password.",
    ),
    p(
        "ssl.keystore.password",
        Scope::COMMON,
        Secret,
        D(""),
        "Password of a PKCS12 key store. Secret: never printed.",
    ),
    p(
        "ssl.keystore.certificate.chain",
        Scope::COMMON,
        Secret,
        D(""),
        "This client's certificate chain as inline PEM (with ssl.keystore.key), instead of \
         ssl.keystore.location.",
    ),
    p(
        "ssl.keystore.key",
        Scope::COMMON,
        Secret,
        D(""),
        "This client's private key as inline PEM (with ssl.keystore.certificate.chain; \
         encrypted: with ssl.key.password). Secret: never printed.",
    ),
    p(
        "ssl.key.password",
        Scope::COMMON,
        Secret,
        D(""),
        "Password of an encrypted PEM private key (PKCS#8, PBES2), or of the key in a PKCS12 \
         key store (must then equal the store password). Secret: never printed.",
    ),
    p(
        "sasl.mechanism",
        Scope::COMMON,
        Enum(SASL_MECHANISMS),
        D("GSSAPI"),
        "SASL mechanism for SASL_PLAINTEXT and SASL_SSL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 \
         (Java's default GSSAPI, and OAUTHBEARER, are not supported yet).",
    ),
    p(
        "sasl.jaas.config",
        Scope::COMMON,
        Secret,
        D(""),
        "Credentials in Java's JAAS syntax, e.g. `org.apache.kafka.common.security.scram.\
         ScramLoginModule required username=\"alice\" password=\"...\";` (PlainLoginModule for \
         PLAIN). Secret: never printed.",
    ),
];

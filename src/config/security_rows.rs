//! The `ssl.*` and `sasl.*` rows of the property table (every client accepts them).

use super::{D, Enum, EnumList, Property, Scope, Str, int, p};
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
        "SASL mechanism for SASL_PLAINTEXT and SASL_SSL: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or \
         OAUTHBEARER (Java's default GSSAPI is not supported).",
    ),
    p(
        "sasl.jaas.config",
        Scope::COMMON,
        Secret,
        D(""),
        "Credentials in Java's JAAS syntax, e.g. `org.apache.kafka.common.security.scram.\
         ScramLoginModule required username=\"alice\" password=\"...\";` (PlainLoginModule for \
         PLAIN; OAuthBearerLoginModule for OAUTHBEARER). Secret: never printed.",
    ),
    p(
        "sasl.login.callback.handler.class",
        Scope::COMMON,
        Str,
        D(""),
        "OAUTHBEARER: empty, or Java's org.apache.kafka.common.security.oauthbearer.\
         OAuthBearerLoginCallbackHandler (the token endpoint's client-credentials flow, also \
         used whenever sasl.oauthbearer.token.endpoint.url is set). Other classes are refused.",
    ),
    p(
        "sasl.oauthbearer.token.endpoint.url",
        Scope::COMMON,
        Str,
        D(""),
        "OAUTHBEARER: the OAuth 2 token endpoint (client credentials, with clientId, \
         clientSecret and scope from sasl.jaas.config; needs the `oauth` cargo feature), or a \
         `file:` URL of a file holding the token. Empty: unsecured tokens from sasl.jaas.config.",
    ),
    p(
        "sasl.oauthbearer.scope.claim.name",
        Scope::COMMON,
        Str,
        D("scope"),
        "OAUTHBEARER: the JWT claim holding the token's scope.",
    ),
    p(
        "sasl.oauthbearer.sub.claim.name",
        Scope::COMMON,
        Str,
        D("sub"),
        "OAUTHBEARER: the JWT claim naming the principal.",
    ),
    p(
        "sasl.login.refresh.window.factor",
        Scope::COMMON,
        Str,
        D("0.8"),
        "OAUTHBEARER: a token is refreshed after this share of its lifetime (0.5 to 1.0).",
    ),
    p(
        "sasl.login.refresh.window.jitter",
        Scope::COMMON,
        Str,
        D("0.05"),
        "OAUTHBEARER: up to this share of the lifetime is added at random (0 to 0.25).",
    ),
    p(
        "sasl.login.refresh.min.period.seconds",
        Scope::COMMON,
        int(0, 900),
        D("60"),
        "OAUTHBEARER: seconds to wait at least before refreshing a token. Ignored, with \
         sasl.login.refresh.buffer.seconds, when the two exceed the token's lifetime.",
    ),
    p(
        "sasl.login.refresh.buffer.seconds",
        Scope::COMMON,
        int(0, 3600),
        D("300"),
        "OAUTHBEARER: seconds of lifetime a token keeps at least when it is refreshed.",
    ),
];

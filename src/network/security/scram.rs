//! The client side of SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks it:
//! no channel binding (`n,,`), no SASLprep (Kafka's ScramFormatter uses the raw UTF-8), and the
//! server's signature verified before the connection is trusted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Digest;

use crate::config::{Password, SaslMechanism};

/// Kafka refuses fewer; a server asking for fewer is not following the protocol.
const MIN_ITERATIONS: u32 = 4096;

/// Keys derived from the password for one exchange.
struct Derived {
    client_proof: Vec<u8>,
    server_signature: Vec<u8>,
}

macro_rules! derive_with {
    ($digest:ty, $password:expr, $salt:expr, $iterations:expr, $auth:expr) => {{
        let mut salted = vec![0u8; <$digest>::output_size()];
        pbkdf2::pbkdf2_hmac::<$digest>($password, $salt, $iterations, &mut salted);
        let hmac = |key: &[u8], data: &[u8]| -> Vec<u8> {
            // HMAC takes keys of any length: new_from_slice cannot fail.
            let mut m = <Hmac<$digest> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            m.update(data);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = <$digest>::digest(&client_key).to_vec();
        let client_signature = hmac(&stored_key, $auth);
        let server_key = hmac(&salted, b"Server Key");
        Derived {
            client_proof: client_key
                .iter()
                .zip(&client_signature)
                .map(|(a, b)| a ^ b)
                .collect(),
            server_signature: hmac(&server_key, $auth),
        }
    }};
}

/// One SCRAM exchange, from the client-first message to the server-final check.
pub(crate) struct ScramClient {
    mechanism: SaslMechanism,
    password: Password,
    nonce: String,
    client_first_bare: String,
    server_signature: Option<Vec<u8>>,
}

/// `saslname` escaping of RFC 5802: `=` and `,` cannot appear raw.
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// A fresh client nonce: 24 random bytes, base64 (printable and without `,`).
pub(crate) fn new_nonce() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source for the nonce: {e}"))?;
    Ok(B64.encode(bytes))
}

impl ScramClient {
    pub(crate) fn new(
        mechanism: SaslMechanism,
        username: &str,
        password: Password,
        nonce: String,
    ) -> ScramClient {
        let client_first_bare = format!("n={},r={nonce}", escape_name(username));
        ScramClient {
            mechanism,
            password,
            nonce,
            client_first_bare,
            server_signature: None,
        }
    }

    /// The client-first message.
    pub(crate) fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// The client-final message answering `server_first`.
    ///
    /// Errors: a description when the server's message is malformed, its nonce does not extend
    /// ours, or it asks for fewer than 4096 iterations.
    pub(crate) fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("e", v)) => return Err(format!("the server refused: {v}")),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err("malformed server-first message (needs r, s and i)".to_owned());
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server nonce does not extend the client nonce".to_owned());
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| "the server salt is not base64".to_owned())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the server iteration count is not a number".to_owned())?;
        if iterations < MIN_ITERATIONS {
            return Err(format!(
                "the server asks for {iterations} iterations, fewer than {MIN_ITERATIONS}"
            ));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let pw = self.password.expose().as_bytes();
        let derived = match self.mechanism {
            SaslMechanism::ScramSha512 => {
                derive_with!(sha2::Sha512, pw, &salt, iterations, auth.as_bytes())
            }
            _ => derive_with!(sha2::Sha256, pw, &salt, iterations, auth.as_bytes()),
        };
        self.server_signature = Some(derived.server_signature);
        Ok(format!(
            "{without_proof},p={}",
            B64.encode(derived.client_proof)
        ))
    }

    /// Checks the server-final message: the server proves it knows the password too.
    ///
    /// Errors: the server's `e=` error, or a description when the signature is missing or
    /// wrong.
    pub(crate) fn verify_server_final(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("the server refused: {e}"));
        }
        let v = server_final
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or("malformed server-final message (no v=)")?;
        let got = B64
            .decode(v)
            .map_err(|_| "the server signature is not base64".to_owned())?;
        match &self.server_signature {
            Some(expected) if *expected == got => Ok(()),
            Some(_) => Err(
                "the server signature does not verify: the broker does not know this user's \
                 credentials (or is not the broker it claims to be)"
                    .to_owned(),
            ),
            None => Err("server-final message before server-first".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3.
    #[test]
    fn rfc7677_sha256_vector() {
        let mut c = ScramClient::new(
            SaslMechanism::ScramSha256,
            "user",
            Password::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO".to_owned(),
        );
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            c.client_final(server_first).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        let e = c
            .verify_server_final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        let e = c.verify_server_final("e=invalid-proof").unwrap_err();
        assert!(e.contains("invalid-proof"), "{e}");
    }

    #[test]
    fn hostile_server_first_messages() {
        let mut c = ScramClient::new(
            SaslMechanism::ScramSha512,
            "a=b,c",
            Password::new("pw"),
            "abc".to_owned(),
        );
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        for (bad, why) in [
            ("r=xyz123,s=AAAA,i=4096", "does not extend"),
            ("r=abc,s=AAAA,i=4096", "does not extend"),
            ("r=abcd,s=AAAA,i=1", "fewer than 4096"),
            ("r=abcd,s=!!,i=4096", "not base64"),
            ("r=abcd,i=4096", "malformed"),
            ("e=unknown-user", "unknown-user"),
        ] {
            let e = c.client_final(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // The SHA-512 path yields a 64-byte proof.
        let fin = c.client_final("r=abcd,s=AAAA,i=4096").unwrap();
        let proof = fin.rsplit_once("p=").unwrap().1;
        assert_eq!(B64.decode(proof).unwrap().len(), 64);
        assert_eq!(new_nonce().unwrap().len(), 32);
    }
}

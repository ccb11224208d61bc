//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554).
//!
//! The password never leaves this process: an upsert sends a random salt and the PBKDF2
//! salted password (RFC 5802's SaltedPassword), from which the broker derives its keys.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};
use crate::network::Target;
use crate::protocol::StrBytes;
use crate::protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use crate::protocol::messages::describe_user_scram_credentials_request::UserName;
use crate::protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};

use super::{
    AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialAlteration, item_error,
};

/// PBKDF2-HMAC of the mechanism's hash; an iteration count below 1 is sent as given and
/// refused by the broker, so it derives with 1 here.
pub(super) fn salted_password(
    mechanism: ScramMechanism,
    password: &[u8],
    salt: &[u8],
    iterations: i32,
) -> Vec<u8> {
    let rounds = u32::try_from(iterations.max(1)).unwrap_or(1);
    match mechanism {
        ScramMechanism::ScramSha256 => {
            let mut out = vec![0u8; Sha256::output_size()];
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut out);
            out
        }
        ScramMechanism::ScramSha512 => {
            let mut out = vec![0u8; Sha512::output_size()];
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, &mut out);
            out
        }
    }
}

pub(super) fn described(
    resp: &DescribeUserScramCredentialsResponse,
) -> Result<BTreeMap<String, Result<Vec<ScramCredentialInfo>>>> {
    item_error(
        resp.error_code,
        resp.error_message.as_ref(),
        "DescribeUserScramCredentials",
    )?;
    Ok(resp
        .results
        .iter()
        .map(|r| {
            let user = r.user.to_string();
            let outcome = item_error(
                r.error_code,
                r.error_message.as_ref(),
                &format!("user {user}"),
            )
            .map(|()| {
                let mut infos: Vec<ScramCredentialInfo> = r
                    .credential_infos
                    .iter()
                    .filter_map(|c| {
                        Some(ScramCredentialInfo {
                            mechanism: ScramMechanism::from_code(c.mechanism)?,
                            iterations: c.iterations,
                        })
                    })
                    .collect();
                infos.sort();
                infos
            });
            (user, outcome)
        })
        .collect())
}

impl AdminClient {
    /// The SCRAM credentials of `users` (`None`: every user that has one), per user:
    /// mechanisms and iteration counts. A user without credentials gets RESOURCE_NOT_FOUND.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_user_scram_credentials(
        &self,
        users: Option<&[&str]>,
    ) -> Result<BTreeMap<String, Result<Vec<ScramCredentialInfo>>>> {
        let req = DescribeUserScramCredentialsRequest::default().with_users(users.map(|us| {
            us.iter()
                .map(|u| UserName::default().with_name(StrBytes::from_string(u.to_string())))
                .collect()
        }));
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        described(&resp)
    }

    /// Creates, replaces or deletes SCRAM credentials. One entry per user: its changes
    /// succeed or fail together (UNACCEPTABLE_CREDENTIAL for too few iterations,
    /// RESOURCE_NOT_FOUND for deleting one that does not exist).
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: credentials may change after the future was dropped.
    pub async fn alter_user_scram_credentials(
        &self,
        alterations: Vec<UserScramCredentialAlteration>,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let mut upsertions = Vec::new();
        let mut deletions = Vec::new();
        let mut users: Vec<String> = Vec::new();
        for a in &alterations {
            match a {
                UserScramCredentialAlteration::Upsert {
                    user,
                    mechanism,
                    iterations,
                    password,
                } => {
                    let mut salt = [0u8; 32];
                    getrandom::fill(&mut salt)
                        .map_err(|e| Error::Protocol(format!("no random salt: {e}")))?;
                    upsertions.push(
                        ScramCredentialUpsertion::default()
                            .with_name(StrBytes::from_string(user.clone()))
                            .with_mechanism(mechanism.code())
                            .with_iterations(*iterations)
                            .with_salt(Bytes::copy_from_slice(&salt))
                            .with_salted_password(Bytes::from(salted_password(
                                *mechanism,
                                password.as_bytes(),
                                &salt,
                                *iterations,
                            ))),
                    );
                    users.push(user.clone());
                }
                UserScramCredentialAlteration::Delete { user, mechanism } => {
                    deletions.push(
                        ScramCredentialDeletion::default()
                            .with_name(StrBytes::from_string(user.clone()))
                            .with_mechanism(mechanism.code()),
                    );
                    users.push(user.clone());
                }
            }
        }
        let req = AlterUserScramCredentialsRequest::default()
            .with_upsertions(upsertions)
            .with_deletions(deletions);
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        Ok(users
            .into_iter()
            .map(|u| {
                let outcome = match resp.results.iter().find(|r| r.user.as_str() == u) {
                    Some(r) => {
                        item_error(r.error_code, r.error_message.as_ref(), &format!("user {u}"))
                    }
                    None => Err(Error::Protocol(format!(
                        "AlterUserScramCredentials has no result for {u}"
                    ))),
                };
                (u, outcome)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn salted_password_is_pbkdf2_of_the_mechanism() {
        // PBKDF2-HMAC test vectors: password "password", salt "salt", one iteration.
        let a = salted_password(ScramMechanism::ScramSha256, b"password", b"salt", 1);
        assert_eq!(
            hex(&a),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        let b = salted_password(ScramMechanism::ScramSha512, b"password", b"salt", 1);
        assert_eq!(
            hex(&b),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
             c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
    }
}

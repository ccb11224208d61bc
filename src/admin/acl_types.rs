//! Value types of the ACL calls (KIP-140).

/// Declares a wire enum: variants with their protocol codes, plus `Unknown(code)`.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this client does not know.
            Unknown(i8),
        }

        impl $name {
            /// The protocol's code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(c) => c,
                }
            }

            /// From the protocol's code.
            pub fn from_code(code: i8) -> $name {
                match code {
                    $($code => $name::$variant,)*
                    c => $name::Unknown(c),
                }
            }
        }
    };
}

wire_enum! {
    /// What an ACL protects.
    AclResourceType {
        /// Any type (filters only).
        Any = 1,
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster (name `kafka-cluster`).
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
        /// A delegation token.
        DelegationToken = 6,
        /// A user principal.
        User = 7,
    }
}

wire_enum! {
    /// How an ACL's resource name matches.
    PatternType {
        /// Any pattern (filters only).
        Any = 1,
        /// Whatever would apply to a name: literal, wildcard and prefixed (filters only).
        Match = 2,
        /// The exact name, or `*` for every name.
        Literal = 3,
        /// Every name starting with it.
        Prefixed = 4,
    }
}

wire_enum! {
    /// The operation an ACL allows or denies.
    AclOperation {
        /// Any operation (filters only).
        Any = 1,
        /// Every operation.
        All = 2,
        /// Read (fetch, commit offsets).
        Read = 3,
        /// Write (produce).
        Write = 4,
        /// Create topics.
        Create = 5,
        /// Delete topics, records, groups.
        Delete = 6,
        /// Alter.
        Alter = 7,
        /// Describe (metadata, offsets).
        Describe = 8,
        /// Inter-broker actions.
        ClusterAction = 9,
        /// Describe configs.
        DescribeConfigs = 10,
        /// Alter configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
        /// Create delegation tokens.
        CreateTokens = 13,
        /// Describe delegation tokens.
        DescribeTokens = 14,
    }
}

wire_enum! {
    /// Whether an ACL allows or denies.
    AclPermissionType {
        /// Either (filters only).
        Any = 1,
        /// Deny: wins over any allow.
        Deny = 2,
        /// Allow.
        Allow = 3,
    }
}

/// One ACL: principal may (or may not) do operation on resource from host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// What is protected.
    pub resource_type: AclResourceType,
    /// Its name (`*` for all under [`PatternType::Literal`]).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// Who, e.g. `User:alice`.
    pub principal: String,
    /// From where, `*` for anywhere.
    pub host: String,
    /// What.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermissionType,
}

impl AclBinding {
    /// `principal` may (`allow`) or may not do `operation` on the literal topic `topic` from
    /// any host.
    pub fn topic(topic: &str, principal: &str, operation: AclOperation, allow: bool) -> AclBinding {
        AclBinding {
            resource_type: AclResourceType::Topic,
            resource_name: topic.to_string(),
            pattern_type: PatternType::Literal,
            principal: principal.to_string(),
            host: "*".into(),
            operation,
            permission: if allow {
                AclPermissionType::Allow
            } else {
                AclPermissionType::Deny
            },
        }
    }

    /// The filter that matches exactly this binding.
    pub fn to_filter(&self) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: self.resource_type,
            resource_name: Some(self.resource_name.clone()),
            pattern_type: self.pattern_type,
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: self.operation,
            permission: self.permission,
        }
    }
}

/// Which ACLs [`AdminClient::describe_acls`](super::AdminClient::describe_acls) and
/// [`delete_acls`](super::AdminClient::delete_acls) match; `None` and the `Any` variants
/// match everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBindingFilter {
    /// Resource type, or [`AclResourceType::Any`].
    pub resource_type: AclResourceType,
    /// Resource name, or `None` for any.
    pub resource_name: Option<String>,
    /// Pattern type, [`PatternType::Any`] or [`PatternType::Match`].
    pub pattern_type: PatternType,
    /// Principal, or `None` for any.
    pub principal: Option<String>,
    /// Host, or `None` for any.
    pub host: Option<String>,
    /// Operation, or [`AclOperation::Any`].
    pub operation: AclOperation,
    /// Permission, or [`AclPermissionType::Any`].
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub fn any() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: AclResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }
}

/// A SCRAM mechanism (KIP-554).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ScramMechanism {
    /// SCRAM-SHA-256 (wire code 1).
    ScramSha256,
    /// SCRAM-SHA-512 (wire code 2).
    ScramSha512,
}

impl ScramMechanism {
    pub(crate) fn code(self) -> i8 {
        match self {
            ScramMechanism::ScramSha256 => 1,
            ScramMechanism::ScramSha512 => 2,
        }
    }

    pub(crate) fn from_code(code: i8) -> Option<ScramMechanism> {
        match code {
            1 => Some(ScramMechanism::ScramSha256),
            2 => Some(ScramMechanism::ScramSha512),
            _ => None,
        }
    }
}

/// One SCRAM credential of a user: its mechanism and iteration count (never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScramCredentialInfo {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// PBKDF2 iterations (at least 4096, Kafka's floor).
    pub iterations: i32,
}

/// A change of [`AdminClient::alter_user_scram_credentials`](super::AdminClient::alter_user_scram_credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserScramCredentialAlteration {
    /// Creates or replaces `user`'s credential for `mechanism`. The password is salted and
    /// hashed here; only the salted hash is sent.
    Upsert {
        /// User name (the principal is `User:<user>`).
        user: String,
        /// Mechanism.
        mechanism: ScramMechanism,
        /// PBKDF2 iterations (Kafka refuses fewer than 4096).
        iterations: i32,
        /// The password.
        password: String,
    },
    /// Deletes `user`'s credential for `mechanism`.
    Delete {
        /// User name.
        user: String,
        /// Mechanism.
        mechanism: ScramMechanism,
    },
}

//! `group.protocol` and the keys that belong to one protocol only (`group.remote.assignor` to
//! the consumer protocol; `partition.assignment.strategy`, `session.timeout.ms`,
//! `heartbeat.interval.ms` to the classic one), checked as Java's ConsumerConfig checks them.

use std::fmt;
use std::str::FromStr;

use super::Props;
use crate::error::ConfigError;

/// The consumer group protocol (`group.protocol`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GroupProtocol {
    /// `classic` (default): JoinGroup/SyncGroup with client-side assignment.
    #[default]
    Classic,
    /// `consumer` (KIP-848): the broker assigns; each member reconciles its target assignment
    /// through ConsumerGroupHeartbeat, with no group-wide stop.
    Consumer,
}

impl GroupProtocol {
    /// The property value.
    pub const fn as_str(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }
}

impl fmt::Display for GroupProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroupProtocol {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("classic") {
            Ok(GroupProtocol::Classic)
        } else if s.eq_ignore_ascii_case("consumer") {
            Ok(GroupProtocol::Consumer)
        } else {
            Err(ConfigError::new(
                "group.protocol",
                format!("`{s}` is not one of: classic, consumer"),
            ))
        }
    }
}

/// Keys of the classic protocol only: with the consumer protocol the broker owns assignment,
/// session timeout and heartbeat interval.
pub(super) const CLASSIC_ONLY: &[&str] = &[
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
];

/// The broker-side assignors Apache Kafka ships.
const REMOTE_ASSIGNORS: &[&str] = &["uniform", "range"];

/// Refuses keys that the chosen protocol does not use, as Java does, rather than ignore them.
pub(super) fn check(props: &Props) -> Result<(), ConfigError> {
    let protocol: GroupProtocol = props.choice("group.protocol")?.parse()?;
    let remote = props.opt_string("group.remote.assignor")?;
    match protocol {
        GroupProtocol::Classic => {
            if remote.is_some() {
                return Err(ConfigError::new(
                    "group.remote.assignor",
                    "cannot be set with group.protocol=classic (the members assign: use \
                     partition.assignment.strategy)",
                ));
            }
        }
        GroupProtocol::Consumer => {
            if let Some(key) = CLASSIC_ONLY.iter().find(|k| props.is_explicit(k)) {
                return Err(ConfigError::new(
                    *key,
                    "cannot be set with group.protocol=consumer (the broker decides it; see \
                     group.remote.assignor and the group's broker-side configs)",
                ));
            }
            if let Some(r) = &remote
                && !REMOTE_ASSIGNORS.contains(&r.as_str())
            {
                return Err(ConfigError::new(
                    "group.remote.assignor",
                    format!("`{r}` is not one of: uniform, range"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::ConsumerConfig;
    use crate::error::ConfigError;

    fn consumer(extra: &[(&str, &str)]) -> Result<ConsumerConfig, ConfigError> {
        let mut props = vec![("bootstrap.servers", "localhost:9092"), ("group.id", "g")];
        props.extend_from_slice(extra);
        ConsumerConfig::from_properties(props)
    }

    #[test]
    fn consumer_protocol_is_accepted_with_its_assignor() {
        let cfg = consumer(&[("group.protocol", "consumer")]).expect("consumer protocol");
        assert_eq!(cfg.group_protocol.as_str(), "consumer");
        let cfg = consumer(&[
            ("group.protocol", "CONSUMER"),
            ("group.remote.assignor", "range"),
        ])
        .expect("consumer protocol with range");
        assert_eq!(cfg.group_remote_assignor.as_deref(), Some("range"));
        let cfg = consumer(&[
            ("group.protocol", "consumer"),
            ("group.remote.assignor", "uniform"),
        ])
        .expect("consumer protocol with uniform");
        assert_eq!(cfg.group_remote_assignor.as_deref(), Some("uniform"));
        let back = ConsumerConfig::from_properties(cfg.to_properties()).expect("round trip");
        assert_eq!(back, cfg);
        // Classic stays the default.
        assert_eq!(consumer(&[]).unwrap().group_protocol.as_str(), "classic");
    }

    #[test]
    fn keys_of_the_other_protocol_are_refused() {
        let e = consumer(&[("group.remote.assignor", "uniform")]).unwrap_err();
        assert_eq!(e.key, "group.remote.assignor");
        assert!(e.reason.contains("group.protocol=classic"), "{e}");
        for (key, value) in [
            ("partition.assignment.strategy", "range"),
            ("session.timeout.ms", "30000"),
            ("heartbeat.interval.ms", "1000"),
        ] {
            let e = consumer(&[("group.protocol", "consumer"), (key, value)]).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.reason.contains("group.protocol=consumer"), "{e}");
        }
        let e = consumer(&[
            ("group.protocol", "consumer"),
            ("group.remote.assignor", "sticky"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "group.remote.assignor");
    }
}

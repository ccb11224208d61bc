//! Value types of the config calls (`describe_configs`, `incremental_alter_configs`).

use std::fmt;

/// What kind of thing a config belongs to (the protocol's `ConfigResource.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ConfigResourceType {
    /// A topic (wire code 2).
    Topic,
    /// A broker by id, or the cluster-wide default with an empty name (wire code 4).
    Broker,
    /// A broker's log4j loggers (wire code 8).
    BrokerLogger,
    /// Client metrics subscriptions, KIP-714 (wire code 16).
    ClientMetrics,
    /// A consumer or share group, KIP-848 (wire code 32).
    Group,
}

impl ConfigResourceType {
    pub(crate) fn code(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
            ConfigResourceType::BrokerLogger => 8,
            ConfigResourceType::ClientMetrics => 16,
            ConfigResourceType::Group => 32,
        }
    }
}

/// A topic, broker or group whose configs are described or altered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    /// The kind of resource.
    pub resource_type: ConfigResourceType,
    /// Its name: topic name, broker id in decimal (empty: cluster default), group id.
    pub name: String,
}

impl ConfigResource {
    /// A topic.
    pub fn topic(name: impl Into<String>) -> ConfigResource {
        ConfigResource {
            resource_type: ConfigResourceType::Topic,
            name: name.into(),
        }
    }

    /// A broker by id.
    pub fn broker(id: i32) -> ConfigResource {
        ConfigResource {
            resource_type: ConfigResourceType::Broker,
            name: id.to_string(),
        }
    }

    /// The cluster-wide dynamic broker default (`--entity-default` of kafka-configs).
    pub fn broker_default() -> ConfigResource {
        ConfigResource {
            resource_type: ConfigResourceType::Broker,
            name: String::new(),
        }
    }

    /// A group (KIP-848 group configs such as `consumer.session.timeout.ms`).
    pub fn group(id: impl Into<String>) -> ConfigResource {
        ConfigResource {
            resource_type: ConfigResourceType::Group,
            name: id.into(),
        }
    }

    /// The broker this resource must be sent to: broker and broker-logger resources are
    /// answered only by the broker they name.
    pub(crate) fn node(&self) -> Option<i32> {
        match self.resource_type {
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger => self.name.parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.resource_type {
            ConfigResourceType::Topic => "topic",
            ConfigResourceType::Broker => "broker",
            ConfigResourceType::BrokerLogger => "broker logger",
            ConfigResourceType::ClientMetrics => "client metrics",
            ConfigResourceType::Group => "group",
        };
        write!(f, "{kind} {:?}", self.name)
    }
}

/// Where a config's value comes from, highest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigSource {
    /// Set on this topic (`DYNAMIC_TOPIC_CONFIG`).
    DynamicTopicConfig,
    /// Set dynamically on this broker (`DYNAMIC_BROKER_CONFIG`).
    DynamicBrokerConfig,
    /// Set dynamically as the cluster-wide default (`DYNAMIC_DEFAULT_BROKER_CONFIG`).
    DynamicDefaultBrokerConfig,
    /// Set dynamically on a broker's loggers (`DYNAMIC_BROKER_LOGGER_CONFIG`).
    DynamicBrokerLoggerConfig,
    /// From the broker's `server.properties` (`STATIC_BROKER_CONFIG`).
    StaticBrokerConfig,
    /// Kafka's built-in default (`DEFAULT_CONFIG`).
    DefaultConfig,
    /// Set on this group (`GROUP_CONFIG`).
    GroupConfig,
    /// Set on a client metrics resource (`CLIENT_METRICS_CONFIG`).
    ClientMetricsConfig,
    /// A code this client does not know, or the broker did not say (`UNKNOWN`).
    Unknown(i8),
}

impl ConfigSource {
    pub(crate) fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            7 => ConfigSource::ClientMetricsConfig,
            8 => ConfigSource::GroupConfig,
            c => ConfigSource::Unknown(c),
        }
    }

    /// The name Kafka's tools print, e.g. `DYNAMIC_TOPIC_CONFIG`.
    pub fn name(&self) -> &'static str {
        match self {
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::GroupConfig => "GROUP_CONFIG",
            ConfigSource::ClientMetricsConfig => "CLIENT_METRICS_CONFIG",
            ConfigSource::Unknown(_) => "UNKNOWN",
        }
    }
}

/// One config of a described resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigEntry {
    /// Config name, e.g. `retention.ms`.
    pub name: String,
    /// Its value; `None` for sensitive configs (passwords) and unset ones.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is a secret the broker does not reveal.
    pub is_sensitive: bool,
    /// Whether it cannot be changed at runtime.
    pub is_read_only: bool,
    /// Every level that sets it, highest precedence first (empty when the broker sends none).
    pub synonyms: Vec<ConfigSynonym>,
    /// The broker's documentation of the config, when asked for
    /// ([`DescribeConfigsOptions::include_documentation`]).
    pub documentation: Option<String>,
}

/// One level that sets a config ([`ConfigEntry::synonyms`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The name at that level (a topic's `retention.ms` is the broker's `log.retention.ms`).
    pub name: String,
    /// The value at that level (`None` when sensitive).
    pub value: Option<String>,
    /// The level.
    pub source: ConfigSource,
}

/// Options of [`AdminClient::describe_configs_with`](super::AdminClient::describe_configs_with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeConfigsOptions {
    /// Ask for each config's documentation (default false).
    pub include_documentation: bool,
    /// Only these config names (default: every config of the resource).
    pub keys: Option<Vec<String>>,
}

/// One change of [`AdminClient::incremental_alter_configs`](super::AdminClient::incremental_alter_configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets `name` to `value`.
    Set(String, String),
    /// Removes the resource's own value of `name`, so the next level's applies.
    Delete(String),
    /// Adds `value` to a list config (`cleanup.policy`, ...).
    Append(String, String),
    /// Removes `value` from a list config.
    Subtract(String, String),
}

impl AlterConfigOp {
    /// `name=value` set.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> AlterConfigOp {
        AlterConfigOp::Set(name.into(), value.into())
    }

    /// `name` deleted.
    pub fn delete(name: impl Into<String>) -> AlterConfigOp {
        AlterConfigOp::Delete(name.into())
    }

    /// The wire fields: name, operation code, value.
    pub(crate) fn wire(&self) -> (&str, i8, Option<&str>) {
        match self {
            AlterConfigOp::Set(n, v) => (n, 0, Some(v)),
            AlterConfigOp::Delete(n) => (n, 1, None),
            AlterConfigOp::Append(n, v) => (n, 2, Some(v)),
            AlterConfigOp::Subtract(n, v) => (n, 3, Some(v)),
        }
    }
}

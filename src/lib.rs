#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod admin;
pub mod config;
pub mod error;
pub mod producer;
pub mod record;

pub(crate) mod network;
pub(crate) mod protocol;

pub use admin::AdminClient;
pub use config::{AdminConfig, ConsumerConfig, ProducerConfig};
pub use error::{ConfigError, Error, ErrorCode, Result};
pub use producer::{KafkaProducer, ProducerRecord, RecordMetadata};
pub use protocol::compression::Compression;

#[cfg(test)]
pub(crate) mod test_support;

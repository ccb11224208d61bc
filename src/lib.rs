#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod admin;
pub mod config;
pub mod error;
pub mod record;

// Routing by node id, topic interest and acks=0 sends are the producer's and consumer's.
#[allow(dead_code)]
pub(crate) mod network;
pub(crate) mod protocol;

pub use admin::AdminClient;
pub use config::{AdminConfig, ConsumerConfig, ProducerConfig};
pub use error::{ConfigError, Error, ErrorCode, Result};
pub use protocol::compression::Compression;

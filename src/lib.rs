#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_support;
pub mod config;
pub mod consumer;
pub mod error;
pub mod fuzzing;
pub mod guide;
pub mod metrics;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "otel")]
pub mod otel;
pub mod producer;
pub mod record;
pub mod serialization;
pub mod share_consumer;
pub mod types;

pub(crate) mod network;
pub(crate) mod protocol;
pub(crate) mod spans;
pub mod tools;
// Free of OpenTelemetry types, but only `otel` writes or reads the headers.
#[cfg(feature = "otel")]
pub(crate) mod trace_context;
pub(crate) mod user_code;

pub use admin::AdminClient;
pub use config::{AdminConfig, ConsumerConfig, ProducerConfig};
pub use consumer::{ConsumerRecord, ConsumerRecords, KafkaConsumer, RebalanceListener};
pub use error::{ConfigError, Error, ErrorCode, Result, TlsFailure};
pub use producer::{KafkaProducer, ProducerRecord, RecordMetadata};
/// The rustls version ferrokafka's TLS uses, for
/// [`RustlsClientConfig`](config::RustlsClientConfig).
#[cfg(feature = "tls")]
pub use rustls;
pub use share_consumer::{KafkaShareConsumer, ShareConsumerConfig};
pub use types::{Compression, Node, TopicId, TopicPartition};

#[cfg(test)]
pub(crate) mod test_support;

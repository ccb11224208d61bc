//! Pure wire-format code: framing, version negotiation, record batches, compression.
//!
//! The only layer that names the `kafka-protocol` crate; nothing here does I/O.

// Batch building/decoding and codecs are driven by the producer and consumer.
#[allow(dead_code)]
pub mod compression;
pub(crate) mod frame;
#[allow(dead_code)]
pub(crate) mod record_batch;
pub(crate) mod versions;

/// Request and response message types, re-exported for the layers above.
pub(crate) use kafka_protocol::messages;
pub(crate) use kafka_protocol::protocol::{Request, StrBytes};

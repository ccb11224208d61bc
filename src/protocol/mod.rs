//! Pure wire-format code: framing, version negotiation, record batches, compression.
//!
//! The only layer that names the `kafka-protocol` crate; nothing here does I/O.

pub mod compression;
pub(crate) mod consumer_protocol;
pub(crate) mod frame;
pub(crate) mod produce_request;
pub(crate) mod record_batch;
pub(crate) mod versions;

/// Request and response message types, re-exported for the layers above.
pub(crate) use kafka_protocol::messages;
pub(crate) use kafka_protocol::protocol::{Request, StrBytes};
/// Topic ids in the codec's messages.
#[cfg_attr(not(feature = "mock"), allow(unused_imports))]
pub(crate) use uuid::Uuid;

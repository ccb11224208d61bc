//! serde JSON (feature `json`).

use bytes::Bytes;

use super::{CodecError, Deserializer, Serializer};

/// JSON through serde (as Confluent's schemaless `KafkaJsonSerializer`): any
/// `T: serde::Serialize` out, any `T: serde::de::DeserializeOwned` in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: serde::Serialize + ?Sized> Serializer<T> for Json {
    fn serialize(&self, data: &T) -> Result<Bytes, CodecError> {
        serde_json::to_vec(data)
            .map(Bytes::from)
            .map_err(|e| CodecError(e.to_string()))
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<T> for Json {
    fn deserialize(&self, data: &Bytes) -> Result<T, CodecError> {
        serde_json::from_slice(data).map_err(|e| CodecError(e.to_string()))
    }
}

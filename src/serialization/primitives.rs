//! Bytes, UTF-8 strings and numbers in Java's byte order.

use bytes::Bytes;

use super::{CodecError, Deserializer, Serializer};

/// Bytes as they are (Java's `ByteArraySerializer`/`BytesSerializer`). Deserializing to
/// `Bytes` shares the fetched buffer; to `Vec<u8>` copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Serializer<Bytes> for Raw {
    fn serialize(&self, data: &Bytes) -> Result<Bytes, CodecError> {
        Ok(data.clone())
    }
}

impl Serializer<[u8]> for Raw {
    fn serialize(&self, data: &[u8]) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(data))
    }
}

impl Serializer<Vec<u8>> for Raw {
    fn serialize(&self, data: &Vec<u8>) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(data))
    }
}

impl Deserializer<Bytes> for Raw {
    fn deserialize(&self, data: &Bytes) -> Result<Bytes, CodecError> {
        Ok(data.clone())
    }
}

impl Deserializer<Vec<u8>> for Raw {
    fn deserialize(&self, data: &Bytes) -> Result<Vec<u8>, CodecError> {
        Ok(data.to_vec())
    }
}

/// UTF-8 text (Java's `StringSerializer` with its default encoding). Invalid UTF-8 is an
/// error on deserialization, never replaced.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8;

impl Serializer<str> for Utf8 {
    fn serialize(&self, data: &str) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(data.as_bytes()))
    }
}

impl Serializer<String> for Utf8 {
    fn serialize(&self, data: &String) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(data.as_bytes()))
    }
}

impl Deserializer<String> for Utf8 {
    fn deserialize(&self, data: &Bytes) -> Result<String, CodecError> {
        String::from_utf8(data.to_vec()).map_err(|e| CodecError(format!("invalid UTF-8: {e}")))
    }
}

/// Fixed-width numbers, most significant byte first: the bytes of Java's `ShortSerializer`,
/// `IntegerSerializer`, `LongSerializer`, `FloatSerializer` and `DoubleSerializer` for
/// `i16`, `i32`, `i64`, `f32`, `f64` (unsigned types use the same widths). Deserializing
/// bytes of another length is an error, as in Java.
#[derive(Debug, Clone, Copy, Default)]
pub struct BigEndian;

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl Serializer<$t> for BigEndian {
            fn serialize(&self, data: &$t) -> Result<Bytes, CodecError> {
                Ok(Bytes::copy_from_slice(&data.to_be_bytes()))
            }
        }

        impl Deserializer<$t> for BigEndian {
            fn deserialize(&self, data: &Bytes) -> Result<$t, CodecError> {
                const N: usize = std::mem::size_of::<$t>();
                let bytes: [u8; N] = data[..].try_into().map_err(|_| {
                    CodecError(format!(
                        "{} needs {N} bytes, got {}",
                        stringify!($t),
                        data.len()
                    ))
                })?;
                Ok(<$t>::from_be_bytes(bytes))
            }
        }
    )*};
}

big_endian!(i16, u16, i32, u32, i64, u64, f32, f64);

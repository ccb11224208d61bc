//! Request/response framing: 4-byte big-endian size prefix, request header v1/v2, response
//! header v0/v1 (see the protocol guide, "Common Request and Response Structure").

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::error::{Error, Result};

/// Largest response frame we accept. Fetch responses are bounded by `fetch.max.bytes`
/// (50 MiB default); anything near this is a desynchronised stream, not data.
pub(crate) const MAX_FRAME_BYTES: usize = 512 * 1024 * 1024;

/// A request's body: a `kafka-protocol` message, or one this crate encodes itself where the
/// message structs cost per item (Produce: a struct and a shared byte handle per batch, at
/// 10,000 partitions once per record).
pub(crate) trait RequestBody {
    /// The message it encodes: its API key, header version and response.
    type Request: Request;
    /// Encoded size at `version`, in bytes.
    fn size(&self, version: i16) -> Result<usize>;
    /// Appends exactly [`size`](Self::size) bytes.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<()>;
}

impl<R: Request> RequestBody for R {
    type Request = R;

    fn size(&self, version: i16) -> Result<usize> {
        self.compute_size(version)
            .map_err(|e| Error::protocol("sizing request", e))
    }

    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<()> {
        Encodable::encode(self, buf, version).map_err(|e| Error::protocol("encoding request", e))
    }
}

/// Encodes `req` as one complete size-prefixed frame.
pub(crate) fn encode_request<B: RequestBody>(
    correlation_id: i32,
    client_id: &StrBytes,
    version: i16,
    req: &B,
) -> Result<Bytes> {
    let key = <B::Request as Request>::KEY;
    let header = RequestHeader::default()
        .with_request_api_key(key)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()));
    let header_version = <B::Request as HeaderVersion>::header_version(version);
    let header_size = header
        .compute_size(header_version)
        .map_err(|e| Error::protocol("sizing request header", e))?;
    let size = header_size + req.size(version)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| Error::protocol("encoding request header", e))?;
    req.encode(&mut buf, version)?;
    if buf.len() != 4 + size {
        return Err(Error::Protocol(format!(
            "{} v{version} request encoded {} bytes, sized {size}",
            api_name(key),
            buf.len() - 4
        )));
    }
    Ok(buf.freeze())
}

/// The correlation id every response frame starts with (frame = bytes after the size prefix).
pub(crate) fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    frame
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes a response frame (without its size prefix) for request type `R` at `version`.
pub(crate) fn decode_response<R: Request>(mut frame: Bytes, version: i16) -> Result<R::Response> {
    let header_version = R::Response::header_version(version);
    ResponseHeader::decode(&mut frame, header_version)
        .map_err(|e| Error::protocol("decoding response header", e))?;
    let resp = R::Response::decode(&mut frame, version)
        .map_err(|e| Error::protocol(api_name(R::KEY), e))?;
    if frame.has_remaining() {
        // Trailing bytes mean we and the broker disagree on the layout: never guess.
        return Err(Error::Protocol(format!(
            "{} v{version} response has {} trailing bytes",
            api_name(R::KEY),
            frame.remaining()
        )));
    }
    Ok(resp)
}

/// The fixed start of a request header: API key, API version, correlation id.
#[cfg_attr(not(feature = "mock"), allow(dead_code))]
pub(crate) fn peek_request_header(frame: &[u8]) -> Option<(i16, i16, i32)> {
    let b = frame.get(..8)?;
    Some((
        i16::from_be_bytes([b[0], b[1]]),
        i16::from_be_bytes([b[2], b[3]]),
        i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

/// Broker side: decodes a request frame (without its size prefix) of type `R`.
#[cfg_attr(not(feature = "mock"), allow(dead_code))]
pub(crate) fn decode_request<R: Request>(mut frame: Bytes) -> Result<(RequestHeader, R)> {
    let (_, version, _) = peek_request_header(&frame)
        .ok_or_else(|| Error::Protocol("request shorter than its header".into()))?;
    let header = RequestHeader::decode(&mut frame, R::header_version(version))
        .map_err(|e| Error::protocol("decoding request header", e))?;
    let req = R::decode(&mut frame, version).map_err(|e| Error::protocol(api_name(R::KEY), e))?;
    Ok((header, req))
}

/// Broker side: encodes `resp` as one complete size-prefixed response frame.
#[cfg_attr(not(feature = "mock"), allow(dead_code))]
pub(crate) fn encode_response<R: Request>(
    correlation_id: i32,
    version: i16,
    resp: &R::Response,
) -> Result<Bytes> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let hv = R::Response::header_version(version);
    let size = header
        .compute_size(hv)
        .and_then(|h| Ok(h + resp.compute_size(version)?))
        .map_err(|e| Error::protocol("sizing response", e))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, hv)
        .map_err(|e| Error::protocol("encoding response header", e))?;
    resp.encode(&mut buf, version)
        .map_err(|e| Error::protocol("encoding response", e))?;
    Ok(buf.freeze())
}

/// The API's name as the protocol guide spells it ("Produce", "Metadata", ...).
pub(crate) fn api_name(key: i16) -> &'static str {
    super::versions::api_name(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, MetadataResponse};

    #[test]
    fn request_frame_layout() {
        let req = ApiVersionsRequest::default();
        let frame = encode_request(7, &StrBytes::from_static_str("cid"), 0, &req).unwrap();
        let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(size + 4, frame.len());
        // api key 18, version 0, correlation 7, client id "cid"
        assert_eq!(&frame[4..8], &[0, 18, 0, 0]);
        assert_eq!(&frame[8..12], &7i32.to_be_bytes());
        assert_eq!(&frame[12..14], &3i16.to_be_bytes());
        assert_eq!(&frame[14..17], b"cid");
    }

    #[test]
    fn response_roundtrip_and_trailing_bytes() {
        for version in [1i16, 9, 12] {
            let resp = MetadataResponse::default().with_controller_id(3.into());
            let hv = MetadataResponse::header_version(version);
            let mut buf = BytesMut::new();
            ResponseHeader::default()
                .with_correlation_id(42)
                .encode(&mut buf, hv)
                .unwrap();
            resp.encode(&mut buf, version).unwrap();
            let frame = buf.freeze();
            assert_eq!(peek_correlation_id(&frame), Some(42));
            let got = decode_response::<MetadataRequest>(frame.clone(), version).unwrap();
            assert_eq!(got.controller_id.0, 3);
            let mut longer = BytesMut::from(&frame[..]);
            longer.put_u8(0);
            assert!(decode_response::<MetadataRequest>(longer.freeze(), version).is_err());
            assert!(
                decode_response::<MetadataRequest>(frame.slice(..frame.len() - 2), version)
                    .is_err()
            );
        }
    }

    /// A count read off the wire must not become an allocation: these frames claim ~2^31
    /// entries in a few bytes (found by the `response` fuzz target; without the patch in
    /// vendor/kafka-protocol the process aborted on allocation failure).
    #[test]
    fn huge_array_counts_are_errors_not_aborts() {
        use kafka_protocol::messages::OffsetFetchRequest;
        // OffsetFetch v1 (non-flexible): correlation id 2, topics count 0x7124586c.
        let frame = Bytes::from_static(&[0, 0, 0, 2, 0x71, 0x24, 0x58, 0x6c, 0x02]);
        assert!(decode_response::<OffsetFetchRequest>(frame, 1).is_err());
        // Metadata v12 (flexible): correlation id, empty header tags, throttle time, then a
        // brokers compact array whose varint count is 2^32 - 1.
        let frame = Bytes::from_static(&[
            0, 0, 0, 9, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2,
        ]);
        assert!(decode_response::<MetadataRequest>(frame, 12).is_err());
    }
}

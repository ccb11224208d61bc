//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>) as record headers: the
//! `traceparent` value's text form, written by the producer and read back by the consumer
//! when `trace.context.propagation` is on. Free of OpenTelemetry: the `otel` feature maps it
//! to and from OpenTelemetry's span context (`crate::otel`).

use crate::record::Header;

/// Header carrying the trace id, the sender's span id and the trace flags.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// Header carrying vendor-specific trace state, propagated as is next to `traceparent`.
pub(crate) const TRACESTATE: &str = "tracestate";

/// The only version this writes; later versions are read by their version-00 prefix, as the
/// specification asks of a version-00 parser.
const VERSION: u8 = 0;
/// `00-` + 32 + `-` + 16 + `-` + 2.
const LEN: usize = 55;

/// One `traceparent` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub trace_id: [u8; 16],
    /// The span id of the sender's span: the parent of whatever the receiver starts.
    pub parent_id: [u8; 8],
    /// Bit 0: sampled.
    pub flags: u8,
}

impl TraceParent {
    /// `00-<trace id>-<parent id>-<flags>`, lowercase hex, 55 bytes.
    pub(crate) fn to_header_value(self) -> String {
        let mut out = String::with_capacity(LEN);
        push_hex(&mut out, &[VERSION]);
        out.push('-');
        push_hex(&mut out, &self.trace_id);
        out.push('-');
        push_hex(&mut out, &self.parent_id);
        out.push('-');
        push_hex(&mut out, &[self.flags]);
        out
    }

    /// Parses a header value; `None` for anything the specification says to ignore: a
    /// malformed value, uppercase hex, version `ff`, a version-00 value of another length, an
    /// all-zero trace or parent id.
    pub(crate) fn parse(value: &[u8]) -> Option<TraceParent> {
        if value.len() < LEN {
            return None;
        }
        let version = hex_byte(&value[0..2])?;
        // A later version may append fields after a dash; version 00 has none.
        let well_sized = match version {
            0 => value.len() == LEN,
            0xff => false,
            _ => value.len() == LEN || value[LEN] == b'-',
        };
        if !well_sized || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let mut trace_id = [0; 16];
        hex_into(&value[3..35], &mut trace_id)?;
        let mut parent_id = [0; 8];
        hex_into(&value[36..52], &mut parent_id)?;
        let flags = hex_byte(&value[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The first valid `traceparent` among `headers` (a record may repeat keys; the spec has
    /// one value, so later ones are ignored), with the `tracestate` value next to it, if any.
    pub(crate) fn from_headers(headers: &[Header]) -> Option<(TraceParent, Option<&[u8]>)> {
        let parent = headers
            .iter()
            .find(|h| h.key == TRACEPARENT)
            .and_then(|h| h.value.as_deref())
            .and_then(TraceParent::parse)?;
        let state = headers
            .iter()
            .find(|h| h.key == TRACESTATE)
            .and_then(|h| h.value.as_deref());
        Some((parent, state))
    }
}

/// Whether the application set either header itself: then the producer adds neither.
pub(crate) fn has_trace_headers(headers: &[Header]) -> bool {
    headers
        .iter()
        .any(|h| h.key == TRACEPARENT || h.key == TRACESTATE)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

/// Lowercase only: the specification forbids uppercase in `traceparent`.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    Some(nibble(two[0])? << 4 | nibble(two[1])?)
}

fn hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = hex_byte(pair)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn writes_the_specification_example() {
        let tp = TraceParent {
            trace_id: [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36,
            ],
            parent_id: [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
            flags: 1,
        };
        assert_eq!(tp.to_header_value(), SPEC_EXAMPLE);
        assert_eq!(TraceParent::parse(SPEC_EXAMPLE.as_bytes()), Some(tp));
    }

    #[test]
    fn ignores_what_the_specification_says_to_ignore() {
        let bad = [
            // Uppercase hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            // Version ff.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Version 00 with a trailing field; short; a wrong separator.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        ];
        for b in bad {
            assert_eq!(TraceParent::parse(b.as_bytes()), None, "{b}");
        }
        // A later version keeps its version-00 prefix readable.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(TraceParent::parse(later.as_bytes()).is_some());
    }

    #[test]
    fn reads_the_first_traceparent_and_its_tracestate() {
        let headers = vec![
            Header::new("other", "x"),
            Header::new(TRACEPARENT, SPEC_EXAMPLE),
            Header::new(TRACESTATE, "vendor=1"),
            Header::new(TRACEPARENT, "garbage"),
        ];
        let (tp, state) = TraceParent::from_headers(&headers).expect("a traceparent");
        assert_eq!(tp.to_header_value(), SPEC_EXAMPLE);
        assert_eq!(state, Some(&b"vendor=1"[..]));
        assert!(has_trace_headers(&headers));
        assert!(!has_trace_headers(&headers[..1]));
    }
}

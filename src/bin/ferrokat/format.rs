//! How a consumed record is written: kcat's -f format tokens, its default layout (-K, -D)
//! and its JSON envelope (-J).

use ferrokafka::ConsumerRecord;
use ferrokafka::record::TimestampType;

use crate::Fail;
use crate::args::unescape;

/// What kcat prints for a null (or empty) key or payload under -Z.
const NULL_STR: &[u8] = b"NULL";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    KeyLen,
    Payload,
    PayloadLen,
    PayloadLenBinary,
    Timestamp,
    Headers,
}

/// A compiled output layout.
#[derive(Debug, Clone)]
pub struct Output(Layout);

#[derive(Debug, Clone)]
enum Layout {
    Tokens { tokens: Vec<Token>, null: bool },
    Json { delimiter: Vec<u8> },
}

impl Output {
    /// A -f format string: %-tokens and \-escapes. An unknown token is an error.
    pub fn format(fmt: &str, null: bool) -> Result<Output, Fail> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let token = match chars.next() {
                Some('%') => {
                    // Escapes apply to literal text only, so the % joins it escaped as itself.
                    literal.push_str("\\%");
                    continue;
                }
                Some('t') => Token::Topic,
                Some('p') => Token::Partition,
                Some('o') => Token::Offset,
                Some('k') => Token::Key,
                Some('K') => Token::KeyLen,
                Some('s') => Token::Payload,
                Some('S') => Token::PayloadLen,
                Some('R') => Token::PayloadLenBinary,
                Some('T') => Token::Timestamp,
                Some('h') => Token::Headers,
                Some(other) => {
                    return Err(Fail::usage(format!(
                        "-f: unsupported formatter %{other} (see --help)"
                    )));
                }
                None => return Err(Fail::usage("-f: the format string ends with a lone %")),
            };
            if !literal.is_empty() {
                tokens.push(Token::Literal(unescape(&std::mem::take(&mut literal))));
            }
            tokens.push(token);
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(unescape(&literal)));
        }
        Ok(Output(Layout::Tokens { tokens, null }))
    }

    /// kcat's layout without -f: `[key <key delimiter>]payload<message delimiter>`.
    pub fn plain(key_delimiter: Option<Vec<u8>>, delimiter: Vec<u8>, null: bool) -> Output {
        let mut tokens = Vec::new();
        if let Some(d) = key_delimiter {
            tokens.push(Token::Key);
            tokens.push(Token::Literal(d));
        }
        tokens.push(Token::Payload);
        tokens.push(Token::Literal(delimiter));
        Output(Layout::Tokens { tokens, null })
    }

    /// The JSON envelope, one object followed by `delimiter`.
    pub fn json(delimiter: Vec<u8>) -> Output {
        Output(Layout::Json { delimiter })
    }

    /// Appends `r` to `out`.
    pub fn write(&self, r: &ConsumerRecord, out: &mut Vec<u8>) {
        match &self.0 {
            Layout::Json { delimiter } => {
                write_json(r, out);
                out.extend_from_slice(delimiter);
            }
            Layout::Tokens { tokens, null } => {
                for t in tokens {
                    write_token(t, r, *null, out);
                }
            }
        }
    }
}

fn write_token(t: &Token, r: &ConsumerRecord, null: bool, out: &mut Vec<u8>) {
    let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(-1, |b| b.len() as i64);
    let bytes = |b: &Option<bytes::Bytes>, out: &mut Vec<u8>| match b {
        Some(b) if !b.is_empty() => out.extend_from_slice(b),
        // kcat tests the length, so -Z prints an empty key or payload as NULL too.
        _ if null => out.extend_from_slice(NULL_STR),
        _ => {}
    };
    match t {
        Token::Literal(l) => out.extend_from_slice(l),
        Token::Topic => out.extend_from_slice(r.topic.as_bytes()),
        Token::Partition => out.extend_from_slice(r.partition.to_string().as_bytes()),
        Token::Offset => out.extend_from_slice(r.offset.to_string().as_bytes()),
        Token::Key => bytes(&r.key, out),
        Token::KeyLen => out.extend_from_slice(len(&r.key).to_string().as_bytes()),
        Token::Payload => bytes(&r.value, out),
        Token::PayloadLen => out.extend_from_slice(len(&r.value).to_string().as_bytes()),
        Token::PayloadLenBinary => {
            // -1 for null; a payload is far below 2 GiB, the cap keeps the cast honest.
            let n = i32::try_from(len(&r.value)).unwrap_or(i32::MAX);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Token::Timestamp => out.extend_from_slice(r.timestamp.to_string().as_bytes()),
        Token::Headers => {
            for (i, h) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(h.key.as_bytes());
                out.push(b'=');
                match &h.value {
                    Some(v) => out.extend_from_slice(v),
                    None => out.extend_from_slice(NULL_STR),
                }
            }
        }
    }
}

/// A JSON string of `b` (not UTF-8: lossily, as text is what a reader of -J expects).
fn json_string(b: &[u8], out: &mut Vec<u8>) {
    let s = String::from_utf8_lossy(b);
    // Serializing a str cannot fail.
    let quoted = serde_json::to_string(&*s).unwrap_or_default();
    out.extend_from_slice(quoted.as_bytes());
}

fn json_bytes(b: Option<&[u8]>, out: &mut Vec<u8>) {
    match b {
        Some(b) => json_string(b, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// kcat's envelope, its fields in its order: topic, partition, offset, tstype, ts, broker,
/// headers (only when the record has some, a flat [name, value, ...] array), key, payload.
fn write_json(r: &ConsumerRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"topic\":");
    json_string(r.topic.as_bytes(), out);
    let tstype = match r.timestamp_type {
        TimestampType::CreateTime => "create",
        TimestampType::LogAppendTime => "logappend",
    };
    // Which broker served the fetch is not part of a record: -1 is kcat's "unknown".
    let head = format!(
        ",\"partition\":{},\"offset\":{},\"tstype\":\"{tstype}\",\"ts\":{},\"broker\":-1",
        r.partition, r.offset, r.timestamp
    );
    out.extend_from_slice(head.as_bytes());
    if !r.headers.is_empty() {
        out.extend_from_slice(b",\"headers\":[");
        for (i, h) in r.headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(h.key.as_bytes(), out);
            out.push(b',');
            json_bytes(h.value.as_deref(), out);
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"key\":");
    json_bytes(r.key.as_deref(), out);
    out.extend_from_slice(b",\"payload\":");
    json_bytes(r.value.as_deref(), out);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use ferrokafka::record::Header;

    use super::*;

    fn record(key: Option<&'static str>, value: Option<&'static str>) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 2,
            offset: 17,
            timestamp: 1_700_000_000_123,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(|k| Bytes::from_static(k.as_bytes())),
            value: value.map(|v| Bytes::from_static(v.as_bytes())),
            headers: vec![Header::new("a", "1"), Header::null("n")],
            leader_epoch: None,
        }
    }

    fn render(o: &Output, r: &ConsumerRecord) -> Vec<u8> {
        let mut out = Vec::new();
        o.write(r, &mut out);
        out
    }

    #[test]
    fn every_token() {
        let o = Output::format("%t|%p|%o|%k|%K|%s|%S|%T|%h|%%|\\t\\x41", false).expect("fmt");
        assert_eq!(
            render(&o, &record(Some("key"), Some("value"))),
            b"t|2|17|key|3|value|5|1700000000123|a=1,n=NULL|%|\tA"
        );
        let o = Output::format("%R", false).expect("fmt");
        assert_eq!(render(&o, &record(None, Some("value"))), [0, 0, 0, 5]);
        assert_eq!(render(&o, &record(None, None)), [0xff; 4]);
    }

    #[test]
    fn nulls_print_empty_or_null_with_z() {
        let o = Output::format("[%k][%K][%s][%S]", false).expect("fmt");
        assert_eq!(render(&o, &record(None, None)), b"[][-1][][-1]");
        let o = Output::format("[%k][%s]", true).expect("fmt");
        assert_eq!(render(&o, &record(None, Some(""))), b"[NULL][NULL]");
    }

    #[test]
    fn unknown_tokens_are_errors() {
        assert!(Output::format("%q", false).is_err());
        assert!(Output::format("50%", false).is_err());
    }

    #[test]
    fn json_envelope_in_kcats_order() {
        let o = Output::json(b"\n".to_vec());
        let got = String::from_utf8(render(&o, &record(Some("k\"1"), None))).expect("utf8");
        assert_eq!(
            got,
            "{\"topic\":\"t\",\"partition\":2,\"offset\":17,\"tstype\":\"create\",\
             \"ts\":1700000000123,\"broker\":-1,\"headers\":[\"a\",\"1\",\"n\",null],\
             \"key\":\"k\\\"1\",\"payload\":null}\n"
        );
        let mut r = record(None, Some("v"));
        r.headers.clear();
        let got = String::from_utf8(render(&o, &r)).expect("utf8");
        assert!(!got.contains("headers"), "{got}");
    }
}

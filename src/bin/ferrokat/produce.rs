//! -P: stdin, split on the message delimiter, to a topic; every delivery awaited.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use ferrokafka::producer::{DeliveryFuture, IntoTopic};
use ferrokafka::record::Header;
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::Fail;
use crate::args::Args;

/// Deliveries awaited in order once this many are outstanding, so that a long stdin does not
/// keep every pending future in memory.
const MAX_OUTSTANDING: usize = 10_000;

/// How long close waits for what is still queued after every delivery was awaited.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Produces stdin to -t. Fails (after waiting for what was sent) when any message failed.
pub async fn run(args: &Args) -> Result<(), Fail> {
    // Shared by every record: a `&str` would be copied per record.
    let topic: std::sync::Arc<str> = std::sync::Arc::from(args.topic()?);
    let mut b = ProducerConfig::builder();
    if let Some(brokers) = &args.brokers {
        b = b.bootstrap_servers(brokers);
    }
    if let Some(codec) = &args.compression {
        b = b.set("compression.type", codec);
    }
    for (k, v) in args.properties()? {
        b = b.set(k, v);
    }
    let producer = KafkaProducer::new(b.build()?)?;
    let shape = Shape::of(args)?;
    let mut input = Splitter::new(tokio::io::stdin(), args.message_delimiter()?);
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut failed = Failures::default();
    let mut sent = 0u64;
    // Ctrl-C ends the input as its end would: what was read is still delivered and awaited.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    while args.count.is_none_or(|c| sent < c) {
        // A read cut short by the signal loses only input nobody will send anyway.
        let next = tokio::select! {
            m = input.next() => m?,
            _ = &mut interrupted => None,
        };
        let Some(message) = next else {
            break;
        };
        // kcat skips empty messages (a blank line is no message).
        if message.is_empty() {
            continue;
        }
        let record = shape.record(&topic, message);
        match producer.enqueue(record).await {
            Ok(f) => pending.push_back(f),
            Err(e) => {
                failed.add(e.error);
                break;
            }
        }
        sent += 1;
        while pending.len() >= MAX_OUTSTANDING {
            if let Some(f) = pending.pop_front() {
                failed.check(f.await);
            }
        }
    }
    for f in pending {
        failed.check(f.await);
    }
    producer.close(CLOSE_TIMEOUT).await;
    failed.into_result(sent)
}

/// The delivery failures: each reported once on stderr, the first kept for the exit message.
#[derive(Default)]
struct Failures {
    count: u64,
    first: Option<ferrokafka::Error>,
}

impl Failures {
    fn check(&mut self, r: ferrokafka::Result<ferrokafka::RecordMetadata>) {
        if let Err(e) = r {
            self.add(e);
        }
    }

    fn add(&mut self, e: ferrokafka::Error) {
        eprintln!("% Delivery failed for message: {e}");
        self.count += 1;
        self.first.get_or_insert(e);
    }

    fn into_result(self, sent: u64) -> Result<(), Fail> {
        match self.first {
            None => Ok(()),
            Some(e) => Err(Fail::new(format!(
                "{} of {} message(s) not delivered: {e}",
                self.count,
                sent.max(self.count)
            ))),
        }
    }
}

/// How an input message becomes a record: key split, fixed key, nulls, headers, partition.
struct Shape {
    key_delimiter: Option<Vec<u8>>,
    fixed_key: Option<Bytes>,
    null: bool,
    headers: Vec<Header>,
    partition: Option<i32>,
}

impl Shape {
    fn of(args: &Args) -> Result<Shape, Fail> {
        let headers = args
            .headers
            .iter()
            .map(|h| match h.split_once('=') {
                Some((name, value)) => Header::new(name, value.to_string()),
                // kcat: a header without = has a null value.
                None => Header::null(h.as_str()),
            })
            .collect();
        Ok(Shape {
            key_delimiter: args.key_delimiter()?,
            fixed_key: args.fixed_key.clone().map(Bytes::from),
            null: args.null,
            headers,
            // -p -1 is kcat's "any partition": the partitioner chooses.
            partition: args.partition.filter(|p| *p >= 0),
        })
    }

    fn record(&self, topic: impl IntoTopic, message: Vec<u8>) -> ProducerRecord {
        let (mut key, mut value) = match self.key_delimiter.as_deref() {
            Some(d) => match find(&message, d) {
                Some(at) => (
                    Some(Bytes::copy_from_slice(&message[..at])),
                    Bytes::copy_from_slice(&message[at + d.len()..]),
                ),
                None => (None, Bytes::from(message)),
            },
            None => (None, Bytes::from(message)),
        };
        if key.is_none() {
            key.clone_from(&self.fixed_key);
        }
        let mut null_value = false;
        if self.null {
            key = key.filter(|k| !k.is_empty());
            null_value = value.is_empty();
        }
        if null_value {
            value = Bytes::new();
        }
        let mut r = ProducerRecord::new(topic, value);
        r.key = key;
        if null_value {
            r.value = None;
        }
        r.headers.clone_from(&self.headers);
        r.partition = self.partition;
        r
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits a byte stream on a (possibly multi-byte) delimiter as it arrives, so that a
/// never-ending stdin (`tail -f | ferrokat -P`) is sent message by message.
struct Splitter<R> {
    reader: R,
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    /// Where the delimiter search resumes (bytes before it hold no delimiter start).
    scanned: usize,
    eof: bool,
}

impl<R: AsyncRead + Unpin> Splitter<R> {
    fn new(reader: R, delimiter: Vec<u8>) -> Self {
        Splitter {
            reader,
            delimiter,
            buf: Vec::new(),
            scanned: 0,
            eof: false,
        }
    }

    /// The next message without its delimiter; the last one may lack a delimiter. `None` at
    /// the end of input.
    async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(at) = find(&self.buf[self.scanned..], &self.delimiter) {
                let end = self.scanned + at;
                let rest = self.buf.split_off(end + self.delimiter.len());
                let mut message = std::mem::replace(&mut self.buf, rest);
                message.truncate(end);
                self.scanned = 0;
                return Ok(Some(message));
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            self.scanned = self.buf.len().saturating_sub(self.delimiter.len() - 1);
            let mut chunk = [0u8; 64 * 1024];
            let n = self.reader.read(&mut chunk).await?;
            if n == 0 {
                self.eof = true;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn split(input: &'static [u8], delimiter: &[u8]) -> Vec<Vec<u8>> {
        let mut s = Splitter::new(input, delimiter.to_vec());
        let mut out = Vec::new();
        while let Some(m) = s.next().await.expect("read") {
            out.push(m);
        }
        out
    }

    #[tokio::test]
    async fn splits_on_single_and_multi_byte_delimiters() {
        assert_eq!(
            split(b"a\nb\n\nc", b"\n").await,
            [&b"a"[..], b"b", b"", b"c"]
        );
        assert_eq!(split(b"a::b:c::", b"::").await, [&b"a"[..], b"b:c"]);
        assert!(split(b"", b"\n").await.is_empty());
    }

    #[test]
    fn key_split_fixed_key_and_nulls() {
        let args = Args {
            key_delim: Some(":".into()),
            fixed_key: Some("fk".into()),
            null: true,
            headers: vec!["h=v".into(), "n".into()],
            partition: Some(-1),
            ..Args::default()
        };
        let shape = Shape::of(&args).expect("shape");
        let r = shape.record("t", b"k:v:w".to_vec());
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v:w"[..]));
        assert_eq!(r.partition, None);
        assert_eq!(r.headers, [Header::new("h", "v"), Header::null("n")]);
        let r = shape.record("t", b"nokey".to_vec());
        assert_eq!(r.key.as_deref(), Some(&b"fk"[..]));
        let r = shape.record("t", b":".to_vec());
        assert_eq!((r.key, r.value), (None, None));
    }
}

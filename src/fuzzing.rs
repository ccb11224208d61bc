//! Fuzzing entry points into the wire decoders (cargo feature `fuzzing`).
//!
//! **Unstable and not an API**: this module exists so the `cargo fuzz` targets in `fuzz/` (and
//! tests/downstream_crate.rs, which checks what a dependent's build decodes) can reach
//! crate-internal decoders. Anything here may change or disappear in any release, and nothing
//! outside this repository should use it.
//!
//! Declared unconditionally in `lib.rs` (one rustfmt-stable line); the inner `cfg` below
//! compiles it only with the feature.
#![cfg(feature = "fuzzing")]
#![doc(hidden)]
//!
//! Every function takes arbitrary bytes: an error is the correct answer to malformed input, a
//! panic or an abort is a bug. [`response`] hands back the decoder's verdict so that
//! tests/downstream_crate.rs can tell an error from a wrongly accepted frame.

use bytes::Bytes;
use kafka_protocol::protocol::{Message, Request};

use crate::protocol::compression::{self, Compression};
use crate::protocol::consumer_protocol::{Assignment, Subscription, TopicPartitions};
use crate::protocol::frame;
use crate::protocol::messages::{
    ApiVersionsRequest, FetchRequest, JoinGroupRequest, ListOffsetsRequest, MetadataRequest,
    OffsetFetchRequest, ProduceRequest, SyncGroupRequest,
};
use crate::protocol::record_batch::{self, RecordBatchBuilder};
use crate::record::Header;

/// The codecs, indexed by a fuzzer-chosen selector byte.
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Decodes a fetch response's records blob, with and without CRC checks.
pub fn record_batches(data: &[u8]) {
    let data = Bytes::copy_from_slice(data);
    let _ = record_batch::decode_batches(data.clone(), false);
    let _ = record_batch::decode_batches(data, true);
}

/// Decompresses `data` with the codec `codec_byte` selects (modulo the number of codecs).
pub fn decompress(codec_byte: u8, data: &[u8]) {
    let codec = CODECS[usize::from(codec_byte) % CODECS.len()];
    let _ = compression::decompress(codec, data, compression::MAX_DECOMPRESSED_SIZE);
}

/// Decodes `data` as a response frame (correlation id onwards, no size prefix) of the API
/// `api_selector` picks, at a version `version_byte` maps into that API's supported range.
///
/// Errors: [`crate::Error::Protocol`] when `data` is no valid response of that API and version.
pub fn response(api_selector: u8, version_byte: u8, data: &[u8]) -> crate::Result<()> {
    let frame = Bytes::copy_from_slice(data);
    match api_selector % 8 {
        0 => decode_response::<MetadataRequest>(version_byte, frame),
        1 => decode_response::<FetchRequest>(version_byte, frame),
        2 => decode_response::<ProduceRequest>(version_byte, frame),
        3 => decode_response::<JoinGroupRequest>(version_byte, frame),
        4 => decode_response::<SyncGroupRequest>(version_byte, frame),
        5 => decode_response::<ApiVersionsRequest>(version_byte, frame),
        6 => decode_response::<ListOffsetsRequest>(version_byte, frame),
        _ => decode_response::<OffsetFetchRequest>(version_byte, frame),
    }
}

fn decode_response<R: Request + Message>(version_byte: u8, frame: Bytes) -> crate::Result<()> {
    let range = <R as Message>::VERSIONS;
    let span = i32::from(range.max) - i32::from(range.min) + 1;
    let offset = i32::from(version_byte) % span.max(1);
    // `offset < span <= i16::MAX - i16::MIN + 1`, and min + offset <= max.
    let version = (i32::from(range.min) + offset) as i16;
    frame::decode_response::<R>(frame, version).map(drop)
}

/// Decodes `data` as a consumer-protocol assignment (SyncGroup member assignment).
pub fn assignment(data: &[u8]) {
    let _ = Assignment::decode(Bytes::copy_from_slice(data));
}

/// Decodes `data` as a consumer-protocol subscription (JoinGroup member metadata).
pub fn subscription(data: &[u8]) {
    let _ = Subscription::decode(Bytes::copy_from_slice(data));
}

/// Valid inputs to start each target's corpus from: `(target, file name, bytes)`, where the
/// bytes are laid out as that target in `fuzz/fuzz_targets/` reads its input.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let headers = [Header {
        key: "h".into(),
        value: Some(Bytes::from_static(b"v")),
    }];
    for (i, codec) in CODECS.into_iter().enumerate() {
        let mut b = RecordBatchBuilder::new(codec, None, 0);
        b.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[]);
        b.append(1_700_000_000_001, None, Some(b"second value"), &headers);
        b.append(1_700_000_000_002, Some(b"k3"), None, &[]);
        if let Ok(batch) = b.build(-1, -1, -1, false) {
            let mut two = batch.to_vec();
            two.extend_from_slice(&batch);
            seeds.push((
                "record_batch",
                format!("{}-1", codec.name()),
                batch.to_vec(),
            ));
            seeds.push(("record_batch", format!("{}-2", codec.name()), two));
        }
        let mut compressed = Vec::new();
        let plain = b"the quick brown fox jumps over the lazy dog, again and again and again";
        if compression::compress(codec, None, plain, &mut compressed).is_ok() {
            let mut input = vec![i as u8];
            input.extend_from_slice(&compressed);
            seeds.push(("decompress", codec.name().to_string(), input));
        }
    }
    let partitions = vec![
        TopicPartitions {
            topic: "topic-a".into(),
            partitions: vec![0, 1, 2],
        },
        TopicPartitions {
            topic: "b".into(),
            partitions: vec![7],
        },
    ];
    let assignment = Assignment {
        partitions: partitions.clone(),
        user_data: Some(Bytes::from_static(b"user")),
    };
    let subscription = Subscription {
        topics: vec!["topic-a".into(), "b".into()],
        user_data: Some(Bytes::from_static(b"user")),
        owned_partitions: partitions,
        generation_id: 5,
        rack_id: Some("rack-1".into()),
    };
    // consumer_protocol target: the first byte picks assignment (even) or subscription (odd).
    for version in 0..=3 {
        let mut a = vec![0u8];
        a.extend_from_slice(&assignment.encode(version));
        seeds.push(("consumer_protocol", format!("assignment-v{version}"), a));
        let mut s = vec![1u8];
        s.extend_from_slice(&subscription.encode(version));
        seeds.push(("consumer_protocol", format!("subscription-v{version}"), s));
    }
    seeds
}

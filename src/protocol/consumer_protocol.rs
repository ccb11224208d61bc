//! The "consumer" embedded protocol: the bytes a consumer puts in JoinGroup metadata
//! ([`Subscription`]) and the leader puts in SyncGroup assignments ([`Assignment`]).
//!
//! Layout (protocol guide, "consumer" protocol type): an `int16` version, then the body in
//! the classic (non-flexible) encoding: `string` = int16 length + UTF-8, `array` = int32 count,
//! `bytes` = int32 length (-1 = null).
//!
//! | Subscription version | adds                                                   |
//! |----------------------|--------------------------------------------------------|
//! | 0                    | topics, user_data                                      |
//! | 1 (KIP-429)          | owned_partitions                                       |
//! | 2 (KIP-792)          | generation_id                                          |
//! | 3 (KIP-881)          | rack_id                                                |
//!
//! Assignment versions 0..=3 share one layout (assigned partitions, user_data). A version newer
//! than we know decodes the fields we know and ignores the rest, as Java does; trailing bytes
//! are ignored for the same reason.
//!
//! Also here: the assignors' own user data. `sticky` (KIP-54, eager) needs it, because an eager
//! member gives up every partition before it joins, so its subscription's `owned_partitions`
//! is empty; its previous assignment travels in [`StickyUserData`] instead (Java reads only the
//! user data for `sticky`). `cooperative-sticky` (KIP-429) keeps its partitions across the
//! join and uses `owned_partitions` plus `generation_id` (v2+); its user data carries just the
//! generation, for v1 peers ([`encode_cooperative_generation`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// The JoinGroup `protocol_type` of consumer groups.
pub(crate) const PROTOCOL_TYPE: &str = "consumer";
/// The newest subscription version we write and fully understand.
pub(crate) const SUBSCRIPTION_MAX_VERSION: i16 = 3;
/// The newest assignment version we write and fully understand.
pub(crate) const ASSIGNMENT_MAX_VERSION: i16 = 3;
/// Generation id meaning "unknown" (Java's `DEFAULT_GENERATION`).
pub(crate) const NO_GENERATION: i32 = -1;

/// One topic and some of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TopicPartitions {
    pub(crate) topic: String,
    pub(crate) partitions: Vec<i32>,
}

impl TopicPartitions {
    /// Groups `(topic, partition)` pairs by topic: topics sorted, partitions sorted, no duplicates.
    pub(crate) fn group(pairs: &[(String, i32)]) -> Vec<TopicPartitions> {
        let mut sorted: Vec<(&str, i32)> = pairs.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out: Vec<TopicPartitions> = Vec::new();
        for (topic, partition) in sorted {
            match out.last_mut() {
                Some(last) if last.topic == topic => last.partitions.push(partition),
                _ => out.push(TopicPartitions {
                    topic: topic.to_owned(),
                    partitions: vec![partition],
                }),
            }
        }
        out
    }

    /// The `(topic, partition)` pairs, in the order given.
    pub(crate) fn flatten(list: &[TopicPartitions]) -> Vec<(String, i32)> {
        list.iter()
            .flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.clone(), *p)))
            .collect()
    }
}

/// A member's JoinGroup metadata for the "consumer" protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) topics: Vec<String>,
    pub(crate) user_data: Option<Bytes>,
    /// v1+: partitions the member owns now (cooperative rebalancing, KIP-429).
    pub(crate) owned_partitions: Vec<TopicPartitions>,
    /// v2+: the generation the owned partitions belong to; [`NO_GENERATION`] when unknown.
    pub(crate) generation_id: i32,
    /// v3+: the member's `client.rack` (KIP-881).
    pub(crate) rack_id: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: NO_GENERATION,
            rack_id: None,
        }
    }
}

impl Subscription {
    /// Encodes with `version` clamped to `0..=3`; fields the version lacks are left out.
    pub(crate) fn encode(&self, version: i16) -> Bytes {
        let version = version.clamp(0, SUBSCRIPTION_MAX_VERSION);
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        put_array(&mut buf, &self.topics, |b, t| put_str(b, t));
        put_nullable_bytes(&mut buf, self.user_data.as_ref());
        if version >= 1 {
            put_topic_partitions(&mut buf, &self.owned_partitions);
        }
        if version >= 2 {
            buf.put_i32(self.generation_id);
        }
        if version >= 3 {
            put_nullable_str(&mut buf, self.rack_id.as_deref());
        }
        buf.freeze()
    }

    /// Decodes any version; fields a version lacks get their defaults.
    pub(crate) fn decode(data: Bytes) -> Result<Subscription> {
        let mut r = Reader::new(data, "subscription");
        let version = r.version()?;
        let topics = r.array(2, |r| r.string("topic"))?;
        let user_data = r.nullable_bytes("user_data")?;
        let owned_partitions = if version >= 1 {
            r.topic_partitions()?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 {
            r.i32("generation_id")?
        } else {
            NO_GENERATION
        };
        let rack_id = if version >= 3 {
            r.nullable_string("rack_id")?
        } else {
            None
        };
        Ok(Subscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

/// The leader's SyncGroup assignment for one member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Assignment {
    pub(crate) partitions: Vec<TopicPartitions>,
    pub(crate) user_data: Option<Bytes>,
}

impl Assignment {
    /// Encodes with `version` clamped to `0..=3` (all versions share one layout).
    pub(crate) fn encode(&self, version: i16) -> Bytes {
        let version = version.clamp(0, ASSIGNMENT_MAX_VERSION);
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        put_topic_partitions(&mut buf, &self.partitions);
        put_nullable_bytes(&mut buf, self.user_data.as_ref());
        buf.freeze()
    }

    /// Decodes any version. Empty input is an error: the caller decides what an empty
    /// SyncGroup assignment means.
    pub(crate) fn decode(data: Bytes) -> Result<Assignment> {
        let mut r = Reader::new(data, "assignment");
        r.version()?;
        let partitions = r.topic_partitions()?;
        let user_data = r.nullable_bytes("user_data")?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}

/// The `sticky` assignor's user data (Java `StickyAssignor`, KIP-54): the member's assignment
/// in the previous generation. Version 0 has only that; version 1 appends the generation.
/// There is no version field: a reader takes v1 when four more bytes follow the assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StickyUserData {
    pub(crate) previous_assignment: Vec<TopicPartitions>,
    /// `None` in version 0.
    pub(crate) generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes as version 1, or version 0 when `generation` is `None`.
    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        put_topic_partitions(&mut buf, &self.previous_assignment);
        if let Some(generation) = self.generation {
            buf.put_i32(generation);
        }
        buf.freeze()
    }

    /// Decodes version 1, falling back to version 0 when no generation follows.
    pub(crate) fn decode(data: Bytes) -> Result<StickyUserData> {
        let mut r = Reader::new(data, "sticky assignor user data");
        let previous_assignment = r.topic_partitions()?;
        let generation = if r.remaining() >= 4 {
            Some(r.i32("generation")?)
        } else {
            None
        };
        Ok(StickyUserData {
            previous_assignment,
            generation,
        })
    }
}

/// The `cooperative-sticky` assignor's user data: the member's generation as an `int32`.
pub(crate) fn encode_cooperative_generation(generation: i32) -> Bytes {
    Bytes::copy_from_slice(&generation.to_be_bytes())
}

/// Reads [`encode_cooperative_generation`]'s bytes.
pub(crate) fn decode_cooperative_generation(data: Bytes) -> Result<i32> {
    Reader::new(data, "cooperative-sticky user data").i32("generation")
}

// ---- writing ----------------------------------------------------------------------------

/// Writes an int16-length string. Lengths beyond `i16::MAX` cannot be encoded: the string is
/// cut there (never reached by valid topic names, at most 249 bytes).
fn put_str(buf: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    let len = bytes.len().min(i16::MAX as usize);
    buf.put_i16(len as i16);
    buf.put_slice(&bytes[..len]);
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_nullable_bytes(buf: &mut BytesMut, data: Option<&Bytes>) {
    match data {
        Some(data) => {
            let len = data.len().min(i32::MAX as usize);
            buf.put_i32(len as i32);
            buf.put_slice(&data[..len]);
        }
        None => buf.put_i32(-1),
    }
}

fn put_array<T>(buf: &mut BytesMut, items: &[T], mut put: impl FnMut(&mut BytesMut, &T)) {
    let len = items.len().min(i32::MAX as usize);
    buf.put_i32(len as i32);
    for item in &items[..len] {
        put(buf, item);
    }
}

fn put_topic_partitions(buf: &mut BytesMut, list: &[TopicPartitions]) {
    put_array(buf, list, |b, tp| {
        put_str(b, &tp.topic);
        put_array(b, &tp.partitions, |b, p| b.put_i32(*p));
    });
}

// ---- reading ----------------------------------------------------------------------------

/// A bounds-checked big-endian reader; every shortfall is an [`Error::Protocol`].
struct Reader {
    buf: Bytes,
    what: &'static str,
}

impl Reader {
    fn new(buf: Bytes, what: &'static str) -> Reader {
        Reader { buf, what }
    }

    fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    fn err(&self, msg: String) -> Error {
        Error::Protocol(format!("consumer protocol {}: {msg}", self.what))
    }

    fn need(&self, n: usize, field: &str) -> Result<()> {
        if self.buf.remaining() < n {
            Err(self.err(format!(
                "truncated {field}: need {n} bytes, {} left",
                self.buf.remaining()
            )))
        } else {
            Ok(())
        }
    }

    fn i16(&mut self, field: &str) -> Result<i16> {
        self.need(2, field)?;
        Ok(self.buf.get_i16())
    }

    fn i32(&mut self, field: &str) -> Result<i32> {
        self.need(4, field)?;
        Ok(self.buf.get_i32())
    }

    /// The leading version; negative versions are invalid.
    fn version(&mut self) -> Result<i16> {
        let v = self.i16("version")?;
        if v < 0 {
            return Err(self.err(format!("unsupported version {v}")));
        }
        Ok(v)
    }

    fn take(&mut self, len: usize, field: &str) -> Result<Bytes> {
        self.need(len, field)?;
        Ok(self.buf.split_to(len))
    }

    fn nullable_string(&mut self, field: &str) -> Result<Option<String>> {
        let len = self.i16(field)?;
        if len < 0 {
            return if len == -1 {
                Ok(None)
            } else {
                Err(self.err(format!("invalid {field} length {len}")))
            };
        }
        let raw = self.take(len as usize, field)?;
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| self.err(format!("{field} is not UTF-8")))
    }

    fn string(&mut self, field: &str) -> Result<String> {
        self.nullable_string(field)?
            .ok_or_else(|| self.err(format!("null {field}")))
    }

    fn nullable_bytes(&mut self, field: &str) -> Result<Option<Bytes>> {
        let len = self.i32(field)?;
        if len < 0 {
            return if len == -1 {
                Ok(None)
            } else {
                Err(self.err(format!("invalid {field} length {len}")))
            };
        }
        self.take(len as usize, field).map(Some)
    }

    /// A non-null array whose elements are at least `min_size` bytes each; the count is
    /// checked against the bytes left before anything is allocated.
    fn array<T>(
        &mut self,
        min_size: usize,
        mut item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        let len = self.i32("array length")?;
        if len < 0 {
            return Err(self.err(format!("invalid array length {len}")));
        }
        let len = len as usize;
        if len.saturating_mul(min_size) > self.buf.remaining() {
            return Err(self.err(format!(
                "array of {len} entries does not fit in {} bytes",
                self.buf.remaining()
            )));
        }
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn topic_partitions(&mut self) -> Result<Vec<TopicPartitions>> {
        self.array(6, |r| {
            let topic = r.string("topic")?;
            let partitions = r.array(4, |r| r.i32("partition"))?;
            Ok(TopicPartitions { topic, partitions })
        })
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{
        ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
        consumer_protocol_assignment, consumer_protocol_subscription,
    };
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use proptest::prelude::*;

    use super::*;

    fn tps(list: &[(&str, &[i32])]) -> Vec<TopicPartitions> {
        list.iter()
            .map(|(t, ps)| TopicPartitions {
                topic: (*t).to_owned(),
                partitions: ps.to_vec(),
            })
            .collect()
    }

    fn full_subscription() -> Subscription {
        Subscription {
            topics: vec!["orders".into(), "payments".into()],
            user_data: Some(Bytes::from_static(b"\x00\x01ud")),
            owned_partitions: tps(&[("orders", &[0, 2]), ("payments", &[1])]),
            generation_id: 7,
            rack_id: Some("rack-a".into()),
        }
    }

    /// What survives encoding at `version`.
    fn truncated_to(sub: &Subscription, version: i16) -> Subscription {
        let mut s = sub.clone();
        if version < 1 {
            s.owned_partitions.clear();
        }
        if version < 2 {
            s.generation_id = NO_GENERATION;
        }
        if version < 3 {
            s.rack_id = None;
        }
        s
    }

    fn kp_subscription(sub: &Subscription) -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription::default()
            .with_topics(
                sub.topics
                    .iter()
                    .map(|t| StrBytes::from_string(t.clone()))
                    .collect(),
            )
            .with_user_data(sub.user_data.clone())
            .with_owned_partitions(
                sub.owned_partitions
                    .iter()
                    .map(|tp| {
                        consumer_protocol_subscription::TopicPartition::default()
                            .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                            .with_partitions(tp.partitions.clone())
                    })
                    .collect(),
            )
            .with_generation_id(sub.generation_id)
            .with_rack_id(sub.rack_id.clone().map(StrBytes::from_string))
    }

    /// kafka-protocol writes only the body; the consumer protocol puts the version first.
    fn kp_encode<M: Encodable>(msg: &M, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        msg.encode(&mut buf, version)
            .expect("kafka-protocol encode");
        buf.freeze()
    }

    #[test]
    fn subscription_round_trips_every_version() {
        let sub = full_subscription();
        for version in 0..=SUBSCRIPTION_MAX_VERSION {
            let bytes = sub.encode(version);
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), version);
            let back = Subscription::decode(bytes).unwrap();
            assert_eq!(back, truncated_to(&sub, version), "v{version}");
        }
        let empty = Subscription::default();
        for version in 0..=SUBSCRIPTION_MAX_VERSION {
            assert_eq!(Subscription::decode(empty.encode(version)).unwrap(), empty);
        }
    }

    #[test]
    fn subscription_matches_kafka_protocol_bytes() {
        let sub = full_subscription();
        for version in 0..=SUBSCRIPTION_MAX_VERSION {
            let kept = truncated_to(&sub, version);
            let theirs = kp_encode(&kp_subscription(&kept), version);
            assert_eq!(sub.encode(version), theirs, "v{version}");
            assert_eq!(Subscription::decode(theirs).unwrap(), kept);
            // And their decoder reads ours.
            let mut body = sub.encode(version).slice(2..);
            let decoded = ConsumerProtocolSubscription::decode(&mut body, version).unwrap();
            assert_eq!(decoded, kp_subscription(&kept));
        }
    }

    #[test]
    fn subscription_v0_hand_encoded() {
        // int16 version 0, [1 topic] "t", user_data null.
        let bytes = Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff");
        let sub = Subscription::decode(bytes.clone()).unwrap();
        assert_eq!(sub.topics, vec!["t".to_owned()]);
        assert_eq!(sub.user_data, None);
        assert_eq!(sub.generation_id, NO_GENERATION);
        assert_eq!(sub.encode(0), bytes);
    }

    #[test]
    fn newer_versions_decode_known_fields() {
        let sub = full_subscription();
        let mut bytes = BytesMut::from(&sub.encode(3)[..]);
        bytes[..2].copy_from_slice(&9i16.to_be_bytes());
        bytes.put_slice(b"future fields");
        assert_eq!(Subscription::decode(bytes.freeze()).unwrap(), sub);

        let asg = Assignment {
            partitions: tps(&[("a", &[1])]),
            user_data: None,
        };
        let mut bytes = BytesMut::from(&asg.encode(3)[..]);
        bytes[..2].copy_from_slice(&4i16.to_be_bytes());
        bytes.put_i32(12345);
        assert_eq!(Assignment::decode(bytes.freeze()).unwrap(), asg);
    }

    #[test]
    fn encode_clamps_version() {
        let sub = full_subscription();
        assert_eq!(sub.encode(42), sub.encode(3));
        assert_eq!(sub.encode(-5), sub.encode(0));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let sub = full_subscription();
        for version in 0..=SUBSCRIPTION_MAX_VERSION {
            let bytes = sub.encode(version);
            for len in 0..bytes.len() {
                let err = Subscription::decode(bytes.slice(..len)).unwrap_err();
                assert!(
                    matches!(err, Error::Protocol(_)),
                    "v{version} len {len}: {err}"
                );
            }
        }
        let asg = Assignment {
            partitions: tps(&[("a", &[1, 2])]),
            user_data: Some(Bytes::from_static(b"x")),
        };
        let bytes = asg.encode(1);
        for len in 0..bytes.len() {
            assert!(Assignment::decode(bytes.slice(..len)).is_err(), "len {len}");
        }
        let ud = StickyUserData {
            previous_assignment: tps(&[("a", &[1])]),
            generation: Some(3),
        };
        let bytes = ud.encode();
        // Cutting the generation off leaves valid version 0 data; anything shorter fails.
        for len in 0..bytes.len() - 4 {
            assert!(
                StickyUserData::decode(bytes.slice(..len)).is_err(),
                "len {len}"
            );
        }
        assert!(decode_cooperative_generation(Bytes::from_static(b"\x00\x01")).is_err());
    }

    #[test]
    fn malformed_lengths_are_errors() {
        let cases: &[&[u8]] = &[
            b"\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff", // version -1
            b"\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", // null topics array
            b"\x00\x00\xff\xff\xff\xfe\xff\xff\xff\xff", // array length -2
            b"\x00\x00\x7f\xff\xff\xff",                 // 2^31-1 topics, no bytes
            b"\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff", // null topic name
            b"\x00\x00\x00\x00\x00\x01\x00\x01\xff\xff\xff\xff\xff", // topic not UTF-8
            b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xfe", // user_data length -2
        ];
        for (i, bytes) in cases.iter().enumerate() {
            let err = Subscription::decode(Bytes::from_static(bytes)).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "case {i}: {err}");
        }
    }

    #[test]
    fn assignment_round_trips_and_matches_kafka_protocol() {
        let asg = Assignment {
            partitions: tps(&[("orders", &[0, 3]), ("payments", &[])]),
            user_data: Some(Bytes::from_static(b"hello")),
        };
        for version in 0..=ASSIGNMENT_MAX_VERSION {
            let ours = asg.encode(version);
            assert_eq!(Assignment::decode(ours.clone()).unwrap(), asg);
            let kp = ConsumerProtocolAssignment::default()
                .with_assigned_partitions(
                    asg.partitions
                        .iter()
                        .map(|tp| {
                            consumer_protocol_assignment::TopicPartition::default()
                                .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                                .with_partitions(tp.partitions.clone())
                        })
                        .collect(),
                )
                .with_user_data(asg.user_data.clone());
            let theirs = kp_encode(&kp, version);
            assert_eq!(ours, theirs, "v{version}");
            let mut body = ours.slice(2..);
            assert_eq!(
                ConsumerProtocolAssignment::decode(&mut body, version).unwrap(),
                kp
            );
        }
        let empty = Assignment::default();
        assert_eq!(Assignment::decode(empty.encode(0)).unwrap(), empty);
        assert!(Assignment::decode(Bytes::new()).is_err());
    }

    #[test]
    fn sticky_user_data_versions() {
        let v1 = StickyUserData {
            previous_assignment: tps(&[("t", &[0, 1])]),
            generation: Some(5),
        };
        // [1 topic] "t" [2 partitions] 0 1, generation 5.
        let expected: &[u8] = b"\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x02\
            \x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x05";
        assert_eq!(&v1.encode()[..], expected);
        assert_eq!(StickyUserData::decode(v1.encode()).unwrap(), v1);
        let v0 = StickyUserData {
            generation: None,
            ..v1.clone()
        };
        assert_eq!(&v0.encode()[..], &expected[..expected.len() - 4]);
        assert_eq!(StickyUserData::decode(v0.encode()).unwrap(), v0);
        assert_eq!(
            decode_cooperative_generation(encode_cooperative_generation(-1)).unwrap(),
            -1
        );
        assert_eq!(&encode_cooperative_generation(10)[..], b"\x00\x00\x00\x0a");
    }

    #[test]
    fn group_and_flatten() {
        let pairs = vec![
            ("b".to_owned(), 1),
            ("a".to_owned(), 2),
            ("b".to_owned(), 0),
            ("a".to_owned(), 2),
        ];
        let grouped = TopicPartitions::group(&pairs);
        assert_eq!(grouped, tps(&[("a", &[2]), ("b", &[0, 1])]));
        assert_eq!(
            TopicPartitions::flatten(&grouped),
            vec![("a".into(), 2), ("b".into(), 0), ("b".into(), 1)]
        );
    }

    fn arb_tps() -> impl Strategy<Value = Vec<TopicPartitions>> {
        prop::collection::vec(
            ("[a-z.]{0,12}", prop::collection::vec(any::<i32>(), 0..5))
                .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions }),
            0..4,
        )
    }

    proptest! {
        #[test]
        fn subscription_round_trip_prop(
            topics in prop::collection::vec("[a-zA-Z0-9._-]{0,20}", 0..5),
            user_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            owned in arb_tps(),
            generation_id in any::<i32>(),
            rack_id in prop::option::of("\\PC{0,8}"),
            version in 0i16..=3,
        ) {
            let sub = Subscription {
                topics,
                user_data: user_data.map(Bytes::from),
                owned_partitions: owned,
                generation_id,
                rack_id,
            };
            let bytes = sub.encode(version);
            let theirs = kp_encode(&kp_subscription(&truncated_to(&sub, version)), version);
            prop_assert_eq!(&bytes, &theirs);
            prop_assert_eq!(Subscription::decode(bytes).unwrap(), truncated_to(&sub, version));
        }

        #[test]
        fn assignment_round_trip_prop(
            partitions in arb_tps(),
            user_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
            version in 0i16..=3,
        ) {
            let asg = Assignment { partitions, user_data: user_data.map(Bytes::from) };
            prop_assert_eq!(Assignment::decode(asg.encode(version)).unwrap(), asg);
        }

        #[test]
        fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let data = Bytes::from(data);
            let _ = Subscription::decode(data.clone());
            let _ = Assignment::decode(data.clone());
            let _ = StickyUserData::decode(data.clone());
            let _ = decode_cooperative_generation(data);
        }
    }
}

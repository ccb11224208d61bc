//! Produce request bodies (v3-v12, the protocol guide's `ProduceRequest`) written straight from
//! the batches' wire bytes.
//!
//! Through `kafka-protocol`'s message structs, each batch became a `PartitionProduceData` holding
//! a shared `Bytes` handle of its records: an allocation for the handle, two reference-count
//! updates, a struct built, sized, encoded and dropped, and the batch's buffer turned back into a
//! `Vec` once answered. At 10,000 partitions a batch holds one record, so that was per record
//! (issue #19). Here a batch is a partition index and a borrowed slice; the request is sized and
//! written in one pass each, and the same bytes come out (the table test below compares them
//! with `kafka-protocol`'s for every version).

use std::collections::HashMap;
use std::ops::Range;

use bytes::{BufMut, BytesMut};

use super::frame::RequestBody;
use super::messages::ProduceRequest;
use crate::error::{Error, Result};

/// Oldest and newest Produce versions written here: v13 addresses topics by id (KIP-516),
/// which this client does not send (see `versions.rs`).
const VERSIONS: std::ops::RangeInclusive<i16> = 3..=12;
/// First flexible version (KIP-482: compact lengths and tagged fields).
const FLEXIBLE: i16 = 9;

/// One Produce request's body: the batches of several partitions, grouped by topic.
pub(crate) struct ProduceBody<'a> {
    transactional_id: Option<&'a str>,
    acks: i16,
    timeout_ms: i32,
    /// Topics in the order of their first batch, each with its range in `partitions`.
    topics: Vec<(&'a str, Range<usize>)>,
    /// (partition index, wire bytes of its batch), a topic's together, each topic's in the
    /// order added.
    partitions: Vec<(i32, &'a [u8])>,
}

impl<'a> ProduceBody<'a> {
    /// The request for `batches` (topic, partition, wire bytes), listed with a topic's batches
    /// together: topics in the order of their first batch, a topic's batches in the order given.
    pub(crate) fn new(
        transactional_id: Option<&'a str>,
        acks: i16,
        timeout_ms: i32,
        batches: impl ExactSizeIterator<Item = (&'a str, i32, &'a [u8])>,
    ) -> ProduceBody<'a> {
        let mut names: Vec<&'a str> = Vec::new();
        // Consulted only when a batch's topic differs from the one before.
        let mut index_of: HashMap<&'a str, u32, foldhash::fast::RandomState> = HashMap::default();
        let mut keyed: Vec<(u32, i32, &'a [u8])> = Vec::with_capacity(batches.len());
        let mut grouped = true;
        for (topic, partition, bytes) in batches {
            let at = match keyed.last() {
                Some(&(at, _, _)) if names[at as usize] == topic => at,
                _ => {
                    let at = *index_of.entry(topic).or_insert_with(|| {
                        names.push(topic);
                        names.len() as u32 - 1
                    });
                    grouped &= keyed.last().is_none_or(|&(last, _, _)| at > last);
                    at
                }
            };
            keyed.push((at, partition, bytes));
        }
        if !grouped {
            // Stable: a topic's batches keep their order.
            keyed.sort_by_key(|&(at, _, _)| at);
        }
        let mut topics = Vec::with_capacity(names.len());
        let mut start = 0;
        for (i, name) in names.iter().enumerate() {
            let end = start + keyed[start..].partition_point(|&(at, _, _)| at as usize == i);
            topics.push((*name, start..end));
            start = end;
        }
        ProduceBody {
            transactional_id,
            acks,
            timeout_ms,
            topics,
            partitions: keyed.into_iter().map(|(_, p, b)| (p, b)).collect(),
        }
    }

    fn check_version(version: i16) -> Result<()> {
        if VERSIONS.contains(&version) {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "Produce v{version} is not written by this client (v3-v12)"
            )))
        }
    }
}

impl RequestBody for ProduceBody<'_> {
    type Request = ProduceRequest;

    fn size(&self, version: i16) -> Result<usize> {
        Self::check_version(version)?;
        let flexible = version >= FLEXIBLE;
        let mut size = nullable_string_size(self.transactional_id, flexible)? + 2 + 4;
        size += array_len_size(self.topics.len(), flexible);
        for (name, range) in &self.topics {
            size += string_size(name, flexible)?;
            size += array_len_size(range.len(), flexible);
            for (_, bytes) in &self.partitions[range.clone()] {
                size += 4 + bytes_size(bytes.len(), flexible)?;
                size += usize::from(flexible); // the partition's empty tagged fields
            }
            size += usize::from(flexible); // the topic's
        }
        Ok(size + usize::from(flexible)) // the request's
    }

    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<()> {
        Self::check_version(version)?;
        let flexible = version >= FLEXIBLE;
        put_nullable_string(buf, self.transactional_id, flexible);
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        put_array_len(buf, self.topics.len(), flexible);
        for (name, range) in &self.topics {
            put_nullable_string(buf, Some(name), flexible);
            put_array_len(buf, range.len(), flexible);
            for &(partition, bytes) in &self.partitions[range.clone()] {
                buf.put_i32(partition);
                if flexible {
                    put_uvarint(buf, bytes.len() as u64 + 1);
                } else {
                    buf.put_i32(bytes.len() as i32);
                }
                buf.put_slice(bytes);
                if flexible {
                    buf.put_u8(0);
                }
            }
            if flexible {
                buf.put_u8(0);
            }
        }
        if flexible {
            buf.put_u8(0);
        }
        Ok(())
    }
}

fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn array_len_size(n: usize, flexible: bool) -> usize {
    if flexible {
        uvarint_len(n as u64 + 1)
    } else {
        4
    }
}

fn put_array_len(buf: &mut BytesMut, n: usize, flexible: bool) {
    if flexible {
        put_uvarint(buf, n as u64 + 1);
    } else {
        buf.put_i32(n as i32);
    }
}

/// A string's length must fit the INT16 prefix of the non-flexible versions (the flexible
/// ones allow more, but a broker never accepts a topic name or transactional id that long).
fn string_size(s: &str, flexible: bool) -> Result<usize> {
    if s.len() > i16::MAX as usize {
        return Err(Error::Protocol(format!(
            "a string of {} bytes does not fit a Produce request",
            s.len()
        )));
    }
    Ok(if flexible {
        uvarint_len(s.len() as u64 + 1) + s.len()
    } else {
        2 + s.len()
    })
}

fn nullable_string_size(s: Option<&str>, flexible: bool) -> Result<usize> {
    match s {
        Some(s) => string_size(s, flexible),
        None if flexible => Ok(1),
        None => Ok(2),
    }
}

/// Only after [`nullable_string_size`] accepted the length.
fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>, flexible: bool) {
    match (s, flexible) {
        (Some(s), true) => {
            put_uvarint(buf, s.len() as u64 + 1);
            buf.put_slice(s.as_bytes());
        }
        (Some(s), false) => {
            buf.put_i16(s.len() as i16);
            buf.put_slice(s.as_bytes());
        }
        (None, true) => buf.put_u8(0),
        (None, false) => buf.put_i16(-1),
    }
}

fn bytes_size(len: usize, flexible: bool) -> Result<usize> {
    if len > i32::MAX as usize - 1 {
        return Err(Error::Protocol(format!(
            "a record batch of {len} bytes does not fit a Produce request"
        )));
    }
    Ok(if flexible {
        uvarint_len(len as u64 + 1) + len
    } else {
        4 + len
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StrBytes;
    use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use crate::protocol::messages::{TopicName, TransactionalId};
    use bytes::Bytes;
    use kafka_protocol::protocol::Encodable;

    /// A request as `kafka-protocol` structures it: topics, each with (partition, records).
    type Grouped<'a> = Vec<(&'a str, Vec<(i32, Vec<u8>)>)>;
    /// Batches as drained: (topic, partition, records).
    type Drained<'a> = Vec<(&'a str, i32, Vec<u8>)>;

    /// What `kafka-protocol` writes for the same request.
    fn reference(txn: Option<&str>, topics: &Grouped<'_>, version: i16) -> Vec<u8> {
        let req = ProduceRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(
                topics
                    .iter()
                    .map(|(name, parts)| {
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(name.to_string())))
                            .with_partition_data(
                                parts
                                    .iter()
                                    .map(|(p, b)| {
                                        PartitionProduceData::default()
                                            .with_index(*p)
                                            .with_records(Some(Bytes::from(b.clone())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let mut buf = BytesMut::new();
        Encodable::encode(&req, &mut buf, version).expect("reference encoding");
        buf.to_vec()
    }

    fn ours(txn: Option<&str>, batches: &[(&str, i32, Vec<u8>)], version: i16) -> Vec<u8> {
        let body = ProduceBody::new(
            txn,
            -1,
            30_000,
            batches.iter().map(|(t, p, b)| (*t, *p, b.as_slice())),
        );
        let mut buf = BytesMut::new();
        body.encode(&mut buf, version).expect("encoding");
        assert_eq!(body.size(version).expect("size"), buf.len(), "v{version}");
        buf.to_vec()
    }

    #[test]
    fn bodies_match_kafka_protocol_at_every_version() {
        // A batch past 127 bytes takes a two-byte compact length; one past 16,383 three.
        let big = vec![7u8; 20_000];
        let cases: Vec<(Option<&str>, Drained<'_>, Grouped<'_>)> = vec![
            (None, vec![], vec![]),
            (
                None,
                vec![("t", 0, vec![1, 2, 3])],
                vec![("t", vec![(0, vec![1, 2, 3])])],
            ),
            (
                Some("txn-1"),
                vec![
                    ("a", 2, vec![9; 200]),
                    ("a", 0, big.clone()),
                    ("b", 5, vec![]),
                ],
                vec![
                    ("a", vec![(2, vec![9; 200]), (0, big.clone())]),
                    ("b", vec![(5, vec![])]),
                ],
            ),
            // A topic that comes back later joins its first run, in the order given.
            (
                None,
                vec![
                    ("a", 1, vec![1]),
                    ("b", 1, vec![2]),
                    ("a", 0, vec![3]),
                    ("c", 4, vec![4]),
                    ("b", 0, vec![5]),
                ],
                vec![
                    ("a", vec![(1, vec![1]), (0, vec![3])]),
                    ("b", vec![(1, vec![2]), (0, vec![5])]),
                    ("c", vec![(4, vec![4])]),
                ],
            ),
        ];
        for version in VERSIONS {
            for (txn, batches, grouped) in &cases {
                assert_eq!(
                    ours(*txn, batches, version),
                    reference(*txn, grouped, version),
                    "v{version} {batches:?}"
                );
            }
        }
    }

    #[test]
    fn many_topics_group_through_the_map() {
        // 300 topics, each visited twice with another topic between: every lookup but the
        // first of each run goes through the map.
        let names: Vec<String> = (0..300).map(|i| format!("topic-{i}")).collect();
        let mut batches = Vec::new();
        for round in 0..2 {
            for n in &names {
                batches.push((n.as_str(), round, vec![round as u8]));
            }
        }
        let grouped: Grouped<'_> = names
            .iter()
            .map(|n| (n.as_str(), vec![(0, vec![0]), (1, vec![1])]))
            .collect();
        assert_eq!(ours(None, &batches, 12), reference(None, &grouped, 12));
        assert_eq!(ours(None, &batches, 8), reference(None, &grouped, 8));
    }

    #[test]
    fn versions_outside_three_to_twelve_are_refused() {
        let body = ProduceBody::new(None, 1, 1, std::iter::empty());
        for version in [2, 13] {
            assert!(body.size(version).is_err(), "v{version}");
            assert!(
                body.encode(&mut BytesMut::new(), version).is_err(),
                "v{version}"
            );
        }
    }

    #[test]
    fn a_transactional_id_too_long_for_its_prefix_is_an_error() {
        let long = "x".repeat(40_000);
        let body = ProduceBody::new(Some(&long), 1, 1, std::iter::empty());
        assert!(body.size(8).is_err());
    }
}

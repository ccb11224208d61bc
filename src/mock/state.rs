//! The mock cluster's data: topics, partition logs with idempotent-producer checks, committed
//! offsets. Plain data behind the cluster's one lock; no I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::record_batch::read_batch_header;

pub(crate) const NONE: i16 = 0;
pub(crate) use crate::error::code::CORRUPT_MESSAGE;
pub(crate) use crate::error::code::INVALID_PRODUCER_EPOCH;
pub(crate) use crate::error::code::OUT_OF_ORDER_SEQUENCE_NUMBER;
pub(crate) use crate::error::code::UNKNOWN_PRODUCER_ID;

/// Batches a producer may resend and still be recognised (Kafka keeps five per partition).
const DEDUP_WINDOW: usize = 5;

#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The batch as the producer sent it, base offset rewritten.
    pub bytes: Bytes,
}

#[derive(Debug, Default, Clone)]
struct ProducerEntry {
    epoch: i16,
    /// (first sequence, last sequence, base offset) of the latest batches.
    recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct PartitionLog {
    pub leader: i32,
    pub leader_epoch: i32,
    /// The follower the leader sends consumers to (KIP-392), and which then serves them.
    pub read_replica: Option<i32>,
    pub batches: Vec<StoredBatch>,
    pub next_offset: i64,
    pub log_start: i64,
    producers: HashMap<i64, ProducerEntry>,
    /// Transactional producers with data here and no marker yet: producer id -> first offset.
    pub open_txns: BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order.
    pub aborted: Vec<super::txn_log::AbortedTxn>,
}

impl PartitionLog {
    pub(crate) fn new(leader: i32) -> Self {
        PartitionLog {
            leader,
            leader_epoch: 0,
            read_replica: None,
            batches: Vec::new(),
            next_offset: 0,
            log_start: 0,
            producers: HashMap::new(),
            open_txns: BTreeMap::new(),
            aborted: Vec::new(),
        }
    }

    /// Appends one producer batch (checking idempotent sequences as a broker does). Returns
    /// the base offset, or an error code. With `discard`, only offsets and sequences advance.
    pub(crate) fn append(
        &mut self,
        batch: Bytes,
        producer_epochs: &HashMap<i64, i16>,
        discard: bool,
    ) -> Result<i64, i16> {
        let h = match read_batch_header(&batch) {
            Ok(Some(h)) if h.total_size() == batch.len() && h.record_count > 0 => h,
            _ => return Err(CORRUPT_MESSAGE),
        };
        let count = h.last_offset_delta + 1;
        if h.producer_id >= 0 {
            let current = producer_epochs.get(&h.producer_id).copied();
            match current {
                None => return Err(UNKNOWN_PRODUCER_ID),
                Some(e) if h.producer_epoch < e => return Err(INVALID_PRODUCER_EPOCH),
                _ => {}
            }
            let first = h.base_sequence;
            let last = first.wrapping_add(h.last_offset_delta);
            let known = self.producers.contains_key(&h.producer_id);
            let entry = self.producers.entry(h.producer_id).or_default();
            let fresh_epoch = entry.recent.is_empty() || h.producer_epoch > entry.epoch;
            if fresh_epoch {
                // As Apache Kafka's ProducerStateManager: a producer this partition has no
                // state for may start at any sequence; a new epoch of a known one starts at 0.
                if first != 0 && known {
                    return Err(OUT_OF_ORDER_SEQUENCE_NUMBER);
                }
                entry.epoch = h.producer_epoch;
                entry.recent.clear();
            } else {
                if let Some((_, _, base)) = entry
                    .recent
                    .iter()
                    .find(|(f, l, _)| *f == first && *l == last)
                {
                    // A resend of a batch already written: answer with its original offset.
                    return Ok(*base);
                }
                let expected = entry.recent.back().map_or(0, |(_, l, _)| l.wrapping_add(1));
                if first != expected {
                    tracing::debug!(
                        first,
                        expected,
                        epoch = h.producer_epoch,
                        "mock: out of order sequence"
                    );
                    return Err(OUT_OF_ORDER_SEQUENCE_NUMBER);
                }
            }
            entry.recent.push_back((first, last, self.next_offset));
            if entry.recent.len() > DEDUP_WINDOW {
                entry.recent.pop_front();
            }
        }
        let base = self.next_offset;
        if h.is_transactional() && h.producer_id >= 0 {
            self.open_txns.entry(h.producer_id).or_insert(base);
        }
        self.next_offset += i64::from(count);
        if !discard {
            let mut b = BytesMut::from(&batch[..]);
            b[..8].copy_from_slice(&base.to_be_bytes());
            // The leader epoch field is not covered by the CRC either.
            b[12..16].copy_from_slice(&self.leader_epoch.to_be_bytes());
            self.batches.push(StoredBatch {
                base_offset: base,
                last_offset: base + i64::from(h.last_offset_delta),
                bytes: b.freeze(),
            });
        }
        Ok(base)
    }

    /// Whole batches holding offsets from `offset` on, up to about `max_bytes` (at least one).
    pub(crate) fn read(&self, offset: i64, max_bytes: usize) -> Bytes {
        let start = self.batches.partition_point(|b| b.last_offset < offset);
        let mut out = BytesMut::new();
        for b in &self.batches[start..] {
            if !out.is_empty() && out.len() + b.bytes.len() > max_bytes {
                break;
            }
            out.put_slice(&b.bytes);
        }
        out.freeze()
    }

    /// Offset of the first record with timestamp >= `ts` (approximated by batch max
    /// timestamps), for ListOffsets.
    pub(crate) fn offset_for_time(&self, ts: i64) -> Option<(i64, i64)> {
        for b in &self.batches {
            if let Ok(Some(h)) = read_batch_header(&b.bytes)
                && h.max_timestamp >= ts
            {
                return Some((b.base_offset, h.max_timestamp));
            }
        }
        None
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TopicState {
    pub id: [u8; 16],
    pub partitions: Vec<PartitionLog>,
}

/// A group's committed offsets: (topic, partition) -> (offset, metadata).
pub(crate) type GroupOffsets = BTreeMap<(String, i32), (i64, String)>;

#[derive(Debug, Default)]
pub(crate) struct ClusterData {
    pub topics: BTreeMap<String, TopicState>,
    /// Current epoch of every producer id handed out.
    pub producer_epochs: HashMap<i64, i16>,
    pub next_producer_id: i64,
    /// group -> topic-partition -> (offset, metadata)
    pub committed: HashMap<String, GroupOffsets>,
    /// group -> every accepted commit, in order.
    pub commit_log: HashMap<String, Vec<super::MockCommit>>,
    pub next_topic_id: u64,
    pub txns: super::txn::Transactions,
}

impl ClusterData {
    pub(crate) fn create_topic(&mut self, name: &str, partitions: i32, brokers: &[i32]) -> bool {
        if self.topics.contains_key(name) || brokers.is_empty() {
            return false;
        }
        self.next_topic_id += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_topic_id.to_be_bytes());
        id[8] = 0x5a;
        let parts = (0..partitions.max(1))
            .map(|p| PartitionLog::new(brokers[p as usize % brokers.len()]))
            .collect();
        self.topics.insert(
            name.to_string(),
            TopicState {
                id,
                partitions: parts,
            },
        );
        true
    }

    pub(crate) fn partition_mut(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Option<&mut PartitionLog> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(usize::try_from(partition).ok()?)
    }

    pub(crate) fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionLog> {
        self.topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
    }
}

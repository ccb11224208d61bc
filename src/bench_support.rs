//! Bench-only hooks into the producer's hot path (cargo feature `bench-internals`).
//!
//! **Unstable and not an API**: this module exists so `benches/producer.rs` can time the real
//! append and drain/encode code without a broker. Anything here may change or disappear in any
//! release, and nothing outside this crate's benches should use it.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::time::Instant;

use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::network::metadata::{Cluster, Node, PartitionMeta, TopicId, TopicMeta};
use crate::producer::accumulator::{Accumulator, AccumulatorConfig, Append};
use crate::producer::delivery::{BatchOutcome, Callback};
use crate::producer::{ProducerRecord, default_partition_for_key};
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::RecordBatchBuilder;

/// Mirrors `producer::DELTA_SLACK`: the reservation slack `KafkaProducer::append` adds.
const DELTA_SLACK: usize = 16;
const TOPIC: &str = "bench";
const BROKER: i32 = 1;
/// Producer id and epoch given to drained batches, as an idempotent producer (the default) does.
const PRODUCER_ID: (i64, i16) = (4242, 0);

/// A real `Accumulator` for one topic led by one synthetic broker, driven without I/O.
///
/// [`append`](Self::append) follows `KafkaProducer::append` step for step (topic lookup, size
/// estimate, keyed partitioning, timestamp, `Accumulator::append` with its `buffer.memory`
/// reservation for a new batch, sender wake-up) minus the async waits; [`drain_encode`](Self::drain_encode) does what the
/// sender does with every ready batch except the network round trip.
pub struct AppendBench {
    acc: Accumulator,
    topic: Arc<str>,
    cluster: Cluster,
    next_offset: i64,
    callbacks_ok: Arc<AtomicU64>,
}

impl std::fmt::Debug for AppendBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendBench")
            .field("codec", &self.acc.cfg.compression)
            .field("batch_size", &self.acc.cfg.batch_size)
            .finish_non_exhaustive()
    }
}

impl AppendBench {
    /// An accumulator with `compression.type = codec`, `batch.size`, `linger.ms` and every other
    /// setting at the producer's defaults (32 MiB `buffer.memory`), for a topic of `partitions`
    /// partitions. Errors: an unknown codec or a codec this build lacks.
    pub fn new(codec: &str, batch_size: usize, partitions: i32, linger_ms: u64) -> Result<Self> {
        let config = ProducerConfig::builder()
            .set("bootstrap.servers", "127.0.0.1:9092") // never dialled
            .set("compression.type", codec)
            .set("batch.size", batch_size.to_string())
            .set("linger.ms", linger_ms.to_string())
            .build()?;
        let compression = Compression::from_str(&config.compression_type)
            .map_err(|e| Error::InvalidArgument(format!("compression.type: {e}")))?;
        let compression_level = match compression {
            Compression::Gzip if config.compression_gzip_level >= 0 => {
                Some(config.compression_gzip_level)
            }
            Compression::Zstd => Some(config.compression_zstd_level),
            _ => None,
        };
        let acc = Accumulator::new(
            AccumulatorConfig {
                batch_size: config.batch_size.max(1),
                linger: config.linger,
                compression,
                compression_level,
                // Nothing expires: `drain_encode` drains with a clock an hour ahead.
                delivery_timeout: Duration::from_secs(365 * 24 * 3600),
                max_request_size: config.max_request_size,
                adaptive: config.partitioner_adaptive_partitioning_enable,
                transactional: false,
            },
            config.buffer_memory,
        );
        acc.topic(TOPIC).set_num_partitions(partitions);
        let partition_meta = (0..partitions)
            .map(|id| PartitionMeta {
                id,
                leader: BROKER,
                leader_epoch: 0,
                replicas: vec![BROKER],
                isr: vec![BROKER],
                offline: Vec::new(),
                error: None,
            })
            .collect();
        let cluster = Cluster {
            cluster_id: Some("bench".into()),
            controller_id: BROKER,
            brokers: [(
                BROKER,
                Node {
                    id: BROKER,
                    host: "127.0.0.1".into(),
                    port: 9092,
                    rack: None,
                },
            )]
            .into(),
            topics: [(
                TOPIC.to_string(),
                TopicMeta {
                    name: TOPIC.into(),
                    id: TopicId([7; 16]),
                    is_internal: false,
                    error: None,
                    partitions: partition_meta,
                },
            )]
            .into(),
            fetched_at: Some(std::time::Instant::now()),
        };
        Ok(AppendBench {
            acc,
            topic: Arc::from(TOPIC),
            cluster,
            next_offset: 0,
            callbacks_ok: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Appends one record the way `enqueue` does and drops its `DeliveryFuture`.
    ///
    /// # Panics
    /// When `buffer.memory` is spent (call [`drain_encode`](Self::drain_encode) or
    /// [`discard`](Self::discard) often enough) or `partition` does not exist.
    pub fn append(&self, key: Option<&Bytes>, value: &Bytes, partition: Option<i32>) {
        self.append_inner(key, value, partition, None);
    }

    /// Appends one record the way `send_with_callback` does; the callback counts successes
    /// (see [`callbacks_ok`](Self::callbacks_ok)). Panics as [`append`](Self::append).
    pub fn append_with_callback(&self, key: Option<&Bytes>, value: &Bytes, partition: Option<i32>) {
        let ok = self.callbacks_ok.clone();
        let cb: Callback = Box::new(move |r| {
            if r.is_ok() {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        });
        self.append_inner(key, value, partition, Some(cb));
    }

    fn append_inner(
        &self,
        key: Option<&Bytes>,
        value: &Bytes,
        partition: Option<i32>,
        callback: Option<Callback>,
    ) {
        let record = ProducerRecord {
            topic: self.topic.clone(),
            partition,
            key: key.cloned(),
            value: Some(value.clone()),
            headers: Vec::new(),
            timestamp: None,
        };
        let topic = self.acc.topic(&record.topic);
        let n = topic.num_partitions();
        let size = RecordBatchBuilder::estimate_record_size(
            0,
            0,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        ) + DELTA_SLACK;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => Some(p),
            (None, Some(k)) => Some(default_partition_for_key(k, n)),
            (None, None) => None,
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut callback = callback;
        match self.acc.append(
            &topic,
            partition,
            &record,
            timestamp,
            size,
            0,
            &mut callback,
        ) {
            Ok(Append::Done(appended)) => {
                if appended.wake_sender {
                    self.acc.wakeup.notify_one();
                }
                drop(appended.future);
            }
            Ok(Append::NeedsMemory(_)) => panic!("buffer.memory spent: drain more often"),
            Err(e) => panic!("append failed: {e}"),
        }
    }

    /// Drains every queued batch (linger treated as expired), builds each one's wire bytes
    /// (compressing them) and completes it as acknowledged, running callbacks and giving its
    /// `buffer.memory` back. Returns the encoded bytes.
    pub fn drain_encode(&mut self) -> usize {
        self.drain(true)
    }

    /// As [`drain_encode`](Self::drain_encode) without building wire bytes: empties the
    /// accumulator cheaply between timed appends. Returns the records completed.
    pub fn discard(&mut self) -> usize {
        self.drain(false)
    }

    /// Callbacks from [`append_with_callback`](Self::append_with_callback) that ran with success.
    pub fn callbacks_ok(&self) -> u64 {
        self.callbacks_ok.load(Ordering::Relaxed)
    }

    fn drain(&mut self, encode: bool) -> usize {
        let now = Instant::now() + Duration::from_secs(3600);
        let mut total = 0;
        loop {
            let pass = self
                .acc
                .drain(&self.cluster, now, |_| true, Some(PRODUCER_ID));
            assert!(pass.expired.is_empty(), "no batch should expire");
            if pass.drained.is_empty() {
                break;
            }
            for d in pass.drained {
                for mut b in d.batches {
                    let records = b.record_count();
                    if encode {
                        total += b.wire_bytes(&self.acc.pool).expect("encode batch").len();
                    } else {
                        total += records as usize;
                    }
                    self.acc.done_in_flight(
                        &b.shared.topic,
                        b.partition(),
                        b.sequence.map(|s| s.base_sequence),
                    );
                    let released = b.complete(BatchOutcome::Done {
                        base_offset: self.next_offset,
                        log_append_time: -1,
                    });
                    self.next_offset += i64::from(records);
                    self.acc.pool.release(released);
                }
            }
        }
        self.acc.prune_incomplete();
        total
    }
}

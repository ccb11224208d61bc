//! The sensors of each client, listed under Java's names and groups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Metrics, RecordingLevel, Sensor, Stat, StatSpec};
use crate::types::TopicPartition;

use RecordingLevel::{Debug, Info};
use Stat::{Avg, Count, CountRate, CountRatePerHour, Max, Rate, Total, Value};

const PRODUCER: &str = "producer-metrics";
const FETCH: &str = "consumer-fetch-manager-metrics";
const COORDINATOR: &str = "consumer-coordinator-metrics";
const BUFFER_AVAILABLE: &str = "buffer.memory bytes not in use";

/// `producer-metrics`.
#[derive(Debug)]
pub(crate) struct ProducerSensors {
    /// Records per Produce request, retries included (as Java counts them).
    pub records_sent: Arc<Sensor>,
    /// Records of batches that failed.
    pub errors: Arc<Sensor>,
    /// Records of batches put back for a retry.
    pub retries: Arc<Sensor>,
    /// Produce request round trips, in ms.
    pub request_latency: Arc<Sensor>,
    /// Wire size of each batch sent, in bytes.
    pub batch_size: Arc<Sensor>,
    /// Compressed over uncompressed size of each batch sent.
    pub compression_rate: Arc<Sensor>,
    /// Time from a batch's creation to its sending, in ms.
    pub queue_time: Arc<Sensor>,
    /// `buffer.memory` bytes free as requests finish, for the facade (the snapshot reads the
    /// pool itself: see [`list_buffer_available`](Self::list_buffer_available)).
    pub buffer_available: Arc<Sensor>,
    /// Seconds spent waiting for `buffer.memory`.
    pub buffer_wait: Arc<Sensor>,
}

impl ProducerSensors {
    pub(super) fn new(m: &Metrics) -> Self {
        let s = ProducerSensors {
            records_sent: m.sensor(Info),
            errors: m.sensor(Info),
            retries: m.sensor(Info),
            request_latency: m.sensor(Info),
            batch_size: m.sensor(Info),
            compression_rate: m.sensor(Info),
            queue_time: m.sensor(Info),
            buffer_available: m.sensor(Info),
            buffer_wait: m.sensor(Info),
        };
        let add = |sensor, stats| m.add(PRODUCER, &[], sensor, stats);
        add(
            &s.records_sent,
            &[
                ("record-send-rate", Rate, "Records sent per second"),
                ("record-send-total", Total, "Records sent"),
                (
                    "records-per-request-avg",
                    Avg,
                    "Records per Produce request",
                ),
            ],
        );
        add(
            &s.errors,
            &[
                (
                    "record-error-rate",
                    Rate,
                    "Records whose send failed, per second",
                ),
                ("record-error-total", Total, "Records whose send failed"),
            ],
        );
        add(
            &s.retries,
            &[
                ("record-retry-rate", Rate, "Records retried per second"),
                ("record-retry-total", Total, "Records retried"),
            ],
        );
        add(
            &s.request_latency,
            &[
                ("request-latency-avg", Avg, "Produce request latency, in ms"),
                (
                    "request-latency-max",
                    Max,
                    "Largest Produce request latency, in ms",
                ),
            ],
        );
        add(
            &s.batch_size,
            &[
                ("batch-size-avg", Avg, "Bytes per batch sent"),
                ("batch-size-max", Max, "Largest batch sent, in bytes"),
            ],
        );
        add(
            &s.compression_rate,
            &[(
                "compression-rate-avg",
                Avg,
                "Compressed size over uncompressed size of the batches sent",
            )],
        );
        add(
            &s.queue_time,
            &[
                (
                    "record-queue-time-avg",
                    Avg,
                    "Time batches waited to be sent, in ms",
                ),
                (
                    "record-queue-time-max",
                    Max,
                    "Longest time a batch waited, in ms",
                ),
            ],
        );
        m.export(
            PRODUCER,
            &s.buffer_available,
            &[("buffer-available-bytes", Value, BUFFER_AVAILABLE)],
        );
        add(
            &s.buffer_wait,
            &[(
                "bufferpool-wait-ratio",
                Rate,
                "Fraction of time sends waited for buffer.memory",
            )],
        );
        s
    }
}

impl ProducerSensors {
    /// Lists `buffer-available-bytes`, read from the pool when the snapshot is taken.
    pub(crate) fn list_buffer_available(
        m: &Metrics,
        available: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        m.add_gauge(
            PRODUCER,
            "buffer-available-bytes",
            BUFFER_AVAILABLE,
            available,
        );
    }
}

/// One partition's `records-lag` and `records-lead`.
#[derive(Debug)]
struct PartitionSensors {
    lag: Arc<Sensor>,
    lead: Arc<Sensor>,
}

impl PartitionSensors {
    fn record(&self, lag: i64, lead: i64) {
        self.lag.record(lag as f64);
        if lead >= 0 {
            self.lead.record(lead as f64);
        }
    }
}

/// `consumer-fetch-manager-metrics`.
#[derive(Debug)]
pub(crate) struct FetchSensors {
    /// Records per poll.
    pub records: Arc<Sensor>,
    /// Record batch bytes per fetched partition.
    pub bytes: Arc<Sensor>,
    /// Fetch round trips, in ms.
    pub latency: Arc<Sensor>,
    /// Every partition's lag as polls take records (for `records-lag-max`).
    lag: Arc<Sensor>,
    partitions: Mutex<HashMap<TopicPartition, PartitionSensors>>,
}

impl FetchSensors {
    pub(super) fn new(m: &Metrics) -> Self {
        let s = FetchSensors {
            records: m.sensor(Info),
            bytes: m.sensor(Info),
            latency: m.sensor(Info),
            lag: m.sensor(Info),
            partitions: Mutex::new(HashMap::new()),
        };
        let add = |sensor, stats| m.add(FETCH, &[], sensor, stats);
        add(
            &s.records,
            &[
                (
                    "records-consumed-rate",
                    Rate,
                    "Records returned by poll per second",
                ),
                ("records-consumed-total", Total, "Records returned by poll"),
                (
                    "records-per-request-avg",
                    Avg,
                    "Records per poll that returned some",
                ),
            ],
        );
        add(
            &s.bytes,
            &[
                (
                    "bytes-consumed-rate",
                    Rate,
                    "Record batch bytes fetched per second",
                ),
                ("bytes-consumed-total", Total, "Record batch bytes fetched"),
            ],
        );
        add(
            &s.latency,
            &[
                ("fetch-latency-avg", Avg, "Fetch request latency, in ms"),
                (
                    "fetch-latency-max",
                    Max,
                    "Largest Fetch request latency, in ms",
                ),
                ("fetch-rate", CountRate, "Fetch requests per second"),
                ("fetch-total", Count, "Fetch requests"),
            ],
        );
        add(
            &s.lag,
            &[(
                "records-lag-max",
                Max,
                "Largest lag of any partition in the window, in records",
            )],
        );
        s
    }

    /// Records `tp`'s lag (log end or last stable offset minus position) and lead (position
    /// minus log start offset) after a poll took its records.
    pub(crate) fn partition_lag(&self, m: &Metrics, tp: &TopicPartition, lag: i64, lead: i64) {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before any clone of `tp`: a poll records the lag of each partition it
        // took records from, and all but the first are of a partition listed already.
        if let Some(p) = parts.get(tp) {
            p.record(lag, lead);
        } else {
            let p = Self::list_partition(m, tp, lead);
            p.record(lag, lead);
            parts.insert(tp.clone(), p);
        }
        drop(parts);
        self.lag.record(lag as f64);
    }

    /// `tp`'s `records-lag` metrics, and `records-lead` when the broker gave a log start offset
    /// (`lead` not negative).
    fn list_partition(m: &Metrics, tp: &TopicPartition, lead: i64) -> PartitionSensors {
        const LAG: &[StatSpec] = &[
            (
                "records-lag",
                Value,
                "The partition's latest lag, in records",
            ),
            (
                "records-lag-avg",
                Avg,
                "The partition's average lag, in records",
            ),
            (
                "records-lag-max",
                Max,
                "The partition's largest lag, in records",
            ),
        ];
        const LEAD: &[StatSpec] = &[
            (
                "records-lead",
                Value,
                "The partition's latest lead, in records",
            ),
            (
                "records-lead-avg",
                Avg,
                "The partition's average lead, in records",
            ),
        ];
        let p = PartitionSensors {
            lag: m.sensor(Info),
            lead: m.sensor(Info),
        };
        let both = [(&p.lag, LAG), (&p.lead, LEAD)];
        let listed = if lead >= 0 { &both[..] } else { &both[..1] };
        m.add_sensors(FETCH, &partition_tags(tp), listed);
        p
    }

    /// Unlists the `records-lag` and `records-lead` metrics of `tps` (unassigned partitions).
    /// Facade handles stay registered: the `metrics` crate has no way to drop them, and an
    /// exporter's idle timeout is what ages them out there.
    pub(crate) fn remove_partitions(&self, m: &Metrics, tps: &[TopicPartition]) {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let tags: Vec<_> = tps
            .iter()
            .filter(|tp| parts.remove(*tp).is_some())
            .map(|tp| partition_tags(tp).to_vec())
            .collect();
        // Still holding `partitions` (as `partition_lag` does while it lists): a partition's
        // first lag cannot be listed between the two steps and then unlisted.
        m.remove(FETCH, &tags);
        drop(parts);
    }
}

fn partition_tags(tp: &TopicPartition) -> [(&'static str, String); 2] {
    [
        ("topic", tp.topic.clone()),
        ("partition", tp.partition.to_string()),
    ]
}

/// `consumer-coordinator-metrics`.
#[derive(Debug)]
pub(crate) struct CoordinatorSensors {
    /// OffsetCommit round trips, in ms.
    pub commit_latency: Arc<Sensor>,
    /// Time from the start of a rebalance to its assignment, in ms.
    pub rebalance_latency: Arc<Sensor>,
    /// One per rebalance that failed.
    pub failed_rebalances: Arc<Sensor>,
}

impl CoordinatorSensors {
    pub(super) fn new(m: &Metrics) -> Self {
        let s = CoordinatorSensors {
            commit_latency: m.sensor(Info),
            rebalance_latency: m.sensor(Info),
            failed_rebalances: m.sensor(Info),
        };
        let add = |sensor, stats| m.add(COORDINATOR, &[], sensor, stats);
        add(
            &s.commit_latency,
            &[
                ("commit-latency-avg", Avg, "Offset commit latency, in ms"),
                (
                    "commit-latency-max",
                    Max,
                    "Largest offset commit latency, in ms",
                ),
                ("commit-rate", CountRate, "Offset commits per second"),
                ("commit-total", Count, "Offset commits"),
            ],
        );
        add(
            &s.rebalance_latency,
            &[
                ("rebalance-latency-avg", Avg, "Rebalance time, in ms"),
                ("rebalance-latency-max", Max, "Longest rebalance, in ms"),
                (
                    "rebalance-latency-total",
                    Total,
                    "Time spent rebalancing, in ms",
                ),
                (
                    "rebalance-rate-per-hour",
                    CountRatePerHour,
                    "Rebalances per hour",
                ),
                ("rebalance-total", Count, "Rebalances completed"),
            ],
        );
        add(
            &s.failed_rebalances,
            &[
                (
                    "failed-rebalance-rate-per-hour",
                    CountRatePerHour,
                    "Failed rebalances per hour",
                ),
                ("failed-rebalance-total", Count, "Failed rebalances"),
            ],
        );
        s
    }
}

/// `<client>-node-metrics`, tagged `node-id` = `node-<id>` (`DEBUG` level).
#[derive(Debug)]
pub(crate) struct NodeSensors {
    /// Bytes of each request sent.
    pub requests: Arc<Sensor>,
    /// Bytes of each response received.
    pub responses: Arc<Sensor>,
    /// Round trips, in ms.
    pub latency: Arc<Sensor>,
}

impl NodeSensors {
    pub(super) fn new(m: &Metrics, node: i32) -> Self {
        let s = NodeSensors {
            requests: m.sensor(Debug),
            responses: m.sensor(Debug),
            latency: m.sensor(Debug),
        };
        let group = m.node_group();
        let tags = [("node-id", format!("node-{node}"))];
        m.add(
            &group,
            &tags,
            &s.requests,
            &[
                ("request-rate", CountRate, "Requests sent per second"),
                ("request-total", Count, "Requests sent"),
                ("outgoing-byte-rate", Rate, "Bytes sent per second"),
                ("outgoing-byte-total", Total, "Bytes sent"),
            ],
        );
        m.add(
            &group,
            &tags,
            &s.responses,
            &[
                ("response-rate", CountRate, "Responses received per second"),
                ("response-total", Count, "Responses received"),
                ("incoming-byte-rate", Rate, "Bytes received per second"),
                ("incoming-byte-total", Total, "Bytes received"),
            ],
        );
        m.add(
            &group,
            &tags,
            &s.latency,
            &[
                ("request-latency-avg", Avg, "Request latency, in ms"),
                ("request-latency-max", Max, "Largest request latency, in ms"),
            ],
        );
        s
    }
}

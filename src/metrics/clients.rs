//! The sensors of each client, listed under Java's names and groups.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::stat::{Samples, now_ms};
use super::{Metric, Metrics, RecordingLevel, Sensor, Stat, StatSpec};
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

/// A partition's `records-lag` statistics (latest, average and largest lag in records), as
/// `(name, statistic, description)`.
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
/// A partition's `records-lead` statistics.
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

/// One partition's `records-lag` and `records-lead`, kept in [`FetchSensors`]' map and listed
/// from there by [`Metrics::snapshot`], not as sensors with entries of their own: at 10,000
/// partitions, two sensors, two tag sets and five entries per partition were about 3 us of
/// CPU each to list and drop, a twentieth of a consumer's run through a million records.
#[derive(Debug)]
struct PartitionLag {
    lag: Samples,
    /// `None` when the broker gave no log start offset with the first lag (Fetch v4 and older).
    lead: Option<Samples>,
    #[cfg(feature = "metrics")]
    facade: (super::facade::Facade, Option<super::facade::Facade>),
}

impl PartitionLag {
    fn new(m: &Metrics, tp: &TopicPartition, lead: i64) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = tp;
        PartitionLag {
            lag: Samples::new(m.sampling),
            lead: (lead >= 0).then(|| Samples::new(m.sampling)),
            #[cfg(feature = "metrics")]
            facade: {
                let tags = m.tags(&partition_tags(tp));
                (
                    super::facade::handles(FETCH, &tags, LAG),
                    (lead >= 0).then(|| super::facade::handles(FETCH, &tags, LEAD)),
                )
            },
        }
    }

    fn record(&mut self, lag: i64, lead: i64, now: u64) {
        self.lag.record(lag as f64, now);
        #[cfg(feature = "metrics")]
        self.facade.0.record(lag as f64);
        if let Some(l) = self.lead.as_mut().filter(|_| lead >= 0) {
            l.record(lead as f64, now);
            #[cfg(feature = "metrics")]
            if let Some(f) = &self.facade.1 {
                f.record(lead as f64);
            }
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
    /// Whether `records-lag` and `records-lead` record (their level, Info, is on).
    record_lag: bool,
    partitions: Mutex<HashMap<TopicPartition, PartitionLag, foldhash::fast::RandomState>>,
}

impl FetchSensors {
    pub(super) fn new(m: &Metrics) -> Self {
        let s = FetchSensors {
            records: m.sensor(Info),
            bytes: m.sensor(Info),
            latency: m.sensor(Info),
            lag: m.sensor(Info),
            record_lag: Info <= m.level,
            partitions: Mutex::new(HashMap::default()),
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
        let now = now_ms();
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before any clone of `tp`: a poll records the lag of each partition it
        // took records from, and only a partition's first recording lists it.
        let p = match parts.get_mut(tp) {
            Some(p) => p,
            None => parts
                .entry(tp.clone())
                .or_insert_with(|| PartitionLag::new(m, tp, lead)),
        };
        if !self.record_lag {
            // Listed, as every metric is at any level, but not recorded.
            return;
        }
        p.record(lag, lead, now);
        drop(parts);
        self.lag.record_at(lag as f64, now);
    }

    /// Unlists the `records-lag` and `records-lead` metrics of `tps` (unassigned partitions).
    /// Facade handles stay registered: the `metrics` crate has no way to drop them, and an
    /// exporter's idle timeout is what ages them out there.
    pub(crate) fn remove_partitions(&self, tps: &[TopicPartition]) {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for tp in tps {
            parts.remove(tp);
        }
    }

    /// Adds each partition's `records-lag` and `records-lead` statistics at `now` to `out`,
    /// partitions in order.
    pub(super) fn list_partitions(&self, m: &Metrics, now: u64, out: &mut Vec<Metric>) {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let mut sorted: Vec<_> = parts.iter_mut().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (tp, p) in sorted {
            let tags: BTreeMap<String, String> = m
                .tags(&partition_tags(tp))
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let lead = p.lead.as_mut().map(|l| (l, LEAD));
            for (samples, stats) in std::iter::once((&mut p.lag, LAG)).chain(lead) {
                for &(name, stat, description) in stats {
                    out.push(Metric {
                        name: name.to_string(),
                        group: FETCH.to_string(),
                        tags: tags.clone(),
                        description: description.to_string(),
                        value: super::read(samples, stat, now),
                    });
                }
            }
        }
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

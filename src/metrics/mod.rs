//! Client metrics with Java's names and groups, read with `metrics()` on
//! [`KafkaProducer`](crate::KafkaProducer), [`KafkaConsumer`](crate::KafkaConsumer) and
//! [`AdminClient`](crate::AdminClient), and exported through the
//! [`metrics`](https://docs.rs/metrics) crate facade with the `metrics` feature.
//!
//! Values are recorded once per batch, request, fetch or poll, never per record: the send
//! path does no metrics work of its own. Rates and window statistics (`-rate`, `-avg`,
//! `-max`) cover the last `metrics.num.samples` windows of `metrics.sample.window.ms` (2 x 30 s
//! by default, as Java); `-total` values count since the client started.
//!
//! `metrics.recording.level` (`INFO` by default, `DEBUG`, `TRACE`, and ferrokafka's `OFF`)
//! decides what is recorded:
//! the per-node request metrics (groups `producer-node-metrics`, `consumer-node-metrics`,
//! `admin-client-node-metrics`) are `DEBUG`, everything else `INFO`; `OFF` records nothing.
//! Metrics above the level are listed with the values they had (none: NaN or 0), except the
//! per-node ones, not listed below `DEBUG`.
//!
//! # Units
//! Latencies and times are in milliseconds, sizes in bytes, `-rate` values per second
//! (`rebalance-rate-per-hour`: per hour), `compression-rate-avg` the compressed size over the
//! uncompressed size, `bufferpool-wait-ratio` the fraction of time spent waiting for
//! `buffer.memory` (0 to 1). A window statistic with no value recorded in the window is NaN,
//! as in Java.
//!
//! # The `metrics` crate facade
//! With the `metrics` feature, each statistic is also registered with the recorder installed
//! when the client is created (install it first): `-total` values as counters, latencies and
//! sizes as histograms (named without `-avg`/`-max`), current values as gauges. Names are
//! `kafka.<group>.<name>`, e.g. `kafka.producer-metrics.record-send-total`, labelled with
//! Java's tags (`client-id`, `node-id`, `topic`, `partition`). A Prometheus exporter renders
//! them as `kafka_producer_metrics_record_send_total`; take rates with PromQL's `rate()`.
//! See `examples/prometheus_metrics.rs`.

mod clients;
#[cfg(feature = "metrics")]
mod facade;
mod stat;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub(crate) use clients::{CoordinatorSensors, FetchSensors, NodeSensors, ProducerSensors};
pub(crate) use stat::{SampleConfig, Sensor};

/// One metric's value at the time of the snapshot.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metric {
    /// Java's name, e.g. `record-send-total`.
    pub name: String,
    /// Java's group, e.g. `producer-metrics`.
    pub group: String,
    /// Java's tags: always `client-id`; `node-id`, `topic`, `partition` where they apply.
    pub tags: BTreeMap<String, String>,
    /// What it measures, with its unit.
    pub description: String,
    /// The value; NaN for a window statistic with nothing recorded in the window.
    pub value: f64,
}

impl Metric {
    /// The value of tag `key`, if the metric has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// The value of metric `name` in `group` (the first one, whatever its tags), if listed.
pub fn find<'a>(metrics: &'a [Metric], group: &str, name: &str) -> Option<&'a Metric> {
    metrics.iter().find(|m| m.group == group && m.name == name)
}

/// `metrics.recording.level`: which sensors record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum RecordingLevel {
    /// Nothing is recorded and nothing listed (ferrokafka only: Java has no such level).
    Off,
    /// Client-level metrics (the default).
    #[default]
    Info,
    /// Also the per-node request metrics.
    Debug,
    /// Everything (as `Debug` today).
    Trace,
}

impl RecordingLevel {
    /// The name used in properties (`INFO`, `DEBUG`, `TRACE`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingLevel::Off => "OFF",
            RecordingLevel::Info => "INFO",
            RecordingLevel::Debug => "DEBUG",
            RecordingLevel::Trace => "TRACE",
        }
    }
}

impl std::str::FromStr for RecordingLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "OFF" => Ok(RecordingLevel::Off),
            "INFO" => Ok(RecordingLevel::Info),
            "DEBUG" => Ok(RecordingLevel::Debug),
            "TRACE" => Ok(RecordingLevel::Trace),
            _ => Err(format!("`{s}` is not OFF, INFO, DEBUG or TRACE")),
        }
    }
}

/// Which statistic of a sensor a metric reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stat {
    /// Sum of values per second.
    Rate,
    /// Values recorded per second.
    CountRate,
    /// Values recorded per hour.
    CountRatePerHour,
    Avg,
    Max,
    /// Sum of every value.
    Total,
    /// Number of values.
    Count,
    /// Last value.
    Value,
}

enum Source {
    Sensor(Arc<Sensor>, Stat),
    Gauge(Box<dyn Fn() -> f64 + Send + Sync>),
}

/// A statistic to list: its name, what it reads of the sensor, and its description.
pub(crate) type StatSpec = (&'static str, Stat, &'static str);

struct Entry {
    name: &'static str,
    /// Shared by the statistics one `add` lists for a sensor: one allocation each for the
    /// group and the tags, not one per statistic.
    group: Arc<str>,
    tags: Arc<Vec<(&'static str, String)>>,
    description: &'static str,
    source: Source,
}

/// Every metric of one client, and what its sensors are made with.
pub(crate) struct Metrics {
    /// `producer`, `consumer` or `admin-client`: the prefix of the node group.
    kind: &'static str,
    client_id: String,
    level: RecordingLevel,
    sampling: SampleConfig,
    entries: Mutex<Vec<Entry>>,
    nodes: Mutex<BTreeMap<i32, Arc<NodeSensors>>>,
    producer: std::sync::OnceLock<Arc<ProducerSensors>>,
    fetch: std::sync::OnceLock<Arc<FetchSensors>>,
    coordinator: std::sync::OnceLock<Arc<CoordinatorSensors>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(
            "client",
            String::new(),
            RecordingLevel::Info,
            SampleConfig::default(),
        )
    }
}

impl Metrics {
    pub(crate) fn new(
        kind: &'static str,
        client_id: String,
        level: RecordingLevel,
        sampling: SampleConfig,
    ) -> Self {
        Metrics {
            kind,
            client_id,
            level,
            sampling,
            entries: Mutex::new(Vec::new()),
            nodes: Mutex::new(BTreeMap::new()),
            producer: Default::default(),
            fetch: Default::default(),
            coordinator: Default::default(),
        }
    }

    /// The client id the metrics are tagged with (the generated one when `client.id` is empty).
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A sensor recording at `level` (a no-op one above the configured level).
    pub(crate) fn sensor(&self, level: RecordingLevel) -> Arc<Sensor> {
        Arc::new(Sensor::new(self.sampling, level <= self.level))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lists `sensor`'s statistics (name, statistic, description) in `group`, tagged with
    /// the client id and `tags`.
    pub(crate) fn add(
        &self,
        group: &str,
        tags: &[(&'static str, String)],
        sensor: &Arc<Sensor>,
        stats: &[StatSpec],
    ) {
        let tags = Arc::new(self.tags(tags));
        #[cfg(feature = "metrics")]
        facade::register(group, &tags, sensor, stats);
        let group: Arc<str> = group.into();
        let mut entries = self.entries();
        for &(name, stat, description) in stats {
            entries.push(Entry {
                name,
                group: group.clone(),
                tags: tags.clone(),
                description,
                source: Source::Sensor(sensor.clone(), stat),
            });
        }
    }

    /// Lists a value read when the snapshot is taken. (The facade gets it from a sensor
    /// passed to [`export`](Self::export).)
    pub(crate) fn add_gauge(
        &self,
        group: &str,
        name: &'static str,
        description: &'static str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        let tags = Arc::new(self.tags(&[]));
        self.entries().push(Entry {
            name,
            group: group.into(),
            tags,
            description,
            source: Source::Gauge(Box::new(read)),
        });
    }

    /// Registers `sensor` with the facade only (its snapshot value comes from a gauge).
    pub(crate) fn export(&self, group: &str, sensor: &Arc<Sensor>, stats: &[StatSpec]) {
        #[cfg(feature = "metrics")]
        facade::register(group, &self.tags(&[]), sensor, stats);
        #[cfg(not(feature = "metrics"))]
        let _ = (group, sensor, stats);
    }

    fn tags(&self, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut tags = vec![("client-id", self.client_id.clone())];
        tags.extend_from_slice(extra);
        tags
    }

    /// Every listed metric's current value.
    pub(crate) fn snapshot(&self) -> Vec<Metric> {
        let now = stat::now_ms();
        let mut out: Vec<Metric> = self
            .entries()
            .iter()
            .map(|e| Metric {
                name: e.name.to_string(),
                group: e.group.to_string(),
                tags: e
                    .tags
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), v.clone()))
                    .collect(),
                description: e.description.to_string(),
                value: match &e.source {
                    Source::Gauge(read) => read(),
                    Source::Sensor(sensor, stat) => read(&mut sensor.lock(), *stat, now),
                },
            })
            .collect();
        if let Some(fetch) = self.fetch.get() {
            fetch.list_partitions(self, now, &mut out);
        }
        out
    }

    /// The producer's sensors (created and listed on first use).
    pub(crate) fn producer(&self) -> &Arc<ProducerSensors> {
        self.producer
            .get_or_init(|| Arc::new(ProducerSensors::new(self)))
    }

    /// The consumer's fetch sensors (created and listed on first use).
    pub(crate) fn fetch(&self) -> &Arc<FetchSensors> {
        self.fetch.get_or_init(|| Arc::new(FetchSensors::new(self)))
    }

    /// The consumer's fetch sensors if a fetch created them already.
    pub(crate) fn fetch_if_created(&self) -> Option<&Arc<FetchSensors>> {
        self.fetch.get()
    }

    /// The consumer group sensors (created and listed on first use).
    pub(crate) fn coordinator(&self) -> &Arc<CoordinatorSensors> {
        self.coordinator
            .get_or_init(|| Arc::new(CoordinatorSensors::new(self)))
    }

    /// The sensors of broker `node` (created and listed on first use); `None` below `DEBUG`.
    pub(crate) fn node(&self, node: i32) -> Option<Arc<NodeSensors>> {
        if self.level < RecordingLevel::Debug {
            return None;
        }
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .entry(node)
            .or_insert_with(|| Arc::new(NodeSensors::new(self, node)))
            .clone()
            .into()
    }

    fn node_group(&self) -> String {
        format!("{}-node-metrics", self.kind)
    }
}

fn read(s: &mut stat::Samples, stat: Stat, now: u64) -> f64 {
    match stat {
        Stat::Rate => s.rate(now),
        Stat::CountRate => s.count_rate(now),
        Stat::CountRatePerHour => s.count_rate(now) * 3600.0,
        Stat::Avg => s.avg(now),
        Stat::Max => s.max(now),
        Stat::Total => s.total_sum(),
        Stat::Count => s.total_count() as f64,
        Stat::Value => s.last(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(level: RecordingLevel) -> Metrics {
        Metrics::new("producer", "c".into(), level, SampleConfig::default())
    }

    fn total(m: &Metrics, name: &str) -> f64 {
        find(&m.snapshot(), "producer-metrics", name).map_or(f64::NAN, |m| m.value)
    }

    #[test]
    fn levels_decide_what_records() {
        for (level, recorded, nodes) in [
            (RecordingLevel::Off, 0.0, false),
            (RecordingLevel::Info, 7.0, false),
            (RecordingLevel::Debug, 7.0, true),
        ] {
            let m = metrics(level);
            m.producer().records_sent.record(7.0);
            assert_eq!(total(&m, "record-send-total"), recorded, "{level:?}");
            assert_eq!(m.node(1).is_some(), nodes, "{level:?}");
        }
    }

    #[test]
    fn partition_lag_records_only_at_info_and_above() {
        for (level, want) in [
            (RecordingLevel::Off, None),
            (RecordingLevel::Info, Some(10.0)),
        ] {
            let m = metrics(level);
            m.fetch()
                .partition_lag(&m, &crate::types::TopicPartition::new("t", 0), 10, 3);
            let snap = m.snapshot();
            let value = |name: &str, tagged: bool| {
                let m = snap
                    .iter()
                    .find(|e| e.name == name && e.tag("partition").is_some() == tagged)
                    .unwrap_or_else(|| panic!("{name} listed at {level:?}"));
                Some(m.value).filter(|v| !v.is_nan())
            };
            assert_eq!(value("records-lag-max", false), want, "{level:?}");
            assert_eq!(value("records-lag", true), want, "{level:?}");
            assert_eq!(value("records-lead", true), want.map(|_| 3.0), "{level:?}");
        }
    }

    #[test]
    fn partitions_removed_together_take_exactly_their_metrics() {
        let m = Metrics::new(
            "consumer",
            "c".into(),
            RecordingLevel::Info,
            SampleConfig::default(),
        );
        let tp = |p| crate::types::TopicPartition::new("t", p);
        let fetch = m.fetch();
        for p in 0..5 {
            fetch.partition_lag(&m, &tp(p), 10, 3);
        }
        let listed = |name: &str| {
            let mut ps: Vec<String> = m
                .snapshot()
                .into_iter()
                .filter(|e| e.group == "consumer-fetch-manager-metrics" && e.name == name)
                .filter_map(|e| e.tag("partition").map(str::to_string))
                .collect();
            ps.sort();
            ps
        };
        assert_eq!(listed("records-lag"), ["0", "1", "2", "3", "4"]);
        // 7 was never listed; 1 is named twice.
        fetch.remove_partitions(&[tp(1), tp(3), tp(7), tp(1)]);
        assert_eq!(listed("records-lag"), ["0", "2", "4"]);
        assert_eq!(listed("records-lead-avg"), ["0", "2", "4"]);
        assert_eq!(
            listed("records-lag-max"),
            ["0", "2", "4"],
            "the untagged records-lag-max stays"
        );
        assert!(
            m.snapshot()
                .iter()
                .any(|e| e.name == "records-lag-max" && e.tag("partition").is_none())
        );
        // Back after removal: listed again on its next lag.
        fetch.partition_lag(&m, &tp(3), 1, 0);
        assert_eq!(listed("records-lag"), ["0", "2", "3", "4"]);
        fetch.remove_partitions(&[]);
        assert_eq!(listed("records-lag"), ["0", "2", "3", "4"]);
    }

    #[test]
    fn levels_parse_as_java_names() {
        assert_eq!("debug".parse(), Ok(RecordingLevel::Debug));
        assert_eq!("OFF".parse(), Ok(RecordingLevel::Off));
        assert!("verbose".parse::<RecordingLevel>().is_err());
        assert_eq!(RecordingLevel::default().as_str(), "INFO");
    }
}

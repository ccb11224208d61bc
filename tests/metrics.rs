//! Client metrics against a real broker (Apache Kafka): values checked against known
//! workloads, and a Prometheus scrape through the `metrics` crate facade.

mod common;

use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{consumer, create_topic, producer};
use ferrokafka::consumer::TopicPartition;
use ferrokafka::metrics::{Metric, find};
use ferrokafka::{KafkaConsumer, KafkaProducer, ProducerRecord};

fn value(metrics: &[Metric], group: &str, name: &str) -> f64 {
    find(metrics, group, name)
        .unwrap_or_else(|| panic!("{group}/{name} not listed"))
        .value
}

/// Sends `n` records of 100 bytes round robin over `partitions` and waits for every ack.
async fn produce_n(p: &KafkaProducer, topic: &str, partitions: i32, n: usize) {
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let record =
            ProducerRecord::new(topic, vec![b'x'; 100]).partition((i % partitions as usize) as i32);
        futures.push(p.enqueue(record).await.expect("enqueue"));
    }
    for f in futures {
        f.await.expect("delivered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_counts_every_record_sent_and_none_failed() {
    let b = TestBroker::shared();
    let topic = "metrics-producer";
    create_topic(&b.bootstrap(), topic, 3).await;
    // Leaders are elected a moment after creation: a first send may meet NOT_LEADER and be
    // retried (counted as sent again, as Java counts it). Another producer waits that out.
    let warm = producer(&b.bootstrap(), &[]);
    produce_n(&warm, topic, 3, 3).await;
    warm.close(Duration::from_secs(5)).await;
    let p = producer(
        &b.bootstrap(),
        &[
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("client.id", "m-producer"),
        ],
    );
    produce_n(&p, topic, 3, 10_000).await;
    let m = p.metrics();
    const G: &str = "producer-metrics";
    assert_eq!(value(&m, G, "record-send-total"), 10_000.0);
    assert_eq!(value(&m, G, "record-error-total"), 0.0);
    assert_eq!(value(&m, G, "record-retry-total"), 0.0);
    // 10,000 records within the 60 s window: the rate is the total over at least 30 s.
    let rate = value(&m, G, "record-send-rate");
    assert!(
        rate > 0.0 && rate <= 10_000.0 / 30.0 + 1e-9,
        "record-send-rate {rate}"
    );
    let latency_avg = value(&m, G, "request-latency-avg");
    let latency_max = value(&m, G, "request-latency-max");
    assert!(
        latency_avg > 0.0 && latency_max >= latency_avg,
        "{latency_avg} {latency_max}"
    );
    // Identical values compress well with lz4.
    let ratio = value(&m, G, "compression-rate-avg");
    assert!(ratio > 0.0 && ratio < 0.5, "compression-rate-avg {ratio}");
    assert!(value(&m, G, "batch-size-avg") > 0.0);
    assert!(value(&m, G, "record-queue-time-max") >= value(&m, G, "record-queue-time-avg"));
    let client = find(&m, G, "record-send-total").and_then(|m| m.tag("client-id"));
    assert_eq!(client, Some("m-producer"));
    // Every batch gives its memory back just after its futures complete (on the task that
    // handled its response, which may still be finishing after close): the whole buffer
    // (32 MiB by default) is free again within moments.
    p.close(Duration::from_secs(5)).await;
    let start = Instant::now();
    let mut available = value(&p.metrics(), G, "buffer-available-bytes");
    while available != 33_554_432.0 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        available = value(&p.metrics(), G, "buffer-available-bytes");
    }
    assert_eq!(available, 33_554_432.0);
}

/// Polls until `n` records arrived in all (or 30 s passed); returns how many.
async fn poll_all(c: &mut KafkaConsumer, n: usize) -> usize {
    let start = Instant::now();
    let mut got = 0;
    while got < n && start.elapsed() < Duration::from_secs(30) {
        got += c
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
            .len();
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_counts_polled_records_and_reports_the_real_lag() {
    let b = TestBroker::shared();
    let topic = "metrics-consumer";
    create_topic(&b.bootstrap(), topic, 1).await;
    let p = producer(&b.bootstrap(), &[("linger.ms", "5")]);
    produce_n(&p, topic, 1, 10_000).await;
    p.close(Duration::from_secs(5)).await;

    let tp = TopicPartition::new(topic, 0);
    let mut c = consumer(&b.bootstrap(), &[("max.poll.records", "300")]);
    c.assign([tp.clone()]).expect("assign");
    let mut first = 0;
    let start = Instant::now();
    while first == 0 && start.elapsed() < Duration::from_secs(30) {
        first = c
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
            .len();
    }
    assert!(first > 0 && first <= 300, "first poll took {first}");
    let end = c.end_offsets(std::slice::from_ref(&tp)).await.expect("end")[&tp];
    let position = c.position(&tp).await.expect("position");
    assert_eq!(end, 10_000);
    let m = c.metrics();
    const G: &str = "consumer-fetch-manager-metrics";
    assert_eq!(value(&m, G, "records-consumed-total"), first as f64);
    assert_eq!(value(&m, G, "records-lag-max"), (end - position) as f64);
    let lag = m
        .iter()
        .find(|m| m.group == G && m.name == "records-lag" && m.tag("topic") == Some(topic))
        .expect("per-partition records-lag");
    assert_eq!(lag.value, (end - position) as f64);
    assert_eq!(lag.tag("partition"), Some("0"));
    let lead = m
        .iter()
        .find(|m| m.group == G && m.name == "records-lead" && m.tag("topic") == Some(topic))
        .expect("per-partition records-lead");
    assert_eq!(lead.value, position as f64);
    assert!(value(&m, G, "fetch-latency-avg") >= 0.0);
    assert!(value(&m, G, "fetch-total") >= 1.0);
    assert!(value(&m, G, "bytes-consumed-total") > 0.0);

    let rest = poll_all(&mut c, 10_000 - first).await;
    assert_eq!(first + rest, 10_000);
    let m = c.metrics();
    assert_eq!(value(&m, G, "records-consumed-total"), 10_000.0);
    let lag = m
        .iter()
        .find(|m| m.group == G && m.name == "records-lag" && m.tag("topic") == Some(topic))
        .expect("records-lag");
    assert_eq!(lag.value, 0.0);
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consumer_reports_commits_and_rebalances() {
    let b = TestBroker::shared();
    let topic = "metrics-group";
    create_topic(&b.bootstrap(), topic, 2).await;
    let p = producer(&b.bootstrap(), &[("linger.ms", "5")]);
    produce_n(&p, topic, 2, 100).await;
    p.close(Duration::from_secs(5)).await;
    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("group.id", "metrics-group"),
            ("enable.auto.commit", "false"),
        ],
    );
    c.subscribe([topic]).expect("subscribe");
    assert_eq!(poll_all(&mut c, 100).await, 100);
    c.commit_sync().await.expect("commit");
    c.commit_sync().await.expect("commit");
    let m = c.metrics();
    const G: &str = "consumer-coordinator-metrics";
    assert_eq!(value(&m, G, "commit-total"), 2.0);
    assert!(value(&m, G, "commit-latency-avg") > 0.0);
    assert_eq!(value(&m, G, "rebalance-total"), 1.0);
    assert!(value(&m, G, "rebalance-latency-avg") > 0.0);
    assert!(value(&m, G, "rebalance-rate-per-hour") > 0.0);
    c.close().await.expect("close");
}

/// The partitions `c` lists a `records-lag` metric for, as `topic-partition`.
fn lag_partitions(c: &KafkaConsumer) -> Vec<String> {
    let mut listed: Vec<String> = c
        .metrics()
        .iter()
        .filter(|m| m.group == "consumer-fetch-manager-metrics" && m.name == "records-lag")
        .map(|m| {
            format!(
                "{}-{}",
                m.tag("topic").unwrap_or("?"),
                m.tag("partition").unwrap_or("?")
            )
        })
        .collect();
    listed.sort();
    listed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_metrics_go_with_the_partition() {
    let b = TestBroker::shared();
    let topic = "metrics-unassign";
    create_topic(&b.bootstrap(), topic, 2).await;
    let p = producer(&b.bootstrap(), &[("linger.ms", "5")]);
    produce_n(&p, topic, 2, 200).await;
    p.close(Duration::from_secs(5)).await;
    let props = [
        ("group.id", "metrics-unassign"),
        ("enable.auto.commit", "false"),
        ("max.poll.records", "10"),
    ];
    let mut a = consumer(&b.bootstrap(), &props);
    a.subscribe([topic]).expect("subscribe");
    let start = Instant::now();
    while lag_partitions(&a).len() < 2 && start.elapsed() < Duration::from_secs(30) {
        a.poll(Duration::from_millis(200)).await.expect("poll");
    }
    let both = vec![format!("{topic}-0"), format!("{topic}-1")];
    assert_eq!(lag_partitions(&a), both);

    // A second member takes one partition away from the first.
    let mut other = consumer(&b.bootstrap(), &props);
    other.subscribe([topic]).expect("subscribe");
    let start = Instant::now();
    while (a.assignment().len() != 1 || other.assignment().len() != 1)
        && start.elapsed() < Duration::from_secs(60)
    {
        a.poll(Duration::from_millis(100)).await.expect("poll");
        other.poll(Duration::from_millis(100)).await.expect("poll");
    }
    let kept: Vec<String> = a
        .assignment()
        .iter()
        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
        .collect();
    assert_eq!(kept.len(), 1, "no rebalance within 60 s");
    // The eager protocol revokes both partitions before assigning one back, and Java lists a
    // partition's lag again once records of it are polled: nothing is committed, so the kept
    // partition is read again from the start.
    let start = Instant::now();
    while lag_partitions(&a).is_empty() && start.elapsed() < Duration::from_secs(30) {
        a.poll(Duration::from_millis(200)).await.expect("poll");
    }
    assert_eq!(lag_partitions(&a), kept);

    a.unsubscribe().await.expect("unsubscribe");
    assert_eq!(lag_partitions(&a), Vec::<String>::new());
    a.close().await.expect("close");
    other.close().await.expect("close");
}

#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrape_names_producer_and_consumer_metrics() {
    // The only test of this binary that installs a recorder: clients made before it (in the
    // other tests) keep no-op handles and do not disturb it.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("install the Prometheus recorder");
    let b = TestBroker::shared();
    let topic = "metrics-prometheus";
    create_topic(&b.bootstrap(), topic, 1).await;
    let p = producer(&b.bootstrap(), &[("client.id", "prom-producer")]);
    produce_n(&p, topic, 1, 500).await;
    let mut c = consumer(&b.bootstrap(), &[("client.id", "prom-consumer")]);
    c.assign([TopicPartition::new(topic, 0)]).expect("assign");
    assert_eq!(poll_all(&mut c, 500).await, 500);
    let scrape = handle.render();
    for line in [
        "kafka_producer_metrics_record_send_total{client_id=\"prom-producer\"} 500",
        "kafka_producer_metrics_record_error_total{client_id=\"prom-producer\"} 0",
        "kafka_consumer_fetch_manager_metrics_records_consumed_total{client_id=\"prom-consumer\"} 500",
    ] {
        assert!(
            scrape.contains(line),
            "no `{line}` in the scrape:\n{scrape}"
        );
    }
    for name in [
        "kafka_producer_metrics_request_latency",
        "kafka_consumer_fetch_manager_metrics_fetch_latency",
        "kafka_consumer_fetch_manager_metrics_records_lag{",
    ] {
        assert!(
            scrape.contains(name),
            "no `{name}` in the scrape:\n{scrape}"
        );
    }
    p.close(Duration::from_secs(5)).await;
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_metrics_count_requests_at_debug_level_only() {
    let b = TestBroker::shared();
    let admin = |level: &str| {
        ferrokafka::AdminClient::new(
            ferrokafka::AdminConfig::builder()
                .bootstrap_servers(b.bootstrap())
                .set("metrics.recording.level", level)
                .build()
                .expect("admin config"),
        )
    };
    let debug = admin("DEBUG");
    debug.list_topics().await.expect("list topics");
    debug.list_topics().await.expect("list topics");
    let m = debug.metrics();
    let node = |name: &str| -> f64 {
        m.iter()
            .filter(|m| m.group == "admin-client-node-metrics" && m.name == name)
            .map(|m| m.value)
            .sum()
    };
    // Per connection: ApiVersions, then Metadata for each call (maybe more on a refresh).
    let requests = node("request-total");
    assert!(requests >= 3.0, "request-total {requests}");
    assert_eq!(node("response-total"), requests);
    assert!(node("outgoing-byte-total") > 0.0 && node("incoming-byte-total") > 0.0);
    assert!(
        m.iter()
            .filter(|m| m.name == "request-total")
            .all(|m| m.tag("node-id").is_some_and(|n| n.starts_with("node-")))
    );

    let info = admin("INFO");
    info.list_topics().await.expect("list topics");
    assert!(info.metrics().is_empty(), "{:?}", info.metrics());
}

/// Spans seen by [`SpanLog`]: name and fields (values as text).
type Spans =
    std::sync::Arc<std::sync::Mutex<Vec<(String, std::collections::BTreeMap<String, String>)>>>;

/// A subscriber layer keeping every span's name and fields, those recorded later included.
struct SpanLog(Spans);

struct Fields<'a>(&'a mut std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
}

/// Index into the log, kept in the span's extensions.
struct Slot(usize);

impl<S> tracing_subscriber::Layer<S> for SpanLog
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = std::collections::BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut log = self.0.lock().unwrap();
        log.push((attrs.metadata().name().to_string(), fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Slot(log.len() - 1));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let Some(slot) = span.extensions().get::<Slot>().map(|s| s.0) else {
            return;
        };
        values.record(&mut Fields(&mut self.0.lock().unwrap()[slot].1));
    }
}

/// Spans named `name` whose `key` field is `value`.
fn spans_with(
    spans: &Spans,
    name: &str,
    key: &str,
    value: &str,
) -> Vec<std::collections::BTreeMap<String, String>> {
    spans
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, f)| n == name && f.get(key).map(String::as_str) == Some(value))
        .map(|(_, f)| f.clone())
        .collect()
}

// One thread: the subscriber set for this test sees every span its tasks make.
#[tokio::test(flavor = "current_thread")]
async fn spans_follow_the_opentelemetry_messaging_conventions() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLog(spans.clone()))
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("ferrokafka::messaging", tracing::Level::DEBUG),
        );
    let _guard = tracing::subscriber::set_default(subscriber);
    // Another test's thread may register a callsite while this subscriber is being added,
    // caching "never" for it: recompute every callsite's interest with this one in place.
    tracing::callsite::rebuild_interest_cache();

    let b = TestBroker::shared();
    let topic = "metrics-tracing";
    create_topic(&b.bootstrap(), topic, 2).await;
    let p = producer(&b.bootstrap(), &[("client.id", "traced-producer")]);
    let mut offsets = Vec::new();
    for i in 0..3 {
        let md = p
            .send(ProducerRecord::new(topic, format!("v{i}")).partition(1))
            .await
            .expect("send");
        offsets.push(md.offset);
    }
    p.close(Duration::from_secs(5)).await;
    let sends = spans_with(&spans, "send", "messaging.destination.name", topic);
    assert_eq!(sends.len(), 3, "{sends:?}");
    for (s, offset) in sends.iter().zip(&offsets) {
        assert_eq!(s["messaging.system"], "kafka");
        assert_eq!(s["messaging.operation.type"], "send");
        assert_eq!(s["messaging.destination.partition.id"], "1");
        assert_eq!(s["messaging.kafka.offset"], offset.to_string());
        assert_eq!(s["messaging.client.id"], "traced-producer");
        assert_eq!(s["otel.name"], format!("send {topic}"));
    }

    // Callsites first hit by other tests since: the same.
    tracing::callsite::rebuild_interest_cache();
    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("client.id", "traced-consumer"),
            ("group.id", "traced-group"),
        ],
    );
    c.subscribe([topic]).expect("subscribe");
    let records = common::poll_records(&mut c, 3, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 3);
    for r in &records {
        let _entered = c.process_span(r).entered();
    }
    let received: usize = spans_with(
        &spans,
        "poll",
        "messaging.consumer.group.name",
        "traced-group",
    )
    .iter()
    .filter_map(|s| {
        s.get("messaging.batch.message_count")?
            .parse::<usize>()
            .ok()
    })
    .sum();
    assert_eq!(received, 3);
    let processed = spans_with(&spans, "process", "messaging.destination.name", topic);
    assert_eq!(processed.len(), 3);
    for (s, r) in processed.iter().zip(&records) {
        assert_eq!(s["messaging.operation.type"], "process");
        assert_eq!(s["messaging.kafka.offset"], r.offset.to_string());
        assert_eq!(s["messaging.destination.partition.id"], "1");
        assert_eq!(s["messaging.consumer.group.name"], "traced-group");
        assert_eq!(s["messaging.client.id"], "traced-consumer");
    }
    c.close().await.expect("close");
}

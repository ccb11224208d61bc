//! W3C trace-context propagation through record headers (feature `otel`) against a real
//! broker (Apache Kafka): spans exported to an in-memory OpenTelemetry exporter show the
//! consumer continuing the producer's trace.

mod common;

use std::time::Duration;

use common::broker::TestBroker;
use common::{consumer, create_topic, producer};
use ferrokafka::{ConsumerRecord, ProducerRecord};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// A trace id and parent id an application set itself, in the specification's example.
const USER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn header<'a>(r: &'a ConsumerRecord, key: &str) -> Vec<&'a [u8]> {
    r.headers
        .iter()
        .filter(|h| h.key == key)
        .filter_map(|h| h.value.as_deref())
        .collect()
}

/// `00-<32 hex>-<16 hex>-<2 hex>`, lowercase: what another client (Java's OpenTelemetry
/// instrumentation, librdkafka's users) parses.
fn assert_w3c_format(value: &[u8]) {
    assert_eq!(value.len(), 55, "{:?}", String::from_utf8_lossy(value));
    for (i, &c) in value.iter().enumerate() {
        if [2, 35, 52].contains(&i) {
            assert_eq!(c, b'-', "byte {i} of {:?}", String::from_utf8_lossy(value));
        } else {
            assert!(
                c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
                "byte {i} of {:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
    assert_eq!(&value[..3], b"00-");
}

fn spans_named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

// One thread: the subscriber set for this test sees every span its tasks make.
#[tokio::test(flavor = "current_thread")]
async fn consumer_spans_continue_the_producers_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("otel-test")))
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("ferrokafka::messaging", tracing::Level::DEBUG)
                .with_target("otel", tracing::Level::INFO),
        );
    let _guard = tracing::subscriber::set_default(subscriber);
    // Another test's thread may register a callsite while this subscriber is being added,
    // caching "never" for it: recompute every callsite's interest with this one in place.
    tracing::callsite::rebuild_interest_cache();

    let b = TestBroker::shared();
    let topic = "otel-propagation";
    create_topic(&b.bootstrap(), topic, 1).await;
    let p = producer(
        &b.bootstrap(),
        &[
            ("trace.context.propagation", "true"),
            ("client.id", "otel-producer"),
        ],
    );
    // The application's own span: the record's trace is this one.
    let request = tracing::info_span!("request");
    let trace_id = request.context().span().span_context().trace_id();
    assert_ne!(trace_id, TraceId::INVALID);
    {
        let _entered = request.enter();
        p.send(ProducerRecord::new(topic, "traced"))
            .await
            .expect("send");
        // A traceparent the application set itself is sent as it is.
        p.send(ProducerRecord::new(topic, "own").header("traceparent", USER_TRACEPARENT))
            .await
            .expect("send");
    }
    // Outside any application span the `send` span starts a trace of its own.
    p.send(ProducerRecord::new(topic, "untraced"))
        .await
        .expect("send");
    p.close(Duration::from_secs(5)).await;

    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("trace.context.propagation", "true"),
            ("group.id", "otel-group"),
        ],
    );
    c.subscribe([topic]).expect("subscribe");
    let records = common::poll_records(&mut c, 3, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 3);
    for r in &records {
        let _entered = c.process_span(r).entered();
    }
    c.close().await.expect("close");
    drop(request);
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("spans");

    let sends = spans_named(&spans, &format!("send {topic}"));
    assert_eq!(
        sends.len(),
        3,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let traced_send = sends[0];
    assert_eq!(traced_send.span_context.trace_id(), trace_id);

    // The header: the send span's context, in W3C's exact format.
    let parents = header(&records[0], "traceparent");
    assert_eq!(parents.len(), 1, "{:?}", records[0].headers);
    assert_w3c_format(parents[0]);
    let expected = format!(
        "00-{}-{}-01",
        traced_send.span_context.trace_id(),
        traced_send.span_context.span_id()
    );
    assert_eq!(parents[0], expected.as_bytes());
    assert_eq!(
        header(&records[1], "traceparent"),
        [USER_TRACEPARENT.as_bytes()]
    );
    let own_trace = sends[2].span_context.trace_id();
    assert_ne!(own_trace, trace_id);
    let expected = format!("00-{own_trace}-{}-01", sends[2].span_context.span_id());
    assert_eq!(header(&records[2], "traceparent"), [expected.as_bytes()]);

    // The consumer's process spans: children of the sender's context.
    let processed = spans_named(&spans, &format!("process {topic}"));
    assert_eq!(processed.len(), 3);
    assert_eq!(processed[0].span_context.trace_id(), trace_id);
    assert_eq!(
        processed[0].parent_span_id,
        traced_send.span_context.span_id()
    );
    assert!(processed[0].parent_span_is_remote);
    assert_eq!(
        processed[1].span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        processed[1].parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").expect("hex")
    );
    assert_eq!(processed[2].span_context.trace_id(), own_trace);

    // The poll spans link to the contexts of the records they returned.
    let linked: Vec<_> = spans_named(&spans, "poll")
        .iter()
        .flat_map(|s| s.links.links.iter())
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    assert!(
        linked.contains(&(trace_id, traced_send.span_context.span_id())),
        "{linked:?}"
    );
}

//! Spans that follow OpenTelemetry's semantic conventions for messaging (Kafka): `send` on the
//! producer, `poll` (receive) and `process` on the consumer. Their target is
//! `ferrokafka::messaging` and their level DEBUG, so that an application turns them on (e.g.
//! for a `tracing-opentelemetry` layer) with the filter `ferrokafka::messaging=debug` and
//! without ferrokafka's other debug output. Disabled, a span costs one check of a cached
//! interest: the field values are not even computed.

use tracing::field::Empty;

/// Target of every messaging span.
pub(crate) const TARGET: &str = "ferrokafka::messaging";

/// Whether any subscriber may want DEBUG spans (one atomic load): when not, the per-record
/// paths skip building and entering a disabled span (cheap, but not free at millions of
/// records per second). When so, the span itself says whether it is enabled.
#[inline]
pub(crate) fn maybe_enabled() -> bool {
    tracing::level_enabled!(tracing::Level::DEBUG)
}

/// The span of one send, from the call to the acknowledgement (`send`) or to the append
/// (`enqueue`, `send_with_callback`). The partition and offset are recorded once known.
pub(crate) fn send(topic: &str, partition: Option<i32>, client_id: &str) -> tracing::Span {
    let span = tracing::debug_span!(
        target: TARGET,
        "send",
        otel.name = %format_args!("send {topic}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.name = "send",
        messaging.operation.type = "send",
        messaging.destination.name = %topic,
        messaging.destination.partition.id = Empty,
        messaging.kafka.offset = Empty,
        messaging.client.id = %client_id,
    );
    if let Some(p) = partition {
        span.record("messaging.destination.partition.id", p);
    }
    span
}

/// The span of one `poll`; the number of records is recorded when it returns.
pub(crate) fn receive(client_id: &str, group: Option<&str>) -> tracing::Span {
    tracing::debug_span!(
        target: TARGET,
        "poll",
        otel.name = "poll",
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.name = "poll",
        messaging.operation.type = "receive",
        messaging.consumer.group.name = group,
        messaging.client.id = %client_id,
        messaging.batch.message_count = Empty,
    )
}

/// The span of the application's processing of one record.
pub(crate) fn process(
    record: &crate::consumer::ConsumerRecord,
    client_id: &str,
    group: Option<&str>,
) -> tracing::Span {
    tracing::debug_span!(
        target: TARGET,
        "process",
        otel.name = %format_args!("process {}", record.topic),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.name = "process",
        messaging.operation.type = "process",
        messaging.destination.name = %record.topic,
        messaging.destination.partition.id = record.partition,
        messaging.kafka.offset = record.offset,
        messaging.consumer.group.name = group,
        messaging.client.id = %client_id,
    )
}

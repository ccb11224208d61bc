//! OpenTelemetry trace-context propagation through record headers (feature `otel`).
//!
//! With `trace.context.propagation=true` on a [`KafkaProducer`](crate::KafkaProducer), each
//! record sent gets a W3C `traceparent` header (and `tracestate` when the context has one)
//! from the current OpenTelemetry context: the `send` span's when a `tracing-opentelemetry`
//! layer records ferrokafka's spans, else the caller's current span, else
//! [`opentelemetry::Context::current`]. A record with no valid context gets no header, and a
//! record that already has a `traceparent` or `tracestate` header keeps its own, untouched.
//!
//! With the same setting on a [`KafkaConsumer`](crate::KafkaConsumer),
//! [`process_span`](crate::KafkaConsumer::process_span) is a child of the producer's context
//! (same trace id) and each `poll` span links to the contexts of the records it returned.
//! [`remote_context`] reads the context for an application's own spans.
//!
//! The headers follow W3C Trace Context version 00: `traceparent` is 55 bytes,
//! `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::consumer::ConsumerRecord;
use crate::record::Header;
use crate::trace_context::{self, TraceParent};

/// The sender's span context carried by `record`'s `traceparent` (and `tracestate`)
/// headers, marked remote; `None` when it has no valid `traceparent`. An unparsable
/// `tracestate` is dropped, as the W3C specification asks.
pub fn remote_context(record: &ConsumerRecord) -> Option<SpanContext> {
    let (parent, state) = TraceParent::from_headers(&record.headers)?;
    let state = state
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.parent_id),
        TraceFlags::new(parent.flags),
        true,
        state,
    ))
}

/// Adds `traceparent` (and `tracestate`) from the current context, unless the application
/// set either header itself.
pub(crate) fn inject(headers: &mut Vec<Header>) {
    if trace_context::has_trace_headers(headers) {
        return;
    }
    let from_tracing = tracing::Span::current().context();
    let cx = if from_tracing.span().span_context().is_valid() {
        from_tracing
    } else {
        opentelemetry::Context::current()
    };
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return;
    }
    let parent = TraceParent {
        trace_id: sc.trace_id().to_bytes(),
        parent_id: sc.span_id().to_bytes(),
        flags: sc.trace_flags().to_u8(),
    };
    headers.push(Header::new(
        trace_context::TRACEPARENT,
        parent.to_header_value(),
    ));
    let state = sc.trace_state().header();
    if !state.is_empty() {
        headers.push(Header::new(trace_context::TRACESTATE, state));
    }
}

/// Makes `span` (not yet entered) a child of `record`'s remote context, if it has one.
pub(crate) fn set_parent(span: &tracing::Span, record: &ConsumerRecord) {
    if let Some(sc) = remote_context(record) {
        // Fails only when no OpenTelemetry layer records the span: nothing to parent then.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
    }
}

/// Links `span` to the remote context of each of `records` that has one.
pub(crate) fn add_links<'a>(
    span: &tracing::Span,
    records: impl Iterator<Item = &'a ConsumerRecord>,
) {
    for sc in records.filter_map(remote_context) {
        span.add_link(sc);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const REMOTE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Runs `f` with an OpenTelemetry layer recording every span.
    fn with_otel<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("unit")));
        tracing::subscriber::with_default(subscriber, f)
    }

    fn record(headers: Vec<Header>) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
            timestamp_type: Default::default(),
            key: None,
            value: None,
            headers,
            leader_epoch: None,
        }
    }

    #[test]
    fn no_context_no_header() {
        let mut headers = Vec::new();
        inject(&mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn injects_the_current_span_and_its_trace_state() {
        let remote = remote_context(&record(vec![
            Header::new(trace_context::TRACEPARENT, REMOTE),
            Header::new(trace_context::TRACESTATE, "vendor=1,other=x"),
        ]))
        .expect("a remote context");
        let (headers, span_id) = with_otel(|| {
            let span = tracing::info_span!("app");
            span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote))
                .expect("parent set");
            let span_id = span.context().span().span_context().span_id();
            let _entered = span.enter();
            let mut headers = Vec::new();
            inject(&mut headers);
            (headers, span_id)
        });
        let expected = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id}-01");
        assert_eq!(
            headers,
            vec![
                Header::new(trace_context::TRACEPARENT, expected),
                Header::new(trace_context::TRACESTATE, "vendor=1,other=x"),
            ]
        );
    }

    #[test]
    fn keeps_the_applications_own_headers() {
        for own in [
            vec![Header::new(trace_context::TRACEPARENT, REMOTE)],
            vec![Header::new(trace_context::TRACESTATE, "vendor=1")],
        ] {
            let headers = with_otel(|| {
                let _entered = tracing::info_span!("app").entered();
                let mut headers = own.clone();
                inject(&mut headers);
                headers
            });
            assert_eq!(headers, own);
        }
    }

    #[test]
    fn reads_the_remote_context() {
        let sc = remote_context(&record(vec![Header::new(
            trace_context::TRACEPARENT,
            REMOTE,
        )]))
        .expect("a remote context");
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(remote_context(&record(vec![Header::new("traceparent", "00-zz")])).is_none());
        assert!(remote_context(&record(Vec::new())).is_none());
    }
}

//! The ferrokafka guide: one page per topic, with examples that compile (and, where the
//! in-process MockCluster ([`testing`]) can stand in for a broker, run) as doc tests.
//!
//! | page | what it covers |
//! |---|---|
//! | [`producing`] | `send`, `enqueue`, callbacks, keys and partitions, flush and close, delivery errors |
//! | [`consuming`] | subscribe or assign, `poll`, commits, seeking, offsets, lag, streams, per-partition streams, share groups |
//! | [`groups`] | consumer groups: classic and KIP-848 protocols, static membership, the rebalance listener |
//! | [`exactly_once`] | transactions: consume, transform, produce, commit offsets in the transaction |
//! | [`security`] | TLS, mutual TLS, SASL PLAIN, SCRAM and OAUTHBEARER |
//! | [`admin`] | the [`AdminClient`](crate::AdminClient): topics, configs, groups, offsets, ACLs |
//! | [`testing`] | testing your code with the MockCluster: faults, seeds, chaos |
//! | [`tuning`] | batching, memory, fetch sizes and compression: what each knob trades |
//! | [`observability`] | metrics, tracing spans, OpenTelemetry trace context |
//!
//! The pages are written in `docs/guide/*.md` and read here as rustdoc modules; they hold no
//! code. Examples marked `no_run` need a broker at `localhost:9092` (`scripts/kafka start`).

#[doc = include_str!("../../docs/guide/producing.md")]
pub mod producing {}
#[doc = include_str!("../../docs/guide/consuming.md")]
pub mod consuming {}
#[doc = include_str!("../../docs/guide/groups.md")]
pub mod groups {}
#[doc = include_str!("../../docs/guide/exactly_once.md")]
pub mod exactly_once {}
#[doc = include_str!("../../docs/guide/security.md")]
pub mod security {}
#[doc = include_str!("../../docs/guide/admin.md")]
pub mod admin {}
// The page links to `ferrokafka::mock`, which exists with feature `mock` only; docs.rs and
// `cargo doc --all-features` build it.
#[cfg_attr(not(feature = "mock"), allow(rustdoc::broken_intra_doc_links))]
#[doc = include_str!("../../docs/guide/testing.md")]
pub mod testing {}
#[doc = include_str!("../../docs/guide/tuning.md")]
pub mod tuning {}
// As `testing`, for `ferrokafka::otel` (feature `otel`).
#[cfg_attr(not(feature = "otel"), allow(rustdoc::broken_intra_doc_links))]
#[doc = include_str!("../../docs/guide/observability.md")]
pub mod observability {}

//! The rows of the property table for every key but `ssl.*` and `sasl.*` (in
//! `security_rows`).

use super::*;

/// The rows of every property but `ssl.*` and `sasl.*` (in `security_rows`).
pub(super) const ROWS: &[Property] = &[
    // ---- common ----
    p(
        "bootstrap.servers",
        Scope::COMMON,
        Kind::HostList,
        Required,
        "Comma-separated `host:port` brokers used to fetch the first cluster metadata; IPv6 \
         hosts go in brackets (`[::1]:9092`). Required.",
    ),
    p(
        "client.id",
        Scope::COMMON,
        Str,
        D(""),
        "Name sent in every request header, for broker logs and quotas. Empty: the client \
         generates one.",
    ),
    p(
        "client.dns.lookup",
        Scope::COMMON,
        Enum(&[
            "use_all_dns_ips",
            "resolve_canonical_bootstrap_servers_only",
        ]),
        D("use_all_dns_ips"),
        "How host names are resolved: try every returned address in turn, or resolve each \
         bootstrap entry to its canonical names first (KIP-235, KIP-302).",
    ),
    p(
        "request.timeout.ms",
        Scope::COMMON,
        ms(0, INT),
        D("30000"),
        "How long to wait for a response to a request, in ms, before failing or retrying it.",
    ),
    p(
        "metadata.max.age.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("300000"),
        "Refresh cluster metadata at least this often, in ms, even without a leader change.",
    ),
    p(
        "reconnect.backoff.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("50"),
        "First wait before reconnecting to a broker, in ms; grows exponentially per failure.",
    ),
    p(
        "reconnect.backoff.max.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("1000"),
        "Cap on the reconnect wait, in ms. A value below `reconnect.backoff.ms` is raised to it.",
    ),
    p(
        "retry.backoff.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("100"),
        "First wait before retrying a failed request, in ms; grows exponentially per retry \
         (KIP-580).",
    ),
    p(
        "retry.backoff.max.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("1000"),
        "Cap on the retry wait, in ms. A value below `retry.backoff.ms` is raised to it.",
    ),
    p(
        "socket.connection.setup.timeout.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("10000"),
        "First timeout for establishing a connection, in ms; grows exponentially per \
         consecutive failure (KIP-601).",
    ),
    p(
        "socket.connection.setup.timeout.max.ms",
        Scope::COMMON,
        ms(0, LONG),
        D("30000"),
        "Cap on the connection setup timeout, in ms. A value below \
         `socket.connection.setup.timeout.ms` is raised to it.",
    ),
    p(
        "connections.max.idle.ms",
        Scope::PRODUCER_CONSUMER,
        ms(0, LONG),
        D("540000"),
        "Close connections idle for longer than this, in ms.",
    ),
    p(
        "connections.max.idle.ms",
        Scope::ADMIN,
        ms(0, LONG),
        D("300000"),
        "Close connections idle for longer than this, in ms.",
    ),
    p(
        "metrics.recording.level",
        Scope::COMMON,
        Enum(&["OFF", "INFO", "DEBUG", "TRACE"]),
        D("INFO"),
        "Which metrics are recorded: INFO the client-level ones, DEBUG (or TRACE) also the \
         per-node request metrics, OFF none (ferrokafka only).",
    ),
    p(
        "metrics.num.samples",
        Scope::COMMON,
        int(1, INT_I),
        D("2"),
        "Number of samples the windowed metrics (rates, averages, maxima) are computed over.",
    ),
    p(
        "metrics.sample.window.ms",
        Scope::COMMON,
        ms(1, LONG),
        D("30000"),
        "Length of one metrics sample, in ms.",
    ),
    p(
        "trace.context.propagation",
        Scope::PRODUCER_CONSUMER,
        Bool,
        D("false"),
        "W3C trace context in record headers (ferrokafka only, feature `otel`): the producer \
         adds `traceparent`/`tracestate` from the current OpenTelemetry context, the consumer's \
         spans continue it. `true` without the feature is an error.",
    ),
    p(
        "send.buffer.bytes",
        Scope::COMMON,
        int(-1, INT_I),
        D("131072"),
        "Socket send buffer (SO_SNDBUF), in bytes; -1 keeps the OS default.",
    ),
    p(
        "receive.buffer.bytes",
        Scope::PRODUCER,
        int(-1, INT_I),
        D("32768"),
        "Socket receive buffer (SO_RCVBUF), in bytes; -1 keeps the OS default.",
    ),
    p(
        "receive.buffer.bytes",
        Scope::CONSUMER_ADMIN,
        int(-1, INT_I),
        D("65536"),
        "Socket receive buffer (SO_RCVBUF), in bytes; -1 keeps the OS default.",
    ),
    p(
        "security.protocol",
        Scope::COMMON,
        Enum(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
        D("PLAINTEXT"),
        "Transport to brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT (SASL authentication, no \
         encryption) or SASL_SSL (SASL over TLS).",
    ),
    p(
        "api.versions.max",
        Scope::COMMON,
        Kind::ApiVersions,
        D(""),
        "ferrokafka only (no Java equivalent): comma-separated `ApiName=version` caps on the \
         protocol version used per API, e.g. `Fetch=12,Produce=9`. A numeric API key may stand \
         for the name. Empty: use the highest version both sides support.",
    ),
    // ---- producer ----
    p(
        "acks",
        Scope::PRODUCER,
        Enum(&["all", "-1", "0", "1"]),
        D("all"),
        "Acknowledgements a produce request waits for: 0 none, 1 the leader, all (or -1) every \
         in-sync replica.",
    ),
    p(
        "enable.idempotence",
        Scope::PRODUCER,
        Bool,
        D("true"),
        "Write each record exactly once per partition despite retries (KIP-98). Needs acks=all, \
         retries > 0 and at most 5 requests in flight; when not set explicitly it is turned off \
         quietly if those do not hold (KIP-679).",
    ),
    p(
        "linger.ms",
        Scope::PRODUCER,
        ms(0, LONG),
        D("5"),
        "How long a batch waits for more records before it is sent, in ms (KIP-1030 default).",
    ),
    p(
        "batch.size",
        Scope::PRODUCER,
        bytes(0, INT),
        D("16384"),
        "Target size of one partition's record batch, in bytes; 0 disables batching.",
    ),
    p(
        "buffer.memory",
        Scope::PRODUCER,
        bytes(0, LONG),
        D("33554432"),
        "Total memory for records waiting to be sent, in bytes; sends block when it is full.",
    ),
    p(
        "max.block.ms",
        Scope::PRODUCER,
        ms(0, LONG),
        D("60000"),
        "How long a send may block waiting for metadata or buffer space, in ms.",
    ),
    p(
        "delivery.timeout.ms",
        Scope::PRODUCER,
        ms(0, INT),
        D("120000"),
        "Upper bound on reporting a send's outcome, in ms, retries included (KIP-91). Must be \
         at least linger.ms + request.timeout.ms.",
    ),
    p(
        "max.request.size",
        Scope::PRODUCER,
        bytes(0, INT),
        D("1048576"),
        "Largest produce request, and so largest record, in bytes.",
    ),
    p(
        "max.in.flight.requests.per.connection",
        Scope::PRODUCER,
        int(1, INT_I),
        D("5"),
        "Unacknowledged requests allowed per broker connection.",
    ),
    p(
        "retries",
        Scope::PRODUCER,
        int(0, INT_I),
        D("2147483647"),
        "How often a failed send is retried (delivery.timeout.ms bounds the total time).",
    ),
    p(
        "compression.type",
        Scope::PRODUCER,
        Enum(&["none", "gzip", "snappy", "lz4", "zstd"]),
        D("none"),
        "Codec for record batches.",
    ),
    p(
        "compression.gzip.level",
        Scope::PRODUCER,
        int(-1, 9),
        D("-1"),
        "gzip level: 1 (fastest) to 9 (smallest), or -1 for the codec default (KIP-390).",
    ),
    p(
        "compression.lz4.level",
        Scope::PRODUCER,
        int(1, 17),
        D("9"),
        "lz4 level, 1 to 17 (KIP-390).",
    ),
    p(
        "compression.zstd.level",
        Scope::PRODUCER,
        int(-131072, 22),
        D("3"),
        "zstd level, -131072 to 22 (KIP-390).",
    ),
    p(
        "partitioner.class",
        Scope::PRODUCER,
        Enum(&[
            "",
            "default",
            "round_robin",
            "org.apache.kafka.clients.producer.RoundRobinPartitioner",
        ]),
        D(""),
        "Partitioner for records without an explicit partition. Empty or `default`: hash the key, \
         or stick to one partition per batch for keyless records (KIP-480, KIP-794); \
         `round_robin` (or Java's RoundRobinPartitioner): rotate over partitions.",
    ),
    p(
        "partitioner.ignore.keys",
        Scope::PRODUCER,
        Bool,
        D("false"),
        "Default partitioner only: ignore keys and place every record as if keyless (KIP-794).",
    ),
    p(
        "partitioner.adaptive.partitioning.enable",
        Scope::PRODUCER,
        Bool,
        D("true"),
        "Default partitioner only: send more keyless records to faster brokers (KIP-794).",
    ),
    p(
        "partitioner.availability.timeout.ms",
        Scope::PRODUCER,
        ms(0, LONG),
        D("0"),
        "Default partitioner only: skip partitions whose broker has had no ready batch for this \
         long, in ms; 0 disables (KIP-794).",
    ),
    p(
        "transactional.id",
        Scope::PRODUCER,
        Str,
        Unset,
        "Identity for transactional producing (init_transactions, begin/commit/abort_transaction); \
         needs idempotence. A new producer with the same id fences the old one. Empty: unset.",
    ),
    p(
        "transaction.timeout.ms",
        Scope::PRODUCER,
        ms(0, INT),
        D("60000"),
        "How long the coordinator lets a transaction stay open, in ms.",
    ),
    // ---- consumer ----
    p(
        "group.id",
        Scope::CONSUMER,
        Str,
        Unset,
        "Consumer group name; needed for subscriptions and offset commits. Empty: unset.",
    ),
    p(
        "group.instance.id",
        Scope::CONSUMER,
        Str,
        Unset,
        "Static member id, kept across restarts to avoid rebalances (KIP-345); needs group.id. \
         Empty: unset.",
    ),
    p(
        "group.protocol",
        Scope::CONSUMER,
        Enum(&["classic", "consumer"]),
        D("classic"),
        "Group protocol: `classic` (JoinGroup/SyncGroup, client-side assignors) or `consumer` \
         (KIP-848: the broker assigns, members reconcile through ConsumerGroupHeartbeat).",
    ),
    p(
        "group.remote.assignor",
        Scope::CONSUMER,
        Str,
        Unset,
        "Broker-side assignor for group.protocol=consumer: `uniform` or `range`. Empty: the \
         broker's default. Refused with group.protocol=classic.",
    ),
    p(
        "session.timeout.ms",
        Scope::CONSUMER,
        ms(0, INT),
        D("45000"),
        "A member missing heartbeats for this long, in ms, is removed from the group (KIP-735 \
         default).",
    ),
    p(
        "heartbeat.interval.ms",
        Scope::CONSUMER,
        ms(0, INT),
        D("3000"),
        "Time between heartbeats to the group coordinator, in ms; below session.timeout.ms.",
    ),
    p(
        "max.poll.interval.ms",
        Scope::CONSUMER,
        ms(1, INT),
        D("300000"),
        "Longest gap allowed between polls, in ms, before the member leaves the group (KIP-62).",
    ),
    p(
        "max.poll.records",
        Scope::CONSUMER,
        int(1, INT_I),
        D("500"),
        "Most records one poll returns.",
    ),
    p(
        "enable.auto.commit",
        Scope::CONSUMER,
        Bool,
        D("true"),
        "Commit consumed offsets in the background. Off without group.id (an explicit true \
         is then an error).",
    ),
    p(
        "auto.commit.interval.ms",
        Scope::CONSUMER,
        ms(0, INT),
        D("5000"),
        "Time between automatic offset commits, in ms.",
    ),
    p(
        "auto.offset.reset",
        Scope::CONSUMER,
        Enum(&["earliest", "latest", "none"]),
        D("latest"),
        "Where to start when there is no committed offset or it is out of range: earliest, \
         latest, or none (fail). Java 4.x's `by_duration:` is not supported yet.",
    ),
    p(
        "fetch.min.bytes",
        Scope::CONSUMER,
        bytes(0, INT),
        D("1"),
        "Least data a fetch response should hold, in bytes; the broker waits up to \
         fetch.max.wait.ms for it.",
    ),
    p(
        "fetch.max.bytes",
        Scope::CONSUMER,
        bytes(0, INT),
        D("52428800"),
        "Most data a fetch response should hold, in bytes (KIP-74; a larger first batch is \
         still returned).",
    ),
    p(
        "max.partition.fetch.bytes",
        Scope::CONSUMER,
        bytes(0, INT),
        D("1048576"),
        "Most data per partition in a fetch response, in bytes.",
    ),
    p(
        "fetch.buffer.memory",
        Scope::CONSUMER,
        bytes(1, LONG),
        D("67108864"),
        "Most memory a consumer holds for fetched data not yet returned by poll, in bytes: \
         fetch responses received and in flight, and their decoded records. Fetches wait while \
         it is full and shrink to what is left. Not a Java setting.",
    ),
    p(
        "fetch.max.wait.ms",
        Scope::CONSUMER,
        ms(0, INT),
        D("500"),
        "Longest the broker holds a fetch waiting for fetch.min.bytes, in ms.",
    ),
    p(
        "check.crcs",
        Scope::CONSUMER,
        Bool,
        D("true"),
        "Verify the CRC32C of fetched record batches.",
    ),
    p(
        "isolation.level",
        Scope::CONSUMER,
        Enum(&["read_uncommitted", "read_committed"]),
        D("read_uncommitted"),
        "Whether to return records of open and aborted transactions (read_uncommitted) or only \
         committed ones (read_committed).",
    ),
    p(
        "partition.assignment.strategy",
        Scope::CONSUMER,
        EnumList(ASSIGNORS),
        D("range,cooperative-sticky"),
        "Assignors offered to the group, in preference order: range, roundrobin, sticky, \
         cooperative-sticky (KIP-429), or Java's class names for them.",
    ),
    p(
        "allow.auto.create.topics",
        Scope::CONSUMER,
        Bool,
        D("true"),
        "Let metadata requests for subscribed topics create them, where the broker allows.",
    ),
    p(
        "exclude.internal.topics",
        Scope::CONSUMER,
        Bool,
        D("true"),
        "Leave internal topics (e.g. __consumer_offsets) out of pattern subscriptions.",
    ),
    p(
        "client.rack",
        Scope::CONSUMER,
        Str,
        D(""),
        "Rack of this consumer, for fetching from the nearest replica (KIP-392). Empty: none.",
    ),
    p(
        "default.api.timeout.ms",
        Scope::CONSUMER_ADMIN,
        ms(0, INT),
        D("60000"),
        "Timeout for blocking calls given no explicit timeout, in ms (KIP-266).",
    ),
];

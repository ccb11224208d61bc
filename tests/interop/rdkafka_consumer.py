#!/usr/bin/env python3
"""librdkafka as a consumer-side peer for tests/interop_consumer.rs.

Uses PyPI confluent-kafka 2.16.x (librdkafka 2.16, from scripts/pyenv). Three commands:

  group    a member of a consumer group (subscribe). Prints `ASSIGN`/`REVOKE` lines from the
           rebalance callbacks and an `R` line per record, commits synchronously after every
           batch and on revocation (enable.auto.commit=false), and leaves the group when its
           stdin closes (the test's stop signal) or after --max-seconds (then exits 3).
  read     reads every partition of --topics from the beginning up to the high watermark seen
           at start (manual assign, no group), prints an `R` line per record, then exits.
  produce  produces --count records per codec (--codecs) to `<--topic-prefix><codec>`, with
           keys, headers and timestamps, waits for every delivery report and prints an `R` line
           per record as acknowledged (partition and offset from the broker).

Line formats (tab separated, one line each, stdout flushed after every batch):
  R  topic partition offset timestamp_type timestamp key value headers
       key, value: hex, `-` for null (an empty one is an empty field)
       headers: comma-separated `keyhex:valuehex` (`keyhex:-` for a null value), in order
       timestamp_type: create, append or none
  ASSIGN partitions   REVOKE partitions      (comma-separated partition ids of --topic)
  DONE count           (group: after leaving the group; count = records printed)
  COMMIT_ERROR text    (group: a commit the broker refused)
Diagnostics go to stderr. A fatal error exits non-zero with the reason on stderr.
"""

import argparse
import sys
import threading
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    KafkaException,
    Consumer,
    Producer,
    TopicPartition,
    libversion,
)

OUT = sys.stdout


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def opt_hex(b):
    return "-" if b is None else b.hex()


def headers_field(headers):
    if not headers:
        return ""
    parts = []
    for k, v in headers:
        parts.append(f"{k.encode().hex()}:{opt_hex(v)}")
    return ",".join(parts)


def ts_field(ts):
    kind, value = ts
    name = {TIMESTAMP_CREATE_TIME: "create", TIMESTAMP_LOG_APPEND_TIME: "append"}.get(kind, "none")
    return f"{name}\t{value}"


def record_line(msg, headers=None):
    headers = msg.headers() if headers is None else headers
    return (
        f"R\t{msg.topic()}\t{msg.partition()}\t{msg.offset()}\t{ts_field(msg.timestamp())}\t"
        f"{opt_hex(msg.key())}\t{opt_hex(msg.value())}\t{headers_field(headers)}\n"
    )


def common_consumer_config(args, group):
    return {
        "bootstrap.servers": args.bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest",
    }


def cmd_group(args):
    stop = threading.Event()

    def watch_stdin():
        # The test closes our stdin to stop us.
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    conf = common_consumer_config(args, args.group)
    conf.update(
        {
            "partition.assignment.strategy": "range",
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": args.heartbeat_interval_ms,
            "client.id": args.client_id,
        }
    )
    consumer = Consumer(conf)

    def commit(why):
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as e:
            err = e.args[0]
            if err.code() == KafkaError._NO_OFFSET:
                return  # nothing consumed since the last commit
            OUT.write(f"COMMIT_ERROR\t{why}: {err}\n")
            OUT.flush()
            log(f"commit ({why}) failed: {err}")

    def ids(parts):
        return ",".join(str(p.partition) for p in sorted(parts, key=lambda p: p.partition))

    def on_assign(c, parts):
        OUT.write(f"ASSIGN\t{ids(parts)}\n")
        OUT.flush()

    def on_revoke(c, parts):
        # Still assigned here: commit what was consumed so the next owner starts after it.
        commit("on revoke")
        OUT.write(f"REVOKE\t{ids(parts)}\n")
        OUT.flush()

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    count = 0
    deadline = time.monotonic() + args.max_seconds
    timed_out = False
    while not stop.is_set():
        if time.monotonic() > deadline:
            timed_out = True
            break
        msgs = consumer.consume(num_messages=args.batch, timeout=0.1)
        lines = []
        for m in msgs:
            if m.error() is not None:
                if m.error().fatal():
                    log(f"fatal consumer error: {m.error()}")
                    return 1
                log(f"consumer error: {m.error()}")
                continue
            lines.append(record_line(m))
        if lines:
            OUT.write("".join(lines))
            OUT.flush()
            count += len(lines)
            commit("after batch")
            if args.pause_ms:
                time.sleep(args.pause_ms / 1000)  # a slow consumer: rebalances land mid-stream
    commit("before close")
    consumer.close()  # leaves the group
    OUT.write(f"DONE\t{count}\n")
    OUT.flush()
    if timed_out:
        log(f"stopped after --max-seconds {args.max_seconds} without a stop signal")
        return 3
    return 0


def cmd_read(args):
    consumer = Consumer(common_consumer_config(args, "interop-reader-unused"))
    parts = []
    ends = {}
    deadline = time.monotonic() + args.timeout
    for topic in args.topics.split(","):
        md = consumer.list_topics(topic, timeout=10).topics[topic]
        if md.error is not None:
            log(f"metadata for {topic}: {md.error}")
            return 1
        for p in sorted(md.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[(topic, p)] = high
            parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
    consumer.assign(parts)
    pending = {tp for tp, high in ends.items() if high > 0}
    lines = []
    while pending:
        if time.monotonic() > deadline:
            log(f"timed out after {args.timeout}s; partitions not read to the end: {sorted(pending)}")
            return 1
        for m in consumer.consume(num_messages=1000, timeout=0.2):
            if m.error() is not None:
                log(f"consumer error: {m.error()}")
                if m.error().fatal():
                    return 1
                continue
            lines.append(record_line(m))
            tp = (m.topic(), m.partition())
            if m.offset() + 1 >= ends[tp]:
                pending.discard(tp)
    consumer.close()
    OUT.write("".join(lines))
    OUT.flush()
    log(f"read {len(lines)} records; ends {sorted(ends.items())}")
    return 0


def produced_records(codec, count, partitions, base_ts):
    """(partition, key, value, headers, timestamp) for record i of `codec`'s topic."""
    for i in range(count):
        key = None if i % 97 == 0 else f"key-{codec}-{i}".encode()
        if i % 250 == 3:
            value = None
        elif i % 250 == 5:
            value = b""
        else:
            # Compressible, so librdkafka really compresses (it sends a batch raw when the
            # codec does not make it smaller).
            value = f"{codec}-{i:06d}-".encode() + b"the quick brown fox " * (1 + i % 5)
        headers = [("idx", str(i).encode()), ("codec", codec.encode())]
        if i % 7 == 0:
            headers += [("dup", b"a"), ("dup", b"b")]
        if i % 11 == 0:
            headers.append(("null", None))
        if i % 13 == 0:
            headers.append(("empty", b""))
        yield i % partitions, key, value, headers, base_ts + i


def cmd_produce(args):
    failed = []
    out = {}
    for n, codec in enumerate(args.codecs.split(",")):
        topic = f"{args.topic_prefix}{codec}"
        producer = Producer(
            {
                "bootstrap.servers": args.bootstrap,
                "compression.type": codec,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "message.timeout.ms": int(args.timeout * 1000),
            }
        )

        def reporter(headers):
            # A delivery report carries no headers: print the ones sent with the record.
            def on_delivery(err, msg):
                if err is not None:
                    failed.append(f"{msg.topic()} {msg.partition()}: {err}")
                else:
                    out.setdefault(msg.topic(), []).append(record_line(msg, headers))

            return on_delivery

        base_ts = 1_700_000_000_000 + n * 1_000_000
        for part, key, value, headers, ts in produced_records(
            codec, args.count, args.partitions, base_ts
        ):
            while True:
                try:
                    producer.produce(
                        topic,
                        value=value,
                        key=key,
                        partition=part,
                        headers=headers,
                        timestamp=ts,
                        on_delivery=reporter(headers),
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        left = producer.flush(args.timeout)
        if left:
            failed.append(f"{topic}: {left} records undelivered after {args.timeout}s")
    if failed:
        for f in failed[:10]:
            log(f"delivery error: {f}")
        log(f"{len(failed)} delivery errors")
        return 1
    for topic, lines in out.items():
        OUT.write("".join(lines))
    OUT.flush()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("group")
    g.add_argument("--topic", required=True)
    g.add_argument("--group", required=True)
    g.add_argument("--client-id", default="rdkafka-member")
    g.add_argument("--session-timeout-ms", type=int, default=6000)
    g.add_argument("--heartbeat-interval-ms", type=int, default=300)
    g.add_argument("--max-seconds", type=float, default=90.0)
    g.add_argument("--batch", type=int, default=500, help="most records per consume()")
    g.add_argument("--pause-ms", type=int, default=0, help="sleep after each non-empty batch")

    r = sub.add_parser("read")
    r.add_argument("--topics", required=True, help="comma-separated")
    r.add_argument("--timeout", type=float, default=40.0)

    p = sub.add_parser("produce")
    p.add_argument("--topic-prefix", required=True)
    p.add_argument("--codecs", default="none,gzip,snappy,lz4,zstd")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--timeout", type=float, default=40.0)

    args = ap.parse_args()
    log(f"librdkafka {libversion()[0]}: {args.cmd}")
    return {"group": cmd_group, "read": cmd_read, "produce": cmd_produce}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

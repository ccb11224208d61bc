#!/usr/bin/env python3
"""Where librdkafka's Java-compatible partitioner puts each key, for tests/interop_partitioner.rs.

Produces one record per key to TOPIC with librdkafka (PyPI confluent-kafka 2.16.x, from
scripts/pyenv) and `partitioner=murmur2_random`, waits for every delivery report, then prints
`KEY_HEX<TAB>PARTITION` per record, in the order produced. The partition is the one the broker
acknowledged. Exits non-zero if any record fails or stays undelivered.

Keys: key-0 .. key-{COUNT-1}, then a few odd ones (empty, unicode, binary, long).
"""

import argparse
import sys

from confluent_kafka import KafkaException, Producer, libversion


def keys(count):
    out = [f"key-{i}".encode() for i in range(count)]
    out += [
        b"",  # an empty key is still a key: hashed, not sticky
        "ключ-ü-🦀".encode(),
        b"\x00",
        b"\xff\xfe\x00\x01\x80",
        bytes(range(256)),
        b"x" * 1001,  # length not a multiple of 4
    ]
    return out


def short(key):
    h = key.hex() or "(empty)"
    return h if len(h) <= 40 else h[:40] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for delivery")
    args = ap.parse_args()
    print(f"librdkafka {libversion()[0]}", file=sys.stderr)

    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "partitioner": "murmur2_random",
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": int(args.timeout * 1000),
        }
    )
    all_keys = keys(args.count)
    results = [None] * len(all_keys)  # partition, or an error string
    errors = []

    def report(i):
        def on_delivery(err, msg):
            if err is not None:
                errors.append(f"key {short(all_keys[i])}: {err}")
            else:
                results[i] = msg.partition()

        return on_delivery

    for i, key in enumerate(all_keys):
        while True:
            try:
                producer.produce(args.topic, key=key, value=b"v", on_delivery=report(i))
                break
            except BufferError:
                producer.poll(0.1)  # local queue full: serve delivery reports and retry
            except KafkaException as e:
                print(f"produce failed for key {short(key)}: {e}", file=sys.stderr)
                return 1
        producer.poll(0)

    left = producer.flush(args.timeout)
    if left:
        errors.append(f"{left} records undelivered after {args.timeout}s")
    missing = sum(1 for p in results if p is None)
    if errors or missing:
        for e in errors[:5]:
            print(f"delivery error: {e}", file=sys.stderr)
        print(f"{len(errors)} delivery errors, {missing} records not delivered", file=sys.stderr)
        return 1

    out = sys.stdout
    for key, partition in zip(all_keys, results):
        out.write(f"{key.hex()}\t{partition}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

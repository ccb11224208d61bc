"""librdkafka (PyPI confluent-kafka) against a secured listener: proof that the test broker's
TLS and SASL setup is standard, and that what ferrokafka writes there librdkafka reads.

    rdkafka_secure.py --topic T --count N [-X key=value]...

Reads T from the beginning (every partition, no group) until N records arrived or 60 s passed,
then prints one line: `read N` (the number of records read). librdkafka's own settings come
with -X, e.g. -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512.
"""

import argparse
import sys
import time

from confluent_kafka import Consumer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("-X", action="append", default=[])
    args = ap.parse_args()
    conf = {"group.id": "rdkafka-secure", "enable.auto.commit": False}
    for kv in args.X:
        k, _, v = kv.partition("=")
        conf[k] = v
    errors = []
    conf["error_cb"] = lambda e: errors.append(str(e))
    c = Consumer(conf)
    md = c.list_topics(args.topic, timeout=20)
    parts = sorted(md.topics[args.topic].partitions)
    c.assign([TopicPartition(args.topic, p, -2) for p in parts])  # -2: OFFSET_BEGINNING
    n = 0
    deadline = time.time() + 60
    while n < args.count and time.time() < deadline:
        for m in c.consume(500, timeout=0.5):
            if m.error() is None:
                n += 1
    c.close()
    print(f"read {n}")
    if errors:
        print("\n".join(errors), file=sys.stderr)


if __name__ == "__main__":
    main()

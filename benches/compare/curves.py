"""Two curves of issue #18, each its own BENCHMARKS.md section with a chart:

- `scripts/bench --only sizes`: producer and consumer at 10 B, 100 B, 1 KB, 10 KB, 100 KB and
  1 MB records, every client, median of `--repeat` runs, with records/s, MB/s, CPU per GB and
  peak RSS.
- `scripts/bench --only producers`: 1, 4 and 16 producers in one process (one runtime for the
  async clients), each its own client instance sending its share of `--count` records of 100 B
  (`--producers` of the bench binaries).

Cells are those of bench.py's tables at 8 partitions: idempotent acks=all, no compression,
linger.ms=5, batch.size=1 MiB, record i to partition i % 8 (a topic per client on a discard
broker per size); the consumer reads one topic per size preloaded by ferrokafka (manual
assignment from offset 0). Each run moves about the same bytes: `--count` x 200 B (200 MB by
default) split into records of the size, at most `--count` records and at least 200.
"""

import bench
import charts

SECTION = "## Record size"
SIZES = (10, 100, 1000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (100, 10_000, 1_000_000)
PARTITIONS = 8
CHART = "docs/bench/sizes.svg"


def sizes(args):
    return QUICK_SIZES if args.quick else SIZES


def records_for(args, size):
    return max(200, min(args.count, args.count * 200 // size))


def label(size):
    for unit, div in (("MB", 1_000_000), ("KB", 1000)):
        if size >= div:
            return "%d %s" % (size // div, unit)
    return "%d B" % size


def run(args, brokers, clients, results):
    for broker_kind in brokers:
        for size in sizes(args):
            run_produce(args, broker_kind, size, clients, results)
            run_consume(args, broker_kind, size, clients, results)


def run_produce(args, broker_kind, size, clients, results):
    count = records_for(args, size)
    bench.log("sizes produce %s: %s x %d, %d partitions" % (broker_kind, label(size), count, PARTITIONS))
    medians = bench.produce_medians(args, broker_kind, "zp-%d" % size, PARTITIONS, size, count, clients)
    for client, r in medians.items():
        results[("sizes", "produce", broker_kind, size, client)] = r


def run_consume(args, broker_kind, size, clients, results):
    count = records_for(args, size)
    bench.log("sizes consume %s: %s x %d, %d partitions" % (broker_kind, label(size), count, PARTITIONS))
    medians = bench.consume_medians(args, broker_kind, "zc-%d" % size, PARTITIONS, size, count, clients)
    for client, r in medians.items():
        results[("sizes", "consume", broker_kind, size, client)] = r


# ---------------------------------------------------------------- report

def cpu_per_mb(r):
    """Process CPU seconds per 1,000 MB of values moved."""
    return r.cpu / (int(r.fields["bytes"]) / 1e9)


def chart(args, brokers, clients, results):
    panels = []
    for broker in brokers:
        for kind, title in (("produce", "Producer"), ("consume", "Consumer")):
            for metric, ylabel, f in (("MB/s", "MB/s of values", lambda r: r.mbs()),
                                      ("CPU", "client CPU s per GB of values", cpu_per_mb)):
                series = {}
                for c in clients:
                    pts = [(s, f(results[("sizes", kind, broker, s, c)])) for s in sizes(args)
                           if ("sizes", kind, broker, s, c) in results
                           and not results[("sizes", kind, broker, s, c)].na]
                    if pts:
                        series[c] = pts
                panels.append({"title": "%s %s (%s)" % (title, metric, broker), "xlabel": "record size, bytes",
                               "ylabel": ylabel, "series": series, "xlog": True, "ylog": True})
    return charts.draw(args, CHART, "Against record size (8 partitions, acks=all, median of %d)" % args.repeat,
                       panels, columns=4)


def section(args, brokers, clients, results):
    why = chart(args, brokers, clients, results)
    L = [SECTION, ""]
    L.append("Written by `%s`. %d partitions, idempotent acks=all, no compression, linger.ms=5, "
             "batch.size=1 MiB, record i to partition i %% %d; each run moves about %s MB of values "
             "(at most %s records, at least 200), median of %d run(s) per cell, clients' runs "
             "interleaved. Consumer: manual assignment from offset 0 of a topic preloaded by "
             "ferrokafka. CPU s / GB: the client process's CPU (start-up included) per 1,000 MB of "
             "values.\n" % (args.command, PARTITIONS, PARTITIONS, "{:,}".format(args.count * 200 // 1_000_000),
                           "{:,}".format(args.count), args.repeat))
    L.append(charts.link(why, CHART, "MB/s and CPU per GB against record size"))
    for broker in brokers:
        for kind, title in (("produce", "Producer"), ("consume", "Consumer")):
            L.append("### %s against record size (%s)\n" % (title, broker))
            L.append("| size | client | records/s | MB/s | CPU s / GB | peak RSS MB | ours / peer MB/s |")
            L.append("|---:|---|---:|---:|---:|---:|---:|")
            for s in sizes(args):
                ours = results.get(("sizes", kind, broker, s, "ferrokafka"))
                for c in clients:
                    r = results.get(("sizes", kind, broker, s, c))
                    if r is None:
                        L.append("| %s | %s | not run | | | | |" % (label(s), c))
                        continue
                    if r.na:
                        L.append("| %s | %s | n/a: %s | | | | |" % (label(s), c, r.na))
                        continue
                    rel = ""
                    if c != "ferrokafka" and ours is not None and not ours.na:
                        rel = "%.2fx" % (ours.mbs() / r.mbs())
                    name = c + (" (%s)" % r.note if r.note else "")
                    L.append("| {} | {} | {:,.0f} | {:.1f} | {:.2f} | {:.0f} | {} |".format(
                        label(s), name, r.rate(), r.mbs(), cpu_per_mb(r), r.hwm_mb, rel))
            L.append("")
    return L


def write_section(path, lines):
    bench.write_section(path, SECTION, lines)


# ---------------------------------------------------------------- producers per process

PRODUCERS_SECTION = "## Producers per process"
PRODUCERS = (1, 4, 16)
PRODUCERS_CHART = "docs/bench/producers.svg"


def run_producers(args, brokers, clients, results):
    for broker_kind in brokers:
        for n in PRODUCERS:
            bench.log("producers %s: %d producers, 100 B x %d in all, %d partitions" % (
                broker_kind, n, args.count, PARTITIONS))
            medians = bench.produce_medians(args, broker_kind, "pp-%d" % n, PARTITIONS, 100, args.count, clients,
                                            ["--producers", str(n)] + bench.CURVE_PRODUCER)
            for client, r in medians.items():
                results[("producers", broker_kind, n, client)] = r


def producers_section(args, brokers, clients, results):
    panels = []
    for broker in brokers:
        for metric, ylabel, f, ylog in (("records/s", "records/s (all producers)", lambda r: r.rate(), False),
                                        ("CPU", "client CPU s per million records", lambda r: r.cpu_per_m(), True)):
            series = {}
            for c in clients:
                pts = [(n, f(results[("producers", broker, n, c)])) for n in PRODUCERS
                       if ("producers", broker, n, c) in results and not results[("producers", broker, n, c)].na]
                if pts:
                    series[c] = pts
            panels.append({"title": "%s (%s)" % (metric, broker), "xlabel": "producers in the process",
                           "ylabel": ylabel, "series": series, "xlog": True, "ylog": ylog})
    why = charts.draw(args, PRODUCERS_CHART, "Producers per process (100 B, %d partitions, acks=all, "
                      "median of %d)" % (PARTITIONS, args.repeat), panels, columns=2)
    L = [PRODUCERS_SECTION, ""]
    L.append("Written by `%s`. 1, 4 and 16 producers in one process, each its own client instance "
             "(the Rust clients on one tokio runtime; rust-rdkafka, Java and franz-go with a thread or "
             "goroutine per producer), warmed up one after the other, then sending their shares of %s "
             "records of 100 B at once (record i to partition i %% %d, idempotent acks=all, "
             "linger.ms=5, batch.size=1 MiB). Records/s is all producers' together; median of %d "
             "run(s).\n" % (args.command, "{:,}".format(args.count), PARTITIONS, args.repeat))
    L.append(charts.link(why, PRODUCERS_CHART, "records/s and CPU per record against producers per process"))
    for broker in brokers:
        L.append("### Producers per process (%s)\n" % broker)
        L.append("| producers | client | records/s | CPU s / M records | peak RSS MB | ours / peer |")
        L.append("|---:|---|---:|---:|---:|---:|")
        for n in PRODUCERS:
            ours = results.get(("producers", broker, n, "ferrokafka"))
            for c in clients:
                r = results.get(("producers", broker, n, c))
                if r is None or r.na:
                    L.append("| %d | %s | %s | | | |" % (n, c, "not run" if r is None else "n/a: " + r.na))
                    continue
                rel = "%.2fx" % (ours.rate() / r.rate()) if c != "ferrokafka" and ours and not ours.na else ""
                name = c + (" (%s)" % r.note if r.note else "")
                L.append("| {} | {} | {:,.0f} | {:.2f} | {:.0f} | {} |".format(
                    n, name, r.rate(), r.cpu_per_m(), r.hwm_mb, rel))
        L.append("")
    return L


def write_producers_section(path, lines):
    bench.write_section(path, PRODUCERS_SECTION, lines)

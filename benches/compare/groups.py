"""Consumer group rebalance time against group size (`scripts/bench --only groups`, issue #18):
2, 10 and 50 members in one process, classic eager (range), classic cooperative-sticky and
KIP-848 (`group.protocol=consumer`), every client with consumer groups (`group` mode of the
bench binaries), on Apache Kafka (a single node: the coordinator's work, not replication).

A run: the members subscribe to a topic of PARTITIONS partitions and poll until their
assignments cover every partition once with every member holding some; then one more member
subscribes, timed until the grown group covers every partition again (RESULT `seconds`); the
first phase's time is `form_seconds`. Each run uses a fresh group. The broker runs with
`group.initial.rebalance.delay.ms=0` (scripts/kafka's test setting) and its default heartbeat
intervals (classic members 3 s, KIP-848 5 s), which bound the cooperative and KIP-848 times.
"""

import bench
import charts

SECTION = "## Consumer group rebalance time"
MEMBERS = (2, 10, 50)
PROTOCOLS = ("eager", "cooperative", "consumer")
PARTITIONS = 120
TOPIC = "groups"
CHART = "docs/bench/groups.svg"


def seconds(r, key="seconds"):
    return float(r.fields[key])


def median(runs):
    ok = sorted((r for r in runs if not r.na), key=seconds)
    if not ok or len(ok) < len(runs):
        return next((r for r in runs if r.na), runs[0])
    return ok[(len(ok) - 1) // 2]


def run(args, clients, results):
    bench.log("groups kafka: %s members, %s" % (MEMBERS, ", ".join(PROTOCOLS)))
    # Started for the first cell not measured earlier on this tree (`--resume`), kept for the rest.
    broker = []

    def cell(protocol, n):
        if not broker:
            broker.append(bench.start_broker("kafka", False, [(TOPIC, PARTITIONS)]))
        runs = {c: [] for c in clients}
        for rep in range(args.repeat):
            for client in clients:
                runs[client].append(bench.measure(client, [
                    "group", "--bootstrap", broker[0].bootstrap, "--topic", TOPIC,
                    "--partitions", str(PARTITIONS), "--members", str(n), "--protocol", protocol,
                    "--group", "g-%s-%d-%s-%d" % (client, n, protocol, rep),
                    "--timeout", str(args.timeout)], args.timeout + 30))
        return {c: median(runs[c]) for c in clients}

    try:
        for protocol in PROTOCOLS:
            for n in MEMBERS:
                key = ["groups", protocol, n, PARTITIONS, args.repeat]
                medians = bench.STORE.cell(key, clients, lambda: cell(protocol, n))
                for client, r in medians.items():
                    results[("groups", protocol, n, client)] = r
    finally:
        if broker:
            broker[0].stop()


def section(args, clients, results):
    panels = []
    for protocol in PROTOCOLS:
        series = {}
        for c in clients:
            pts = [(n, seconds(results[("groups", protocol, n, c)]) * 1000) for n in MEMBERS
                   if ("groups", protocol, n, c) in results and not results[("groups", protocol, n, c)].na]
            if pts:
                series[c] = pts
        panels.append({"title": protocol, "xlabel": "members before the join", "ylabel":
                       "ms until the grown group is settled", "series": series, "xlog": True, "ylog": True})
    why = charts.draw(args, CHART, "Rebalance time when one member joins (Apache Kafka, median of %d)"
                      % args.repeat, panels, columns=3)
    L = [SECTION, ""]
    L.append("Written by `%s`. Apache Kafka, one node, a topic of %d partitions; N members in one "
             "process poll until every partition is held by exactly one of them (the group has "
             "formed), then one more member subscribes: **rebalance** is the time from its "
             "subscribe until the N+1 members again hold every partition once, each holding some; "
             "**form** is how long the first N took. A fresh group per run, median of %d run(s) by "
             "rebalance time. Broker: `group.initial.rebalance.delay.ms=0`, default heartbeat "
             "intervals (classic 3 s, KIP-848 `group.consumer.heartbeat.interval.ms` 5 s): a "
             "cooperative rebalance takes two rounds and a KIP-848 member learns its target on a "
             "heartbeat, so their times follow those intervals, not client CPU.\n"
             % (args.command, PARTITIONS, args.repeat))
    L.append(charts.link(why, CHART, "rebalance time against group size"))
    L.append("| protocol | members | client | rebalance ms | form ms | CPU s | peak RSS MB |")
    L.append("|---|---:|---|---:|---:|---:|---:|")
    for protocol in PROTOCOLS:
        for n in MEMBERS:
            for c in clients:
                r = results.get(("groups", protocol, n, c))
                if r is None or r.na:
                    L.append("| %s | %d | %s | %s | | | |" % (protocol, n, c, "not run" if r is None else "n/a: " + r.na))
                    continue
                L.append("| %s | %d | %s | %.0f | %.0f | %.2f | %.0f |" % (
                    protocol, n, c, seconds(r) * 1000, seconds(r, "form_seconds") * 1000, r.cpu, r.hwm_mb))
    L.append("")
    return L


def write_section(path, lines):
    bench.write_section(path, SECTION, lines)

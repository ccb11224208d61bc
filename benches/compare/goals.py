"""The goals of issues #18 and #19, read from this run's results: a table of goal against
result at the top of BENCHMARKS.md, computed, never hand-copied. Misses are explained by hand
in "Goals: what bounds the misses", which the generated report keeps."""

import bench
import scaling

SECTION = "## Goals, read from this run"
# A generated placeholder the main report writes where this section goes.
PENDING = "Computed once every section of the run has finished."


def peers(clients):
    return [c for c in clients if c != "ferrokafka"]


def rate_ratios(results, kind, broker, cells, clients):
    """[(cell, peer, ours/peer records/s)] of every cell where both ran."""
    out = []
    for cell in cells:
        ours = results.get((kind, broker, cell, "ferrokafka"))
        if ours is None or ours.na:
            continue
        for p in peers(clients):
            theirs = results.get((kind, broker, cell, p))
            if theirs is not None and not theirs.na:
                out.append((cell, p, ours.rate() / theirs.rate()))
    return out


def ratio_goal(ratios, label, want=1.5):
    """'met' or how far from it: the cells at or above `want`, the lowest ratio per peer."""
    if not ratios:
        return "not measured in this run"
    met = sum(1 for _, _, r in ratios if r >= want)
    worst = {}
    for cell, p, r in ratios:
        if p not in worst or r < worst[p][1]:
            worst[p] = (cell, r)
    lows = ", ".join("%s %.2fx (%s)" % (p, r, label(cell)) for p, (cell, r) in sorted(worst.items(), key=lambda x: x[1][1]))
    verdict = "**met**" if met == len(ratios) else "**not met**: %d of %d peer cells >= %.1fx" % (met, len(ratios), want)
    return "%s. Lowest per peer: %s" % (verdict, lows)


def cpu_goal(results, broker, cells, limit):
    ours = [(c, results.get(("produce", broker, c, "ferrokafka"))) for c in cells]
    ours = [(c, r.cpu_per_m()) for c, r in ours if r is not None and not r.na]
    if not ours:
        return "not measured in this run"
    worst = max(ours, key=lambda x: x[1])
    met = sum(1 for _, v in ours if v <= limit)
    verdict = "**met**" if met == len(ours) else "**not met** in %d of %d cells" % (len(ours) - met, len(ours))
    return "%s: %.2f-%.2f CPU s per million (highest: %s)" % (
        verdict, min(v for _, v in ours), worst[1], plabel(worst[0]))


def plabel(c):
    return "%d B, %d part, acks=%s, %s" % (c[0], c[1], c[2], c[4])


def clabel(c):
    return "%d B, %d part" % c


def latency_goal(results, broker, clients, rate):
    ps = {}
    for c in clients:
        r = results.get(("latency", broker, rate, c))
        if r is not None and not r.na:
            ps[c] = float(r.fields["p99_ms"])
    if "ferrokafka" not in ps:
        return None, ps
    return ps["ferrokafka"], ps


def rows(args, clients, brokers, results):
    """[(goal, result)] for every goal the run measured something for."""
    out = []
    for b in brokers:
        if b == "kafka3":
            continue
        cells = [c for c in bench.producer_cells(args.quick, b) if c[0] == 100]
        out.append(("producer >= 1.5x every peer at 100 B (%s)" % b,
                    ratio_goal(rate_ratios(results, "produce", b, cells, clients), plabel)))
        out.append(("producer <= 0.4 CPU s per million at 100 B, uncompressed (%s)" % b,
                    cpu_goal(results, b, [c for c in cells if c[4] == "none"], 0.4)))
        out.append(("producer <= 0.5 CPU s per million at 100 B, lz4/zstd (%s)" % b,
                    cpu_goal(results, b, [c for c in cells if c[4] != "none"], 0.5)))
        out.append(("consumer >= 1.5x every peer at 100 B and 1 KB (%s)" % b,
                    ratio_goal(rate_ratios(results, "consume", b, bench.consumer_cells(args.quick), clients), clabel)))
    ours, ps = latency_goal(results, "mock", clients, 1000)
    if ours is not None:
        out.append(("p99 <= 1 ms at 1k records/s (mock)", "%s: p99 %.2f ms" % (
            "**met**" if ours <= 1.0 else "**not met**", ours)))
    for rate in bench.latency_cells(args.quick):
        ours, ps = latency_goal(results, "kafka", clients, rate)
        if ours is None:
            continue
        best = min(ps.items(), key=lambda x: x[1])
        out.append(("lowest p99 of all clients at %s records/s (kafka)" % "{:,}".format(rate),
                    "%s: ours %.2f ms; lowest %s %.2f ms" % (
                        "**met**" if best[0] == "ferrokafka" or ours <= best[1] else "**not met**", ours,
                        best[0], best[1])))
    for kind in ("produce", "consume"):
        for n in (1000, 10000):
            a = results.get(("scaling", kind, "mock", n, "ferrokafka"))
            b = results.get(("scaling", kind, "mock", n, "rdkafka"))
            if a is None or b is None:
                continue
            if a.na or b.na:
                res = "n/a: " + (a.na or b.na)
            else:
                r = a.rate() / b.rate()
                res = "%s: %.2fx" % ("**met**" if r >= 1.5 else "**not met**", r)
            out.append(("%s at %s partitions >= 1.5x rust-rdkafka (mock, #19)" % (
                "producer" if kind == "produce" else "consumer", "{:,}".format(n)), res))
        ratio = scaling.cpu_ratio(results, kind, "mock", "ferrokafka")
        if ratio != "n/a":
            v = float(ratio.rstrip("x"))
            out.append(("%s CPU per record at 10,000 partitions <= 2x of 8 (mock)" % (
                "producer" if kind == "produce" else "consumer"),
                "%s: %s" % ("**met**" if v <= 2.0 else "**not met**", ratio)))
    kb = scaling.idle_kb(results, "ferrokafka")
    if kb != "not run":
        out.append(("peak RSS per idle partition reported (target under 2 KB, #19)", kb + " KB"))
    return out


def section(args, clients, brokers, results, run_seconds, invocations):
    """`run_seconds`: the whole run, every section (cells reused by `--resume` counted at the
    time they took when measured)."""
    L = [SECTION, ""]
    L.append("Generated from the tables below (ratios are records/s of ferrokafka over the peer's, medians "
             "of the same run). What bounds each miss is in \"Goals: what bounds the misses\". The run "
             "(`%s`, sections %s) took %.0f min%s.\n" % (
                 args.command, ", ".join(args.only), run_seconds / 60,
                 "" if invocations == 1 else " over %d invocations (`--resume`)" % invocations))
    L.append("| goal | result |")
    L.append("|---|---|")
    for goal, result in rows(args, clients, brokers, results):
        L.append("| %s | %s |" % (goal, result))
    L.append("")
    return L


def write_section(path, lines):
    bench.write_section(path, SECTION, lines)

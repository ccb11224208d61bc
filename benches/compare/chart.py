"""Draws the partition-scaling chart of BENCHMARKS.md (benches/compare/scaling.py):
CPU s per million records against partitions, log-log, a line per client, producer and consumer
side by side. Runs under target/bench-venv's python (matplotlib); invoked as

    python chart.py DATA.json OUT.svg

DATA.json: {"series": {"produce"|"consume": {client: [[partitions, cpu_s_per_m], ...]}},
"count": records per run, "repeat": runs per cell}.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Fixed ids and no date: the same data gives the same file, so a rerun diffs cleanly.
matplotlib.rcParams["svg.hashsalt"] = "ferrokafka-scaling"
# Text as text, not glyph outlines: a tenth of the file size, and searchable.
matplotlib.rcParams["svg.fonttype"] = "none"

STYLE = {
    "ferrokafka": ("#d62728", "o"),
    "rdkafka": ("#1f77b4", "s"),
    "krafka": ("#2ca02c", "^"),
    "rskafka": ("#9467bd", "v"),
    "java": ("#ff7f0e", "D"),
    "franzgo": ("#17becf", "P"),
}


def main(data_path, out):
    with open(data_path) as f:
        data = json.load(f)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, kind, title in zip(axes, ("produce", "consume"), ("Producer", "Consumer")):
        for client, pts in sorted(data["series"].get(kind, {}).items()):
            color, marker = STYLE.get(client, ("#7f7f7f", "x"))
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, ys, label=client, color=color, marker=marker, linewidth=1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("%s, 100 B records, discard MockCluster" % title, fontsize=10)
        ax.set_xlabel("partitions (record i to partition i % n)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("client CPU s per million records")
    fig.suptitle("CPU per record against partition count (%s records, median of %d)"
                 % ("{:,}".format(data["count"]), data["repeat"]), fontsize=11)
    fig.tight_layout()
    # OUT.png for a look at it while editing; BENCHMARKS.md links the SVG.
    if out.endswith(".png"):
        fig.savefig(out, dpi=90)
    else:
        fig.savefig(out, format="svg", metadata={"Date": None})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Draws a chart of BENCHMARKS.md (benches/compare/charts.py): panels side by side, a line per
client. Runs under target/bench-venv's python (matplotlib); invoked as

    python chart.py DATA.json OUT.svg

DATA.json: {"title": str, "columns": int, "panels": [{"title", "xlabel", "ylabel", "xlog",
"ylog", "series": {client: [[x, y], ...]}}]}; a panel with "categories" (labels) is grouped
bars instead, its series {client: [y or null per category]}. OUT.png draws a PNG instead (for a look while
editing); BENCHMARKS.md links the SVGs.
"""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Fixed ids and no date: the same data gives the same file, so a rerun diffs cleanly.
matplotlib.rcParams["svg.hashsalt"] = "ferrokafka-bench"
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


def legacy(data):
    """The partition-scaling format of before (series per kind) as panels."""
    panels = []
    for kind, title in (("produce", "Producer"), ("consume", "Consumer")):
        panels.append({"title": "%s, 100 B records, discard MockCluster" % title,
                       "xlabel": "partitions (record i to partition i % n)",
                       "ylabel": "client CPU s per million records", "xlog": True, "ylog": True,
                       "series": data["series"].get(kind, {})})
    return {"title": "CPU per record against partition count (%s records, median of %d)"
            % ("{:,}".format(data["count"]), data["repeat"]), "columns": 2, "panels": panels}


def bars(ax, panel):
    """Grouped bars: a group per category (a benchmark cell), a bar per client; a missing
    value (the client could not run the cell) leaves a gap."""
    cats, series = panel["categories"], panel["series"]
    clients = [c for c in STYLE if c in series] + sorted(c for c in series if c not in STYLE)
    width = 0.8 / max(1, len(clients))
    for k, client in enumerate(clients):
        xs = [i + (k - (len(clients) - 1) / 2) * width for i in range(len(cats))]
        ys = [y if y is not None else 0 for y in series[client]]
        ax.bar(xs, ys, width, label=client, color=STYLE.get(client, ("#7f7f7f", "x"))[0])
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats, rotation=60, ha="right", fontsize=7)
    if panel.get("ylog"):
        ax.set_yscale("log")
    ax.set_title(panel["title"], fontsize=10)
    ax.set_ylabel(panel["ylabel"])
    ax.grid(True, axis="y", which="both", alpha=0.3)
    if clients:
        ax.legend(fontsize=7, ncol=3)


def main(data_path, out):
    with open(data_path) as f:
        data = json.load(f)
    if "panels" not in data:
        data = legacy(data)
    panels = data["panels"]
    cols = min(data.get("columns", 2), len(panels))
    rows = math.ceil(len(panels) / cols)
    # Bar panels widen with their categories (a producer table has up to 24 cells).
    width = max([5.5] + [0.45 * len(p.get("categories", [])) for p in panels])
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 4.8 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, panel in zip(flat, panels):
        if panel.get("categories"):
            bars(ax, panel)
            continue
        for client, pts in sorted(panel["series"].items()):
            color, marker = STYLE.get(client, ("#7f7f7f", "x"))
            xs, ys = zip(*sorted(pts))
            ax.plot(xs, ys, label=client, color=color, marker=marker, linewidth=1.5)
        if panel.get("xlog"):
            ax.set_xscale("log")
        if panel.get("ylog"):
            ax.set_yscale("log")
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.grid(True, which="both", alpha=0.3)
        if panel["series"]:
            ax.legend(fontsize=8)
    for ax in flat[len(panels):]:
        ax.axis("off")
    fig.suptitle(data["title"], fontsize=11)
    fig.tight_layout()
    if out.endswith(".png"):
        fig.savefig(out, dpi=90)
    else:
        fig.savefig(out, format="svg", metadata={"Date": None})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

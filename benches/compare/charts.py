"""Charts for BENCHMARKS.md sections: chart.py run under matplotlib in target/bench-venv (made
on first use, pip from PyPI), SVG files under docs/bench beside the report."""

import json
import os
import subprocess
import tempfile

import bench


def draw(args, rel_path, title, panels, columns=2):
    """Draws `panels` (dicts: title, xlabel, ylabel, series {client: [[x, y], ...]}, xlog,
    ylog) into `rel_path` beside `args.out`. Returns None or why no chart was drawn."""
    if not any(p["series"] for p in panels):
        return "no cells were measured"
    try:
        py = chart_python()
    except (OSError, subprocess.CalledProcessError) as e:
        return "matplotlib could not be installed: %s" % e
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"title": title, "panels": panels, "columns": columns}, f)
    try:
        out = os.path.join(os.path.dirname(os.path.abspath(args.out)), rel_path)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.check_call([py, os.path.join(bench.ROOT, "benches", "compare", "chart.py"), f.name, out])
    except (OSError, subprocess.CalledProcessError) as e:
        return "chart.py failed: %s" % e
    finally:
        os.unlink(f.name)
    return None


def link(why, rel_path, alt):
    """The markdown line under a section's heading: the chart, or why there is none."""
    return ("Chart not drawn: %s.\n" % why) if why else "![%s](%s)\n" % (alt, rel_path)


def chart_python():
    """target/bench-venv's python with benches/compare/requirements-chart.txt installed."""
    venv = os.path.join(bench.ROOT, "target", "bench-venv")
    py = os.path.join(venv, "bin", "python")
    req = os.path.join(bench.ROOT, "benches", "compare", "requirements-chart.txt")
    ready = os.path.exists(py) and subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode == 0
    if not ready:
        bench.log("installing matplotlib into %s" % venv)
        subprocess.check_call(["python3", "-m", "venv", venv])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r", req])
    return py

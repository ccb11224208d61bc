"""Measured cells kept on disk, so that a full `scripts/bench` run (hours on 2 cores) survives
being stopped and goes on with `--resume` where it stopped.

A cell (one broker, every client's runs, their medians) is appended to
target/bench-runs/<tree>-<options>.jsonl as soon as it is measured; its key names everything the cell
varies (broker, partitions, size, count, flags, repeats). <tree> names the git trees of the code
that runs in a measurement: ferrokafka, the peers' harnesses, their locked dependencies, the
scripts that start brokers. A run resumes only on that exact code, and a change to any of it
starts a new file. <options> names the run's command-line choices (sections, brokers, clients,
counts, repeats): a quick check of one cell neither replaces nor feeds a full run. The Python that writes the report is not part of it: a resumed run may
write a better report from the same measurements. With uncommitted changes in those paths
nothing is kept (there is no tree to name), and `--resume` is refused.
"""

import hashlib
import json
import os
import subprocess
import time

# The code that runs in a measurement, as paths in the repository.
MEASURED_PATHS = ("src", "benches/compare/src", "benches/compare/Cargo.toml", "benches/compare/go",
                  "benches/compare/java", "scripts/kafka", "scripts/broker", "tests/java", "Cargo.toml",
                  "Cargo.lock")


def tree_key(root):
    """A short hash of the committed trees of MEASURED_PATHS, or (None, why) when they have
    uncommitted changes or git is unavailable."""
    try:
        dirty = subprocess.check_output(["git", "status", "--porcelain", "--"] + list(MEASURED_PATHS),
                                        cwd=root, text=True, stderr=subprocess.DEVNULL).strip()
        if dirty:
            return None, "uncommitted changes in " + ", ".join(sorted({l[3:].split("/")[0] for l in dirty.splitlines()}))
        ids = subprocess.check_output(["git", "rev-parse"] + ["HEAD:" + p for p in MEASURED_PATHS],
                                      cwd=root, text=True, stderr=subprocess.DEVNULL).split()
    except (OSError, subprocess.CalledProcessError) as e:
        return None, "git: %s" % e
    return hashlib.sha1(" ".join(ids).encode()).hexdigest()[:12], None


def result_to_json(r):
    d = {"fields": r.fields, "cpu": r.cpu, "rss_mb": r.rss_mb, "na": r.na, "note": r.note, "hwm_mb": r.hwm_mb}
    for extra in ("runs", "broker_cpu"):
        if hasattr(r, extra):
            d[extra] = getattr(r, extra)
    return d


def result_from_json(result_cls, d):
    r = result_cls(d["fields"], d["cpu"], d["rss_mb"], d["na"])
    r.note, r.hwm_mb = d["note"], d["hwm_mb"]
    for extra in ("runs", "broker_cpu"):
        if extra in d:
            setattr(r, extra, d[extra])
    return r


class Store:
    """The cells of this run: those measured now and, with `--resume`, those an earlier
    invocation on the same tree measured. Without a tree (uncommitted changes) it keeps
    nothing and every cell is measured."""

    def __init__(self, root, result_cls, resume, log, options):
        """`options`: a string of the run's choices that shape its cells (see the module doc)."""
        self.result_cls = result_cls
        self.log = log
        self.cells = {}
        # Seconds the reused cells took when they were measured (the report's run time counts them).
        self.reused_seconds = 0.0
        self.invocations = 1
        key, why = tree_key(root)
        if key is None:
            if resume:
                raise SystemExit("--resume: nothing to resume from (%s)" % why)
            log("runs are not kept for --resume: %s" % why)
            self.path = None
            return
        self.tree = key
        runs = os.path.join(root, "target", "bench-runs")
        os.makedirs(runs, exist_ok=True)
        self.path = os.path.join(runs, "%s-%s.jsonl" % (key, hashlib.sha1(options.encode()).hexdigest()[:8]))
        if resume and os.path.exists(self.path):
            with open(self.path) as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        # A line cut short by a stop in the middle of its write: that cell is measured again.
                        continue
                    if entry.get("invocation"):
                        self.invocations += 1
                    elif "cell" in entry:
                        self.cells[entry["cell"]] = entry
            log("resuming %s: %d cells measured by %d earlier invocation(s)" % (
                self.path, len(self.cells), self.invocations - 1))
        elif os.path.exists(self.path):
            os.replace(self.path, self.path + ".replaced")
        self._append({"invocation": time.time()})

    def _append(self, entry):
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def cell(self, key, clients, measure):
        """{client: Result} of the cell `key` (a JSON-able list naming everything the cell varies):
        the stored one when every client in `clients` has a result there, else `measure()`'s,
        stored before it is returned."""
        k = json.dumps(key)
        hit = self.cells.get(k)
        if hit and all(c in hit["results"] for c in clients):
            self.log("  (measured earlier on this tree: %s)" % k)
            self.reused_seconds += hit["seconds"]
            return {c: result_from_json(self.result_cls, hit["results"][c]) for c in clients}
        start = time.time()
        results = measure()
        entry = {"cell": k, "seconds": time.time() - start,
                 "results": {c: result_to_json(r) for c, r in results.items()}}
        self.cells[k] = entry
        self._append(entry)
        return results

    def section_done(self, name):
        """Whether a section that writes its own part of BENCHMARKS.md (security, share) was
        completed on this tree: its text is already there."""
        return json.dumps(["section", name]) in self.cells

    def mark_section(self, name):
        k = json.dumps(["section", name])
        entry = {"cell": k, "seconds": 0.0, "results": {}}
        self.cells[k] = entry
        self._append(entry)

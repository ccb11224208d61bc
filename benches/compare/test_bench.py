"""Unit tests of the bench harness's pure parts: the kept cells behind `--resume` (store.py)
and the goal table (goals.py). Run by scripts/test:
python3 -m unittest discover -s benches/compare -p 'test_*.py'"""

import argparse
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402
import goals  # noqa: E402
import store  # noqa: E402


def git(repo, *args):
    subprocess.check_call(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def result(seconds, records=1_000_000, cpu=0.5):
    return bench.Result({"records": str(records), "bytes": str(records * 100), "seconds": str(seconds)}, cpu, 20.0)


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = self.tmp.name
        git(self.repo, "init", "-q")
        for p in store.MEASURED_PATHS:
            path = os.path.join(self.repo, p)
            if "." in os.path.basename(p):
                os.makedirs(os.path.dirname(path) or self.repo, exist_ok=True)
            else:
                os.makedirs(path, exist_ok=True)
                path = os.path.join(path, "f")
            with open(path, "w") as f:
                f.write(p)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", "c")
        self.calls = 0

    def tearDown(self):
        self.tmp.cleanup()

    def open(self, resume, options="full"):
        return store.Store(self.repo, bench.Result, resume, lambda msg: None, options)

    def measure(self):
        self.calls += 1
        r = result(2.0)
        r.runs = [400.0, 500.0]
        r.note = "no idempotence (unsupported)"
        return {"ferrokafka": r, "rdkafka": bench.Result(na="failed: x")}

    def test_a_resumed_run_reuses_the_cells_measured_before_and_measures_the_rest(self):
        s = self.open(False)
        s.cell(["produce", "mock", 1], ["ferrokafka", "rdkafka"], self.measure)
        self.assertEqual(self.calls, 1)
        s = self.open(True)
        got = s.cell(["produce", "mock", 1], ["ferrokafka", "rdkafka"], self.measure)
        self.assertEqual(self.calls, 1)
        self.assertEqual(got["ferrokafka"].rate(), 500_000.0)
        self.assertEqual(got["ferrokafka"].runs, [400.0, 500.0])
        self.assertEqual(got["ferrokafka"].note, "no idempotence (unsupported)")
        self.assertEqual(got["rdkafka"].na, "failed: x")
        self.assertEqual(s.invocations, 2)
        s.cell(["produce", "mock", 8], ["ferrokafka", "rdkafka"], self.measure)
        self.assertEqual(self.calls, 2)
        # A client the stored cell did not run is measured: the cell is run again.
        s.cell(["produce", "mock", 1], ["ferrokafka", "java"], lambda: {"ferrokafka": result(1.0), "java": result(3.0)})
        self.assertEqual(self.calls, 2)

    def test_a_new_run_or_other_options_or_other_code_start_afresh(self):
        self.open(False).cell(["c"], ["ferrokafka"], self.measure)
        self.open(True, options="quick").cell(["c"], ["ferrokafka"], self.measure)
        self.assertEqual(self.calls, 2)
        self.open(False).cell(["c"], ["ferrokafka"], self.measure)
        self.assertEqual(self.calls, 3)
        with open(os.path.join(self.repo, "src", "f"), "a") as f:
            f.write("changed")
        git(self.repo, "commit", "-qam", "change")
        self.open(True).cell(["c"], ["ferrokafka"], self.measure)
        self.assertEqual(self.calls, 4)

    def test_uncommitted_code_keeps_nothing_and_cannot_resume(self):
        with open(os.path.join(self.repo, "src", "f"), "a") as f:
            f.write("dirty")
        s = self.open(False)
        self.assertIsNone(s.path)
        s.cell(["c"], ["ferrokafka"], self.measure)
        self.assertEqual(self.calls, 1)
        self.assertFalse(os.path.exists(os.path.join(self.repo, "target", "bench-runs")))
        with self.assertRaises(SystemExit):
            self.open(True)

    def test_a_line_cut_short_by_a_stop_is_measured_again(self):
        s = self.open(False)
        s.cell(["a"], ["ferrokafka"], self.measure)
        s.cell(["b"], ["ferrokafka"], self.measure)
        with open(s.path) as f:
            text = f.read()
        with open(s.path, "w") as f:
            f.write(text[:-40])
        s = self.open(True)
        s.cell(["a"], ["ferrokafka"], self.measure)
        s.cell(["b"], ["ferrokafka"], self.measure)
        self.assertEqual(self.calls, 3)

    def test_sections_marked_done_are_skipped_on_resume_only(self):
        s = self.open(False)
        self.assertFalse(s.section_done("share"))
        s.mark_section("share")
        self.assertTrue(self.open(True).section_done("share"))
        self.assertFalse(self.open(False).section_done("share"))


class ReportTest(unittest.TestCase):
    def test_the_generated_tables_are_replaced_and_what_follows_them_is_kept(self):
        old = ("# Client benchmarks\n\n## Producer throughput\n\n| old |\n\n"
               "## Goals: what bounds the misses\n\nhand-written\n\n"
               "## Producer memory against a slow broker\n\nscripts/bench-memory\n")
        self.assertEqual(bench.kept_tail(old), "\n" + old[old.index("## Goals: what"):])
        no_analysis = old.replace("## Goals: what bounds the misses\n\nhand-written\n\n", "")
        self.assertEqual(bench.kept_tail(no_analysis), "\n## Producer memory against a slow broker\n\nscripts/bench-memory\n")
        self.assertEqual(bench.kept_tail("# Client benchmarks\n\n## Producer throughput\n"), "")

    def test_a_section_is_replaced_up_to_the_next_one_or_appended(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "B.md")
            with open(path, "w") as f:
                f.write("# B\n\n## Goals, read from this run\n\npending\n\n## Peer comparison (mock)\n\nx\n")
            bench.write_section(path, "## Goals, read from this run", ["## Goals, read from this run", "", "| a | b |"])
            bench.write_section(path, "## Scaling", ["## Scaling", "", "curve"])
            with open(path) as f:
                self.assertEqual(f.read(), "# B\n\n## Goals, read from this run\n\n| a | b |\n\n"
                                           "## Peer comparison (mock)\n\nx\n\n## Scaling\n\ncurve\n")


class ProduceCellTest(unittest.TestCase):
    """What a producer cell runs, in order, with the broker and the clients replaced."""

    def run_cell(self, broker_kind):
        calls = []

        class Broker:
            bootstrap = "b:1"

            def stop(self):
                calls.append(("stop",))

        saved = (bench.start_broker, bench.measure_or_fallback, bench.STORE)

        class NoStore:
            def cell(self, key, clients, measure):
                calls.append(("key", key[-1]))
                return measure()

        def fake_measure(client, argv, timeout):
            calls.append(("warm", argv[argv.index("--topic") + 1], argv[argv.index("--count") + 1]))
            return result(1.0)

        bench.start_broker = lambda kind, discard, topics: Broker()
        bench.measure_or_fallback = fake_measure
        bench.STORE = NoStore()
        try:
            args = argparse.Namespace(repeat=2, timeout=10)
            bench.produce_medians(args, broker_kind, "sp-1000", 1000, 100, 500_000, ["ferrokafka", "rdkafka"],
                                  run=lambda client, argv: calls.append(("run", client)) or result(1.0))
        finally:
            bench.start_broker, bench.measure_or_fallback, bench.STORE = saved
        return calls

    def test_a_real_broker_has_every_topic_written_before_the_first_timed_run(self):
        calls = self.run_cell("kafka")
        self.assertEqual(calls[0], ("key", "warm topics"))
        self.assertEqual(calls[1:4], [("warm", "sp-1000-ferrokafka", "100000"), ("warm", "sp-1000-rdkafka", "100000"),
                                     ("run", "ferrokafka")])
        self.assertEqual([c for c in calls if c[0] == "run"], [("run", "ferrokafka"), ("run", "rdkafka")] * 2)
        self.assertEqual(calls[-1], ("stop",))
        self.assertIn(("key", "warm topics"), calls)

    def test_the_mock_needs_no_warm_up(self):
        calls = self.run_cell("mock")
        self.assertFalse([c for c in calls if c[0] == "warm"])
        self.assertNotIn(("key", "warm topics"), calls)


class GoalsTest(unittest.TestCase):
    def args(self):
        return argparse.Namespace(quick=False)

    def test_producer_ratios_count_cells_and_name_the_lowest_per_peer(self):
        results = {}
        cells = [c for c in bench.producer_cells(False, "mock") if c[0] == 100]
        for i, cell in enumerate(cells):
            results[("produce", "mock", cell, "ferrokafka")] = result(1.0, cpu=0.35 if cell[4] == "none" else 0.6)
            results[("produce", "mock", cell, "rdkafka")] = result(2.0)
            # franz-go as fast as ours in the first cell only.
            results[("produce", "mock", cell, "franzgo")] = result(1.0 if i == 0 else 1.6)
        rows = dict(goals.rows(self.args(), ["ferrokafka", "rdkafka", "franzgo"], ["mock"], results))
        ratio = rows["producer >= 1.5x every peer at 100 B (mock)"]
        self.assertTrue(ratio.startswith("**not met**: %d of %d peer cells" % (2 * len(cells) - 1, 2 * len(cells))), ratio)
        self.assertIn("franzgo 1.00x (100 B, 1 part, acks=1, none)", ratio)
        self.assertIn("rdkafka 2.00x", ratio)
        self.assertTrue(rows["producer <= 0.4 CPU s per million at 100 B, uncompressed (mock)"].startswith("**met**"))
        lz = rows["producer <= 0.5 CPU s per million at 100 B, lz4/zstd (mock)"]
        self.assertTrue(lz.startswith("**not met** in 8 of 8 cells"), lz)
        self.assertEqual(rows["consumer >= 1.5x every peer at 100 B and 1 KB (mock)"], "not measured in this run")

    def test_latency_goals(self):
        results = {}
        for c, p99 in (("ferrokafka", "0.80"), ("rdkafka", "1.20")):
            r = bench.Result({"p99_ms": p99})
            results[("latency", "mock", 1000, c)] = r
            results[("latency", "kafka", 1000, c)] = r
        results[("latency", "kafka", 10000, "ferrokafka")] = bench.Result({"p99_ms": "3.0"})
        results[("latency", "kafka", 10000, "rdkafka")] = bench.Result({"p99_ms": "2.0"})
        rows = dict(goals.rows(self.args(), ["ferrokafka", "rdkafka"], ["mock", "kafka"], results))
        self.assertEqual(rows["p99 <= 1 ms at 1k records/s (mock)"], "**met**: p99 0.80 ms")
        self.assertTrue(rows["lowest p99 of all clients at 1,000 records/s (kafka)"].startswith("**met**"))
        self.assertEqual(rows["lowest p99 of all clients at 10,000 records/s (kafka)"],
                         "**not met**: ours 3.00 ms; lowest rdkafka 2.00 ms")


if __name__ == "__main__":
    unittest.main()

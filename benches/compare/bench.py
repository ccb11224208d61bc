#!/usr/bin/env python3
"""Runs the side-by-side client benchmark matrix and writes BENCHMARKS.md.

Every client is its own process with the same flags (target/release/bench-<client> for the Rust
clients; the Java and franz-go peers built on demand into target/bench-peers); this script
builds those peers, starts the brokers, preloads topics for consumer runs, measures each child's CPU time
and peak RSS from outside (wait4 rusage), and writes the tables. Invoked by scripts/bench.
"""

import argparse
import datetime
import functools
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# The section modules (charts, curves, scaling, security, share) `import bench`: run as a
# script, this file must be that module, not a second copy with its own NOT_BUILT and caches.
if __name__ == "__main__":
    sys.modules["bench"] = sys.modules[__name__]

import charts  # noqa: E402
import goals  # noqa: E402
import store  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release")
PEERS = os.path.join(ROOT, "target", "bench-peers")
CLIENTS = ["ferrokafka", "rdkafka", "krafka", "rskafka", "java", "franzgo"]
UNSUPPORTED_EXIT = 3
FULL_ONLY = "produce,consume,latency,sizes,producers,groups,scaling,security,share"
QUICK_ONLY = "produce,consume,latency,sizes"
# The record-size and partition curves: Apache Kafka with 3 replicating brokers on the 2 cores
# would measure the brokers' replication, not the client, and take hours at 1,000 partitions.
CURVE_BROKERS = ("mock", "kafka")
# Peers that could not be built on this machine: client -> why (every cell shows it as n/a).
NOT_BUILT = {}
# The cells measured in this run (store.Store, opened by main): every section measures through it.
STORE = None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Result:
    def __init__(self, fields=None, cpu=0.0, rss_mb=0.0, na=None):
        self.fields = fields or {}
        self.cpu = cpu
        self.rss_mb = rss_mb
        self.na = na
        self.note = None
        # Peak RSS of the client's own address space (VmHWM sampled while it ran), MB. Unlike
        # rss_mb it has no floor: a child's ru_maxrss starts at the forking Python's RSS.
        self.hwm_mb = 0.0

    @property
    def records(self):
        return int(self.fields.get("records", 0))

    def rate(self):
        return self.records / float(self.fields["seconds"])

    def mbs(self):
        return int(self.fields["bytes"]) / float(self.fields["seconds"]) / 1e6

    def cpu_per_m(self):
        """Process CPU over every record the process handled: the timed ones and those of an
        untimed warm-up the client reports (the Java peer's JIT warm-up, `warmup_records`)."""
        n = self.records + int(self.fields.get("warmup_records", 0))
        return self.cpu / n * 1e6 if n else float("nan")


def measure_or_fallback(client, args, timeout):
    """Runs a cell; a client without an idempotent producer (rskafka) runs it with idempotence
    off, and the result says so."""
    r = measure(client, args, timeout)
    if r.na and "idempot" in r.na and "--idempotence" in args:
        i = args.index("--idempotence")
        if args[i + 1] == "true":
            args = args[:i + 1] + ["false"] + args[i + 2:]
            r = measure(client, args, timeout)
            r.note = "no idempotence (unsupported)"
    return r


@functools.lru_cache(maxsize=None)
def kafka_libs():
    return subprocess.check_output([os.path.join(ROOT, "scripts", "kafka"), "path"], text=True).strip()


def build_java():
    """javac benches/compare/java/JavaBench.java against the pinned Apache Kafka's kafka-clients
    (scripts/kafka's libs folder) into target/bench-peers/java. Returns None or why not."""
    for tool in ("java", "javac"):
        if not shutil.which(tool):
            return "%s not found (Debian: apt-get install openjdk-17-jdk-headless)" % tool
    try:
        libs = kafka_libs()
    except (OSError, subprocess.CalledProcessError) as e:
        return "no Apache Kafka jars (scripts/kafka install): %s" % e
    out = os.path.join(PEERS, "java")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(ROOT, "benches", "compare", "java", "JavaBench.java")
    r = subprocess.run(["javac", "-encoding", "UTF-8", "--release", "17", "-nowarn", "-d", out,
                        "-cp", libs + "/*", src], capture_output=True, text=True)
    if r.returncode != 0:
        return "javac failed: " + " / ".join(r.stderr.strip().splitlines()[-3:])
    return None


def build_franzgo():
    """go build of benches/compare/go (modules through the Go module proxy, go.sum pinned) into
    target/bench-peers/bench-franzgo. Returns None or why not."""
    if not shutil.which("go"):
        return "go not found (a Go toolchain, 1.26 or newer, is needed to build it)"
    r = subprocess.run(["go", "build", "-o", os.path.join(PEERS, "bench-franzgo"), "."],
                       cwd=os.path.join(ROOT, "benches", "compare", "go"), capture_output=True, text=True)
    if r.returncode != 0:
        return "go build failed: " + " / ".join(r.stderr.strip().splitlines()[-3:])
    return None


def build_peers(clients):
    """Builds the non-Rust peers among `clients`; one that cannot be built is reported on stderr
    and in every one of its cells ("not built: why"), never skipped silently."""
    for client, build in (("java", build_java), ("franzgo", build_franzgo)):
        if client in clients:
            log("building peer %s" % client)
            why = build()
            if why:
                NOT_BUILT[client] = "not built: " + why
                log("  %s: %s" % (client, NOT_BUILT[client]))


def client_cmd(client):
    if client == "java":
        # -Xmx1g: the heap every other peer could grow to on this machine, and far above what
        # the runs need; log4j2 config: client warnings to stderr, stdout keeps the RESULT line.
        return ["java", "-Xmx1g", "-Dlog4j2.configurationFile=" + os.path.join(ROOT, "tests", "java", "log4j2.properties"),
                "-cp", kafka_libs() + "/*:" + os.path.join(PEERS, "java"), "JavaBench"]
    if client == "franzgo":
        return [os.path.join(PEERS, "bench-franzgo")]
    return [os.path.join(BIN, "bench-" + client)]


def measure(client, args, timeout):
    if client in NOT_BUILT:
        log("  %s: %s" % (client, NOT_BUILT[client]))
        return Result(na=NOT_BUILT[client])
    cmd = client_cmd(client) + args
    log("  $ bench-%s %s" % (client, " ".join(args)))
    out_f = tempfile.TemporaryFile(mode="w+")
    err_f = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(cmd, stdout=out_f, stderr=err_f)
    deadline = time.time() + timeout
    status, rusage = None, None
    hwm_kb = 0
    while True:
        hwm_kb = max(hwm_kb, vm_hwm_kb(p.pid))
        pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
        if pid != 0:
            break
        if time.time() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            return Result(na="did not finish within %d s" % timeout)
        # Finer at first: a short run's VmHWM must be read at least once before it exits.
        time.sleep(0.002 if time.time() - deadline + timeout < 0.2 else 0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    out, err = out_f.read(), err_f.read()
    if p.returncode == UNSUPPORTED_EXIT:
        m = re.search(r"UNSUPPORTED (.*)", err)
        return Result(na=m.group(1).strip() if m else "unsupported")
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if p.returncode != 0 or line is None:
        tail = " / ".join(err.strip().splitlines()[-3:]).replace("|", "/")
        log("    failed (exit %s): %s" % (p.returncode, tail))
        return Result(na="failed: " + (tail[:120] or "exit %s" % p.returncode))
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    cpu = rusage.ru_utime + rusage.ru_stime
    r = Result(fields, cpu, rusage.ru_maxrss / 1024.0)
    r.hwm_mb = hwm_kb / 1024.0
    log("    %s" % line)
    return r


def vm_hwm_kb(pid):
    """The process's peak RSS so far (kB, /proc VmHWM; 0 once it has exited)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MockBroker:
    def __init__(self, discard, topics):
        args = [os.path.join(BIN, "bench-mock-broker")]
        if discard:
            args.append("--discard")
        for name, parts in topics:
            args += ["--topic", "%s:%d" % (name, parts)]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        self.bootstrap = line.split()[1]

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


class Nisshi:
    def __init__(self):
        self.bin = subprocess.check_output([os.path.join(ROOT, "scripts", "broker"), "path"], text=True).strip()
        self.dir = tempfile.mkdtemp(prefix="bench-nisshi-")
        port = free_port()
        self.bootstrap = "127.0.0.1:%d" % port
        url = "tcp://" + self.bootstrap
        self.url = url
        self.p = subprocess.Popen(
            [self.bin, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://nisshi/"],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nisshi did not start")

    def create(self, name, parts):
        subprocess.check_call([self.bin, "topic", "create", name, "--broker", self.url,
                               "--partitions", str(parts)], cwd=self.dir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def median(runs):
    """The run with the median records/s (a failed run counts as the slowest)."""
    ok = sorted((r for r in runs if not r.na), key=lambda r: r.rate())
    if not ok:
        return runs[0]
    if len(ok) < len(runs):
        return runs[[r.na is not None for r in runs].index(True)]
    m = ok[(len(ok) - 1) // 2]
    m.runs = [r.rate() for r in ok]
    return m


class Kafka:
    """A single-node Apache Kafka (KRaft) started through `scripts/kafka node`, data in a temp dir."""

    def __init__(self, node_args=lambda port, cport: []):
        """`node_args(port, cport)`: more `scripts/kafka node` options (listeners, --prop)."""
        self.dir = tempfile.mkdtemp(prefix="bench-kafka-")
        port, cport = free_port(), free_port()
        self.bootstrap = "127.0.0.1:%d" % port
        self.log = open(os.path.join(self.dir, "broker.log"), "w")
        self.p = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "kafka"), "node", "--dir", self.dir, "--node-id", "1",
             "--port", str(port), "--controller-port", str(cport), "--voters", "1@127.0.0.1:%d" % cport]
            + node_args(port, cport),
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(1200):
            if "Kafka Server started" in open(os.path.join(self.dir, "broker.log")).read():
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("Apache Kafka did not start (log %s/broker.log)" % self.dir)

    def create(self, name, parts):
        libs = subprocess.check_output([os.path.join(ROOT, "scripts", "kafka"), "path"], text=True).strip()
        subprocess.check_call(
            ["java", "-cp", libs + "/*", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
             self.bootstrap, "--create", "--topic", name, "--partitions", str(parts)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Kafka3:
    """Apache Kafka with 3 brokers and 1 KRaft controller (as tests/common's TestCluster), topics
    created with replication factor 3 and min.insync.replicas=2: acks=all waits for followers."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-kafka3-")
        cport = free_port()
        common = ["--voters", "100@127.0.0.1:%d" % cport, "--cluster-id", "MkU3OEVBNTcwNTJENDM2Qg"]
        for prop in ("default.replication.factor=3", "min.insync.replicas=2",
                     "offsets.topic.replication.factor=3", "transaction.state.log.replication.factor=3",
                     "transaction.state.log.min.isr=2", "share.coordinator.state.topic.replication.factor=3",
                     "share.coordinator.state.topic.min.isr=2"):
            common += ["--prop", prop]
        self.nodes = []  # (process, log path)
        self.start_node("controller", ["--node-id", "100", "--controller-port", str(cport),
                                       "--roles", "controller"] + common)
        ports = []
        for i in (1, 2, 3):
            port = free_port()
            ports.append(port)
            self.start_node("broker%d" % i, ["--node-id", str(i), "--port", str(port), "--roles", "broker"]
                            + common)
        self.bootstrap = ",".join("127.0.0.1:%d" % p for p in ports)
        for _ in range(1800):
            logs = [open(path).read() for _, path, _ in self.nodes]
            if all("Kafka Server started" in text for text in logs):
                return
            if any(p.poll() is not None for p, _, _ in self.nodes):
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("Apache Kafka (3 brokers) did not start (logs in %s)" % self.dir)

    def start_node(self, name, node_args):
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        path = os.path.join(d, "node.log")
        f = open(path, "w")
        p = subprocess.Popen([os.path.join(ROOT, "scripts", "kafka"), "node", "--dir", d] + node_args,
                             stdout=f, stderr=subprocess.STDOUT)
        self.nodes.append((p, path, f))

    def create(self, name, parts):
        subprocess.check_call(
            ["java", "-cp", kafka_libs() + "/*", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
             self.bootstrap, "--create", "--topic", name, "--partitions", str(parts),
             "--replication-factor", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        # Brokers first, all at once, while the controller still runs: a broker's controlled
        # shutdown waits for the controller, and would hang until killed without it.
        brokers, controller = self.nodes[1:], self.nodes[:1]
        for group in (brokers, controller):
            for p, _, _ in group:
                p.terminate()
            for p, _, f in group:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                f.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_broker(kind, discard, topics):
    """A fresh broker with `topics` ((name, partitions)) created."""
    if kind == "mock":
        return MockBroker(discard, topics)
    b = {"kafka": Kafka, "kafka3": Kafka3, "nisshi": Nisshi}[kind]()
    for name, parts in topics:
        b.create(name, parts)
    return b


# The producer settings of every curve cell (the main table varies acks and compression).
CURVE_PRODUCER = ["--acks", "all", "--idempotence", "true", "--compression", "none", "--linger-ms", "5",
                  "--batch-size", "1048576"]


def produce_medians(args, broker_kind, prefix, parts, size, count, clients, flags=CURVE_PRODUCER,
                    run=None):
    """One producer cell: a topic per client (`prefix-client`) of `parts` partitions on a fresh
    discard broker, `args.repeat` runs per client interleaved. `run(client, argv)` measures one
    (default: measure_or_fallback within `--timeout`). Returns {client: median run}."""
    run = run or (lambda client, argv: measure_or_fallback(client, argv, args.timeout))

    def cell():
        topics = {c: "%s-%s" % (prefix, c) for c in clients}
        broker = start_broker(broker_kind, True, [(t, parts) for t in topics.values()])
        try:
            if broker_kind != "mock":
                warm_topics(args, broker, topics.values(), parts, size, flags)
            runs = {c: [] for c in clients}
            for _ in range(args.repeat):
                for client in clients:
                    runs[client].append(run(client, [
                        "produce", "--bootstrap", broker.bootstrap, "--topic", topics[client], "--partitions",
                        str(parts), "--size", str(size), "--count", str(count)] + flags))
            return {c: median(runs[c]) for c in clients}
        finally:
            broker.stop()

    key = ["produce", broker_kind, prefix, parts, size, count, list(flags), args.repeat]
    return STORE.cell(key + ([] if broker_kind == "mock" else ["warm topics"]), clients, cell)


def warm_topics(args, broker, topics, parts, size, flags):
    """Untimed ferrokafka runs into each topic of a fresh Apache Kafka before a producer cell.
    A new broker leads new partitions late (the first client got NOT_LEADER_OR_FOLLOWER for
    seconds) and is slow on its first appends to each: at 1,000 partitions the first client's
    first run took 16.6 s where its fourth took 1.7 s, and clients run in a fixed order, so the
    one going first paid for the broker's start."""
    count = max(100 * parts, min(100_000, 50_000_000 // size))
    for topic in topics:
        measure_or_fallback("ferrokafka", [
            "produce", "--bootstrap", broker.bootstrap, "--topic", topic, "--partitions", str(parts),
            "--size", str(size), "--count", str(count)] + list(flags), args.timeout)


def consume_medians(args, broker_kind, topic, parts, size, count, clients, run=None, timeout=None):
    """One consumer cell: `topic` of `parts` partitions preloaded by ferrokafka (`count` records
    of `size`) on a fresh keeping broker, then `args.repeat` interleaved runs per client.
    Returns {client: median run}."""
    timeout = timeout or args.timeout
    run = run or (lambda client, argv: measure(client, argv, timeout))

    def cell():
        broker = start_broker(broker_kind, False, [(topic, parts)])
        try:
            pre = measure("ferrokafka", ["produce", "--bootstrap", broker.bootstrap, "--topic", topic,
                                         "--partitions", str(parts), "--size", str(size), "--count", str(count),
                                         "--acks", "all"], timeout)
            if pre.na:
                raise RuntimeError("preload failed: " + pre.na)
            runs = {c: [] for c in clients}
            for _ in range(args.repeat):
                for client in clients:
                    runs[client].append(run(client, [
                        "consume", "--bootstrap", broker.bootstrap, "--topic", topic, "--partitions", str(parts),
                        "--size", str(size), "--count", str(count)]))
            return {c: median(runs[c]) for c in clients}
        finally:
            broker.stop()

    return STORE.cell(["consume", broker_kind, topic, parts, size, count, args.repeat], clients, cell)


def producer_cells(quick, broker="mock"):
    cells = []
    for size in (100, 1000):
        for parts in (1, 8):
            for acks, idem in (("1", "false"), ("all", "true")):
                for comp in ("none", "lz4", "zstd"):
                    cells.append((size, parts, acks, idem, comp))
    if quick:
        cells = [c for c in cells if c[0] == 100 and c[2] == "all" and c[4] == "none"]
    if broker == "kafka3":
        # The replicated cluster is there for acks=all (acks=1 would not wait for a follower).
        cells = [c for c in cells if c[2] == "all"]
    return cells


def count_for(size, args):
    return args.count if size <= 100 else max(1, args.count // 5)


def run_produce(args, broker_kind, clients, results):
    for cell in producer_cells(args.quick, broker_kind):
        size, parts, acks, idem, comp = cell
        count = count_for(size, args)
        log("produce %s: %d B x %d, %d partitions, acks=%s idempotence=%s %s" % (
            broker_kind, size, count, parts, acks, idem, comp))
        medians = produce_medians(args, broker_kind, "p-%d-%d-%s-%s" % (size, parts, acks, comp), parts, size,
                                  count, clients, ["--acks", acks, "--idempotence", idem, "--compression", comp,
                                                   "--linger-ms", "5", "--batch-size", "1048576"])
        for client, r in medians.items():
            results[("produce", broker_kind, cell, client)] = r


def consumer_cells(quick):
    cells = [(100, 1), (100, 8), (1000, 8)]
    return cells[1:2] if quick else cells


def run_consume(args, broker_kind, clients, results):
    for cell in consumer_cells(args.quick):
        size, parts = cell
        count = count_for(size, args)
        log("consume %s: %d B x %d, %d partitions" % (broker_kind, size, count, parts))
        medians = consume_medians(args, broker_kind, "c-%d-%d" % (size, parts), parts, size, count, clients)
        for client, r in medians.items():
            results[("consume", broker_kind, cell, client)] = r


def latency_cells(quick):
    return [1000] if quick else [1000, 10000, 100000]


def run_latency(args, broker_kind, clients, results):
    for rate in latency_cells(args.quick):
        log("latency %s: %d records/s" % (broker_kind, rate))
        topics = {c: "l-%s-%d" % (c, rate) for c in clients}
        warmup = "l-warmup-%d" % rate

        def cell():
            broker = start_broker(broker_kind, True, [(t, 1) for t in list(topics.values()) + [warmup]])

            def run(client, topic, seconds):
                return measure_or_fallback(client, [
                    "latency", "--bootstrap", broker.bootstrap, "--topic", topic, "--partitions", "1", "--size",
                    "100", "--rate", str(rate), "--seconds", str(seconds), "--acks", "all", "--idempotence",
                    "true", "--linger-ms", "0"], args.timeout)

            try:
                # A fresh Apache Kafka is still compiling its produce and replication paths: the
                # first client measured on it had a p99 of 1 s where it had 23 ms once the
                # broker was warm (3 brokers, 1,000 records/s). An untimed run at the same rate
                # warms it, so no client pays for going first.
                run("ferrokafka", warmup, max(args.latency_seconds, 5))
                return {client: run(client, topics[client], args.latency_seconds) for client in clients}
            finally:
                broker.stop()

        key = ["latency", broker_kind, rate, args.latency_seconds, "warm broker"]
        for client, r in STORE.cell(key, clients, cell).items():
            results[("latency", broker_kind, rate, client)] = r


# ---------------------------------------------------------------- report

def fmt_rate(r):
    return "n/a" if r.na else "{:,.0f}".format(r.rate())


def ratio(results, key_fk, key_other, better_high=True):
    a, b = results.get(key_fk), results.get(key_other)
    if not a or not b or a.na or b.na:
        return "n/a"
    return "%.2fx" % (a.rate() / b.rate())


def cell_row(r):
    if r is None:
        return ["not run"] * 4
    if r.na:
        return ["n/a: " + r.na, "", "", ""]
    return ["{:,.0f}".format(r.rate()), "%.1f" % r.mbs(), "%.2f" % r.cpu_per_m(), "%.0f" % r.rss_mb]


def timer_jitter():
    """How late a 1 ms sleep wakes up on this machine (ms): the floor under every latency
    percentile below, whatever the client."""
    late = []
    for _ in range(3000):
        t = time.perf_counter()
        time.sleep(0.001)
        late.append((time.perf_counter() - t - 0.001) * 1000)
    late.sort()
    return "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms" % (
        late[len(late) // 2], late[int(len(late) * 0.99)], late[int(len(late) * 0.999)], late[-1])


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return "%s, %d cores, %.0f GiB RAM, %s %s" % (cpu, os.cpu_count(), mem, platform.system(), platform.release())


def versions():
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()

    def v(name):
        m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), lock)
        return m.group(1) if m else "?"

    rustc = tool_version(["rustc", "--version"])
    try:
        sha = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    except Exception:
        sha = "?"
    try:
        nb = subprocess.check_output([os.path.join(ROOT, "scripts", "broker"), "path"], text=True,
                                     stderr=subprocess.DEVNULL).strip()
        nisshi = subprocess.check_output([nb, "--version"], text=True, stderr=subprocess.DEVNULL).strip()
    except Exception:
        nisshi = "Nisshi: not installed"
    try:
        libs = subprocess.check_output([os.path.join(ROOT, "scripts", "kafka"), "path"], text=True).strip()
        jar = [f for f in os.listdir(libs) if f.startswith("kafka_2.13-")][0]
        kafka = "Apache Kafka " + jar[len("kafka_2.13-"):-len(".jar")] + " (KRaft, single node, Maven Central jars)"
    except Exception:
        kafka = "Apache Kafka: ?"
    java = "Java client: " + (NOT_BUILT.get("java") or "kafka-clients %s (%s, -Xmx1g)" % (
        kafka.split()[2] if kafka.startswith("Apache Kafka ") else "?", tool_version(["java", "-version"])))
    gomod = open(os.path.join(ROOT, "benches", "compare", "go", "go.mod")).read()
    m = re.search(r"github.com/twmb/franz-go (v\S+)", gomod)
    franzgo = "franz-go: " + (NOT_BUILT.get("franzgo") or "%s (%s)" % (
        m.group(1) if m else "?", tool_version(["go", "version"])))
    tree = getattr(STORE, "tree", None)
    return [
        "ferrokafka %s (git %s%s)" % (v("ferrokafka"), sha, "; measured code: tree %s of `target/bench-runs`" % tree
                                      if tree else ""),
        "rust-rdkafka %s (librdkafka %s, built from source)" % (v("rdkafka"), v("rdkafka-sys").split("+")[-1]),
        "krafka %s" % v("krafka"),
        "rskafka %s" % v("rskafka"),
        java,
        franzgo,
        rustc,
        kafka,
        nisshi,
    ]


def tool_version(cmd):
    """The first line a tool prints about its version (java prints it on stderr)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        return ((r.stdout or r.stderr).strip().splitlines() or ["?"])[0]
    except OSError:
        return "not installed"


# The generated tables end where the first of these begins; it and everything after it (hand-
# written analysis, sections written by other tools and by the curve modules) is kept.
KEPT_SECTIONS = ("## Goals: what bounds the misses", "## Producer memory against a slow broker")


def write_report(path, args, clients, brokers, results, command, elapsed, invocations=1):
    L = []
    w = L.append
    w("# Client benchmarks: ferrokafka vs rust-rdkafka, krafka, rskafka, the Java client, franz-go\n")
    w("Generated by `%s` on %s; these tables took %.0f min%s. Every client ran as its own process with "
      "the same flags (`benches/compare`), one after another on the same broker; CPU seconds and peak "
      "RSS are the client process's own (wait4 rusage), including start-up and warm-up. Throughput "
      "cells: the median of %d runs per client, the clients' runs interleaved.\n" % (
          command, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), elapsed / 60,
          "" if invocations == 1 else " over %d invocations on the same committed code (`--resume`)" % invocations,
          args.repeat))
    w("- Machine: " + machine())
    w("- Scheduling jitter of this machine (a 1 ms sleep's oversleep, measured before writing): "
      + args.jitter + ". No client's latency tail can be below it.")
    for v in versions():
        w("- " + v)
    w("- Brokers: **mock** = ferrokafka's MockCluster in discard mode (acknowledges and drops "
      "produced data, still checking idempotent sequences; measures the client alone), keeping "
      "data for consumer runs; **kafka** = Apache Kafka (single KRaft node, 512 MiB heap), "
      "restarted for every producer cell, each client's topic written untimed by ferrokafka before "
      "the cell's first timed run; **kafka3** = Apache Kafka, 3 brokers and a KRaft "
      "controller, topics with replication factor 3 and min.insync.replicas=2 (acks=all cells "
      "only); **nisshi** = Nisshi (a Kafka-compatible broker, memory "
      "engine; optional). The broker shares the 2 cores with the client.")
    w("- Producer: null keys, record i to partition i %% partitions, values from one pre-generated "
      "pool of 1024 values, linger.ms=5, batch.size=1 MiB, timed from the first send to the last "
      "acknowledgement after an untimed warm-up record per partition. %d records at 100 B, %d at "
      "1 KB." % (args.count, max(1, args.count // 5)))
    w("- Java client (`benches/compare/java/JavaBench.java`, `send` with a callback, `poll`) and "
      "franz-go (`benches/compare/go`, `Produce` with a promise, `PollFetches`) are built by the "
      "bench script (javac, go build). The JVM's start-up counts in its CPU and RSS as every "
      "client's start-up does. Java runs an untimed JIT warm-up on the same topic before timing, as "
      "a long-running Java service is warm (throughput: min(count, 100,000) records, the consumer "
      "then seeks back to offset 0; latency: 20,000 records closed loop); its CPU s / M records "
      "divides the process's CPU by the timed and the warm-up records together.")
    w("- Consumer: manual assignment of every partition from offset 0 (no group), every value byte "
      "read; topics preloaded once by ferrokafka.")
    w("- Latency: open loop at a fixed rate, 100 B, 1 partition, acks=all with idempotence, "
      "linger.ms=0 (linger would add its own delay), %d s measured after 1 s warm-up; latency from "
      "each record's scheduled send time to its acknowledgement. Each rate on a fresh broker, warmed "
      "first by an untimed run at the same rate (a cold Apache Kafka made the first client measured "
      "on it look up to 40x worse).\n" % args.latency_seconds)

    def client_table(title, kind, broker, cells, label):
        w("### %s (%s)\n" % (title, broker))
        w("| cell | client | records/s | MB/s | CPU s / M records | peak RSS MB |")
        w("|---|---|---:|---:|---:|---:|")
        for cell in cells:
            for c in clients:
                r = results.get((kind, broker, cell, c))
                name = c + (" (%s)" % r.note if r is not None and r.note else "")
                w("| %s | %s | %s |" % (label(cell), name, " | ".join(cell_row(r))))
        w("")

    def ratio_table(title, kind, broker, cells, label):
        others = [c for c in clients if c != "ferrokafka"]
        if "ferrokafka" not in clients or not others:
            return
        w("### %s: ferrokafka records/s divided by the peer's (%s)\n" % (title, broker))
        w("| cell | " + " | ".join("vs " + o for o in others) + " |")
        w("|---|" + "---:|" * len(others))
        for cell in cells:
            w("| %s | %s |" % (label(cell), " | ".join(
                ratio(results, (kind, broker, cell, "ferrokafka"), (kind, broker, cell, o)) for o in others)))
        w("")

    w(goals.SECTION + "\n")
    w(goals.PENDING + "\n")
    plabel = lambda c: "%d B, %d part, acks=%s%s, %s" % (c[0], c[1], c[2], " idem" if c[3] == "true" else "", c[4])
    clabel = lambda c: "%d B, %d part" % c
    for b in brokers:
        rel = "docs/bench/peers-%s.svg" % b
        why = peer_chart(args, rel, b, clients, results, plabel, clabel)
        w("## Peer comparison (%s)\n" % b)
        w(charts.link(why, rel, "records/s of every client per cell (%s)" % b))
        if "produce" in args.only:
            w("## Producer throughput\n")
            ratio_table("Producer", "produce", b, producer_cells(args.quick, b), plabel)
            client_table("Producer", "produce", b, producer_cells(args.quick, b), plabel)
        if "consume" in args.only:
            w("## Consumer throughput\n")
            ratio_table("Consumer", "consume", b, consumer_cells(args.quick), clabel)
            client_table("Consumer", "consume", b, consumer_cells(args.quick), clabel)
        if "latency" in args.only:
            w("## Produce latency (%s)\n" % b)
            w("| rate | client | p50 ms | p99 ms | p99.9 ms | max ms | CPU s | peak RSS MB |")
            w("|---|---|---:|---:|---:|---:|---:|---:|")
            for rate in latency_cells(args.quick):
                for c in clients:
                    r = results.get(("latency", b, rate, c))
                    if r is None:
                        continue
                    if r.na:
                        w("| %d/s | %s | n/a: %s | | | | | |" % (rate, c, r.na))
                        continue
                    f = r.fields
                    c = c + (" (%s)" % r.note if r.note else "")
                    w("| %d/s | %s | %s | %s | %s | %s | %.2f | %.0f |" % (
                        rate, c, f["p50_ms"], f["p99_ms"], f["p999_ms"], f["max_ms"], r.cpu, r.rss_mb))
            w("")
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n" + kept_tail(old))


def kept_tail(old):
    """What of the old report follows the generated tables and stays: from the first of
    KEPT_SECTIONS on (with a blank line before it), or nothing."""
    found = [i for i in (old.find(h) for h in KEPT_SECTIONS) if i >= 0]
    return "\n" + old[min(found):] if found else ""


def peer_chart(args, rel, broker, clients, results, plabel, clabel):
    """Grouped bars of records/s per client for the producer and consumer cells of `broker`;
    None or why not drawn."""
    panels = []
    for kind, title, cells, label in (("produce", "Producer", producer_cells(args.quick, broker), plabel),
                                      ("consume", "Consumer", consumer_cells(args.quick), clabel)):
        if kind not in args.only:
            continue
        series = {}
        for c in clients:
            ys = [results.get((kind, broker, cell, c)) for cell in cells]
            ys = [None if r is None or r.na else r.rate() for r in ys]
            if any(y is not None for y in ys):
                series[c] = ys
        panels.append({"title": "%s records/s (%s)" % (title, broker), "ylabel": "records/s",
                       "categories": [label(cell) for cell in cells], "series": series})
    if not panels:
        return "no producer or consumer cells were run"
    return charts.draw(args, rel, "Every client per cell, %s broker (median of %d)" % (broker, args.repeat),
                       panels, columns=1)


def write_section(path, heading, lines):
    """Replaces the section of `path` from `heading` to the next `## `, or appends it: a run of
    one section leaves the generated tables and the other sections as they are."""
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    body = "\n".join(lines) + "\n"
    at = text.find(heading)
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = text.find("\n## ", at + len(heading))
        text = text[:at] + body + (text[end:] if end >= 0 else "")
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--brokers", help="mock, kafka (one node), kafka3 (3 brokers, replication factor 3), "
                    "nisshi; default mock,kafka,kafka3 (--quick: mock,kafka; --only scaling: mock); "
                    "the size and partition curves run on mock and kafka only")
    ap.add_argument("--only", help="produce, consume, latency (tables regenerated), sizes, producers, "
                    "groups, scaling, security, share (their own sections); default all of them, "
                    "--quick " + QUICK_ONLY)
    ap.add_argument("--count", type=int, help="records per 100 B run (1 KB runs: a fifth); "
                    "default 1,000,000, --quick 300,000")
    ap.add_argument("--latency-seconds", type=int, help="default 10, --quick 3")
    ap.add_argument("--repeat", type=int, help="runs per throughput cell and client (median "
                    "reported); default 3, --quick 1")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per run")
    ap.add_argument("--quick", action="store_true", help="a few cells only")
    ap.add_argument("--resume", action="store_true", help="reuse the cells an earlier run on the same "
                    "committed code measured (target/bench-runs): a stopped full run goes on where it stopped")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--command", default="scripts/bench")
    args = ap.parse_args()
    quick = args.quick
    args.count = args.count or (300_000 if quick else 1_000_000)
    args.latency_seconds = args.latency_seconds or (3 if quick else 10)
    args.repeat = args.repeat or (1 if quick else 3)
    args.only = (args.only or (QUICK_ONLY if quick else FULL_ONLY)).split(",")
    clients = args.clients.split(",")
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        ap.error("unknown client(s) %s; known: %s" % (",".join(unknown), ",".join(CLIENTS)))
    build_peers(clients)
    args.brokers = args.brokers or ("mock" if args.only == ["scaling"] else "mock,kafka" if quick
                                    else "mock,kafka,kafka3")
    brokers = args.brokers.split(",")
    global STORE
    STORE = store.Store(ROOT, Result, args.resume, log, repr((
        sorted(args.only), clients, brokers, args.count, args.repeat, args.quick, args.latency_seconds,
        args.timeout)))
    results = {}
    args.jitter = timer_jitter()
    log("timer jitter: " + args.jitter)
    start = time.time()
    for b in brokers:
        if "produce" in args.only:
            run_produce(args, b, clients, results)
        if "consume" in args.only:
            run_consume(args, b, clients, results)
        if "latency" in args.only:
            run_latency(args, b, clients, results)
    if {"produce", "consume", "latency"} & set(args.only):
        write_report(args.out, args, clients, brokers, results, args.command,
                     time.time() - start + STORE.reused_seconds, STORE.invocations)
    if "security" in args.only and "ferrokafka" in clients and not STORE.section_done("security"):
        import security  # benches/compare/security.py

        security.run(args, results)
        security.write_section(args.out, security.section(args, results))
        STORE.mark_section("security")
    if "share" in args.only and "ferrokafka" in clients and not STORE.section_done("share"):
        import share  # benches/compare/share.py

        share.run(args, results)
        share.write_section(args.out, share.section(args, results))
        STORE.mark_section("share")
    if "sizes" in args.only:
        import curves  # benches/compare/curves.py

        curve_brokers = [b for b in brokers if b in CURVE_BROKERS]
        curves.run(args, curve_brokers, clients, results)
        curves.write_section(args.out, curves.section(args, curve_brokers, clients, results))
    if "producers" in args.only:
        import curves  # benches/compare/curves.py

        curve_brokers = [b for b in brokers if b in CURVE_BROKERS]
        curves.run_producers(args, curve_brokers, clients, results)
        curves.write_producers_section(args.out, curves.producers_section(args, curve_brokers, clients, results))
    if "groups" in args.only:
        import groups  # benches/compare/groups.py

        groups.run(args, clients, results)
        groups.write_section(args.out, groups.section(args, clients, results))
    if "scaling" in args.only:
        import scaling  # benches/compare/scaling.py

        curve_brokers = [b for b in brokers if b in CURVE_BROKERS]
        scaling.run(args, curve_brokers, clients, results)
        scaling.write_section(args.out, scaling.section(args, curve_brokers, clients, results))
    if {"produce", "consume", "latency"} & set(args.only):
        goals.write_section(args.out, goals.section(args, clients, brokers, results,
                                                    time.time() - start + STORE.reused_seconds, STORE.invocations))
    log("wrote " + args.out)


if __name__ == "__main__":
    main()

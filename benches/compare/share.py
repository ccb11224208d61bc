"""The share group cells of `scripts/bench` (issue #16): ferrokafka's KafkaShareConsumer and
Java's (kafka-clients of the broker's release) reading one preloaded 2-partition topic with 1, 2
and 4 members of a fresh share group each run, implicit acknowledgement, on one Apache Kafka
node. Records/s runs from the first record any member received to the last.

Only ferrokafka has a share consumer among the Rust peers (theirs exit UNSUPPORTED); the Java
members are `tests/java/SharePeer.java`, threads of one JVM (ours: one process, a task each).
"""

import os
import subprocess
import threading
import time

import bench

SECTION = "## Share groups (KIP-932)"
MEMBERS = (1, 2, 4)
PARTITIONS = 2
SIZE = 100
# A member joins in about a heartbeat: 500 ms rather than the default 5 s.
BROKER_PROPS = ["group.share.min.heartbeat.interval.ms=500", "group.share.heartbeat.interval.ms=500"]


def libs():
    return subprocess.check_output([os.path.join(bench.ROOT, "scripts", "kafka"), "path"], text=True).strip()


def compile_java():
    """Compiles tests/java (JavaPeer and SharePeer) into target/share-bench; returns the classpath."""
    out = os.path.join(bench.ROOT, "target", "share-bench")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(bench.ROOT, "tests", "java")
    files = [os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".java")]
    subprocess.check_call(["javac", "-encoding", "UTF-8", "--release", "17", "-nowarn", "-d", out,
                           "-cp", libs() + "/*"] + files)
    return out + ":" + libs() + "/*"


def set_earliest(broker, group):
    """share.auto.offset.reset=earliest for `group`, before any member joins."""
    subprocess.check_call(
        ["java", "-cp", libs() + "/*", "org.apache.kafka.tools.ConfigCommand", "--bootstrap-server",
         broker.bootstrap, "--alter", "--entity-type", "groups", "--entity-name", group,
         "--add-config", "share.auto.offset.reset=earliest"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def java_run(classpath, broker, topic, group, members, count, timeout):
    """`members` Java share consumers (threads of one JVM) until together they received `count`
    records; a bench.Result (CPU: the JVM's rusage, start-up included), or one with `na` set."""
    state = {"total": 0, "done": None}
    enough = threading.Event()
    bench.log("  $ java SharePeer --members %d (%s)" % (members, group))
    p = subprocess.Popen(
        ["java", "-Xmx512m", "-cp", classpath, "JavaPeer", "share", "--bootstrap", broker.bootstrap,
         "--topic", topic, "--group", group, "--members", str(members), "--print", "counts",
         "--max-seconds", str(timeout)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def read():
        for line in p.stdout:
            f = line.rstrip("\n").split("\t")
            if f[0] == "N":
                state["total"] = int(f[1])
                if state["total"] >= count:
                    enough.set()
            elif f[0] == "DONE":
                state["done"] = (int(f[1]), int(f[2]), int(f[3]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ok = enough.wait(timeout)
    # Closing stdin stops the members; each closes its consumer (acknowledging) and it exits.
    p.stdin.close()
    _, status, rusage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    reader.join(10)
    done = state["done"]
    if not ok or done is None or done[1] < 0:
        return bench.Result(na="java: %d of %d records within %d s" % (state["total"], count, timeout))
    records, seconds = done[0], (done[2] - done[1]) / 1000.0
    bench.log("    java: %d records in %.3f s" % (records, seconds))
    return bench.Result({"records": str(records), "bytes": str(records * SIZE), "seconds": "%.6f" % seconds},
                        rusage.ru_utime + rusage.ru_stime)


def run(args, results):
    classpath = compile_java()
    broker = bench.Kafka(lambda port, cport: [a for p in BROKER_PROPS for a in ("--prop", p)])
    try:
        count = args.count // 2 if not args.quick else args.count // 10
        topic = "share-bench"
        broker.create(topic, PARTITIONS)
        pre = bench.measure("ferrokafka", ["produce", "--bootstrap", broker.bootstrap, "--topic", topic,
                                           "--partitions", str(PARTITIONS), "--size", str(SIZE),
                                           "--count", str(count), "--acks", "all"], args.timeout)
        if pre.na:
            raise RuntimeError("preload failed: " + pre.na)
        for members in MEMBERS:
            bench.log("share: %d B x %d, %d partitions, %d members" % (SIZE, count, PARTITIONS, members))
            runs = {"ferrokafka": [], "java": []}
            for rep in range(args.repeat):
                for client in ("ferrokafka", "java"):
                    group = "share-%s-%d-%d-%s" % (client, members, rep, os.urandom(3).hex())
                    set_earliest(broker, group)
                    if client == "ferrokafka":
                        r = bench.measure("ferrokafka", [
                            "share", "--bootstrap", broker.bootstrap, "--topic", topic, "--partitions",
                            str(PARTITIONS), "--size", str(SIZE), "--count", str(count), "--consumers",
                            str(members), "--group", group], args.timeout)
                    else:
                        r = java_run(classpath, broker, topic, group, members, count, args.timeout)
                    runs[client].append(r)
            for client, rs in runs.items():
                results[("share", members, client)] = bench.median(rs)
        results[("share", "count")] = count
    finally:
        broker.stop()


def section(args, results):
    """The report section (markdown lines)."""
    count = results.get(("share", "count"), 0)
    L = [SECTION, ""]
    L.append("One Apache Kafka node; a %d-partition topic preloaded with %s records of %d B; each run a "
             "fresh share group (share.auto.offset.reset=earliest) whose members read until together "
             "they received every record, implicit acknowledgement; records/s from the first record "
             "received to the last; median of %d, runs interleaved. Java: KafkaShareConsumer of the "
             "broker's kafka-clients, one JVM with a thread per member (`tests/java/SharePeer.java`), its "
             "CPU including JVM start-up and JIT warm-up; ours: one process, one task per member. Client and broker "
             "share the 2 cores. Written by `scripts/bench --only share`.\n"
             % (PARTITIONS, "{:,}".format(count), SIZE, args.repeat))
    L.append("| members | ferrokafka records/s | Java records/s | ratio | CPU s / M records (ours / Java) |")
    L.append("|---:|---:|---:|---:|---:|")
    for members in MEMBERS:
        ours, java = results.get(("share", members, "ferrokafka")), results.get(("share", members, "java"))
        cells = [(r.na if r and r.na else bench.fmt_rate(r)) for r in (ours, java)]
        if ours and java and not ours.na and not java.na:
            L.append("| %d | %s | %s | %.2fx | %.1f / %.1f |" % (
                members, cells[0], cells[1], ours.rate() / java.rate(), ours.cpu_per_m(), java.cpu_per_m()))
        else:
            L.append("| %d | %s | %s | n/a | |" % (members, cells[0], cells[1]))
    return L


def write_section(path, lines):
    """Replaces this section of `path`, or appends it (bench.write_section)."""
    bench.write_section(path, SECTION, lines)

"""The security cells of `scripts/bench` (issue #12): ferrokafka over SASL_SSL with
SCRAM-SHA-512 against the same client over PLAINTEXT, on one Apache Kafka node that has both
listeners, runs interleaved. Reported as a ratio of records/s (and CPU per record beside it).

Only ferrokafka runs these cells: the peers' bench binaries take no client properties (they exit
UNSUPPORTED), and the question is what encryption and authentication cost this client.
"""

import os
import subprocess
import tempfile

import bench

SECTION = "## SASL_SSL (SCRAM-SHA-512) against PLAINTEXT"
USER, PASSWORD, STOREPASS = "bench", "bench-secret", "bench-store-pass"
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required"


def keystore(dir):
    """A self-signed broker certificate for 127.0.0.1 (JDK keytool): the PKCS12 keystore the
    broker serves and the PEM certificate the client trusts."""
    ks, pem = os.path.join(dir, "broker.p12"), os.path.join(dir, "ca.pem")
    subprocess.check_call(
        ["keytool", "-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1",
         "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2",
         "-storetype", "PKCS12", "-keystore", ks, "-storepass", STOREPASS, "-keypass", STOREPASS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.check_call(
        ["keytool", "-exportcert", "-rfc", "-alias", "broker", "-keystore", ks, "-storepass",
         STOREPASS, "-file", pem], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ks, pem


class SecureKafka(bench.Kafka):
    """One node with a PLAINTEXT listener (`bootstrap`) and a SASL_SSL one (`secure_bootstrap`)."""

    def __init__(self):
        self.certs = tempfile.mkdtemp(prefix="bench-certs-")
        ks, self.ca = keystore(self.certs)
        sport = bench.free_port()
        self.secure_bootstrap = "127.0.0.1:%d" % sport

        def node_args(port, cport):
            props = [
                "listeners=PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"
                % (port, sport, cport),
                "advertised.listeners=PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d" % (port, sport),
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=%s;" % SCRAM_JAAS,
                "ssl.keystore.type=PKCS12",
                "ssl.keystore.location=" + ks,
                "ssl.keystore.password=" + STOREPASS,
                "ssl.key.password=" + STOREPASS,
            ]
            args = []
            for p in props:
                args += ["--prop", p]
            return args + ["--scram", "SCRAM-SHA-512=[name=%s,password=%s]" % (USER, PASSWORD)]

        super().__init__(node_args)

    def client_props(self):
        """`-X` flags for a client of the SASL_SSL listener."""
        props = {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": '%s username="%s" password="%s";' % (SCRAM_JAAS, USER, PASSWORD),
            "ssl.truststore.location": self.ca,
        }
        args = []
        for k, v in props.items():
            args += ["-X", "%s=%s" % (k, v)]
        return args

    def java_props_file(self):
        """The same settings as a properties file, for Kafka's own Java tools."""
        path = os.path.join(self.certs, "client.properties")
        with open(path, "w") as f:
            f.write("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n")
            f.write('sasl.jaas.config=%s username="%s" password="%s";\n' % (SCRAM_JAAS, USER, PASSWORD))
            f.write("ssl.truststore.type=PEM\nssl.truststore.location=%s\n" % self.ca)
        return path

    def cpu_seconds(self):
        """The broker JVM's CPU time so far (`scripts/kafka node` execs java: same pid)."""
        with open("/proc/%d/stat" % self.p.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        super().stop()
        bench.shutil.rmtree(self.certs, ignore_errors=True)


def cells(quick):
    """(kind, size): producer cells use 8 partitions, acks=all with idempotence, no compression."""
    sizes = (1000,) if quick else (100, 1000)
    return [(kind, size) for kind in ("produce", "consume") for size in sizes]


MODES = ("plaintext", "sasl_ssl")


def run(args, results):
    broker = SecureKafka()
    try:
        for kind, size in cells(args.quick):
            count = bench.count_for(size, args)
            topic = "s-%s-%d" % (kind, size)
            broker.create(topic, 8)
            common = ["--topic", topic, "--partitions", "8", "--size", str(size), "--count", str(count)]
            produce = ["--acks", "all", "--idempotence", "true", "--compression", "none",
                       "--linger-ms", "5", "--batch-size", "1048576"]
            if kind == "consume":
                pre = bench.measure("ferrokafka", ["produce", "--bootstrap", broker.bootstrap] + common
                                    + ["--acks", "all"], args.timeout)
                if pre.na:
                    raise RuntimeError("preload failed: " + pre.na)
            bench.log("security %s: %d B x %d, 8 partitions" % (kind, size, count))
            runs = {m: [] for m in MODES}
            for _ in range(args.repeat):
                for mode in MODES:
                    target = (["--bootstrap", broker.bootstrap] if mode == "plaintext"
                              else ["--bootstrap", broker.secure_bootstrap] + broker.client_props())
                    extra = produce if kind == "produce" else []
                    before = broker.cpu_seconds()
                    r = bench.measure("ferrokafka", [kind] + target + common + extra, args.timeout)
                    r.broker_cpu = broker.cpu_seconds() - before
                    runs[mode].append(r)
            for mode in MODES:
                results[("security", kind, size, mode)] = bench.median(runs[mode])
            if kind == "consume":
                java = {m: [] for m in MODES}
                for _ in range(args.repeat):
                    for mode in MODES:
                        java[mode].append(java_consume(broker, mode, topic, count))
                for mode in MODES:
                    ok = sorted(r for r in java[mode] if r)
                    results[("security-java", kind, size, mode)] = ok[(len(ok) - 1) // 2] if ok else None
    finally:
        broker.stop()


def java_consume(broker, mode, topic, count):
    """Records/s of the Java consumer (Kafka's ConsumerPerformance tool, fetch phase only, a
    fresh group each run) on `mode`'s listener: a reference for the ratio, not for speed (a
    cold JVM)."""
    libs = subprocess.check_output([os.path.join(bench.ROOT, "scripts", "kafka"), "path"], text=True).strip()
    cmd = ["java", "-cp", libs + "/*", "org.apache.kafka.tools.ConsumerPerformance", "--hide-header",
           "--topic", topic, "--num-records", str(count), "--timeout", "60000",
           "--group", "java-perf-%s-%s" % (mode, os.urandom(4).hex())]
    if mode == "plaintext":
        cmd += ["--bootstrap-server", broker.bootstrap]
    else:
        cmd += ["--bootstrap-server", broker.secure_bootstrap, "--command-config", broker.java_props_file()]
    bench.log("  $ java ConsumerPerformance (%s)" % mode)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        return float(out.strip().splitlines()[-1].split(",")[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        bench.log("    java consumer failed: %s" % e)
        return None


def section(args, results):
    """The report section (markdown lines)."""
    L = [SECTION, ""]
    L.append("ferrokafka alone, one Apache Kafka node with both listeners, runs interleaved, median of "
             "%d; 8 partitions; producer acks=all with idempotence, no compression, linger.ms=5; "
             "consumer reads a preloaded topic from offset 0. Client and broker share the machine's "
             "cores, so the broker's own TLS work is in the ratio. Goal (issue #12): at 1 KB, SASL_SSL "
             "at least 0.75x of PLAINTEXT. Written by `scripts/bench --only security`.\n" % args.repeat)
    L.append("| cell | PLAINTEXT records/s | SASL_SSL records/s | ratio | client CPU s / M records (plain / SASL_SSL) | broker CPU s / M records (plain / SASL_SSL) |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for kind, size in cells(args.quick):
        plain, sec = results.get(("security", kind, size, "plaintext")), results.get(("security", kind, size, "sasl_ssl"))
        label = "%s %d B" % (kind, size)
        if not plain or not sec or plain.na or sec.na:
            L.append("| %s | %s | %s | n/a | | |" % (label, plain.na if plain and plain.na else bench.fmt_rate(plain),
                                                 sec.na if sec and sec.na else bench.fmt_rate(sec)))
            continue
        broker = lambda r: r.broker_cpu / r.records * 1e6
        L.append("| %s | %s | %s | %.2fx | %.2f / %.2f | %.2f / %.2f |" % (
            label, bench.fmt_rate(plain), bench.fmt_rate(sec), sec.rate() / plain.rate(),
            plain.cpu_per_m(), sec.cpu_per_m(), broker(plain), broker(sec)))
    java = [(size, tuple(results.get(("security-java", "consume", size, m)) for m in MODES))
            for kind, size in cells(args.quick) if kind == "consume"]
    java = [(size, plain, sec) for size, (plain, sec) in java if plain and sec]
    if java:
        L.append("\nThe Java consumer (Kafka's `ConsumerPerformance`, fetch phase, same broker, median "
                 "of %d) pays the same broker: SASL_SSL / PLAINTEXT = %s.\n" % (args.repeat, ", ".join(
                     "%.2fx at %d B (%s / %s records/s)" % (sec / plain, size, "{:,.0f}".format(sec), "{:,.0f}".format(plain))
                     for size, plain, sec in java)))
    return L


def write_section(path, lines):
    """Replaces this section of `path`, or appends it (bench.write_section)."""
    bench.write_section(path, SECTION, lines)

// The Apache Kafka Java client as the reference peer of tests/java_peer.rs.
//
// Plain Java 17 against the kafka-clients jar of the broker's release; compiled and run by
// tests/common/java.rs (`javac -cp "$LIBS/*"`, then `java -cp "CLASSES:$LIBS/*" JavaPeer ...`).
//
//   JavaPeer COMMAND --flag value ...
//
//   partition-for-key --counts 1,2,..        stdin: one hex key per line. Prints, per key, one line
//                                            of comma-separated partitions, one per count, as the
//                                            Java producer's BuiltInPartitioner.partitionForKey says.
//   produce-keys --bootstrap B --topic-prefix P --counts 1,2,..
//                                            stdin: one hex key per line. Sends key i (value: the
//                                            decimal i) to topic P<count> for every count, with no
//                                            partition set, and prints `P count p0,p1,..` (the
//                                            partition RecordMetadata reported for key 0, 1, ..).
//   produce --bootstrap B --topics t1=codec,t2=codec --count N --seed S
//                                            writes N records to each topic (idempotent, acks=all,
//                                            that codec) with varied keys, values, headers and
//                                            timestamps; prints an `R` line per record as
//                                            acknowledged (timestamp type printed as `create`; the
//                                            caller knows which topics use LogAppendTime).
//   read --bootstrap B --topics t1,t2 [--timeout-s 60] [--isolation read_committed]
//                                            reads every partition from the beginning to its end
//                                            offset at start (no group); prints an `R` line each.
//                                            read_committed: to the LSO, without aborted records.
//   txn-produce --bootstrap B --topic T --transactional-id ID --txns N --per-txn M --partitions P
//                                            N transactions of M records, value `t-i` (text) to
//                                            partition i % P; even t committed, odd t aborted.
//   group --bootstrap B --topic T --group G --client-id C --strategy range|cooperative-sticky|consumer
//         [--batch 100] [--pause-ms 100] [--max-seconds 120]
//                                            a group member (classic protocol, or with `consumer`
//                                            the KIP-848 protocol; ASSIGN then prints the member
//                                            epoch as its generation): commits synchronously
//                                            after every non-empty poll and on revocation, sleeps
//                                            --pause-ms after each non-empty poll, leaves the group
//                                            when stdin closes (exit 0) or after --max-seconds (3).
//   assign --strategy range|cooperative-sticky --topic T --partitions N
//                                            stdin: `memberId<TAB>generation<TAB>owned` per member
//                                            (owned: comma-separated partitions), in JoinGroup order.
//                                            Prints what Java's assignor gives (for cooperative-sticky
//                                            with moving partitions withheld, as Java's leader sends
//                                            it): `A memberId partitions` per member.
//   share --bootstrap B --topic T --group G ...
//                                            a KafkaShareConsumer member: see SharePeer.java.
//
// Lines on stdout, tab separated:
//   R topic partition offset timestamp_type timestamp key value headers
//       key, value: hex, `-` for null (an empty one is an empty field); timestamp_type: create,
//       append or none; headers: comma-separated `keyhex:valuehex` (`keyhex:-` for null), in order
//   ASSIGN generation memberId partitions    after every rebalance (the whole assignment)
//   LEAD memberIds                           this member leads a rebalance of these members
//                                            (its assignor runs: Java's, named as Java's)
//   REVOKE generation partitions             LOST generation partitions
//   COMMIT_ERROR text                        DONE count (records printed)
// Logs and errors go to stderr; a failure exits non-zero.

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.internals.AbstractPartitionAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class JavaPeer {
    private static final PrintStream OUT = new PrintStream(
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16),
            false, StandardCharsets.UTF_8);
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** The kafka-clients version; AppInfoParser moved to an internals package after 4.0. */
    static String clientsVersion() {
        for (String c : new String[] {
                "org.apache.kafka.common.utils.internals.AppInfoParser",
                "org.apache.kafka.common.utils.AppInfoParser"}) {
            try {
                return (String) Class.forName(c).getMethod("getVersion").invoke(null);
            } catch (ReflectiveOperationException e) {
                // try the next location
            }
        }
        return "unknown";
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            die("usage: JavaPeer COMMAND --flag value ...");
        }
        Map<String, String> flags = new HashMap<>();
        for (int i = 1; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                die("bad arguments near " + args[i]);
            }
            flags.put(args[i].substring(2), args[i + 1]);
        }
        log("kafka-clients " + clientsVersion() + ": " + args[0]);
        int rc;
        switch (args[0]) {
            case "partition-for-key": rc = partitionForKey(flags); break;
            case "produce-keys": rc = produceKeys(flags); break;
            case "produce": rc = produce(flags); break;
            case "read": rc = read(flags); break;
            case "txn-produce": rc = txnProduce(flags); break;
            case "group": rc = group(flags); break;
            case "assign": rc = assign(flags); break;
            case "share": rc = SharePeer.run(flags, OUT); break;
            default: die("unknown command " + args[0]); return;
        }
        OUT.flush();
        System.exit(rc);
    }

    // ---- helpers ------------------------------------------------------------------------------

    static void log(String msg) {
        System.err.println("[java-peer] " + msg);
        System.err.flush();
    }

    static void die(String msg) {
        log("error: " + msg);
        OUT.flush();
        System.exit(2);
    }

    static String flag(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) {
            die("missing --" + name);
        }
        return v;
    }

    static String flag(Map<String, String> flags, String name, String dflt) {
        return flags.getOrDefault(name, dflt);
    }

    static String hex(byte[] b) {
        if (b == null) {
            return "-";
        }
        char[] out = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) {
            out[2 * i] = HEX[(b[i] >> 4) & 0xf];
            out[2 * i + 1] = HEX[b[i] & 0xf];
        }
        return new String(out);
    }

    static byte[] unhex(String s) {
        if (s.length() % 2 != 0) {
            die("odd hex length: " + s);
        }
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    static List<byte[]> readHexLines() throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<byte[]> out = new ArrayList<>();
        for (String line; (line = in.readLine()) != null; ) {
            out.add(unhex(line.trim()));
        }
        return out;
    }

    static int[] ints(String csv) {
        if (csv.isEmpty()) {
            return new int[0];
        }
        String[] parts = csv.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = Integer.parseInt(parts[i].trim());
        }
        return out;
    }

    static String headersField(Iterable<Header> headers) {
        StringBuilder sb = new StringBuilder();
        for (Header h : headers) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(hex(h.key().getBytes(StandardCharsets.UTF_8))).append(':').append(hex(h.value()));
        }
        return sb.toString();
    }

    static String recordLine(String topic, int partition, long offset, String tsType, long ts,
                             byte[] key, byte[] value, Iterable<Header> headers) {
        return "R\t" + topic + "\t" + partition + "\t" + offset + "\t" + tsType + "\t" + ts + "\t"
                + hex(key) + "\t" + hex(value) + "\t" + headersField(headers) + "\n";
    }

    static String tsType(TimestampType t) {
        switch (t) {
            case CREATE_TIME: return "create";
            case LOG_APPEND_TIME: return "append";
            default: return "none";
        }
    }

    static String partitionList(Collection<TopicPartition> parts) {
        TreeSet<Integer> ids = new TreeSet<>();
        for (TopicPartition tp : parts) {
            ids.add(tp.partition());
        }
        StringBuilder sb = new StringBuilder();
        for (int p : ids) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(p);
        }
        return sb.toString();
    }

    static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "10");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "65536");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        return p;
    }

    // ---- partition-for-key ----------------------------------------------------------------------

    static int partitionForKey(Map<String, String> flags) throws IOException {
        int[] counts = ints(flag(flags, "counts"));
        StringBuilder sb = new StringBuilder();
        for (byte[] key : readHexLines()) {
            sb.setLength(0);
            for (int i = 0; i < counts.length; i++) {
                if (i > 0) {
                    sb.append(',');
                }
                sb.append(BuiltInPartitioner.partitionForKey(key, counts[i]));
            }
            sb.append('\n');
            OUT.append(sb);
        }
        return 0;
    }

    // ---- produce-keys ---------------------------------------------------------------------------

    static int produceKeys(Map<String, String> flags) throws Exception {
        String prefix = flag(flags, "topic-prefix");
        int[] counts = ints(flag(flags, "counts"));
        List<byte[]> keys = readHexLines();
        int[][] landed = new int[counts.length][keys.size()];
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        Properties props = producerProps(flag(flags, "bootstrap"));
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int c = 0; c < counts.length; c++) {
                String topic = prefix + counts[c];
                int[] row = landed[c];
                java.util.Arrays.fill(row, -1);
                for (int i = 0; i < keys.size(); i++) {
                    final int idx = i;
                    byte[] value = Integer.toString(i).getBytes(StandardCharsets.US_ASCII);
                    producer.send(new ProducerRecord<>(topic, keys.get(i), value), (md, e) -> {
                        if (e != null) {
                            errors.add(topic + " key " + idx + ": " + e);
                        } else {
                            row[idx] = md.partition();
                        }
                    });
                }
            }
            producer.flush();
        }
        if (!errors.isEmpty()) {
            log(errors.size() + " sends failed, first: " + errors.peek());
            return 1;
        }
        for (int c = 0; c < counts.length; c++) {
            StringBuilder sb = new StringBuilder("P\t").append(counts[c]).append('\t');
            for (int i = 0; i < keys.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                sb.append(landed[c][i]);
            }
            OUT.append(sb).append('\n');
        }
        return 0;
    }

    // ---- produce --------------------------------------------------------------------------------

    /** Record i of a topic: odd keys, values, headers and timestamps, drawn from `rnd`. */
    static ProducerRecord<byte[], byte[]> varied(String topic, String codec, int i, long baseTs,
                                                 SplittableRandom rnd) {
        byte[] key;
        if (i % 97 == 0) {
            key = null;
        } else if (i % 5 == 1) {
            key = new byte[rnd.nextInt(0, 33)]; // random binary, sometimes empty
            rnd.nextBytes(key);
        } else if (i % 5 == 2) {
            key = ("ключ-鍵-🔑-" + i).getBytes(StandardCharsets.UTF_8);
        } else {
            key = ("key-" + codec + "-" + i).getBytes(StandardCharsets.UTF_8);
        }
        byte[] value;
        if (i % 250 == 3) {
            value = null;
        } else if (i % 250 == 5) {
            value = new byte[0];
        } else if (i % 3 == 0) {
            value = new byte[rnd.nextInt(1, 2000)]; // incompressible binary, every byte value
            rnd.nextBytes(value);
        } else {
            // Compressible, so the codec really compresses.
            value = (codec + "-" + String.format("%06d", i) + "-" + "the quick brown fox ".repeat(1 + i % 5))
                    .getBytes(StandardCharsets.UTF_8);
        }
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
        headers.add(new RecordHeader("codec", codec.getBytes(StandardCharsets.UTF_8)));
        if (i % 7 == 0) {
            headers.add(new RecordHeader("dup", "a".getBytes(StandardCharsets.UTF_8)));
            headers.add(new RecordHeader("dup", "b".getBytes(StandardCharsets.UTF_8)));
        }
        if (i % 11 == 0) {
            headers.add(new RecordHeader("null", (byte[]) null));
        }
        if (i % 13 == 0) {
            headers.add(new RecordHeader("empty", new byte[0]));
        }
        if (i % 17 == 0) {
            byte[] bin = new byte[rnd.nextInt(1, 40)];
            rnd.nextBytes(bin);
            headers.add(new RecordHeader("ключ-🔑", bin));
        }
        // Explicit timestamps, a few of them 0 (the epoch is a valid CreateTime).
        long ts = i % 500 == 9 ? 0L : baseTs + i;
        return new ProducerRecord<>(topic, null, ts, key, value, headers);
    }

    static int produce(Map<String, String> flags) throws Exception {
        int count = Integer.parseInt(flag(flags, "count"));
        long seed = Long.parseLong(flag(flags, "seed", "1"));
        Map<String, String> topics = new LinkedHashMap<>();
        for (String t : flag(flags, "topics").split(",")) {
            String[] kv = t.split("=", 2);
            if (kv.length != 2) {
                die("--topics wants topic=codec,...: " + t);
            }
            topics.put(kv[0], kv[1]);
        }
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        List<String> lines = new ArrayList<>();
        int n = 0;
        for (Map.Entry<String, String> e : topics.entrySet()) {
            String topic = e.getKey();
            String codec = e.getValue();
            Properties props = producerProps(flag(flags, "bootstrap"));
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            SplittableRandom rnd = new SplittableRandom(seed * 1000 + n);
            long baseTs = 1_700_000_000_000L + n * 1_000_000L;
            String[] out = new String[count];
            try (KafkaProducer<byte[], byte[]> producer =
                         new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < count; i++) {
                    ProducerRecord<byte[], byte[]> rec = varied(topic, codec, i, baseTs, rnd);
                    final int idx = i;
                    producer.send(rec, (md, ex) -> {
                        if (ex != null) {
                            errors.add(topic + " record " + idx + ": " + ex);
                        } else {
                            out[idx] = recordLine(topic, md.partition(), md.offset(), "create",
                                    md.timestamp(), rec.key(), rec.value(), rec.headers());
                        }
                    });
                }
                producer.flush();
            }
            for (String line : out) {
                if (line != null) {
                    lines.add(line);
                }
            }
            n++;
        }
        if (!errors.isEmpty()) {
            log(errors.size() + " sends failed, first: " + errors.peek());
            return 1;
        }
        for (String line : lines) {
            OUT.append(line);
        }
        return 0;
    }

    // ---- read -----------------------------------------------------------------------------------

    static int read(Map<String, String> flags) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, flag(flags, "bootstrap"));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, flag(flags, "isolation", "read_uncommitted"));
        long deadline = System.nanoTime() + Long.parseLong(flag(flags, "timeout-s", "60")) * 1_000_000_000L;
        int count = 0;
        try (KafkaConsumer<byte[], byte[]> c =
                     new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (String topic : flag(flags, "topics").split(",")) {
                for (PartitionInfo pi : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                    parts.add(new TopicPartition(topic, pi.partition()));
                }
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> ends = c.endOffsets(parts, Duration.ofSeconds(30));
            Set<TopicPartition> pending = new HashSet<>();
            for (TopicPartition tp : parts) {
                if (c.position(tp, Duration.ofSeconds(30)) < ends.get(tp)) {
                    pending.add(tp);
                }
            }
            while (!pending.isEmpty()) {
                if (System.nanoTime() > deadline) {
                    log("timed out; not read to the end: " + pending + " (ends " + ends + ")");
                    return 1;
                }
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    OUT.append(recordLine(r.topic(), r.partition(), r.offset(), tsType(r.timestampType()),
                            r.timestamp(), r.key(), r.value(), r.headers()));
                    count++;
                }
                pending.removeIf(tp -> c.position(tp) >= ends.get(tp));
            }
        }
        log("read " + count + " records");
        return 0;
    }

    // ---- txn-produce ----------------------------------------------------------------------------

    static int txnProduce(Map<String, String> flags) {
        String topic = flag(flags, "topic");
        int txns = Integer.parseInt(flag(flags, "txns"));
        int perTxn = Integer.parseInt(flag(flags, "per-txn"));
        int partitions = Integer.parseInt(flag(flags, "partitions"));
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, flag(flags, "bootstrap"));
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, flag(flags, "transactional-id"));
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        try (KafkaProducer<byte[], byte[]> prod =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            prod.initTransactions();
            for (int t = 0; t < txns; t++) {
                prod.beginTransaction();
                for (int i = 0; i < perTxn; i++) {
                    byte[] v = (t + "-" + i).getBytes(StandardCharsets.UTF_8);
                    prod.send(new ProducerRecord<>(topic, i % partitions, null, v));
                }
                if (t % 2 == 0) {
                    prod.commitTransaction();
                } else {
                    prod.flush();
                    prod.abortTransaction();
                }
            }
        }
        OUT.append("DONE " + txns + "\n");
        return 0;
    }

    // ---- group ----------------------------------------------------------------------------------

    static int group(Map<String, String> flags) throws Exception {
        String topic = flag(flags, "topic");
        String strategy = flag(flags, "strategy");
        int batch = Integer.parseInt(flag(flags, "batch", "100"));
        long pauseMs = Long.parseLong(flag(flags, "pause-ms", "100"));
        long maxSeconds = Long.parseLong(flag(flags, "max-seconds", "120"));
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, flag(flags, "bootstrap"));
        p.put(ConsumerConfig.GROUP_ID_CONFIG, flag(flags, "group"));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, flag(flags, "client-id"));
        boolean kip848 = strategy.equals("consumer");
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, kip848 ? "consumer" : "classic");
        switch (strategy) {
            case "consumer":
                break; // the broker assigns (KIP-848)
            case "range":
                p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, LeaderRange.class.getName());
                break;
            case "cooperative-sticky":
                p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                        LeaderCooperativeSticky.class.getName());
                break;
            default:
                die("unknown --strategy " + strategy);
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(batch));
        if (!kip848) {
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, flag(flags, "session-timeout-ms", "6000"));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, flag(flags, "heartbeat-interval-ms", "300"));
        }

        // The test closes our stdin to stop us.
        AtomicBoolean stop = new AtomicBoolean();
        Thread watcher = new Thread(() -> {
            byte[] buf = new byte[4096];
            try {
                while (System.in.read(buf) >= 0) {
                    // discard
                }
            } catch (IOException e) {
                // treat like EOF
            }
            stop.set(true);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();

        KafkaConsumer<byte[], byte[]> c =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                // Still owned here: commit what was processed so the next owner starts after it.
                commit(c, "on revoke");
                OUT.append("REVOKE\t" + c.groupMetadata().generationId() + "\t" + partitionList(parts) + "\n");
                OUT.flush();
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                OUT.append("ASSIGN\t" + c.groupMetadata().generationId() + "\t" + c.groupMetadata().memberId()
                        + "\t" + partitionList(c.assignment()) + "\n");
                OUT.flush();
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> parts) {
                OUT.append("LOST\t" + c.groupMetadata().generationId() + "\t" + partitionList(parts) + "\n");
                OUT.flush();
            }
        });
        long deadline = System.nanoTime() + maxSeconds * 1_000_000_000L;
        boolean timedOut = false;
        int count = 0;
        while (!stop.get()) {
            if (System.nanoTime() > deadline) {
                timedOut = true;
                break;
            }
            ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(100));
            if (recs.isEmpty()) {
                continue;
            }
            for (ConsumerRecord<byte[], byte[]> r : recs) {
                OUT.append(recordLine(r.topic(), r.partition(), r.offset(), tsType(r.timestampType()),
                        r.timestamp(), r.key(), r.value(), r.headers()));
            }
            OUT.flush();
            count += recs.count();
            commit(c, "after poll");
            Thread.sleep(pauseMs); // a slow member: rebalances land mid-stream
        }
        commit(c, "before close");
        c.close(); // leaves the group
        OUT.append("DONE\t" + count + "\n");
        OUT.flush();
        if (timedOut) {
            log("stopped after --max-seconds " + maxSeconds + " without a stop signal");
            return 3;
        }
        return 0;
    }

    /** `LEAD members`: this member, as the group leader, runs the assignor over these members. */
    static void printLead(ConsumerPartitionAssignor.GroupSubscription subs) {
        OUT.append("LEAD\t" + String.join(",", new TreeSet<>(subs.groupSubscription().keySet())) + "\n");
        OUT.flush();
    }

    /** Java's RangeAssignor (same name, same result) that says when it runs. */
    public static final class LeaderRange extends RangeAssignor {
        @Override
        public ConsumerPartitionAssignor.GroupAssignment assign(
                Cluster metadata, ConsumerPartitionAssignor.GroupSubscription subs) {
            printLead(subs);
            return super.assign(metadata, subs);
        }
    }

    /** Java's CooperativeStickyAssignor (same name, same result) that says when it runs. */
    public static final class LeaderCooperativeSticky extends CooperativeStickyAssignor {
        @Override
        public ConsumerPartitionAssignor.GroupAssignment assign(
                Cluster metadata, ConsumerPartitionAssignor.GroupSubscription subs) {
            printLead(subs);
            return super.assign(metadata, subs);
        }
    }

    static void commit(KafkaConsumer<byte[], byte[]> c, String why) {
        try {
            c.commitSync();
        } catch (KafkaException e) {
            OUT.append("COMMIT_ERROR\t" + why + ": " + e + "\n");
            OUT.flush();
            log("commit (" + why + ") failed: " + e);
        }
    }

    // ---- assign ---------------------------------------------------------------------------------

    static int assign(Map<String, String> flags) throws IOException {
        String topic = flag(flags, "topic");
        int partitions = Integer.parseInt(flag(flags, "partitions"));
        String strategy = flag(flags, "strategy");
        AbstractPartitionAssignor assignor;
        switch (strategy) {
            case "range": assignor = new RangeAssignor(); break;
            case "cooperative-sticky": assignor = new CooperativeStickyAssignor(); break;
            default: die("unknown --strategy " + strategy); return 2;
        }
        // In input order: the order Java's leader puts members in its maps is the JoinGroup
        // response's, which matters where member ids share a HashMap bucket.
        Map<String, ConsumerPartitionAssignor.Subscription> subs = new LinkedHashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            if (f.length != 3) {
                die("bad member line: " + line);
            }
            List<TopicPartition> owned = new ArrayList<>();
            for (int q : ints(f[2])) {
                owned.add(new TopicPartition(topic, q));
            }
            subs.put(f[0], new ConsumerPartitionAssignor.Subscription(
                    List.of(topic), null, owned, Integer.parseInt(f[1]), Optional.empty()));
        }
        // For cooperative-sticky this includes what Java's leader does before sending the result:
        // a partition moving between members is withheld from its new owner for one round.
        Map<String, List<TopicPartition>> result = assignor.assign(Map.of(topic, partitions), subs);
        for (Map.Entry<String, List<TopicPartition>> e : new TreeMap<>(result).entrySet()) {
            OUT.append("A\t" + e.getKey() + "\t" + partitionList(e.getValue()) + "\n");
        }
        return 0;
    }
}

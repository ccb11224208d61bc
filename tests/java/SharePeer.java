// The Java KafkaShareConsumer (KIP-932) as a reference peer: `JavaPeer share ...` runs members
// of a share group (implicit acknowledgement: the records of a poll are accepted by the next
// poll or by close), each on a thread of its own with its own KafkaShareConsumer.
//
//   share --bootstrap B --topic T --group G [--client-id C] [--members 1] [--count N]
//         [--max-seconds 120] [--print records|counts]
//       prints `S partition offset delivery_count valuehex` per record received (with `counts`:
//       `N records_so_far` (all members) per poll instead, for benchmarks); stops when stdin
//       closes, once the members received N records together (when --count is given), or after
//       --max-seconds; then every member closes (acknowledging its last poll) and it prints
//       `DONE count first_ms last_ms`: when the first and the last poll with records returned
//       (Unix epoch ms; -1 without records).

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

final class SharePeer {
    private final Map<String, String> flags;
    private final PrintStream out;
    private final boolean counts;
    private final long count;
    private final long deadline;
    private final AtomicBoolean stop = new AtomicBoolean(false);
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong first = new AtomicLong(Long.MAX_VALUE);
    private final AtomicLong last = new AtomicLong(-1);
    private final AtomicLong touched = new AtomicLong();

    private SharePeer(Map<String, String> flags, PrintStream out) {
        this.flags = flags;
        this.out = out;
        this.counts = JavaPeer.flag(flags, "print", "records").equals("counts");
        this.count = Long.parseLong(JavaPeer.flag(flags, "count", "-1"));
        this.deadline = System.currentTimeMillis()
                + 1000L * Long.parseLong(JavaPeer.flag(flags, "max-seconds", "120"));
    }

    static int run(Map<String, String> flags, PrintStream out) throws InterruptedException {
        SharePeer peer = new SharePeer(flags, out);
        Thread watcher = new Thread(() -> {
            InputStream in = System.in;
            byte[] buf = new byte[256];
            try {
                while (in.read(buf) >= 0) {
                    // Only the end of input matters.
                }
            } catch (IOException e) {
                // A broken pipe ends the input too.
            }
            peer.stop.set(true);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();

        int members = Integer.parseInt(JavaPeer.flag(flags, "members", "1"));
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (int i = 0; i < members; i++) {
            String clientId = JavaPeer.flag(flags, "client-id", "java-share") + (members > 1 ? "-" + i : "");
            Thread t = new Thread(() -> {
                try {
                    peer.member(clientId);
                } catch (Throwable e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                    peer.stop.set(true);
                }
            }, clientId);
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        if (!failures.isEmpty()) {
            JavaPeer.log("share member failed: " + failures.get(0));
            return 1;
        }
        long firstMs = peer.first.get() == Long.MAX_VALUE ? -1 : peer.first.get();
        if (peer.touched.get() == 42) {
            JavaPeer.log("touched 42");
        }
        synchronized (out) {
            out.print("DONE\t" + peer.received.get() + "\t" + firstMs + "\t" + peer.last.get() + "\n");
            out.flush();
        }
        return 0;
    }

    private void member(String clientId) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, JavaPeer.flag(flags, "bootstrap"));
        props.put(ConsumerConfig.GROUP_ID_CONFIG, JavaPeer.flag(flags, "group"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put("share.acknowledgement.mode", "implicit");
        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(props)) {
            c.subscribe(List.of(JavaPeer.flag(flags, "topic")));
            while (!stop.get() && (count < 0 || received.get() < count)
                    && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                long now = System.currentTimeMillis();
                first.accumulateAndGet(now, Math::min);
                last.accumulateAndGet(now, Math::max);
                StringBuilder sb = new StringBuilder();
                if (counts) {
                    // Every value byte read, as the Rust bench does.
                    long sum = 0;
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        for (byte b : r.value()) {
                            sum += b & 0xff;
                        }
                    }
                    touched.addAndGet(sum);
                    long total = received.addAndGet(records.count());
                    sb.append("N\t").append(total).append('\n');
                } else {
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        received.incrementAndGet();
                        sb.append("S\t").append(r.partition()).append('\t').append(r.offset())
                                .append('\t').append(r.deliveryCount().orElse((short) -1))
                                .append('\t').append(JavaPeer.hex(r.value())).append('\n');
                    }
                }
                synchronized (out) {
                    out.print(sb);
                    out.flush();
                }
            }
        }
    }
}

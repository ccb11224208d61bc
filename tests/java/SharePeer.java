// The Java KafkaShareConsumer (KIP-932) as a reference peer: `JavaPeer share ...` runs one
// member of a share group (implicit acknowledgement: the records of a poll are accepted by the
// next poll or by close).
//
//   share --bootstrap B --topic T --group G [--client-id C] [--count N] [--max-seconds 120]
//         [--print records|counts]
//       prints `S partition offset delivery_count valuehex` per record received (with `counts`:
//       `N records_so_far` per poll instead, for benchmarks); stops when stdin
//       closes, after N records (when --count is given), or after --max-seconds; then closes
//       (acknowledging the last poll) and prints `DONE count first_ms last_ms`: when the first
//       and the last poll with records returned (Unix epoch ms; -1 without records).
//
// Lines go to the caller through JavaPeer's buffered stdout, flushed after each poll so a test
// sees records while the member runs.

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

final class SharePeer {
    private SharePeer() {}

    static int run(Map<String, String> flags, PrintStream out) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, JavaPeer.flag(flags, "bootstrap"));
        props.put(ConsumerConfig.GROUP_ID_CONFIG, JavaPeer.flag(flags, "group"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, JavaPeer.flag(flags, "client-id", "java-share"));
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put("share.acknowledgement.mode", "implicit");
        long count = Long.parseLong(JavaPeer.flag(flags, "count", "-1"));
        boolean counts = JavaPeer.flag(flags, "print", "records").equals("counts");
        long maxMs = 1000L * Long.parseLong(JavaPeer.flag(flags, "max-seconds", "120"));

        AtomicBoolean stdinClosed = new AtomicBoolean(false);
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
            stdinClosed.set(true);
        }, "stdin-watcher");
        watcher.setDaemon(true);
        watcher.start();

        long received = 0;
        long touched = 0;
        long first = -1;
        long last = -1;
        long start = System.currentTimeMillis();
        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(props)) {
            c.subscribe(List.of(JavaPeer.flag(flags, "topic")));
            while (!stdinClosed.get() && (count < 0 || received < count)
                    && System.currentTimeMillis() - start < maxMs) {
                ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                long now = System.currentTimeMillis();
                if (first < 0) {
                    first = now;
                }
                last = now;
                StringBuilder sb = new StringBuilder();
                if (counts) {
                    // Every value byte read, as the Rust bench does.
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        for (byte b : r.value()) {
                            touched += b & 0xff;
                        }
                    }
                    received += records.count();
                    sb.append("N\t").append(received).append('\n');
                    out.print(sb);
                    out.flush();
                    continue;
                }
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    received++;
                    sb.append("S\t").append(r.partition()).append('\t').append(r.offset())
                            .append('\t').append(r.deliveryCount().orElse((short) -1))
                            .append('\t').append(JavaPeer.hex(r.value())).append('\n');
                }
                out.print(sb);
                out.flush();
            }
        }
        if (touched == 42) {
            JavaPeer.log("touched " + touched);
        }
        out.print("DONE\t" + received + "\t" + first + "\t" + last + "\n");
        out.flush();
        return 0;
    }
}

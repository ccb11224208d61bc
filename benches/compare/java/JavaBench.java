// The Java client (kafka-clients of the pinned Apache Kafka) under the shared benchmark flags of
// benches/compare/src/lib.rs: same subcommands (produce, consume, latency), same flags, value
// pool, partitioning (record i to partition i % partitions), monotonic clock and RESULT line.
// Built and run by bench.py (javac into target/bench-peers/java; java -Xmx1g -cp libs/*:...).
//
// Java differs from the native clients in one way the harness has to allow for: its hot paths
// run interpreted until the JIT has compiled them, which Java users pay once per process and
// then never again. Throughput runs therefore start with an untimed warm-up phase of
// JIT_WARMUP records on the same topic (consume: read, then seek back to the beginning), as a
// Java user's long-running service would be warm. The RESULT line reports those records as
// warmup_records=N so bench.py divides the process's CPU time (JVM start-up, JIT and warm-up
// included, as every other client's start-up is) by every record the process handled.
//
//   java -cp "$libs/*:target/bench-peers/java" JavaBench produce --bootstrap H:P --topic T ...
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class JavaBench {
  /** Records of the untimed JIT warm-up of a throughput run (capped at the run's count). */
  static final long JIT_WARMUP = 100_000;

  /** Exit status for a command this client has no bench for (bench.py shows the cell n/a). */
  static final int UNSUPPORTED_EXIT = 3;

  static final class Args {
    String cmd;
    String bootstrap;
    String topic;
    int partitions = 1;
    int size = 100;
    final List<String[]> props = new ArrayList<>();
    String acks = "all";
    boolean idempotence = true;
    String compression = "none";
    long lingerMs = 5;
    long batchSize = 1_048_576;
    long count = 1_000_000;
    int producers = 1;
    int members = 2;
    String protocol = "eager";
    String group;
    long timeout = 120;
    long rate = 1000;
    long seconds = 10;
  }

  public static void main(String[] argv) throws Exception {
    Args a = parse(argv);
    switch (a.cmd) {
      case "produce" -> produce(a);
      case "consume" -> consume(a);
      case "latency" -> latency(a);
      case "idle" -> idle(a);
      case "group" -> group(a);
      case "share" -> {
        System.err.println("UNSUPPORTED share groups: benches/compare/share.py runs Java's own peer");
        System.exit(UNSUPPORTED_EXIT);
      }
      default -> fail("command", "unknown subcommand " + a.cmd);
    }
  }

  static Args parse(String[] argv) {
    if (argv.length == 0) {
      fail("usage", "JavaBench produce|consume|latency|idle|group --bootstrap H:P --topic T [flags]");
    }
    Args a = new Args();
    a.cmd = argv[0];
    for (int i = 1; i < argv.length; i++) {
      String flag = argv[i];
      if (i + 1 >= argv.length) {
        fail("flag " + flag, "missing value");
      }
      String v = argv[++i];
      switch (flag) {
        case "--bootstrap" -> a.bootstrap = v;
        case "--topic" -> a.topic = v;
        case "--partitions" -> a.partitions = Integer.parseInt(v);
        case "--size" -> a.size = Integer.parseInt(v);
        case "-X" -> {
          int eq = v.indexOf('=');
          if (eq < 0) {
            fail("-X " + v, "expected key=value");
          }
          a.props.add(new String[] {v.substring(0, eq), v.substring(eq + 1)});
        }
        case "--acks" -> a.acks = v;
        case "--idempotence" -> a.idempotence = Boolean.parseBoolean(v);
        case "--compression" -> a.compression = v;
        case "--linger-ms" -> a.lingerMs = Long.parseLong(v);
        case "--batch-size" -> a.batchSize = Long.parseLong(v);
        case "--count" -> a.count = Long.parseLong(v);
        case "--producers" -> a.producers = Math.max(1, Integer.parseInt(v));
        case "--members" -> a.members = Integer.parseInt(v);
        case "--protocol" -> a.protocol = v;
        case "--group" -> a.group = v;
        case "--timeout" -> a.timeout = Long.parseLong(v);
        case "--rate" -> a.rate = Math.max(1, Long.parseLong(v));
        case "--seconds" -> a.seconds = Long.parseLong(v);
        default -> fail("flag " + flag, "unknown");
      }
    }
    if (a.bootstrap == null || a.topic == null) {
      fail("flags", "--bootstrap and --topic are required");
    }
    return a;
  }

  /**
   * The value pool of src/lib.rs, byte for byte: a text of words drawn by fastrand's wyrand from
   * seed 7 (`rng.usize(..4)` on 64-bit is the top two bits of the next u64), value i the window
   * text[7 i, 7 i + size).
   */
  static byte[][] valuePool(int size) {
    String[] words = {"kafka ", "event ", "user ", "42 "};
    StringBuilder text = new StringBuilder(size + 8 * 1024 + 16);
    long state = 7;
    while (text.length() < size + 8 * 1024) {
      state += 0x2d358dccaa6c78a5L;
      long b = state ^ 0x8bb84b93962eacc9L;
      long r = (state * b) ^ unsignedMultiplyHigh(state, b);
      text.append(words[(int) (r >>> 62)]);
    }
    byte[] bytes = text.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    // 1024 values of 1 MB would fill the 1 GiB heap: large values get a smaller pool (record i
    // still takes value i % pool length).
    byte[][] pool = new byte[(int) Math.max(1, Math.min(1024, (256L << 20) / Math.max(1, size)))][];
    for (int i = 0; i < pool.length; i++) {
      pool[i] = java.util.Arrays.copyOfRange(bytes, i * 7, i * 7 + size);
    }
    return pool;
  }

  // Math.unsignedMultiplyHigh is Java 18+; the broker needs only 17.
  static long unsignedMultiplyHigh(long x, long y) {
    return Math.multiplyHigh(x, y) + ((x >> 63) & y) + ((y >> 63) & x);
  }

  static int partitionOf(long i, int partitions) {
    return (int) (i % Math.max(1, partitions));
  }

  static long touch(byte[] v) {
    long sum = 0;
    for (byte b : v) {
      sum += b & 0xff;
    }
    return sum;
  }

  static void reportThroughput(long records, long bytes, long nanos, long warmup) {
    System.out.printf(
        "RESULT records=%d bytes=%d seconds=%.6f warmup_records=%d%n",
        records, bytes, nanos / 1e9, warmup);
    System.out.flush();
  }

  static void fail(String what, Object e) {
    System.err.println("error: " + what + ": " + e);
    System.err.flush();
    // halt, not exit: this may run on the producer's I/O thread, and exit would wait for
    // shutdown hooks while the main thread blocks on acknowledgements that never come.
    Runtime.getRuntime().halt(1);
  }

  static KafkaProducer<byte[], byte[]> producer(Args a) {
    Properties p = new Properties();
    p.put("bootstrap.servers", a.bootstrap);
    p.put("acks", a.acks);
    p.put("enable.idempotence", Boolean.toString(a.idempotence));
    p.put("compression.type", a.compression);
    p.put("linger.ms", Long.toString(a.lingerMs));
    p.put("batch.size", Long.toString(a.batchSize));
    for (String[] kv : a.props) {
      p.put(kv[0], kv[1]);
    }
    return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
  }

  /** Counts acknowledgements of one phase down; any failed delivery ends the run. */
  static Callback counting(CountDownLatch done) {
    return (metadata, e) -> {
      if (e != null) {
        fail("delivery", e);
      }
      done.countDown();
    };
  }

  static void sendAll(KafkaProducer<byte[], byte[]> p, Args a, byte[][] values, long n)
      throws InterruptedException {
    sendRange(p, a, values, 0, n);
  }

  /** Sends records from..to (record i to partition i % partitions) and awaits them. */
  static void sendRange(KafkaProducer<byte[], byte[]> p, Args a, byte[][] values, long from, long to)
      throws InterruptedException {
    CountDownLatch done = new CountDownLatch((int) (to - from));
    Callback cb = counting(done);
    for (long i = from; i < to; i++) {
      p.send(
          new ProducerRecord<>(
              a.topic, partitionOf(i, a.partitions), null, values[(int) (i % values.length)]),
          cb);
    }
    done.await();
  }

  static void produce(Args a) throws Exception {
    if (a.producers > 1) {
      produceMany(a);
      return;
    }
    byte[][] values = valuePool(a.size);
    try (KafkaProducer<byte[], byte[]> p = producer(a)) {
      // Untimed: metadata, connections and producer id (at least one record per partition,
      // as the other clients), and the JIT.
      long warmup = Math.max(a.partitions, Math.min(a.count, JIT_WARMUP));
      sendAll(p, a, values, warmup);
      long start = System.nanoTime();
      sendAll(p, a, values, a.count);
      long elapsed = System.nanoTime() - start;
      reportThroughput(a.count, a.count * a.size, elapsed, warmup);
      p.close(Duration.ofSeconds(10));
    }
  }

  /**
   * `--producers N`: N producers in this JVM, each warmed up as one is, then each sending its
   * contiguous share of `count` from its own thread (benches/compare/src/lib.rs share_of).
   */
  static void produceMany(Args a) throws Exception {
    byte[][] values = valuePool(a.size);
    int n = a.producers;
    List<KafkaProducer<byte[], byte[]>> ps = new ArrayList<>();
    for (int k = 0; k < n; k++) {
      ps.add(producer(a));
    }
    long warmup = Math.max(a.partitions, Math.min(a.count, JIT_WARMUP));
    for (KafkaProducer<byte[], byte[]> p : ps) {
      sendAll(p, a, values, warmup);
    }
    long start = System.nanoTime();
    List<Thread> threads = new ArrayList<>();
    long base = a.count / n, extra = a.count % n;
    for (int k = 0; k < n; k++) {
      long from = k * base + Math.min(k, extra);
      long to = from + base + (k < extra ? 1 : 0);
      KafkaProducer<byte[], byte[]> p = ps.get(k);
      Thread t =
          new Thread(
              () -> {
                try {
                  sendRange(p, a, values, from, to);
                } catch (InterruptedException e) {
                  fail("send", e);
                }
              });
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join();
    }
    long elapsed = System.nanoTime() - start;
    reportThroughput(a.count, a.count * a.size, elapsed, warmup * n);
    for (KafkaProducer<byte[], byte[]> p : ps) {
      p.close(Duration.ofSeconds(10));
    }
  }

  /**
   * `group`: rebalance time of a consumer group (benches/compare/src/lib.rs Cmd::Group). Each
   * member polls on its own thread and publishes its assignment after every poll; the main
   * thread waits until they cover every partition once, each member holding one or more.
   */
  static void group(Args a) throws Exception {
    int n = a.members;
    List<List<Integer>> held = new ArrayList<>();
    for (int k = 0; k <= n; k++) {
      held.add(List.of());
    }
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    long deadline = System.nanoTime() + a.timeout * 1_000_000_000L;
    List<Thread> threads = new ArrayList<>();
    long start = System.nanoTime();
    for (int k = 0; k < n; k++) {
      threads.add(member(a, k, held, stop));
    }
    settle(held, n, a, deadline);
    long form = System.nanoTime() - start;
    start = System.nanoTime();
    threads.add(member(a, n, held, stop));
    settle(held, n + 1, a, deadline);
    long rebalance = System.nanoTime() - start;
    System.out.printf(
        "RESULT records=0 bytes=0 seconds=%.6f form_seconds=%.6f members=%d%n",
        rebalance / 1e9, form / 1e9, n);
    System.out.flush();
    stop.set(true);
    for (Thread t : threads) {
      t.join();
    }
  }

  static Thread member(
      Args a, int id, List<List<Integer>> held, java.util.concurrent.atomic.AtomicBoolean stop) {
    Properties p = new Properties();
    p.put("bootstrap.servers", a.bootstrap);
    p.put("group.id", a.group);
    p.put("client.id", "bench-group-" + id);
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    switch (a.protocol) {
      case "consumer" -> p.put("group.protocol", "consumer");
      case "eager" -> p.put("partition.assignment.strategy",
          "org.apache.kafka.clients.consumer.RangeAssignor");
      case "cooperative" -> p.put("partition.assignment.strategy",
          "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
      default -> fail("protocol", a.protocol + ": eager, cooperative or consumer");
    }
    for (String[] kv : a.props) {
      p.put(kv[0], kv[1]);
    }
    Thread t =
        new Thread(
            () -> {
              try (KafkaConsumer<byte[], byte[]> c =
                  new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                c.subscribe(List.of(a.topic));
                while (!stop.get()) {
                  c.poll(Duration.ofMillis(50));
                  List<Integer> mine = new ArrayList<>();
                  for (TopicPartition tp : c.assignment()) {
                    mine.add(tp.partition());
                  }
                  synchronized (held) {
                    held.set(id, mine);
                  }
                }
              }
            });
    t.start();
    return t;
  }

  /** Waits until the first `k` members' assignments cover every partition once (lib.rs covered). */
  static void settle(List<List<Integer>> held, int k, Args a, long deadline) throws InterruptedException {
    while (true) {
      boolean ok = true;
      boolean[] seen = new boolean[a.partitions];
      synchronized (held) {
        for (int m = 0; m < k && ok; m++) {
          List<Integer> mine = held.get(m);
          ok = !mine.isEmpty();
          for (int part : mine) {
            if (part < 0 || part >= a.partitions || seen[part]) {
              ok = false;
              break;
            }
            seen[part] = true;
          }
        }
      }
      for (boolean b : seen) {
        ok &= b;
      }
      if (ok) {
        return;
      }
      if (System.nanoTime() > deadline) {
        fail("group", k + " members did not settle in " + a.timeout + " s");
      }
      Thread.sleep(2);
    }
  }

  /** A consumer (no group) with every partition assigned; returns it and fills `parts`. */
  static KafkaConsumer<byte[], byte[]> assigned(Args a, List<TopicPartition> parts) {
    Properties p = new Properties();
    p.put("bootstrap.servers", a.bootstrap);
    p.put("auto.offset.reset", "earliest");
    p.put("enable.auto.commit", "false");
    for (String[] kv : a.props) {
      p.put(kv[0], kv[1]);
    }
    KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    for (int i = 0; i < a.partitions; i++) {
      parts.add(new TopicPartition(a.topic, i));
    }
    c.assign(parts);
    return c;
  }

  /** Idle partitions: poll an empty topic's every partition for `seconds`, then exit. */
  static void idle(Args a) {
    List<TopicPartition> parts = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = assigned(a, parts)) {
      long start = System.nanoTime();
      long until = start + a.seconds * 1_000_000_000L;
      for (long now = start; now < until; now = System.nanoTime()) {
        if (!c.poll(Duration.ofNanos(until - now)).isEmpty()) {
          fail("idle", "the topic is not empty");
        }
      }
      System.out.printf(
          "RESULT records=0 bytes=0 seconds=%.6f partitions=%d%n",
          (System.nanoTime() - start) / 1e9, a.partitions);
    }
  }

  static void consume(Args a) {
    List<TopicPartition> parts = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = assigned(a, parts)) {
      long[] touched = {0};
      long warmup = Math.min(a.count, JIT_WARMUP);
      long[] warm = readRecords(c, warmup, touched);
      c.seekToBeginning(parts);
      long start = System.nanoTime();
      long[] timed = readRecords(c, a.count, touched);
      long elapsed = System.nanoTime() - start;
      if (touched[0] == 42) {
        // Keeps the byte sums observable so the JIT cannot drop the reads.
        System.err.println("touched " + touched[0]);
      }
      reportThroughput(timed[0], timed[1], elapsed, warm[0]);
    }
  }

  /** Polls until `count` records are read; returns {records, bytes}. */
  static long[] readRecords(KafkaConsumer<byte[], byte[]> c, long count, long[] touched) {
    long records = 0;
    long bytes = 0;
    long sum = touched[0];
    while (records < count) {
      ConsumerRecords<byte[], byte[]> batch = c.poll(Duration.ofSeconds(1));
      for (ConsumerRecord<byte[], byte[]> r : batch) {
        byte[] v = r.value();
        if (v != null) {
          bytes += v.length;
          sum += touch(v);
        }
        records++;
      }
    }
    touched[0] = sum;
    return new long[] {records, bytes};
  }

  static void latency(Args a) throws Exception {
    byte[][] values = valuePool(a.size);
    try (KafkaProducer<byte[], byte[]> p = producer(a)) {
      // The JIT first, closed loop, then the open loop's own untimed second (as every client).
      long jit = Math.min(JIT_WARMUP / 5, a.rate * a.seconds);
      sendAll(p, a, values, jit);
      long warmup = a.rate;
      long total = warmup + a.rate * a.seconds;
      // Recorded on the producer's single I/O thread, read after the latch: no lock needed.
      Histogram hist = new Histogram(1, 60_000_000, 3);
      CountDownLatch done = new CountDownLatch((int) total);
      long start = System.nanoTime();
      for (long i = 0; i < total; i++) {
        final long due = start + i * 1_000_000_000L / a.rate;
        long wait = due - System.nanoTime();
        if (wait > 0) {
          LockSupport.parkNanos(wait);
        }
        final boolean measured = i >= warmup;
        p.send(
            new ProducerRecord<>(
                a.topic, partitionOf(i, a.partitions), null, values[(int) (i % values.length)]),
            (metadata, e) -> {
              if (e != null) {
                fail("delivery", e);
              }
              if (measured) {
                long us = (System.nanoTime() - due) / 1000;
                hist.recordValue(Math.max(1, Math.min(60_000_000, us)));
              }
              done.countDown();
            });
      }
      done.await();
      System.out.printf(
          "RESULT records=%d bytes=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f%n",
          hist.getTotalCount(),
          hist.getTotalCount() * a.size,
          hist.getValueAtPercentile(50) / 1000.0,
          hist.getValueAtPercentile(99) / 1000.0,
          hist.getValueAtPercentile(99.9) / 1000.0,
          hist.getMaxValue() / 1000.0);
      System.out.flush();
      p.close(Duration.ofSeconds(10));
    }
  }
}

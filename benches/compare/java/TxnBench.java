// Hand-run Java peer for BENCHMARKS.md's transactional producer rows: TXNS transactions of PER
// 100-byte records each to topic bench-produce (linger.ms=5, batch.size=1 MiB, acks=all, as
// examples/bench_produce), timed twice in one JVM; the second round (JIT warm) is the one reported.
//
//   libs=$(scripts/kafka install | tail -n 1)
//   javac -d target/txn-bench -cp "$libs/*" benches/compare/java/TxnBench.java
//   java -cp "$libs/*:target/txn-bench" TxnBench 127.0.0.1:9092 50 1000
import java.util.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.ByteArraySerializer;
public class TxnBench {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("transactional.id", "java-bench");
    p.put("linger.ms", "5");
    p.put("batch.size", "1048576");
    p.put("acks", "all");
    int txns = Integer.parseInt(a[1]), per = Integer.parseInt(a[2]);
    byte[] v = new byte[100];
    try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      pr.initTransactions();
      for (int round = 0; round < 2; round++) {
        long start = System.nanoTime(); long commitNs = 0;
        for (int t = 0; t < txns; t++) {
          pr.beginTransaction();
          for (int i = 0; i < per; i++) pr.send(new ProducerRecord<>("bench-produce", v));
          long c = System.nanoTime();
          pr.commitTransaction();
          commitNs += System.nanoTime() - c;
        }
        double s = (System.nanoTime() - start) / 1e9;
        System.out.printf("round %d: %d txns x %d: %.3f s, %.0f rec/s, commit %.3f s (%.1f ms each)%n", round, txns, per, s, txns*per/s, commitNs/1e9, commitNs/1e6/txns);
      }
    }
  }
}

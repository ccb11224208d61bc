// Command bench-franzgo runs franz-go (kgo) under the shared benchmark flags of
// benches/compare/src/lib.rs: same subcommands (produce, consume, latency), same flags, value
// pool, partitioning (record i to partition i % partitions), monotonic clock and RESULT line.
// Built by bench.py (go build into target/bench-peers/bench-franzgo).
//
// Producer: Client.Produce with a promise per record (franz-go's asynchronous API), records
// placed by ManualPartitioner. Consumer: PollFetches with every partition assigned directly
// (ConsumePartitions, no group) from the start.
package main

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const unsupportedExit = 3

type args struct {
	cmd         string
	bootstrap   string
	topic       string
	partitions  int32
	size        int
	props       []string
	acks        string
	idempotence bool
	compression string
	lingerMs    int64
	batchSize   int64
	count       int64
	producers   int64
	members     int
	protocol    string
	group       string
	timeout     int64
	rate        int64
	seconds     int64
}

func fail(what string, err any) {
	fmt.Fprintf(os.Stderr, "error: %s: %v\n", what, err)
	os.Exit(1)
}

func parse(argv []string) args {
	if len(argv) == 0 {
		fail("usage", "bench-franzgo produce|consume|latency|idle|group --bootstrap H:P --topic T [flags]")
	}
	a := args{cmd: argv[0], partitions: 1, size: 100, acks: "all", idempotence: true,
		compression: "none", lingerMs: 5, batchSize: 1 << 20, count: 1_000_000, producers: 1, members: 2, protocol: "eager", timeout: 120, rate: 1000, seconds: 10}
	num := func(flag, v string) int64 {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fail("flag "+flag, err)
		}
		return n
	}
	for i := 1; i < len(argv); i += 2 {
		flag := argv[i]
		if i+1 >= len(argv) {
			fail("flag "+flag, "missing value")
		}
		v := argv[i+1]
		switch flag {
		case "--bootstrap":
			a.bootstrap = v
		case "--topic":
			a.topic = v
		case "--partitions":
			a.partitions = int32(num(flag, v))
		case "--size":
			a.size = int(num(flag, v))
		case "-X":
			a.props = append(a.props, v)
		case "--acks":
			a.acks = v
		case "--idempotence":
			b, err := strconv.ParseBool(v)
			if err != nil {
				fail("flag "+flag, err)
			}
			a.idempotence = b
		case "--compression":
			a.compression = v
		case "--linger-ms":
			a.lingerMs = num(flag, v)
		case "--batch-size":
			a.batchSize = num(flag, v)
		case "--count":
			a.count = num(flag, v)
		case "--producers":
			a.producers = max(1, num(flag, v))
		case "--members":
			a.members = int(num(flag, v))
		case "--protocol":
			a.protocol = v
		case "--group":
			a.group = v
		case "--timeout":
			a.timeout = num(flag, v)
		case "--rate":
			a.rate = max(1, num(flag, v))
		case "--seconds":
			a.seconds = num(flag, v)
		default:
			fail("flag "+flag, "unknown")
		}
	}
	if a.bootstrap == "" || a.topic == "" {
		fail("flags", "--bootstrap and --topic are required")
	}
	// franz-go has its own options, not Kafka's property names: no number rather than one
	// measured without the setting (as the Rust peers that take no -X).
	if len(a.props) > 0 {
		fmt.Fprintf(os.Stderr, "UNSUPPORTED -X %s: this client's bench takes no client properties\n", a.props[0])
		os.Exit(unsupportedExit)
	}
	return a
}

// valuePool is the value pool of src/lib.rs, byte for byte: a text of words drawn by
// fastrand's wyrand from seed 7 (`rng.usize(..4)` on 64-bit is the top two bits of the next
// u64), value i the window text[7 i, 7 i + size).
func valuePool(size int) [][]byte {
	words := []string{"kafka ", "event ", "user ", "42 "}
	var text []byte
	state := uint64(7)
	for len(text) < size+8*1024 {
		state += 0x2d358dccaa6c78a5
		hi, lo := bits.Mul64(state, state^0x8bb84b93962eacc9)
		text = append(text, words[(hi^lo)>>62]...)
	}
	pool := make([][]byte, 1024)
	for i := range pool {
		pool[i] = text[i*7 : i*7+size]
	}
	return pool
}

func partitionOf(i int64, partitions int32) int32 {
	return int32(i % int64(max(1, partitions)))
}

func touch(v []byte) uint64 {
	var sum uint64
	for _, b := range v {
		sum += uint64(b)
	}
	return sum
}

func reportThroughput(records, nbytes int64, elapsed time.Duration) {
	fmt.Printf("RESULT records=%d bytes=%d seconds=%.6f\n", records, nbytes, elapsed.Seconds())
}

func producer(a args) *kgo.Client {
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(a.bootstrap, ",")...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Duration(a.lingerMs) * time.Millisecond),
		kgo.ProducerBatchMaxBytes(int32(a.batchSize)),
		// The default 50,000 buffered records would cap throughput before batch.size does;
		// bound by bytes instead, at the Java client's buffer.memory default (32 MiB).
		kgo.MaxBufferedRecords(1 << 30),
		kgo.MaxBufferedBytes(32 << 20),
	}
	switch a.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	default:
		fail("acks", a.acks)
	}
	if !a.idempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	codec := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	c, ok := codec[a.compression]
	if !ok {
		fail("compression", a.compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(c))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fail("producer", err)
	}
	return cl
}

// sendAll produces records [from, to) and waits for every acknowledgement.
func sendAll(cl *kgo.Client, a args, values [][]byte, from, to int64) {
	var wg sync.WaitGroup
	wg.Add(int(to - from))
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			fail("delivery", err)
		}
		wg.Done()
	}
	ctx := context.Background()
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: a.topic, Partition: partitionOf(i, a.partitions), Value: values[i%int64(len(values))]}
		cl.Produce(ctx, r, promise)
	}
	wg.Wait()
}

func produce(a args) {
	values := valuePool(a.size)
	// --producers N: N clients in this process, each warmed up, then each sending its
	// contiguous share of count from its own goroutine (benches/compare/src/lib.rs share_of).
	n := a.producers
	cls := make([]*kgo.Client, n)
	for k := range cls {
		cls[k] = producer(a)
		defer cls[k].Close()
		// Warm-up (untimed): metadata, connections, producer id; one record per partition.
		sendAll(cls[k], a, values, 0, int64(a.partitions))
	}
	start := time.Now()
	if n == 1 {
		sendAll(cls[0], a, values, 0, a.count)
	} else {
		var wg sync.WaitGroup
		base, extra := a.count/n, a.count%n
		for k := int64(0); k < n; k++ {
			from := k*base + min(k, extra)
			to := from + base
			if k < extra {
				to++
			}
			wg.Add(1)
			go func(cl *kgo.Client) {
				defer wg.Done()
				sendAll(cl, a, values, from, to)
			}(cls[k])
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	reportThroughput(a.count, a.count*int64(a.size), elapsed)
}

// assigned is a client (no group) with every partition assigned from the log start.
func assigned(a args) *kgo.Client {
	offsets := make(map[int32]kgo.Offset, a.partitions)
	for p := int32(0); p < a.partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(a.bootstrap, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{a.topic: offsets}),
	)
	if err != nil {
		fail("consumer", err)
	}
	return cl
}

// idle polls an empty topic's every partition for a.seconds, then exits.
func idle(a args) {
	cl := assigned(a)
	defer cl.Close()
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(time.Duration(a.seconds)*time.Second))
	defer cancel()
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		for _, e := range fetches.Errors() {
			if e.Err != context.DeadlineExceeded && e.Err != context.Canceled {
				fail("poll", fmt.Sprintf("%s[%d]: %v", e.Topic, e.Partition, e.Err))
			}
		}
		if fetches.NumRecords() > 0 {
			fail("idle", "the topic is not empty")
		}
	}
	fmt.Printf("RESULT records=0 bytes=0 seconds=%.6f partitions=%d\n", time.Since(start).Seconds(), a.partitions)
}

func consume(a args) {
	cl := assigned(a)
	defer cl.Close()
	start := time.Now()
	var records, nbytes int64
	var touched uint64
	ctx := context.Background()
	for records < a.count {
		fetches := cl.PollFetches(ctx)
		for _, e := range fetches.Errors() {
			fail("poll", fmt.Sprintf("%s[%d]: %v", e.Topic, e.Partition, e.Err))
		}
		fetches.EachRecord(func(r *kgo.Record) {
			nbytes += int64(len(r.Value))
			touched += touch(r.Value)
			records++
		})
	}
	elapsed := time.Since(start)
	if touched == 42 {
		// Keeps the byte sums observable so the compiler cannot drop the reads.
		fmt.Fprintln(os.Stderr, "touched", touched)
	}
	reportThroughput(records, nbytes, elapsed)
}

func latency(a args) {
	values := valuePool(a.size)
	cl := producer(a)
	defer cl.Close()
	warmup := a.rate
	total := warmup + a.rate*a.seconds
	// Promises run one at a time, in order, on franz-go's promise goroutine; the mutex only
	// makes the final read safe.
	var mu sync.Mutex
	samples := make([]int64, 0, a.rate*a.seconds)
	var acked atomic.Int64
	done := make(chan struct{})
	ctx := context.Background()
	start := time.Now()
	for i := int64(0); i < total; i++ {
		// Open loop: sleep until record i is due, never waiting for acknowledgements.
		due := start.Add(time.Duration(i * int64(time.Second) / a.rate))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		measured := i >= warmup
		r := &kgo.Record{Topic: a.topic, Partition: partitionOf(i, a.partitions), Value: values[i%int64(len(values))]}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				fail("delivery", err)
			}
			if measured {
				us := min(max(time.Since(due).Microseconds(), 1), 60_000_000)
				mu.Lock()
				samples = append(samples, us)
				mu.Unlock()
			}
			if acked.Add(1) == total {
				close(done)
			}
		})
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	// The sample at rank ceil(q n), as hdrhistogram's value_at_quantile (without its 3
	// significant digit bucketing).
	q := func(p float64) float64 {
		if len(samples) == 0 {
			return 0
		}
		k := int(p*float64(len(samples))+0.999999) - 1
		return float64(samples[min(max(k, 0), len(samples)-1)]) / 1000
	}
	n := int64(len(samples))
	fmt.Printf("RESULT records=%d bytes=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
		n, n*int64(a.size), q(0.50), q(0.99), q(0.999), q(1))
}

func main() {
	a := parse(os.Args[1:])
	switch a.cmd {
	case "produce":
		produce(a)
	case "consume":
		consume(a)
	case "latency":
		latency(a)
	case "idle":
		idle(a)
	case "group":
		group(a)
	case "share":
		fmt.Fprintln(os.Stderr, "UNSUPPORTED share groups: this client's bench has no share consumer")
		os.Exit(unsupportedExit)
	default:
		fail("command", "unknown subcommand "+a.cmd)
	}
}

// group times a consumer group's rebalance (benches/compare/src/lib.rs Cmd::Group): a.members
// members poll until their assignments cover every partition once, then one more joins, timed
// until the a.members+1 assignments do again. Each member's assignment follows its
// assigned/revoked/lost callbacks.
func group(a args) {
	var opts []kgo.Opt
	switch a.protocol {
	case "eager":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "cooperative":
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	case "consumer":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())
	default:
		fail("protocol", a.protocol+": eager, cooperative or consumer")
	}
	n := a.members
	var mu sync.Mutex
	held := make([]map[int32]bool, n+1)
	for k := range held {
		held[k] = map[int32]bool{}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	member := func(id int) {
		change := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
			return func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range parts[a.topic] {
					if add {
						held[id][p] = true
					} else {
						delete(held[id], p)
					}
				}
			}
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{
			kgo.SeedBrokers(strings.Split(a.bootstrap, ",")...),
			kgo.ConsumerGroup(a.group),
			kgo.ConsumeTopics(a.topic),
			kgo.ClientID(fmt.Sprintf("bench-group-%d", id)),
			kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsAssigned(change(true)),
			kgo.OnPartitionsRevoked(change(false)),
			kgo.OnPartitionsLost(change(false)),
		}, opts...)...)
		if err != nil {
			fail("consumer", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				cl.PollFetches(pctx)
				cancel()
			}
		}()
	}
	deadline := time.Now().Add(time.Duration(a.timeout) * time.Second)
	settle := func(k int) {
		for {
			mu.Lock()
			ok, seen := true, make([]bool, a.partitions)
			for m := 0; m < k && ok; m++ {
				ok = len(held[m]) > 0
				for p := range held[m] {
					if p < 0 || p >= a.partitions || seen[p] {
						ok = false
						break
					}
					seen[p] = true
				}
			}
			mu.Unlock()
			for _, b := range seen {
				ok = ok && b
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				fail("group", fmt.Sprintf("%d members did not settle in %d s", k, a.timeout))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	start := time.Now()
	for id := 0; id < n; id++ {
		member(id)
	}
	settle(n)
	form := time.Since(start)
	start = time.Now()
	member(n)
	settle(n + 1)
	rebalance := time.Since(start)
	fmt.Printf("RESULT records=0 bytes=0 seconds=%.6f form_seconds=%.6f members=%d\n",
		rebalance.Seconds(), form.Seconds(), n)
	stop()
	wg.Wait()
}

//! Producer hot path without a broker: `Accumulator::append` as `enqueue`/`send_with_callback`
//! drive it, and drain + wire encoding (compression included) as the sender does it.
//!
//! `cargo bench --features bench-internals --bench producer` (about 80 s).
//! Records: 100-byte JSON-ish log lines (1024 distinct, generated before timing), null key or
//! 16-byte keys; batch.size 16384 (Java's default), 6 partitions, linger.ms 5.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferrokafka::bench_support::AppendBench;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const BATCH_SIZE: usize = 16384;
const PARTITIONS: i32 = 6;
const LINGER_MS: u64 = 5;
const VALUE_SIZE: usize = 100;
const POOL: usize = 1024;
/// Records appended between two (untimed) drains in the append-only benches.
const CHUNK: u64 = 10_000;
/// Records per iteration of the append + drain/encode benches.
const PER_ITER: usize = 10_000;

struct Data {
    values: Vec<Bytes>,
    keys: Vec<Bytes>,
}

/// Compressible, not trivially so: log-like JSON lines of words, ids and numbers.
fn data() -> Data {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    const EVENTS: [&str; 6] = [
        "page_view",
        "click",
        "add_to_cart",
        "login",
        "search",
        "logout",
    ];
    const PATHS: [&str; 5] = ["/products", "/cart", "/search", "/account", "/checkout"];
    const AGENTS: [&str; 4] = ["firefox", "chrome", "safari", "curl"];
    let values = (0..POOL)
        .map(|_| {
            let mut s = format!(
                r#"{{"ts":{},"user":"u{}","event":"{}","path":"{}/{}","ua":"{}","ms":{},"ok":{}}}"#,
                1_700_000_000_000u64 + rng.u64(..100_000_000),
                rng.u32(..100_000),
                EVENTS[rng.usize(..EVENTS.len())],
                PATHS[rng.usize(..PATHS.len())],
                rng.u32(..10_000),
                AGENTS[rng.usize(..AGENTS.len())],
                rng.u32(..2_000),
                rng.bool(),
            );
            while s.len() < VALUE_SIZE {
                s.push(' ');
            }
            s.truncate(VALUE_SIZE);
            Bytes::from(s)
        })
        .collect();
    let keys = (0..POOL)
        .map(|_| Bytes::from(format!("user-{:011}", rng.u64(..100_000_000_000))))
        .collect::<Vec<_>>();
    assert!(keys.iter().all(|k| k.len() == 16));
    Data { values, keys }
}

fn key(data: &Data, keyed: bool, i: usize) -> Option<&Bytes> {
    keyed.then(|| &data.keys[i % POOL])
}

fn new_bench(codec: &str) -> AppendBench {
    AppendBench::new(codec, BATCH_SIZE, PARTITIONS, LINGER_MS).expect("AppendBench::new")
}

fn key_label(keyed: bool) -> &'static str {
    if keyed { "key16" } else { "null-key" }
}

/// ns/record of one append; the accumulator is emptied (untimed) every `CHUNK` records.
fn append_only(c: &mut Criterion) {
    let data = data();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    let mut cases: Vec<(&str, bool, bool)> = Vec::new();
    for codec in CODECS {
        for keyed in [false, true] {
            cases.push((codec, keyed, false));
        }
    }
    cases.push(("none", false, true));
    cases.push(("none", true, true));
    for (codec, keyed, callback) in cases {
        let path = if callback { "callback" } else { "future" };
        let id = BenchmarkId::new(format!("{codec}/{}", key_label(keyed)), path);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut bench = new_bench(codec);
                let mut elapsed = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let n = (iters - done).min(CHUNK);
                    let start = Instant::now();
                    for i in done..done + n {
                        let i = i as usize;
                        let (k, v) = (key(&data, keyed, i), &data.values[i % POOL]);
                        if callback {
                            bench.append_with_callback(black_box(k), black_box(v), None);
                        } else {
                            bench.append(black_box(k), black_box(v), None);
                        }
                    }
                    elapsed += start.elapsed();
                    bench.discard();
                    done += n;
                }
                elapsed
            })
        });
    }
    group.finish();
}

/// 10,000 appends, then drain every batch, build its wire bytes (compressing) and complete it.
fn append_drain_encode(c: &mut Criterion) {
    let data = data();
    let mut group = c.benchmark_group("append_drain_encode");
    group.sample_size(20);
    group.throughput(Throughput::Elements(PER_ITER as u64));
    let mut cases: Vec<(&str, bool, bool)> = Vec::new();
    for codec in CODECS {
        for keyed in [false, true] {
            cases.push((codec, keyed, false));
        }
    }
    cases.push(("none", false, true));
    for (codec, keyed, callback) in cases {
        let mut bench = new_bench(codec);
        let run = |bench: &mut AppendBench| {
            for i in 0..PER_ITER {
                let (k, v) = (key(&data, keyed, i), &data.values[i % POOL]);
                if callback {
                    bench.append_with_callback(k, v, None);
                } else {
                    bench.append(k, v, None);
                }
            }
            bench.drain_encode()
        };
        let encoded = run(&mut bench);
        if callback {
            assert_eq!(bench.callbacks_ok(), PER_ITER as u64);
        } else {
            let raw = PER_ITER * (VALUE_SIZE + if keyed { 16 } else { 0 });
            eprintln!(
                "{codec:>6}/{:<8}: {PER_ITER} records, {raw} B of keys+values -> {encoded} B of \
                 record batches ({:.2}x)",
                key_label(keyed),
                raw as f64 / encoded as f64
            );
        }
        let path = if callback { "callback" } else { "future" };
        let id = BenchmarkId::new(format!("{codec}/{}", key_label(keyed)), path);
        group.bench_function(id, |b| b.iter(|| black_box(run(&mut bench))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = append_only, append_drain_encode
}
criterion_main!(benches);

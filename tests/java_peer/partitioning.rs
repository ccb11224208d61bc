//! Keyed partitioning against the Java producer.

use super::*;

// ---- 1. keyed partitioning ---------------------------------------------------------------

const KEYS: usize = 10_000;
const KEY_SEED: u64 = 0x6b61_666b_615f_6a76;
const MAX_PARTITIONS: i32 = 64;

/// Partition counts whose topics the Java producer really writes to: a spread (1, 2, 3, primes,
/// powers of two and their neighbours, 64), not all of 1..=64, because all of them is too slow.
/// Measured on the single test broker (2 cores, other test binaries running): the 64 topics of
/// 1..=64 partitions (2,080 partitions) took 26 s to create and come online (the broker brings
/// partition logs up one by one after CreateTopics returns), the Java producer's 640,000
/// records 27 s and reading them back 14 s: 67 s for this test alone. These 12 counts (238
/// partitions, 120,000 records) take about 5 + 5 + 1 s. Every count 1..=64 is still checked
/// against what Java's own producer code computes (`BuiltInPartitioner.partitionForKey`), and
/// `default_partition_for_key` is a pure function of (key, count): landing on a spread shows
/// the Java producer uses that function, the comparison covers every count.
const LANDING_COUNTS: [i32; 12] = [1, 2, 3, 5, 6, 7, 8, 16, 31, 32, 63, 64];

/// The keys: the empty key first, then random binary keys (every length 1..=64, so murmur2's
/// 1-, 2- and 3-byte tails all occur), multi-byte UTF-8 keys and plain ASCII ones.
fn test_keys() -> Vec<Vec<u8>> {
    const CHARS: [&str; 14] = [
        "a",
        "Z",
        "7",
        "-",
        "é",
        "ß",
        "ж",
        "Я",
        "ع",
        "中",
        "鍵",
        "😀",
        "🔑",
        "\u{10ffff}",
    ];
    let mut rng = SplitMix(KEY_SEED);
    let mut keys = vec![Vec::new()];
    for i in 1..KEYS {
        let key = match i % 4 {
            0 | 1 => {
                let n = rng.range(1, 64);
                rng.bytes(n)
            }
            2 => {
                let n = rng.range(1, 24);
                (0..n)
                    .map(|_| CHARS[rng.range(0, CHARS.len() - 1)])
                    .collect::<String>()
                    .into_bytes()
            }
            _ => format!("key-{i}").into_bytes(),
        };
        keys.push(key);
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_partitioning_matches_the_java_producer() {
    let _serial = SERIAL.lock().await;
    let bootstrap = bootstrap();
    let keys = test_keys();
    assert!(keys[0].is_empty());
    assert!(keys.iter().any(|k| std::str::from_utf8(k).is_err()));
    assert!(
        keys.iter()
            .any(|k| std::str::from_utf8(k).is_ok_and(|s| s.chars().any(|c| c.len_utf8() == 4)))
    );
    let stdin: String = keys.iter().map(|k| to_hex(k) + "\n").collect();

    // 1. What Java's producer code computes (BuiltInPartitioner.partitionForKey), every count.
    let counts: Vec<String> = (1..=MAX_PARTITIONS).map(|n| n.to_string()).collect();
    let counts = counts.join(",");
    let (input, arg) = (stdin.clone(), counts.clone());
    let out = tokio::task::spawn_blocking(move || {
        peer().run("partition-for-key", &["--counts", &arg], input.as_bytes())
    })
    .await
    .expect("java partition-for-key");
    let java_computed: Vec<Vec<i32>> = out
        .lines()
        .map(|l| {
            l.split(',')
                .map(|p| p.parse().expect("partition"))
                .collect()
        })
        .collect();
    assert_eq!(java_computed.len(), KEYS, "lines from partition-for-key");
    let mut mismatches = Vec::new();
    for (i, (key, java)) in keys.iter().zip(&java_computed).enumerate() {
        assert_eq!(java.len(), MAX_PARTITIONS as usize, "key {i}");
        for n in 1..=MAX_PARTITIONS {
            let ours = default_partition_for_key(key, n);
            let theirs = java[(n - 1) as usize];
            if ours != theirs {
                mismatches.push(format!(
                    "key {i} 0x{} n={n}: ours {ours}, Java {theirs}",
                    to_hex(key)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} (key, count) pairs differ from Java's partitionForKey, first: {:#?}",
        mismatches.len(),
        KEYS * MAX_PARTITIONS as usize,
        &mismatches[..mismatches.len().min(10)]
    );

    // 2. Where the Java producer's records land.
    let prefix = "java-keyed-";
    let landing: Vec<i32> = LANDING_COUNTS.to_vec();
    let start = Instant::now();
    admin_create(
        &bootstrap,
        landing
            .iter()
            .map(|n| NewTopic::new(format!("{prefix}{n}"), *n, 1))
            .collect(),
    )
    .await;
    let created = start.elapsed();
    let start = Instant::now();
    let (b, input) = (bootstrap.clone(), stdin.clone());
    let arg: Vec<String> = landing.iter().map(|n| n.to_string()).collect();
    let arg = arg.join(",");
    let out = tokio::task::spawn_blocking(move || {
        peer().run(
            "produce-keys",
            &[
                "--bootstrap",
                &b,
                "--topic-prefix",
                prefix,
                "--counts",
                &arg,
            ],
            input.as_bytes(),
        )
    })
    .await
    .expect("java produce-keys");
    let produced = start.elapsed();
    // count -> partition per key index, as the Java producer's RecordMetadata said.
    let mut reported: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() == 3 && f[0] == "P", "bad line {line:?}");
        let parts: Vec<i32> = f[2]
            .split(',')
            .map(|p| p.parse().expect("partition"))
            .collect();
        assert_eq!(parts.len(), KEYS, "{line:.40}");
        reported.insert(f[1].parse().expect("count"), parts);
    }
    assert_eq!(reported.keys().copied().collect::<Vec<_>>(), landing);

    // Read everything back: the partition a record is in is where it landed.
    let start = Instant::now();
    let topics: Vec<(String, i32)> = landing
        .iter()
        .map(|n| (format!("{prefix}{n}"), *n))
        .collect();
    let got = read_all(&bootstrap, &topics, KEYS * landing.len()).await;
    let read = start.elapsed();
    let mut seen: BTreeMap<i32, Vec<Option<i32>>> =
        landing.iter().map(|n| (*n, vec![None; KEYS])).collect();
    let mut wrong = Vec::new();
    for r in &got {
        let n: i32 = r.topic[prefix.len()..]
            .parse()
            .expect("count in topic name");
        let idx: usize = std::str::from_utf8(r.value.as_deref().expect("value"))
            .expect("utf-8 value")
            .parse()
            .expect("key index");
        assert_eq!(
            r.key.as_deref(),
            Some(keys[idx].as_slice()),
            "{}: key of record {idx}",
            r.topic
        );
        let slot = &mut seen.get_mut(&n).expect("count")[idx];
        assert!(slot.is_none(), "{}: key {idx} read twice", r.topic);
        *slot = Some(r.partition);
        let ours = default_partition_for_key(&keys[idx], n);
        let java = reported[&n][idx];
        if r.partition != ours || r.partition != java {
            wrong.push(format!(
                "key {idx} 0x{} n={n}: landed on {}, ours {ours}, Java's RecordMetadata {java}",
                to_hex(&keys[idx]),
                r.partition
            ));
        }
    }
    for (n, slots) in &seen {
        let missing: Vec<usize> = (0..KEYS).filter(|i| slots[*i].is_none()).collect();
        assert!(
            missing.is_empty(),
            "n={n}: {} keys not read back, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {} records landed elsewhere than we compute, first: {:#?}",
        wrong.len(),
        got.len(),
        &wrong[..wrong.len().min(10)]
    );
    // A comparison that passes because every key went to one partition proves little.
    for n in [7, MAX_PARTITIONS] {
        if let Some(slots) = seen.get(&n) {
            let mut used = vec![0usize; n as usize];
            for p in slots.iter().flatten() {
                used[*p as usize] += 1;
            }
            assert!(
                used.iter().all(|&c| c > KEYS / n as usize / 2),
                "n={n}: {used:?}"
            );
        }
    }
    eprintln!(
        "{} topics ({} partitions) created in {created:.1?}; Java produced {} records in \
         {produced:.1?}; read back in {read:.1?}",
        landing.len(),
        landing.iter().sum::<i32>(),
        got.len()
    );
}

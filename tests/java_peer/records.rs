//! Records byte for byte both ways, every codec.

use super::*;
use crate::common::records::assert_same_records;

// ---- 3. records byte for byte ------------------------------------------------------------

const PER_TOPIC: usize = 2000;
const RECORD_PARTITIONS: i32 = 3;

/// The topics of a direction: one per codec (CreateTime), and one lz4 topic with
/// `message.timestamp.type=LogAppendTime`. Returns (topic, codec, log_append_time).
fn record_topics(prefix: &str) -> Vec<(String, &'static str, bool)> {
    let mut v: Vec<(String, &'static str, bool)> = CODECS
        .iter()
        .map(|c| (format!("{prefix}{c}"), *c, false))
        .collect();
    v.push((format!("{prefix}lz4-append"), "lz4", true));
    v
}

async fn create_record_topics(bootstrap: &str, topics: &[(String, &str, bool)]) {
    admin_create(
        bootstrap,
        topics
            .iter()
            .map(|(t, _, append)| {
                let nt = NewTopic::new(t.clone(), RECORD_PARTITIONS, 1);
                if *append {
                    nt.config("message.timestamp.type", "LogAppendTime")
                } else {
                    nt
                }
            })
            .collect(),
    )
    .await;
}

/// Checks a written set covers the odd cases, so the comparison means something.
fn assert_varied(what: &str, written: &[Rec]) {
    let has = |f: &dyn Fn(&Rec) -> bool| written.iter().any(f);
    assert!(has(&|r| r.key.is_none()), "{what}: no null key");
    assert!(
        has(&|r| r.key.as_ref().is_some_and(Vec::is_empty)),
        "{what}: no empty key"
    );
    assert!(
        has(&|r| r
            .key
            .as_ref()
            .is_some_and(|k| std::str::from_utf8(k).is_err())),
        "{what}: no binary key"
    );
    assert!(has(&|r| r.value.is_none()), "{what}: no null value");
    assert!(
        has(&|r| r.value.as_ref().is_some_and(Vec::is_empty)),
        "{what}: no empty value"
    );
    assert!(
        has(&|r| r
            .value
            .as_ref()
            .is_some_and(|v| std::str::from_utf8(v).is_err())),
        "{what}: no binary value"
    );
    assert!(
        has(&|r| r.headers.iter().any(|h| h.1.is_none())),
        "{what}: no null header value"
    );
    assert!(
        has(&|r| r.headers.iter().filter(|h| h.0 == b"dup").count() == 2),
        "{what}: no repeated header key"
    );
    assert!(
        has(&|r| r
            .headers
            .iter()
            .any(|h| std::str::from_utf8(&h.0).is_ok_and(|k| !k.is_ascii()))),
        "{what}: no multi-byte header key"
    );
    let parts: BTreeSet<i32> = written.iter().map(|r| r.partition).collect();
    assert_eq!(
        parts.len(),
        RECORD_PARTITIONS as usize,
        "{what}: partitions used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_read_what_the_java_producer_wrote() {
    let _serial = SERIAL.lock().await;
    let bootstrap = bootstrap();
    let topics = record_topics("java2us-");
    create_record_topics(&bootstrap, &topics).await;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let spec: Vec<String> = topics.iter().map(|(t, c, _)| format!("{t}={c}")).collect();
    let (b, spec) = (bootstrap.clone(), spec.join(","));
    let stdout = tokio::task::spawn_blocking(move || {
        peer().run(
            "produce",
            &[
                "--bootstrap",
                &b,
                "--topics",
                &spec,
                "--count",
                &PER_TOPIC.to_string(),
                "--seed",
                "7",
            ],
            b"",
        )
    })
    .await
    .expect("java producer");
    let mut written = parse_records(&stdout);
    for (topic, _, append) in &topics {
        let recs: Vec<&mut Rec> = written.iter_mut().filter(|r| &r.topic == topic).collect();
        assert_eq!(
            recs.len(),
            PER_TOPIC,
            "records Java acknowledged on {topic}"
        );
        for r in recs {
            if *append {
                // The broker's time, which Java's RecordMetadata reports for such a topic.
                r.ts_type = "append".into();
                assert!(
                    r.timestamp >= started_ms - 60_000,
                    "{topic}: LogAppendTime {} from before the test started: {r:?}",
                    r.timestamp
                );
            }
        }
        let recs: Vec<Rec> = written
            .iter()
            .filter(|r| &r.topic == topic)
            .cloned()
            .collect();
        assert_varied(topic, &recs);
    }
    let names: Vec<(String, i32)> = topics
        .iter()
        .map(|(t, _, _)| (t.clone(), RECORD_PARTITIONS))
        .collect();
    let got = read_all(&bootstrap, &names, written.len()).await;
    assert_same_records("the Java producer wrote, we read", written, got);
}

/// Record `i` of a topic written by us: the shapes JavaPeer's `produce` writes.
fn our_record(
    topic: &str,
    codec: &str,
    i: usize,
    base_ts: i64,
    rng: &mut SplitMix,
) -> ProducerRecord {
    let key: Option<Vec<u8>> = if i.is_multiple_of(97) {
        None
    } else if i % 5 == 1 {
        let n = rng.range(0, 32);
        Some(rng.bytes(n))
    } else if i % 5 == 2 {
        Some(format!("ключ-鍵-🔑-{i}").into_bytes())
    } else {
        Some(format!("key-{codec}-{i}").into_bytes())
    };
    let value: Option<Vec<u8>> = match i % 250 {
        3 => None,
        5 => Some(Vec::new()),
        _ if i.is_multiple_of(3) => {
            let n = rng.range(1, 1999);
            Some(rng.bytes(n))
        }
        _ => Some(
            [
                format!("{codec}-{i:06}-").into_bytes(),
                b"the quick brown fox ".repeat(1 + i % 5),
            ]
            .concat(),
        ),
    };
    let timestamp = if i % 500 == 9 { 0 } else { base_ts + i as i64 };
    let mut r = ProducerRecord::new(topic, Vec::new())
        .timestamp(timestamp)
        .header("idx", i.to_string())
        .header("codec", codec.to_string());
    r.key = key.map(Into::into);
    r.value = value.map(Into::into);
    if i.is_multiple_of(7) {
        r = r.header("dup", "a").header("dup", "b");
    }
    if i.is_multiple_of(11) {
        r.headers.push(Header::null("null"));
    }
    if i.is_multiple_of(13) {
        r = r.header("empty", Vec::new());
    }
    if i.is_multiple_of(17) {
        let n = rng.range(1, 39);
        r = r.header("ключ-🔑", rng.bytes(n));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_consumer_reads_what_we_wrote() {
    let _serial = SERIAL.lock().await;
    let bootstrap = bootstrap();
    let topics = record_topics("us2java-");
    create_record_topics(&bootstrap, &topics).await;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut written: Vec<Rec> = Vec::new();
    for (n, (topic, codec, append)) in topics.iter().enumerate() {
        let p = producer(
            &bootstrap,
            &[
                ("compression.type", codec),
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
            ],
        );
        let mut rng = SplitMix(1000 + n as u64);
        let base = crate::common::day_old_timestamp_ms() + n as i64 * 1_000_000;
        let mut pending = Vec::new();
        for i in 0..PER_TOPIC {
            let rec = our_record(topic, codec, i, base, &mut rng);
            let sent = rec.clone();
            pending.push((sent, p.enqueue(rec).await.expect("enqueue")));
        }
        for (sent, delivery) in pending {
            let md = delivery
                .await
                .unwrap_or_else(|e| panic!("{topic}: not delivered: {e}"));
            if *append {
                assert!(
                    md.timestamp >= started_ms - 60_000,
                    "{topic}: the LogAppendTime our producer reported, {}, is from before the \
                     test started",
                    md.timestamp
                );
            } else {
                assert_eq!(Some(md.timestamp), sent.timestamp, "{topic}: timestamp");
            }
            written.push(Rec {
                topic: topic.clone(),
                partition: md.partition,
                offset: md.offset,
                ts_type: if *append { "append" } else { "create" }.into(),
                timestamp: md.timestamp,
                key: sent.key.map(|b| b.to_vec()),
                value: sent.value.map(|b| b.to_vec()),
                headers: sent
                    .headers
                    .into_iter()
                    .map(|h| (h.key.into_bytes(), h.value.map(|b| b.to_vec())))
                    .collect(),
            });
        }
        p.close(Duration::from_secs(10)).await;
        assert_varied(topic, &written[written.len() - PER_TOPIC..]);
    }
    // Our producer placed every keyed record by `default_partition_for_key` (which the
    // partitioning test holds to Java's).
    for r in &written {
        if let Some(k) = &r.key {
            assert_eq!(
                r.partition,
                default_partition_for_key(k, RECORD_PARTITIONS),
                "{r:?}"
            );
        }
    }

    let names: Vec<String> = topics.iter().map(|(t, _, _)| t.clone()).collect();
    let (b, names) = (bootstrap.clone(), names.join(","));
    let stdout = tokio::task::spawn_blocking(move || {
        peer().run("read", &["--bootstrap", &b, "--topics", &names], b"")
    })
    .await
    .expect("java consumer");
    assert_same_records(
        "we wrote, the Java consumer read",
        written,
        parse_records(&stdout),
    );
}

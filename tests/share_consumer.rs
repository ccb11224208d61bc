//! Share groups (KIP-932) against Apache Kafka: KafkaShareConsumer members sharing partitions,
//! acknowledgement types, lock expiry and the delivery count limit.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{create_topic, produce_values};
use ferrokafka::admin::{AlterConfigOp, ConfigResource};
use ferrokafka::share_consumer::{AcknowledgeType, ShareConsumerRecord};
use ferrokafka::{AdminClient, AdminConfig, KafkaShareConsumer, ShareConsumerConfig};

/// A broker whose share groups may use a lock of a second (the default floor is 15 s) and
/// whose members heartbeat twice a second (the default 5 s delays a new member's assignment).
fn broker() -> &'static TestBroker {
    static B: OnceLock<TestBroker> = OnceLock::new();
    B.get_or_init(|| {
        TestBroker::start_with(&[
            "group.share.min.record.lock.duration.ms=1000",
            "group.share.record.lock.duration.ms=15000",
            "group.share.min.heartbeat.interval.ms=500",
            "group.share.heartbeat.interval.ms=500",
        ])
    })
}

/// Group configs set before any member joins: start at the earliest offset, plus `extra`.
async fn group_config(group: &str, extra: &[(&str, &str)]) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(broker().bootstrap())
            .build()
            .expect("admin config"),
    );
    let mut ops = vec![AlterConfigOp::Set(
        "share.auto.offset.reset".into(),
        "earliest".into(),
    )];
    ops.extend(
        extra
            .iter()
            .map(|(k, v)| AlterConfigOp::Set(k.to_string(), v.to_string())),
    );
    let r = admin
        .incremental_alter_configs([(ConfigResource::group(group), ops)])
        .await
        .expect("alter group configs");
    for (res, outcome) in r {
        outcome.unwrap_or_else(|e| panic!("group config {res:?}: {e}"));
    }
}

fn member(group: &str, topic: &str, explicit: bool) -> KafkaShareConsumer {
    let mode = if explicit { "explicit" } else { "implicit" };
    let config = ShareConsumerConfig::from_properties([
        ("bootstrap.servers", broker().bootstrap().as_str()),
        ("group.id", group),
        ("share.acknowledgement.mode", mode),
    ])
    .expect("share consumer config");
    let mut c = KafkaShareConsumer::new(config).expect("share consumer");
    c.subscribe([topic]).expect("subscribe");
    c
}

fn value(r: &ShareConsumerRecord) -> usize {
    std::str::from_utf8(r.value.as_deref().expect("value"))
        .expect("utf8")
        .parse()
        .expect("number")
}

/// Polls until `until` holds for everything polled so far, or `limit` passes.
async fn poll_until(
    c: &mut KafkaShareConsumer,
    limit: Duration,
    mut each: impl FnMut(&mut KafkaShareConsumer, &ShareConsumerRecord),
    until: impl Fn() -> bool,
) {
    let start = Instant::now();
    while !until() && start.elapsed() < limit {
        let records = c.poll(Duration::from_millis(200)).await.expect("poll");
        for r in &records {
            each(c, r);
        }
    }
}

/// Whatever a fresh member of `group` gets within `wait`: what is still available.
async fn leftovers(group: &str, topic: &str, wait: Duration) -> Vec<(usize, i16)> {
    let mut c = member(group, topic, true);
    let mut got = Vec::new();
    let start = Instant::now();
    while start.elapsed() < wait {
        for r in c.poll(Duration::from_millis(200)).await.expect("poll") {
            got.push((value(&r), r.delivery_count));
            c.acknowledge(&r, AcknowledgeType::Release)
                .expect("release");
        }
    }
    c.close().await.expect("close");
    got
}

/// Creates `topic` with `partitions` partitions, sets `group`'s share configs, and produces
/// the values 0..n round robin.
async fn prepare(topic: &str, partitions: i32, group: &str, configs: &[(&str, &str)], n: usize) {
    create_topic(&broker().bootstrap(), topic, partitions).await;
    group_config(group, configs).await;
    produce_values(
        &broker().bootstrap(),
        topic,
        partitions,
        (0..n).map(|i| i.to_string()),
        "none",
    )
    .await;
}

/// One Java KafkaShareConsumer (tests/java/SharePeer.java) of `group`: each record it
/// receives goes into `seen` as `(id, value)`; it closes (acknowledging its last poll) when
/// the returned stdin is dropped.
fn java_member(
    group: &str,
    topic: &str,
    id: usize,
    seen: Arc<Mutex<Vec<(usize, usize)>>>,
) -> (std::process::ChildStdin, std::thread::JoinHandle<String>) {
    use std::io::BufRead;
    let mut child = common::java::peer()
        .command("share")
        .args(["--bootstrap", &broker().bootstrap(), "--topic", topic])
        .args(["--group", group, "--client-id", &format!("java-{id}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run java");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut done = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("java output");
            let f: Vec<&str> = line.split('\t').collect();
            match f.first() {
                Some(&"S") => {
                    let v = String::from_utf8(common::records::from_hex(f[4])).expect("utf8");
                    seen.lock().unwrap().push((id, v.parse().expect("number")));
                }
                Some(&"DONE") => done = line.clone(),
                _ => {}
            }
        }
        let out = child.wait_with_output().expect("wait for java");
        assert!(
            out.status.success(),
            "java share member {id} failed ({}):\n{}",
            out.status,
            common::java::tail(&String::from_utf8_lossy(&out.stderr), 30)
        );
        done
    });
    (stdin, reader)
}

/// Waits until `group` has `n` members, each with partitions assigned: records produced after
/// that can go to any of them.
async fn wait_for_members(group: &str, n: usize) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(broker().bootstrap())
            .build()
            .expect("admin config"),
    );
    let start = Instant::now();
    loop {
        let d = admin
            .describe_share_groups(&[group])
            .await
            .expect("describe");
        let members = d.get(group).and_then(|r| r.as_ref().ok()).map_or(0, |g| {
            g.members
                .iter()
                .filter(|m| !m.assignment.is_empty())
                .count()
        });
        if members >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{group}: {members} of {n} members joined with an assignment"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_members_and_two_java_accept_20000_records_exactly_once() {
    const N: usize = 20_000;
    const OURS: usize = 4;
    const JAVA: usize = 2;
    let (topic, group) = ("share-many", "share-many-g");
    create_topic(&broker().bootstrap(), topic, 2).await;
    group_config(group, &[]).await;

    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    // Ours, for a failure's message: (member, value, partition, offset, delivery count).
    type Detail = (usize, usize, i32, i64, i16);
    let detail: Arc<Mutex<Vec<Detail>>> = Arc::default();
    // Everyone joins and is assigned before the records exist, so every member competes for
    // them (a cold JVM that joined late used to find them all taken).
    let java: Vec<_> = (OURS..OURS + JAVA)
        .map(|id| java_member(group, topic, id, Arc::clone(&seen)))
        .collect();
    let mut tasks = Vec::new();
    for id in 0..OURS {
        let seen = Arc::clone(&seen);
        let detail = Arc::clone(&detail);
        tasks.push(tokio::spawn(async move {
            let mut c = member(group, topic, false);
            let start = Instant::now();
            while seen.lock().unwrap().len() < N && start.elapsed() < Duration::from_secs(90) {
                let records = c.poll(Duration::from_millis(200)).await.expect("poll");
                let mut s = seen.lock().unwrap();
                s.extend(records.iter().map(|r| (id, value(r))));
                detail.lock().unwrap().extend(records.iter().map(|r| {
                    let (p, o) = (r.record.partition, r.record.offset);
                    (id, value(r), p, o, r.delivery_count)
                }));
            }
            c.close().await.expect("close");
        }));
    }
    wait_for_members(group, OURS + JAVA).await;
    produce_values(
        &broker().bootstrap(),
        topic,
        2,
        (0..N).map(|i| i.to_string()),
        "none",
    )
    .await;
    for t in tasks {
        t.await.expect("member task");
    }
    for (stdin, reader) in java {
        drop(stdin);
        let done = reader.join().expect("java reader");
        assert!(done.starts_with("DONE"), "java member ended: {done:?}");
    }
    let seen = seen.lock().unwrap().clone();
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for (_, v) in &seen {
        *counts.entry(*v).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert_eq!(counts.len(), N, "distinct records received");
    let detail = detail.lock().unwrap().clone();
    let ours_of = |v: usize| {
        detail
            .iter()
            .filter(|d| d.1 == v)
            .copied()
            .collect::<Vec<_>>()
    };
    assert!(
        twice.is_empty(),
        "delivered more than once: {:?}",
        twice
            .iter()
            .map(|(v, _)| (**v, ours_of(**v)))
            .collect::<Vec<_>>()
    );
    let mut per_member: BTreeMap<usize, usize> = BTreeMap::new();
    for (id, _) in &seen {
        *per_member.entry(*id).or_default() += 1;
    }
    eprintln!("records per member (4, 5: Java): {per_member:?}");
    // More members than partitions, and every one of them takes part.
    assert!(
        (0..OURS + JAVA).all(|id| per_member.contains_key(&id)),
        "every member got records: {per_member:?}"
    );
    assert_eq!(
        leftovers(group, topic, Duration::from_secs(2)).await,
        vec![],
        "all accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_come_back_with_count_2_and_rejected_never() {
    let (topic, group) = ("share-release", "share-release-g");
    prepare(topic, 1, group, &[], 10).await;

    let mut c = member(group, topic, true);
    let got: Arc<Mutex<Vec<(usize, i16)>>> = Arc::default();
    let g = Arc::clone(&got);
    poll_until(
        &mut c,
        Duration::from_secs(20),
        |c, r| {
            let v = value(r);
            g.lock().unwrap().push((v, r.delivery_count));
            let kind = match (r.delivery_count, v % 2) {
                (1, 0) => AcknowledgeType::Release,
                (1, _) => AcknowledgeType::Reject,
                _ => AcknowledgeType::Accept,
            };
            c.acknowledge(r, kind).expect("acknowledge");
        },
        || got.lock().unwrap().len() >= 15,
    )
    .await;
    c.commit_sync().await.expect("commit");
    c.close().await.expect("close");
    let got = got.lock().unwrap().clone();
    let first: BTreeSet<usize> = got.iter().filter(|g| g.1 == 1).map(|g| g.0).collect();
    let second: Vec<usize> = got.iter().filter(|g| g.1 == 2).map(|g| g.0).collect();
    assert_eq!(first, (0..10).collect(), "{got:?}");
    assert_eq!(
        second,
        vec![0, 2, 4, 6, 8],
        "released come back once, rejected never"
    );
    assert_eq!(got.len(), 15, "{got:?}");
    assert_eq!(
        leftovers(group, topic, Duration::from_secs(2)).await,
        vec![]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_a_dropped_member_come_back_after_the_lock() {
    let (topic, group) = ("share-dropped", "share-dropped-g");
    prepare(
        topic,
        1,
        group,
        &[("share.record.lock.duration.ms", "1000")],
        5,
    )
    .await;

    let mut a = member(group, topic, true);
    let held: Arc<Mutex<Vec<usize>>> = Arc::default();
    let h = Arc::clone(&held);
    poll_until(
        &mut a,
        Duration::from_secs(20),
        |_, r| h.lock().unwrap().push(value(r)),
        || held.lock().unwrap().len() >= 5,
    )
    .await;
    // Gone without a word: no acknowledgement, no session closed, no leave.
    drop(a);
    assert_eq!(*held.lock().unwrap(), vec![0, 1, 2, 3, 4]);

    let mut again = leftovers(group, topic, Duration::from_secs(5)).await;
    again.sort();
    again.dedup_by_key(|g| g.0);
    assert_eq!(
        again,
        (0..5).map(|v| (v, 2)).collect::<Vec<_>>(),
        "redelivered, second delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_the_delivery_count_limit_are_archived() {
    let (topic, group) = ("share-limit", "share-limit-g");
    prepare(topic, 1, group, &[("share.delivery.count.limit", "2")], 3).await;

    let mut c = member(group, topic, true);
    let got: Arc<Mutex<Vec<(usize, i16)>>> = Arc::default();
    let g = Arc::clone(&got);
    poll_until(
        &mut c,
        Duration::from_secs(20),
        |c, r| {
            g.lock().unwrap().push((value(r), r.delivery_count));
            c.acknowledge(r, AcknowledgeType::Release).expect("release");
        },
        || got.lock().unwrap().len() >= 6,
    )
    .await;
    c.close().await.expect("close");
    let mut got = got.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, vec![(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]);
    assert_eq!(
        leftovers(group, topic, Duration::from_secs(2)).await,
        vec![],
        "archived after 2 deliveries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_unacknowledged_record_blocks_nothing_and_comes_back() {
    let (topic, group) = ("share-explicit", "share-explicit-g");
    prepare(
        topic,
        1,
        group,
        &[("share.record.lock.duration.ms", "1000")],
        5,
    )
    .await;

    let mut c = member(group, topic, true);
    let got: Arc<Mutex<Vec<(usize, i16)>>> = Arc::default();
    let g = Arc::clone(&got);
    let mut produced_more = false;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        for r in c.poll(Duration::from_millis(200)).await.expect("poll") {
            let v = value(&r);
            g.lock().unwrap().push((v, r.delivery_count));
            // Record 0 is left unacknowledged on its first delivery.
            if v != 0 || r.delivery_count > 1 {
                c.acknowledge(&r, AcknowledgeType::Accept).expect("accept");
            }
        }
        let n = got.lock().unwrap().len();
        if n >= 5 && !produced_more {
            produced_more = true;
            produce_values(
                &broker().bootstrap(),
                topic,
                1,
                (5..10).map(|i| i.to_string()),
                "none",
            )
            .await;
        }
        if got.lock().unwrap().contains(&(0, 2)) && n >= 11 {
            break;
        }
    }
    c.commit_sync().await.expect("commit");
    c.close().await.expect("close");
    let got = got.lock().unwrap().clone();
    let firsts: BTreeSet<usize> = got.iter().filter(|g| g.1 == 1).map(|g| g.0).collect();
    assert_eq!(
        firsts,
        (0..10).collect(),
        "later records flow past the held one: {got:?}"
    );
    assert!(got.contains(&(0, 2)), "redelivered after its lock: {got:?}");
    assert_eq!(got.len(), 11, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_describes_lists_alters_and_deletes_share_groups() {
    let (topic, group) = ("share-admin", "share-admin-g");
    prepare(topic, 1, group, &[], 10).await;
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(broker().bootstrap())
            .build()
            .expect("admin config"),
    );
    let tp = ferrokafka::TopicPartition::new(topic, 0);

    let mut c = member(group, topic, false);
    let mut n = 0;
    let start = Instant::now();
    while n < 10 && start.elapsed() < Duration::from_secs(20) {
        n += c
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
            .len();
    }
    assert_eq!(n, 10);
    let committed = c.commit_sync().await.expect("commit");
    assert_eq!(
        committed.get(&tp).map(Option::is_none),
        Some(true),
        "{committed:?}"
    );

    let listed = admin
        .list_groups_with(ferrokafka::admin::ListGroupsOptions {
            types: vec!["share".into()],
            ..Default::default()
        })
        .await
        .expect("list groups");
    assert!(
        listed
            .iter()
            .any(|g| g.group_id == group && g.group_type.as_deref() == Some("share")),
        "{listed:?}"
    );
    let described = admin
        .describe_share_groups(&[group])
        .await
        .expect("describe");
    let d = described[group].as_ref().expect("described");
    assert_eq!(d.state, "Stable");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].assignment, vec![tp.clone()]);
    // The share coordinator learns the new start from the partition leader a moment later.
    let mut offsets = BTreeMap::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        offsets = admin
            .list_share_group_offsets(group)
            .await
            .expect("list share group offsets");
        if offsets.get(&tp) == Some(&Some(10)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Apache Kafka 4.4 answers a start offset of 0 here long after all ten were accepted (with
    // a lag of 0); what is checked is that ours reads what Kafka's own tool reads.
    let tool = common::kafka_tools::run(
        "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
        &[
            "--bootstrap-server",
            &broker().bootstrap(),
            "--describe",
            "--group",
            group,
            "--offsets",
        ],
    );
    let tool_start: Option<i64> = tool
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == group && f[1] == topic && f[2] == "0")
        .and_then(|f| f[3].parse().ok());
    // Read once more: the start may move between our read and the tool's.
    let after = admin
        .list_share_group_offsets(group)
        .await
        .expect("list share group offsets");
    let ours = [&offsets, &after].map(|o| o.get(&tp).copied().flatten());
    assert!(
        tool_start.is_some() && ours.contains(&tool_start),
        "ours {ours:?}; ShareGroupCommand:\n{tool}"
    );

    c.close().await.expect("close");
    let altered = admin
        .alter_share_group_offsets(group, [(tp.clone(), 4)].into())
        .await
        .expect("alter share group offsets");
    altered[&tp].as_ref().expect("partition altered");
    let mut again: Vec<usize> = leftovers(group, topic, Duration::from_secs(3))
        .await
        .into_iter()
        .map(|g| g.0)
        .collect();
    again.sort();
    again.dedup();
    assert_eq!(
        again,
        (4..10).collect::<Vec<_>>(),
        "read again from the new start"
    );

    let deleted = admin.delete_share_groups(&[group]).await.expect("delete");
    deleted[group].as_ref().expect("deleted");
    let gone = admin
        .describe_share_groups(&[group])
        .await
        .expect("describe");
    assert!(gone[group].is_err(), "{gone:?}");
}

/// Records/s of 1, 2 and 4 members sharing a 2-partition topic (prints; asserts only that
/// every record was received). `cargo test --release --features mock --test share_consumer
/// share_throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn share_throughput() {
    const N: usize = 200_000;
    for members in [1usize, 2, 4] {
        let topic = format!("share-bench-{members}");
        let group = format!("{topic}-g");
        prepare(&topic, 2, &group, &[], N).await;
        let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..members {
            let (received, topic, group) = (Arc::clone(&received), topic.clone(), group.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = member(&group, &topic, false);
                let begun = Instant::now();
                while received.load(std::sync::atomic::Ordering::Relaxed) < N
                    && begun.elapsed() < Duration::from_secs(120)
                {
                    let n = c
                        .poll(Duration::from_millis(200))
                        .await
                        .expect("poll")
                        .len();
                    received.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
                c.close().await.expect("close");
            }));
        }
        for t in tasks {
            t.await.expect("member");
        }
        let took = start.elapsed();
        let got = received.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "share consumers: {members}, records: {got}, {:.0} records/s",
            got as f64 / took.as_secs_f64()
        );
        assert!(got >= N, "{got} of {N}");
    }
}

/// RENEW (KIP-1222): a member that keeps renewing a record holds it past its 2 s lock while
/// another member polls; accepted at the end, it was delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_record_stays_with_its_member_past_the_lock() {
    let (topic, group) = ("share-renew", "share-renew-g");
    prepare(
        topic,
        1,
        group,
        &[("share.record.lock.duration.ms", "2000")],
        1,
    )
    .await;

    let mut a = member(group, topic, true);
    let mut held = None;
    let start = Instant::now();
    while held.is_none() && start.elapsed() < Duration::from_secs(20) {
        held = a
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
            .into_iter()
            .next();
    }
    let r = held.expect("a got the record");
    assert_eq!(r.delivery_count, 1);

    // Another member polls all along: it may only get the record if a's lock lapses.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut b = member(group, topic, true);
            let mut got = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                for r in b.poll(Duration::from_millis(200)).await.expect("poll b") {
                    got.push((value(&r), r.delivery_count));
                    b.acknowledge(&r, AcknowledgeType::Release)
                        .expect("release");
                }
            }
            b.close().await.expect("close b");
            got
        })
    };
    // Three lock durations, renewing every 500 ms, through commits and polls alike.
    let renewing = Instant::now();
    let mut renewals = 0;
    while renewing.elapsed() < Duration::from_secs(6) {
        a.acknowledge(&r, AcknowledgeType::Renew).expect("renew");
        if renewals % 2 == 0 {
            let outcome = a.commit_sync().await.expect("commit renew");
            assert!(
                outcome.values().all(Option::is_none),
                "renew refused: {outcome:?}"
            );
        } else {
            assert!(
                a.poll(Duration::from_millis(100))
                    .await
                    .expect("poll")
                    .is_empty(),
                "one record only"
            );
        }
        renewals += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    a.acknowledge(&r, AcknowledgeType::Accept).expect("accept");
    let outcome = a.commit_sync().await.expect("commit accept");
    assert!(outcome.values().all(Option::is_none), "{outcome:?}");
    stop.store(true, std::sync::atomic::Ordering::Release);
    let got = other.await.expect("member b");
    assert_eq!(got, vec![], "b received the renewed record");
    a.close().await.expect("close a");
    assert_eq!(
        leftovers(group, topic, Duration::from_secs(2)).await,
        vec![],
        "accepted"
    );
}

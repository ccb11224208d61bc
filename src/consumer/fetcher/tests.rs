//! Fetcher tests: collect over buffered fetches, decode steps within the budget.

use bytes::Bytes;

use super::*;
use crate::network::metadata::Cluster;

fn fetcher() -> Fetcher {
    let cfg = ConsumerConfig::builder()
        .bootstrap_servers("127.0.0.1:1")
        .build()
        .expect("config");
    Fetcher::new(
        Arc::new(NetworkClient::new(&cfg.common)),
        FetchConfig::from_config(&cfg),
    )
}

/// `n` records of `tp` from offset `from`, as a decoded step would buffer them.
fn completed(tp: &TopicPartition, from: i64, n: i64) -> CompletedFetch {
    let topic: Arc<str> = Arc::from(tp.topic.as_str());
    let mut f = CompletedFetch::new(tp.clone(), from, from + n);
    f.apply(
        None,
        from + n,
        Step {
            records: (from..from + n)
                .map(|offset| ConsumerRecord {
                    topic: topic.clone(),
                    partition: tp.partition,
                    offset,
                    timestamp: 0,
                    timestamp_type: Default::default(),
                    key: None,
                    value: Some(Bytes::from(offset.to_string())),
                    headers: Vec::new(),
                    leader_epoch: None,
                })
                .collect(),
            cost: 0,
            error: None,
        },
    );
    f
}

/// Every partition of `tps` assigned at position 0.
fn assigned(tps: &[TopicPartition]) -> SubscriptionState {
    let mut subs = SubscriptionState::new(crate::config::AutoOffsetReset::Earliest);
    subs.assign_manual(tps.iter().cloned(), PositionSource::Earliest)
        .expect("assign");
    for tp in tps {
        subs.seek(tp, 0).expect("seek");
    }
    subs
}

/// Runs `collect` on a thread of its own: a spinning `collect` never yields, so only the
/// test thread's timeout can tell it apart from a slow one.
fn collect_within(
    mut f: Fetcher,
    mut subs: SubscriptionState,
    limit: Duration,
) -> (Fetcher, SubscriptionState, Result<Vec<ConsumerRecord>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = f.collect(&mut subs);
        let _ = tx.send((f, subs, r));
    });
    rx.recv_timeout(limit)
        .expect("collect did not return (spinning over paused partitions)")
}

#[tokio::test]
async fn collect_visits_paused_partitions_once() {
    let tps: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("t", p)).collect();
    let mut f = fetcher();
    let mut subs = assigned(&tps);
    for tp in &tps {
        f.push_fetch(completed(tp, 0, 5));
    }
    subs.state_mut(&tps[0]).expect("state").paused = true;
    subs.state_mut(&tps[1]).expect("state").paused = true;
    let (f, subs, r) = collect_within(f, subs, Duration::from_secs(5));
    let got: Vec<(i32, i64)> = r
        .expect("collect")
        .iter()
        .map(|r| (r.partition, r.offset))
        .collect();
    assert_eq!(got, (0..5).map(|o| (2, o)).collect::<Vec<_>>());
    // Only paused partitions left: returns at once with nothing.
    let (mut f, mut subs, r) = collect_within(f, subs, Duration::from_secs(5));
    assert!(r.expect("collect").is_empty());
    // The paused partitions kept their records for after resume.
    subs.state_mut(&tps[0]).expect("state").paused = false;
    let again = f.collect(&mut subs).expect("collect");
    assert!(
        again.iter().all(|r| r.partition == 0) && again.len() == 5,
        "{again:?}"
    );
}

#[tokio::test]
async fn partition_error_after_records_were_taken_comes_on_the_next_call() {
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("t", p)).collect();
    let mut f = fetcher();
    let mut subs = assigned(&tps);
    f.push_fetch(completed(&tps[0], 0, 5));
    let mut bad = completed(&tps[1], 0, 0);
    bad.error = Some(Error::Protocol("corrupt batch".into()));
    f.push_fetch(bad);
    let first = f
        .collect(&mut subs)
        .expect("records taken before the error come back");
    assert_eq!(first.len(), 5);
    assert_eq!(subs.state(&tps[0]).expect("state").position, Some(5));
    let err = f.collect(&mut subs).expect_err("then the error");
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    assert!(f.collect(&mut subs).expect("once").is_empty());
}

const MIB: usize = 1 << 20;

/// A fetcher whose budget is small enough for tests: batches of up to 4 MiB, steps of 64 KiB,
/// two steps' worth of `fetch.buffer.memory`.
fn small_budget_fetcher() -> Fetcher {
    let mut f = fetcher();
    f.cfg.limits = DecodeLimits {
        batch_bytes: 4 * MIB,
        step_bytes: 64 * 1024,
    };
    f.cfg.buffer_memory = 2 * f.cfg.limits.step_max();
    f
}

/// A gzip batch of `n` records of 1000 bytes (1 MiB decompressed per 1000 records), values
/// "partition/offset" padded.
fn big_batch(partition: i32, n: i64) -> Bytes {
    use crate::protocol::compression::Compression;
    use crate::protocol::record_batch::RecordBatchBuilder;
    let mut b = RecordBatchBuilder::new(Compression::Gzip, None, 0);
    for o in 0..n {
        b.append(
            0,
            None,
            Some(format!("{partition}/{o:>995}").as_bytes()),
            &[],
        );
    }
    b.build(-1, -1, -1, false).expect("batch")
}

/// Buffers `data` for `tp` as a fetch response not decoded yet.
fn buffer_undecoded(f: &mut Fetcher, tp: &TopicPartition, data: Bytes) {
    let mut c = CompletedFetch::new(tp.clone(), 0, i64::MAX);
    c.decoder = Some(Box::new(PartitionDecoder::new(
        Arc::from(tp.topic.as_str()),
        tp.partition,
        data,
        0,
        true,
        false,
        Vec::new(),
    )));
    c.id = f.next_id;
    f.next_id += 1;
    f.push_fetch(c);
}

/// Polls the fetcher as `KafkaConsumer::poll` does (decode reports, collect, decode ahead)
/// until `want` records came, checking the budget (plus the one batch a step may end past it)
/// at every turn. Returns the records.
async fn poll_all(
    f: &mut Fetcher,
    subs: &mut SubscriptionState,
    want: usize,
) -> Vec<ConsumerRecord> {
    let budget = f.cfg.buffer_memory + f.cfg.limits.batch_bytes;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck at {} records",
            out.len()
        );
        f.drain_responses(subs);
        assert!(
            f.decoded_bytes() <= budget,
            "{} > {budget}",
            f.decoded_bytes()
        );
        out.extend(f.collect(subs).expect("collect"));
        f.start_decoding(subs);
        assert!(
            f.decoded_bytes() <= budget,
            "{} > {budget}",
            f.decoded_bytes()
        );
        f.wait(
            subs,
            tokio::time::Instant::now() + Duration::from_millis(50),
        )
        .await;
    }
    out
}

/// 8 partitions of 3 MiB decompressed each, three times the budget: every record comes out,
/// in order per partition, while what is decoded and not taken stays within the budget.
#[tokio::test]
async fn decoding_stays_within_the_budget() {
    let tps: Vec<TopicPartition> = (0..8).map(|p| TopicPartition::new("t", p)).collect();
    let mut f = small_budget_fetcher();
    assert!(f.cfg.buffer_memory < 24 * MIB);
    let mut subs = assigned(&tps);
    for tp in &tps {
        buffer_undecoded(&mut f, tp, big_batch(tp.partition, 3000));
    }
    let records = poll_all(&mut f, &mut subs, 8 * 3000).await;
    let mut next = [0i64; 8];
    for r in &records {
        let p = r.partition as usize;
        assert_eq!(r.offset, next[p]);
        assert_eq!(text(r), format!("{p}/{:>995}", next[p]));
        next[p] += 1;
    }
    assert_eq!(next, [3000; 8]);
    for tp in &tps {
        assert_eq!(subs.state(tp).expect("state").position, Some(3000));
    }
    assert_eq!(f.decoded_bytes(), 0);
}

/// A paused partition holding decoded records gives them up when another needs the budget, and
/// is read from its position once resumed (fetched again: here, buffered again).
#[tokio::test]
async fn paused_partitions_give_up_decoded_records_to_others() {
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("t", p)).collect();
    let mut f = small_budget_fetcher();
    let mut subs = assigned(&tps);
    buffer_undecoded(&mut f, &tps[0], big_batch(0, 3000));
    // Partition 0 decodes and hands out its first records, then is paused with more decoded.
    let first = poll_all(&mut f, &mut subs, 1).await;
    assert!(first.iter().all(|r| r.partition == 0));
    subs.state_mut(&tps[0]).expect("state").paused = true;
    while f.decoding > 0 {
        f.wait(&subs, tokio::time::Instant::now() + Duration::from_secs(5))
            .await;
    }
    assert!(f.buffered[0].held() > 0, "partition 0 holds decoded data");
    // Fill the budget with partition 0's data so partition 1 cannot start.
    let before = f.buffered[0].tally();
    f.buffered[0].decoder_held = f.cfg.buffer_memory;
    let after = f.buffered[0].tally();
    f.retally(Some(before), Some(after));
    buffer_undecoded(&mut f, &tps[1], big_batch(1, 10));
    let second = poll_all(&mut f, &mut subs, 10).await;
    assert_eq!(second.len(), 10);
    assert!(second.iter().all(|r| r.partition == 1));
    assert!(
        f.buffered.iter().all(|b| b.tp != tps[0]),
        "partition 0's fetch was given up"
    );
    let position = subs
        .state(&tps[0])
        .expect("state")
        .position
        .expect("position");
    assert_eq!(position, first.len() as i64);
}

fn text(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf-8")
}

/// Topic `t` with partitions 0 and 1 led by broker 1 (leader epochs 7 and 8), on `brokers`.
fn cluster(brokers: &[i32]) -> Cluster {
    use crate::network::metadata::{Node, PartitionMeta, TopicId, TopicMeta};
    Cluster {
        cluster_id: None,
        controller_id: 1,
        brokers: brokers
            .iter()
            .map(|id| {
                let node = Node {
                    id: *id,
                    host: "127.0.0.1".into(),
                    port: 1,
                    rack: None,
                };
                (*id, node)
            })
            .collect(),
        topics: [(
            "t".to_string(),
            TopicMeta {
                name: "t".into(),
                id: TopicId([1; 16]),
                is_internal: false,
                error: None,
                partitions: (0..2)
                    .map(|p| PartitionMeta {
                        id: p,
                        leader: 1,
                        leader_epoch: 7 + p,
                        replicas: brokers.to_vec(),
                        isr: brokers.to_vec(),
                        offline: vec![],
                        error: None,
                    })
                    .collect(),
            },
        )]
        .into(),
        fetched_at: None,
    }
}

/// (node, partition, offset, leader epoch) of every partition `fetch_targets` picks.
fn targets(
    f: &mut Fetcher,
    subs: &SubscriptionState,
    cluster: &Cluster,
) -> Vec<(i32, i32, i64, i32)> {
    let (per_node, missing) = f.fetch_targets(subs, cluster);
    assert!(!missing);
    let mut got: Vec<(i32, i32, i64, i32)> = per_node
        .iter()
        .flat_map(|(node, fetch)| {
            fetch
                .parts
                .iter()
                .map(|(tp, s)| (*node, tp.partition, s.offset, s.leader_epoch))
        })
        .collect();
    got.sort_unstable();
    got
}

/// A walk names a topic with the `Arc` the walk before gave it, so that the session, which
/// holds the earlier one, compares names by address; a name no walk gives any more is dropped.
#[tokio::test]
async fn walks_share_topic_names_with_the_walk_before() {
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("t", p)).collect();
    let subs = assigned(&tps);
    let mut f = fetcher();
    let names = |f: &mut Fetcher| -> Vec<Arc<str>> {
        let (per_node, _) = f.fetch_targets(&subs, &cluster(&[1]));
        per_node[&1]
            .parts
            .iter()
            .map(|(sp, _)| sp.topic.clone())
            .collect()
    };
    let first = names(&mut f);
    let second = names(&mut f);
    assert_eq!(first.len(), 2);
    assert!(
        Arc::ptr_eq(&first[0], &first[1]),
        "one name per topic in a walk"
    );
    assert!(
        Arc::ptr_eq(&first[0], &second[0]),
        "the same name in the next walk"
    );
    assert_eq!(f.session_names.len(), 1);
    let other = assigned(&[TopicPartition::new("u", 0)]);
    let _ = f.fetch_targets(&other, &cluster(&[1]));
    let kept: Vec<&str> = f.session_names.iter().map(|n| &**n).collect();
    assert_eq!(
        kept,
        vec!["u"],
        "names of topics no longer walked are let go"
    );
}

/// KIP-320: every partition is fetched with its leader's epoch from the metadata.
#[tokio::test]
async fn fetches_carry_the_leader_epoch_from_metadata() {
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("t", p)).collect();
    let subs = assigned(&tps);
    assert_eq!(
        targets(&mut fetcher(), &subs, &cluster(&[1])),
        vec![(1, 0, 0, 7), (1, 1, 0, 8)]
    );
}

/// KIP-392: a preferred read replica is used while its lease lasts and it is in the
/// metadata; then the leader again.
#[tokio::test]
async fn read_replica_is_used_until_its_lease_ends() {
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("t", p)).collect();
    let subs = assigned(&tps);
    let mut f = fetcher();
    let now = std::time::Instant::now();
    f.read_replicas
        .insert(tps[0].clone(), (2, now + Duration::from_secs(60)));
    f.read_replicas
        .insert(tps[1].clone(), (2, now - Duration::from_millis(1)));
    assert_eq!(
        targets(&mut f, &subs, &cluster(&[1, 2])),
        vec![(1, 1, 0, 8), (2, 0, 0, 7)],
        "partition 0 from the follower, 1 (lease over) from the leader"
    );
    assert_eq!(
        targets(&mut f, &subs, &cluster(&[1])),
        vec![(1, 0, 0, 7), (1, 1, 0, 8)],
        "a follower gone from the metadata: the leader"
    );
}

/// Partitions t-0 and t-1 (broker 1): t-0 with 5 records buffered from offset 0, the broker's
/// high watermark at `hw0`; t-1 at `pos1` with nothing buffered and the high watermark `hw1`.
fn one_buffered(hw0: i64, pos1: i64, hw1: i64) -> (Fetcher, SubscriptionState, Arc<Cluster>) {
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new("t", p)).collect();
    let mut f = fetcher();
    let mut subs = assigned(&tps);
    let mut data = completed(&tps[0], 0, 5);
    data.high_watermark = hw0;
    f.push_fetch(data);
    subs.seek(&tps[1], pos1).expect("seek");
    subs.state_mut(&tps[1]).expect("state").high_watermark = hw1;
    (f, subs, Arc::new(cluster(&[1])))
}

/// A walk that sent nothing (t-1 caught up, its broker busy with t-0's records) is not
/// repeated while nothing moves, and is as soon as a seek moves t-1 below the high watermark.
#[tokio::test]
async fn an_idle_walk_is_reused_until_a_seek() {
    let (mut f, mut subs, cluster) = one_buffered(5, 10, 10);
    f.send_fetches(&subs, &cluster);
    assert!(f.in_flight.is_empty(), "t-1 is caught up and broker 1 busy");
    assert!(f.idle.is_some(), "the walk's outcome is kept");
    f.send_fetches(&subs, &cluster);
    assert!(f.in_flight.is_empty());
    subs.seek(&TopicPartition::new("t", 1), 3).expect("seek");
    f.send_fetches(&subs, &cluster);
    assert!(
        f.in_flight.contains_key(&1),
        "t-1 has records to fetch after the seek"
    );
}

/// Taking t-0's records to the end leaves broker 1 with nothing buffered: the caught-up
/// partitions are fetched again (a long poll) instead of waiting on the kept walk.
#[tokio::test]
async fn an_idle_walk_ends_when_its_broker_has_nothing_left() {
    let (mut f, mut subs, cluster) = one_buffered(5, 10, 10);
    f.send_fetches(&subs, &cluster);
    assert!(f.in_flight.is_empty());
    let records = f.collect(&mut subs).expect("collect");
    assert_eq!(records.len(), 5);
    f.send_fetches(&subs, &cluster);
    assert!(f.in_flight.contains_key(&1), "nothing buffered: fetch");
}

/// A partition taken to the end of its data below the high watermark is fetched at once,
/// even while its broker still has another partition's records buffered.
#[tokio::test]
async fn a_partition_behind_the_high_watermark_is_fetched_when_its_data_is_taken() {
    let (mut f, mut subs, cluster) = one_buffered(10, 0, 5);
    let t1 = TopicPartition::new("t", 1);
    f.push_fetch(completed(&t1, 0, 5));
    f.cfg.max_poll_records = 5;
    f.send_fetches(&subs, &cluster);
    assert!(f.in_flight.is_empty(), "both partitions have data buffered");
    assert!(f.idle.is_some());
    let records = f.collect(&mut subs).expect("collect");
    assert_eq!(
        records.iter().map(|r| r.partition).collect::<Vec<_>>(),
        vec![0; 5]
    );
    f.send_fetches(&subs, &cluster);
    assert!(
        f.in_flight.contains_key(&1),
        "t-0 is at 5 of 10: fetched though t-1 is still buffered"
    );
}

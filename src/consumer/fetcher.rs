//! The fetcher: one Fetch in flight per leader, decoded off the caller's task, buffered until
//! `poll` takes them (prefetch: the next fetch runs while the application processes).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::record::ConsumerRecord;
use super::subscription::{PositionSource, SubscriptionState};
use crate::config::{ConsumerConfig, IsolationLevel};
use crate::error::{Error, ErrorCode, Result};
use crate::network::metadata::Cluster;
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use crate::protocol::messages::{BrokerId, FetchRequest, TopicName};
use crate::protocol::record_batch::{DecodedBatch, decode_batches};
use crate::record::TopicPartition;

use crate::error::code::OFFSET_OUT_OF_RANGE;

#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub max_partition_bytes: i32,
    pub max_wait: Duration,
    pub read_committed: bool,
    pub check_crcs: bool,
    pub max_poll_records: usize,
}

impl FetchConfig {
    pub(crate) fn from_config(c: &ConsumerConfig) -> Self {
        let clamp = |v: usize| v.min(i32::MAX as usize) as i32;
        FetchConfig {
            min_bytes: clamp(c.fetch_min_bytes),
            max_bytes: clamp(c.fetch_max_bytes),
            max_partition_bytes: clamp(c.max_partition_fetch_bytes),
            max_wait: c.fetch_max_wait,
            read_committed: c.isolation_level == IsolationLevel::ReadCommitted,
            check_crcs: c.check_crcs,
            max_poll_records: c.max_poll_records.max(1),
        }
    }
}

/// One partition's part of a fetch response, decoded.
#[derive(Debug)]
struct CompletedFetch {
    tp: TopicPartition,
    /// The position the fetch was sent for; a position moved since (seek, reset) makes it stale.
    fetch_offset: i64,
    records: VecDeque<ConsumerRecord>,
    /// Offset after the last batch seen (control batches included): where to go once drained.
    end_offset: i64,
    high_watermark: i64,
    error: Option<Error>,
}

struct FetchResult {
    node: i32,
    fetches: Result<Vec<CompletedFetch>>,
}

pub(crate) struct Fetcher {
    net: Arc<NetworkClient>,
    cfg: FetchConfig,
    in_flight: HashSet<i32>,
    tx: mpsc::UnboundedSender<FetchResult>,
    rx: mpsc::UnboundedReceiver<FetchResult>,
    buffered: VecDeque<CompletedFetch>,
    topics: HashMap<String, Arc<str>>,
    /// An error met after records were taken in the same `collect`: returned by the next one.
    pending_error: Option<Error>,
}

impl Fetcher {
    pub(crate) fn new(net: Arc<NetworkClient>, cfg: FetchConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            net,
            cfg,
            in_flight: HashSet::new(),
            tx,
            rx,
            buffered: VecDeque::new(),
            topics: HashMap::new(),
            pending_error: None,
        }
    }

    fn topic_arc(&mut self, topic: &str) -> Arc<str> {
        if let Some(t) = self.topics.get(topic) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(topic);
        self.topics.insert(topic.to_string(), t.clone());
        t
    }

    /// Drops buffered data for partitions no longer assigned or moved by a seek.
    pub(crate) fn discard_stale(&mut self, subs: &SubscriptionState) {
        self.buffered.retain(|f| {
            subs.assignment
                .get(&f.tp)
                .is_some_and(|s| s.position == Some(f.fetch_offset) || f.error.is_some())
        });
    }

    /// Sends a Fetch to every leader that has fetchable partitions, nothing buffered for them,
    /// and no fetch in flight.
    /// Never awaits (`poll` calls it after taking records): a leader missing from `cluster`
    /// flags a metadata refresh for the next poll.
    pub(crate) fn send_fetches(&mut self, subs: &SubscriptionState, cluster: &Cluster) {
        let buffered: HashSet<&TopicPartition> = self.buffered.iter().map(|f| &f.tp).collect();
        let mut per_node: HashMap<i32, Vec<(TopicPartition, i64, Option<i32>)>> = HashMap::new();
        let mut missing_leader = false;
        for (tp, offset, epoch) in subs.fetchable() {
            if buffered.contains(&tp) {
                continue;
            }
            let leader = cluster
                .topic(&tp.topic)
                .and_then(|t| t.partitions.iter().find(|p| p.id == tp.partition))
                .map(|p| p.leader)
                .filter(|l| *l >= 0 && cluster.brokers.contains_key(l));
            match leader {
                Some(l) if !self.in_flight.contains(&l) => {
                    per_node.entry(l).or_default().push((tp, offset, epoch))
                }
                Some(_) => {}
                None => missing_leader = true,
            }
        }
        drop(buffered);
        if missing_leader {
            self.net.add_topics(
                &subs
                    .assignment
                    .keys()
                    .map(|tp| tp.topic.clone())
                    .collect::<Vec<_>>(),
            );
            self.net.request_update();
        }
        // Nodes that still have records buffered for the application.
        let busy: HashSet<i32> = self
            .buffered
            .iter()
            // Paused partitions keep their records until resumed: they must not hold others back.
            .filter(|f| {
                !f.records.is_empty() && subs.assignment.get(&f.tp).is_some_and(|s| !s.paused)
            })
            .filter_map(|f| {
                let t = cluster.topic(&f.tp.topic)?;
                t.partitions
                    .iter()
                    .find(|p| p.id == f.tp.partition)
                    .map(|p| p.leader)
            })
            .collect();
        for (node, parts) in per_node {
            // A fetch for caught-up partitions only would sit at the broker for
            // fetch.max.wait.ms and hold back the next fetch of partitions that do have data:
            // wait until this node's buffered records are taken, then fetch them all together.
            let caught_up = parts.iter().all(|(tp, offset, _)| {
                subs.assignment
                    .get(tp)
                    .is_some_and(|s| s.high_watermark >= 0 && *offset >= s.high_watermark)
            });
            if caught_up && busy.contains(&node) {
                continue;
            }
            let topics: Vec<(Arc<str>, TopicPartition, i64)> = parts
                .into_iter()
                .map(|(tp, offset, _)| (self.topic_arc(&tp.topic), tp, offset))
                .collect();
            self.in_flight.insert(node);
            let net = self.net.clone();
            let cfg = self.cfg.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let fetches = fetch(&net, &cfg, node, topics).await;
                let _ = tx.send(FetchResult { node, fetches });
            });
        }
    }

    /// Waits for a fetch response (or until `deadline`), buffering it.
    ///
    /// # Cancel safety
    /// Cancel safe: a response not yet taken stays in the channel.
    pub(crate) async fn wait(&mut self, deadline: tokio::time::Instant) {
        if self.in_flight.is_empty() {
            tokio::time::sleep_until(deadline).await;
            return;
        }
        if let Ok(Some(r)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.accept(r);
        }
    }

    /// Buffers every response that has already arrived.
    pub(crate) fn drain_responses(&mut self) {
        while let Ok(r) = self.rx.try_recv() {
            self.accept(r);
        }
    }

    fn accept(&mut self, r: FetchResult) {
        self.in_flight.remove(&r.node);
        match r.fetches {
            Ok(f) => self.buffered.extend(f),
            Err(e) => {
                tracing::debug!(node = r.node, error = %e, "fetch failed");
                self.net.request_update();
            }
        }
    }

    /// Takes up to `max.poll.records` records, advancing positions. Partition errors are
    /// applied here: out of range -> reset per policy (or an error with `none`), stale leader ->
    /// metadata refresh, corrupt data -> returned as the error.
    pub(crate) fn collect(&mut self, subs: &mut SubscriptionState) -> Result<Vec<ConsumerRecord>> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        self.discard_stale(subs);
        let mut out = Vec::new();
        // Each buffered entry is looked at once per call: paused ones stay where they are, so a
        // buffer of only paused partitions cannot keep this loop (which never yields) turning.
        let mut i = 0;
        while out.len() < self.cfg.max_poll_records && i < self.buffered.len() {
            let f = &mut self.buffered[i];
            let Some(state) = subs.assignment.get_mut(&f.tp) else {
                self.buffered.remove(i);
                continue;
            };
            if let Some(e) = f.error.take() {
                let tp = f.tp.clone();
                self.buffered.remove(i);
                let fatal = match e.code() {
                    Some(ErrorCode(OFFSET_OUT_OF_RANGE)) => {
                        let reset = subs.default_reset();
                        if reset == PositionSource::NoReset {
                            Some(Error::Unknown(format!(
                                "offset out of range for {tp} and auto.offset.reset=none"
                            )))
                        } else {
                            subs.request_position(&tp, reset).err()
                        }
                    }
                    Some(code) if code.invalidates_metadata() => {
                        self.net.request_update();
                        None
                    }
                    Some(_) => {
                        tracing::debug!(%tp, error = %e, "fetch partition error");
                        None
                    }
                    None => Some(e),
                };
                if let Some(e) = fatal {
                    // Records already taken in this call are returned; the error comes with
                    // the next call, as Java's consumer does.
                    if out.is_empty() {
                        return Err(e);
                    }
                    self.pending_error = Some(e);
                    break;
                }
                continue;
            }
            if state.paused {
                // Kept buffered until resume.
                i += 1;
                continue;
            }
            state.high_watermark = f.high_watermark;
            let take = (self.cfg.max_poll_records - out.len()).min(f.records.len());
            out.extend(f.records.drain(..take));
            if let Some(last) = out.last().filter(|_| take > 0) {
                state.position = Some(last.offset + 1);
                state.position_epoch = last.leader_epoch;
            }
            if f.records.is_empty() {
                if state.position.is_some_and(|p| p < f.end_offset) {
                    state.position = Some(f.end_offset);
                }
                self.buffered.remove(i);
            } else {
                f.fetch_offset = state.position.unwrap_or(f.fetch_offset);
                i += 1;
            }
        }
        Ok(out)
    }
}

async fn fetch(
    net: &NetworkClient,
    cfg: &FetchConfig,
    node: i32,
    parts: Vec<(Arc<str>, TopicPartition, i64)>,
) -> Result<Vec<CompletedFetch>> {
    let conn = net.connection(Target::Node(node)).await?;
    let version = conn.version_for::<FetchRequest>()?;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (_, tp, offset) in &parts {
        let p = FetchPartition::default()
            .with_partition(tp.partition)
            .with_fetch_offset(*offset)
            .with_current_leader_epoch(-1)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(cfg.max_partition_bytes);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(tp.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(cfg.max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(cfg.min_bytes)
        .with_max_bytes(cfg.max_bytes)
        .with_isolation_level(i8::from(cfg.read_committed))
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    let sent = std::time::Instant::now();
    let resp = conn.send_at(req, version, Some(cfg.max_wait)).await?;
    tracing::debug!(
        node,
        ms = sent.elapsed().as_millis() as u64,
        asked = parts.len(),
        bytes = resp
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
            .sum::<usize>(),
        "fetch answered"
    );
    if resp.error_code != 0 {
        return Err(Error::broker(resp.error_code, "Fetch"));
    }
    let mut out = Vec::with_capacity(parts.len());
    for t in resp.responses {
        for p in t.partitions {
            let Some((topic, tp, offset)) = parts.iter().find(|(_, tp, _)| {
                tp.partition == p.partition_index && tp.topic == t.topic.0.as_str()
            }) else {
                continue;
            };
            let mut done = CompletedFetch {
                tp: tp.clone(),
                fetch_offset: *offset,
                records: VecDeque::new(),
                end_offset: *offset,
                high_watermark: p.high_watermark,
                error: None,
            };
            if p.error_code != 0 {
                done.error = Some(Error::broker(p.error_code, format!("fetch {tp}")));
                out.push(done);
                continue;
            }
            let aborted: Vec<(i64, i64)> = p
                .aborted_transactions
                .unwrap_or_default()
                .iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect();
            match decode_batches(p.records.unwrap_or_default(), cfg.check_crcs) {
                Ok(batches) => {
                    let (records, end) = to_records(
                        topic,
                        tp.partition,
                        *offset,
                        batches,
                        cfg.read_committed,
                        aborted,
                    );
                    done.records = records;
                    done.end_offset = end.max(*offset);
                }
                Err(e) => done.error = Some(e),
            }
            out.push(done);
        }
    }
    Ok(out)
}

/// Turns decoded batches into records from `fetch_offset` on, skipping control batches and,
/// with read_committed, the batches of aborted transactions (KIP-98's aborted-transaction
/// index). Returns the records and the offset after the last batch.
fn to_records(
    topic: &Arc<str>,
    partition: i32,
    fetch_offset: i64,
    batches: Vec<DecodedBatch>,
    read_committed: bool,
    mut aborted: Vec<(i64, i64)>,
) -> (VecDeque<ConsumerRecord>, i64) {
    aborted.sort_by_key(|a| a.1);
    let mut aborted = aborted.into_iter().peekable();
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut out = VecDeque::new();
    let mut end = fetch_offset;
    for b in batches {
        let last = b.base_offset + i64::from(b.last_offset_delta);
        end = end.max(last + 1);
        if read_committed {
            while let Some((pid, _)) = aborted.next_if(|(_, first)| *first <= last) {
                aborting.insert(pid);
            }
        }
        if b.is_control {
            if read_committed && is_abort_marker(&b) {
                aborting.remove(&b.producer_id);
            }
            continue;
        }
        if read_committed && b.is_transactional && aborting.contains(&b.producer_id) {
            continue;
        }
        let epoch = (b.partition_leader_epoch >= 0).then_some(b.partition_leader_epoch);
        let ts_type = b.timestamp_type;
        for r in b.records {
            if r.offset < fetch_offset {
                continue;
            }
            out.push_back(ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: ts_type,
                key: r.key,
                value: r.value,
                headers: r.headers,
                leader_epoch: epoch,
            });
        }
    }
    (out, end)
}

/// A control record's key is (version i16, type i16); type 0 is ABORT, 1 is COMMIT.
fn is_abort_marker(b: &DecodedBatch) -> bool {
    b.records
        .first()
        .and_then(|r| r.key.as_ref())
        .is_some_and(|k: &Bytes| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::compression::Compression;
    use crate::protocol::record_batch::RecordBatchBuilder;

    /// A batch at `base` from producer `pid`; `control` makes it a transaction marker
    /// (key: version 0, type 0 = ABORT / 1 = COMMIT).
    fn batch(
        base: i64,
        pid: i64,
        values: &[&str],
        transactional: bool,
        control: Option<i16>,
    ) -> Bytes {
        let mut b = RecordBatchBuilder::new(Compression::None, None, 1024);
        match control {
            Some(kind) => {
                let key = [0u8, 0, (kind >> 8) as u8, kind as u8];
                b.append(0, Some(&key), Some(b""), &[]);
            }
            None => {
                for v in values {
                    b.append(0, None, Some(v.as_bytes()), &[]);
                }
            }
        }
        let mut bytes = b.build(pid, 0, 0, transactional).unwrap().to_vec();
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        if control.is_some() {
            // Attribute bit 5 marks a control batch; the CRC covers the attributes.
            bytes[22] |= 0x20;
            let crc = crc32c::crc32c(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        Bytes::from(bytes)
    }

    fn values(
        read_committed: bool,
        fetch_offset: i64,
        aborted: Vec<(i64, i64)>,
    ) -> (Vec<String>, i64) {
        let mut blob = Vec::new();
        blob.extend_from_slice(&batch(0, 7, &["a0", "a1"], true, None)); // txn of pid 7, aborted
        blob.extend_from_slice(&batch(2, 9, &["b2"], false, None)); // plain
        blob.extend_from_slice(&batch(3, 7, &[], true, Some(0))); // ABORT marker for pid 7
        blob.extend_from_slice(&batch(4, 8, &["c4", "c5"], true, None)); // txn of pid 8, committed
        blob.extend_from_slice(&batch(6, 8, &[], true, Some(1))); // COMMIT marker
        let batches = decode_batches(Bytes::from(blob), true).unwrap();
        let (records, end) = to_records(
            &Arc::from("t"),
            0,
            fetch_offset,
            batches,
            read_committed,
            aborted,
        );
        let vals = records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        (vals, end)
    }

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

    /// `n` records of `tp` from offset `from`, as a fetch response would buffer them.
    fn completed(tp: &TopicPartition, from: i64, n: i64) -> CompletedFetch {
        let topic: Arc<str> = Arc::from(tp.topic.as_str());
        CompletedFetch {
            tp: tp.clone(),
            fetch_offset: from,
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
            end_offset: from + n,
            high_watermark: from + n,
            error: None,
        }
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
            f.buffered.push_back(completed(tp, 0, 5));
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
        f.buffered.push_back(completed(&tps[0], 0, 5));
        let mut bad = completed(&tps[1], 0, 0);
        bad.error = Some(Error::Protocol("corrupt batch".into()));
        f.buffered.push_back(bad);
        let first = f
            .collect(&mut subs)
            .expect("records taken before the error come back");
        assert_eq!(first.len(), 5);
        assert_eq!(subs.state(&tps[0]).expect("state").position, Some(5));
        let err = f.collect(&mut subs).expect_err("then the error");
        assert!(matches!(err, Error::Protocol(_)), "{err}");
        assert!(f.collect(&mut subs).expect("once").is_empty());
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_markers() {
        let (all, end) = values(false, 0, vec![]);
        assert_eq!(
            all,
            ["a0", "a1", "b2", "c4", "c5"],
            "read_uncommitted skips only markers"
        );
        assert_eq!(end, 7, "position moves past the trailing marker");
        let (committed, _) = values(true, 0, vec![(7, 0)]);
        assert_eq!(committed, ["b2", "c4", "c5"]);
        // Records before the fetch offset (inside the first returned batch) are skipped.
        let (from_b, _) = values(false, 1, vec![]);
        assert_eq!(from_b, ["a1", "b2", "c4", "c5"]);
    }
}

//! One Fetch round trip to a broker: the request built from a session plan, the answer split
//! into per-partition [`CompletedFetch`]es (decoded later, a step at a time).

use std::sync::Arc;

use kafka_protocol::protocol::Encodable;

use super::session::{Answer, FetchPlan, PartState, SESSIONLESS_EPOCH, SessionPartition};
use super::stats::Counters;
use super::{CompletedFetch, FetchConfig};
use crate::consumer::decode::PartitionDecoder;
use crate::error::{Error, Result};
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use crate::protocol::messages::{BrokerId, FetchRequest, TopicName};
use crate::record::TopicPartition;

/// The broker has no session with the id sent (evicted, or the broker restarted).
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// The epoch sent is not the one the session expects (a request or answer was lost).
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
/// Fetch v7 brought sessions.
const FIRST_SESSION_VERSION: i16 = 7;

/// What a fetch task reports: the session's answer, and the partitions' data.
pub(super) struct Fetched {
    pub plan: FetchPlan,
    pub answer: Answer,
    pub fetches: Result<Vec<CompletedFetch>>,
    /// The records' bytes over all partitions, as received.
    pub bytes: usize,
}

/// Builds the request for `plan` (sessionless when `sessions` is false: a broker older than
/// Fetch v7).
fn build(cfg: &FetchConfig, plan: &FetchPlan, sessions: bool) -> FetchRequest {
    let (send, session_id, epoch) = if sessions {
        (&plan.send, plan.session_id, plan.epoch)
    } else {
        (&plan.wanted, 0, SESSIONLESS_EPOCH)
    };
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (tp, state) in send {
        let p = FetchPartition::default()
            .with_partition(tp.partition)
            .with_fetch_offset(state.offset)
            .with_current_leader_epoch(state.leader_epoch)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(cfg.max_partition_bytes);
        // From the last topic back: partitions come grouped by topic (the assignment is
        // sorted), and a search from the first topic per partition is quadratic with thousands
        // of topics.
        match topics
            .iter_mut()
            .rev()
            .find(|t| t.topic.0.as_str() == &*tp.topic)
        {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(tp.topic.to_string())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let mut forgotten: Vec<ForgottenTopic> = Vec::new();
    if sessions {
        for tp in &plan.forget {
            match forgotten
                .iter_mut()
                .rev()
                .find(|t| t.topic.0.as_str() == &*tp.topic)
            {
                Some(t) => t.partitions.push(tp.partition),
                None => forgotten.push(
                    ForgottenTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(tp.topic.to_string())))
                        .with_partitions(vec![tp.partition]),
                ),
            }
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(cfg.max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(cfg.min_bytes)
        .with_max_bytes(cfg.max_bytes)
        .with_isolation_level(i8::from(cfg.read_committed))
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten)
        .with_rack_id(StrBytes::from_string(cfg.rack.clone()))
}

/// Sends `plan` to `node` and reads the answer.
pub(super) async fn fetch(
    net: &NetworkClient,
    cfg: &FetchConfig,
    counters: &Counters,
    node: i32,
    plan: FetchPlan,
) -> Fetched {
    match round_trip(net, cfg, counters, node, &plan).await {
        Ok((answer, fetches, bytes)) => Fetched {
            plan,
            answer,
            fetches,
            bytes,
        },
        Err(e) => Fetched {
            plan,
            answer: Answer::Failed,
            fetches: Err(e),
            bytes: 0,
        },
    }
}

async fn round_trip(
    net: &NetworkClient,
    cfg: &FetchConfig,
    counters: &Counters,
    node: i32,
    plan: &FetchPlan,
) -> Result<(Answer, Result<Vec<CompletedFetch>>, usize)> {
    let conn = net.connection(Target::Node(node)).await?;
    let version = conn.version_for::<FetchRequest>()?;
    let sessions = version >= FIRST_SESSION_VERSION && plan.epoch != SESSIONLESS_EPOCH;
    let req = build(cfg, plan, sessions);
    let named: usize = req.topics.iter().map(|t| t.partitions.len()).sum();
    counters.sent(
        !sessions || plan.is_full(),
        named,
        req.compute_size(version).unwrap_or(0),
    );
    let sent = std::time::Instant::now();
    let resp = conn.send_at(req, version, Some(cfg.max_wait)).await?;
    let bytes = resp
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum::<usize>();
    let sensors = net.metrics().fetch();
    sensors
        .latency
        .record(sent.elapsed().as_secs_f64() * 1000.0);
    sensors.bytes.record(bytes as f64);
    tracing::debug!(
        node,
        ms = sent.elapsed().as_millis() as u64,
        asked = named,
        session = resp.session_id,
        bytes,
        "fetch answered"
    );
    match resp.error_code {
        0 => {}
        FETCH_SESSION_ID_NOT_FOUND => {
            counters.session_error();
            return Ok((
                Answer::SessionNotFound,
                Err(Error::broker(resp.error_code, "Fetch")),
                0,
            ));
        }
        code => {
            if code == INVALID_FETCH_SESSION_EPOCH {
                counters.session_error();
            }
            return Ok((Answer::Failed, Err(Error::broker(code, "Fetch")), 0));
        }
    }
    let answer = Answer::Accepted {
        session_id: if sessions { resp.session_id } else { 0 },
    };
    let mut lookup = WantedLookup::new(&plan.wanted);
    let mut out = Vec::with_capacity(resp.responses.iter().map(|t| t.partitions.len()).sum());
    for t in resp.responses {
        // One name shared by the records of this answer's topic: not the session's name, which
        // every answer would share, so that the threads decoding one answer and dropping the
        // records of another do not count references on one cache line.
        let topic: Arc<str> = Arc::from(t.topic.0.as_str());
        for p in t.partitions {
            let Some((wanted, state)) = lookup.find(&topic, p.partition_index) else {
                continue;
            };
            let tp = TopicPartition::new(&*topic, wanted.partition);
            let offset = state.offset;
            let mut done = CompletedFetch::new(tp.clone(), offset, p.high_watermark);
            done.last_stable_offset = p.last_stable_offset;
            done.preferred_read_replica = p.preferred_read_replica.0;
            done.log_start_offset = p.log_start_offset;
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
            // Decoded later, a step at a time off the runtime (`Fetcher::start_decoding`).
            done.decoder = p.records.filter(|r| !r.is_empty()).map(|data| {
                Box::new(PartitionDecoder::new(
                    topic.clone(),
                    tp.partition,
                    data,
                    offset,
                    cfg.check_crcs,
                    cfg.read_committed,
                    aborted,
                ))
            });
            out.push(done);
        }
    }
    counters.served(
        node,
        out.iter().filter(|f| f.decoder.is_some()).count() as u64,
    );
    Ok((answer, Ok(out), bytes))
}

/// Finds an answered partition among the wanted ones, which come sorted from the assignment
/// ([`FetchPlan::wanted`]): the one after the last found first (a full answer lists them in
/// request order), else a binary search, so an answer costs the partitions it names, not a map
/// of every wanted partition (10,000 inserts per fetch at 10,000 partitions). A linear search
/// is the last resort, should the order ever not hold.
struct WantedLookup<'a> {
    wanted: &'a [(SessionPartition, PartState)],
    next: usize,
}

impl<'a> WantedLookup<'a> {
    fn new(wanted: &'a [(SessionPartition, PartState)]) -> Self {
        WantedLookup { wanted, next: 0 }
    }

    fn find(&mut self, topic: &str, partition: i32) -> Option<&'a (SessionPartition, PartState)> {
        let is =
            |e: &(SessionPartition, PartState)| e.0.partition == partition && *e.0.topic == *topic;
        let at = if self.wanted.get(self.next).is_some_and(is) {
            Some(self.next)
        } else {
            self.wanted
                .binary_search_by(|(tp, _)| (&*tp.topic, tp.partition).cmp(&(topic, partition)))
                .ok()
                .or_else(|| self.wanted.iter().position(is))
        };
        let at = at?;
        self.next = at + 1;
        self.wanted.get(at)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::ConsumerConfig;

    fn cfg(rack: &str) -> FetchConfig {
        FetchConfig::from_config(
            &ConsumerConfig::builder()
                .bootstrap_servers("127.0.0.1:1")
                .client_rack(rack)
                .build()
                .expect("config"),
        )
    }

    fn sp(topic: &str, partition: i32) -> SessionPartition {
        SessionPartition {
            topic: Arc::from(topic),
            partition,
        }
    }

    fn at(topic: &str, p: i32, offset: i64, leader_epoch: i32) -> (SessionPartition, PartState) {
        (
            sp(topic, p),
            PartState {
                offset,
                leader_epoch,
                at_end: false,
            },
        )
    }

    #[test]
    fn incremental_request_names_changes_forgotten_partitions_and_rack() {
        let plan = FetchPlan {
            session_id: 5,
            epoch: 3,
            send: vec![at("a", 1, 10, 2)],
            forget: vec![sp("a", 0), sp("b", 4)],
            wanted: vec![at("a", 1, 10, 2), at("a", 2, 0, 2)],
        };
        let req = build(&cfg("rack-1"), &plan, true);
        assert_eq!((req.session_id, req.session_epoch), (5, 3));
        assert_eq!(req.rack_id.as_str(), "rack-1");
        let sent: Vec<(String, i32, i64, i32)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    let name = t.topic.0.to_string();
                    (name, p.partition, p.fetch_offset, p.current_leader_epoch)
                })
            })
            .collect();
        assert_eq!(sent, vec![("a".to_string(), 1, 10, 2)]);
        let forgotten: Vec<(String, Vec<i32>)> = req
            .forgotten_topics_data
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect();
        assert_eq!(
            forgotten,
            vec![("a".to_string(), vec![0]), ("b".to_string(), vec![4])]
        );
    }

    #[test]
    fn answered_partitions_are_found_among_the_wanted_in_any_order() {
        let wanted = vec![
            at("a", 0, 10, -1),
            at("a", 1, 11, -1),
            at("a", 7, 17, -1),
            at("b", 2, 22, -1),
        ];
        let offset = |l: &mut WantedLookup, t: &str, p: i32| l.find(t, p).map(|e| e.1.offset);
        // In request order, as a full answer lists them.
        let mut l = WantedLookup::new(&wanted);
        let found: Vec<Option<i64>> = [("a", 0), ("a", 1), ("a", 7), ("b", 2)]
            .iter()
            .map(|(t, p)| offset(&mut l, t, *p))
            .collect();
        assert_eq!(found, vec![Some(10), Some(11), Some(17), Some(22)]);
        // Out of order and with gaps, as an incremental answer may; unknown ones are not found.
        let mut l = WantedLookup::new(&wanted);
        let found: Vec<Option<i64>> = [("b", 2), ("a", 1), ("a", 3), ("c", 0), ("a", 0)]
            .iter()
            .map(|(t, p)| offset(&mut l, t, *p))
            .collect();
        assert_eq!(found, vec![Some(22), Some(11), None, None, Some(10)]);
        // Unsorted wanted (never built so): still found, by the linear search.
        let unsorted = vec![at("b", 2, 22, -1), at("a", 7, 17, -1), at("a", 0, 10, -1)];
        let mut l = WantedLookup::new(&unsorted);
        assert_eq!(offset(&mut l, "a", 0), Some(10));
        assert_eq!(offset(&mut l, "b", 2), Some(22));
    }

    #[test]
    fn sessionless_request_names_every_wanted_partition() {
        let plan = FetchPlan {
            session_id: 5,
            epoch: 3,
            send: vec![],
            forget: vec![sp("a", 0)],
            wanted: vec![at("a", 1, 10, -1), at("a", 2, 0, -1)],
        };
        let req = build(&cfg(""), &plan, false);
        assert_eq!((req.session_id, req.session_epoch), (0, -1));
        assert_eq!(req.topics[0].partitions.len(), 2);
        assert!(req.forgotten_topics_data.is_empty());
        assert_eq!(req.rack_id.as_str(), "");
    }
}

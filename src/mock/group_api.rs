//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups and ListGroups for the mock:
//! decode, run the group state machine, and wait where a broker parks the request (a join
//! until its round completes, a follower's sync until the leader's assignment arrives).

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::group::{GROUP_ID_NOT_FOUND, Groups, JoinOutcome, JoinRequest, JoinStep, Step};
use super::handlers::Outcome;
use super::state::NONE;
use super::{Shared, lock};
use crate::error::Result;
use crate::protocol::frame::{decode_request, encode_response};
use crate::protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use crate::protocol::messages::join_group_response::JoinGroupResponseMember;
use crate::protocol::messages::leave_group_response::MemberResponse;
use crate::protocol::messages::list_groups_response::ListedGroup;
use crate::protocol::messages::*;
use crate::protocol::{Request, StrBytes};

const NOT_COORDINATOR: i16 = 16;
/// How often a parked request re-checks deadlines when nothing wakes it.
const RECHECK: Duration = Duration::from_millis(20);

/// The group APIs (answered in ApiVersions), ConsumerGroupHeartbeat (68) included.
pub(crate) const SERVED: &[i16] = &[11, 12, 13, 14, 15, 16, 68];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn encode<R: Request>(header: &RequestHeader, resp: &R::Response) -> Result<Outcome> {
    Ok(Outcome::Reply(encode_response::<R>(
        header.correlation_id,
        header.request_api_version,
        resp,
    )?))
}

impl Shared {
    fn groups(&self) -> std::sync::MutexGuard<'_, Groups> {
        lock(&self.groups)
    }

    /// Runs `f` on the groups (after expiring sessions) until it gives an answer, waiting for
    /// group changes in between.
    async fn wait_for<T>(&self, mut f: impl FnMut(&mut Groups, Instant) -> Option<T>) -> T {
        loop {
            let changed = self.group_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let answer = {
                let mut g = self.groups();
                let now = Instant::now();
                let ticked = g.tick(now);
                let answer = f(&mut g, now);
                if ticked {
                    self.group_changed.notify_waiters();
                }
                answer
            };
            if let Some(a) = answer {
                // Whatever `f` did may release other parked requests.
                self.group_changed.notify_waiters();
                return a;
            }
            let _ = tokio::time::timeout(RECHECK, changed).await;
        }
    }

    pub(crate) fn is_coordinator(&self, broker: i32) -> bool {
        broker == self.coordinator.load(Ordering::Acquire)
    }

    /// OffsetCommit's generation/member checks (the data lock is taken after this returns).
    pub(crate) fn check_commit(&self, group: &str, member_id: &str, generation: i32) -> i16 {
        if let Some(code) = lock(&self.consumer_groups).check_commit(group, member_id, generation) {
            return code;
        }
        let mut g = self.groups();
        let now = Instant::now();
        if g.tick(now) {
            self.group_changed.notify_waiters();
        }
        g.check_commit(group, member_id, generation, now)
    }
}

pub(crate) async fn handle(
    shared: &Shared,
    broker: i32,
    api_key: i16,
    frame: Bytes,
    injected: Option<i16>,
) -> Result<Outcome> {
    let code_for = |_: ()| -> Option<i16> {
        injected.or((!shared.is_coordinator(broker)).then_some(NOT_COORDINATOR))
    };
    match api_key {
        11 => join(shared, frame, code_for(())).await,
        14 => sync(shared, frame, code_for(())).await,
        12 => {
            let (header, req) = decode_request::<HeartbeatRequest>(frame)?;
            let code = match code_for(()) {
                Some(c) => c,
                None => {
                    shared
                        .wait_for(|g, now| {
                            Some(g.heartbeat(
                                &req.group_id.0,
                                &req.member_id,
                                req.generation_id,
                                now,
                            ))
                        })
                        .await
                }
            };
            encode::<HeartbeatRequest>(&header, &HeartbeatResponse::default().with_error_code(code))
        }
        13 => leave(shared, frame, code_for(())).await,
        68 => consumer_heartbeat(shared, frame, code_for(())),
        15 => describe(shared, frame, code_for(())),
        16 => {
            let (header, req) = decode_request::<ListGroupsRequest>(frame)?;
            let version = header.request_api_version;
            let resp = match code_for(()) {
                Some(c) => ListGroupsResponse::default().with_error_code(c),
                None => ListGroupsResponse::default().with_groups(
                    shared
                        .groups()
                        .list()
                        .into_iter()
                        .filter(|(_, _, st)| {
                            req.states_filter.is_empty()
                                || req.states_filter.iter().any(|f| f.as_str() == st.as_str())
                        })
                        .map(|(id, ptype, st)| {
                            let g = ListedGroup::default()
                                .with_group_id(GroupId(s(&id)))
                                .with_protocol_type(s(&ptype));
                            if version >= 4 {
                                g.with_group_state(s(st.as_str()))
                            } else {
                                g
                            }
                        })
                        .collect(),
                ),
            };
            encode::<ListGroupsRequest>(&header, &resp)
        }
        other => Err(crate::error::Error::Protocol(format!(
            "mock group coordinator does not serve API key {other}"
        ))),
    }
}

fn consumer_heartbeat(shared: &Shared, frame: Bytes, refuse: Option<i16>) -> Result<Outcome> {
    use crate::protocol::messages::consumer_group_heartbeat_response::{
        Assignment, TopicPartitions,
    };
    let (header, req) = decode_request::<ConsumerGroupHeartbeatRequest>(frame)?;
    let resp = match refuse {
        Some(code) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code)
            .with_member_epoch(-1),
        None => {
            let beat = super::consumer_group::Beat {
                group: req.group_id.0.to_string(),
                member_id: req.member_id.to_string(),
                epoch: req.member_epoch,
                topics: req
                    .subscribed_topic_names
                    .map(|t| t.iter().map(|n| n.0.to_string()).collect()),
                owned: req.topic_partitions.map(|tps| {
                    tps.iter()
                        .flat_map(|t| {
                            let id = *t.topic_id.as_bytes();
                            t.partitions.iter().map(move |p| (id, *p))
                        })
                        .collect()
                }),
            };
            let (code, member_id, epoch, interval, assignment) = {
                let data = shared.data();
                lock(&shared.consumer_groups).heartbeat(beat, &data.topics)
            };
            let mut resp = ConsumerGroupHeartbeatResponse::default()
                .with_error_code(code)
                .with_member_id(Some(s(&member_id)))
                .with_member_epoch(epoch)
                .with_heartbeat_interval_ms(interval);
            if let Some(parts) = assignment {
                let mut by_topic: std::collections::BTreeMap<[u8; 16], Vec<i32>> =
                    std::collections::BTreeMap::new();
                for (id, p) in parts {
                    by_topic.entry(id).or_default().push(p);
                }
                resp = resp.with_assignment(Some(
                    Assignment::default().with_topic_partitions(
                        by_topic
                            .into_iter()
                            .map(|(id, ps)| {
                                TopicPartitions::default()
                                    .with_topic_id(uuid::Uuid::from_bytes(id))
                                    .with_partitions(ps)
                            })
                            .collect(),
                    ),
                ));
            }
            resp
        }
    };
    encode::<ConsumerGroupHeartbeatRequest>(&header, &resp)
}

async fn join(shared: &Shared, frame: Bytes, refuse: Option<i16>) -> Result<Outcome> {
    let (header, req) = decode_request::<JoinGroupRequest>(frame)?;
    let version = header.request_api_version;
    let out = match refuse {
        Some(code) => JoinOutcome {
            error: code,
            generation: -1,
            member_id: req.member_id.to_string(),
            leader: String::new(),
            protocol: None,
            members: Vec::new(),
        },
        None => {
            let group = req.group_id.0.to_string();
            let mut pending = Some(JoinRequest {
                group: group.clone(),
                member_id: req.member_id.to_string(),
                instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: header
                    .client_id
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                protocol_type: req.protocol_type.to_string(),
                protocols: req
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                session_timeout: Duration::from_millis(req.session_timeout_ms.max(0) as u64),
                rebalance_timeout: Duration::from_millis(if version >= 1 {
                    req.rebalance_timeout_ms.max(0) as u64
                } else {
                    req.session_timeout_ms.max(0) as u64
                }),
                require_known_member_id: version >= 4,
            });
            let mut member = String::new();
            shared
                .wait_for(|g, now| match pending.take() {
                    Some(r) => match g.join(r, now) {
                        JoinStep::Reply(o) => Some(o),
                        JoinStep::Wait { member_id } => {
                            member = member_id;
                            None
                        }
                    },
                    None => g.poll_join(&group, &member),
                })
                .await
        }
    };
    let resp = JoinGroupResponse::default()
        .with_error_code(out.error)
        .with_generation_id(out.generation)
        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
        .with_protocol_name(out.protocol.as_deref().map(s))
        .with_leader(s(&out.leader))
        .with_member_id(s(&out.member_id))
        .with_members(
            out.members
                .iter()
                .map(|(id, inst, meta)| {
                    let m = JoinGroupResponseMember::default()
                        .with_member_id(s(id))
                        .with_metadata(meta.clone());
                    if version >= 5 {
                        m.with_group_instance_id(inst.as_deref().map(s))
                    } else {
                        m
                    }
                })
                .collect(),
        );
    encode::<JoinGroupRequest>(&header, &resp)
}

async fn sync(shared: &Shared, frame: Bytes, refuse: Option<i16>) -> Result<Outcome> {
    let (header, req) = decode_request::<SyncGroupRequest>(frame)?;
    let (code, assignment) = match refuse {
        Some(c) => (c, Bytes::new()),
        None => {
            let plan: Vec<(String, Bytes)> = req
                .assignments
                .iter()
                .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                .collect();
            let mut plan = Some(plan).filter(|p| !p.is_empty());
            shared
                .wait_for(|g, now| {
                    match g.sync(
                        &req.group_id.0,
                        &req.member_id,
                        req.generation_id,
                        plan.take(),
                        now,
                    ) {
                        Step::Reply(r) => Some(r),
                        Step::Wait => None,
                    }
                })
                .await
        }
    };
    let protocol = shared
        .groups()
        .describe(&req.group_id.0)
        .and_then(|g| g.protocol.clone());
    let resp = SyncGroupResponse::default()
        .with_error_code(code)
        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
        .with_protocol_name(protocol.as_deref().map(s))
        .with_assignment(assignment);
    encode::<SyncGroupRequest>(&header, &resp)
}

async fn leave(shared: &Shared, frame: Bytes, refuse: Option<i16>) -> Result<Outcome> {
    let (header, req) = decode_request::<LeaveGroupRequest>(frame)?;
    let version = header.request_api_version;
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let codes: Vec<i16> = match refuse {
        Some(c) => vec![c; leaving.len()],
        None => {
            shared
                .wait_for(|g, now| {
                    Some(
                        leaving
                            .iter()
                            .map(|(id, inst)| g.leave(&req.group_id.0, id, inst.as_deref(), now))
                            .collect(),
                    )
                })
                .await
        }
    };
    let resp = if version >= 3 {
        LeaveGroupResponse::default()
            .with_error_code(refuse.unwrap_or(NONE))
            .with_members(
                leaving
                    .iter()
                    .zip(&codes)
                    .map(|((id, inst), code)| {
                        MemberResponse::default()
                            .with_member_id(s(id))
                            .with_group_instance_id(inst.as_deref().map(s))
                            .with_error_code(*code)
                    })
                    .collect(),
            )
    } else {
        LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(NONE))
    };
    encode::<LeaveGroupRequest>(&header, &resp)
}

fn describe(shared: &Shared, frame: Bytes, refuse: Option<i16>) -> Result<Outcome> {
    let (header, req) = decode_request::<DescribeGroupsRequest>(frame)?;
    let version = header.request_api_version;
    let groups = shared.groups();
    let described = req
        .groups
        .iter()
        .map(|id| {
            let d = DescribedGroup::default().with_group_id(id.clone());
            if let Some(c) = refuse {
                return d.with_error_code(c);
            }
            let Some(g) = groups.describe(&id.0) else {
                let d = d.with_group_state(StrBytes::from_static_str("Dead"));
                return if version >= 6 {
                    d.with_error_code(GROUP_ID_NOT_FOUND)
                } else {
                    d
                };
            };
            d.with_group_state(s(g.state.as_str()))
                .with_protocol_type(s(&g.protocol_type))
                .with_protocol_data(s(g.protocol.as_deref().unwrap_or("")))
                .with_members(
                    g.members
                        .values()
                        .map(|m| {
                            let meta = m
                                .protocols
                                .iter()
                                .find(|(n, _)| Some(n) == g.protocol.as_ref())
                                .map(|(_, b)| b.clone())
                                .unwrap_or_default();
                            let dm = DescribedGroupMember::default()
                                .with_member_id(s(&m.id))
                                .with_client_id(s(&m.client_id))
                                .with_client_host(StrBytes::from_static_str("/127.0.0.1"))
                                .with_member_metadata(meta)
                                .with_member_assignment(m.assignment.clone());
                            if version >= 4 {
                                dm.with_group_instance_id(m.instance_id.as_deref().map(s))
                            } else {
                                dm
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    drop(groups);
    encode::<DescribeGroupsRequest>(
        &header,
        &DescribeGroupsResponse::default().with_groups(described),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::consumer::KafkaConsumer;
    use crate::mock::MockCluster;
    use crate::network::connection::{Connection, ConnectionSettings};
    use crate::protocol::StrBytes;
    use crate::protocol::consumer_protocol::Assignment;
    use crate::protocol::messages::{DescribeGroupsRequest, GroupId, ListGroupsRequest};
    use crate::{ConsumerConfig, ProducerConfig};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_and_describe_a_live_group() {
        let c = MockCluster::builder().build().await.expect("mock");
        c.create_topic("t", 2);
        let producer = crate::KafkaProducer::new(
            ProducerConfig::builder()
                .bootstrap_servers(c.bootstrap_servers())
                .build()
                .expect("config"),
        )
        .expect("producer");
        producer
            .send(crate::ProducerRecord::new("t", "v").partition(1))
            .await
            .expect("send");
        let mut consumer = KafkaConsumer::new(
            ConsumerConfig::builder()
                .bootstrap_servers(c.bootstrap_servers())
                .set("group.id", "g1")
                .set("client.id", "describe-me")
                .set("auto.offset.reset", "earliest")
                .build()
                .expect("config"),
        )
        .expect("consumer");
        consumer.subscribe(["t"]).expect("subscribe");
        let start = Instant::now();
        while consumer
            .poll(Duration::from_millis(100))
            .await
            .expect("poll")
            .is_empty()
        {
            assert!(start.elapsed() < Duration::from_secs(10), "no record");
        }
        let conn = Connection::connect(
            &c.bootstrap_servers(),
            -1,
            ConnectionSettings::for_tests("admin", Duration::from_secs(5), Duration::from_secs(5)),
        )
        .await
        .expect("connect");
        let listed = conn.send(ListGroupsRequest::default()).await.expect("list");
        assert_eq!(listed.groups.len(), 1, "{listed:?}");
        assert_eq!(listed.groups[0].group_id.0.as_str(), "g1");
        assert_eq!(listed.groups[0].group_state.as_str(), "Stable");
        let described = conn
            .send(DescribeGroupsRequest::default().with_groups(vec![
                GroupId(StrBytes::from_static_str("g1")),
                GroupId(StrBytes::from_static_str("nope")),
            ]))
            .await
            .expect("describe");
        let g = &described.groups[0];
        assert_eq!(
            (
                g.group_state.as_str(),
                g.protocol_type.as_str(),
                g.protocol_data.as_str()
            ),
            ("Stable", "consumer", "range")
        );
        assert_eq!(g.members.len(), 1);
        assert_eq!(g.members[0].client_id.as_str(), "describe-me");
        let owned = Assignment::decode(g.members[0].member_assignment.clone()).expect("assignment");
        let parts: Vec<i32> = owned
            .partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().copied())
            .collect();
        assert_eq!(parts, vec![0, 1]);
        assert_eq!(described.groups[1].group_state.as_str(), "Dead");
        consumer.close().await.expect("close");
        let (state, _, members) = c.group_state("g1").expect("group");
        assert_eq!(
            (state.as_str(), members),
            ("Empty", 0),
            "close leaves the group"
        );
    }
}

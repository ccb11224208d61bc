use super::*;
use crate::protocol::messages::share_fetch_response::{
    AcquiredRecords, PartitionData, ShareFetchableTopicResponse,
};
use crate::protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use crate::record::TimestampType;

fn record(offset: i64) -> ConsumerRecord {
    ConsumerRecord {
        topic: "t".into(),
        partition: 0,
        offset,
        timestamp: 0,
        timestamp_type: TimestampType::CreateTime,
        key: None,
        value: None,
        headers: Vec::new(),
        leader_epoch: None,
    }
}

#[test]
fn ack_batches_by_run_and_type() {
    type Batch = (i64, i64, Vec<i8>);
    type Case = (Vec<(i64, i8)>, Vec<Batch>);
    let cases: Vec<Case> = vec![
        (vec![], vec![]),
        (vec![(5, ACCEPT)], vec![(5, 5, vec![ACCEPT])]),
        (
            vec![(1, ACCEPT), (2, ACCEPT), (3, ACCEPT)],
            vec![(1, 3, vec![ACCEPT])],
        ),
        (
            vec![(1, ACCEPT), (2, RELEASE), (3, ACCEPT)],
            vec![(1, 3, vec![ACCEPT, RELEASE, ACCEPT])],
        ),
        (
            vec![(1, REJECT), (2, REJECT), (7, GAP), (8, ACCEPT)],
            vec![(1, 2, vec![REJECT]), (7, 8, vec![GAP, ACCEPT])],
        ),
    ];
    for (acks, want) in cases {
        let got: Vec<Batch> = ack_batches(&acks.iter().copied().collect())
            .into_iter()
            .map(|b| (b.first, b.last, b.types))
            .collect();
        assert_eq!(got, want, "{acks:?}");
    }
}

#[test]
fn epochs_wrap_past_zero() {
    assert_eq!(next_epoch(0), 1);
    assert_eq!(next_epoch(41), 42);
    assert_eq!(next_epoch(i32::MAX), 1);
}

#[test]
fn fetch_request_lists_added_and_acknowledged_partitions() {
    let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let plan = FetchPlan {
        group_id: "g".into(),
        member_id: "m".into(),
        epoch: 3,
        max_records: 500,
        add: [(a, 1)].into(),
        acks: [((b, 0), [(10, ACCEPT), (11, RELEASE)].into())].into(),
        forget: [(a, 0)].into(),
        ..FetchPlan::default()
    };
    let req = fetch_request(&plan);
    assert_eq!(req.share_session_epoch, 3);
    assert_eq!((req.max_records, req.batch_size), (500, 500));
    let listed: Vec<(Uuid, i32, usize)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.topic_id,
                    p.partition_index,
                    p.acknowledgement_batches.len(),
                )
            })
        })
        .collect();
    assert_eq!(listed, vec![(a, 1, 0), (b, 0, 1)]);
    let batch = &req.topics[1].partitions[0].acknowledgement_batches[0];
    assert_eq!(
        (
            batch.first_offset,
            batch.last_offset,
            batch.acknowledge_types.clone()
        ),
        (10, 11, vec![ACCEPT, RELEASE])
    );
    assert_eq!(req.forgotten_topics_data[0].partitions, vec![0]);

    let ack = acknowledge_request("g", "m", 4, &plan.acks, false);
    assert_eq!(ack.share_session_epoch, 4);
    assert_eq!(ack.topics[0].partitions[0].acknowledgement_batches.len(), 1);
}

#[test]
fn fetch_response_errors_and_acquired_ranges() {
    let id = Uuid::from_u128(9);
    let resp = ShareFetchResponse::default()
        .with_acquisition_lock_timeout_ms(2000)
        .with_responses(vec![
            ShareFetchableTopicResponse::default()
                .with_topic_id(id)
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_acknowledge_error_code(INVALID_RECORD_STATE)
                        .with_acquired_records(vec![
                            AcquiredRecords::default()
                                .with_first_offset(3)
                                .with_last_offset(5)
                                .with_delivery_count(2),
                        ]),
                    PartitionData::default()
                        .with_partition_index(1)
                        .with_error_code(code::NOT_LEADER_OR_FOLLOWER),
                ]),
        ]);
    let (parts, lock) = fetch_response(resp).expect("no request error");
    assert_eq!(lock, 2000);
    assert_eq!(parts[0].tip, (id, 0));
    assert_eq!(parts[0].ack_error, Some(ErrorCode(INVALID_RECORD_STATE)));
    assert_eq!(parts[0].acquired, vec![(3, 5, 2)]);
    assert_eq!(parts[1].error, Some(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    let bad = ShareFetchResponse::default().with_error_code(INVALID_SHARE_SESSION_EPOCH);
    assert_eq!(
        fetch_response(bad).map(|_| ()),
        Err(ErrorCode(INVALID_SHARE_SESSION_EPOCH))
    );
}

#[test]
fn only_acquired_records_are_returned_and_holes_are_gaps() {
    // Offsets 0..=9 decoded (whole batches), 2..=4 and 8..=9 acquired, 3 has no record.
    let decoded: Vec<ConsumerRecord> = (0..10).filter(|o| *o != 3).map(record).collect();
    let (got, gaps) = acquired_records(decoded, &[(2, 4, 1), (8, 9, 3)]);
    let got: Vec<(i64, i16)> = got.iter().map(|(r, c)| (r.offset, *c)).collect();
    assert_eq!(got, vec![(2, 1), (4, 1), (8, 3), (9, 3)]);
    assert_eq!(gaps, vec![3]);
}

#[test]
fn heartbeat_outcomes_by_error() {
    let id = Uuid::from_u128(5);
    let ok = ShareGroupHeartbeatResponse::default()
        .with_member_epoch(7)
        .with_heartbeat_interval_ms(5000)
        .with_assignment(Some(Assignment::default().with_topic_partitions(vec![
            TopicPartitions::default().with_topic_id(id).with_partitions(vec![0, 1]),
        ])));
    assert_eq!(
        heartbeat_response(&ok),
        Heartbeat::Member {
            epoch: 7,
            interval_ms: 5000,
            assignment: Some([(id, 0), (id, 1)].into()),
        }
    );
    let cases = [
        (FENCED_MEMBER_EPOCH, "rejoin"),
        (code::UNKNOWN_MEMBER_ID, "rejoin"),
        (code::NOT_COORDINATOR, "find"),
        (code::COORDINATOR_LOAD_IN_PROGRESS, "find"),
        (code::GROUP_AUTHORIZATION_FAILED, "fatal"),
    ];
    for (err, want) in cases {
        let got = match heartbeat_response(&ok.clone().with_error_code(err)) {
            Heartbeat::Rejoin(_) => "rejoin",
            Heartbeat::FindCoordinator(_) => "find",
            Heartbeat::Fatal(..) => "fatal",
            Heartbeat::Member { .. } => "member",
        };
        assert_eq!(got, want, "error {err}");
    }
    let join = heartbeat_request("g", "m", 0, "", Some(&["t".to_string()].into()));
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.subscribed_topic_names.map(|t| t.len()), Some(1));
    assert!(join.rack_id.is_none());
}

#[test]
fn renew_acknowledgements_encode_only_at_v2() {
    use kafka_protocol::protocol::Encodable;
    let acks = BTreeMap::from([((Uuid::from_u128(3), 0), Acks::from([(7, RENEW)]))]);
    let renew = acknowledge_request("g", "m", 2, &acks, true);
    assert!(renew.is_renew_ack);
    assert_eq!(
        renew.topics[0].partitions[0].acknowledgement_batches[0].acknowledge_types,
        vec![RENEW]
    );
    let mut v2 = bytes::BytesMut::new();
    renew.encode(&mut v2, 2).expect("v2 carries IsRenewAck");
    let plain = acknowledge_request("g", "m", 2, &acks, false);
    let mut v2_plain = bytes::BytesMut::new();
    plain.encode(&mut v2_plain, 2).expect("v2");
    // One boolean byte apart, and it is the flag.
    assert_eq!(v2.len(), v2_plain.len());
    assert_ne!(v2, v2_plain);
    let mut v1 = bytes::BytesMut::new();
    assert!(renew.encode(&mut v1, 1).is_err(), "v1 has no IsRenewAck");
    let mut v1_plain = bytes::BytesMut::new();
    plain.encode(&mut v1_plain, 1).expect("v1");
    assert_eq!(v1_plain.len() + 1, v2_plain.len());
}

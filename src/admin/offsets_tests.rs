use super::*;
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};

#[test]
fn fetch_results_leave_out_uncommitted_partitions() {
    let resp = OffsetFetchResponse::default().with_topics(vec![
        OffsetFetchResponseTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(vec![
                OffsetFetchResponsePartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(7)
                    .with_committed_leader_epoch(2)
                    .with_metadata(Some(StrBytes::from_static_str("m"))),
                OffsetFetchResponsePartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(-1)
                    .with_committed_leader_epoch(-1),
            ]),
    ]);
    let out = fetch_results("g", &resp).expect("ok");
    assert_eq!(out.len(), 1);
    let o = &out[&TopicPartition::new("t", 0)];
    assert_eq!(
        (o.offset, o.leader_epoch, o.metadata.as_str()),
        (7, Some(2), "m")
    );
    assert!(fetch_results("g", &OffsetFetchResponse::default().with_error_code(69)).is_err());
}

#[test]
fn commit_request_groups_by_topic_as_an_admin() {
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = [
        (TopicPartition::new("b", 0), OffsetAndMetadata::new(5)),
        (TopicPartition::new("a", 1), OffsetAndMetadata::new(3)),
        (TopicPartition::new("a", 0), OffsetAndMetadata::new(2)),
    ]
    .into();
    let req = commit_request("g", &offsets);
    assert_eq!(req.generation_id_or_member_epoch, -1);
    assert!(req.member_id.is_empty());
    let got: Vec<(String, Vec<(i32, i64)>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a".to_string(), vec![(0, 2), (1, 3)]),
            ("b".to_string(), vec![(0, 5)])
        ]
    );
}

#[test]
fn delete_results_per_partition_and_group_errors() {
    use crate::protocol::messages::offset_delete_response::{
        OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
    };
    let asked = [TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    let req = delete_request("g", &asked);
    assert_eq!(req.topics[0].partitions.len(), 2);
    let resp = OffsetDeleteResponse::default().with_topics(vec![
        OffsetDeleteResponseTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(vec![
                OffsetDeleteResponsePartition::default().with_partition_index(0),
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(1)
                    .with_error_code(86),
            ]),
    ]);
    let out = delete_results("g", &asked, &resp).expect("group ok");
    assert!(out[&asked[0]].is_ok());
    assert_eq!(
        out[&asked[1]].as_ref().unwrap_err().code().map(|c| c.0),
        Some(86)
    );
    let failed = OffsetDeleteResponse::default().with_error_code(69);
    assert!(delete_results("g", &asked, &failed).is_err());
}

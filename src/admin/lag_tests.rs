use super::*;
use crate::admin::MemberDescription;
use crate::types::Node;

type Row<'a> = (i32, Option<i64>, Option<i64>, Option<i64>, Option<&'a str>);

#[test]
fn rows_join_committed_log_end_and_owner() {
    let tp = |p| TopicPartition::new("t", p);
    let group = ConsumerGroupDescription {
        group_id: "g".into(),
        is_simple: false,
        protocol_type: "consumer".into(),
        partition_assignor: "range".into(),
        state: "Stable".into(),
        members: vec![MemberDescription {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            host: "/h".into(),
            assignment: vec![tp(0), tp(1)],
        }],
        coordinator: Node {
            id: 1,
            host: "h".into(),
            port: 1,
            rack: None,
        },
    };
    let committed = BTreeMap::from([(tp(0), 3), (tp(2), 4)]);
    let ends = BTreeMap::from([(tp(0), 10), (tp(1), 10)]);
    let rows = lag_rows(Some(&group), &committed, &ends);
    let got: Vec<Row> = rows
        .iter()
        .map(|r| {
            (
                r.partition.partition,
                r.committed,
                r.log_end_offset,
                r.lag,
                r.member_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, Some(3), Some(10), Some(7), Some("m")),
            (1, None, Some(10), None, Some("m")),
            (2, Some(4), None, None, None),
        ]
    );
    assert_eq!(rows[0].client_id.as_deref(), Some("c"));
    assert_eq!(rows[2].host, None);
}

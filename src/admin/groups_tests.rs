use super::*;
use crate::protocol::messages::describe_groups_response::DescribedGroupMember;
use crate::protocol::messages::leave_group_response::MemberResponse;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn coordinator() -> Node {
    Node {
        id: 1,
        host: "h".into(),
        port: 9092,
        rack: None,
    }
}

#[test]
fn describe_decodes_member_assignments() {
    let assignment = Assignment {
        partitions: TopicPartitions::group(&[("b".into(), 1), ("a".into(), 2), ("a".into(), 0)]),
        user_data: None,
    }
    .encode(3);
    let g = DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_group_state(sb("Stable"))
        .with_protocol_type(sb("consumer"))
        .with_protocol_data(sb("range"))
        .with_members(vec![
            DescribedGroupMember::default()
                .with_member_id(sb("m1"))
                .with_group_instance_id(Some(sb("i1")))
                .with_client_id(sb("c1"))
                .with_client_host(sb("/10.0.0.1"))
                .with_member_assignment(assignment),
            DescribedGroupMember::default().with_member_id(sb("m2")),
        ]);
    let d = describe_result(&g, &coordinator()).expect("described");
    assert_eq!(
        (d.state.as_str(), d.partition_assignor.as_str()),
        ("Stable", "range")
    );
    assert!(!d.is_simple);
    let m = &d.members[0];
    assert_eq!(
        m.assignment,
        [
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("b", 1)
        ]
    );
    assert_eq!(m.group_instance_id.as_deref(), Some("i1"));
    assert_eq!((m.client_id.as_str(), m.host.as_str()), ("c1", "/10.0.0.1"));
    assert!(d.members[1].assignment.is_empty(), "no assignment yet");
}

#[test]
fn describe_errors_and_dead_groups() {
    let dead = DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_group_state(sb("Dead"));
    let e = describe_result(&dead, &coordinator()).expect_err("dead");
    assert_eq!(e.code().map(|c| c.0), Some(GROUP_ID_NOT_FOUND));
    let failed = DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_error_code(GROUP_ID_NOT_FOUND)
        .with_error_message(Some(sb("Group g not found.")));
    let e = describe_result(&failed, &coordinator()).expect_err("not found");
    assert!(e.to_string().contains("group g: Group g not found."), "{e}");
    let garbage = DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_group_state(sb("Stable"))
        .with_protocol_type(sb("consumer"))
        .with_members(vec![
            DescribedGroupMember::default()
                .with_member_id(sb("m"))
                .with_member_assignment(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 9])),
        ]);
    assert!(matches!(
        describe_result(&garbage, &coordinator()),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn leave_results_match_static_and_dynamic_members() {
    let members = [
        MemberToRemove::Static("i1".into()),
        MemberToRemove::Dynamic("m2".into()),
        MemberToRemove::Static("nobody".into()),
    ];
    let resp = LeaveGroupResponse::default().with_members(vec![
        MemberResponse::default()
            .with_member_id(sb("m2"))
            .with_error_code(25),
        MemberResponse::default()
            .with_member_id(sb("m1"))
            .with_group_instance_id(Some(sb("i1"))),
        MemberResponse::default()
            .with_member_id(sb(""))
            .with_group_instance_id(Some(sb("nobody")))
            .with_error_code(25),
    ]);
    let out = leave_results(&members, &resp, "g").expect("group ok");
    assert!(out[&members[0]].is_ok());
    assert_eq!(
        out[&members[1]].as_ref().unwrap_err().code().map(|c| c.0),
        Some(25)
    );
    assert_eq!(
        out[&members[2]].as_ref().unwrap_err().code().map(|c| c.0),
        Some(25)
    );
    let failed = LeaveGroupResponse::default().with_error_code(GROUP_ID_NOT_FOUND);
    assert!(leave_results(&members, &failed, "g").is_err());
}

#[test]
fn listings_keep_state_and_type_by_version() {
    use crate::protocol::messages::list_groups_response::ListedGroup;
    let resp = ListGroupsResponse::default().with_groups(vec![
        ListedGroup::default()
            .with_group_id(group_id("g"))
            .with_protocol_type(sb("consumer"))
            .with_group_state(sb("Empty"))
            .with_group_type(sb("classic")),
    ]);
    let v5 = listings(&resp, 5).expect("ok");
    assert_eq!(v5[0].state.as_deref(), Some("Empty"));
    assert_eq!(v5[0].group_type.as_deref(), Some("classic"));
    let v3 = listings(&resp, 3).expect("ok");
    assert_eq!(
        (v3[0].state.clone(), v3[0].group_type.clone()),
        (None, None)
    );
    assert!(listings(&ListGroupsResponse::default().with_error_code(15), 5).is_err());
}

#[test]
fn kip848_groups_read_assignments_by_topic_name() {
    use crate::protocol::messages::consumer_group_describe_response as cgd;
    let g = cgd::DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_group_state(sb("stable"))
        .with_assignor_name(sb("uniform"))
        .with_members(vec![
            cgd::Member::default()
                .with_member_id(sb("m"))
                .with_client_id(sb("c"))
                .with_client_host(sb("/h"))
                .with_assignment(cgd::Assignment::default().with_topic_partitions(vec![
                    cgd::TopicPartitions::default()
                        .with_topic_name(crate::protocol::messages::TopicName(sb("t")))
                        .with_partitions(vec![2, 0]),
                ])),
        ]);
    let d = kip848_result(&g, &coordinator()).expect("described");
    assert_eq!(
        (d.state.as_str(), d.partition_assignor.as_str()),
        ("Stable", "uniform")
    );
    assert_eq!(
        d.members[0].assignment,
        [TopicPartition::new("t", 0), TopicPartition::new("t", 2)]
    );
    let failed = cgd::DescribedGroup::default()
        .with_group_id(group_id("g"))
        .with_error_code(GROUP_ID_NOT_FOUND);
    assert!(kip848_result(&failed, &coordinator()).is_err());
}

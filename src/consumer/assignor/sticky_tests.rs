//! Expected outputs are Java's, from Kafka's `AbstractStickyAssignorTest`,
//! `StickyAssignorTest` and `CooperativeStickyAssignorTest`
//! (clients/src/test/java/org/apache/kafka/clients/consumer/{,internals/}, apache/kafka @
//! 02371f26cf71818d8efadc7454e1e379da64dd2a and 0f2d9e24a603c453431ad522556d3a149fc52316;
//! StickyAssignorTest from AutoMQ/automq @ 2005726b57d80a1e6776362918b02f321d97db0b).
//! Members are "consumer1".. unless noted; Java's partition lists are compared as sets.

use std::collections::{BTreeMap, BTreeSet};

use super::MemberSubscription;
use super::sticky::{assign, assign_cooperative, withhold_transfers};
use super::tests::{member, owning, parts, topics};

#[test]
fn one_consumer() {
    let a = assign(&[member("consumer", &[])], &BTreeMap::new());
    assert_eq!(a["consumer"], parts(&[]));
    let a = assign(&[member("consumer", &["topic"])], &topics(&[("topic", 0)]));
    assert_eq!(a["consumer"], parts(&[]));
    let a = assign(
        &[member("consumer", &["topic1", "topic2"])],
        &topics(&[("topic1", 1), ("topic2", 2)]),
    );
    assert_eq!(
        a["consumer"],
        parts(&[("topic1", 0), ("topic2", 0), ("topic2", 1)])
    );
    // testOnlyAssignsPartitionsFromSubscribedTopics: owned partitions of other topics drop.
    let m = owning(
        "consumer",
        &["topic"],
        &[("topic", 0), ("topic", 1), ("other", 0), ("other", 1)],
        1,
    );
    let a = assign_cooperative(&[m], &topics(&[("topic", 2)]));
    assert_eq!(a["consumer"], parts(&[("topic", 0), ("topic", 1)]));
}

#[test]
fn two_consumers_two_topics_six_partitions() {
    let both = ["topic1", "topic2"];
    let a = assign(
        &[member("consumer1", &both), member("consumer2", &both)],
        &topics(&[("topic1", 3), ("topic2", 3)]),
    );
    assert_eq!(
        a["consumer1"],
        parts(&[("topic1", 0), ("topic1", 2), ("topic2", 1)])
    );
    assert_eq!(
        a["consumer2"],
        parts(&[("topic1", 1), ("topic2", 0), ("topic2", 2)])
    );
}

#[test]
fn multiple_consumers_mixed_topic_subscriptions() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let a = assign(&members, &topics(&[("topic1", 3), ("topic2", 2)]));
    assert_eq!(a["consumer1"], parts(&[("topic1", 0), ("topic1", 2)]));
    assert_eq!(a["consumer2"], parts(&[("topic2", 0), ("topic2", 1)]));
    assert_eq!(a["consumer3"], parts(&[("topic1", 1)]));
}

#[test]
fn non_rack_aware_three_topics() {
    // testRackAwareAssignmentWith{Uniform,NonEqual}Subscription, no racks (consumer0..2).
    let t = topics(&[("t1", 6), ("t2", 7), ("t3", 2)]);
    let all = ["t1", "t2", "t3"];
    let mut members = vec![
        member("consumer0", &all),
        member("consumer1", &all),
        member("consumer2", &all),
    ];
    let a = assign(&members, &t);
    assert_eq!(
        a["consumer0"],
        parts(&[("t1", 0), ("t1", 3), ("t2", 0), ("t2", 3), ("t2", 6)])
    );
    assert_eq!(
        a["consumer1"],
        parts(&[("t1", 1), ("t1", 4), ("t2", 1), ("t2", 4), ("t3", 0)])
    );
    assert_eq!(
        a["consumer2"],
        parts(&[("t1", 2), ("t1", 5), ("t2", 2), ("t2", 5), ("t3", 1)])
    );
    members[2] = member("consumer2", &["t1", "t3"]);
    let a = assign(&members, &t);
    assert_eq!(
        a["consumer0"],
        parts(&[("t1", 5), ("t2", 0), ("t2", 2), ("t2", 4), ("t2", 6)])
    );
    assert_eq!(
        a["consumer1"],
        parts(&[("t1", 3), ("t2", 1), ("t2", 3), ("t2", 5), ("t3", 0)])
    );
    assert_eq!(
        a["consumer2"],
        parts(&[("t1", 0), ("t1", 1), ("t1", 2), ("t1", 4), ("t3", 1)])
    );
}

#[test]
fn owners_keep_quota_and_free_partitions_fill_minimum_first() {
    let t = topics(&[("topic1", 2), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    // testConsumerOwningMinQuotaExpectedMaxQuota
    let members = [
        owning("consumer1", &both, &[("topic1", 0), ("topic2", 1)], 1),
        owning("consumer2", &both, &[("topic1", 1), ("topic2", 2)], 1),
    ];
    let a = assign_cooperative(&members, &t);
    assert_eq!(
        a["consumer1"],
        parts(&[("topic1", 0), ("topic2", 0), ("topic2", 1)])
    );
    assert_eq!(a["consumer2"], parts(&[("topic1", 1), ("topic2", 2)]));
    // testAllConsumersAreUnderMinQuota
    let members = [
        owning("consumer1", &both, &[("topic1", 0)], 1),
        owning("consumer2", &both, &[("topic1", 1)], 1),
        member("consumer3", &both),
    ];
    let a = assign_cooperative(&members, &t);
    assert_eq!(a["consumer1"], parts(&[("topic1", 0), ("topic2", 1)]));
    assert_eq!(a["consumer2"], parts(&[("topic1", 1), ("topic2", 2)]));
    assert_eq!(a["consumer3"], parts(&[("topic2", 0)]));
    // testAllConsumersReachExpectedQuotaAndAreConsideredFilled
    let members = [
        owning("consumer1", &["topic"], &[("topic", 0), ("topic", 1)], 1),
        owning("consumer2", &["topic"], &[("topic", 2)], 1),
        member("consumer3", &["topic"]),
    ];
    let a = assign_cooperative(&members, &topics(&[("topic", 4)]));
    assert_eq!(a["consumer1"], parts(&[("topic", 0), ("topic", 1)]));
    assert_eq!(a["consumer2"], parts(&[("topic", 2)]));
    assert_eq!(a["consumer3"], parts(&[("topic", 3)]));
}

#[test]
fn more_max_quota_owners_than_slots() {
    // testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers. Java's leader goes through the
    // members in its HashMap's order: consumer2 (bucket 11) before consumer1 (bucket 12), so
    // consumer2 keeps the larger quota and consumer1 gives up topic2-0 to consumer3.
    let both = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &both, &[("topic1", 0), ("topic2", 0)], 1),
        owning("consumer2", &both, &[("topic1", 1), ("topic2", 1)], 1),
        member("consumer3", &both),
    ];
    let t = topics(&[("topic1", 2), ("topic2", 2)]);
    let a = assign(&members, &t);
    assert_eq!(a["consumer1"], parts(&[("topic1", 0)]));
    assert_eq!(a["consumer2"], parts(&[("topic1", 1), ("topic2", 1)]));
    assert_eq!(a["consumer3"], parts(&[("topic2", 0)]));
    let mut coop = a.clone();
    let withheld = withhold_transfers(&members, &mut coop);
    assert_eq!(
        withheld,
        BTreeMap::from([(("topic2".to_owned(), 0), "consumer3".to_owned())])
    );
    assert_eq!(coop["consumer3"], parts(&[]));
}

// The cases below are Java's answers (kafka-clients 4.4.0 `CooperativeStickyAssignor`, run by
// `JavaPeer assign` of tests/java) for the same input, members given in the order listed.

/// Found by tests/java_peer.rs (mixed group with Java members, cooperative-sticky, our member
/// the leader): b-java joins; we own 0..=3, a-java 4..=6. Java's leader keeps the larger quota
/// with us (our id's HashMap bucket, 4, comes before a-java's, 15): we revoke 3, a-java
/// revokes 6. Ours used to keep it with a-java (member id order): we revoked 2 and 3.
#[test]
fn larger_quota_goes_to_owners_in_java_hashmap_order() {
    let ours = "ferrokafka-8b0c4454-514d-416b-ad78-162e862f84ae";
    let a_java = "a-java-c8941482-31d3-42b2-8613-c765fcfeb2ad";
    let b_java = "b-java-aa4752b5-8ae8-4237-8d24-4f853d09c1cf";
    let t = topics(&[("t", 7)]);
    let us = owning(ours, &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)], 3);
    let a = owning(a_java, &["t"], &[("t", 4), ("t", 5), ("t", 6)], 3);
    let b = member(b_java, &["t"]);
    // Different buckets: the JoinGroup order does not matter.
    for members in [[us.clone(), a.clone(), b.clone()], [a, b, us]] {
        let got = assign_cooperative(&members, &t);
        assert_eq!(got[ours], parts(&[("t", 0), ("t", 1), ("t", 2)]));
        assert_eq!(got[a_java], parts(&[("t", 4), ("t", 5)]));
        assert_eq!(got[b_java], parts(&[]));
        // The round after the revocations.
        let next = [
            owning(ours, &["t"], &[("t", 0), ("t", 1), ("t", 2)], 4),
            owning(a_java, &["t"], &[("t", 4), ("t", 5)], 4),
            owning(b_java, &["t"], &[] as &[(&str, i32)], 4),
        ];
        let got = assign_cooperative(&next, &t);
        assert_eq!(got[b_java], parts(&[("t", 3), ("t", 6)]));
    }
}

/// Within one HashMap bucket Java keeps insertion order, which is the JoinGroup response's:
/// "member-1" and "member-19" share bucket 4.
#[test]
fn same_bucket_owners_in_join_order() {
    let t = topics(&[("t", 7)]);
    let m19 = owning(
        "member-19",
        &["t"],
        &[("t", 0), ("t", 1), ("t", 2), ("t", 3)],
        2,
    );
    let m1 = owning("member-1", &["t"], &[("t", 4), ("t", 5), ("t", 6)], 2);
    let new = member("new-member", &["t"]);
    let got = assign_cooperative(&[m19.clone(), m1.clone(), new.clone()], &t);
    assert_eq!(got["member-19"], parts(&[("t", 0), ("t", 1), ("t", 2)]));
    assert_eq!(got["member-1"], parts(&[("t", 4), ("t", 5)]));
    let got = assign_cooperative(&[m1, m19, new], &t);
    assert_eq!(got["member-19"], parts(&[("t", 0), ("t", 1)]));
    assert_eq!(got["member-1"], parts(&[("t", 4), ("t", 5), ("t", 6)]));
}

/// Past 12 members Java's HashMap has 32 buckets, which reorders members: "member-3" (bucket
/// 10 of 32) now comes before "member-1" (20; of 16 buckets they are 10 and 4).
#[test]
fn hashmap_order_follows_the_table_size() {
    let others = |n: i32| -> Vec<MemberSubscription> {
        (2..=n)
            .filter(|i| *i != 3)
            .map(|i| member(&format!("member-{i}"), &["t"]))
            .collect()
    };
    let owners = [
        owning("member-1", &["t"], &[("t", 0), ("t", 1)], 1),
        owning("member-3", &["t"], &[("t", 2), ("t", 3)], 1),
    ];
    // 13 members, 14 partitions: one larger quota.
    let members: Vec<MemberSubscription> = owners.iter().cloned().chain(others(13)).collect();
    let got = assign_cooperative(&members, &topics(&[("t", 14)]));
    assert_eq!(got["member-1"], parts(&[("t", 0)]));
    assert_eq!(got["member-3"], parts(&[("t", 2), ("t", 3)]));
    assert_eq!(got["member-10"], parts(&[]));
    assert_eq!(got["member-11"], parts(&[("t", 4)]));
    assert_eq!(got["member-9"], parts(&[("t", 13)]));
    // 11 members, 12 partitions: 16 buckets, member-1 first.
    let members: Vec<MemberSubscription> = owners.iter().cloned().chain(others(11)).collect();
    let got = assign_cooperative(&members, &topics(&[("t", 12)]));
    assert_eq!(got["member-1"], parts(&[("t", 0), ("t", 1)]));
    assert_eq!(got["member-3"], parts(&[("t", 2)]));
    assert_eq!(got["member-10"], parts(&[]));
    assert_eq!(got["member-9"], parts(&[("t", 11)]));
}

/// Java keeps an owner's lowest partitions (sorted by partition, then topic), not the first
/// ones it listed: a Java member lists what it owns in the order it got it.
#[test]
fn owners_keep_their_lowest_partitions() {
    let members = [
        owning("x", &["t"], &[("t", 6), ("t", 0), ("t", 1), ("t", 2)], 1),
        member("y", &["t"]),
        member("z", &["t"]),
    ];
    let got = assign_cooperative(&members, &topics(&[("t", 7)]));
    assert_eq!(got["x"], parts(&[("t", 0), ("t", 1), ("t", 2)]));
    assert_eq!(got["y"], parts(&[("t", 3), ("t", 5)]));
    assert_eq!(got["z"], parts(&[("t", 4)]));
}

/// A larger quota left over goes first to owners kept at the minimum (by member id), then to
/// members in the order the dealing filled them up to the minimum; not simply by member id.
#[test]
fn leftover_larger_quota_goes_to_owners_at_the_minimum_first() {
    let members = [
        member("a", &["t"]),
        owning("b", &["t"], &[("t", 0), ("t", 1)], 1),
        owning("c", &["t"], &[("t", 2), ("t", 3)], 1),
    ];
    let got = assign_cooperative(&members, &topics(&[("t", 7)]));
    assert_eq!(got["a"], parts(&[("t", 4), ("t", 5)]));
    assert_eq!(got["b"], parts(&[("t", 0), ("t", 1), ("t", 6)]));
    assert_eq!(got["c"], parts(&[("t", 2), ("t", 3)]));
}

#[test]
fn add_and_remove_consumers() {
    // testAddRemoveConsumerOneTopic
    let t = topics(&[("topic", 3)]);
    let a = assign(&[member("consumer1", &["topic"])], &t);
    assert_eq!(
        a["consumer1"],
        parts(&[("topic", 0), ("topic", 1), ("topic", 2)])
    );
    let members = [
        owning("consumer1", &["topic"], &a["consumer1"], 1),
        member("consumer2", &["topic"]),
    ];
    let mut b = assign(&members, &t);
    assert_eq!(b["consumer1"], parts(&[("topic", 0), ("topic", 1)]));
    assert_eq!(b["consumer2"], parts(&[("topic", 2)]));
    let withheld = withhold_transfers(&members, &mut b);
    assert_eq!(
        withheld,
        BTreeMap::from([(("topic".to_owned(), 2), "consumer2".to_owned())])
    );

    // testAddRemoveTwoConsumersTwoTopics
    let t = topics(&[("topic1", 3), ("topic2", 4)]);
    let both = ["topic1", "topic2"];
    let a = assign(
        &[member("consumer1", &both), member("consumer2", &both)],
        &t,
    );
    assert_eq!(
        a["consumer1"],
        parts(&[("topic1", 0), ("topic1", 2), ("topic2", 1), ("topic2", 3)])
    );
    assert_eq!(
        a["consumer2"],
        parts(&[("topic1", 1), ("topic2", 0), ("topic2", 2)])
    );
    let members = [
        owning("consumer1", &both, &a["consumer1"], 1),
        owning("consumer2", &both, &a["consumer2"], 1),
        member("consumer3", &both),
        member("consumer4", &both),
    ];
    // Kafka 4.x: owners keep their lowest partitions by (partition, topic), so consumer1 keeps
    // topic2-1 over topic1-2 (Kafka before 3.5 kept topic1-0 and topic1-2).
    let mut b = assign(&members, &t);
    assert_eq!(b["consumer1"], parts(&[("topic1", 0), ("topic2", 1)]));
    assert_eq!(b["consumer2"], parts(&[("topic1", 1), ("topic2", 0)]));
    assert_eq!(b["consumer3"], parts(&[("topic1", 2), ("topic2", 3)]));
    assert_eq!(b["consumer4"], parts(&[("topic2", 2)]));
    let withheld = withhold_transfers(&members, &mut b.clone());
    let expected: BTreeMap<(String, i32), String> = [
        (("topic1", 2), "consumer3"),
        (("topic2", 3), "consumer3"),
        (("topic2", 2), "consumer4"),
    ]
    .into_iter()
    .map(|((t, p), c)| ((t.to_owned(), p), c.to_owned()))
    .collect();
    assert_eq!(withheld, expected);
    // ... then remove consumer1 and consumer2.
    let members = [
        owning(
            "consumer3",
            &both,
            &b.remove("consumer3").unwrap_or_default(),
            1,
        ),
        owning(
            "consumer4",
            &both,
            &b.remove("consumer4").unwrap_or_default(),
            1,
        ),
    ];
    let c = assign_cooperative(&members, &t);
    assert_eq!(
        c["consumer3"],
        parts(&[("topic1", 0), ("topic1", 2), ("topic2", 1), ("topic2", 3)])
    );
    assert_eq!(
        c["consumer4"],
        parts(&[("topic1", 1), ("topic2", 0), ("topic2", 2)])
    );
}

#[test]
fn generations_decide_conflicting_claims() {
    let t = topics(&[("topic", 3), ("topic2", 3)]);
    let both = ["topic", "topic2"];
    let claimed = [("topic", 0), ("topic", 2), ("topic2", 1)];
    // testOwnedPartitionsAreInvalidatedForConsumerWith{Stale,No}Generation
    for stale in [9, -1] {
        let members = [
            owning("consumer1", &both, &parts(&claimed), 10),
            owning("consumer2", &both, &parts(&claimed), stale),
        ];
        let a = assign(&members, &t);
        assert_eq!(a["consumer1"], parts(&claimed));
        assert_eq!(
            a["consumer2"],
            parts(&[("topic", 1), ("topic2", 0), ("topic2", 2)])
        );
    }
    // testOwnedPartitionsAreInvalidatedForConsumerWithMultipleGeneration
    let members = [
        owning(
            "consumer1",
            &both,
            &parts(&[("topic", 0), ("topic2", 1), ("topic", 1)]),
            10,
        ),
        owning(
            "consumer2",
            &both,
            &parts(&[("topic", 0), ("topic2", 1), ("topic2", 2)]),
            8,
        ),
    ];
    let a = assign(&members, &t);
    assert_eq!(
        a["consumer1"],
        parts(&[("topic", 0), ("topic", 1), ("topic2", 1)])
    );
    assert_eq!(
        a["consumer2"],
        parts(&[("topic", 2), ("topic2", 0), ("topic2", 2)])
    );
    // testEnsurePartitionsAssignedToHighestGeneration
    let all = ["topic", "topic2", "topic3"];
    let t3 = topics(&[("topic", 3), ("topic2", 3), ("topic3", 3)]);
    let members = [
        owning(
            "consumer1",
            &all,
            &parts(&[("topic", 0), ("topic2", 0), ("topic3", 0)]),
            10,
        ),
        owning(
            "consumer2",
            &all,
            &parts(&[("topic", 1), ("topic2", 1), ("topic3", 1)]),
            9,
        ),
        owning(
            "consumer3",
            &all,
            &parts(&[("topic2", 1), ("topic3", 0), ("topic3", 2)]),
            8,
        ),
    ];
    let a = assign_cooperative(&members, &t3);
    assert_eq!(
        a["consumer1"],
        parts(&[("topic", 0), ("topic2", 0), ("topic3", 0)])
    );
    assert_eq!(
        a["consumer2"],
        parts(&[("topic", 1), ("topic2", 1), ("topic3", 1)])
    );
    assert_eq!(
        a["consumer3"],
        parts(&[("topic", 2), ("topic2", 2), ("topic3", 2)])
    );
}

#[test]
fn no_reassignment_on_current_members() {
    // testNoReassignmentOnCurrentMembers
    let all = ["topic", "topic2", "topic3", "topic1"];
    let t = topics(&[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)]);
    let members = [
        member("consumer1", &all),
        owning(
            "consumer2",
            &all,
            &parts(&[("topic", 0), ("topic2", 0), ("topic1", 0)]),
            9,
        ),
        owning(
            "consumer3",
            &all,
            &parts(&[("topic3", 2), ("topic2", 2), ("topic1", 1)]),
            8,
        ),
        owning(
            "consumer4",
            &all,
            &parts(&[("topic3", 1), ("topic", 1), ("topic", 2)]),
            7,
        ),
    ];
    let a = assign_cooperative(&members, &t);
    assert_eq!(
        a["consumer1"],
        parts(&[("topic1", 2), ("topic2", 1), ("topic3", 0)])
    );
}

#[test]
fn same_generation_double_claims() {
    // test...ClaimedByMultipleConsumersInSameGenerationWith{Equal,Unequal}PartitionsPerConsumer
    // (StickyAssignorTest and CooperativeStickyAssignorTest).
    let members = [
        owning(
            "consumer1",
            &["topic"],
            &parts(&[("topic", 0), ("topic", 1)]),
            1,
        ),
        owning(
            "consumer2",
            &["topic"],
            &parts(&[("topic", 0), ("topic", 2)]),
            1,
        ),
        member("consumer3", &["topic"]),
    ];
    for (n, first) in [
        (3, parts(&[("topic", 1)])),
        (4, parts(&[("topic", 1), ("topic", 3)])),
    ] {
        let t = topics(&[("topic", n)]);
        let eager = assign(&members, &t);
        assert_eq!(eager["consumer1"], first);
        assert_eq!(eager["consumer2"], parts(&[("topic", 2)]));
        assert_eq!(eager["consumer3"], parts(&[("topic", 0)]));
        // Cooperative: topic-0 waits until both claimants have revoked it.
        let coop = assign_cooperative(&members, &t);
        assert_eq!(coop["consumer1"], first);
        assert_eq!(coop["consumer3"], parts(&[]));
    }
}

#[test]
fn stickiness_when_leader_leaves() {
    // testStickiness: 4 members, 3 partitions; remove consumer1, the rest keep theirs.
    let t = topics(&[("topic1", 3)]);
    let ids = ["consumer1", "consumer2", "consumer3", "consumer4"];
    let first = assign(&ids.map(|id| member(id, &["topic1"])), &t);
    assert!(first.values().all(|p| p.len() <= 1));
    let members: Vec<_> = ids[1..]
        .iter()
        .map(|id| owning(id, &["topic1"], &first[*id], 1))
        .collect();
    let second = assign_cooperative(&members, &t);
    for id in &ids[1..] {
        assert_eq!(second[*id].len(), 1);
        assert!(first[*id].iter().all(|p| second[*id].contains(p)), "{id}");
    }
}

#[test]
fn schema_backward_compatibility() {
    // testSchemaBackwardCompatibility: consumer2's v0 user data has no generation (-1).
    let members = [
        owning(
            "consumer1",
            &["topic"],
            &parts(&[("topic", 0), ("topic", 2)]),
            1,
        ),
        owning("consumer2", &["topic"], &parts(&[("topic", 1)]), -1),
        member("consumer3", &["topic"]),
    ];
    let a = assign(&members, &topics(&[("topic", 3)]));
    assert_eq!(a["consumer1"], parts(&[("topic", 0)]));
    assert_eq!(a["consumer2"], parts(&[("topic", 1)]));
    assert_eq!(a["consumer3"], parts(&[("topic", 2)]));
}

#[test]
fn assign_same_partition_with_three_generations() {
    // testSubscriptionNotEqualAndAssignSamePartitionWith3Generation
    let t = topics(&[("topic", 6), ("topic1", 1)]);
    for gens in [
        [1, 2, 3],
        [1, 3, 2],
        [2, 1, 3],
        [2, 3, 1],
        [3, 1, 2],
        [3, 2, 1],
    ] {
        let members = [
            owning(
                "consumer1",
                &["topic"],
                &parts(&[("topic", 0), ("topic", 2)]),
                gens[0],
            ),
            owning(
                "consumer2",
                &["topic"],
                &parts(&[("topic", 1), ("topic", 2), ("topic", 3)]),
                gens[1],
            ),
            owning(
                "consumer3",
                &["topic"],
                &parts(&[("topic", 2), ("topic", 4), ("topic", 5)]),
                gens[2],
            ),
            owning("consumer4", &["topic1"], &parts(&[("topic1", 0)]), 2),
        ];
        let a = assign(&members, &t);
        assert!(
            a.values().all(|p| (1..=2).contains(&p.len())),
            "{gens:?}: {a:?}"
        );
        let all: BTreeSet<_> = a.values().flatten().collect();
        assert_eq!(all.len(), 7);
    }
}

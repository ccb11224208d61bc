//! `roundrobin` (Java `RoundRobinAssignor`): every partition of every subscribed topic, sorted
//! by topic then partition, is dealt in turn to the members in Java's `MemberInfo` order
//! ([`super::member_info_order`]: static members by instance id, then dynamic ones by member
//! id), skipping members not subscribed to the partition's topic. Balanced only when all
//! members subscribe to the same topics.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    GroupAssignment, MemberSubscription, empty_assignment, member_info_order, partition_count,
    sorted,
};

pub(super) fn assign(
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut order: Vec<(&str, BTreeSet<&str>)> = {
        let mut sorted_members: Vec<&MemberSubscription> = members.iter().collect();
        sorted_members.sort_by(|a, b| member_info_order(a, b));
        sorted_members
            .into_iter()
            .map(|m| {
                let topics = m.topics.iter().map(String::as_str).collect();
                (m.member_id.as_str(), topics)
            })
            .collect()
    };
    order.dedup_by(|a, b| a.0 == b.0);
    let all_topics: BTreeSet<&str> = order.iter().flat_map(|(_, t)| t.iter().copied()).collect();

    let mut assignment = empty_assignment(members);
    let mut next = 0; // index into `order` of the member to try first
    for topic in all_topics {
        for partition in 0..partition_count(partitions_per_topic, topic) {
            // Some member subscribes to `topic`, so this finds one within a full turn.
            for step in 0..order.len() {
                let i = (next + step) % order.len();
                let (member_id, topics) = &order[i];
                if topics.contains(topic) {
                    if let Some(list) = assignment.get_mut(*member_id) {
                        list.push((topic.to_owned(), partition));
                    }
                    next = (i + 1) % order.len();
                    break;
                }
            }
        }
    }
    sorted(assignment)
}

#[cfg(test)]
mod tests {
    //! Expected outputs are Java's, from Kafka's `RoundRobinAssignorTest`
    //! (clients/src/test/java/org/apache/kafka/clients/consumer/RoundRobinAssignorTest.java,
    //! apache/kafka @ 10c1f976010193030409a3b22f9dd8f415b4831c).

    use super::super::tests::{member, parts, static_member, topics};
    use super::*;

    #[test]
    fn one_consumer() {
        let a = assign(&[member("consumer", &[])], &BTreeMap::new());
        assert_eq!(a["consumer"], parts(&[]));
        let a = assign(&[member("consumer", &["topic"])], &BTreeMap::new());
        assert_eq!(a["consumer"], parts(&[]));
        let a = assign(
            &[member("consumer", &["topic"])],
            &topics(&[("topic", 3), ("other", 3)]),
        );
        assert_eq!(
            a["consumer"],
            parts(&[("topic", 0), ("topic", 1), ("topic", 2)])
        );
        let a = assign(
            &[member("consumer", &["topic1", "topic2"])],
            &topics(&[("topic1", 1), ("topic2", 2)]),
        );
        assert_eq!(
            a["consumer"],
            parts(&[("topic1", 0), ("topic2", 0), ("topic2", 1)])
        );
    }

    #[test]
    fn two_consumers_one_topic() {
        let members = [
            member("consumer1", &["topic"]),
            member("consumer2", &["topic"]),
        ];
        let a = assign(&members, &topics(&[("topic", 1)]));
        assert_eq!(a["consumer1"], parts(&[("topic", 0)]));
        assert_eq!(a["consumer2"], parts(&[]));
        let a = assign(&members, &topics(&[("topic", 2)]));
        assert_eq!(a["consumer1"], parts(&[("topic", 0)]));
        assert_eq!(a["consumer2"], parts(&[("topic", 1)]));
    }

    #[test]
    fn multiple_consumers_mixed_topics() {
        let members = [
            member("consumer1", &["topic1"]),
            member("consumer2", &["topic1", "topic2"]),
            member("consumer3", &["topic1"]),
        ];
        let a = assign(&members, &topics(&[("topic1", 3), ("topic2", 2)]));
        assert_eq!(a["consumer1"], parts(&[("topic1", 0)]));
        assert_eq!(
            a["consumer2"],
            parts(&[("topic1", 1), ("topic2", 0), ("topic2", 1)])
        );
        assert_eq!(a["consumer3"], parts(&[("topic1", 2)]));
    }

    #[test]
    fn two_consumers_two_topics_six_partitions() {
        let t = topics(&[("topic1", 3), ("topic2", 3)]);
        let first = parts(&[("topic1", 0), ("topic1", 2), ("topic2", 1)]);
        let second = parts(&[("topic1", 1), ("topic2", 0), ("topic2", 2)]);
        let both = ["topic1", "topic2"];
        // testTwoDynamicConsumersTwoTopicsSixPartitions
        let a = assign(
            &[member("consumer1", &both), member("consumer2", &both)],
            &t,
        );
        assert_eq!((&a["consumer1"], &a["consumer2"]), (&first, &second));
        // testTwoStaticConsumersTwoTopicsSixPartitions: instance ids decide, not member ids.
        let members = [
            static_member("consumer-b", "instance1", &both),
            static_member("consumer-a", "instance2", &both),
        ];
        let a = assign(&members, &t);
        assert_eq!((&a["consumer-b"], &a["consumer-a"]), (&first, &second));
        // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions
        let members = [
            static_member("consumer-b", "instance1", &both),
            member("consumer-a", &both),
        ];
        let a = assign(&members, &t);
        assert_eq!((&a["consumer-b"], &a["consumer-a"]), (&first, &second));
    }

    #[test]
    fn static_member_assignment_persistent() {
        // testStaticMemberAssignmentPersistent
        let both = ["topic1", "topic2"];
        let mut members = vec![
            static_member("consumer1", "instance1", &both),
            static_member("consumer2", "instance2", &both),
            static_member("consumer3", "instance3", &both),
            member("consumer4", &both),
        ];
        let t = topics(&[("topic1", 3), ("topic2", 3)]);
        let a = assign(&members, &t);
        assert_eq!(a["consumer1"], parts(&[("topic1", 0), ("topic2", 1)]));
        assert_eq!(a["consumer2"], parts(&[("topic1", 1), ("topic2", 2)]));
        assert_eq!(a["consumer3"], parts(&[("topic1", 2)]));
        assert_eq!(a["consumer4"], parts(&[("topic2", 0)]));
        members[3] = member("consumer5", &both);
        let b = assign(&members, &t);
        assert_eq!(b["consumer5"], parts(&[("topic2", 0)]));
        assert_eq!(b["consumer1"], a["consumer1"]);
    }

    #[test]
    fn static_assignment_follows_instance_ids() {
        // testStaticMemberAssignmentPersistentAfterMemberIdChanges: instance i gets
        // (topic1, i) and (topic2, i) whatever the member ids are.
        let both = ["topic1", "topic2"];
        let t = topics(&[("topic1", 3), ("topic2", 3)]);
        for ids in [
            ["consumer1", "consumer2", "consumer3"],
            ["consumer4", "consumer5", "consumer1"],
        ] {
            let members: Vec<_> = ids
                .iter()
                .zip(["instance1", "instance2", "instance3"])
                .map(|(id, inst)| static_member(id, inst, &both))
                .collect();
            let a = assign(&members, &t);
            for (i, id) in (0..).zip(ids) {
                assert_eq!(a[id], parts(&[("topic1", i), ("topic2", i)]));
            }
        }
    }
}

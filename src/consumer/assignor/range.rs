//! `range` (Java `RangeAssignor`): topic by topic, the members subscribed to the topic, in
//! Java's `MemberInfo` order ([`super::member_info_order`]), each take a contiguous range of
//! its partitions; with `n` partitions and `m` members the first `n % m` members take
//! `n / m + 1`, the rest `n / m`. Balanced per topic only: the first members get the extra
//! partition of every topic. Not rack-aware (see the module docs).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    GroupAssignment, MemberSubscription, empty_assignment, member_info_order, partition_count,
    sorted,
};

pub(super) fn assign(
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut order: Vec<&MemberSubscription> = members.iter().collect();
    order.sort_by(|a, b| member_info_order(a, b));

    let mut subscribers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for member in &order {
        let topics: BTreeSet<&str> = member.topics.iter().map(String::as_str).collect();
        for topic in topics {
            subscribers
                .entry(topic)
                .or_default()
                .push(&member.member_id);
        }
    }

    let mut assignment = empty_assignment(members);
    for (topic, consumers) in subscribers {
        let n = partition_count(partitions_per_topic, topic);
        let m = consumers.len() as i32;
        let (per_member, extra) = (n / m, n % m);
        for (i, member_id) in (0..).zip(consumers) {
            let start = per_member * i + i.min(extra);
            let len = per_member + i32::from(i < extra);
            if let Some(list) = assignment.get_mut(member_id) {
                list.extend((start..start + len).map(|p| (topic.to_owned(), p)));
            }
        }
    }
    sorted(assignment)
}

#[cfg(test)]
mod tests {
    //! Expected outputs are Java's, from Kafka's `RangeAssignorTest`
    //! (clients/src/test/java/org/apache/kafka/clients/consumer/RangeAssignorTest.java,
    //! apache/kafka @ 1763e549c98ffc6b0d298c0a29dd1223f8d22133).

    use super::super::tests::{member, parts, static_member, topics};
    use super::*;

    #[test]
    fn one_consumer_no_topic_or_nonexistent_topic() {
        let a = assign(&[member("consumer1", &[])], &BTreeMap::new());
        assert_eq!(a["consumer1"], parts(&[]));
        let a = assign(&[member("consumer1", &["topic1"])], &BTreeMap::new());
        assert_eq!(a["consumer1"], parts(&[]));
    }

    #[test]
    fn one_consumer_only_subscribed_topics() {
        let a = assign(
            &[member("consumer1", &["topic1"])],
            &topics(&[("topic1", 3), ("other", 3)]),
        );
        assert_eq!(
            a["consumer1"],
            parts(&[("topic1", 0), ("topic1", 1), ("topic1", 2)])
        );
    }

    #[test]
    fn two_consumers_one_topic() {
        let members = [
            member("consumer1", &["topic1"]),
            member("consumer2", &["topic1"]),
        ];
        let a = assign(&members, &topics(&[("topic1", 1)]));
        assert_eq!(a["consumer1"], parts(&[("topic1", 0)]));
        assert_eq!(a["consumer2"], parts(&[]));
        let a = assign(&members, &topics(&[("topic1", 2)]));
        assert_eq!(a["consumer1"], parts(&[("topic1", 0)]));
        assert_eq!(a["consumer2"], parts(&[("topic1", 1)]));
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
        let members = [
            member("consumer1", &["topic1", "topic2"]),
            member("consumer2", &["topic1", "topic2"]),
        ];
        let a = assign(&members, &topics(&[("topic1", 3), ("topic2", 3)]));
        assert_eq!(
            a["consumer1"],
            parts(&[("topic1", 0), ("topic1", 1), ("topic2", 0), ("topic2", 1)])
        );
        assert_eq!(a["consumer2"], parts(&[("topic1", 2), ("topic2", 2)]));
    }

    #[test]
    fn static_members_sort_by_instance_id_and_before_dynamic() {
        let t = topics(&[("topic1", 3), ("topic2", 3)]);
        let low = parts(&[("topic1", 0), ("topic1", 1), ("topic2", 0), ("topic2", 1)]);
        let high = parts(&[("topic1", 2), ("topic2", 2)]);
        // testTwoStaticConsumersTwoTopicsSixPartitions
        let members = [
            static_member("consumer-b", "instance1", &["topic1", "topic2"]),
            static_member("consumer-a", "instance2", &["topic1", "topic2"]),
        ];
        let a = assign(&members, &t);
        assert_eq!((&a["consumer-b"], &a["consumer-a"]), (&low, &high));
        // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions
        let members = [
            static_member("consumer-b", "instance1", &["topic1", "topic2"]),
            member("consumer-a", &["topic1", "topic2"]),
        ];
        let a = assign(&members, &t);
        assert_eq!((&a["consumer-b"], &a["consumer-a"]), (&low, &high));
    }

    #[test]
    fn static_member_assignment_persistent() {
        // testStaticMemberRangeAssignmentPersistent
        let both = ["topic1", "topic2"];
        let mut members = vec![
            static_member("consumer1", "instance1", &both),
            static_member("consumer2", "instance2", &both),
            static_member("consumer3", "instance3", &both),
            member("consumer4", &both),
        ];
        let t = topics(&[("topic1", 5), ("topic2", 4)]);
        let a = assign(&members, &t);
        assert_eq!(
            a["consumer1"],
            parts(&[("topic1", 0), ("topic1", 1), ("topic2", 0)])
        );
        assert_eq!(a["consumer2"], parts(&[("topic1", 2), ("topic2", 1)]));
        assert_eq!(a["consumer3"], parts(&[("topic1", 3), ("topic2", 2)]));
        assert_eq!(a["consumer4"], parts(&[("topic1", 4), ("topic2", 3)]));
        members[3] = member("consumer5", &both);
        let b = assign(&members, &t);
        assert_eq!(b["consumer5"], a["consumer4"]);
        assert_eq!(b["consumer1"], a["consumer1"]);
    }

    #[test]
    fn non_rack_aware_three_topics() {
        // testRackAwareAssignmentWithUniformSubscription / ...NonEqualSubscription, the
        // "combinations where rack-aware logic is not used" (members consumer0..2).
        let t = topics(&[("t1", 6), ("t2", 7), ("t3", 2)]);
        let all = ["t1", "t2", "t3"];
        let members = [
            member("consumer0", &all),
            member("consumer1", &all),
            member("consumer2", &all),
        ];
        let a = assign(&members, &t);
        let p = |s: &[(&str, i32)]| parts(s);
        assert_eq!(
            a["consumer0"],
            p(&[
                ("t1", 0),
                ("t1", 1),
                ("t2", 0),
                ("t2", 1),
                ("t2", 2),
                ("t3", 0)
            ])
        );
        assert_eq!(
            a["consumer1"],
            p(&[("t1", 2), ("t1", 3), ("t2", 3), ("t2", 4), ("t3", 1)])
        );
        assert_eq!(
            a["consumer2"],
            p(&[("t1", 4), ("t1", 5), ("t2", 5), ("t2", 6)])
        );

        let members = [
            member("consumer0", &all),
            member("consumer1", &all),
            member("consumer2", &["t1", "t3"]),
        ];
        let a = assign(&members, &t);
        assert_eq!(
            a["consumer0"],
            p(&[
                ("t1", 0),
                ("t1", 1),
                ("t2", 0),
                ("t2", 1),
                ("t2", 2),
                ("t2", 3),
                ("t3", 0)
            ])
        );
        assert_eq!(
            a["consumer1"],
            p(&[
                ("t1", 2),
                ("t1", 3),
                ("t2", 4),
                ("t2", 5),
                ("t2", 6),
                ("t3", 1)
            ])
        );
        assert_eq!(a["consumer2"], p(&[("t1", 4), ("t1", 5)]));
    }
}

//! Shared helpers, glue tests and property tests for all assignors.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::protocol::consumer_protocol::{StickyUserData, Subscription, TopicPartitions};

pub(super) fn parts(list: &[(&str, i32)]) -> Vec<(String, i32)> {
    list.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect()
}

pub(super) fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

pub(super) fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription::new(id, topics)
}

pub(super) fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        group_instance_id: Some(instance.to_owned()),
        ..member(id, topics)
    }
}

pub(super) fn owning<T: AsRef<str>>(
    id: &str,
    topics: &[&str],
    owned: &[(T, i32)],
    generation: i32,
) -> MemberSubscription {
    MemberSubscription {
        owned: owned
            .iter()
            .map(|(t, p)| (t.as_ref().to_owned(), *p))
            .collect(),
        generation,
        ..member(id, topics)
    }
}

const ALL: [Assignor; 4] = [
    Assignor::Range,
    Assignor::RoundRobin,
    Assignor::Sticky,
    Assignor::CooperativeSticky,
];

#[test]
fn every_member_is_present() {
    let members = [
        member("a", &["t"]),
        member("b", &["missing"]),
        member("c", &[]),
    ];
    for assignor in ALL {
        let a = assignor.assign(&members, &topics(&[("t", 1)]));
        assert_eq!(a.keys().collect::<Vec<_>>(), ["a", "b", "c"], "{assignor}");
        assert_eq!(a["a"], parts(&[("t", 0)]), "{assignor}");
        assert!(assignor.assign(&[], &topics(&[("t", 1)])).is_empty());
    }
}

#[test]
fn from_subscription_takes_ownership_from_the_right_place() {
    let previous = parts(&[("t", 1), ("t", 0)]);
    let sticky_ud = Assignor::Sticky.subscription_user_data(&previous, 4);
    let sub = Subscription {
        topics: vec!["t".into()],
        user_data: sticky_ud.clone(),
        owned_partitions: TopicPartitions::group(&parts(&[("t", 9)])),
        generation_id: 5,
        rack_id: Some("r1".into()),
    };
    // sticky: the user data wins (testMemberDataWillHonorUserData).
    let m = MemberSubscription::from_subscription(Assignor::Sticky, "m".into(), None, &sub);
    assert_eq!((m.owned, m.generation), (parts(&[("t", 0), ("t", 1)]), 4));
    assert_eq!(m.rack.as_deref(), Some("r1"));
    // Version 0 sticky user data has no generation.
    let v0 = StickyUserData {
        previous_assignment: TopicPartitions::group(&previous),
        generation: None,
    };
    let sub_v0 = Subscription {
        user_data: Some(v0.encode()),
        ..sub.clone()
    };
    let m = MemberSubscription::from_subscription(Assignor::Sticky, "m".into(), None, &sub_v0);
    assert_eq!(m.generation, -1);
    // sticky without user data falls back to the subscription fields.
    let bare = Subscription {
        user_data: None,
        ..sub.clone()
    };
    let m = MemberSubscription::from_subscription(Assignor::Sticky, "m".into(), None, &bare);
    assert_eq!((m.owned, m.generation), (parts(&[("t", 9)]), 5));
    // cooperative-sticky: owned_partitions, generation_id (v2+) ...
    let m = MemberSubscription::from_subscription(
        Assignor::CooperativeSticky,
        "m".into(),
        Some("i".into()),
        &sub,
    );
    assert_eq!((m.owned, m.generation), (parts(&[("t", 9)]), 5));
    assert_eq!(m.group_instance_id.as_deref(), Some("i"));
    // ... or, from a v1 member (no generation_id), the generation in the user data
    // (testMemberDataWithInconsistentData).
    let v1 = Subscription {
        user_data: Assignor::CooperativeSticky.subscription_user_data(&previous, 3),
        generation_id: -1,
        ..sub.clone()
    };
    let m =
        MemberSubscription::from_subscription(Assignor::CooperativeSticky, "m".into(), None, &v1);
    assert_eq!((m.owned, m.generation), (parts(&[("t", 9)]), 3));
    let m = MemberSubscription::from_subscription(Assignor::Range, "m".into(), None, &sub);
    assert_eq!((m.owned, m.generation), (parts(&[("t", 9)]), 5));
}

#[test]
fn user_data_per_assignor() {
    let owned = parts(&[("t", 0)]);
    assert_eq!(Assignor::Range.subscription_user_data(&owned, 3), None);
    assert_eq!(Assignor::RoundRobin.subscription_user_data(&owned, 3), None);
    assert_eq!(Assignor::Sticky.subscription_user_data(&[], -1), None);
    // Java's CooperativeStickyAssignor always sends its generation, -1 before the first.
    assert_eq!(
        Assignor::CooperativeSticky.subscription_user_data(&[], -1),
        Some(Bytes::from_static(b"\xff\xff\xff\xff"))
    );
    let ud = Assignor::Sticky.subscription_user_data(&owned, 3).unwrap();
    assert_eq!(
        StickyUserData::decode(ud).unwrap(),
        StickyUserData {
            previous_assignment: TopicPartitions::group(&owned),
            generation: Some(3),
        }
    );
    assert!(Assignor::CooperativeSticky.is_cooperative());
    assert!(!Assignor::Sticky.is_cooperative());
}

#[test]
fn larger_group_heterogeneous_subscriptions() {
    // 60 members over 30 topics of 1..=40 partitions; each member takes a window of topics.
    let t: BTreeMap<String, i32> = (0..30)
        .map(|i| (format!("t{i:02}"), 1 + i * 39 / 29))
        .collect();
    let names: Vec<&str> = t.keys().map(String::as_str).collect();
    let members: Vec<MemberSubscription> = (0..60)
        .map(|i| member(&format!("m{i:02}"), &names[i % 25..i % 25 + 5]))
        .collect();
    let first = Assignor::Sticky.assign(&members, &t);
    check_valid(&members, &t, &first, &BTreeSet::new());
    check_sticky_balance(&members, &t, &first);
    let next: Vec<_> = members[1..]
        .iter()
        .map(|m| owning(&m.member_id, &as_strs(&m.topics), &first[&m.member_id], 1))
        .collect();
    let second = Assignor::Sticky.assign(&next, &t);
    check_valid(&next, &t, &second, &BTreeSet::new());
    check_sticky_balance(&next, &t, &second);
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Partitions of existing topics some member subscribes to.
fn subscribed_partitions(
    members: &[MemberSubscription],
    t: &BTreeMap<String, i32>,
) -> BTreeSet<(String, i32)> {
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
    topics
        .into_iter()
        .flat_map(|topic| (0..t.get(topic).copied().unwrap_or(0)).map(|p| (topic.clone(), p)))
        .collect()
}

/// Every member present, lists sorted, subscribed topics only, each partition once, and every
/// subscribed partition assigned except `withheld`.
fn check_valid(
    members: &[MemberSubscription],
    t: &BTreeMap<String, i32>,
    a: &GroupAssignment,
    withheld: &BTreeSet<(String, i32)>,
) {
    let ids: BTreeSet<&String> = members.iter().map(|m| &m.member_id).collect();
    assert_eq!(a.keys().collect::<BTreeSet<_>>(), ids);
    let mut seen = BTreeSet::new();
    for m in members {
        let list = &a[&m.member_id];
        assert!(list.windows(2).all(|w| w[0] < w[1]), "unsorted {list:?}");
        for tp in list {
            assert!(
                m.topics.contains(&tp.0),
                "{} not subscribed to {tp:?}",
                m.member_id
            );
            assert!(seen.insert(tp.clone()), "{tp:?} assigned twice");
        }
    }
    let expected: BTreeSet<_> = subscribed_partitions(members, t)
        .difference(withheld)
        .cloned()
        .collect();
    assert_eq!(seen, expected);
}

fn effective_topics(m: &MemberSubscription, t: &BTreeMap<String, i32>) -> BTreeSet<String> {
    m.topics
        .iter()
        .filter(|x| t.get(*x).is_some_and(|&n| n > 0))
        .cloned()
        .collect()
}

/// Java's `verifyValidityAndBalance` criterion: when two members differ by two or more, the
/// busier one holds nothing the other could take. Implies identical subscriptions differ by
/// at most one.
fn check_sticky_balance(
    members: &[MemberSubscription],
    t: &BTreeMap<String, i32>,
    a: &GroupAssignment,
) {
    for x in members {
        for y in members {
            let (ax, ay) = (&a[&x.member_id], &a[&y.member_id]);
            if ax.len() >= ay.len() + 2 {
                assert!(
                    ax.iter().all(|(topic, _)| !y.topics.contains(topic)),
                    "{} ({}) could give to {} ({})",
                    x.member_id,
                    ax.len(),
                    y.member_id,
                    ay.len()
                );
            }
            if effective_topics(x, t) == effective_topics(y, t) {
                assert!(ax.len().abs_diff(ay.len()) <= 1);
            }
        }
    }
}

fn owner_map(a: &GroupAssignment) -> BTreeMap<(String, i32), String> {
    a.iter()
        .flat_map(|(m, ps)| ps.iter().map(move |tp| (tp.clone(), m.clone())))
        .collect()
}

/// The next generation's members: each owns what `a` gave it.
fn owning_result(
    members: &[MemberSubscription],
    a: &GroupAssignment,
    generation: i32,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| MemberSubscription {
            owned: a[&m.member_id].clone(),
            generation,
            ..m.clone()
        })
        .collect()
}

prop_compose! {
    /// A group: topics t0.. with 0..20 partitions; members m0.. subscribing to one of a few
    /// topic sets (so identical subscriptions are common, plus a topic missing from metadata);
    /// random previous ownership, including partitions that do not exist, with generations.
    fn arb_group()(
        counts in prop::collection::vec(0i32..20, 1..6),
        n_members in 1usize..10,
    )(
        patterns in prop::collection::vec(
            prop::collection::btree_set(0..counts.len() + 1, 0..=counts.len() + 1), 1..4),
        choice in prop::collection::vec(any::<prop::sample::Index>(), n_members),
        owned in prop::collection::vec(
            prop::collection::vec((0..counts.len() + 1, -1i32..22), 0..12), n_members),
        generations in prop::collection::vec(-1i32..4, n_members),
        statics in prop::collection::vec(prop::option::of(0u8..20), n_members),
        counts in Just(counts),
    ) -> (Vec<MemberSubscription>, BTreeMap<String, i32>) {
        let name = |i: usize| if i < counts.len() { format!("t{i}") } else { "missing".into() };
        let t: BTreeMap<String, i32> = (0..counts.len()).map(|i| (name(i), counts[i])).collect();
        let members = (0..choice.len())
            .map(|i| MemberSubscription {
                member_id: format!("m{i}"),
                group_instance_id: statics[i].map(|s| format!("i{s:02}-{i}")),
                topics: choice[i].get(&patterns).iter().map(|&x| name(x)).collect(),
                owned: owned[i].iter().map(|&(x, p)| (name(x), p)).collect(),
                generation: generations[i],
                rack: None,
            })
            .collect();
        (members, t)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn valid_complete_deterministic((members, t) in arb_group()) {
        for assignor in ALL {
            let a = assignor.assign(&members, &t);
            let withheld: BTreeSet<(String, i32)> = if assignor.is_cooperative() {
                let mut target = sticky::assign(&members, &t);
                let w = sticky::withhold_transfers(&members, &mut target);
                prop_assert_eq!(&target, &a);
                for (tp, to) in &w {
                    let claims = |m: &MemberSubscription| m.owned.contains(tp);
                    prop_assert!(members.iter().any(|m| &m.member_id != to && claims(m)));
                    prop_assert!(members.iter().all(|m| &m.member_id != to || !claims(m)));
                }
                w.into_keys().collect()
            } else {
                BTreeSet::new()
            };
            check_valid(&members, &t, &a, &withheld);
            prop_assert_eq!(&assignor.assign(&members, &t), &a);
            let reversed: Vec<_> = members.iter().rev().cloned().collect();
            prop_assert_eq!(&assignor.assign(&reversed, &t), &a, "{} depends on order", assignor);
        }
    }

    #[test]
    fn balance((members, t) in arb_group()) {
        // range: per topic, subscribers differ by at most one.
        let a = Assignor::Range.assign(&members, &t);
        for topic in t.keys() {
            let n: Vec<usize> = members.iter().filter(|m| m.topics.contains(topic))
                .map(|m| a[&m.member_id].iter().filter(|tp| &tp.0 == topic).count()).collect();
            prop_assert!(n.iter().max().unwrap_or(&0) - n.iter().min().unwrap_or(&0) <= 1);
        }
        // roundrobin: balanced when all subscriptions are the same.
        let a = Assignor::RoundRobin.assign(&members, &t);
        if members.windows(2).all(|w| effective_topics(&w[0], &t) == effective_topics(&w[1], &t)) {
            let n: Vec<usize> = a.values().map(Vec::len).collect();
            prop_assert!(n.iter().max().unwrap_or(&0) - n.iter().min().unwrap_or(&0) <= 1);
        }
        check_sticky_balance(&members, &t, &Assignor::Sticky.assign(&members, &t));
    }

    #[test]
    fn sticky_result_is_a_fixed_point((members, t) in arb_group()) {
        let a = Assignor::Sticky.assign(&members, &t);
        let again = owning_result(&members, &a, 10);
        prop_assert_eq!(Assignor::Sticky.assign(&again, &t), a.clone());
        prop_assert_eq!(Assignor::CooperativeSticky.assign(&again, &t), a);
    }

    #[test]
    fn cooperative_converges((members, t) in arb_group()) {
        let mut current = members.clone();
        let mut rounds = 0;
        loop {
            let a = Assignor::CooperativeSticky.assign(&current, &t);
            let target = Assignor::Sticky.assign(&current, &t);
            // Never hand over a partition another member still claims.
            for (tp, to) in owner_map(&a) {
                let claims = |m: &MemberSubscription| m.owned.contains(&tp);
                let own = current.iter().any(|m| m.member_id == to && claims(m));
                prop_assert!(own || !current.iter().any(claims), "{:?} to {}", tp, to);
            }
            if a == target {
                check_sticky_balance(&current, &t, &a);
                break;
            }
            rounds += 1;
            prop_assert!(rounds <= 3, "no convergence");
            current = owning_result(&current, &a, 20 + rounds);
        }
    }

    #[test]
    fn uniform_membership_changes_move_little(
        counts in prop::collection::vec(0i32..20, 1..6),
        k in 1usize..9,
        leaver in any::<prop::sample::Index>(),
    ) {
        let t: BTreeMap<String, i32> =
            counts.iter().enumerate().map(|(i, n)| (format!("t{i}"), *n)).collect();
        let names: Vec<&str> = t.keys().map(String::as_str).collect();
        let total: usize = counts.iter().map(|&n| n as usize).sum();
        let group: Vec<_> = (0..k).map(|i| member(&format!("m{i}"), &names)).collect();
        let before = Assignor::Sticky.assign(&group, &t);
        // A member joins: only the partitions it gets move.
        let mut joined = owning_result(&group, &before, 1);
        joined.push(member("new", &names));
        let after = Assignor::Sticky.assign(&joined, &t);
        let old_owners = owner_map(&before);
        let moved = owner_map(&after)
            .iter()
            .filter(|(tp, m)| old_owners.get(*tp) != Some(*m))
            .count();
        prop_assert_eq!(moved, after["new"].len());
        prop_assert!(moved <= total.div_ceil(k + 1));
        // A member leaves: the others keep everything they had.
        let gone = leaver.index(k);
        let mut left = owning_result(&group, &before, 1);
        left.remove(gone);
        let after = Assignor::Sticky.assign(&left, &t);
        for m in &left {
            prop_assert!(m.owned.iter().all(|tp| after[&m.member_id].contains(tp)));
        }
    }
}

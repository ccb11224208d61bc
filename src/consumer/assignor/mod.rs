//! TEMPORARY stand-in until the assignor module lands: range only.
#![allow(dead_code)]
use std::collections::BTreeMap;

use crate::config::Assignor;

pub(crate) struct MemberSubscription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
    pub owned: Vec<(String, i32)>,
    pub generation: i32,
    pub rack: Option<String>,
}

pub(crate) fn assign(
    _strategy: Assignor,
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<(String, i32)>> {
    let mut out: BTreeMap<String, Vec<(String, i32)>> = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    for (topic, &n) in partitions_per_topic {
        let mut subs: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id.as_str())
            .collect();
        subs.sort();
        if subs.is_empty() {
            continue;
        }
        let per = n as usize / subs.len();
        let extra = n as usize % subs.len();
        let mut p = 0;
        for (i, m) in subs.iter().enumerate() {
            let count = per + usize::from(i < extra);
            for _ in 0..count {
                if let Some(v) = out.get_mut(*m) {
                    v.push((topic.clone(), p));
                }
                p += 1;
            }
        }
    }
    out
}

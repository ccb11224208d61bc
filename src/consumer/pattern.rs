//! Pattern subscriptions (`subscribe_pattern`). With the classic protocol the consumer
//! matches topic names itself against every metadata refresh (metadata then covers every
//! topic): a new matching topic joins the subscription and a deleted one leaves it, each
//! through a rebalance. With the consumer protocol (KIP-848) the broker resolves the pattern
//! (SubscribedTopicRegex, RE2/J syntax) and the consumer only learns topic names for the ids
//! it is assigned.

use std::collections::BTreeSet;

use regex::Regex;

use super::{KafkaConsumer, RebalanceListener};
use crate::error::{Error, Result};
use crate::network::metadata::Cluster;

/// A subscription pattern: as given (sent to the broker with KIP-848) and compiled to match
/// whole topic names, as Java's `Pattern.matcher(topic).matches()`.
#[derive(Debug, Clone)]
pub(crate) struct TopicPattern {
    raw: String,
    whole: Regex,
}

impl TopicPattern {
    pub(crate) fn new(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::InvalidArgument("empty topic pattern".into()));
        }
        let whole = Regex::new(&format!("^(?:{raw})$"))
            .map_err(|e| Error::InvalidArgument(format!("topic pattern `{raw}`: {e}")))?;
        Ok(TopicPattern {
            raw: raw.to_string(),
            whole,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.raw
    }

    /// The topics of `cluster` this pattern matches whole; internal topics only when
    /// `exclude_internal` is off; topics the broker reported with an error never.
    pub(crate) fn matching(&self, cluster: &Cluster, exclude_internal: bool) -> BTreeSet<String> {
        cluster
            .topics
            .values()
            .filter(|t| t.error.is_none() && !(exclude_internal && t.is_internal))
            .filter(|t| self.whole.is_match(&t.name))
            .map(|t| t.name.clone())
            .collect()
    }
}

impl KafkaConsumer {
    /// Subscribes to every topic whose whole name matches `pattern` (a regular expression),
    /// now and as topics come and go, as a member of `group.id` (replacing any earlier
    /// subscription). Internal topics are left out unless `exclude.internal.topics=false`.
    ///
    /// With `group.protocol=classic` the consumer matches names itself on every metadata
    /// refresh (metadata then covers every topic): a topic created later that matches is
    /// read within about `metadata.max.age.ms` (default 5 minutes), and a deleted one leaves
    /// the assignment, each through a rebalance. With `group.protocol=consumer` the broker
    /// resolves the pattern (KIP-848's SubscribedTopicRegex, in RE2/J syntax, which this
    /// consumer checks with the `regex` crate's close dialect first) and re-resolves it as
    /// topics change (Apache Kafka: at most every 10 s); `exclude.internal.topics` is then the
    /// broker's business.
    ///
    /// Errors: [`Error::InvalidArgument`] without `group.id`, after [`assign`](Self::assign),
    /// or for a pattern that does not compile.
    ///
    /// Example: [groups guide](crate::guide::groups#two-protocols).
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        self.group()?;
        let pattern = TopicPattern::new(pattern)?;
        let topics = pattern.matching(&self.net.cluster(), self.config.exclude_internal_topics);
        self.subs.subscribe(topics)?;
        self.net.set_all_topics(true);
        self.net.request_update();
        self.pattern = Some(pattern);
        if let Some(c) = &self.coordinator {
            c.request_rejoin();
        }
        Ok(())
    }

    /// As [`subscribe_pattern`](Self::subscribe_pattern), with a listener run inside `poll`
    /// on every rebalance.
    ///
    /// Example: [groups guide](crate::guide::groups#the-rebalance-listener).
    pub fn subscribe_pattern_with<L: RebalanceListener>(
        &mut self,
        pattern: &str,
        listener: L,
    ) -> Result<()> {
        self.subscribe_pattern(pattern)?;
        self.listener.set(Box::new(listener));
        Ok(())
    }

    /// Matches the pattern against the latest metadata; a changed set of topics rejoins the
    /// group (classic protocol: the members' subscriptions decide the assignment).
    pub(super) fn rematch_pattern(&mut self) {
        let Some(pattern) = &self.pattern else {
            return;
        };
        let Some(current) = self.subs.subscribed_topics() else {
            return;
        };
        let cluster = self.net.cluster();
        if cluster.fetched_at.is_none() {
            return;
        }
        let topics = pattern.matching(&cluster, self.config.exclude_internal_topics);
        if &topics == current {
            return;
        }
        tracing::info!(
            pattern = pattern.as_str(),
            ?topics,
            "pattern subscription changed"
        );
        if self.subs.subscribe(topics).is_ok()
            && let Some(c) = &self.coordinator
        {
            c.request_rejoin();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::network::metadata::TopicMeta;
    use crate::types::TopicId;

    fn cluster(topics: &[(&str, bool, bool)]) -> Cluster {
        let mut c = Cluster::default();
        for (i, (name, internal, failed)) in topics.iter().enumerate() {
            c.topics.insert(
                name.to_string(),
                TopicMeta {
                    name: name.to_string(),
                    id: TopicId([i as u8 + 1; 16]),
                    is_internal: *internal,
                    error: failed.then_some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                    partitions: Vec::new(),
                },
            );
        }
        c
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whole_names_match_and_internal_topics_follow_the_setting() {
        let c = cluster(&[
            ("orders-eu", false, false),
            ("orders-us", false, false),
            ("orders-gone", false, true),
            ("my-orders-eu", false, false),
            ("__consumer_offsets", true, false),
            ("payments", false, false),
        ]);
        let p = TopicPattern::new("orders-.*|__.*").unwrap();
        assert_eq!(p.matching(&c, true), set(&["orders-eu", "orders-us"]));
        assert_eq!(
            p.matching(&c, false),
            set(&["__consumer_offsets", "orders-eu", "orders-us"])
        );
        // A pattern matches whole names: `orders` is not a prefix match.
        let p = TopicPattern::new("orders").unwrap();
        assert!(p.matching(&c, true).is_empty());
        assert_eq!(p.as_str(), "orders");
        assert!(TopicPattern::new("orders-(").is_err());
        assert!(TopicPattern::new("").is_err());
    }
}

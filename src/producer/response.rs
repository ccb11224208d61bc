//! What a partition's answer in a Produce response means for its batch: a pure decision,
//! table-tested without a network. The sender applies it (completes, splits, retries, fails).

use std::collections::HashMap;

use crate::error::{Error, ErrorCode};
use crate::protocol::messages::ProduceResponse;
use crate::protocol::messages::produce_response::PartitionProduceResponse;

use crate::error::code::CONCURRENT_TRANSACTIONS;
use crate::error::code::DUPLICATE_SEQUENCE_NUMBER;
use crate::error::code::INVALID_PRODUCER_EPOCH;
use crate::error::code::MESSAGE_TOO_LARGE;
use crate::error::code::NOT_ENOUGH_REPLICAS_AFTER_APPEND;
use crate::error::code::OUT_OF_ORDER_SEQUENCE_NUMBER;
use crate::error::code::RECORD_LIST_TOO_LARGE;
use crate::error::code::REQUEST_TIMED_OUT;
use crate::error::code::UNKNOWN_PRODUCER_ID;

/// One partition's answer in a Produce response.
#[derive(Debug, Clone)]
pub(crate) struct PartitionAnswer {
    pub code: i16,
    pub base_offset: i64,
    pub log_append_time: i64,
    pub message: Option<String>,
}

/// What the decision needs to know of the batch and the producer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchFacts<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub record_count: i32,
    /// Encoded size in bytes.
    pub size: usize,
    /// The epoch the batch was sent under; `None` without sequence numbers.
    pub epoch: Option<i16>,
    /// `enable.idempotence`.
    pub idempotent: bool,
    /// The producer's epoch now (it may have been bumped since the batch was sent).
    pub current_epoch: Option<i16>,
}

/// The sender's reaction to one partition's answer.
#[derive(Debug)]
pub(crate) enum PartitionAction {
    /// Written, or a duplicate of a write (offset -1 then: the broker does not say where).
    Complete {
        base_offset: i64,
        log_append_time: i64,
    },
    /// Too large for the broker but holding several records: split and resend; with sequence
    /// numbers the halves need fresh ones, so under a new epoch.
    Split { bump_epoch: bool },
    /// Send again if `retries` and `delivery.timeout.ms` allow, else fail with `error`.
    /// `maybe_written`: the broker appended the batch before failing (it may hold it).
    Retry {
        error: Error,
        bump_epoch: bool,
        refresh_metadata: bool,
        maybe_written: bool,
    },
    /// Fail now with `error`.
    Fail {
        error: Error,
        refresh_metadata: bool,
    },
}

/// Decides what `answer` means for the batch. `pending_predecessor` says whether an earlier
/// batch of the same partition is still in flight or queued for a resend; it is asked only
/// for sequence errors.
pub(crate) fn partition_action(
    answer: &PartitionAnswer,
    batch: BatchFacts<'_>,
    pending_predecessor: impl FnOnce() -> bool,
) -> PartitionAction {
    let code = answer.code;
    let context = || {
        let mut c = format!("{}-{}", batch.topic, batch.partition);
        if let Some(m) = &answer.message {
            c.push_str(": ");
            c.push_str(m);
        }
        c
    };
    match code {
        0 => PartitionAction::Complete {
            base_offset: answer.base_offset,
            log_append_time: answer.log_append_time,
        },
        DUPLICATE_SEQUENCE_NUMBER => PartitionAction::Complete {
            base_offset: -1,
            log_append_time: answer.log_append_time,
        },
        MESSAGE_TOO_LARGE | RECORD_LIST_TOO_LARGE if batch.record_count > 1 => {
            PartitionAction::Split {
                bump_epoch: batch.epoch.is_some(),
            }
        }
        MESSAGE_TOO_LARGE | RECORD_LIST_TOO_LARGE => PartitionAction::Fail {
            error: Error::RecordTooLarge {
                size: batch.size,
                limit: batch.size.saturating_sub(1),
                setting: "the broker's message.max.bytes",
            },
            refresh_metadata: false,
        },
        OUT_OF_ORDER_SEQUENCE_NUMBER | UNKNOWN_PRODUCER_ID if batch.idempotent => {
            // Under the current epoch and with nothing earlier still pending, the broker lost
            // (or never saw) the batches before this one: a new epoch lets the partition start
            // over at sequence 0 (KIP-360). Otherwise it is a knock-on effect of an earlier
            // batch's failure, or speaks of an epoch already replaced: just resend.
            let stale = batch.epoch != batch.current_epoch;
            let bump_epoch = !stale && !pending_predecessor();
            PartitionAction::Retry {
                error: Error::Broker {
                    code: ErrorCode(code),
                    context: context(),
                },
                bump_epoch,
                refresh_metadata: false,
                maybe_written: false,
            }
        }
        // Transactions version 2: the Produce adds its partition to the transaction, and the
        // previous transaction of this producer is still writing its markers. Not marked
        // retriable in the protocol table, but a moment later the add succeeds (as Java
        // retries it).
        CONCURRENT_TRANSACTIONS => PartitionAction::Retry {
            error: Error::broker(code, context()),
            bump_epoch: false,
            refresh_metadata: false,
            maybe_written: false,
        },
        // Sent under an epoch since bumped: resend under the new one.
        INVALID_PRODUCER_EPOCH if batch.epoch != batch.current_epoch => PartitionAction::Retry {
            error: Error::broker(code, context()),
            bump_epoch: false,
            refresh_metadata: false,
            maybe_written: false,
        },
        _ => {
            let code = ErrorCode(code);
            let refresh_metadata = code.invalidates_metadata();
            let error = Error::Broker {
                code,
                context: context(),
            };
            if code.is_retriable() {
                PartitionAction::Retry {
                    error,
                    bump_epoch: false,
                    refresh_metadata,
                    // Appended on the leader, then replication failed or timed out (acks=all):
                    // the record may show up once the followers catch up. Every other error
                    // is a refusal before the append.
                    maybe_written: matches!(
                        code.0,
                        REQUEST_TIMED_OUT | NOT_ENOUGH_REPLICAS_AFTER_APPEND
                    ),
                }
            } else {
                PartitionAction::Fail {
                    error,
                    refresh_metadata,
                }
            }
        }
    }
}

/// Each batch's answer in `resp`, for batches as (topic, partition) in request order; `None`
/// for a partition the response lacks. By position when the response lists the partitions as
/// the request did (one comparison per batch), else through a map built once: a broker need not
/// keep the request's order. A map per response cost 3% of the producer's samples at 10,000
/// partitions (issue #19).
pub(crate) fn answers_in_order<'r, 'k>(
    resp: &'r ProduceResponse,
    batches: impl Iterator<Item = (&'k str, i32)> + Clone,
) -> Vec<Option<&'r PartitionProduceResponse>> {
    let listed = || {
        resp.responses.iter().flat_map(|t| {
            let name = t.name.0.as_str();
            t.partition_responses.iter().map(move |p| (name, p))
        })
    };
    let mut answers = Vec::with_capacity(batches.clone().size_hint().0);
    let mut by_position = listed();
    let in_order = batches.clone().all(|(topic, partition)| {
        let found = by_position
            .next()
            .filter(|(t, p)| p.index == partition && *t == topic);
        answers.push(found.map(|(_, p)| p));
        found.is_some()
    });
    if in_order {
        return answers;
    }
    let by_key: HashMap<(&str, i32), &PartitionProduceResponse, foldhash::fast::RandomState> =
        listed().map(|(t, p)| ((t, p.index), p)).collect();
    batches.map(|key| by_key.get(&key).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    fn facts(epoch: Option<i16>, current: Option<i16>, records: i32) -> BatchFacts<'static> {
        BatchFacts {
            topic: "t",
            partition: 3,
            record_count: records,
            size: 1000,
            epoch,
            idempotent: epoch.is_some(),
            current_epoch: current,
        }
    }

    fn answer(code: i16) -> PartitionAnswer {
        PartitionAnswer {
            code,
            base_offset: 42,
            log_append_time: 7,
            message: Some("why".into()),
        }
    }

    /// A compact view of an action for table rows.
    fn summary(a: &PartitionAction) -> String {
        match a {
            PartitionAction::Complete {
                base_offset,
                log_append_time,
            } => format!("complete {base_offset} {log_append_time}"),
            PartitionAction::Split { bump_epoch } => format!("split bump={bump_epoch}"),
            PartitionAction::Retry {
                error,
                bump_epoch,
                refresh_metadata,
                maybe_written,
            } => format!(
                "retry bump={bump_epoch} refresh={refresh_metadata} written={maybe_written} {error}"
            ),
            PartitionAction::Fail {
                error,
                refresh_metadata,
            } => format!("fail refresh={refresh_metadata} {error}"),
        }
    }

    #[test]
    fn table() {
        let fresh = facts(Some(0), Some(0), 10);
        let stale = facts(Some(0), Some(1), 10);
        let plain = facts(None, None, 10);
        let single = facts(None, None, 1);
        #[rustfmt::skip]
        let rows: Vec<(&str, i16, BatchFacts, bool, &str)> = vec![
            ("written", 0, fresh, false, "complete 42 7"),
            ("duplicate: no offset", code::DUPLICATE_SEQUENCE_NUMBER, fresh, false, "complete -1 7"),
            ("too large, idempotent: split under a new epoch", code::MESSAGE_TOO_LARGE, fresh, false, "split bump=true"),
            ("list too large, plain: split", code::RECORD_LIST_TOO_LARGE, plain, false, "split bump=false"),
            ("one record too large: fail", code::MESSAGE_TOO_LARGE, single, false, "fail refresh=false"),
            ("sequence gap, current epoch: bump", code::OUT_OF_ORDER_SEQUENCE_NUMBER, fresh, false, "retry bump=true refresh=false written=false"),
            ("gap behind a pending predecessor: resend", code::OUT_OF_ORDER_SEQUENCE_NUMBER, fresh, true, "retry bump=false refresh=false written=false"),
            ("gap of a bumped epoch: resend", code::OUT_OF_ORDER_SEQUENCE_NUMBER, stale, false, "retry bump=false refresh=false written=false"),
            ("unknown producer id: bump", code::UNKNOWN_PRODUCER_ID, fresh, false, "retry bump=true refresh=false written=false"),
            ("invalid epoch of a bumped epoch: resend", code::INVALID_PRODUCER_EPOCH, stale, false, "retry bump=false refresh=false written=false"),
            ("invalid epoch now: fatal", code::INVALID_PRODUCER_EPOCH, fresh, false, "fail refresh=false"),
            ("not leader: retry and refresh", code::NOT_LEADER_OR_FOLLOWER, fresh, false, "retry bump=false refresh=true written=false"),
            ("not enough replicas: retry", 19 /* NOT_ENOUGH_REPLICAS */, plain, false, "retry bump=false refresh=false written=false"),
            ("timed out on the broker: maybe written", 7 /* REQUEST_TIMED_OUT */, plain, false, "retry bump=false refresh=false written=true"),
            ("appended, too few replicas: maybe written", 20 /* NOT_ENOUGH_REPLICAS_AFTER_APPEND */, plain, false, "retry bump=false refresh=false written=true"),
            ("topic authorization: fail", 29 /* TOPIC_AUTHORIZATION_FAILED */, plain, false, "fail refresh=false"),
            ("previous transaction still completing (KIP-890 implicit add): retry", code::CONCURRENT_TRANSACTIONS, fresh, false, "retry bump=false refresh=false written=false"),
        ];
        for (what, code, batch, predecessor, expected) in rows {
            let got = summary(&partition_action(&answer(code), batch, || predecessor));
            assert!(
                got.starts_with(expected),
                "{what}: got {got:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_partition_and_the_broker_message() {
        let a = partition_action(
            &answer(code::NOT_LEADER_OR_FOLLOWER),
            facts(None, None, 1),
            || false,
        );
        let PartitionAction::Retry { error, .. } = a else {
            panic!("{a:?}");
        };
        assert!(error.to_string().contains("t-3: why"), "{error}");
    }

    #[test]
    fn predecessor_is_asked_only_for_sequence_errors() {
        for code in [0, code::NOT_LEADER_OR_FOLLOWER, code::MESSAGE_TOO_LARGE] {
            partition_action(&answer(code), facts(Some(0), Some(0), 2), || {
                panic!("asked for code {code}")
            });
        }
    }

    /// Answers found by position, by key when the broker reordered them, `None` when missing.
    #[test]
    fn answers_follow_the_batches_whatever_the_response_order() {
        use crate::protocol::StrBytes;
        use crate::protocol::messages::TopicName;
        use crate::protocol::messages::produce_response::TopicProduceResponse;
        // Each answer's base offset names its partition: topic a 100 + p, topic b 200 + p.
        let resp = |listed: &[(&'static str, &[i32])]| {
            ProduceResponse::default().with_responses(
                listed
                    .iter()
                    .map(|(t, ps)| {
                        let base = if *t == "a" { 100 } else { 200 };
                        TopicProduceResponse::default()
                            .with_name(TopicName(StrBytes::from_static_str(t)))
                            .with_partition_responses(
                                ps.iter()
                                    .map(|p| {
                                        PartitionProduceResponse::default()
                                            .with_index(*p)
                                            .with_base_offset(base + i64::from(*p))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        };
        let batches = [("a", 0), ("a", 1), ("b", 0)];
        // (topics and partitions as the response lists them, each batch's base offset)
        type Listed<'a> = &'a [(&'a str, &'a [i32])];
        let cases: [(Listed, [Option<i64>; 3]); 6] = [
            (
                &[("a", &[0, 1]), ("b", &[0])],
                [Some(100), Some(101), Some(200)],
            ),
            (
                &[("a", &[1, 0]), ("b", &[0])],
                [Some(100), Some(101), Some(200)],
            ),
            (
                &[("b", &[0]), ("a", &[0, 1])],
                [Some(100), Some(101), Some(200)],
            ),
            (&[("a", &[0]), ("b", &[0])], [Some(100), None, Some(200)]),
            (&[("a", &[0, 1])], [Some(100), Some(101), None]),
            (&[], [None, None, None]),
        ];
        for (listed, want) in cases {
            let r = resp(listed);
            let got: Vec<Option<i64>> = answers_in_order(&r, batches.iter().copied())
                .iter()
                .map(|a| a.map(|p| p.base_offset))
                .collect();
            assert_eq!(got, want, "{listed:?}");
        }
    }
}

//! The transaction APIs on the wire: FindCoordinator, InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit and EndTxn, each retried until a deadline on the errors
//! that a later attempt can fix, and what each error code means for the transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::consumer::{ConsumerGroupMetadata, Offsets};
use crate::error::{Error, ErrorCode, Result, code};
use crate::network::NetworkClient;
use crate::network::coordinator::CoordinatorType;
use crate::network::metadata::Node;
use crate::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use crate::protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, GroupId,
    InitProducerIdRequest, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use crate::protocol::{Request, StrBytes};

use super::super::idempotence::ProducerIdAndEpoch;

/// What an error code answered by a transaction API means for the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try again after `retry.backoff.ms`; with `find_coordinator`, look the coordinator up
    /// again first (it moved or is starting).
    Retry { find_coordinator: bool },
    /// A newer producer with the same transactional id exists: fatal.
    Fenced,
    /// The transaction cannot commit; abort and go on.
    Abortable,
    /// Nothing more can succeed.
    Fatal,
}

/// Classifies a transaction API's error code (Java's TransactionManager handlers).
pub(crate) fn verdict(code: i16) -> Verdict {
    match code {
        code::NOT_COORDINATOR | code::COORDINATOR_NOT_AVAILABLE => Verdict::Retry {
            find_coordinator: true,
        },
        code::COORDINATOR_LOAD_IN_PROGRESS | code::CONCURRENT_TRANSACTIONS => Verdict::Retry {
            find_coordinator: false,
        },
        code::PRODUCER_FENCED
        | code::INVALID_PRODUCER_EPOCH
        | code::TRANSACTION_COORDINATOR_FENCED => Verdict::Fenced,
        code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        | code::INVALID_TXN_STATE
        | code::INVALID_TRANSACTION_TIMEOUT
        | code::UNSUPPORTED_VERSION => Verdict::Fatal,
        // The group moved on (a rebalance): the offsets of this transaction are stale.
        code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION | code::FENCED_INSTANCE_ID => {
            Verdict::Abortable
        }
        c if ErrorCode(c).is_retriable() => Verdict::Retry {
            find_coordinator: false,
        },
        _ => Verdict::Abortable,
    }
}

/// A failed transaction request: the error, and what it means.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub error: Error,
    pub verdict: Verdict,
}

impl Failure {
    fn code(code: i16, api: &str) -> Failure {
        Failure {
            error: Error::broker(code, api),
            verdict: verdict(code),
        }
    }
}

impl From<Error> for Failure {
    /// A transport error (connection, timeout) is retried; anything else is fatal.
    fn from(error: Error) -> Failure {
        let verdict = if error.is_retriable() {
            Verdict::Retry {
                find_coordinator: true,
            }
        } else {
            Verdict::Fatal
        };
        Failure { error, verdict }
    }
}

/// Talks to one transactional id's coordinator and to consumer groups' coordinators.
pub(crate) struct Requests {
    pub net: Arc<NetworkClient>,
    pub transactional_id: String,
    /// Guards the cached transaction coordinator (found with FindCoordinator key_type 1).
    coordinator: std::sync::Mutex<Option<Node>>,
}

/// Coordinator key types of FindCoordinator.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

impl Requests {
    pub(crate) fn new(net: Arc<NetworkClient>, transactional_id: String) -> Requests {
        Requests {
            net,
            transactional_id,
            coordinator: std::sync::Mutex::new(None),
        }
    }

    fn txn_id(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.transactional_id.clone()))
    }

    /// Sends the request `build` makes to the coordinator of `key` (`key_type` 1: this
    /// transactional id, 0: a group), retrying until `deadline` while `code_of` answers a
    /// retriable code or the transport fails; `cap` bounds the version.
    #[allow(clippy::too_many_arguments)]
    async fn call<R: Request>(
        &self,
        key_type: i8,
        key: &str,
        deadline: Instant,
        cap: Option<i16>,
        mut build: impl FnMut(i16) -> R,
        code_of: impl Fn(&R::Response) -> i16,
        api: &str,
    ) -> std::result::Result<R::Response, Failure> {
        let mut attempt = 0;
        let mut group_coordinator: Option<Node> = None;
        loop {
            let result: std::result::Result<R::Response, Failure> = async {
                let node = match (key_type, &group_coordinator) {
                    (TRANSACTION, _) => self.transaction_coordinator().await?,
                    (_, Some(n)) => n.clone(),
                    _ => {
                        let n = self
                            .net
                            .find_coordinator(CoordinatorType::Group, key)
                            .await?;
                        group_coordinator = Some(n.clone());
                        n
                    }
                };
                let conn = self.net.coordinator_connection(&node).await?;
                let mut version = conn.version_for::<R>()?;
                if let Some(cap) = cap {
                    version = version.min(cap);
                }
                let resp = conn.send_at(build(version), version, None).await?;
                match code_of(&resp) {
                    0 => Ok(resp),
                    c => Err(Failure::code(c, api)),
                }
            }
            .await;
            let failure = match result {
                Ok(resp) => return Ok(resp),
                Err(f) => f,
            };
            let Verdict::Retry { find_coordinator } = failure.verdict else {
                return Err(failure);
            };
            if find_coordinator {
                group_coordinator = None;
                if key_type == TRANSACTION {
                    *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
            }
            attempt += 1;
            let wait = self.net.retry_backoff(attempt);
            if Instant::now() + wait >= deadline {
                return Err(Failure {
                    error: Error::Timeout(format!(
                        "{api} for transactional.id {} did not succeed in time: {}",
                        self.transactional_id, failure.error
                    )),
                    verdict: failure.verdict,
                });
            }
            tracing::debug!(api, error = %failure.error, "retrying transaction request");
            tokio::time::sleep(wait).await;
        }
    }

    async fn transaction_coordinator(&self) -> Result<Node> {
        if let Some(n) = self
            .coordinator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(n);
        }
        let n = self
            .net
            .find_coordinator(CoordinatorType::Transaction, &self.transactional_id)
            .await?;
        *self.coordinator.lock().unwrap_or_else(|p| p.into_inner()) = Some(n.clone());
        Ok(n)
    }

    /// InitProducerId with the transactional id: a new epoch for it (fencing older producers
    /// and aborting their open transaction), or with `current` the bump of an epoch (KIP-360).
    pub(crate) async fn init_producer_id(
        &self,
        current: Option<ProducerIdAndEpoch>,
        transaction_timeout_ms: i32,
        deadline: Instant,
    ) -> std::result::Result<ProducerIdAndEpoch, Failure> {
        let id = self.txn_id();
        let resp = self
            .call(
                TRANSACTION,
                &self.transactional_id,
                deadline,
                None,
                |version| {
                    let req = InitProducerIdRequest::default()
                        .with_transactional_id(Some(id.clone()))
                        .with_transaction_timeout_ms(transaction_timeout_ms);
                    match current {
                        Some(c) if version >= 3 => req
                            .with_producer_id(ProducerId(c.producer_id))
                            .with_producer_epoch(c.epoch),
                        _ => req.with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
                    }
                },
                |r| r.error_code,
                "InitProducerId",
            )
            .await?;
        Ok(ProducerIdAndEpoch {
            producer_id: resp.producer_id.0,
            epoch: resp.producer_epoch,
        })
    }

    /// AddPartitionsToTxn (v3 at most: later versions are the brokers' own). Returns the
    /// failure of the first partition that failed.
    pub(crate) async fn add_partitions(
        &self,
        id: ProducerIdAndEpoch,
        partitions: &[(Arc<str>, i32)],
        deadline: Instant,
    ) -> std::result::Result<(), Failure> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        let topics: Vec<AddPartitionsToTxnTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        let txn = self.txn_id();
        self.call(
            TRANSACTION,
            &self.transactional_id,
            deadline,
            None,
            |_| {
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(txn.clone())
                    .with_v3_and_below_producer_id(ProducerId(id.producer_id))
                    .with_v3_and_below_producer_epoch(id.epoch)
                    .with_v3_and_below_topics(topics.clone())
            },
            |r| {
                // OPERATION_NOT_ATTEMPTED (55) marks partitions held back by another's error:
                // report the real one.
                let codes = r
                    .results_by_topic_v3_and_below
                    .iter()
                    .flat_map(|t| t.results_by_partition.iter())
                    .map(|p| p.partition_error_code);
                let mut first = r.error_code;
                for c in codes {
                    if c != 0 && (first == 0 || first == 55) {
                        first = c;
                    }
                }
                first
            },
            "AddPartitionsToTxn",
        )
        .await
        .map(|_| ())
    }

    /// AddOffsetsToTxn: the group's offsets commit or abort with this transaction.
    pub(crate) async fn add_offsets(
        &self,
        id: ProducerIdAndEpoch,
        group_id: &str,
        deadline: Instant,
    ) -> std::result::Result<(), Failure> {
        let txn = self.txn_id();
        let group = GroupId(StrBytes::from_string(group_id.to_string()));
        self.call(
            TRANSACTION,
            &self.transactional_id,
            deadline,
            None,
            |_| {
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(txn.clone())
                    .with_producer_id(ProducerId(id.producer_id))
                    .with_producer_epoch(id.epoch)
                    .with_group_id(group.clone())
            },
            |r| r.error_code,
            "AddOffsetsToTxn",
        )
        .await
        .map(|_| ())
    }

    /// TxnOffsetCommit to the group's coordinator, fenced by the group's generation and member
    /// id (KIP-447, v3+). With `v2` (KIP-890, v5) it also adds the offsets to the transaction;
    /// without, it stays below v5, which a broker of transactions version 2 takes for that.
    pub(crate) async fn txn_offset_commit(
        &self,
        id: ProducerIdAndEpoch,
        offsets: &Offsets,
        group: &ConsumerGroupMetadata,
        v2: bool,
        deadline: Instant,
    ) -> std::result::Result<(), Failure> {
        let mut by_topic: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, om) in offsets {
            by_topic.entry(&tp.topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(om.offset)
                    .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                    .with_committed_metadata(Some(StrBytes::from_string(om.metadata.clone()))),
            );
        }
        let topics: Vec<TxnOffsetCommitRequestTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        let txn = self.txn_id();
        let group_id = GroupId(StrBytes::from_string(group.group_id.clone()));
        self.call(
            GROUP,
            &group.group_id,
            deadline,
            (!v2).then_some(4),
            |version| {
                let mut req = TxnOffsetCommitRequest::default()
                    .with_transactional_id(txn.clone())
                    .with_group_id(group_id.clone())
                    .with_producer_id(ProducerId(id.producer_id))
                    .with_producer_epoch(id.epoch)
                    .with_topics(topics.clone());
                if version >= 3 {
                    req = req
                        .with_generation_id(group.generation_id)
                        .with_member_id(StrBytes::from_string(group.member_id.clone()))
                        .with_group_instance_id(
                            group.group_instance_id.clone().map(StrBytes::from_string),
                        );
                }
                req
            },
            |r| {
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .find(|c| *c != 0)
                    .unwrap_or(0)
            },
            "TxnOffsetCommit",
        )
        .await
        .map(|_| ())
    }

    /// EndTxn: commits or aborts the transaction. With `v2` (KIP-890, v5) the coordinator
    /// bumps the epoch and returns the id to use next; without, it stays below v5.
    pub(crate) async fn end_txn(
        &self,
        id: ProducerIdAndEpoch,
        commit: bool,
        v2: bool,
        deadline: Instant,
    ) -> std::result::Result<Option<ProducerIdAndEpoch>, Failure> {
        let txn = self.txn_id();
        self.call(
            TRANSACTION,
            &self.transactional_id,
            deadline,
            (!v2).then_some(4),
            |_| {
                EndTxnRequest::default()
                    .with_transactional_id(txn.clone())
                    .with_producer_id(ProducerId(id.producer_id))
                    .with_producer_epoch(id.epoch)
                    .with_committed(commit)
            },
            |r| r.error_code,
            if commit {
                "EndTxn(commit)"
            } else {
                "EndTxn(abort)"
            },
        )
        .await
        .map(|r| {
            (v2 && r.producer_id.0 >= 0).then_some(ProducerIdAndEpoch {
                producer_id: r.producer_id.0,
                epoch: r.producer_epoch,
            })
        })
    }

    /// Whether the transaction coordinator runs transactions version 2 (KIP-890): feature
    /// `transaction.version` finalized at 2 or more, and EndTxn v5 and Produce v12 offered.
    pub(crate) async fn supports_v2(&self) -> Result<bool> {
        let node = self.transaction_coordinator().await?;
        let conn = self.net.coordinator_connection(&node).await?;
        let v = conn.versions();
        let end_txn = v.range(26).is_some_and(|r| r.1 >= 5);
        let produce = v.range(0).is_some_and(|r| r.1 >= 12);
        Ok(v.transaction_version() >= 2 && end_txn && produce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_what_the_transaction_does() {
        let retry = |find_coordinator| Verdict::Retry { find_coordinator };
        for (c, v) in [
            (code::NOT_COORDINATOR, retry(true)),
            (code::COORDINATOR_NOT_AVAILABLE, retry(true)),
            (code::COORDINATOR_LOAD_IN_PROGRESS, retry(false)),
            (code::CONCURRENT_TRANSACTIONS, retry(false)),
            (code::REQUEST_TIMED_OUT, retry(false)),
            (code::PRODUCER_FENCED, Verdict::Fenced),
            (code::INVALID_PRODUCER_EPOCH, Verdict::Fenced),
            (code::TRANSACTION_COORDINATOR_FENCED, Verdict::Fenced),
            (code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Verdict::Fatal),
            (code::INVALID_TXN_STATE, Verdict::Fatal),
            (code::TOPIC_AUTHORIZATION_FAILED, Verdict::Abortable),
            (code::GROUP_AUTHORIZATION_FAILED, Verdict::Abortable),
            (code::TRANSACTION_ABORTABLE, Verdict::Abortable),
            (code::ILLEGAL_GENERATION, Verdict::Abortable),
            (code::UNKNOWN_MEMBER_ID, Verdict::Abortable),
        ] {
            assert_eq!(verdict(c), v, "code {c} ({})", ErrorCode(c).name());
        }
    }
}

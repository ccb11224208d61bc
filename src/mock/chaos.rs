//! Seeded chaos: a schedule of random cluster events (injected errors, dropped and cut
//! connections, delays, leader and coordinator moves, broker restarts) drawn from one seed,
//! so a failing run can be replayed with the same events in the same order.

use std::time::Duration;

use super::{Fault, FaultAction, MockCluster};
use crate::error::Result;

// Retriable codes a client must ride through, per API.
const PRODUCE_ERRORS: &[i16] = &[6, 7, 19, 20];
const FETCH_ERRORS: &[i16] = &[5, 6];
const GROUP_ERRORS: &[i16] = &[15, 16, 27];
const OFFSET_COMMIT_ERRORS: &[i16] = &[15, 16, 27];
/// InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit.
const TXN_APIS: &[i16] = &[22, 24, 25, 26, 28];
/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
/// CONCURRENT_TRANSACTIONS.
const TXN_ERRORS: &[i16] = &[14, 15, 16, 51];

/// One event of a [`ChaosSchedule`].
#[derive(Debug, Clone)]
pub enum ChaosEvent {
    /// Add a fault rule (fires a few times).
    Fault(Fault),
    /// Move a partition's leader (bumps the leader epoch).
    MoveLeader {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// New leader.
        broker: i32,
    },
    /// Move the group coordinator (and the transaction coordinator with it, unless it was
    /// moved apart).
    MoveCoordinator(i32),
    /// Move the transaction coordinator alone.
    MoveTxnCoordinator(i32),
    /// Stop a broker, wait, start it again on the same port.
    RestartBroker {
        /// Broker id.
        broker: i32,
        /// How long it stays down.
        down: Duration,
    },
}

/// Random events from a seed. The schedule (events and the pauses between them) depends
/// only on the seed and the cluster shape, never on timing.
#[derive(Debug)]
pub struct ChaosSchedule {
    rng: fastrand::Rng,
    brokers: Vec<i32>,
    partitions: Vec<(String, i32)>,
    /// Range of pauses between events, in ms.
    pause_ms: (u64, u64),
    transactions: bool,
}

impl ChaosSchedule {
    /// A schedule over `cluster`'s brokers and the partitions of `topics` ((name, partition
    /// count)), with 20–120 ms between events.
    pub fn new(seed: u64, cluster: &MockCluster, topics: &[(&str, i32)]) -> ChaosSchedule {
        ChaosSchedule {
            rng: fastrand::Rng::with_seed(seed),
            brokers: cluster.broker_ids(),
            partitions: topics
                .iter()
                .flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p)))
                .collect(),
            pause_ms: (20, 120),
            transactions: false,
        }
    }

    /// Sets the range of pauses between events (ms).
    pub fn pauses(mut self, min_ms: u64, max_ms: u64) -> ChaosSchedule {
        self.pause_ms = (min_ms, max_ms.max(min_ms));
        self
    }

    /// Also draws transaction events (one in five): retriable coordinator errors on every
    /// transaction API, connections dropped after EndTxn or AddPartitionsToTxn was applied,
    /// transaction coordinator moves. Off by default, so a seed's schedule without them stays
    /// what it was.
    pub fn with_transactions(mut self, on: bool) -> ChaosSchedule {
        self.transactions = on;
        self
    }

    fn txn_event(&mut self, times: u32) -> ChaosEvent {
        match self.rng.u8(0..10) {
            0..=5 => {
                let api = self.pick(TXN_APIS);
                let code = self.pick(TXN_ERRORS);
                ChaosEvent::Fault(Fault::new(api, FaultAction::Error(code)).times(times))
            }
            6..=7 => {
                let api = self.pick(&[24i16, 26]);
                let action = self.pick(&[FaultAction::DropAfter, FaultAction::CutResponse]);
                ChaosEvent::Fault(Fault::new(api, action).times(times))
            }
            _ => ChaosEvent::MoveTxnCoordinator(self.pick(&self.brokers.clone())),
        }
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.rng.usize(0..from.len())]
    }

    /// The pause before the next event, and the event.
    pub fn next_event(&mut self) -> (Duration, ChaosEvent) {
        let pause = Duration::from_millis(self.rng.u64(self.pause_ms.0..=self.pause_ms.1));
        let times = self.rng.u32(1..=3);
        if self.transactions && self.rng.u8(0..5) == 0 {
            return (pause, self.txn_event(times));
        }
        let fault =
            |api: i16, action: FaultAction| ChaosEvent::Fault(Fault::new(api, action).times(times));
        let event = match self.rng.u8(0..100) {
            0..=19 => {
                let code = self.pick(PRODUCE_ERRORS);
                fault(0, FaultAction::Error(code))
            }
            20..=29 => {
                let code = self.pick(FETCH_ERRORS);
                fault(1, FaultAction::Error(code))
            }
            30..=37 => {
                let api = self.pick(&[11i16, 12, 14]);
                let code = self.pick(GROUP_ERRORS);
                fault(api, FaultAction::Error(code))
            }
            38..=43 => {
                let code = self.pick(OFFSET_COMMIT_ERRORS);
                fault(8, FaultAction::Error(code))
            }
            44..=63 => {
                let api = self.pick(&[0i16, 0, 1, 3, 8, 12]);
                let action = self.pick(&[
                    FaultAction::DropBefore,
                    FaultAction::DropAfter,
                    FaultAction::CutResponse,
                ]);
                fault(api, action)
            }
            64..=73 => {
                let api = self.pick(&[0i16, 1, 3, 12]);
                let ms = self.rng.u64(50..400);
                fault(api, FaultAction::Delay(Duration::from_millis(ms)))
            }
            74..=87 if !self.partitions.is_empty() => {
                let (topic, partition) =
                    self.partitions[self.rng.usize(0..self.partitions.len())].clone();
                let broker = self.pick(&self.brokers.clone());
                ChaosEvent::MoveLeader {
                    topic,
                    partition,
                    broker,
                }
            }
            88..=93 => ChaosEvent::MoveCoordinator(self.pick(&self.brokers.clone())),
            _ => ChaosEvent::RestartBroker {
                broker: self.pick(&self.brokers.clone()),
                down: Duration::from_millis(self.rng.u64(50..300)),
            },
        };
        (pause, event)
    }
}

impl MockCluster {
    /// Applies one chaos event (a broker restart waits out its downtime).
    ///
    /// Errors: [`crate::Error::Connect`] if a restarted broker cannot bind its port again.
    pub async fn apply(&self, event: &ChaosEvent) -> Result<()> {
        match event {
            ChaosEvent::Fault(f) => self.inject(f.clone()),
            ChaosEvent::MoveLeader {
                topic,
                partition,
                broker,
            } => self.move_leader(topic, *partition, *broker)?,
            ChaosEvent::MoveCoordinator(b) => self.move_coordinator(*b),
            ChaosEvent::MoveTxnCoordinator(b) => self.move_txn_coordinator(*b),
            ChaosEvent::RestartBroker { broker, down } => {
                self.stop_broker(*broker);
                tokio::time::sleep(*down).await;
                self.start_broker(*broker).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_seed_same_schedule() {
        let c = MockCluster::builder()
            .brokers(3)
            .build()
            .await
            .expect("mock");
        let run = |seed| {
            let mut s = ChaosSchedule::new(seed, &c, &[("t", 4)]);
            (0..200)
                .map(|_| format!("{:?}", s.next_event()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let kinds: std::collections::BTreeSet<_> = run(5)
            .iter()
            .map(|e| e.split(['(', ' ', '{']).nth(2).unwrap_or("").to_string())
            .collect();
        assert!(kinds.len() >= 4, "{kinds:?}");
    }

    /// Transaction events are opt-in: a schedule without them is the one it always was, so
    /// existing seeds replay the same runs.
    #[tokio::test]
    async fn transaction_events_only_when_asked_for() {
        let c = MockCluster::builder()
            .brokers(3)
            .build()
            .await
            .expect("mock");
        let txn_apis = [22i16, 24, 25, 26, 28];
        let draw = |with: bool| {
            let mut s = ChaosSchedule::new(9, &c, &[("t", 4)]).with_transactions(with);
            (0..400).map(|_| s.next_event().1).collect::<Vec<_>>()
        };
        let touches_txn = |e: &ChaosEvent| match e {
            ChaosEvent::Fault(f) => txn_apis.contains(&f.api_key),
            ChaosEvent::MoveTxnCoordinator(_) => true,
            _ => false,
        };
        let plain = draw(false);
        let mut default = ChaosSchedule::new(9, &c, &[("t", 4)]);
        let default: Vec<_> = (0..400).map(|_| default.next_event().1).collect();
        assert_eq!(format!("{plain:?}"), format!("{default:?}"));
        assert!(!plain.iter().any(touches_txn));
        let txn = draw(true);
        let faults: std::collections::BTreeSet<(i16, String)> = txn
            .iter()
            .filter_map(|e| match e {
                ChaosEvent::Fault(f) if txn_apis.contains(&f.api_key) => {
                    Some((f.api_key, format!("{:?}", f.action)))
                }
                _ => None,
            })
            .collect();
        for api in txn_apis {
            assert!(
                faults.iter().any(|(a, _)| *a == api),
                "no fault on API {api}: {faults:?}"
            );
        }
        assert!(
            faults.contains(&(26, "DropAfter".to_string())),
            "{faults:?}"
        );
        assert!(
            txn.iter()
                .any(|e| matches!(e, ChaosEvent::MoveTxnCoordinator(_)))
        );
    }
}

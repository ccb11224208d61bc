//! Fault injection: per API key, what goes wrong and how often, drawn from the cluster's
//! seeded random generator so a run can be replayed.

use std::time::Duration;

/// What an injected fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this error code (per partition for Produce/Fetch/ListOffsets; the request's
    /// top-level code for the group APIs and InitProducerId). The request is not applied.
    Error(i16),
    /// Answer correctly, after this delay.
    Delay(Duration),
    /// Close the connection before applying the request (nothing happened).
    DropBefore,
    /// Apply the request, then close the connection without answering.
    DropAfter,
    /// Apply the request, write half of the response, then close the connection.
    CutResponse,
}

/// One fault rule: which requests it hits and how often.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The API key it applies to (0 = Produce, 1 = Fetch, ...).
    pub api_key: i16,
    /// What happens.
    pub action: FaultAction,
    /// How many times it fires before it is spent (`None`: no limit).
    pub times: Option<u32>,
    /// Chance of firing on each matching request (1.0: always).
    pub probability: f64,
    /// Only on this broker (`None`: any).
    pub broker: Option<i32>,
}

impl Fault {
    /// A fault on `api_key` that fires once, always.
    pub fn new(api_key: i16, action: FaultAction) -> Fault {
        Fault {
            api_key,
            action,
            times: Some(1),
            probability: 1.0,
            broker: None,
        }
    }

    /// Fires `n` times.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    /// Fires without limit.
    pub fn forever(mut self) -> Fault {
        self.times = None;
        self
    }

    /// Fires with probability `p` (0..=1) per matching request, from the cluster's seed.
    pub fn probability(mut self, p: f64) -> Fault {
        self.probability = p.clamp(0.0, 1.0);
        self
    }

    /// Only on broker `id`.
    pub fn on_broker(mut self, id: i32) -> Fault {
        self.broker = Some(id);
        self
    }
}

#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    rules: Vec<Fault>,
}

impl FaultPlan {
    pub(crate) fn add(&mut self, f: Fault) {
        self.rules.push(f);
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The action for this request, if a rule fires (consuming one of its `times`).
    pub(crate) fn take(
        &mut self,
        api_key: i16,
        broker: i32,
        rng: &mut fastrand::Rng,
    ) -> Option<FaultAction> {
        for rule in self.rules.iter_mut() {
            if rule.api_key != api_key || rule.broker.is_some_and(|b| b != broker) {
                continue;
            }
            if rule.times == Some(0) {
                continue;
            }
            if rule.probability < 1.0 && rng.f64() >= rule.probability {
                continue;
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            return Some(rule.action);
        }
        None
    }
}

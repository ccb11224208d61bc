//! The fetcher: one Fetch in flight per leader, buffered until `poll` takes its records
//! (prefetch: the next fetch runs while the application processes). Responses are decoded a
//! step at a time on the blocking pool (`decode.rs`), ahead of `poll` but within a budget of
//! decoded bytes over all partitions.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::decode::{DecodeLimits, PartitionDecoder, Step};
use super::record::ConsumerRecord;
use super::subscription::{PositionSource, SubscriptionState};
use crate::config::{ConsumerConfig, IsolationLevel};
use crate::error::{Error, ErrorCode, Result};
use crate::network::NetworkClient;
use crate::record::TopicPartition;
use budget::RawHeld;
use completed::{CompletedFetch, Tally};
use order::DecodeOrder;
use request::Fetched;
use session::FetchSession;
use stats::Counters;
pub use stats::FetchStats;

use crate::error::code::{FENCED_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER, OFFSET_OUT_OF_RANGE};

#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub max_partition_bytes: i32,
    pub max_wait: Duration,
    pub read_committed: bool,
    pub check_crcs: bool,
    pub max_poll_records: usize,
    pub limits: DecodeLimits,
    /// Incremental fetch sessions (KIP-227); off only to measure what they save.
    pub sessions: bool,
    /// `client.rack`, sent with every fetch (KIP-392); empty: none.
    pub rack: String,
    /// How long a preferred read replica is used before the leader is asked again
    /// (`metadata.max.age.ms`, as Java).
    pub read_replica_lease: Duration,
    /// `fetch.buffer.memory`: the most bytes held for fetched data `poll` has not returned.
    pub buffer_memory: usize,
}

impl FetchConfig {
    pub(crate) fn from_config(c: &ConsumerConfig) -> Self {
        let clamp = |v: usize| v.min(i32::MAX as usize) as i32;
        FetchConfig {
            min_bytes: clamp(c.fetch_min_bytes),
            max_bytes: clamp(c.fetch_max_bytes),
            max_partition_bytes: clamp(c.max_partition_fetch_bytes),
            max_wait: c.fetch_max_wait,
            read_committed: c.isolation_level == IsolationLevel::ReadCommitted,
            check_crcs: c.check_crcs,
            max_poll_records: c.max_poll_records.max(1),
            limits: DecodeLimits::new(c.max_partition_fetch_bytes),
            sessions: true,
            rack: c.client_rack.clone(),
            read_replica_lease: c.common.metadata_max_age,
            buffer_memory: c.fetch_buffer_memory.max(1),
        }
    }
}

/// What the fetch and decode tasks report to the fetcher.
enum Event {
    Fetched {
        node: i32,
        fetched: Fetched,
    },
    Decoded {
        id: u64,
        /// `None` once the data is decoded to the end (or failed).
        decoder: Option<Box<PartitionDecoder>>,
        end_offset: i64,
        step: Step,
        /// What the step had reserved in the budget.
        reserved: usize,
    },
}

pub(crate) struct Fetcher {
    net: Arc<NetworkClient>,
    cfg: FetchConfig,
    /// Brokers with a fetch out, each with the bytes reserved for its answer.
    in_flight: HashMap<i32, usize>,
    tx: mpsc::UnboundedSender<Event>,
    rx: mpsc::UnboundedReceiver<Event>,
    buffered: VecDeque<CompletedFetch>,
    /// Per broker; a broker's session is only touched while no fetch to it is in flight.
    sessions: HashMap<i32, FetchSession>,
    counters: Arc<Counters>,
    /// Partitions read from a follower (KIP-392): which one, until when.
    read_replicas: HashMap<TopicPartition, (i32, std::time::Instant)>,
    /// An error met after records were taken in the same `collect`: returned by the next one.
    pending_error: Option<Error>,
    next_id: u64,
    /// Decode steps under way.
    decoding: usize,
    /// What the steps under way may add, reserved in the budget until they report.
    decode_reserved: usize,
    /// Responses held, as received.
    raw: Arc<RawHeld>,
    /// The most held at once (responses and decoded records): checked against the budget by
    /// tests and benchmarks.
    peak_held: usize,
    /// What the buffered fetches hold ([`CompletedFetch::held`] summed), kept up to date as
    /// entries change: summing per look was O(partitions), several times per poll.
    decoded_held: usize,
    /// Buffered fetches whose decoder holds a batch read partway, kept as `decoded_held` is:
    /// `start_decoding` looks for them first, and mostly there are none to look for.
    partway: usize,
    /// How many buffered fetches at the front are decoded to the end (no decoder, no step
    /// under way), which never takes a step again: `start_decoding` looks from there. At
    /// 10,000 partitions thousands of decoded fetches wait for `poll` at the front, and a look
    /// at each per call was 15 million looks per million records.
    settled: usize,
    /// The last walk in `send_fetches` that sent nothing, while it still holds.
    idle: Option<send::IdleWalk>,
    /// Partitions whose buffered data is gone since `idle` was set.
    left_buffer: Vec<TopicPartition>,
    /// Each broker's wanted list patched from its session while that is enough (see
    /// [`targets`]).
    targets: targets::Targets,
    /// The topic names the last walk in `fetch_targets` gave its sessions, sorted: the next
    /// walk gives the same `Arc`s, so a session compares names by address.
    session_names: Vec<Arc<str>>,
    /// [`SubscriptionState::version`] when `discard_stale` last looked, with no fetch buffered
    /// since: every position the fetcher moved since then moved with its data.
    stale_checked: Option<u64>,
}

impl Fetcher {
    pub(crate) fn new(net: Arc<NetworkClient>, cfg: FetchConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Fetcher {
            net,
            cfg,
            in_flight: HashMap::new(),
            tx,
            rx,
            buffered: VecDeque::new(),
            sessions: HashMap::new(),
            counters: Arc::default(),
            read_replicas: HashMap::new(),
            pending_error: None,
            next_id: 0,
            decoding: 0,
            decode_reserved: 0,
            raw: Arc::default(),
            peak_held: 0,
            decoded_held: 0,
            partway: 0,
            settled: 0,
            idle: None,
            left_buffer: Vec::new(),
            session_names: Vec::new(),
            targets: targets::Targets::default(),
            stale_checked: None,
        }
    }

    /// Turns incremental fetch sessions on or off (full fetches every time), from the next
    /// request to each broker.
    pub(crate) fn set_sessions(&mut self, on: bool) {
        self.cfg.sessions = on;
    }

    pub(crate) fn stats(&self) -> FetchStats {
        let mut s = self.counters.snapshot();
        s.buffered_bytes = self.held() as u64;
        s.peak_buffered_bytes = self.peak_held as u64;
        s
    }

    /// Bytes held now: responses as received, and records decoded from them not taken yet.
    fn held(&self) -> usize {
        self.raw.get() + self.decoded_held
    }

    /// Holdings grow only when a report is accepted: looking then finds the peak.
    fn note_held(&mut self) {
        debug_assert_eq!(
            (self.decoded_held, self.partway),
            self.buffered.iter().fold((0, 0), |(h, p), f| {
                let t = f.tally();
                (h + t.held, p + t.partway)
            }),
            "decoded_held or partway is out of step with the buffered fetches"
        );
        debug_assert!(
            self.settled <= self.buffered.len()
                && (self.buffered.iter().take(self.settled))
                    .all(|f| f.decoder.is_none() && !f.decoding),
            "a fetch counted as settled may still take a step"
        );
        self.peak_held = self.peak_held.max(self.held());
    }

    /// Buffers `f`.
    fn push_fetch(&mut self, f: CompletedFetch) {
        self.retally(None, Some(f.tally()));
        self.targets.moved(&f.tp);
        self.buffered.push_back(f);
    }

    /// Moves the running totals from what a fetch added (`before`, `None`: it was not
    /// buffered) to what it adds now (`after`, `None`: it is gone).
    fn retally(&mut self, before: Option<Tally>, after: Option<Tally>) {
        if let Some(t) = before {
            self.decoded_held -= t.held;
            self.partway -= t.partway;
        }
        if let Some(t) = after {
            self.decoded_held += t.held;
            self.partway += t.partway;
        }
    }

    /// Takes entry `i` out of the buffer.
    fn remove_fetch(&mut self, i: usize) -> Option<CompletedFetch> {
        let f = self.buffered.remove(i)?;
        if i < self.settled {
            self.settled -= 1;
        }
        self.retally(Some(f.tally()), None);
        self.targets.moved(&f.tp);
        Some(f)
    }

    /// Keeps the entries `keep` says to keep; says whether any went.
    fn retain_fetches(&mut self, mut keep: impl FnMut(&CompletedFetch) -> bool) -> bool {
        let before = self.buffered.len();
        let (mut held, mut partway) = (0, 0);
        let targets = &mut self.targets;
        self.buffered.retain(|f| {
            let kept = keep(f);
            if !kept {
                let t = f.tally();
                held += t.held;
                partway += t.partway;
                targets.moved(&f.tp);
            }
            kept
        });
        self.retally(Some(Tally { held, partway }), None);
        self.settled = 0;
        let any = self.buffered.len() != before;
        if any {
            self.forget_idle();
        }
        any
    }

    /// Drops buffered data (and errors) for partitions no longer assigned or moved by a seek:
    /// an error met at the old position says nothing about the new one (a seek past a batch
    /// too large to decode must not return its error again). A step still decoding for a
    /// dropped fetch is discarded when it reports.
    /// Says whether any was dropped.
    pub(crate) fn discard_stale(&mut self, subs: &SubscriptionState) -> bool {
        if self.stale_checked == Some(subs.version()) {
            return false;
        }
        let any = self.retain_fetches(|f| {
            subs.assignment()
                .get(&f.tp)
                .is_some_and(|s| s.position == Some(f.fetch_offset))
        });
        self.stale_checked = Some(subs.version());
        any
    }

    /// What the budget holds now: data held, and what fetches and decode steps under way may
    /// add.
    fn used(&self) -> usize {
        self.held() + self.in_flight.values().sum::<usize>() + self.decode_reserved
    }

    /// The bytes the next fetch may reserve, `None` while the budget cannot take one. Fetches
    /// leave [`budget::decode_headroom`] to decoding, and one goes out only with room for a
    /// partition's worth (`max.partition.fetch.bytes`, or all the fetches' share when that is
    /// smaller): a smaller one could make the broker return a first batch larger than asked
    /// (KIP-74). Paused partitions give up what they hold first when the room is short.
    fn fetch_room(&mut self, subs: &SubscriptionState) -> Option<usize> {
        let budget = self.cfg.buffer_memory;
        let share = budget - budget::decode_headroom(budget);
        let least = share.min(usize::try_from(self.cfg.max_partition_bytes).unwrap_or(0));
        loop {
            let room = share.saturating_sub(self.used());
            if room > 0 && room >= least {
                let max = usize::try_from(self.cfg.max_bytes).unwrap_or(usize::MAX);
                return Some(room.min(max));
            }
            if !self.evict_paused(subs) {
                return None;
            }
        }
    }

    /// Whether every buffered fetch is of an assigned, unpaused partition, known without a
    /// lookup per fetch: nothing is paused, and no fetch was buffered since `discard_stale`
    /// dropped those of partitions no longer assigned.
    pub(super) fn all_active(&self, subs: &SubscriptionState) -> bool {
        self.stale_checked == Some(subs.version()) && !subs.any_paused()
    }

    /// Drops the fetches of paused partitions that hold data (they are fetched again on
    /// resume), so they cannot keep the budget from others. Says whether any was dropped.
    fn evict_paused(&mut self, subs: &SubscriptionState) -> bool {
        if self.all_active(subs) {
            // Nothing paused or unassigned to give up: no walk (called per step when short).
            return false;
        }
        if !subs.any_paused() {
            // Only fetches of partitions no longer assigned can go, which `discard_stale` (run
            // by every `collect` anyway) drops, and it remembers that it looked: after each
            // fetch response this was a walk with a lookup per buffered fetch, then another.
            return self.discard_stale(subs);
        }
        let paused = |f: &CompletedFetch| subs.assignment().get(&f.tp).is_none_or(|s| s.paused);
        self.retain_fetches(|f| {
            f.decoding || (f.held() == 0 && f.decoder.is_none() && f.lease.is_none()) || !paused(f)
        })
    }

    /// Waits for a fetch response or a decoded step (or until `deadline`), buffering it and
    /// starting the decode steps it allows.
    ///
    /// # Cancel safety
    /// Cancel safe: a report not yet taken stays in the channel.
    pub(crate) async fn wait(&mut self, subs: &SubscriptionState, deadline: tokio::time::Instant) {
        if self.in_flight.is_empty() && self.decoding == 0 {
            tokio::time::sleep_until(deadline).await;
            return;
        }
        if let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.accept(ev);
            self.start_decoding(subs);
        }
    }

    /// Buffers every response and step that has already arrived, and starts the decode steps
    /// they allow.
    pub(crate) fn drain_responses(&mut self, subs: &SubscriptionState) {
        while let Ok(ev) = self.rx.try_recv() {
            self.accept(ev);
        }
        self.start_decoding(subs);
    }

    fn accept(&mut self, ev: Event) {
        match ev {
            Event::Fetched { node, fetched } => {
                self.in_flight.remove(&node);
                self.forget_idle();
                self.stale_checked = None;
                self.sessions
                    .entry(node)
                    .or_default()
                    .answered(fetched.plan, fetched.answer);
                match fetched.fetches {
                    Ok(fetches) => {
                        let lease = (fetched.bytes > 0).then(|| self.raw.lease(fetched.bytes));
                        for mut f in fetches {
                            f.lease = lease.clone();
                            self.note_read_replica(node, &f);
                            f.id = self.next_id;
                            self.next_id += 1;
                            self.push_fetch(f);
                        }
                    }
                    Err(e) => {
                        // A follower that cannot be reached: back to the leaders.
                        self.read_replicas.retain(|_, (n, _)| *n != node);
                        tracing::debug!(node, error = %e, "fetch failed");
                        self.net.request_update();
                    }
                }
            }
            Event::Decoded {
                id,
                decoder,
                end_offset,
                step,
                reserved,
            } => {
                self.decoding -= 1;
                self.decode_reserved -= reserved;
                // Not found: discarded (seek, revocation) while the step ran.
                if let Some(f) = self.buffered.iter_mut().find(|f| f.id == id) {
                    let before = f.tally();
                    f.apply(decoder, end_offset, step);
                    let after = f.tally();
                    self.retally(Some(before), Some(after));
                }
            }
        }
        self.note_held();
    }

    /// Follows a leader's pointer to a follower (KIP-392), and drops the follower once it errs
    /// for the partition: the leader is asked again.
    fn note_read_replica(&mut self, node: i32, f: &CompletedFetch) {
        if f.preferred_read_replica >= 0 && f.preferred_read_replica != node {
            let until = std::time::Instant::now() + self.cfg.read_replica_lease;
            self.read_replicas
                .insert(f.tp.clone(), (f.preferred_read_replica, until));
        } else if f.error.is_some() || f.preferred_read_replica == node {
            self.read_replicas.remove(&f.tp);
        }
    }

    /// Decoded bytes held by buffered fetches, plus what the steps under way reserved.
    #[cfg(test)]
    fn decoded_bytes(&self) -> usize {
        self.buffered
            .iter()
            .map(CompletedFetch::held)
            .sum::<usize>()
            + self.decode_reserved
    }

    /// Starts a decode step (on the blocking pool when it decompresses, else inline) for each
    /// unpaused fetch with fewer than two decoded steps buffered (the next one decodes while
    /// `poll` hands out the current one), while `fetch.buffer.memory` has room. A step stops
    /// once it has decoded what is left of the budget (at most [`STEP_BYTES`]), so it can end
    /// past it by its last move, one batch decompressed: only the first step under way may do
    /// that, the others reserve room for it. With no record for `poll` to take and no step under
    /// way, one step always runs (at least one record), or a full budget would wait forever.
    /// When room is short, paused partitions give up what they hold first (they are fetched
    /// again on resume): they must not starve the others. Never awaits.
    ///
    /// [`STEP_BYTES`]: crate::consumer::decode::STEP_BYTES
    pub(crate) fn start_decoding(&mut self, subs: &SubscriptionState) {
        let all_active = self.all_active(subs);
        let paused = |f: &CompletedFetch| {
            !all_active && subs.assignment().get(&f.tp).is_none_or(|s| s.paused)
        };
        let decodable = |f: &CompletedFetch| f.decoder.is_some() && f.steps.len() < 2 && !paused(f);
        // Each pass looks at each entry about once (a look per step was quadratic in
        // partitions): the budget in use and whether anything is buffered are worked out at
        // the start and kept up to date as steps start.
        'pass: loop {
            let mut order = DecodeOrder::new(self.partway, self.settled);
            let mut used = self.used();
            let mut nothing_buffered: Option<bool> = None;
            while let Some(i) = order.next(&self.buffered, decodable) {
                if !decodable(&self.buffered[i]) {
                    // Changed since the order met it (it took its steps).
                    continue;
                }
                let room = self.cfg.buffer_memory.saturating_sub(used);
                let full = self.cfg.limits;
                let mut limits = full;
                limits.step_bytes = room.min(limits.step_bytes);
                let reserved = if self.decoding == 0 {
                    limits.step_bytes
                } else {
                    limits.step_bytes + limits.batch_bytes
                };
                let short = limits.step_bytes == 0 || reserved > room;
                if short {
                    // Nothing for poll to take and nothing under way: only a step can free
                    // anything.
                    let none = *nothing_buffered
                        .get_or_insert_with(|| self.buffered.iter().all(|f| f.steps.is_empty()));
                    if !(self.decoding == 0 && none) {
                        if self.evict_paused(subs) {
                            continue 'pass;
                        }
                        break 'pass;
                    }
                }
                // Past a full budget, a step opens at most one batch (and, reading one
                // partway, goes no further than its end), but decodes a whole step of it: a
                // record at a time, each waiting for the next poll, would be far too slow.
                let one_batch = short;
                if short {
                    limits.step_bytes = full.step_bytes;
                }
                let f = &mut self.buffered[i];
                let Some(decoder) = f.decoder.take() else {
                    break 'pass;
                };
                f.decoding = true;
                self.decoding += 1;
                self.decode_reserved += reserved;
                used += reserved;
                let id = f.id;
                if !decoder.next_batch_is_compressed() {
                    // Parsing alone is cheaper here than a hand-off to another thread and back:
                    // the step stops before a compressed batch, for a step on the blocking pool.
                    let (decoder, end_offset, step, reserved) =
                        match run_step(id, decoder, &limits, reserved, one_batch, true) {
                            Event::Decoded {
                                decoder,
                                end_offset,
                                step,
                                reserved,
                                ..
                            } => (decoder, end_offset, step, reserved),
                            other => {
                                self.accept(other);
                                continue;
                            }
                        };
                    // As `accept`, for the entry at hand (no search by id).
                    self.decoding -= 1;
                    self.decode_reserved -= reserved;
                    let f = &mut self.buffered[i];
                    let before = f.tally();
                    f.apply(decoder, end_offset, step);
                    let after = f.tally();
                    let (any_steps, again) = (!f.steps.is_empty(), decodable(f));
                    self.retally(Some(before), Some(after));
                    used = used - reserved - before.held + after.held;
                    if any_steps {
                        nothing_buffered = Some(false);
                    }
                    // It may take another step, as any other entry: first if read partway.
                    if again {
                        order.again(i, after.partway > 0);
                    }
                    continue;
                }
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(run_step(id, decoder, &limits, reserved, one_batch, false));
                });
            }
            break;
        }
        while self
            .buffered
            .get(self.settled)
            .is_some_and(|f| f.decoder.is_none() && !f.decoding)
        {
            self.settled += 1;
        }
        // Holdings only grew while steps ran inline: one look finds the peak.
        self.note_held();
    }

    /// Takes up to `max.poll.records` records, advancing positions. Partition errors are
    /// applied here: out of range -> reset per policy (or an error with `none`), stale leader ->
    /// metadata refresh, corrupt data -> returned as the error.
    pub(crate) fn collect(&mut self, subs: &mut SubscriptionState) -> Result<Vec<ConsumerRecord>> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        self.discard_stale(subs);
        let mut out = Vec::new();
        // Each buffered entry is looked at once per call: paused ones stay where they are, so a
        // buffer of only paused partitions cannot keep this loop (which never yields) turning.
        let mut i = 0;
        while out.len() < self.cfg.max_poll_records && i < self.buffered.len() {
            let f = &mut self.buffered[i];
            let Some(state) = subs.fetched_state_mut(&f.tp) else {
                self.remove_fetch(i);
                continue;
            };
            // An error comes after the records decoded before it.
            if let Some(e) = f.error.take_if(|_| f.steps.is_empty()) {
                let tp = f.tp.clone();
                self.remove_fetch(i);
                self.left_buffer(&tp);
                let fatal = match e.code() {
                    Some(ErrorCode(OFFSET_OUT_OF_RANGE)) => {
                        let reset = subs.default_reset();
                        if reset == PositionSource::NoReset {
                            Some(Error::Unknown(format!(
                                "offset out of range for {tp} and auto.offset.reset=none"
                            )))
                        } else {
                            subs.request_position(&tp, reset).err()
                        }
                    }
                    Some(code) if code.invalidates_metadata() => {
                        self.net.request_update();
                        if matches!(code.0, FENCED_LEADER_EPOCH | NOT_LEADER_OR_FOLLOWER) {
                            // The leader changed: the log may have been truncated under the
                            // position (KIP-320).
                            subs.start_validating(&tp);
                        }
                        None
                    }
                    Some(_) => {
                        tracing::debug!(%tp, error = %e, "fetch partition error");
                        None
                    }
                    None => Some(e),
                };
                if let Some(e) = fatal {
                    // Records already taken in this call are returned; the error comes with
                    // the next call, as Java's consumer does.
                    if out.is_empty() {
                        return Err(e);
                    }
                    self.pending_error = Some(e);
                    break;
                }
                continue;
            }
            if state.paused {
                // Kept buffered until resume.
                i += 1;
                continue;
            }
            state.high_watermark = f.high_watermark;
            state.last_stable_offset = f.last_stable_offset;
            let take = (self.cfg.max_poll_records - out.len()).min(f.buffered_records());
            let before = f.held();
            f.take(take, &mut out);
            // Taking records leaves the decoder alone: `partway` stays.
            self.decoded_held = self.decoded_held - before + f.held();
            if let Some(last) = out.last().filter(|_| take > 0) {
                state.position = Some(last.offset + 1);
                state.position_epoch = last.leader_epoch;
                let end = if self.cfg.read_committed {
                    f.last_stable_offset
                } else {
                    f.high_watermark
                };
                let position = last.offset + 1;
                let lead = if f.log_start_offset >= 0 {
                    position - f.log_start_offset
                } else {
                    -1
                };
                // No end offset known (read_committed against a broker without LSO): no lag.
                if end >= 0 {
                    let m = self.net.metrics();
                    m.fetch().partition_lag(m, &f.tp, end - position, lead);
                }
            }
            if f.is_drained() && f.error.is_none() {
                if state.position.is_some_and(|p| p < f.end_offset) {
                    state.position = Some(f.end_offset);
                }
                if let Some(f) = self.remove_fetch(i) {
                    self.left_buffer(&f.tp);
                }
            } else if f.steps.is_empty() && f.error.is_some() {
                // Its error, on the next turn (this entry's second and last look).
                continue;
            } else {
                // More records buffered, or a step still to decode (started after this call).
                f.fetch_offset = state.position.unwrap_or(f.fetch_offset);
                i += 1;
            }
        }
        Ok(out)
    }
}

/// Runs one decode step of fetch `id` and says what it produced.
fn run_step(
    id: u64,
    mut decoder: Box<PartitionDecoder>,
    limits: &DecodeLimits,
    reserved: usize,
    one_batch: bool,
    inline: bool,
) -> Event {
    // A panic would leave the fetch waiting for this step and its budget counted forever:
    // report it as the partition's error instead.
    let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decoder.step_within(limits, one_batch, inline)
    }));
    match step {
        Ok(step) => Event::Decoded {
            id,
            end_offset: decoder.end_offset(),
            decoder: decoder.has_more().then_some(decoder),
            step,
            reserved,
        },
        Err(_) => Event::Decoded {
            id,
            decoder: None,
            end_offset: i64::MIN,
            step: Step {
                error: Some(Error::CorruptRecord("record decoder panicked".into())),
                ..Step::default()
            },
            reserved,
        },
    }
}

mod budget;
mod completed;
mod order;
mod request;
mod send;
mod session;
mod stats;
mod targets;

#[cfg(test)]
mod tests;

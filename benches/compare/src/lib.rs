//! What every client binary shares: the command line (same flags for every client), the
//! pre-generated value pool, the open-loop schedule for latency runs, and the one-line report
//! `scripts/bench` parses. CPU time and peak RSS are measured by `scripts/bench` from outside
//! (wait4 rusage of the child), the same way for every client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Send `count` records and wait for every acknowledgement.
    Produce(ProduceArgs),
    /// Read `count` records from offset 0 of every partition (manual assignment).
    Consume(ConsumeArgs),
    /// Open-loop produce at a fixed rate; latency from each record's scheduled send time to
    /// its acknowledgement.
    Latency(LatencyArgs),
    /// Share group (KIP-932) members reading `count` records of a preloaded topic together,
    /// implicit acknowledgement; timed from the first record received to the last.
    Share(ShareArgs),
    /// Memory per idle partition: assign every partition of an empty topic (manual
    /// assignment, from the log start), poll for `seconds` so each one is fetched at least
    /// once, and exit. `scripts/bench` reads the peak RSS.
    Idle(IdleArgs),
    /// Rebalance time of a consumer group: `members` consumers in this process subscribe to
    /// `topic` in `group` and poll; once their assignments cover every partition ([`covered`]),
    /// one more member subscribes, timed until the `members + 1` assignments cover every
    /// partition again. RESULT `seconds` is that rebalance, `form_seconds` how long the first
    /// `members` took to form the group.
    Group(GroupArgs),
}

impl Cmd {
    pub fn common(&self) -> &Common {
        match self {
            Cmd::Produce(a) => &a.common,
            Cmd::Consume(a) => &a.common,
            Cmd::Latency(a) => &a.common,
            Cmd::Share(a) => &a.common,
            Cmd::Idle(a) => &a.common,
            Cmd::Group(a) => &a.common,
        }
    }
}

/// Exits 3 (`UNSUPPORTED`, a cell `scripts/bench` shows as n/a) for a command this client
/// has no API for.
pub fn cmd_unsupported(what: &str) -> ! {
    eprintln!("UNSUPPORTED {what}: this client has no API for it");
    std::process::exit(3);
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    #[arg(long)]
    pub bootstrap: String,
    #[arg(long)]
    pub topic: String,
    /// Partitions of the topic (it must exist); record i goes to partition i % partitions.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Value size, bytes (no key).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// A client property `key=value` (repeatable), applied after the bench's own settings:
    /// the security cells pass `security.protocol`, `sasl.*` and `ssl.*` this way. A client
    /// that cannot take them exits UNSUPPORTED ([`Common::no_props`]).
    #[arg(short = 'X', value_parser = parse_prop)]
    pub props: Vec<(String, String)>,
}

fn parse_prop(kv: &str) -> Result<(String, String), String> {
    kv.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("-X {kv}: expected key=value"))
}

impl Common {
    /// Exits 3 (`UNSUPPORTED`, a cell `scripts/bench` shows as n/a) if any `-X` was given,
    /// for clients whose properties differ from Kafka's: better no number than one measured
    /// without the setting.
    pub fn no_props(&self) {
        if let Some((k, _)) = self.props.first() {
            eprintln!("UNSUPPORTED -X {k}: this client's bench takes no client properties");
            std::process::exit(3);
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ProducerSettings {
    /// `1` or `all`.
    #[arg(long, default_value = "all")]
    pub acks: String,
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    pub idempotence: bool,
    /// none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Bytes.
    #[arg(long, default_value_t = 1_048_576)]
    pub batch_size: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub producer: ProducerSettings,
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Producers in this process (one runtime, or one process for clients with their own
    /// threads), each its own client instance sending its share of `count` at once with the
    /// others ([`share_of`]); timed from when every one has warmed up.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
}

/// Record indices producer `k` of `producers` sends: a contiguous share of `0..count` (the
/// first `count % producers` shares one longer), so each producer covers every partition.
pub fn share_of(count: u64, producers: usize, k: usize) -> std::ops::Range<u64> {
    let (n, k) = (producers.max(1) as u64, k as u64);
    let (base, extra) = (count / n, count % n);
    let start = k * base + k.min(extra);
    start..start + base + u64::from(k < extra)
}

#[derive(Args, Debug, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
}

#[derive(Args, Debug, Clone)]
pub struct ShareArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Members of the share group, in this one process.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// The share group; its `share.auto.offset.reset` must already be `earliest`.
    #[arg(long)]
    pub group: String,
}

#[derive(Args, Debug, Clone)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Seconds of polling after the assignment (long enough for a fetch from every
    /// partition: the brokers answer an empty fetch after their fetch.max.wait).
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
}

#[derive(Args, Debug, Clone)]
pub struct GroupArgs {
    #[command(flatten)]
    pub common: Common,
    /// Members before the one whose join is timed.
    #[arg(long, default_value_t = 2)]
    pub members: usize,
    /// `eager` (classic, range assignor), `cooperative` (classic, cooperative-sticky) or
    /// `consumer` (KIP-848, the broker's assignor).
    #[arg(long, default_value = "eager")]
    pub protocol: String,
    /// The group id (a fresh one per run).
    #[arg(long)]
    pub group: String,
    /// Seconds before the run gives up.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// Whether the members' assignments (partition ids of the one topic) are those of a settled
/// group: every partition of `0..partitions` held by exactly one member, and every member
/// holding at least one (`partitions >= members`). Eager members hold nothing during a
/// rebalance, cooperative ones keep what they do not give up: either way the group has settled
/// only when this holds.
pub fn covered(assignments: &[Vec<i32>], partitions: i32) -> bool {
    let mut seen = vec![false; partitions.max(0) as usize];
    for a in assignments {
        if a.is_empty() {
            return false;
        }
        for &p in a {
            match seen.get_mut(p as usize) {
                Some(s) if !*s => *s = true,
                _ => return false,
            }
        }
    }
    seen.iter().all(|s| *s)
}

/// What a `group` run's members share: each member's assignment (published after every poll),
/// the stop flag, and the deadline. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct GroupRun(std::sync::Arc<GroupState>);

struct GroupState {
    held: std::sync::Mutex<Vec<Vec<i32>>>,
    stop: std::sync::atomic::AtomicBool,
    partitions: i32,
    deadline: Instant,
    timeout: u64,
}

impl GroupRun {
    /// For `a.members` members and the one that joins after them.
    pub fn new(a: &GroupArgs) -> Self {
        GroupRun(std::sync::Arc::new(GroupState {
            held: std::sync::Mutex::new(vec![Vec::new(); a.members + 1]),
            stop: std::sync::atomic::AtomicBool::new(false),
            partitions: a.common.partitions,
            deadline: Instant::now() + Duration::from_secs(a.timeout),
            timeout: a.timeout,
        }))
    }

    /// Member `id` holds `partitions` now.
    pub fn publish(&self, id: usize, partitions: Vec<i32>) {
        self.0.held.lock().unwrap()[id] = partitions;
    }

    /// Whether the members should leave.
    pub fn stopped(&self) -> bool {
        self.0.stop.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.0
            .stop
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether members `0..k` hold every partition between them (see [`covered`]); past the
    /// run's deadline the run fails.
    pub fn settled(&self, k: usize) -> bool {
        if covered(&self.0.held.lock().unwrap()[..k], self.0.partitions) {
            return true;
        }
        if Instant::now() > self.0.deadline {
            fail(
                "group",
                format!("{k} members did not settle in {} s", self.0.timeout),
            );
        }
        false
    }

    async fn settle(&self, k: usize) {
        while !self.settled(k) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// A group run of an async client: `spawn(id, run)` creates member `id` and returns its
    /// task; the first `a.members` form the group, then one more joins, and the RESULT line
    /// reports both times. See `Cmd::Group`.
    pub async fn time<S, F>(a: &GroupArgs, mut spawn: S)
    where
        S: FnMut(usize, GroupRun) -> F,
        F: std::future::Future<Output = tokio::task::JoinHandle<()>>,
    {
        let run = GroupRun::new(a);
        let start = Instant::now();
        let mut members = Vec::with_capacity(a.members + 1);
        for id in 0..a.members {
            members.push(spawn(id, run.clone()).await);
        }
        run.settle(a.members).await;
        let form = start.elapsed();
        let start = Instant::now();
        members.push(spawn(a.members, run.clone()).await);
        run.settle(a.members + 1).await;
        report_group(start.elapsed(), form, a.members);
        run.stop();
        for m in members {
            let _ = m.await;
        }
    }
}

/// The RESULT line of a group run.
pub fn report_group(rebalance: Duration, form: Duration, members: usize) {
    println!(
        "RESULT records=0 bytes=0 seconds={:.6} form_seconds={:.6} members={members}",
        rebalance.as_secs_f64(),
        form.as_secs_f64()
    );
}

/// The RESULT line of an idle run: no records; `seconds` is how long it polled.
pub fn report_idle(partitions: i32, elapsed: Duration) {
    println!(
        "RESULT records=0 bytes=0 seconds={:.6} partitions={partitions}",
        elapsed.as_secs_f64()
    );
}

#[derive(Args, Debug, Clone)]
pub struct LatencyArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub producer: ProducerSettings,
    /// Records per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds measured (after one untimed second of warm-up at the same rate).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// 1024 distinct values of `size` bytes (windows of one text of random words from a fixed
/// seed), generated before any timing; record i uses value i % 1024.
pub fn value_pool(size: usize) -> Vec<Bytes> {
    let words = ["kafka ", "event ", "user ", "42 "];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut text = String::with_capacity(size + 8 * 1024 + 16);
    while text.len() < size + 8 * 1024 {
        text.push_str(words[rng.usize(..4)]);
    }
    let text = Bytes::from(text);
    (0..1024).map(|i| text.slice(i * 7..i * 7 + size)).collect()
}

/// Reads every byte of a consumed value (the work every client's consume run does per
/// record); callers fold the results into a `black_box`ed sum.
pub fn touch(v: &[u8]) -> u64 {
    v.iter().map(|b| u64::from(*b)).sum()
}

/// The partition of record `i`.
pub fn partition_of(i: u64, partitions: i32) -> i32 {
    (i % partitions.max(1) as u64) as i32
}

/// Throughput result: one line on stdout, `key=value` pairs, for `scripts/bench`.
pub fn report_throughput(records: u64, bytes: u64, elapsed: Duration) {
    println!(
        "RESULT records={records} bytes={bytes} seconds={:.6}",
        elapsed.as_secs_f64()
    );
}

/// Open-loop schedule: record `i` is due at `start + i / rate`.
pub struct Schedule {
    start: Instant,
    rate: u64,
}

impl Schedule {
    pub fn new(rate: u64) -> Schedule {
        Schedule {
            start: Instant::now(),
            rate: rate.max(1),
        }
    }

    pub fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_nanos(i * 1_000_000_000 / self.rate)
    }
}

/// Paces an open-loop run: a dedicated thread sleeps to each record's due time and hands
/// `(i, due)` over a channel. A thread is used because tokio's timer fires on whole
/// milliseconds (up to 1 ms late), which would add to every client's measured latency; a
/// thread's `sleep` is late by tens of microseconds and costs no spinning.
pub fn pace(rate: u64, total: u64) -> tokio::sync::mpsc::UnboundedReceiver<(u64, Instant)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // A send fails only once the receiver is gone, at the end of the run.
    std::thread::spawn(move || {
        pace_blocking(rate, total, |i, due| {
            let _ = tx.send((i, due));
        })
    });
    rx
}

/// The same pacing for synchronous clients: calls `f(i, due)` on the calling thread.
pub fn pace_blocking(rate: u64, total: u64, mut f: impl FnMut(u64, Instant)) {
    let schedule = Schedule::new(rate);
    for i in 0..total {
        let due = schedule.due(i);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        f(i, due);
    }
}

/// Latency samples (µs), reported as percentiles.
pub struct Latencies(hdrhistogram::Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"))
    }

    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 60_000_000);
        let _ = self.0.record(us);
    }

    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    /// One line on stdout for `scripts/bench`.
    pub fn report(&self, bytes_per_record: usize) {
        let q = |p: f64| self.0.value_at_quantile(p) as f64 / 1000.0;
        println!(
            "RESULT records={} bytes={} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
            self.0.len(),
            self.0.len() * bytes_per_record as u64,
            q(0.50),
            q(0.99),
            q(0.999),
            self.0.max() as f64 / 1000.0
        );
    }
}

/// Exit with a message (every binary reports errors the same way).
pub fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("error: {what}: {e}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::{covered, share_of};

    #[test]
    fn covered_wants_every_partition_once_and_every_member_busy() {
        assert!(covered(&[vec![0, 2], vec![1, 3]], 4));
        assert!(!covered(&[vec![0, 1, 2, 3], vec![]], 4), "an idle member");
        assert!(
            !covered(&[vec![0, 1], vec![1, 2, 3]], 4),
            "partition 1 twice"
        );
        assert!(
            !covered(&[vec![0, 1], vec![3]], 4),
            "partition 2 unassigned"
        );
        assert!(!covered(&[vec![0, 7]], 4), "a partition the topic lacks");
    }

    #[test]
    fn shares_cover_every_record_once() {
        for (count, producers) in [(10, 1), (10, 3), (10, 4), (2, 4), (1_000_000, 16), (0, 2)] {
            let shares: Vec<_> = (0..producers)
                .map(|k| share_of(count, producers, k))
                .collect();
            let mut next = 0;
            for s in &shares {
                assert_eq!(s.start, next, "{count}/{producers}: {shares:?}");
                next = s.end;
            }
            assert_eq!(next, count, "{count}/{producers}: {shares:?}");
            let lens: Vec<_> = shares.iter().map(|s| s.end - s.start).collect();
            let (lo, hi) = (lens.iter().min(), lens.iter().max());
            assert!(hi.zip(lo).is_none_or(|(h, l)| h - l <= 1), "{lens:?}");
        }
    }
}

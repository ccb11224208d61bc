//! Windowed statistics as Java's `SampledStat`: a value is recorded into the current sample;
//! a sample ends after `metrics.sample.window.ms`; `metrics.num.samples` samples are kept and
//! one older than all of them together counts no more. Time is passed in (ms on a monotonic
//! clock) so that the math is tested without sleeping.

use std::sync::Mutex;

/// `metrics.num.samples` and `metrics.sample.window.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleConfig {
    pub samples: usize,
    pub window_ms: u64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        // Java's defaults.
        SampleConfig {
            samples: 2,
            window_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: u64,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    fn new(now: u64) -> Self {
        Sample {
            start_ms: now,
            count: 0,
            sum: 0.0,
            max: f64::NEG_INFINITY,
        }
    }
}

/// Samples of one sensor, plus its all-time totals.
#[derive(Debug)]
pub(crate) struct Samples {
    cfg: SampleConfig,
    samples: Vec<Sample>,
    current: usize,
    total_sum: f64,
    total_count: u64,
    last: f64,
}

impl Samples {
    pub(crate) fn new(cfg: SampleConfig) -> Self {
        Samples {
            cfg: SampleConfig {
                samples: cfg.samples.max(1),
                window_ms: cfg.window_ms.max(1),
            },
            samples: Vec::with_capacity(cfg.samples.max(1)),
            current: 0,
            total_sum: 0.0,
            total_count: 0,
            last: f64::NAN,
        }
    }

    fn current(&mut self, now: u64) -> &mut Sample {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
            self.current = 0;
        }
        &mut self.samples[self.current]
    }

    pub(crate) fn record(&mut self, value: f64, now: u64) {
        let window = self.cfg.window_ms;
        if now.saturating_sub(self.current(now).start_ms) >= window {
            self.current = (self.current + 1) % self.cfg.samples;
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now));
            } else {
                self.samples[self.current] = Sample::new(now);
            }
        }
        let s = self.current(now);
        s.count += 1;
        s.sum += value;
        s.max = s.max.max(value);
        self.total_sum += value;
        self.total_count += 1;
        self.last = value;
    }

    /// Resets samples older than the whole window (`samples` x `window_ms`).
    fn purge(&mut self, now: u64) {
        let expire = self.cfg.window_ms * self.cfg.samples as u64;
        for s in &mut self.samples {
            if now.saturating_sub(s.start_ms) >= expire {
                *s = Sample::new(now);
            }
        }
    }

    fn live(&mut self, now: u64) -> &[Sample] {
        self.purge(now);
        &self.samples
    }

    /// Sum of the values recorded in the window.
    pub(crate) fn sum(&mut self, now: u64) -> f64 {
        self.live(now).iter().map(|s| s.sum).sum()
    }

    /// Number of values recorded in the window.
    pub(crate) fn count(&mut self, now: u64) -> u64 {
        self.live(now).iter().map(|s| s.count).sum()
    }

    /// Largest value recorded in the window; NaN when none was (as Java's `Max`).
    pub(crate) fn max(&mut self, now: u64) -> f64 {
        let live = self.live(now);
        if live.iter().all(|s| s.count == 0) {
            return f64::NAN;
        }
        live.iter().map(|s| s.max).fold(f64::NEG_INFINITY, f64::max)
    }

    /// Mean of the values recorded in the window; NaN when none was (as Java's `Avg`).
    pub(crate) fn avg(&mut self, now: u64) -> f64 {
        let count = self.count(now);
        if count == 0 {
            return f64::NAN;
        }
        self.sum(now) / count as f64
    }

    /// The time the rates divide by, in ms: from the oldest sample's start to `now`, plus a
    /// window for each of the `samples - 1` full windows not elapsed yet, so that a sensor a
    /// moment old does not report a burst as a huge rate (Java's `Rate.windowSize`).
    fn elapsed_ms(&mut self, now: u64) -> u64 {
        self.purge(now);
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now);
        let mut elapsed = now.saturating_sub(oldest);
        let full = elapsed / self.cfg.window_ms;
        let min_full = self.cfg.samples as u64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * self.cfg.window_ms;
        }
        elapsed
    }

    /// Sum of the window's values per second (Java's `Rate`).
    pub(crate) fn rate(&mut self, now: u64) -> f64 {
        let sum = self.sum(now);
        per_second(sum, self.elapsed_ms(now))
    }

    /// Values recorded per second (Java's `Rate` over a `WindowedCount`).
    pub(crate) fn count_rate(&mut self, now: u64) -> f64 {
        let count = self.count(now) as f64;
        per_second(count, self.elapsed_ms(now))
    }

    /// Sum of every value ever recorded (Java's `CumulativeSum`).
    pub(crate) fn total_sum(&self) -> f64 {
        self.total_sum
    }

    /// Number of values ever recorded (Java's `CumulativeCount`).
    pub(crate) fn total_count(&self) -> u64 {
        self.total_count
    }

    /// The last value recorded; NaN before the first (Java's `Value`).
    pub(crate) fn last(&self) -> f64 {
        self.last
    }
}

fn per_second(value: f64, elapsed_ms: u64) -> f64 {
    if elapsed_ms == 0 {
        return 0.0;
    }
    value * 1000.0 / elapsed_ms as f64
}

/// Milliseconds on a monotonic clock shared by every sensor of the process.
pub(crate) fn now_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    start.elapsed().as_millis() as u64
}

/// Samples behind a lock: recorded once per batch, request or poll, never per record.
#[derive(Debug)]
pub(crate) struct Sensor {
    samples: Mutex<Samples>,
    enabled: bool,
    #[cfg(feature = "metrics")]
    pub(super) facade: std::sync::OnceLock<super::facade::Facade>,
}

impl Sensor {
    pub(crate) fn new(cfg: SampleConfig, enabled: bool) -> Self {
        Sensor {
            samples: Mutex::new(Samples::new(cfg)),
            enabled,
            #[cfg(feature = "metrics")]
            facade: std::sync::OnceLock::new(),
        }
    }

    /// Records `value` now (nothing when its recording level is off).
    pub(crate) fn record(&self, value: f64) {
        if !self.enabled {
            return;
        }
        self.record_at(value, now_ms());
    }

    /// Records each of `values` under one lock and one clock read: a request's batches (at
    /// 10,000 partitions a request holds thousands, and a clock read and lock per value were
    /// 3% of the producer's samples).
    pub(crate) fn record_all(&self, values: impl IntoIterator<Item = f64>) {
        if !self.enabled {
            return;
        }
        let now = now_ms();
        let mut samples = self.lock();
        #[cfg(feature = "metrics")]
        let facade = self.facade.get();
        for value in values {
            samples.record(value, now);
            #[cfg(feature = "metrics")]
            if let Some(f) = facade {
                f.record(value);
            }
        }
    }

    pub(crate) fn record_at(&self, value: f64, now: u64) {
        self.lock().record(value, now);
        #[cfg(feature = "metrics")]
        if let Some(f) = self.facade.get() {
            f.record(value);
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Samples> {
        // Samples hold plain numbers: a panic mid-update leaves them usable.
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Samples {
        Samples::new(SampleConfig {
            samples: 2,
            window_ms: 1000,
        })
    }

    #[test]
    fn avg_and_max_cover_the_live_samples_only() {
        let mut s = samples();
        s.record(10.0, 0);
        s.record(30.0, 500);
        assert_eq!(s.avg(900), 20.0);
        assert_eq!(s.max(900), 30.0);
        // The second window starts a new sample; the first is still live.
        s.record(2.0, 1200);
        assert_eq!(s.avg(1500), 14.0);
        assert_eq!(s.max(1500), 30.0);
        // At 2000 the first sample (started at 0) is two windows old: gone.
        assert_eq!(s.avg(2000), 2.0);
        assert_eq!(s.max(2000), 2.0);
        // Then the second one too.
        assert!(s.avg(3200).is_nan());
        assert!(s.max(3200).is_nan());
        // Totals never expire.
        assert_eq!(s.total_sum(), 42.0);
        assert_eq!(s.total_count(), 3);
        assert_eq!(s.last(), 2.0);
    }

    #[test]
    fn a_third_window_reuses_the_oldest_sample() {
        let mut s = samples();
        s.record(1.0, 0);
        s.record(2.0, 1000);
        s.record(4.0, 2000);
        // Samples started at 1000 (2.0) and 2000 (4.0).
        assert_eq!(s.sum(2100), 6.0);
        assert_eq!(s.count(2100), 2);
    }

    #[test]
    fn rate_divides_by_at_least_samples_minus_one_windows() {
        let mut s = samples();
        // 100 at t=0, read at t=500: 500 ms elapsed, no full window of the one required:
        // one window (1000 ms) is added, 1500 ms in all (as Java's Rate).
        s.record(100.0, 0);
        assert_eq!(s.rate(500), 100.0 * 1000.0 / 1500.0);
        assert_eq!(s.count_rate(500), 1000.0 / 1500.0);
        // At t=1500, a second sample: elapsed from the oldest start (0) is 1500 ms.
        s.record(200.0, 1500);
        assert_eq!(s.rate(1500), 200.0);
        assert_eq!(s.count_rate(1500), 2.0 * 1000.0 / 1500.0);
    }

    #[test]
    fn rate_of_an_unused_sensor_is_zero() {
        let mut s = samples();
        assert_eq!(s.rate(10_000), 0.0);
        assert_eq!(s.count(10_000), 0);
        assert!(s.last().is_nan());
    }

    #[test]
    fn values_recorded_together_count_as_each_recorded_alone() {
        let together = Sensor::new(SampleConfig::default(), true);
        together.record_all([3.0, 9.0, 6.0]);
        let s = together.lock();
        assert_eq!(s.total_count(), 3);
        assert_eq!(s.total_sum(), 18.0);
        assert_eq!(s.last(), 6.0);
        drop(s);
        let now = now_ms();
        assert_eq!(together.lock().max(now), 9.0);
        assert_eq!(together.lock().avg(now), 6.0);
        let off = Sensor::new(SampleConfig::default(), false);
        off.record_all([1.0]);
        assert_eq!(off.lock().total_count(), 0);
    }

    #[test]
    fn a_disabled_sensor_records_nothing() {
        let sensor = Sensor::new(SampleConfig::default(), false);
        sensor.record(5.0);
        assert_eq!(sensor.lock().total_count(), 0);
        let sensor = Sensor::new(SampleConfig::default(), true);
        sensor.record(5.0);
        assert_eq!(sensor.lock().total_count(), 1);
    }
}

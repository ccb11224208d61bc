//! Export through the `metrics` crate: each sensor also feeds the handles registered with the
//! recorder installed when its client was created.

use std::sync::Arc;

use super::{Sensor, Stat};

/// What one recorded value updates in the facade.
#[derive(Debug)]
enum Handle {
    /// Adds the value (a `-total` sum).
    Sum(::metrics::Counter),
    /// Adds one per value (a `-total` count).
    Count(::metrics::Counter),
    /// The distribution behind `-avg` and `-max`.
    Histogram(::metrics::Histogram),
    /// The last value.
    Gauge(::metrics::Gauge),
}

#[derive(Debug, Default)]
pub(crate) struct Facade {
    handles: Vec<Handle>,
}

impl Facade {
    pub(crate) fn record(&self, value: f64) {
        for h in &self.handles {
            match h {
                // Counters are whole numbers: sums here are records, bytes and milliseconds.
                Handle::Sum(c) => c.increment(value.max(0.0).round() as u64),
                Handle::Count(c) => c.increment(1),
                Handle::Histogram(h) => h.record(value),
                Handle::Gauge(g) => g.set(value),
            }
        }
    }
}

/// `kafka.<group>.<name>`, with `-avg`/`-max` dropped for the histogram they both read.
fn facade_name(group: &str, name: &str, stat: Stat) -> String {
    let base = match stat {
        Stat::Avg | Stat::Max => name
            .strip_suffix("-avg")
            .or_else(|| name.strip_suffix("-max"))
            .unwrap_or(name),
        _ => name,
    };
    format!("kafka.{group}.{base}")
}

/// Registers the handles of every statistic listed for `sensor` (all at once: a sensor's
/// facade is set once).
pub(crate) fn register(
    group: &str,
    tags: &[(&'static str, String)],
    sensor: &Arc<Sensor>,
    stats: &[super::StatSpec],
) {
    let _ = sensor.facade.set(handles(group, tags, stats));
}

/// The handles of `stats`, registered with the installed recorder.
pub(crate) fn handles(
    group: &str,
    tags: &[(&'static str, String)],
    stats: &[super::StatSpec],
) -> Facade {
    let labels: Vec<::metrics::Label> = tags
        .iter()
        .map(|(k, v)| ::metrics::Label::new(*k, v.clone()))
        .collect();
    let mut handles = Vec::new();
    let mut histogram = false;
    for &(name, stat, description) in stats {
        let full = facade_name(group, name, stat);
        match stat {
            Stat::Total => {
                ::metrics::describe_counter!(full.clone(), description);
                handles.push(Handle::Sum(::metrics::counter!(full, labels.clone())));
            }
            Stat::Count => {
                ::metrics::describe_counter!(full.clone(), description);
                handles.push(Handle::Count(::metrics::counter!(full, labels.clone())));
            }
            Stat::Avg | Stat::Max if !histogram => {
                histogram = true;
                ::metrics::describe_histogram!(full.clone(), description);
                handles.push(Handle::Histogram(::metrics::histogram!(
                    full,
                    labels.clone()
                )));
            }
            Stat::Value => {
                ::metrics::describe_gauge!(full.clone(), description);
                handles.push(Handle::Gauge(::metrics::gauge!(full, labels.clone())));
            }
            // Rates come from the counters (PromQL's `rate()`).
            _ => {}
        }
    }
    Facade { handles }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_java_names_under_their_group() {
        assert_eq!(
            facade_name("producer-metrics", "record-send-total", Stat::Total),
            "kafka.producer-metrics.record-send-total"
        );
        assert_eq!(
            facade_name("producer-metrics", "request-latency-max", Stat::Max),
            "kafka.producer-metrics.request-latency"
        );
    }
}

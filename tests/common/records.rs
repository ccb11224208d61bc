//! Records as the peers print them (`tests/java/JavaPeer.java` and
//! `tests/interop/rdkafka_consumer.py` write the same tab-separated, hex-encoded `R` lines), ours
//! in the same shape, and the comparison of what was written with what was read.

use std::collections::{BTreeMap, BTreeSet};

use ferrokafka::ConsumerRecord;
use ferrokafka::consumer::TopicPartition;
use ferrokafka::record::TimestampType;

pub fn to_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 0xf)] as char);
    }
    s
}

pub fn from_hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

pub fn opt_hex(s: &str) -> Option<Vec<u8>> {
    (s != "-").then(|| from_hex(s))
}

/// A record as either client sees it, in the peer's terms.
#[derive(Clone, PartialEq, Eq)]
pub struct Rec {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// `create`, `append` or `none`.
    pub ts_type: String,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Key bytes (UTF-8 of the Java `String`) and value, in order.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Text when it is printable UTF-8, else hex.
        let b = |v: Option<&[u8]>| match v {
            None => "null".to_string(),
            Some(v) => match std::str::from_utf8(v) {
                Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
                _ => format!("0x{}", to_hex(v)),
            },
        };
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{}={}", b(Some(k)), b(v.as_deref())))
            .collect();
        write!(
            f,
            "{}-{}@{} {}:{} key={} value={} headers=[{}]",
            self.topic,
            self.partition,
            self.offset,
            self.ts_type,
            self.timestamp,
            b(self.key.as_deref()),
            b(self.value.as_deref()),
            headers.join(", ")
        )
    }
}

impl Rec {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&self.topic, self.partition)
    }
}

/// Parses the fields after `R` of a record line.
pub fn parse_record(fields: &[&str], line: &str) -> Rec {
    assert_eq!(fields.len(), 8, "bad record line {line:?}");
    let num = |s: &str| -> i64 { s.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")) };
    let headers = if fields[7].is_empty() {
        Vec::new()
    } else {
        fields[7]
            .split(',')
            .map(|h| {
                let (k, v) = h
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header {h:?} in {line:?}"));
                (from_hex(k), opt_hex(v))
            })
            .collect()
    };
    Rec {
        topic: fields[0].to_string(),
        partition: num(fields[1]) as i32,
        offset: num(fields[2]),
        ts_type: fields[3].to_string(),
        timestamp: num(fields[4]),
        key: opt_hex(fields[5]),
        value: opt_hex(fields[6]),
        headers,
    }
}

/// The `R` lines of the peer's output (any other line is an error).
pub fn parse_records(stdout: &str) -> Vec<Rec> {
    stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields[0], "R", "unexpected line {line:?}");
            parse_record(&fields[1..], line)
        })
        .collect()
}

pub fn ts_type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "create",
        TimestampType::LogAppendTime => "append",
    }
}

/// A record our consumer returned, in the peer's terms.
pub fn from_ours(r: &ConsumerRecord) -> Rec {
    Rec {
        topic: r.topic.to_string(),
        partition: r.partition,
        offset: r.offset,
        ts_type: ts_type_name(r.timestamp_type).to_string(),
        timestamp: r.timestamp,
        key: r.key.as_ref().map(|b| b.to_vec()),
        value: r.value.as_ref().map(|b| b.to_vec()),
        headers: r
            .headers
            .iter()
            .map(|h| {
                (
                    h.key.as_bytes().to_vec(),
                    h.value.as_ref().map(|b| b.to_vec()),
                )
            })
            .collect(),
    }
}

pub fn by_partition(records: impl IntoIterator<Item = Rec>) -> BTreeMap<TopicPartition, Vec<Rec>> {
    let mut out: BTreeMap<TopicPartition, Vec<Rec>> = BTreeMap::new();
    for r in records {
        out.entry(r.topic_partition()).or_default().push(r);
    }
    out
}

/// For each record read (in order), the offset the writer reported for the same content, as
/// runs `a..=b`: shows reordering, loss or duplication at a glance.
pub fn written_offsets(want: &[Rec], got: &[Rec]) -> String {
    let content = |r: &Rec| {
        (
            r.key.clone(),
            r.value.clone(),
            r.headers.clone(),
            r.timestamp,
        )
    };
    let at: BTreeMap<_, i64> = want.iter().map(|r| (content(r), r.offset)).collect();
    let mut runs: Vec<(Option<i64>, Option<i64>)> = Vec::new();
    for r in got {
        let o = at.get(&content(r)).copied();
        match runs.last_mut() {
            Some((_, Some(end))) if o == Some(*end + 1) => *end += 1,
            _ => runs.push((o, o)),
        }
    }
    let show = |o: Option<i64>| o.map_or("?".to_string(), |o| o.to_string());
    runs.iter()
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if a != b => format!("{a}..={b}"),
            _ => show(*a),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `got` (in the order read) must equal `want` (any order) partition by partition, in offset
/// order, with nothing missing or extra.
pub fn assert_same_records(what: &str, want: Vec<Rec>, got: Vec<Rec>) {
    let mut want = by_partition(want);
    for recs in want.values_mut() {
        recs.sort_by_key(|r| r.offset);
    }
    let got = by_partition(got);
    let want_parts: BTreeSet<_> = want.keys().collect();
    let got_parts: BTreeSet<_> = got.keys().collect();
    assert_eq!(got_parts, want_parts, "{what}: partitions read");
    for (tp, want) in &want {
        let got = &got[tp];
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "{what}: {tp} read out of order or twice: {:?}",
            &offsets[..offsets.len().min(50)]
        );
        if let Some(i) = (0..want.len().min(got.len())).find(|&i| want[i] != got[i]) {
            panic!(
                "{what}: {tp}: record {i} differs:\n  written: {:?}\n  read:    {:?}\n\
                 the partition as read, by the offset each record was written at \
                 (`?` = not written):\n  {}",
                want[i],
                got[i],
                written_offsets(want, got)
            );
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: {tp}: {} records written, {} read",
            want.len(),
            got.len()
        );
    }
}

/// `0..=9 4..=12` for 0,1,...,9,4,5,...,12.
pub fn offset_runs(offsets: impl IntoIterator<Item = i64>) -> String {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for o in offsets {
        match runs.last_mut() {
            Some((_, end)) if o == *end + 1 => *end = o,
            _ => runs.push((o, o)),
        }
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}..={b}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

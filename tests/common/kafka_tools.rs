//! Runs Apache Kafka's own command-line tools from the jars the harness resolved, to read back
//! what the admin client did.

use std::process::Command;

use super::broker::kafka_libs;

/// Runs `class` (e.g. `org.apache.kafka.tools.ConfigCommand`) with `args`; panics with its
/// stderr when it fails. Returns stdout.
pub fn run(class: &str, args: &[&str]) -> String {
    let cp = format!("{}/*", kafka_libs().display());
    let out = Command::new("java")
        .args(["-Xmx256m", "-cp", &cp, class])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run java {class}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{class} {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One config line of `kafka-configs --describe`: `name=value sensitive=B synonyms={...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLine {
    pub name: String,
    /// `None` where the tool prints `null`.
    pub value: Option<String>,
    pub sensitive: bool,
    /// `SOURCE:name=value` per synonym, in the tool's order.
    pub synonyms: Vec<String>,
}

/// The config lines of `kafka-configs --describe` output.
pub fn parse_config_lines(out: &str) -> Vec<ConfigLine> {
    let mut lines = Vec::new();
    for l in out.lines().filter(|l| l.starts_with("  ")) {
        let l = l.trim();
        let Some(s) = l.rfind(" sensitive=") else {
            continue;
        };
        let (nv, rest) = l.split_at(s);
        let (name, value) = nv.split_once('=').expect("name=value");
        let rest = rest
            .trim_start()
            .strip_prefix("sensitive=")
            .expect("sensitive");
        let (sensitive, syn) = rest.split_once(" synonyms=").expect("synonyms");
        let syn = syn.trim_start_matches('{').trim_end_matches('}');
        lines.push(ConfigLine {
            name: name.to_string(),
            value: (value != "null").then(|| value.to_string()),
            sensitive: sensitive == "true",
            synonyms: if syn.is_empty() {
                Vec::new()
            } else {
                syn.split(", ").map(String::from).collect()
            },
        });
    }
    lines
}

/// One row of `kafka-consumer-groups --describe --group G`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagRow {
    pub topic: String,
    pub partition: i32,
    pub current_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

/// The rows of `kafka-consumer-groups --describe --group G` output.
pub fn parse_lag_rows(out: &str, group: &str) -> Vec<LagRow> {
    let num = |s: &str| (s != "-").then(|| s.parse::<i64>().expect("a number"));
    let text = |s: &str| (s != "-").then(|| s.to_string());
    out.lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.len() == 9 && c[0] == group).then(|| LagRow {
                topic: c[1].to_string(),
                partition: c[2].parse().expect("partition"),
                current_offset: num(c[3]),
                log_end_offset: num(c[4]),
                lag: num(c[5]),
                consumer_id: text(c[6]),
                host: text(c[7]),
                client_id: text(c[8]),
            })
        })
        .collect()
}

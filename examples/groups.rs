//! `groups`: consumer groups like `kafka-consumer-groups`: list, describe (the lag table),
//! reset offsets, delete.
//!
//! ```text
//! cargo run --example groups -- --bootstrap localhost:9092 --list
//! cargo run --example groups -- --describe --group G
//! cargo run --example groups -- --reset-offsets --group G --topic T --to-earliest [--execute]
//! cargo run --example groups -- --reset-offsets --group G --topic T --shift-by -5 --execute
//! cargo run --example groups -- --reset-offsets --group G --topic T --to-datetime 2024-05-01T12:00:00
//! cargo run --example groups -- --delete --group G
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use ferrokafka::admin::OffsetSpec;
use ferrokafka::config::IsolationLevel;
use ferrokafka::consumer::OffsetAndMetadata;
use ferrokafka::{AdminClient, AdminConfig, TopicPartition};

#[derive(Parser)]
#[command(group(ArgGroup::new("action").required(true)
    .args(["list", "describe", "reset_offsets", "delete"])))]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    /// Client property `key=value` (repeatable), e.g. `-X security.protocol=SASL_SSL`.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    props: Vec<String>,
    #[arg(long)]
    list: bool,
    #[arg(long)]
    describe: bool,
    #[arg(long)]
    reset_offsets: bool,
    #[arg(long)]
    delete: bool,
    #[arg(long)]
    group: Option<String>,
    /// The topic whose offsets --reset-offsets moves (all its partitions).
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    to_earliest: bool,
    #[arg(long)]
    to_latest: bool,
    /// `YYYY-MM-DDTHH:MM:SS[.mmm]` (UTC) or milliseconds since the epoch.
    #[arg(long)]
    to_datetime: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// Apply the reset (without it the plan is only printed, as kafka-consumer-groups does).
    #[arg(long)]
    execute: bool,
}

type Failure = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn admin(bootstrap: &str, props: &[String]) -> Result<AdminClient, Failure> {
    let mut b = AdminConfig::builder().bootstrap_servers(bootstrap);
    for p in props {
        let (k, v) = p
            .split_once('=')
            .ok_or(format!("-X {p}: expected key=value"))?;
        b = b.set(k, v);
    }
    Ok(AdminClient::new(b.build()?))
}

async fn run(args: Args) -> Result<(), Failure> {
    let admin = admin(&args.bootstrap, &args.props)?;
    if args.list {
        for g in admin.list_groups().await? {
            println!("{}", g.group_id);
        }
        return Ok(());
    }
    let group = args.group.as_deref().ok_or("--group is required")?;
    if args.describe {
        return describe(&admin, group).await;
    }
    if args.delete {
        let r = admin.delete_consumer_groups(&[group]).await?;
        r[group].as_ref().map_err(Clone::clone)?;
        println!("Deletion of requested consumer groups ('{group}') was successful.");
        return Ok(());
    }
    reset(&admin, group, &args).await
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

async fn describe(admin: &AdminClient, group: &str) -> Result<(), Failure> {
    let rows = admin
        .consumer_group_lag(group, IsolationLevel::ReadUncommitted)
        .await?;
    println!(
        "{:<24} {:<24} {:<10} {:<15} {:<15} {:<10} {:<50} {:<16} CLIENT-ID",
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST"
    );
    for r in rows {
        println!(
            "{:<24} {:<24} {:<10} {:<15} {:<15} {:<10} {:<50} {:<16} {}",
            group,
            r.partition.topic,
            r.partition.partition,
            dash(r.committed),
            dash(r.log_end_offset),
            dash(r.lag),
            dash(r.member_id),
            dash(r.host),
            dash(r.client_id)
        );
    }
    Ok(())
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.mmm]` in UTC, or of a plain number.
fn parse_datetime(s: &str) -> Result<i64, Failure> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("--to-datetime {s}: expected YYYY-MM-DDTHH:MM:SS[.mmm]");
    let (date, time) = s.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (hms, millis) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [y, m, day] = d[..] else {
        return Err(bad().into());
    };
    let [hh, mm, ss] = t[..] else {
        return Err(bad().into());
    };
    let ms: i64 = millis.parse().map_err(|_| bad())?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

async fn offsets(
    admin: &AdminClient,
    tps: &[TopicPartition],
    spec: OffsetSpec,
) -> Result<BTreeMap<TopicPartition, i64>, Failure> {
    let mut out = BTreeMap::new();
    for (tp, r) in admin
        .list_offsets(tps.iter().map(|tp| (tp.clone(), spec)))
        .await?
    {
        out.insert(tp, r?.offset);
    }
    Ok(out)
}

async fn reset(admin: &AdminClient, group: &str, args: &Args) -> Result<(), Failure> {
    let topic = args
        .topic
        .as_deref()
        .ok_or("--reset-offsets needs --topic")?;
    let described = admin.describe_topics(&[topic]).await?;
    let t = described[topic].as_ref().map_err(Clone::clone)?;
    let tps: Vec<TopicPartition> = t
        .partitions
        .iter()
        .map(|p| TopicPartition::new(topic, p.partition))
        .collect();
    let earliest = offsets(admin, &tps, OffsetSpec::Earliest).await?;
    let latest = offsets(admin, &tps, OffsetSpec::Latest).await?;
    let target: BTreeMap<TopicPartition, i64> = if args.to_earliest {
        earliest.clone()
    } else if args.to_latest {
        latest.clone()
    } else if let Some(when) = &args.to_datetime {
        let at = offsets(admin, &tps, OffsetSpec::Timestamp(parse_datetime(when)?)).await?;
        // No record at or after that time: the log end, as Kafka's tool does.
        at.into_iter()
            .map(|(tp, o)| {
                let o = if o < 0 { latest[&tp] } else { o };
                (tp, o)
            })
            .collect()
    } else if let Some(n) = args.shift_by {
        let committed = admin.list_consumer_group_offsets(group, Some(&tps)).await?;
        tps.iter()
            .map(|tp| {
                let from = committed.get(tp).map_or(latest[tp], |o| o.offset);
                (tp.clone(), (from + n).clamp(earliest[tp], latest[tp]))
            })
            .collect()
    } else {
        return Err(
            "--reset-offsets needs --to-earliest, --to-latest, --to-datetime or --shift-by".into(),
        );
    };
    println!(
        "{:<24} {:<24} {:<10} NEW-OFFSET",
        "GROUP", "TOPIC", "PARTITION"
    );
    for (tp, o) in &target {
        println!("{:<24} {:<24} {:<10} {o}", group, tp.topic, tp.partition);
    }
    if !args.execute {
        println!("(dry run: add --execute to apply)");
        return Ok(());
    }
    let offsets = target
        .into_iter()
        .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
        .collect();
    for (tp, r) in admin.alter_consumer_group_offsets(group, offsets).await? {
        r.map_err(|e| format!("{tp}: {e}"))?;
    }
    Ok(())
}

//! -C (partitions assigned by hand) and -G (a balanced group): records to stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use ferrokafka::consumer::{OffsetAndMetadata, Offsets};
use ferrokafka::{
    AdminClient, AdminConfig, ConsumerConfig, ConsumerRecord, KafkaConsumer, TopicPartition,
};

use crate::Fail;
use crate::args::{Args, Start};
use crate::format::Output;

/// How long one poll waits: short enough that -e notices the end promptly.
const POLL: Duration = Duration::from_millis(200);

/// -C: every partition of -t (or -p alone), from -o (default: the beginning).
pub async fn run_simple(args: &Args) -> Result<(), Fail> {
    let topic = args.topic()?.to_string();
    let props = args.properties()?;
    let start = args.start()?.unwrap_or(Start::Beginning);
    if start == Start::Stored && !props.iter().any(|(k, _)| k == "group.id") {
        return Err(Fail::usage("-o stored needs a group: -X group.id=<group>"));
    }
    let mut session = Session::new(args)?;
    let partitions = partitions_of(args, &topic, &props).await?;
    let mut consumer = KafkaConsumer::new(consumer_config(args, &props, None)?)?;
    consumer.assign(partitions.clone())?;
    seek(&mut consumer, &partitions, start).await?;
    let result = session.consume(&mut consumer, None).await;
    let closed = consumer.close().await;
    result.and(closed.map_err(Fail::from))
}

/// -G: a member of the group, subscribed to the positional topics (or -t). Starts at the
/// committed offsets (else per auto.offset.reset), or at -o when given, as kcat does; commits
/// what it has written, so that the next run of the group goes on after it.
pub async fn run_group(args: &Args, group: &str) -> Result<(), Fail> {
    let mut topics = args.topics.clone();
    topics.extend(args.topic.clone());
    if topics.is_empty() {
        return Err(Fail::usage(
            "-G needs topics: ferrokat -G <group> topic1 topic2 ..",
        ));
    }
    let props = args.properties()?;
    let start = args.start()?.filter(|s| *s != Start::Stored);
    let mut session = Session::new(args)?;
    let mut consumer = KafkaConsumer::new(consumer_config(args, &props, Some(group))?)?;
    consumer.subscribe(topics)?;
    let result = session.consume(&mut consumer, Some(start)).await;
    let closed = consumer.close().await;
    result.and(closed.map_err(Fail::from))
}

fn consumer_config(
    args: &Args,
    props: &[(String, String)],
    group: Option<&str>,
) -> Result<ConsumerConfig, Fail> {
    let mut b = ConsumerConfig::builder();
    if let Some(brokers) = &args.brokers {
        b = b.bootstrap_servers(brokers);
    }
    if let Some(g) = group {
        // The group's offsets are committed as records are written (never ahead of them, as
        // an auto-commit of polled positions would be when -c stops midway through a poll).
        b = b.group_id(g).set("enable.auto.commit", "false");
    }
    for (k, v) in props {
        b = b.set(k, v);
    }
    Ok(b.build()?)
}

/// The partitions -C reads: -p alone, or every partition of the topic.
async fn partitions_of(
    args: &Args,
    topic: &str,
    props: &[(String, String)],
) -> Result<Vec<TopicPartition>, Fail> {
    // The admin client gets the -X properties it knows (connection and security ones): the
    // consumer's own config check has already named any unknown key.
    let mut b = AdminConfig::builder();
    if let Some(brokers) = &args.brokers {
        b = b.bootstrap_servers(brokers);
    }
    for (k, v) in props {
        if ferrokafka::config::lookup(ferrokafka::config::Client::Admin, k).is_some() {
            b = b.set(k, v);
        }
    }
    // Checked first, so that an unknown -X key fails as the consumer's config error.
    consumer_config(args, props, None)?;
    let admin = AdminClient::new(b.build()?);
    let mut described = admin.describe_topics(&[topic]).await?;
    admin.close();
    let description = described
        .remove(topic)
        .ok_or_else(|| Fail::new(format!("topic {topic} not described")))??;
    let all: Vec<i32> = description.partitions.iter().map(|p| p.partition).collect();
    match args.partition {
        Some(p) if p >= 0 => {
            if !all.contains(&p) {
                return Err(Fail::new(format!(
                    "topic {topic} partition {p} does not exist (it has {})",
                    all.len()
                )));
            }
            Ok(vec![TopicPartition::new(topic, p)])
        }
        _ => Ok(all
            .into_iter()
            .map(|p| TopicPartition::new(topic, p))
            .collect()),
    }
}

/// Positions `partitions` per -o.
async fn seek(
    consumer: &mut KafkaConsumer,
    partitions: &[TopicPartition],
    start: Start,
) -> Result<(), Fail> {
    match start {
        Start::Stored => {}
        Start::Beginning => consumer.seek_to_beginning(partitions)?,
        Start::End => consumer.seek_to_end(partitions)?,
        Start::Absolute(o) => {
            for tp in partitions {
                consumer.seek(tp, o)?;
            }
        }
        Start::FromEnd(n) => {
            let begin = consumer.beginning_offsets(partitions).await?;
            let end = consumer.end_offsets(partitions).await?;
            for tp in partitions {
                let (b, e) = (begin.get(tp).copied(), end.get(tp).copied());
                let (Some(b), Some(e)) = (b, e) else {
                    return Err(Fail::new(format!("no offsets found for {tp}")));
                };
                consumer.seek(tp, e.saturating_sub(n).max(b))?;
            }
        }
        Start::Timestamp(ts) => {
            let wanted: BTreeMap<TopicPartition, i64> =
                partitions.iter().map(|tp| (tp.clone(), ts)).collect();
            let found = consumer.offsets_for_times(&wanted).await?;
            let mut past_the_end = Vec::new();
            for tp in partitions {
                match found.get(tp).copied().flatten() {
                    Some(o) => consumer.seek(tp, o.offset)?,
                    // No record at or after the timestamp: only what comes next.
                    None => past_the_end.push(tp.clone()),
                }
            }
            consumer.seek_to_end(&past_the_end)?;
        }
    }
    Ok(())
}

/// One consuming run: output, -c, -e, and (in a group) the commits of what was written.
struct Session {
    output: Output,
    count: Option<u64>,
    exit_eof: bool,
    quiet: bool,
    unbuffered: bool,
    written: u64,
    at_end: BTreeSet<TopicPartition>,
}

impl Session {
    fn new(args: &Args) -> Result<Session, Fail> {
        let delimiter = args.message_delimiter()?;
        let output = if args.json {
            Output::json(delimiter)
        } else if let Some(f) = &args.format {
            Output::format(f, args.null)?
        } else {
            Output::plain(args.key_delimiter()?, delimiter, args.null)
        };
        Ok(Session {
            output,
            count: args.count,
            exit_eof: args.exit_eof,
            quiet: args.quiet,
            unbuffered: args.unbuffered,
            written: 0,
            at_end: BTreeSet::new(),
        })
    }

    fn done(&self) -> bool {
        self.count.is_some_and(|c| self.written >= c)
    }

    /// Polls until -c is reached, or -e sees every assigned partition at its end.
    /// `group`: `Some(start)` for a group member, where `start` (-o) positions each newly
    /// assigned partition.
    async fn consume(
        &mut self,
        consumer: &mut KafkaConsumer,
        group: Option<Option<Start>>,
    ) -> Result<(), Fail> {
        let mut stdout = std::io::stdout().lock();
        let mut known: BTreeSet<TopicPartition> = BTreeSet::new();
        // Ctrl-C ends the run as its end would: what was written is committed and the group
        // is left at close, so the next member does not wait out session.timeout.ms.
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        while !self.done() {
            // poll is cancel safe: nothing is lost when the signal wins.
            let records = tokio::select! {
                r = consumer.poll(POLL) => r?.into_vec(),
                _ = &mut interrupted => break,
            };
            let mut fresh = BTreeSet::new();
            if let Some(start) = group {
                let assigned = consumer.assignment();
                fresh = assigned.difference(&known).cloned().collect();
                self.at_end.retain(|tp| assigned.contains(tp));
                known = assigned;
                if let (Some(start), false) = (start, fresh.is_empty()) {
                    let parts: Vec<TopicPartition> = fresh.iter().cloned().collect();
                    seek(consumer, &parts, start).await?;
                } else {
                    fresh.clear();
                }
            }
            let mut buf = Vec::new();
            let mut commit = Offsets::new();
            let mut got = BTreeSet::new();
            for r in records
                .iter()
                .filter(|r| !fresh.contains(&r.topic_partition()))
            {
                if self.done() {
                    break;
                }
                self.output.write(r, &mut buf);
                self.written += 1;
                got.insert(r.topic_partition());
                commit.insert(r.topic_partition(), next_offset(r));
                if self.unbuffered {
                    write_out(&mut stdout, &mut buf)?;
                }
            }
            write_out(&mut stdout, &mut buf)?;
            if group.is_some()
                && !commit.is_empty()
                && let Err(e) = consumer.commit_offsets_sync(commit).await
            {
                // As kcat: a failed commit is reported, consumption goes on.
                eprintln!("% Commit failed: {e}");
            }
            if self.exit_eof && !self.done() && self.all_at_end(consumer, &got).await? {
                break;
            }
        }
        Ok(())
    }

    /// Whether every assigned partition is at its end (after this poll's records, `got`).
    async fn all_at_end(
        &mut self,
        consumer: &mut KafkaConsumer,
        got: &BTreeSet<TopicPartition>,
    ) -> Result<bool, Fail> {
        let assigned = consumer.assignment();
        if assigned.is_empty() {
            return Ok(false);
        }
        self.at_end.retain(|tp| !got.contains(tp));
        let mut unknown = Vec::new();
        let open: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !self.at_end.contains(*tp))
            .cloned()
            .collect();
        for tp in &open {
            match consumer.lag(tp) {
                Some(0) => self.reached(consumer, tp.clone()).await?,
                Some(_) => {}
                // No fetch has answered for it yet (an empty partition may stay so): asked.
                None if got.is_empty() => unknown.push(tp.clone()),
                None => {}
            }
        }
        if !unknown.is_empty() {
            let end = consumer.end_offsets(&unknown).await?;
            for tp in unknown {
                let e = end.get(&tp).copied();
                if e.is_some() && consumer.position(&tp).await.ok() >= e {
                    self.reached(consumer, tp).await?;
                }
            }
        }
        Ok(assigned.iter().all(|tp| self.at_end.contains(tp)))
    }

    async fn reached(
        &mut self,
        consumer: &mut KafkaConsumer,
        tp: TopicPartition,
    ) -> Result<(), Fail> {
        if !self.quiet {
            let at = consumer.position(&tp).await?;
            eprintln!(
                "% Reached end of topic {} [{}] at offset {at}",
                tp.topic, tp.partition
            );
        }
        self.at_end.insert(tp);
        Ok(())
    }
}

fn next_offset(r: &ConsumerRecord) -> OffsetAndMetadata {
    let mut o = OffsetAndMetadata::new(r.offset + 1);
    o.leader_epoch = r.leader_epoch;
    o
}

fn write_out(out: &mut impl Write, buf: &mut Vec<u8>) -> Result<(), Fail> {
    if !buf.is_empty() {
        out.write_all(buf)?;
        out.flush()?;
        buf.clear();
    }
    Ok(())
}

//! `topics`: create, list, describe, grow and delete topics, like `kafka-topics`.
//!
//! ```text
//! cargo run --example topics -- --bootstrap localhost:9092 --create --topic T --partitions 3 [--replication-factor 1] [--config k=v]
//! cargo run --example topics -- --list
//! cargo run --example topics -- --describe --topic T
//! cargo run --example topics -- --alter --topic T --partitions 6
//! cargo run --example topics -- --delete --topic T
//! ```

use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use ferrokafka::admin::{NewPartitions, NewTopic};
use ferrokafka::{AdminClient, AdminConfig};

#[derive(Parser)]
#[command(group(ArgGroup::new("action").required(true)
    .args(["create", "list", "describe", "alter", "delete"])))]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    /// Client property `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    props: Vec<String>,
    #[arg(long)]
    create: bool,
    #[arg(long)]
    list: bool,
    #[arg(long)]
    describe: bool,
    #[arg(long)]
    alter: bool,
    #[arg(long)]
    delete: bool,
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    partitions: Option<i32>,
    #[arg(long)]
    replication_factor: Option<i16>,
    /// Topic config `k=v` for --create (repeatable).
    #[arg(long)]
    config: Vec<String>,
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

async fn run(args: Args) -> Result<(), Failure> {
    let mut b = AdminConfig::builder().bootstrap_servers(&args.bootstrap);
    for p in &args.props {
        let (k, v) = p
            .split_once('=')
            .ok_or(format!("-X {p}: expected key=value"))?;
        b = b.set(k, v);
    }
    let admin = AdminClient::new(b.build()?);
    if args.list {
        for name in admin.list_topics().await?.keys() {
            println!("{name}");
        }
        return Ok(());
    }
    let topic = args.topic.as_deref().ok_or("--topic is required")?;
    if args.create {
        let mut t = NewTopic::with_defaults(topic);
        t.num_partitions = args.partitions;
        t.replication_factor = args.replication_factor;
        for kv in &args.config {
            let (k, v) = kv
                .split_once('=')
                .ok_or(format!("--config {kv}: expected k=v"))?;
            t = t.config(k, v);
        }
        admin.create_topics([t]).await?[topic]
            .as_ref()
            .map_err(Clone::clone)?;
        println!("Created topic {topic}.");
    } else if args.alter {
        let n = args.partitions.ok_or("--alter needs --partitions")?;
        admin
            .create_partitions([(topic.to_string(), NewPartitions::increase_to(n))])
            .await?[topic]
            .as_ref()
            .map_err(Clone::clone)?;
    } else if args.delete {
        admin.delete_topics(&[topic]).await?[topic]
            .as_ref()
            .map_err(Clone::clone)?;
    } else {
        let described = admin.describe_topics(&[topic]).await?;
        let t = described[topic].as_ref().map_err(Clone::clone)?;
        let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
        println!(
            "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {rf}",
            t.name,
            t.topic_id,
            t.partitions.len()
        );
        for p in &t.partitions {
            let join = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            println!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tOffline: {}",
                t.name,
                p.partition,
                p.leader
                    .as_ref()
                    .map_or("none".into(), |n| n.id.to_string()),
                join(&p.replicas),
                join(&p.isr),
                join(&p.offline_replicas)
            );
        }
    }
    Ok(())
}

//! `configs`: describe and alter topic, broker and group configs, like `kafka-configs`.
//!
//! ```text
//! cargo run --example configs -- --bootstrap localhost:9092 --entity-type topics --entity-name T --describe [--all]
//! cargo run --example configs -- --entity-type topics --entity-name T --alter --add-config retention.ms=60000,max.message.bytes=2000000
//! cargo run --example configs -- --entity-type brokers --entity-name 1 --alter --delete-config log.cleaner.threads
//! ```

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use ferrokafka::admin::{AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource};
use ferrokafka::{AdminClient, AdminConfig};

#[derive(Clone, Copy, ValueEnum)]
enum EntityType {
    Topics,
    Brokers,
    Groups,
}

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    /// Client property `key=value` (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    props: Vec<String>,
    #[arg(long, value_enum)]
    entity_type: EntityType,
    /// Topic name, broker id, or group id.
    #[arg(long)]
    entity_name: String,
    #[arg(long, conflicts_with = "alter")]
    describe: bool,
    /// With --describe: every config, not only those set on the entity.
    #[arg(long)]
    all: bool,
    #[arg(long)]
    alter: bool,
    /// `k=v[,k=v]`: configs to set.
    #[arg(long, value_delimiter = ',')]
    add_config: Vec<String>,
    /// `k[,k]`: configs to remove (back to the next level's value).
    #[arg(long, value_delimiter = ',')]
    delete_config: Vec<String>,
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

/// Whether the value is set on the entity itself (what kafka-configs shows without --all).
fn set_on_entity(kind: EntityType, e: &ConfigEntry) -> bool {
    e.source
        == match kind {
            EntityType::Topics => ConfigSource::DynamicTopicConfig,
            EntityType::Brokers => ConfigSource::DynamicBrokerConfig,
            EntityType::Groups => ConfigSource::GroupConfig,
        }
}

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("null")
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
    let (resource, kind) = match args.entity_type {
        EntityType::Topics => (ConfigResource::topic(&args.entity_name), "topic"),
        EntityType::Brokers => (
            ConfigResource::broker(
                args.entity_name
                    .parse()
                    .map_err(|_| "broker id: a number")?,
            ),
            "broker",
        ),
        EntityType::Groups => (ConfigResource::group(&args.entity_name), "group"),
    };
    if args.alter {
        let mut ops = Vec::new();
        for kv in &args.add_config {
            let (k, v) = kv
                .split_once('=')
                .ok_or(format!("--add-config {kv}: expected k=v"))?;
            ops.push(AlterConfigOp::set(k, v));
        }
        ops.extend(args.delete_config.iter().map(AlterConfigOp::delete));
        let r = admin
            .incremental_alter_configs([(resource.clone(), ops)])
            .await?;
        r[&resource].as_ref().map_err(Clone::clone)?;
        println!("Completed updating config for {kind} {}.", args.entity_name);
        return Ok(());
    }
    if !args.describe {
        return Err("one of --describe or --alter is required".into());
    }
    let described = admin.describe_configs([resource.clone()]).await?;
    let configs = described[&resource].as_ref().map_err(Clone::clone)?;
    let scope = if args.all { "All" } else { "Dynamic" };
    println!("{scope} configs for {kind} {} are:", args.entity_name);
    for e in configs
        .values()
        .filter(|e| args.all || set_on_entity(args.entity_type, e))
    {
        let synonyms: Vec<String> = e
            .synonyms
            .iter()
            .map(|s| format!("{}:{}={}", s.source.name(), s.name, show(&s.value)))
            .collect();
        println!(
            "  {}={} sensitive={} synonyms={{{}}}",
            e.name,
            show(&e.value),
            e.is_sensitive,
            synonyms.join(", ")
        );
    }
    Ok(())
}

//! `consume`: a topic's records to stdout, one value per line, like `kcat -C`.
//! `cargo run --example consume -- --topic t1 --from-beginning --max-messages 2 --verbose`

use std::{io::BufWriter, io::Write, process::ExitCode, time::Duration};

use clap::Parser;
use ferrokafka::config::Client;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, consumer::*};

#[path = "support/client_props.rs"]
mod client_props;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long, help = "Join this group, committing what was printed")]
    group: Option<String>,
    #[arg(long = "from-beginning", help = "Start at the first offset")]
    beginning: bool,
    #[arg(long)]
    max_messages: Option<usize>,
    #[arg(long, help = "Print partition<TAB>offset<TAB>key<TAB>value")]
    verbose: bool,
    /// Any client property (-X KEY=VALUE, --config FILE), e.g. for a secured cluster.
    #[command(flatten)]
    client: client_props::ClientProps,
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut admin = AdminConfig::builder().bootstrap_servers(&args.bootstrap);
    admin = admin.set("default.api.timeout.ms", "5000");
    for (k, v) in args.client.for_client(Client::Admin)? {
        admin = admin.set(k, v);
    }
    let admin = AdminClient::new(admin.build()?);
    let described = admin.describe_topics(&[&args.topic]).await?;
    let topic = described[&args.topic].as_ref().map_err(Clone::clone)?;
    let reset = if args.beginning { "earliest" } else { "latest" };
    let mut props = vec![
        ("bootstrap.servers", &*args.bootstrap),
        ("default.api.timeout.ms", "5000"),
        ("enable.auto.commit", "false"), // we commit what was printed, on exit
        ("auto.offset.reset", reset),
    ];
    props.extend(args.group.as_deref().map(|g| ("group.id", g)));
    let mut props: Vec<(String, String)> = props
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    props.extend(args.client.for_client(Client::Consumer)?);
    let mut consumer = KafkaConsumer::new(ConsumerConfig::from_properties(props)?)?;
    let all = topic.partitions.iter();
    match args.group {
        Some(_) => consumer.subscribe([&args.topic])?,
        None => consumer.assign(all.map(|p| TopicPartition::new(&args.topic, p.partition)))?,
    }
    let (mut out, mut next) = (BufWriter::new(std::io::stdout().lock()), Offsets::new());
    let (max, mut n) = (args.max_messages.unwrap_or(usize::MAX), 0);
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    while n < max {
        let records = tokio::select! {
            records = consumer.poll(Duration::from_secs(1)) => records?,
            _ = &mut ctrl_c => break,
        };
        for r in records.iter().take(max - n) {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
            if args.verbose {
                let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
                write!(out, "{}\t{}\t{key}\t", r.partition, r.offset)?;
            }
            writeln!(out, "{value}")?;
            next.insert(r.topic_partition(), OffsetAndMetadata::new(r.offset + 1));
            n += 1;
        }
        out.flush()?;
    }
    if args.group.is_some() && !next.is_empty() {
        consumer.commit_offsets_sync(next).await?;
    }
    consumer.close().await?;
    Ok(())
}

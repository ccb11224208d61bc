//! `produce`: one record per stdin line, like `kcat -P`. Exits non-zero if any record failed.
//! `printf 'k1:v1\nk2:v2\n' | cargo run --example produce -- --topic t1 --key-separator :`

use std::sync::{Arc, OnceLock, atomic::AtomicU64, atomic::Ordering::Relaxed};
use std::{io::BufRead, process::ExitCode, time::Duration};

use bytes::Bytes;
use clap::{Parser, builder::NonEmptyStringValueParser};
use ferrokafka::config::Client;
use ferrokafka::{AdminClient, AdminConfig, KafkaProducer, ProducerConfig, ProducerRecord};

#[path = "support/client_props.rs"]
mod client_props;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression: String,
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all"])]
    acks: String,
    /// The text before the first SEP is the key, the rest the value (no SEP: null key).
    #[arg(long, value_name = "SEP", value_parser = NonEmptyStringValueParser::new())]
    key_separator: Option<String>,
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
    described[&args.topic].as_ref().map_err(Clone::clone)?; // no such topic: fail now
    let mut props: Vec<(String, String)> = [
        ("bootstrap.servers", &*args.bootstrap),
        ("acks", &args.acks),
        ("compression.type", &args.compression),
        ("batch.size", "262144"),
        ("max.block.ms", "5000"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    props.extend(args.client.for_client(Client::Producer)?);
    let producer = KafkaProducer::new(ProducerConfig::from_properties(props)?)?;
    let (acked, first_error) = (Arc::new(AtomicU64::new(0)), Arc::new(OnceLock::new()));
    let rt = tokio::runtime::Handle::current();
    // Blocking buffered stdin reads, off the async workers; block_on waits for buffer.memory.
    let sent = tokio::task::block_in_place(|| -> Result<u64, Box<dyn std::error::Error>> {
        let mut sent = 0;
        for line in std::io::stdin().lock().split(b'\n') {
            let (acked, first_error) = (acked.clone(), first_error.clone());
            let record = record(&args.topic, line?, args.key_separator.as_deref());
            rt.block_on(producer.send_with_callback(record, move |r| match r {
                Ok(_) => _ = acked.fetch_add(1, Relaxed),
                Err(e) => _ = first_error.set(e),
            }))?;
            sent += 1;
        }
        Ok(sent)
    })?;
    producer.close(Duration::from_secs(30)).await; // delivers what is queued; callbacks run
    if let Some(e) = first_error.get() {
        let failed = sent - acked.load(Relaxed);
        return Err(format!("{failed} of {sent} records failed; first error: {e}").into());
    }
    eprintln!("produced {sent} records");
    Ok(())
}

fn record(topic: &str, line: Vec<u8>, sep: Option<&str>) -> ProducerRecord {
    let line = Bytes::from(line);
    let (sep, n) = (sep.map(str::as_bytes), sep.map_or(0, str::len));
    match sep.and_then(|s| line.windows(n).position(|w| w == s)) {
        Some(i) => ProducerRecord::new(topic, line.slice(i + n..)).key(line.slice(..i)),
        None => ProducerRecord::new(topic, line),
    }
}

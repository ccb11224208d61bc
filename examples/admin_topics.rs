//! Topic administration: create, list, describe and delete.
//!
//! `cargo run --example admin_topics -- --bootstrap localhost:9092 --topic admin-demo`

use clap::Parser;
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, ErrorCode};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "admin-demo")]
    topic: String,
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Leave the topic in place at the end.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = AdminConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .build()?;
    let admin = AdminClient::new(config);
    let topic = &args.topic;

    // One result per topic: a request can partly succeed.
    let new_topic = NewTopic::new(topic, args.partitions, 1).config("retention.ms", "3600000");
    let created = admin.create_topics([new_topic]).await?;
    match &created[topic] {
        Ok(()) => println!("created {topic}"),
        Err(e) if e.code() == Some(ErrorCode::TOPIC_ALREADY_EXISTS) => println!("{topic} exists"),
        Err(e) => return Err(e.clone().into()),
    }

    println!("topics:");
    for (name, listing) in admin.list_topics().await? {
        println!("  {name} (id {})", listing.topic_id);
    }

    let described = admin.describe_topics(&[topic]).await?;
    let description = described[topic].as_ref().map_err(Clone::clone)?;
    println!("{topic}:");
    for p in &description.partitions {
        let leader = p.leader.as_ref().map_or("none".into(), |n| n.addr());
        println!(
            "  partition {} leader {leader} replicas {:?} isr {:?}",
            p.partition, p.replicas, p.isr
        );
    }

    if !args.keep {
        let deleted = admin.delete_topics(&[topic]).await?;
        deleted[topic].as_ref().map_err(Clone::clone)?;
        println!("deleted {topic}");
    }
    Ok(())
}

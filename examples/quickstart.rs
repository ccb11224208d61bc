//! The main job, end to end against a broker: create a topic, describe the cluster and the topic.
//!
//! `cargo run --example quickstart -- --bootstrap localhost:9092`

use clap::Parser;
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, ErrorCode};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    /// Topic to create.
    #[arg(long, default_value = "quickstart")]
    topic: String,
    /// Partitions for the topic.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .build()?,
    );

    let cluster = admin.describe_cluster().await?;
    println!(
        "cluster {}",
        cluster.cluster_id.as_deref().unwrap_or("(no id)")
    );
    for n in &cluster.nodes {
        let role = if cluster.controller.as_ref() == Some(n) {
            " (controller)"
        } else {
            ""
        };
        println!("  broker {} at {}{role}", n.id, n.addr());
    }

    let created = admin
        .create_topics([NewTopic::new(&args.topic, args.partitions, 1)])
        .await?;
    match &created[&args.topic] {
        Ok(()) => println!("created topic {}", args.topic),
        Err(e) if e.code() == Some(ErrorCode::TOPIC_ALREADY_EXISTS) => {
            println!("topic {} already exists", args.topic)
        }
        Err(e) => return Err(e.clone().into()),
    }

    let described = admin.describe_topics(&[&args.topic]).await?;
    let topic = described[&args.topic].as_ref().map_err(Clone::clone)?;
    println!("topic {} (id {}):", topic.name, topic.topic_id);
    for p in &topic.partitions {
        let leader = p
            .leader
            .as_ref()
            .map_or("none".to_string(), |l| l.id.to_string());
        println!(
            "  partition {} leader {leader} epoch {} replicas {:?}",
            p.partition, p.leader_epoch, p.replicas
        );
    }
    Ok(())
}

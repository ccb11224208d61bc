//! The MockCluster as a standalone broker for benchmarks: prints `BOOTSTRAP host:port` and
//! serves until stdin closes. `--discard` acknowledges produced data without keeping it
//! (sequences still checked) so a run measures the client alone.

use clap::Parser;
use ferrokafka::mock::MockCluster;
use tokio::io::AsyncReadExt;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    discard: bool,
    /// Topics to create, as NAME:PARTITIONS.
    #[arg(long = "topic")]
    topics: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let cluster = MockCluster::builder()
        .brokers(1)
        .auto_create_topics(true, 1)
        .build()
        .await
        .unwrap_or_else(|e| ferrokafka_compare::fail("mock cluster", e));
    cluster.set_discard(args.discard);
    for t in &args.topics {
        let (name, n) = t.rsplit_once(':').unwrap_or((t, "1"));
        cluster.create_topic(name, n.parse().unwrap_or(1));
    }
    println!("BOOTSTRAP {}", cluster.bootstrap_servers());
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}

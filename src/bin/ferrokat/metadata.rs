//! -L: brokers, topics and partitions, in kcat's text layout or (-J) its JSON one.

use std::fmt::Write as _;

use ferrokafka::admin::{ClusterDescription, TopicDescription};
use ferrokafka::{AdminClient, AdminConfig};
use serde_json::json;

use crate::Fail;
use crate::args::Args;

/// One listed topic: its description, or the error the broker gave for it.
type Listed = (String, Result<TopicDescription, ferrokafka::Error>);

/// Prints the metadata of -t, or of every (non-internal) topic.
pub async fn run(args: &Args) -> Result<(), Fail> {
    let mut b = AdminConfig::builder();
    if let Some(brokers) = &args.brokers {
        b = b.bootstrap_servers(brokers);
    }
    for (k, v) in args.properties()? {
        b = b.set(k, v);
    }
    let config = b.build()?;
    let origin = config.common.bootstrap_servers.join(",");
    let admin = AdminClient::new(config);
    let cluster = admin.describe_cluster().await?;
    let names: Vec<String> = match &args.topic {
        Some(t) => vec![t.clone()],
        None => admin.list_topics().await?.into_keys().collect(),
    };
    let topics: Vec<Listed> = admin.describe_topics(&names).await?.into_iter().collect();
    admin.close();
    let text = if args.json {
        let mut s = json_listing(args.topic.as_deref(), &origin, &cluster, &topics).to_string();
        s.push('\n');
        s
    } else {
        text_listing(args.topic.as_deref(), &origin, &cluster, &topics)
    };
    print!("{text}");
    Ok(())
}

fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// kcat's layout. The originating broker is the bootstrap list (id -1): the admin client
/// does not say which broker answered.
fn text_listing(
    topic: Option<&str>,
    origin: &str,
    cluster: &ClusterDescription,
    topics: &[Listed],
) -> String {
    let mut s = String::new();
    let what = topic.map_or_else(|| "all topics".to_string(), |t| t.to_string());
    let controller = cluster.controller.as_ref().map(|n| n.id);
    // Writing to a String cannot fail.
    let _ = writeln!(s, "Metadata for {what} (from broker -1: {origin}):");
    let _ = writeln!(s, " {} brokers:", cluster.nodes.len());
    for n in &cluster.nodes {
        let mark = if Some(n.id) == controller {
            " (controller)"
        } else {
            ""
        };
        let _ = writeln!(s, "  broker {} at {}:{}{mark}", n.id, n.host, n.port);
    }
    let _ = writeln!(s, " {} topics:", topics.len());
    for (name, t) in topics {
        match t {
            Err(e) => {
                let _ = writeln!(s, "  topic \"{name}\" with 0 partitions: {e}");
            }
            Ok(t) => {
                let _ = writeln!(
                    s,
                    "  topic \"{name}\" with {} partitions:",
                    t.partitions.len()
                );
                for p in &t.partitions {
                    let leader = p.leader.as_ref().map_or(-1, |n| n.id);
                    let _ = writeln!(
                        s,
                        "    partition {}, leader {leader}, replicas: {}, isrs: {}",
                        p.partition,
                        ids(&p.replicas),
                        ids(&p.isr)
                    );
                }
            }
        }
    }
    s
}

/// kcat's JSON layout (originating_broker, query, controllerid, brokers, topics).
fn json_listing(
    topic: Option<&str>,
    origin: &str,
    cluster: &ClusterDescription,
    topics: &[Listed],
) -> serde_json::Value {
    let id_list = |ids: &[i32]| ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>();
    let topics: Vec<serde_json::Value> = topics
        .iter()
        .map(|(name, t)| match t {
            Err(e) => json!({ "topic": name, "error": e.to_string(), "partitions": [] }),
            Ok(t) => json!({
                "topic": name,
                "partitions": t.partitions.iter().map(|p| json!({
                    "partition": p.partition,
                    "leader": p.leader.as_ref().map_or(-1, |n| n.id),
                    "replicas": id_list(&p.replicas),
                    "isrs": id_list(&p.isr),
                })).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({
        "originating_broker": { "id": -1, "name": origin },
        "query": { "topic": topic.unwrap_or("*") },
        "controllerid": cluster.controller.as_ref().map_or(-1, |n| n.id),
        "brokers": cluster.nodes.iter().map(|n| json!({
            "id": n.id,
            "name": format!("{}:{}", n.host, n.port),
        })).collect::<Vec<_>>(),
        "topics": topics,
    })
}

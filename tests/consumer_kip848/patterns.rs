//! Pattern subscriptions against Apache Kafka, both protocols.

use super::*;

/// A topic created after subscribing that matches is read; a deleted one leaves the
/// assignment; a topic that does not match is never assigned.
async fn pattern_follows_topics(protocol: &str, limit: Duration) {
    init_tracing();
    let bootstrap = broker().bootstrap();
    let (a, b, other) = (
        format!("regex-{protocol}-a"),
        format!("regex-{protocol}-b"),
        format!("unmatched-{protocol}"),
    );
    for t in [&a, &other] {
        create_topic(&bootstrap, t, 2).await;
        produce_values(&bootstrap, t, 2, (0..100).map(|v| v.to_string()), "none").await;
    }
    let group = format!("regex-{protocol}");
    let mut props = vec![
        ("group.id", group.as_str()),
        ("group.protocol", protocol),
        ("enable.auto.commit", "false"),
        ("metadata.max.age.ms", "500"),
    ];
    if protocol == "consumer" {
        // Not the broker's default (uniform): shows the choice reaches it.
        props.push(("group.remote.assignor", "range"));
    }
    let mut c = common::consumer(&bootstrap, &props);
    c.subscribe_pattern(&format!("regex-{protocol}-.*"))
        .expect("subscribe");
    let mut read = Vec::new();
    poll_until(&mut c, &mut read, limit, "the first topic read", |_, r| {
        read_from(r, &a).len() == 100
    })
    .await;
    create_topic(&bootstrap, &b, 2).await;
    produce_values(&bootstrap, &b, 2, (0..50).map(|v| v.to_string()), "none").await;
    let took = poll_until(&mut c, &mut read, limit, "the new topic read", |_, r| {
        read_from(r, &b).len() == 50
    })
    .await;
    eprintln!("{protocol}: a topic created after subscribing was read after {took:?}");
    let admin = ferrokafka::AdminClient::new(
        ferrokafka::AdminConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()
            .expect("admin config"),
    );
    if protocol == "consumer" {
        let described = admin
            .describe_consumer_groups(&[&group])
            .await
            .expect("describe");
        let d = described[&group].as_ref().expect("described");
        assert_eq!(d.partition_assignor, "range");
    }
    admin.delete_topics(&[&a]).await.expect("delete")[&a]
        .as_ref()
        .expect("deleted");
    poll_until(
        &mut c,
        &mut read,
        limit,
        "the deleted topic gone",
        |c, _| {
            let topics: BTreeSet<String> = c.assignment().into_iter().map(|tp| tp.topic).collect();
            topics == BTreeSet::from([b.clone()])
        },
    )
    .await;
    assert!(
        read_from(&read, &other).is_empty(),
        "read an unmatched topic"
    );
    assert_eq!(read_from(&read, &a).len(), 100);
    assert_eq!(read.len(), 150, "each record once: {}", read.len());
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_pattern_subscription_follows_created_and_deleted_topics() {
    pattern_follows_topics("classic", Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kip848_pattern_subscription_follows_created_and_deleted_topics() {
    // The broker resolves patterns again at most every 10 s (Apache Kafka's
    // REGEX_BATCH_REFRESH_MIN_INTERVAL_MS).
    pattern_follows_topics("consumer", Duration::from_secs(30)).await;
}

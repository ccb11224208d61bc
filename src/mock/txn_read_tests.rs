//! Reading transactional data from the mock: last stable offsets, aborted-transaction lists
//! in read_committed fetches, ListOffsets by isolation level, and the crate's own consumer.

use std::time::Duration;

use super::TxnState;
use super::txn_wire_tests::{
    TXN, add_partitions, cluster, connect, end, fetch, init, list_latest, produce,
};

#[tokio::test]
async fn commit_then_abort_write_markers_and_move_the_last_stable_offset() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (code, pid, epoch) = init(&conn, 4, 60_000).await;
    assert_eq!((code, epoch), (0, 0));
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 0, 3).await, 0);

    let open_rc = fetch(&conn, 0, 0, true).await;
    assert_eq!((open_rc.high_watermark, open_rc.last_stable_offset), (3, 0));
    assert!(
        open_rc.offsets.is_empty(),
        "nothing past the LSO for read_committed"
    );
    assert_eq!(fetch(&conn, 0, 0, false).await.offsets, vec![0, 1, 2]);
    assert_eq!(list_latest(&conn, 0, true).await, 0);
    assert_eq!(list_latest(&conn, 0, false).await, 3);

    assert_eq!(end(&conn, 3, pid, epoch, true).await, 0);
    let log = c.batches("t", 0).expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].marker, Some(true));
    assert_eq!((log[1].base_offset, log[1].producer_id), (3, pid));
    assert_eq!(c.last_stable_offset("t", 0), Some(4));
    let committed = fetch(&conn, 0, 0, true).await;
    assert_eq!(committed.offsets, vec![0, 1, 2]);
    assert_eq!(committed.aborted, Some(vec![]));
    assert_eq!(list_latest(&conn, 0, true).await, 4);

    // The next transaction of the same producer aborts.
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 3, 2).await, 0);
    assert_eq!(end(&conn, 3, pid, epoch, false).await, 0);
    let log = c.batches("t", 0).expect("log");
    assert_eq!(log.last().and_then(|b| b.marker), Some(false));
    assert_eq!(c.end_offset("t", 0), Some(7));
    let rc = fetch(&conn, 0, 0, true).await;
    assert_eq!((rc.high_watermark, rc.last_stable_offset), (7, 7));
    assert_eq!(rc.aborted, Some(vec![(pid, 4)]));
    let ru = fetch(&conn, 0, 0, false).await;
    assert_eq!(ru.aborted, None, "read_uncommitted gets no aborted list");
    assert_eq!(ru.offsets, vec![0, 1, 2, 4, 5]);
    let s = c.txn_state(TXN).expect("known");
    assert_eq!(
        (s.state, s.committed, s.aborted),
        (TxnState::CompleteAbort, 1, 1)
    );
}

/// Polls until `want` values came (or 10 s passed), then once more: anything extra would be a
/// record that must not be visible.
async fn read(con: &mut crate::consumer::KafkaConsumer, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    while got.len() < want && start.elapsed() < Duration::from_secs(10) {
        for r in con.poll(Duration::from_millis(100)).await.expect("poll") {
            let v = r.value.as_deref().map(String::from_utf8_lossy);
            got.push(v.unwrap_or_default().into_owned());
        }
    }
    for r in con.poll(Duration::from_millis(300)).await.expect("poll") {
        got.push(format!("extra@{}", r.offset));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_consumer_gets_exactly_the_committed_records() {
    use crate::consumer::{KafkaConsumer, TopicPartition};
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, e) = init(&conn, 4, 60_000).await;
    // Committed 0..3, aborted 3..5, committed 5..6, then 6..8 left open.
    for (seq, n, commit) in [
        (0, 3, Some(true)),
        (3, 2, Some(false)),
        (5, 1, Some(true)),
        (6, 2, None),
    ] {
        assert_eq!(add_partitions(&conn, pid, e, &[0]).await, vec![0]);
        assert_eq!(produce(&conn, 0, pid, e, seq, n).await, 0);
        if let Some(commit) = commit {
            assert_eq!(end(&conn, 3, pid, e, commit).await, 0);
        }
    }
    let build = |level: &str| {
        KafkaConsumer::new(
            crate::ConsumerConfig::builder()
                .bootstrap_servers(c.bootstrap_servers())
                .set("isolation.level", level)
                .set("auto.offset.reset", "earliest")
                .build()
                .expect("config"),
        )
        .expect("consumer")
    };
    let tp = TopicPartition::new("t", 0);
    let mut committed = build("read_committed");
    committed.assign([tp.clone()]).expect("assign");
    assert_eq!(read(&mut committed, 4).await, ["0", "1", "2", "5"]);
    let ends = committed
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .expect("ends");
    // Offsets: 0-2 data, 3 marker, 4-5 aborted, 6 marker, 7 data, 8 marker, 9-10 open.
    assert_eq!(ends[&tp], 9, "the LSO: where the open transaction starts");
    let mut all = build("read_uncommitted");
    all.assign([tp.clone()]).expect("assign");
    assert_eq!(
        read(&mut all, 8).await,
        ["0", "1", "2", "3", "4", "5", "6", "7"]
    );
    let ends = all
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .expect("ends");
    assert_eq!(ends[&tp], 11, "the high watermark, markers included");
}

#[tokio::test]
async fn records_skip_markers_and_committed_records_skip_aborted_and_open_ones() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, e) = init(&conn, 4, 60_000).await;
    for (seq, n, commit) in [
        (0, 3, Some(true)),
        (3, 2, Some(false)),
        (5, 1, Some(true)),
        (6, 2, None),
    ] {
        assert_eq!(add_partitions(&conn, pid, e, &[0]).await, vec![0]);
        assert_eq!(produce(&conn, 0, pid, e, seq, n).await, 0);
        if let Some(commit) = commit {
            assert_eq!(end(&conn, 3, pid, e, commit).await, 0);
        }
    }
    let values = |rs: Vec<super::MockRecord>| -> Vec<(i64, String)> {
        rs.into_iter()
            .map(|r| {
                let v = r.value.as_deref().map(String::from_utf8_lossy);
                (r.offset, v.unwrap_or_default().into_owned())
            })
            .collect()
    };
    let all = values(c.records("t", 0).expect("records"));
    assert_eq!(
        all.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        vec![0, 1, 2, 4, 5, 7, 9, 10],
        "data records only: markers at 3, 6 and 8 are not records"
    );
    let committed = values(c.committed_records("t", 0).expect("committed"));
    assert_eq!(
        committed,
        vec![
            (0, "0".to_string()),
            (1, "1".to_string()),
            (2, "2".to_string()),
            (7, "5".to_string())
        ]
    );
}

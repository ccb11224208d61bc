use super::*;

fn tp(t: &str, p: i32) -> (String, i32) {
    (t.to_string(), p)
}

fn staged(offset: i64) -> StagedOffset {
    StagedOffset {
        offset,
        metadata: String::new(),
        member_id: String::new(),
        generation: -1,
    }
}

fn fresh(t: &mut Transactions, id: &str, now: Instant) -> (i64, i16) {
    let mut next = 1000;
    t.init(id, 60_000, None, now, || {
        next += 1;
        next
    })
    .expect("init")
}

#[test]
fn commit_flow_hands_back_markers_and_offsets_once() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (pid, epoch) = fresh(&mut t, "tx", now);
    assert_eq!((pid, epoch), (1001, 0));
    t.add_partitions("tx", pid, epoch, &[tp("a", 0), tp("a", 1)], now)
        .expect("add");
    t.add_offsets("tx", pid, epoch, "g", now).expect("offsets");
    t.stage_offsets("tx", pid, epoch, "g", vec![(tp("in", 0), staged(42))])
        .expect("stage");
    assert!(t.has_staged("g", &tp("in", 0)));
    assert!(t.in_open_txn(pid, &tp("a", 1)));
    assert!(!t.in_open_txn(pid, &tp("a", 2)));
    t.end("tx", pid, epoch, true, now).expect("end");
    let done = t.tick(now);
    assert_eq!(done.len(), 1);
    assert!(done[0].commit);
    assert_eq!(done[0].partitions, vec![tp("a", 0), tp("a", 1)]);
    assert_eq!(done[0].offsets["g"][&tp("in", 0)].offset, 42);
    assert!(t.tick(now).is_empty(), "markers are handed out once");
    assert!(!t.has_staged("g", &tp("in", 0)));
    let s = t.snapshot("tx").expect("known");
    assert_eq!(
        (s.state, s.committed, s.aborted),
        (TxnState::CompleteCommit, 1, 0)
    );
    // A retried EndTxn(commit) succeeds; an abort of the committed transaction does not.
    assert_eq!(t.end("tx", pid, epoch, true, now), Ok(()));
    assert_eq!(t.end("tx", pid, epoch, false, now), Err(INVALID_TXN_STATE));
}

#[test]
fn abort_drops_staged_offsets() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (pid, epoch) = fresh(&mut t, "tx", now);
    t.add_offsets("tx", pid, epoch, "g", now).expect("offsets");
    t.stage_offsets("tx", pid, epoch, "g", vec![(tp("in", 0), staged(7))])
        .expect("stage");
    t.end("tx", pid, epoch, false, now).expect("end");
    let done = t.tick(now);
    assert_eq!(done.len(), 1);
    assert!(!done[0].commit);
    assert!(done[0].offsets.is_empty());
    assert_eq!(t.snapshot("tx").map(|s| s.aborted), Some(1));
}

#[test]
fn reinit_bumps_the_epoch_and_fences_the_old_one() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (pid, e0) = fresh(&mut t, "tx", now);
    let (pid2, e1) = t.init("tx", 60_000, None, now, || 5).expect("reinit");
    assert_eq!((pid2, e1), (pid, e0 + 1), "same producer id, next epoch");
    assert_eq!(
        t.add_partitions("tx", pid, e0, &[tp("a", 0)], now),
        Err(PRODUCER_FENCED)
    );
    assert_eq!(t.end("tx", pid, e0, true, now), Err(PRODUCER_FENCED));
    assert_eq!(
        t.add_partitions("tx", pid + 1, e1, &[tp("a", 0)], now),
        Err(INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        t.stage_offsets("tx", pid, e0, "g", vec![]),
        Err(INVALID_PRODUCER_EPOCH)
    );
    // KIP-360: a re-init naming an epoch that is not the current one is fenced.
    assert_eq!(
        t.init("tx", 60_000, Some((pid, e0)), now, || 5),
        Err(PRODUCER_FENCED)
    );
    assert_eq!(
        t.init("tx", 60_000, Some((pid, e1)), now, || 5),
        Ok((pid, e1 + 1))
    );
}

#[test]
fn reinit_during_an_open_transaction_aborts_it_with_a_bumped_epoch() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (pid, e0) = fresh(&mut t, "tx", now);
    t.add_partitions("tx", pid, e0, &[tp("a", 0)], now)
        .expect("add");
    assert_eq!(
        t.init("tx", 60_000, None, now, || 5),
        Err(CONCURRENT_TRANSACTIONS)
    );
    let done = t.tick(now);
    assert_eq!(done.len(), 1);
    assert!(!done[0].commit);
    assert_eq!(
        done[0].producer_epoch,
        e0 + 1,
        "markers fence the old epoch"
    );
    assert_eq!(done[0].partitions, vec![tp("a", 0)]);
    // The retry gets the epoch after the fencing one.
    assert_eq!(t.init("tx", 60_000, None, now, || 5), Ok((pid, e0 + 2)));
}

#[test]
fn completing_transaction_answers_concurrent_transactions_until_markers_are_written() {
    let mut t = Transactions {
        marker_delay: Duration::from_millis(100),
        ..Transactions::default()
    };
    let now = Instant::now();
    let (pid, e) = fresh(&mut t, "tx", now);
    t.add_partitions("tx", pid, e, &[tp("a", 0)], now)
        .expect("add");
    t.end("tx", pid, e, true, now).expect("end");
    assert!(t.tick(now).is_empty(), "markers not due yet");
    assert_eq!(
        t.snapshot("tx").map(|s| s.state),
        Some(TxnState::PrepareCommit)
    );
    assert_eq!(
        t.init("tx", 60_000, None, now, || 5),
        Err(CONCURRENT_TRANSACTIONS)
    );
    assert_eq!(
        t.add_partitions("tx", pid, e, &[tp("a", 1)], now),
        Err(CONCURRENT_TRANSACTIONS)
    );
    assert_eq!(t.end("tx", pid, e, true, now), Err(CONCURRENT_TRANSACTIONS));
    assert_eq!(t.end("tx", pid, e, false, now), Err(INVALID_TXN_STATE));
    let later = now + Duration::from_millis(100);
    assert_eq!(t.tick(later).len(), 1);
    assert_eq!(t.init("tx", 60_000, None, later, || 5), Ok((pid, e + 1)));
}

#[test]
fn transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (pid, e) = t.init("tx", 1_000, None, now, || 7).expect("init");
    t.add_partitions("tx", pid, e, &[tp("a", 0)], now)
        .expect("add");
    assert!(t.tick(now + Duration::from_millis(999)).is_empty());
    let done = t.tick(now + Duration::from_millis(1_000));
    assert_eq!(done.len(), 1);
    assert!(!done[0].commit);
    assert_eq!(done[0].producer_epoch, e + 1);
    assert_eq!(t.end("tx", pid, e, true, now), Err(PRODUCER_FENCED));
    assert!(!t.in_open_txn(pid, &tp("a", 0)));
}

#[test]
fn requests_outside_a_transaction_are_refused() {
    let mut t = Transactions::default();
    let now = Instant::now();
    assert_eq!(
        t.add_partitions("nope", 1, 0, &[tp("a", 0)], now),
        Err(INVALID_PRODUCER_ID_MAPPING)
    );
    let (pid, e) = fresh(&mut t, "tx", now);
    assert_eq!(t.end("tx", pid, e, true, now), Err(INVALID_TXN_STATE));
    assert_eq!(
        t.stage_offsets("tx", pid, e, "g", vec![(tp("in", 0), staged(1))]),
        Err(INVALID_TXN_STATE),
        "the group was not added with AddOffsetsToTxn"
    );
    assert_eq!(
        t.init("tx", 0, None, now, || 5),
        Err(INVALID_TRANSACTION_TIMEOUT)
    );
    assert_eq!(
        t.init("tx", 900_001, None, now, || 5),
        Err(INVALID_TRANSACTION_TIMEOUT)
    );
    assert_eq!(t.verify("tx", pid, e, &tp("a", 0)), TRANSACTION_ABORTABLE);
}

#[test]
fn end_v2_bumps_the_epoch_and_knows_its_own_retry_from_a_fenced_producer() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (pid, e0) = fresh(&mut t, "tx", now);
    t.add_partitions("tx", pid, e0, &[tp("a", 0)], now)
        .expect("add");
    assert_eq!(t.end_v2("tx", pid, e0, true, now), Ok((pid, e0 + 1)));
    let done = t.tick(now);
    assert_eq!(
        done[0].producer_epoch,
        e0 + 1,
        "markers carry the new epoch"
    );
    assert_eq!(
        t.end_v2("tx", pid, e0, true, now),
        Ok((pid, e0 + 1)),
        "retry"
    );
    assert_eq!(t.end_v2("tx", pid, e0, false, now), Err(INVALID_TXN_STATE));
    // A transaction of the new epoch times out: the coordinator's bump fences it, and its
    // EndTxn is no retry of anything.
    let e1 = e0 + 1;
    t.add_partitions("tx", pid, e1, &[tp("a", 0)], now)
        .expect("add");
    let late = now + Duration::from_secs(61);
    assert_eq!(t.tick(late).len(), 1);
    assert_eq!(t.end_v2("tx", pid, e1, false, late), Err(PRODUCER_FENCED));
    assert_eq!(t.end_v2("tx", pid, e0, true, late), Err(PRODUCER_FENCED));
}

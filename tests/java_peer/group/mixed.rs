//! The mixed-group runs: members join and leave while records keep coming.

use super::*;

/// The group as the test sees it: who is in it now, and everyone who ever was.
struct Group {
    bootstrap: String,
    topic: String,
    group: String,
    strategy: String,
    ours: Option<OurMember>,
    java: Vec<JavaMember>,
    /// Members that left: (name, state).
    gone: Vec<(String, Shared)>,
    /// Our members' results (close).
    our_results: Vec<(String, Result<(), String>)>,
    /// Member names in the order they joined.
    joined: Vec<String>,
}

impl Group {
    /// The current members, in the order they joined.
    fn current(&self) -> Vec<(String, Shared)> {
        let mut v: Vec<(String, Shared)> = self
            .ours
            .iter()
            .map(|o| (o.name.clone(), o.state.clone()))
            .collect();
        v.extend(self.java.iter().map(|j| (j.name.clone(), j.state.clone())));
        v.sort_by_key(|(name, _)| self.joined.iter().position(|n| n == name));
        v
    }

    fn diagnostics(&self) -> String {
        let mut out = String::new();
        for (name, state) in &self.gone {
            out.push_str(&describe(&format!("{name} (gone)"), state, None));
        }
        if let Some(o) = &self.ours {
            out.push_str(&describe(&o.name, &o.state, None));
        }
        for j in &self.java {
            out.push_str(&describe(
                &j.name,
                &j.state,
                Some(&j.stderr.lock().unwrap()),
            ));
        }
        out
    }

    /// The current members' records read so far.
    fn records_read(&self) -> usize {
        self.current()
            .iter()
            .map(|(_, s)| s.lock().unwrap().records.len())
            .sum()
    }

    /// When every current member has completed the same latest generation, still owns what it
    /// got then, and together they own every partition once: that generation.
    fn steady_generation(&self) -> Option<i32> {
        let members = self.current();
        let mut generation = None;
        let mut all = BTreeSet::new();
        let mut count = 0;
        for (_, s) in &members {
            let s = s.lock().unwrap();
            let (g, parts) = s.generations.last_key_value()?;
            if *parts != s.assignment || generation.is_some_and(|x| x != *g) {
                return None;
            }
            generation = Some(*g);
            count += parts.len();
            all.extend(parts.iter().copied());
        }
        (count == GROUP_PARTITIONS as usize && all == (0..GROUP_PARTITIONS).collect())
            .then_some(generation)
            .flatten()
    }

    /// Waits for a steady generation that holds for a second; panics after `limit`.
    async fn wait_steady(&self, what: &str, limit: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(g) = self.steady_generation() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if self.steady_generation() == Some(g) {
                    return g;
                }
            }
            assert!(
                start.elapsed() < limit,
                "{what}: no steady assignment within {limit:?}\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current members read `n` more records than `since`.
    async fn wait_reading(&self, what: &str, since: usize, n: usize) {
        let start = Instant::now();
        while self.records_read() < since + n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: the group read {} records in 30 s, wanted {n}\n{}",
                self.records_read() - since,
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn join_java(&mut self, name: &str) {
        self.joined.push(name.to_string());
        self.java.push(JavaMember::spawn(
            &self.bootstrap,
            &self.topic,
            &self.group,
            name,
            &self.strategy,
        ));
    }

    fn join_ours(&mut self, name: &str) {
        assert!(self.ours.is_none());
        self.joined.push(name.to_string());
        self.ours = Some(OurMember::spawn(
            &self.bootstrap,
            &self.topic,
            &self.group,
            &self.strategy,
            name,
        ));
    }

    async fn leave_ours(&mut self) {
        let o = self.ours.take().expect("our member");
        let (name, state, result) = o.stop().await;
        self.gone.push((name.clone(), state));
        self.our_results.push((name, result));
    }

    /// Every rebalance after `after` up to `steady` that all current members completed: what
    /// they got must be what Java's assignor computes from their input (member ids, and each
    /// one's previous assignment and generation; given in join order, which is the order Java's
    /// leader meets members that share a HashMap bucket). `java_leads`: whether a Java member ran the
    /// rebalances of this member set (else our member did). Returns how many were checked.
    async fn assert_rebalances_as_java(
        &self,
        what: &str,
        after: i32,
        steady: i32,
        java_leads: bool,
    ) -> usize {
        let members: Vec<(String, String, BTreeMap<i32, BTreeSet<i32>>)> = self
            .current()
            .into_iter()
            .map(|(name, s)| {
                let s = s.lock().unwrap();
                (name, s.member_id.clone(), s.generations.clone())
            })
            .collect();
        // Who led: the Java members say when their assignor runs, and for which members.
        let member_ids: BTreeSet<String> = members.iter().map(|(_, id, _)| id.clone()).collect();
        let java_led = self
            .java
            .iter()
            .map(|j| {
                j.state
                    .lock()
                    .unwrap()
                    .led
                    .iter()
                    .filter(|m| **m == member_ids)
                    .count()
            })
            .sum::<usize>();
        let mut checked = 0;
        for generation in after + 1..=steady {
            if !members.iter().all(|(_, _, g)| g.contains_key(&generation)) {
                continue;
            }
            let input: String = members
                .iter()
                .map(|(_, id, g)| {
                    let (prev, owned) = g
                        .range(..generation)
                        .next_back()
                        .map(|(p, o)| (*p, show(o)))
                        .unwrap_or((-1, String::new()));
                    format!("{id}\t{prev}\t{owned}\n")
                })
                .collect();
            let args = [
                "--strategy".to_string(),
                self.strategy.clone(),
                "--topic".into(),
                self.topic.clone(),
                "--partitions".into(),
                GROUP_PARTITIONS.to_string(),
            ];
            let stdin = input.clone();
            let out = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                peer().run("assign", &args, stdin.as_bytes())
            })
            .await
            .expect("java assign");
            let java: BTreeMap<String, BTreeSet<i32>> = out
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    assert!(f.len() == 3 && f[0] == "A", "bad line {l:?}");
                    (f[1].to_string(), ids(f[2]))
                })
                .collect();
            let got: BTreeMap<String, BTreeSet<i32>> = members
                .iter()
                .map(|(_, id, g)| (id.clone(), g[&generation].clone()))
                .collect();
            assert_eq!(
                got,
                java,
                "{what}: generation {generation} differs from what Java's {} assignor computes \
                 from the same input (member id, generation, owned):\n{input}\n{}",
                self.strategy,
                self.diagnostics()
            );
            checked += 1;
        }
        if java_leads {
            assert!(
                java_led >= checked,
                "{what}: a Java member led {java_led} rebalances of {member_ids:?}, {checked} checked\n{}",
                self.diagnostics()
            );
        } else {
            assert_eq!(
                java_led,
                0,
                "{what}: a Java member led a rebalance of {member_ids:?}; our member should have\n{}",
                self.diagnostics()
            );
        }
        assert!(
            checked > 0,
            "{what}: no generation in {}..={steady} that every member completed\n{}",
            after + 1,
            self.diagnostics()
        );
        checked
    }

    /// The steady assignment of `generation`, by member name.
    fn assignment_at(&self, generation: i32) -> BTreeMap<String, (String, BTreeSet<i32>)> {
        self.current()
            .into_iter()
            .map(|(name, s)| {
                let s = s.lock().unwrap();
                (
                    name,
                    (s.member_id.clone(), s.generations[&generation].clone()),
                )
            })
            .collect()
    }
}

/// The shape Java's assignors give 7 partitions: `range` hands members sorted by member id
/// contiguous runs, the first ones one more; `cooperative-sticky` balances within one, and
/// (`previous`: the steady assignment before one member joined or left) moves only what must
/// move.
fn assert_shape(
    strategy: &str,
    what: &str,
    now: &BTreeMap<String, (String, BTreeSet<i32>)>,
    previous: &BTreeMap<String, (String, BTreeSet<i32>)>,
) {
    let n = now.len();
    let total = GROUP_PARTITIONS as usize;
    let mut sizes: Vec<usize> = now.values().map(|(_, p)| p.len()).collect();
    sizes.sort_unstable();
    let want: Vec<usize> = (0..n)
        .map(|i| total / n + usize::from(i >= n - total % n))
        .collect();
    assert_eq!(
        sizes, want,
        "{what}: balanced split of {total} over {n}: {now:?}"
    );
    match strategy {
        "range" => {
            let mut by_id: Vec<&(String, BTreeSet<i32>)> = now.values().collect();
            by_id.sort();
            let mut next = 0;
            for (i, (id, parts)) in by_id.iter().enumerate() {
                let len = total / n + usize::from(i < total % n);
                let run: BTreeSet<i32> = (next..next + len as i32).collect();
                assert_eq!(
                    *parts, run,
                    "{what}: member {i} by id ({id}) should get a contiguous run: {now:?}"
                );
                next += len as i32;
            }
        }
        "cooperative-sticky" => {
            let joined = now.len() > previous.len();
            for (name, (_, parts)) in now {
                let Some((_, before)) = previous.get(name) else {
                    continue;
                };
                if joined {
                    assert!(
                        parts.is_subset(before),
                        "{what}: {name} got partitions although one joined: {before:?} -> \
                         {parts:?}\nnow {now:?}\nbefore {previous:?}"
                    );
                } else {
                    assert!(
                        before.is_subset(parts),
                        "{what}: {name} lost partitions although one left: {before:?} -> \
                         {parts:?}\nnow {now:?}\nbefore {previous:?}"
                    );
                }
            }
        }
        _ => unreachable!(),
    }
}

/// One of ours and two Java members, joining and leaving while records keep coming:
///
/// 1. ours alone (the group leader, as the first member, for as long as it stays);
/// 2. Java `a-java` joins: partitions pass from us to Java;
/// 3. Java `b-java` joins: steady state 1, assigned by our leader;
/// 4. ours leaves: its partitions pass to Java, a Java member becomes the leader;
/// 5. ours joins again (a new member): partitions pass from Java to us; steady state 2,
///    assigned by a Java leader.
///
/// Each steady state's rebalances are checked against Java's assignor, and its shape against
/// the strategy's; at the end every record must have been read exactly once.
async fn mixed_group(strategy: &str) {
    let bootstrap = bootstrap();
    // Compiled (if need be) before any member runs, off the runtime's workers.
    tokio::task::block_in_place(|| {
        peer();
    });
    let topic = format!("java-mixed-{strategy}");
    create_topic(&bootstrap, &topic, GROUP_PARTITIONS).await;
    preload(&bootstrap, &topic, 0..PRELOADED).await;
    let stop_producer = Arc::new(AtomicBool::new(false));
    let trickler = tokio::spawn(trickle(
        bootstrap.clone(),
        topic.clone(),
        PRELOADED,
        stop_producer.clone(),
    ));
    let mut g = Group {
        bootstrap: bootstrap.clone(),
        topic: topic.clone(),
        group: format!("java-mixed-{strategy}"),
        strategy: strategy.to_string(),
        ours: None,
        java: Vec::new(),
        gone: Vec::new(),
        our_results: Vec::new(),
        joined: Vec::new(),
    };
    let limit = Duration::from_secs(45);

    // 1.
    g.join_ours("ours-1");
    let g1 = g.wait_steady("ours alone", limit).await;
    g.wait_reading("ours alone", 0, 300).await;
    // 2.
    g.join_java("a-java");
    let g2 = g.wait_steady("ours + a-java", limit).await;
    let s2 = g.assignment_at(g2);
    let n = g.records_read();
    g.wait_reading("ours + a-java", n, 300).await;
    // 3.
    g.join_java("b-java");
    let g3 = g.wait_steady("ours + a-java + b-java", limit).await;
    let checked_ours = g
        .assert_rebalances_as_java("b-java joined (our leader)", g2, g3, false)
        .await;
    let s3 = g.assignment_at(g3);
    assert_shape(strategy, "ours + a + b", &s3, &s2);
    let n = g.records_read();
    g.wait_reading("ours + a-java + b-java", n, 300).await;
    // 4.
    g.leave_ours().await;
    let g4 = g.wait_steady("a-java + b-java", limit).await;
    let s4 = g.assignment_at(g4);
    assert_shape(strategy, "a + b after ours left", &s4, &s3);
    let n = g.records_read();
    g.wait_reading("a-java + b-java", n, 300).await;
    // 5.
    g.join_ours("ours-2");
    let g5 = g.wait_steady("a-java + b-java + ours again", limit).await;
    let checked_java = g
        .assert_rebalances_as_java("ours joined again (a Java leader)", g4, g5, true)
        .await;
    let s5 = g.assignment_at(g5);
    assert_shape(strategy, "a + b + ours again", &s5, &s4);
    let n = g.records_read();
    g.wait_reading("a-java + b-java + ours again", n, 300).await;

    // Stop writing, let everything be read, stop everyone, then judge.
    stop_producer.store(true, Ordering::Release);
    let total = trickler.await.expect("producer task");
    let start = Instant::now();
    let all_read = loop {
        let mut seen = BTreeSet::new();
        for (_, s) in g.gone.iter().cloned().chain(g.current()) {
            seen.extend(s.lock().unwrap().records.iter().map(value_number));
        }
        if seen.len() >= total {
            break true;
        }
        if start.elapsed() > Duration::from_secs(60) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Everyone leaves, one at a time, each from a steady group: a Java consumer that closes
    // while its group rebalances cannot commit and reports its partitions lost (Kafka's
    // behaviour), and the next owner reads its last records again.
    g.leave_ours().await;
    let mut stopped: Vec<(JavaMember, std::process::ExitStatus)> = Vec::new();
    while !g.java.is_empty() {
        let name = g.java[0].name.clone();
        g.wait_steady(&format!("before {name} leaves"), limit).await;
        let mut m = g.java.remove(0);
        let status = tokio::task::block_in_place(|| m.stop(Duration::from_secs(30)));
        stopped.push((m, status));
    }
    let statuses: Vec<std::process::ExitStatus> = stopped.iter().map(|(_, s)| *s).collect();
    g.java = stopped.into_iter().map(|(m, _)| m).collect();
    let mut members: Vec<(String, Shared)> = g.gone.clone();
    members.extend(g.java.iter().map(|j| (j.name.clone(), j.state.clone())));
    let diag = g.diagnostics();
    assert!(all_read, "not all {total} records read within 60 s\n{diag}");
    for (name, r) in &g.our_results {
        assert_eq!(r, &Ok(()), "our member {name}\n{diag}");
    }
    for (m, status) in g.java.iter().zip(&statuses) {
        let s = m.state.lock().unwrap();
        assert!(status.success(), "{} exited {status}\n{diag}", m.name);
        assert_eq!(
            s.done,
            Some(s.records.len()),
            "{} DONE count\n{diag}",
            m.name
        );
    }

    // Every member left cleanly and stayed within its session: nobody may have lost partitions
    // (as opposed to revoking them). Seen before the fix: our member took a heartbeat's
    // ILLEGAL_GENERATION, answered as its own rejoin completed, for a lost membership, and
    // dropped everything it owned at the next cooperative rebalance.
    let lost: Vec<String> = members
        .iter()
        .flat_map(|(n, s)| {
            let s = s.lock().unwrap();
            s.events
                .iter()
                .filter(|e| e.starts_with("LOST"))
                .map(|e| format!("{n}: {e}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(lost.is_empty(), "partitions lost: {lost:?}\n{diag}");

    // Exactly once: each value read by one member, once, from partition value % 7.
    let mut by_value: BTreeMap<usize, Vec<(String, i32, i64)>> = BTreeMap::new();
    for (name, s) in &members {
        for r in &s.lock().unwrap().records {
            assert_eq!(r.topic, topic);
            by_value.entry(value_number(r)).or_default().push((
                name.clone(),
                r.partition,
                r.offset,
            ));
        }
    }
    let missing: Vec<usize> = (0..total).filter(|v| !by_value.contains_key(v)).collect();
    let dups: Vec<_> = by_value.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(
        missing.is_empty() && dups.is_empty() && by_value.len() == total,
        "{total} records written, {} distinct read: missing {:?}, read more than once (value: \
         [(member, partition, offset)]) {:?}\n{diag}",
        by_value.len(),
        &missing[..missing.len().min(20)],
        &dups[..dups.len().min(20)]
    );
    for (v, r) in &by_value {
        assert_eq!(r[0].1 as usize, v % GROUP_PARTITIONS as usize, "value {v}");
    }

    // Partitions that changed hands while being read, in offset order: both ways between us
    // and Java.
    let mut by_offset: BTreeMap<i32, BTreeMap<i64, &str>> = BTreeMap::new();
    for r in by_value.values() {
        let (name, p, o) = &r[0];
        by_offset.entry(*p).or_default().insert(*o, name);
    }
    let mut handovers: BTreeSet<(i32, &str, &str)> = BTreeSet::new();
    for (p, readers) in &by_offset {
        let readers: Vec<&str> = readers.values().copied().collect();
        for w in readers.windows(2).filter(|w| w[0] != w[1]) {
            handovers.insert((*p, w[0], w[1]));
        }
    }
    let ours = |name: &str| name.starts_with("ours");
    assert!(
        handovers.iter().any(|(_, a, b)| ours(a) && !ours(b)),
        "no partition passed from us to Java mid-stream: {handovers:?}\n{diag}"
    );
    assert!(
        handovers.iter().any(|(_, a, b)| !ours(a) && ours(b)),
        "no partition passed from Java to us mid-stream: {handovers:?}\n{diag}"
    );
    let per_member: Vec<(String, usize)> = members
        .iter()
        .map(|(n, s)| (n.clone(), s.lock().unwrap().records.len()))
        .collect();
    // Failed commits are no error by themselves (Java refuses a commit while it rebalances);
    // the exactly-once check above is what counts.
    let commit_errors: Vec<(String, usize, Option<String>)> = members
        .iter()
        .map(|(n, s)| {
            let s = s.lock().unwrap();
            (
                n.clone(),
                s.commit_errors.len(),
                s.commit_errors
                    .first()
                    .map(|e| e.chars().take(120).collect()),
            )
        })
        .filter(|(_, n, _)| *n > 0)
        .collect();
    eprintln!(
        "{strategy}: {total} records; generations {g1} {g2} {g3} {g4} {g5}; rebalances checked \
         against Java's assignor: {checked_ours} (our leader) + {checked_java} (Java leader); \
         steady states: {s3:?} / {s4:?} / {s5:?}; read per member {per_member:?}; handovers \
         {handovers:?}; commit errors {commit_errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_java_range() {
    let _serial = SERIAL.lock().await;
    mixed_group("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_java_cooperative_sticky() {
    let _serial = SERIAL.lock().await;
    mixed_group("cooperative-sticky").await;
}

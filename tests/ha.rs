//! A highly available PostgreSQL under the cluster (SPEC §10: several hosts in the store URL,
//! a failover found without a restart, no acknowledged write lost or doubled): a primary and a
//! synchronous streaming standby from Debian's `postgresql` package, two `argus-ops` nodes on a
//! two-host URL, operators writing through both nodes, then the primary's host dies (`kill -9`
//! of the postmaster and every backend) and the standby is promoted (`pg_ctl promote`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argus_e2e::pg::Postgres;
use argus_e2e::{bin, wait_until, Fleet, Ops};

/// Creates PAT `owner` on `ops`: the status and error code (and the answer, for a failure's
/// message).
fn create_pat(ops: &Ops, owner: &str) -> ((u16, Option<String>), String) {
    let (status, body) = ops.create_pat(owner);
    ((status, body["error"].as_str().map(str::to_string)), body.to_string())
}

struct Outcome {
    owner: String,
    answer: (u16, Option<String>),
    body: String,
    at: Instant,
}

#[test]
fn killing_the_primary_and_promoting_the_standby_loses_no_acknowledged_record() {
    let mut primary = Postgres::start();
    let standby = primary.start_standby();
    primary.make_synchronous();
    let url = format!(
        "postgres://argus:{}@127.0.0.1:{},127.0.0.1:{}/argus?sslmode=disable&connect_timeout=2",
        primary.password(),
        primary.port,
        standby.port
    );
    let mut fleet = Fleet::armed_on(Ops::start_on_url(&url, &[]));
    let second = fleet.ops.join(Some(&url));
    fleet.add_agent("ha-1");
    let token = fleet.activate("ha-1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);

    let outcomes = Mutex::new(Vec::<Outcome>::new());
    let stop = AtomicBool::new(false);
    let (killed_at, promoted_at) = std::thread::scope(|scope| {
        for (n, node) in [&fleet.ops, &second].into_iter().enumerate() {
            for writer in 0..2 {
                let (outcomes, stop) = (&outcomes, &stop);
                scope.spawn(move || {
                    let mut round = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let owner = format!("n{n}w{writer}r{round}@example.com");
                        let (answer, body) = create_pat(node, &owner);
                        outcomes.lock().unwrap().push(Outcome { owner, answer, body, at: Instant::now() });
                        round += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                });
            }
        }
        let acked = || outcomes.lock().unwrap().iter().filter(|o| o.answer.0 == 201).count();
        assert!(wait_until(Duration::from_secs(30), || acked() >= 40), "writes before the failover");
        primary.kill9();
        let killed_at = Instant::now();
        standby.promote();
        let promoted_at = Instant::now();
        // Both nodes acknowledge again, without a restart.
        let recovered = |n: usize| {
            let prefix = format!("n{n}");
            outcomes
                .lock()
                .unwrap()
                .iter()
                .filter(|o| o.owner.starts_with(&prefix) && o.at > promoted_at && o.answer.0 == 201)
                .count()
                >= 10
        };
        let both = wait_until(Duration::from_secs(60), || recovered(0) && recovered(1));
        stop.store(true, Ordering::SeqCst);
        assert!(both, "both nodes write again after the promotion");
        (killed_at, promoted_at)
    });
    let outcomes = outcomes.into_inner().unwrap();
    let first_after = |n: usize| {
        let prefix = format!("n{n}");
        outcomes
            .iter()
            .filter(|o| o.owner.starts_with(&prefix) && o.at > killed_at && o.answer.0 == 201)
            .map(|o| o.at)
            .min()
    };
    for n in 0..2 {
        let back = first_after(n).expect("acknowledged after the failover");
        eprintln!(
            "node {n}: writes acknowledged again {:?} after the kill ({:?} after pg_ctl promote returned)",
            back.duration_since(killed_at),
            back.checked_duration_since(promoted_at)
        );
    }
    // A durable command in the session that was live before the failover, through each node.
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || fleet.command(&token, "ping", None).code == 0),
        "commands are served again"
    );
    eprintln!("a command ran {:?} after the promotion", started.saturating_duration_since(promoted_at));

    // Every acknowledged PAT is recorded exactly once; nothing answered failed took effect;
    // every failure was a clean 503 store_unavailable.
    let audited: Vec<String> = fleet
        .ops
        .audit_events("pat_created")
        .iter()
        .filter_map(|e| e["details"]["owner"].as_str().map(str::to_string))
        .collect();
    let (mut acked, mut refused) = (0, 0);
    for outcome in &outcomes {
        let times = audited.iter().filter(|o| **o == outcome.owner).count();
        match &outcome.answer {
            (201, None) => {
                acked += 1;
                assert_eq!(times, 1, "{} acknowledged: recorded once", outcome.owner);
            }
            (503, Some(code)) if code == "store_unavailable" => {
                refused += 1;
                assert_eq!(times, 0, "{} answered failed yet recorded", outcome.owner);
            }
            other => panic!(
                "{}: unexpected answer {other:?}: {}\nnode logs:\n{}\n{}",
                outcome.owner,
                outcome.body,
                fleet.ops.log(),
                second.log()
            ),
        }
    }
    eprintln!("{acked} acknowledged, {refused} refused across the failover");
    // One unbroken chain on the new primary.
    let verify =
        std::process::Command::new(bin("argus-ops")).args(["audit", "verify", "--store", &url]).output().unwrap();
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    drop(second);
}

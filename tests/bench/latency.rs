//! `argus-bench latency`: functional deadlines measured precisely.

use std::time::{Duration, Instant};

use argus_e2e::{wait_until, Fleet};

use crate::common::*;

/// Functional deadlines measured precisely: kill switch → session ended (server audit), and
/// revoke answered → agent link closed (agent status file).
pub(crate) fn latency(rounds: usize) {
    println!("== latency: {rounds} rounds each");
    let mut fleet = Fleet::armed(&[]);
    let index = fleet.add_agent("k1");
    let mut kill = Vec::new();
    for _ in 0..rounds {
        fleet.activate("k1");
        let before = fleet.ops.audit_events("remote_support_session_ended").len();
        let start = Instant::now();
        assert!(fleet.agents[index].cli("remote-support-off").status.success());
        assert!(wait_until(Duration::from_secs(5), || fleet.ops.audit_events("remote_support_session_ended").len()
            > before));
        kill.push(start.elapsed());
        assert!(fleet.agents[index].cli("remote-support-on").status.success());
        assert!(wait_until(Duration::from_secs(5), || fleet.op(&["agent", "capabilities", "k1"]).json["manifest"]
            ["remote_support_on"]
            == true));
    }
    summary(
        "kill switch: remote-support-off issued → session ended on the server (incl. CLI start and audit polling)",
        kill,
    );
    let mut revoke = Vec::new();
    for i in 0..rounds {
        let id = format!("r{i}");
        let idx = fleet.add_agent(&id);
        let status = fleet.agents[idx].root.join("state").join("status.json");
        let start = Instant::now();
        assert_eq!(fleet.op(&["agent", "revoke", &id, "--tenant", "T1", "--reason", "bench", "--yes"]).code, 0);
        let answered = start.elapsed();
        assert!(wait_until(Duration::from_secs(5), || std::fs::read_to_string(&status)
            .is_ok_and(|s| !s.contains("\"connected\""))));
        revoke.push(start.elapsed().saturating_sub(answered));
        fleet.agents[idx].process.terminate();
    }
    summary("revocation: revoke answered → agent sees its link closed", revoke);
}

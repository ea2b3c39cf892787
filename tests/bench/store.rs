//! `argus-bench store` (issue #11).

use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::Fleet;

use crate::common::*;

/// Issue #11: the same figures on both backends, side by side in one run — `ping` p50 over
/// 1,000 sequential commands, durable commands/s with `inflight` in flight, `agent ls` p50 —
/// first with no history, then after `history` past (ended) sessions were written into the
/// store while the server was stopped.
pub(crate) fn store(agents: usize, inflight: usize, seconds: usize, history: usize) {
    println!(
        "== store: sled vs PostgreSQL, {agents} agents, {inflight} in flight, {seconds} s, {history} past sessions"
    );
    let ids: Vec<String> = (0..agents).map(|i| format!("s{i:03}")).collect();
    for postgres in [false, true] {
        let backend = if postgres { "postgres" } else { "sled" };
        let ops = if postgres { argus_e2e::Ops::start_on_postgres(&[]) } else { argus_e2e::Ops::start_on_sled(&[]) };
        let mut fleet = Fleet::armed_on(ops);
        for id in &ids {
            fleet.add_agent(id);
        }
        let tokens: Vec<String> = ids.iter().map(|id| fleet.activate(id)).collect();
        // Both phases measure a server just restarted, with its agents back, so the only
        // difference is the history.
        let port = fleet.ops.agent.port();
        assert!(fleet.ops.stop().success());
        fleet.ops.serve(Some(port));
        for id in &ids {
            assert!(fleet.wait_online(id, true));
        }
        std::thread::sleep(SETTLE);
        let (ping, rate, ls) = store_figures(&fleet, &tokens, inflight, seconds);
        println!(
            "{backend}, no history: ping p50 {ping:.3} ms, {rate:.0} durable commands/s (every one audited), agent ls p50 {ls:.3} ms"
        );
        // History: past sessions written straight into the store while the server is stopped.
        assert!(fleet.ops.stop().success());
        let started = Instant::now();
        seed_history(&fleet, &ids, history);
        println!("{backend}: wrote {history} past sessions in {:.1} s", started.elapsed().as_secs_f64());
        fleet.ops.serve(Some(port));
        for id in &ids {
            assert!(fleet.wait_online(id, true));
        }
        std::thread::sleep(SETTLE);
        let (ping_h, rate_h, ls_h) = store_figures(&fleet, &tokens, inflight, seconds);
        println!(
            "{backend}, {history} past sessions: ping p50 {ping_h:.3} ms ({:+.1}%), {rate_h:.0} durable commands/s, agent ls p50 {ls_h:.3} ms ({:+.1}%)",
            (ping_h / ping - 1.0) * 100.0,
            (ls_h / ls - 1.0) * 100.0
        );
    }
}

/// Time given to a just-restarted server (and sled's background work after a bulk write)
/// before measuring.
pub(crate) const SETTLE: Duration = Duration::from_secs(20);

pub(crate) fn store_figures(fleet: &Fleet, tokens: &[String], inflight: usize, seconds: usize) -> (f64, f64, f64) {
    let op = Arc::new(Operator::new(fleet));
    let tokens = tokens.to_vec();
    runtime().block_on(async {
        let mut samples = ping_round_trips(&op, &tokens[0]).await;
        samples.sort();
        let ping = samples[samples.len() / 2].as_secs_f64() * 1000.0;
        let mut ls = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            let (status, _) = op.get("/support/tenants/T1/agents").await;
            assert_eq!(status, 200);
            ls.push(start.elapsed());
        }
        ls.sort();
        let ls = ls[ls.len() / 2].as_secs_f64() * 1000.0;
        let (_, rate) = throughput(std::slice::from_ref(&op), &tokens, inflight, seconds).await;
        (ping, rate, ls)
    })
}

/// Writes `count` ended sessions (spread over `agents`) into the stopped server's store, in
/// batches.
pub(crate) fn seed_history(fleet: &Fleet, agents: &[String], count: usize) {
    use argus_fsm::machine::Machine as _;
    let url = argus_ops::store::resolve(None, &fleet.ops.data()).unwrap();
    let store = argus_ops::store::open(&url, &fleet.ops.data()).unwrap();
    let release = || argus_ops::store::SledStore::forget(&fleet.ops.data().join("db"));
    let now = argus_fsm::Timestamp(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64,
    );
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(5_000) {
        let writes: Vec<argus_ops::store::Write> = chunk
            .iter()
            .map(|&i| {
                let mut token = [0u8; 32];
                token[..8].copy_from_slice(&(i as u64).to_le_bytes());
                token[31] = 0xee;
                let mut session = argus_fsm::session::Session::start(
                    format!("ses_history_{i}"),
                    "T1".into(),
                    agents[i % agents.len()].clone(),
                    "op@example.com".into(),
                    token,
                    "history".into(),
                    60_000,
                    now.plus_millis(-3_600_000),
                );
                session.handle(argus_fsm::session::SessionEvent::Deactivate, now.plus_millis(-3_590_000)).unwrap();
                argus_ops::store::Write::Session(session)
            })
            .collect();
        store.commit(&writes).unwrap();
    }
    // The server (another process) opens it next.
    drop(store);
    release();
}

//! `argus-bench cluster` (issue #12).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::{wait_until, Fleet};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::common::*;
use crate::store::SETTLE;

/// Issue #12: three nodes on one PostgreSQL. A routed command against a local one; durable
/// commands/s through one node and through all three; a simulated fleet split over the nodes
/// (memory per agent on each); revocation through one node of agents another holds; then one
/// node killed and how long its agents take to be online on the others, and how they spread.
pub(crate) fn cluster(per_node: usize, inflight: usize, seconds: usize, revocations: usize) {
    println!("== cluster: 3 nodes on one PostgreSQL, {per_node} simulated agents per node");
    let mut fleet = Fleet::armed_on(argus_e2e::Ops::start_on_postgres(&[]));
    let mut others: Vec<argus_e2e::Ops> = (0..2).map(|_| fleet.ops.join(None)).collect();
    let rt = runtime();
    // Real agents (held by node 0), each with a live session.
    let ids = ["c0", "c1", "c2"];
    for id in ids {
        fleet.add_agent(id);
    }
    let template = Operator::new(&fleet);
    let operator_on = |node: &argus_e2e::Ops| Operator {
        base: format!("https://{}", node.api),
        http: template.http.clone(),
        pat: template.pat.clone(),
    };
    let tokens: Vec<String> = ids.iter().map(|id| fleet.activate(id)).collect();
    std::thread::sleep(SETTLE);
    let local = Arc::new(operator_on(&fleet.ops));
    let routed = Arc::new(operator_on(&others[0]));
    let (local_p50, routed_p50) = rt.block_on(async {
        let mut medians = Vec::new();
        for op in [&local, &routed] {
            let samples = ping_round_trips(op, &tokens[0]).await;
            medians.push(summary(
                if Arc::ptr_eq(op, &local) {
                    "ping through the holding node"
                } else {
                    "ping through another node (routed)"
                },
                samples,
            ));
        }
        (medians[0], medians[1])
    });
    println!("routed command: +{:.3} ms p50 over a local one ({:.2}×)", routed_p50 - local_p50, routed_p50 / local_p50);
    let (one, three) = rt.block_on(async {
        let (_, one) = throughput(std::slice::from_ref(&local), &tokens, inflight, seconds).await;
        // The same load spread over the three nodes (two thirds of it routed).
        let ops = [local.clone(), routed.clone(), Arc::new(operator_on(&others[1]))];
        let (_, three) = throughput(&ops, &tokens, inflight, seconds).await;
        (one, three)
    });
    println!(
        "durable commands/s, {inflight} in flight: {one:.0} through one node, {three:.0} spread over three ({:.2}×)",
        three / one
    );

    // A simulated fleet: agents enrolled through node 0, each connecting first to node i % 3
    // and failing over like the real agent (next address, jittered backoff).
    let agents = per_node * 3;
    let nodes: Vec<std::net::SocketAddr> =
        std::iter::once(fleet.ops.agent).chain(others.iter().map(|o| o.agent)).collect();
    let pids: Vec<u32> =
        std::iter::once(&fleet.ops).chain(others.iter()).map(|o| o.server.as_ref().unwrap().child.id()).collect();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let keys: Vec<SigningKey> = (0..agents)
        .map(|i| SigningKey::from_bytes(&argus_fsm::signed::sha256(format!("cluster-{i}").as_bytes())))
        .collect();
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, &keys, nodes[0], &ca, "k");
    let rss_before: Vec<u64> = pids.iter().map(|&pid| rss_kib(pid)).collect();
    // Per agent: the node it is on (usize::MAX when not connected), and when it reconnected.
    let on_node: Arc<Vec<std::sync::atomic::AtomicUsize>> =
        Arc::new((0..agents).map(|_| AtomicUsize::new(usize::MAX)).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let revoked_at: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; agents]));
    let closed_after: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    let back_at: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; agents]));
    // The node list as the real agents hold it: addresses, then (once the nodes have told them)
    // how many agents each node holds.
    let told: Arc<std::sync::RwLock<Vec<argus_agent::link::Candidate>>> = Arc::new(std::sync::RwLock::new(
        nodes.iter().map(|n| argus_agent::link::Candidate { address: n.to_string(), agents_online: None }).collect(),
    ));
    let start = Instant::now();
    let counters = argus_e2e::simulated::Counters { connected: connected.clone(), ..Default::default() };
    let handles: Vec<_> = {
        let _guard = rt.enter();
        let endpoints: Vec<quinn::Endpoint> =
            (0..16).map(|_| argus_agent::link::endpoint_for(nodes[0], &ca).unwrap()).collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(256));
        keys.iter()
            .enumerate()
            .map(|(i, key)| {
                let agent = argus_e2e::simulated::SimulatedAgent::new(
                    format!("k{i:05}"),
                    key.clone(),
                    endpoints[i % endpoints.len()].clone(),
                    &ca,
                    (i as u64).wrapping_mul(2654435761) ^ start.elapsed().as_nanos() as u64,
                );
                let (nodes, permits, counters) = (nodes.clone(), permits.clone(), counters.clone());
                let (on_node, revoked_at, closed_after, back_at, told) =
                    (on_node.clone(), revoked_at.clone(), closed_after.clone(), back_at.clone(), told.clone());
                rt.spawn(async move {
                    // Like the real agent: a draw over the node list weighted by the loads told,
                    // skipping the node whose link just dropped; the first attempt splits the
                    // fleet evenly.
                    let names: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
                    let mut draws = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let mut first = true;
                    let server = |lost: Option<std::net::SocketAddr>| {
                        if std::mem::take(&mut first) {
                            return nodes[i % nodes.len()];
                        }
                        draws = draws.wrapping_add(0x9E37_79B9_7F4A_7C15);
                        let random = (draws ^ (draws >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        let list = told.read().unwrap().clone();
                        let lost = lost.map(|addr| addr.to_string());
                        let pick = argus_agent::link::next_server(&list, random, lost.as_deref().as_slice());
                        nodes[names.iter().position(|n| *n == pick).unwrap()]
                    };
                    let linked = |connection: quinn::Connection, addr: std::net::SocketAddr| {
                        let node = nodes.iter().position(|n| *n == addr).unwrap();
                        let (on_node, revoked_at, closed_after, back_at) =
                            (on_node.clone(), revoked_at.clone(), closed_after.clone(), back_at.clone());
                        async move {
                            on_node[i].store(node, Ordering::SeqCst);
                            back_at.lock().unwrap()[i] = Some(Instant::now());
                            connection.closed().await;
                            on_node[i].store(usize::MAX, Ordering::SeqCst);
                            match revoked_at.lock().unwrap()[i] {
                                Some(at) => {
                                    closed_after.lock().unwrap().push(at.elapsed());
                                    argus_e2e::simulated::AfterLink::Stop
                                }
                                None => argus_e2e::simulated::AfterLink::Reconnect,
                            }
                        }
                    };
                    agent.run(usize::MAX, Some(&permits), &counters, server, linked).await;
                })
            })
            .collect()
    };
    let all = wait_until(Duration::from_secs(600), || connected.load(Ordering::Relaxed) == agents);
    println!(
        "connect: {} of {agents} connected and authenticated in {:.1} s",
        connected.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
    assert!(all);
    std::thread::sleep(Duration::from_secs(3));
    let split: Vec<usize> = (0..3).map(|n| on_node.iter().filter(|a| a.load(Ordering::SeqCst) == n).count()).collect();
    // What the nodes tell their agents once the loads have settled.
    for (candidate, held) in told.write().unwrap().iter_mut().zip(&split) {
        candidate.agents_online = Some(*held as u64);
    }
    for (n, pid) in pids.iter().enumerate() {
        let after = rss_kib(*pid);
        println!(
            "node {n}: {} agents, RSS {} → {after} KiB: {:.1} KiB per connected agent",
            split[n],
            rss_before[n],
            after.saturating_sub(rss_before[n]) as f64 / split[n].max(1) as f64
        );
    }

    // Revocation through node 2 of agents node 1 holds.
    let via_two = Operator {
        pat: fleet.ops.admin_pat.clone(),
        base: format!("https://{}", others[1].api),
        ..Operator::new(&fleet)
    };
    let targets: Vec<usize> =
        (0..agents).filter(|&i| on_node[i].load(Ordering::SeqCst) == 1).take(revocations).collect();
    rt.block_on(async {
        for &i in &targets {
            revoked_at.lock().unwrap()[i] = Some(Instant::now());
            let (status, body) = via_two
                .post(&format!("/support/agents/k{i:05}/revoke"), None, json!({ "tenant": "T1", "reason": "bench" }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    });
    wait_until(Duration::from_secs(30), || closed_after.lock().unwrap().len() == targets.len());
    summary(
        &format!(
            "revocation through node 2 of an agent node 1 holds, {} connected: request sent → connection closed",
            connected.load(Ordering::Relaxed)
        ),
        closed_after.lock().unwrap().clone(),
    );

    // Kill node 0: its agents come back on nodes 1 and 2.
    let victims: Vec<usize> = (0..agents).filter(|&i| on_node[i].load(Ordering::SeqCst) == 0).collect();
    let killed = Instant::now();
    fleet.ops.kill();
    let back = wait_until(Duration::from_secs(120), || {
        victims.iter().all(|&i| {
            let node = on_node[i].load(Ordering::SeqCst);
            node == 1 || node == 2
        })
    });
    let times: Vec<Duration> = {
        let back_at = back_at.lock().unwrap();
        victims.iter().filter_map(|&i| back_at[i].filter(|at| *at > killed).map(|at| at - killed)).collect()
    };
    let moved = times.len();
    summary(
        &format!(
            "node 0 killed (kill -9): {moved} of {} of its agents online elsewhere, time after the kill",
            victims.len()
        ),
        times,
    );
    let to_one = victims.iter().filter(|&&i| on_node[i].load(Ordering::SeqCst) == 1).count();
    let to_two = victims.iter().filter(|&&i| on_node[i].load(Ordering::SeqCst) == 2).count();
    println!(
        "spread of the moved agents: node 1 {to_one} ({:.0}%), node 2 {to_two} ({:.0}%){}",
        to_one as f64 * 100.0 / victims.len().max(1) as f64,
        to_two as f64 * 100.0 / victims.len().max(1) as f64,
        if back { "" } else { " — NOT ALL BACK within 120 s" }
    );
    for handle in handles {
        handle.abort();
    }
    others.clear();
}

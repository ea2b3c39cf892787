//! `argus-bench fleet` (issues #3, #15).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_e2e::{wait_until, Fleet};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::common::*;

/// Issue #3: N simulated agents through the agent's own connection code, from one process.
/// Issue #3 and #15: a simulated fleet on one node — connect, memory per agent, two restarts
/// (the first without the ticket keys: every agent runs a full handshake, as before #15; the
/// second with them: agents resume), revocations during the second storm, then revocations
/// with the whole fleet connected. Each simulated agent has its own TLS client configuration,
/// so its own session ticket, as a real agent does.
pub(crate) fn fleet(agents: usize, revocations: usize, restarts: usize) {
    println!("== fleet: {agents} simulated agents");
    let mut fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let rt = runtime();
    let pid = fleet.ops.server.as_ref().unwrap().child.id();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let keys: Vec<SigningKey> = (0..agents)
        .map(|i| SigningKey::from_bytes(&argus_fsm::signed::sha256(format!("bench-{i}").as_bytes())))
        .collect();
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, &keys, fleet.ops.agent, &ca, "f");
    let rss_before = rss_kib(pid);
    let online: Arc<Vec<std::sync::atomic::AtomicBool>> = Arc::new((0..agents).map(|_| false.into()).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let revoked_at: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; agents]));
    let closed_after: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    // A revoked agent let in again (must stay 0).
    let readmitted = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let addr = fleet.ops.agent;
    let counters = argus_e2e::simulated::Counters { connected: connected.clone(), ..Default::default() };
    let handles: Vec<_> = {
        let _guard = rt.enter();
        let endpoints: Vec<quinn::Endpoint> =
            (0..16).map(|_| argus_agent::link::endpoint_for(addr, &ca).unwrap()).collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(256));
        keys.iter()
            .enumerate()
            .map(|(i, key)| {
                // Its own ticket store, as a real agent's.
                let agent = argus_e2e::simulated::SimulatedAgent::new(
                    format!("f{i:05}"),
                    key.clone(),
                    endpoints[i % endpoints.len()].clone(),
                    &ca,
                    (i as u64).wrapping_mul(2654435761) ^ start.elapsed().as_nanos() as u64,
                );
                let (online, permits, counters) = (online.clone(), permits.clone(), counters.clone());
                let (revoked_at, closed_after, readmitted) =
                    (revoked_at.clone(), closed_after.clone(), readmitted.clone());
                rt.spawn(async move {
                    let linked = |connection: quinn::Connection, _| {
                        let (online, revoked_at, closed_after, readmitted) =
                            (online.clone(), revoked_at.clone(), closed_after.clone(), readmitted.clone());
                        async move {
                            if revoked_at.lock().unwrap()[i].is_some() {
                                readmitted.fetch_add(1, Ordering::SeqCst);
                            }
                            online[i].store(true, Ordering::SeqCst);
                            connection.closed().await;
                            online[i].store(false, Ordering::SeqCst);
                            match revoked_at.lock().unwrap()[i] {
                                Some(at) => {
                                    closed_after.lock().unwrap().push(at.elapsed());
                                    argus_e2e::simulated::AfterLink::Stop
                                }
                                None => argus_e2e::simulated::AfterLink::Reconnect,
                            }
                        }
                    };
                    agent.run(usize::MAX, Some(&permits), &counters, |_| addr, linked).await;
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
    std::thread::sleep(Duration::from_secs(2));
    // What the connected fleet costs the server at rest (keep-alives, timers), over 5 s.
    let (cpu_before, rest) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    println!(
        "server CPU at rest with {agents} connected: {:.1} % of a core",
        (cpu_seconds(pid) - cpu_before) / rest.elapsed().as_secs_f64() * 100.0
    );
    let rss_after = rss_kib(pid);
    println!(
        "server RSS: {rss_before} KiB before, {rss_after} KiB with {agents} connected: {:.1} KiB per connected agent",
        (rss_after.saturating_sub(rss_before)) as f64 / agents as f64
    );

    // Restarts: all back online with none left behind — first without the ticket keys (full
    // handshakes, the server before #15), then with them (resumed).
    let port = fleet.ops.agent.port();
    let mut storm_revocations = Vec::new();
    let mut answered = Vec::new();
    let both = [("full handshakes (ticket keys removed)", false), ("resumed (ticket keys kept)", true)];
    for (label, keep_keys) in both.into_iter().skip(2 - restarts.min(2)) {
        fleet.ops.stop();
        if !keep_keys {
            std::fs::remove_file(fleet.ops.data().join("tls").join("ticket-keys")).unwrap();
        }
        let restart = Instant::now();
        fleet.ops.serve(Some(port));
        let serving = restart.elapsed();
        // During the resumed storm: revoke agents as soon as they are back, while the rest of
        // the herd is still arriving.
        let revoker = keep_keys.then(|| {
            let (online, revoked_at) = (online.clone(), revoked_at.clone());
            let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
            let count = revocations.min(agents / 2);
            std::thread::spawn(move || {
                let rt = runtime();
                let mut sent = Vec::new();
                let mut candidates = (agents / 2..agents).cycle();
                let deadline = Instant::now() + Duration::from_secs(60);
                while sent.len() < count && Instant::now() < deadline {
                    let i = candidates.next().unwrap();
                    if !online[i].load(Ordering::SeqCst) || revoked_at.lock().unwrap()[i].is_some() {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    let asked = Instant::now();
                    revoked_at.lock().unwrap()[i] = Some(asked);
                    rt.block_on(async {
                        let (status, body) = admin
                            .post(
                                &format!("/support/agents/f{i:05}/revoke"),
                                None,
                                json!({ "tenant": "T1", "reason": "bench" }),
                            )
                            .await;
                        assert_eq!(status, 200, "{body}");
                    });
                    sent.push((i, asked.elapsed()));
                }
                sent
            })
        });
        let expected = |revoked: usize| agents - revoked;
        let all = wait_until(Duration::from_secs(180), || {
            connected.load(Ordering::Relaxed) + closed_after.lock().unwrap().len() >= agents
        });
        let back = restart.elapsed();
        // The new server process's CPU over the whole storm (start-up included), per agent back.
        let storm_cpu = cpu_seconds(fleet.ops.server.as_ref().unwrap().child.id());
        if let Some(revoker) = revoker {
            (storm_revocations, answered) = revoker.join().unwrap().into_iter().unzip();
        }
        let text = argus_e2e::scrape(fleet.ops.addresses()["metrics"].as_str().unwrap());
        println!(
            "restart, {label}: {} of {} back online {:.1} s after the server was started again ({:.1} s after it was serving; server CPU {:.0} µs per agent back); {} resumed, {} given a later turn",
            connected.load(Ordering::Relaxed),
            expected(storm_revocations.len()),
            back.as_secs_f64(),
            (back - serving).as_secs_f64(),
            storm_cpu / agents as f64 * 1e6,
            argus_e2e::sample(&text, "argus_agent_tls_resumed_total"),
            argus_e2e::sample(&text, "argus_agent_handshakes_deferred_total"),
        );
        assert!(all, "not all agents came back");
    }
    let storm: Vec<Duration> = closed_after.lock().unwrap().clone();
    if !storm.is_empty() {
        summary("revocation during the reconnect storm: revoke request sent → connection closed at the agent", storm);
        // The server closes the link before it answers: this bounds the server's part, without
        // the wake-up of a simulated agent in a client process busy with the rest of the herd.
        summary("revocation during the reconnect storm: revoke request sent → answered", answered);
    }
    std::thread::sleep(Duration::from_secs(2));
    let readmitted_after_storm = readmitted.load(Ordering::SeqCst);
    println!(
        "revoked during the storm: {}, let in again afterwards: {readmitted_after_storm}",
        storm_revocations.len()
    );
    assert_eq!(readmitted_after_storm, 0, "a revoked agent got back in");

    // Revocations with the fleet connected: revoke answered → that agent's connection closed.
    let before = closed_after.lock().unwrap().len();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let count = revocations.min(agents / 2);
    rt.block_on(async {
        for i in 0..count {
            revoked_at.lock().unwrap()[i] = Some(Instant::now());
            let (status, body) = admin
                .post(&format!("/support/agents/f{i:05}/revoke"), None, json!({ "tenant": "T1", "reason": "bench" }))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    });
    wait_until(Duration::from_secs(30), || closed_after.lock().unwrap().len() == before + count);
    let samples = closed_after.lock().unwrap()[before..].to_vec();
    // The server closes the link before it answers, so this is an upper bound of "answered →
    // closed": it also counts the request itself.
    summary(
        &format!(
            "revocation with {} connected: revoke request sent → connection closed at the agent",
            connected.load(Ordering::Relaxed) + count
        ),
        samples,
    );
    for handle in handles {
        handle.abort();
    }
}

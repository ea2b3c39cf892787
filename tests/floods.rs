//! SPEC §12 "Floods" on the agent listener, through the real binaries: raw QUIC Initials from
//! other loopback addresses (built with quinn-proto, answered never or only at the Retry), and
//! challenge-style Hellos that never bring their answer. While each flood runs, an enrolled
//! agent from 127.0.0.1 still enrolls and connects within 5 s.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use argus_e2e::{flood, sample_install_root, wait_until, Agent, Fleet};

/// The SPEC's bound for an agent outside a flood.
const CONNECTS_WITHIN: Duration = Duration::from_secs(5);

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// Issues a token and enrolls `agent_id` (a full QUIC and link handshake); how long the
/// enrollment took.
fn enroll_timed(fleet: &Fleet, root: &Path, agent_id: &str) -> Duration {
    sample_install_root(root);
    let token = fleet.ops.admin(&["agent", "enroll-token", agent_id, "--tenant", &fleet.tenant]);
    assert_eq!(token.code, 0, "{}", token.stderr);
    let start = Instant::now();
    let out = fleet.enroll(root, agent_id, token.json["token"].as_str().unwrap());
    let took = start.elapsed();
    assert!(out.status.success(), "enroll during the flood: {}", String::from_utf8_lossy(&out.stderr));
    took
}

/// Starts the enrolled agent; how long until the server lists it online.
fn online_timed(fleet: &mut Fleet, root: &Path, agent_id: &str) -> Duration {
    let start = Instant::now();
    fleet.agents.push(Agent::start(root, fleet.ops.dir.path()));
    assert!(fleet.wait_online(agent_id, true), "{agent_id} never came online during the flood");
    start.elapsed()
}

fn metric(fleet: &Fleet, name: &str) -> f64 {
    fleet.ops.metric(name)
}

/// Whether an `agent_auth_failed` record (single or aggregated) names `code`.
fn refusal_audited(fleet: &Fleet, code: &str) -> bool {
    fleet
        .ops
        .audit_events("agent_auth_failed")
        .iter()
        .any(|r| r["details"]["code"] == code || r["details"]["by_code"][code].as_u64().is_some_and(|n| n > 0))
}

#[test]
fn a_flood_of_initials_that_are_never_answered_holds_nothing_and_agents_still_connect() {
    let mut fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let server = fleet.ops.agent;
    // 1,000 Initials a second from 16 addresses for 8 s: eight times the rate that kept every
    // one of the old listener's 512 places taken (~120/s, each held 10 s).
    let sources: Vec<IpAddr> = (2..18).map(loopback).collect();
    let flood = std::thread::spawn(move || flood::initials(server, &ca, &sources, 8_000, 1_000.0, false));
    assert!(
        wait_until(Duration::from_secs(10), || metric(&fleet, "argus_agent_handshakes_shed_total{reason=\"retry\"}")
            >= 200.0),
        "past the threshold, unvalidated addresses are asked to Retry"
    );
    let root = fleet.ops.dir.path().join("root-flooded");
    let enrolled = enroll_timed(&fleet, &root, "flooded");
    let online = online_timed(&mut fleet, &root, "flooded");
    let sent = flood.join().unwrap();
    eprintln!(
        "flood: {} Initials at {:.0}/s; during it an agent enrolled in {:?} and was online in {:?}",
        sent.initials,
        sent.rate(),
        enrolled,
        online
    );
    assert!(sent.rate() > 500.0, "the flood really ran at rate: {:.0}/s", sent.rate());
    assert!(enrolled < CONNECTS_WITHIN, "enrolled in {enrolled:?} during the flood");
    assert!(online < CONNECTS_WITHIN, "online in {online:?} during the flood");
    // The few accepted before the threshold are dropped after the 5 s QUIC handshake deadline,
    // counted and audited within the refusal budget.
    assert!(
        wait_until(Duration::from_secs(20), || metric(&fleet, "argus_agent_handshakes_shed_total{reason=\"timeout\"}")
            > 0.0
            && refusal_audited(&fleet, "handshake_timeout")),
        "half-open handshakes time out, counted and audited"
    );
    assert!(wait_until(Duration::from_secs(20), || metric(&fleet, "argus_agent_handshakes_in_progress") == 0.0));
    // The agent is still served.
    let token = fleet.activate("flooded");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
}

#[test]
fn a_flood_that_validates_its_address_and_then_stalls_is_held_to_its_share() {
    let mut fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let server = fleet.ops.agent;
    // One address that receives (it answers the Retry, so it is validated) and then never
    // finishes: 1,500 connections in 1.5 s, each held until the 5 s deadline.
    let flood = std::thread::spawn(move || flood::initials(server, &ca, &[loopback(2)], 1_500, 1_000.0, true));
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &fleet,
            "argus_agent_handshakes_shed_total{reason=\"per_address\"}"
        ) > 0.0),
        "one address is held to its share"
    );
    let in_progress = metric(&fleet, "argus_agent_handshakes_in_progress");
    assert!(
        in_progress <= argus_ops::link::intake::PER_ADDRESS as f64 + 1.0,
        "{in_progress} handshakes in progress: at most the one address's share"
    );
    let root = fleet.ops.dir.path().join("root-beside");
    let enrolled = enroll_timed(&fleet, &root, "beside");
    let online = online_timed(&mut fleet, &root, "beside");
    let sent = flood.join().unwrap();
    eprintln!(
        "validated flood: {} Initials at {:.0}/s ({} Retries answered); an agent enrolled in {:?}, online in {:?}",
        sent.initials,
        sent.rate(),
        sent.retries_answered,
        enrolled,
        online
    );
    assert!(sent.retries_answered > 0, "the flood answered Retries: {sent:?}");
    assert!(enrolled < CONNECTS_WITHIN, "enrolled in {enrolled:?} during the flood");
    assert!(online < CONNECTS_WITHIN, "online in {online:?} during the flood");
}

#[test]
fn challenge_hellos_whose_answer_never_comes_hold_no_admission_place() {
    use argus_fsm::handshake::{Hello, Intent};
    use argus_fsm::wire::{AgentMessage, ServerMessage};
    use argus_transport_quic::{client_endpoint, read_frame, write_frame};

    // Four admission places: before, 26 connections a second kept them all taken.
    let mut fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0"), ("ARGUS_ADMISSION_LIMIT", "4")]);
    fleet.add_agent("known");
    let root = fleet.ops.dir.path().join("root-late");
    let enrolled = enroll_timed(&fleet, &root, "late");
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let server = fleet.ops.agent;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let challenged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // From another address, an older agent's Hello for a real agent ID, every 50 ms for 8 s;
    // each gets its challenge and never answers it.
    let stalls = {
        let challenged = challenged.clone();
        runtime.spawn(async move {
            let endpoint = client_endpoint("127.0.0.2:0".parse().unwrap(), &ca).unwrap();
            let mut held = Vec::new();
            let until = tokio::time::Instant::now() + Duration::from_secs(8);
            while tokio::time::Instant::now() < until {
                let connection = endpoint.connect(server, "localhost").unwrap().await.expect("QUIC connects");
                let (mut send, mut recv) = connection.open_bi().await.unwrap();
                let hello = Hello { agent_id: "known".into(), tenant: "T1".into(), intent: Intent::Authenticate };
                write_frame(&mut send, &AgentMessage::Hello(hello)).await.unwrap();
                if let Ok(Some(ServerMessage::Challenge(_))) = read_frame::<ServerMessage>(&mut recv).await {
                    challenged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                held.push((connection, send, recv));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            held
        })
    };
    let count = || challenged.load(std::sync::atomic::Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(10), || count() >= 8), "the stalled Hellos are challenged");
    let online = online_timed(&mut fleet, &root, "late");
    let held = runtime.block_on(stalls).unwrap();
    let challenged = count();
    eprintln!("{challenged} unanswered challenges held open; an agent enrolled in {enrolled:?}, online in {online:?}");
    assert!(challenged >= 20, "the stalled Hellos were challenged: {challenged}");
    assert!(online < CONNECTS_WITHIN, "online in {online:?} while unanswered challenges were held");
    assert_eq!(metric(&fleet, "argus_agent_handshakes_deferred_total"), 0.0, "nobody was kept waiting for a place");
    // Each unanswered challenge ends at the handshake deadline, counted into the refusal audit.
    assert!(
        wait_until(Duration::from_secs(30), || refusal_audited(&fleet, "handshake_timeout")),
        "handshake timeouts are audited"
    );
    drop(held);
}

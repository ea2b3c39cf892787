//! Issue #15: cheap reconnects that stay exact. TLS session resumption (tickets that outlive a
//! restart) never skips the passkey proof nor revives a revoked agent; admission control's
//! turn (`Busy { retry_after_ms }`) is honoured by the real agent; a few hundred real
//! connections all come back after a restart.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_agent::link::{connect_with, Turned};
use argus_e2e::{wait_until, Fleet};
use argus_fsm::handshake::{answer_challenge, Hello, Intent};
use argus_fsm::wire::{AgentMessage, ServerMessage};
use argus_fsm::Code;
use ed25519_dalek::SigningKey;

const RESUMED: &str = "argus_agent_tls_resumed_total";
const DEFERRED: &str = "argus_agent_handshakes_deferred_total";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn hello(agent_id: &str) -> Hello {
    Hello { agent_id: agent_id.into(), tenant: "T1".into(), intent: Intent::Authenticate }
}

/// Enrolls a simulated agent through the agent library's real enrollment handshake.
fn enroll(fleet: &Fleet, rt: &tokio::runtime::Runtime, agent_id: &str, key: &SigningKey) {
    let token = fleet.ops.admin(&["agent", "enroll-token", agent_id, "--tenant", "T1"]).json["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let addr = fleet.ops.agent;
    rt.block_on(async {
        let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
        let intent = Intent::Enroll { token, passkey: key.verifying_key().to_bytes() };
        let hello = Hello { agent_id: agent_id.into(), tenant: "T1".into(), intent };
        let (connection, ..) =
            argus_agent::link::connect(&endpoint, addr, "127.0.0.1", hello, key).await.unwrap().expect("enrolled");
        connection.close(0u32.into(), b"enrolled");
        endpoint.wait_idle().await;
    });
}

/// One connection of `agent_id` with `key` and the ticket store in `config`: let in (and
/// closed again at once), or turned away.
fn attempt(
    fleet: &Fleet,
    rt: &tokio::runtime::Runtime,
    config: &quinn::ClientConfig,
    agent_id: &str,
    key: &SigningKey,
) -> Result<(), Turned> {
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let addr = fleet.ops.agent;
    rt.block_on(async {
        let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
        let outcome = connect_with(&endpoint, config.clone(), addr, "127.0.0.1", hello(agent_id), key).await.unwrap();
        let result = outcome.map(|(connection, ..)| connection.close(0u32.into(), b"done"));
        endpoint.wait_idle().await;
        result
    })
}

fn metrics_fleet(extra: &[(&str, &str)]) -> Fleet {
    let mut env = vec![("ARGUS_METRICS_LISTEN", "127.0.0.1:0")];
    env.extend_from_slice(extra);
    Fleet::armed(&env)
}

/// An enrolled simulated agent with a ticket store of its own, which has connected once (a
/// full handshake: the server's tickets came with it).
struct Ticketed {
    fleet: Fleet,
    rt: tokio::runtime::Runtime,
    agent_id: &'static str,
    key: SigningKey,
    config: quinn::ClientConfig,
}

impl Ticketed {
    fn new(agent_id: &'static str, seed: u8) -> Ticketed {
        let fleet = metrics_fleet(&[]);
        let rt = runtime();
        let key = SigningKey::from_bytes(&[seed; 32]);
        enroll(&fleet, &rt, agent_id, &key);
        let config = argus_transport_quic::client_config(&std::fs::read(fleet.ops.ca()).unwrap()).unwrap();
        let ticketed = Ticketed { fleet, rt, agent_id, key, config };
        assert_eq!(ticketed.attempt(&ticketed.key), Ok(()));
        assert_eq!(ticketed.fleet.ops.metric(RESUMED), 0.0, "the first connection is a full handshake");
        ticketed
    }

    /// Another connection with the same ticket store, proving `key`.
    fn attempt(&self, key: &SigningKey) -> Result<(), Turned> {
        attempt(&self.fleet, &self.rt, &self.config, self.agent_id, key)
    }
}

#[test]
fn a_resumed_connection_with_the_wrong_passkey_is_refused_and_audited() {
    let agent = Ticketed::new("r1", 21);
    // The same ticket store, another passkey: the TLS session resumes, the proof fails.
    let impostor = SigningKey::from_bytes(&[22; 32]);
    assert_eq!(
        agent.attempt(&impostor),
        Err(Turned::Refused(Code::AgentAuthFailed)),
        "resumption must not skip the passkey proof"
    );
    let ops = &agent.fleet.ops;
    assert_eq!(ops.metric(RESUMED), 1.0, "that connection did resume its TLS session");
    assert!(
        wait_until(Duration::from_secs(5), || ops
            .audit_events("agent_auth_failed")
            .iter()
            .any(|e| e["agent"] == "r1" && e["details"]["code"] == "agent_auth_failed")),
        "the refusal is audited: {:?}",
        ops.audit_events("agent_auth_failed")
    );
    // The real passkey on a resumed session: let in.
    assert_eq!(agent.attempt(&agent.key), Ok(()));
    assert_eq!(ops.metric(RESUMED), 2.0);
}

#[test]
fn a_revoked_agent_with_a_valid_ticket_is_refused() {
    let agent = Ticketed::new("r2", 31);
    let out = agent.fleet.op(&["agent", "revoke", "r2", "--tenant", "T1", "--reason", "lost laptop", "--yes"]);
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert_eq!(agent.attempt(&agent.key), Err(Turned::Refused(Code::AgentRevoked)));
    assert_eq!(agent.fleet.ops.metric(RESUMED), 1.0, "the refused connection had resumed its TLS session");
}

#[test]
fn tickets_outlive_a_restart_and_without_the_keys_agents_still_get_in() {
    let mut agent = Ticketed::new("r3", 41);
    let keys = agent.fleet.ops.data().join("tls").join("ticket-keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600, "kept like a private key");
    }
    let port = agent.fleet.ops.agent.port();
    agent.fleet.ops.stop();
    agent.fleet.ops.serve(Some(port));
    assert_eq!(agent.attempt(&agent.key), Ok(()));
    assert_eq!(agent.fleet.ops.metric(RESUMED), 1.0, "resumed across the restart");
    // Keys gone (a new data dir, a wiped disk): a full handshake, nothing refused.
    agent.fleet.ops.stop();
    std::fs::remove_file(&keys).unwrap();
    agent.fleet.ops.serve(Some(port));
    assert_eq!(agent.attempt(&agent.key), Ok(()));
    assert_eq!(agent.fleet.ops.metric(RESUMED), 0.0, "a ticket under erased keys is not accepted");
    assert!(keys.exists(), "new keys were made");
}

/// A busy server gives the agent a turn 3 s away; the real agent waits its turn (not its own
/// quicker backoff, not a retry storm). Admission places are held only by agents that have
/// proved their passkey (SPEC §12), a moment each, so the busy server here is a stand-in on the
/// server's own address and certificate that answers the first Hello with `Busy`, and the real
/// server is back on that address long before the turn comes.
#[test]
fn the_real_agent_waits_its_turn_when_the_server_is_busy() {
    let mut fleet = metrics_fleet(&[]);
    let rt = runtime();
    let root = fleet.ops.dir.path().join("root-a1");
    argus_e2e::sample_install_root(&root);
    let token =
        fleet.ops.admin(&["agent", "enroll-token", "a1", "--tenant", "T1"]).json["token"].as_str().unwrap().to_string();
    let out = fleet.enroll(&root, "a1", &token);
    assert!(out.status.success(), "enroll: {}", String::from_utf8_lossy(&out.stderr));
    let addr = fleet.ops.agent;
    fleet.ops.stop();
    let tls = fleet.ops.data().join("tls");
    let certs = argus_transport_quic::parse_certificates(&std::fs::read(tls.join("server.pem")).unwrap()).unwrap();
    let key = argus_transport_quic::parse_private_key(&std::fs::read(tls.join("server.key")).unwrap()).unwrap();
    let tickets = Arc::new(argus_transport_quic::TicketKeys::ephemeral().unwrap());
    let busy = rt.block_on(async { argus_transport_quic::server_endpoint(addr, certs, key, tickets).unwrap() });
    let turn = rt.spawn(async move {
        let connection = busy.accept().await.expect("the agent dials").await.expect("QUIC handshake");
        let (mut send, mut recv) = connection.accept_bi().await.unwrap();
        let hello = argus_transport_quic::read_frame::<AgentMessage>(&mut recv).await.unwrap();
        assert!(matches!(hello, Some(AgentMessage::ProvedHello { .. })), "{hello:?}");
        argus_transport_quic::write_frame(&mut send, &ServerMessage::Busy { retry_after_ms: 3_000 }).await.unwrap();
        let told = Instant::now();
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
        connection.close(5u32.into(), b"busy");
        busy.wait_idle().await;
        drop(busy);
        told
    });
    fleet.agents.push(argus_e2e::Agent::start(&root, fleet.ops.dir.path()));
    let told = rt.block_on(turn).unwrap();
    // The real server is back on the same address at once.
    fleet.ops.serve(Some(addr.port()));
    assert!(fleet.wait_online("a1", true), "the agent never came in");
    let waited = told.elapsed();
    assert!(waited >= Duration::from_millis(2_500), "the agent came back after {waited:?}, before its 3 s turn");
    let log = std::fs::read_to_string(&fleet.agents[0].process.log).unwrap_or_default();
    assert!(log.contains("coming back at its turn"), "{log}");
}

/// A few hundred real connections (the agent library, one ticket store each) come back after
/// an ops restart, through admission control (one place: an agent holds it only while the server
/// checks its proof and registers it, so the herd overlaps there and turns are handed out), and
/// resume their TLS sessions.
#[test]
fn a_few_hundred_connections_all_come_back_after_a_restart() {
    const AGENTS: usize = 300;
    let mut fleet = metrics_fleet(&[("ARGUS_ADMISSION_LIMIT", "1")]);
    let rt = runtime();
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    let keys: Vec<SigningKey> = (0..AGENTS).map(|i| SigningKey::from_bytes(&[i as u8; 32])).collect();
    let addr = fleet.ops.agent;
    // Enrolment: tokens through the CLI, keys through the library, eight at a time.
    std::thread::scope(|scope| {
        for lane in 0..8 {
            let (fleet, rt, keys) = (&fleet, &rt, &keys);
            scope.spawn(move || {
                for (i, key) in keys.iter().enumerate().skip(lane).step_by(8) {
                    enroll(fleet, rt, &format!("s{i:03}"), key);
                }
            });
        }
    });
    let enrolled_at = Instant::now();
    let counters = argus_e2e::simulated::Counters::default();
    let (connected, turned) = (counters.connected.clone(), counters.turned.clone());
    let tasks: Vec<_> = {
        let _guard = rt.enter();
        let endpoints: Vec<quinn::Endpoint> =
            (0..4).map(|_| argus_agent::link::endpoint_for(addr, &ca).unwrap()).collect();
        keys.iter()
            .enumerate()
            .map(|(i, key)| {
                let agent = argus_e2e::simulated::SimulatedAgent::new(
                    format!("s{i:03}"),
                    key.clone(),
                    endpoints[i % endpoints.len()].clone(),
                    &ca,
                    i as u64,
                );
                let counters = counters.clone();
                rt.spawn(async move {
                    // Bounded: the test's own deadline stops it well before this does.
                    let ended = agent
                        .run(
                            1_000,
                            None,
                            &counters,
                            |_| addr,
                            |connection, _| async move {
                                connection.closed().await;
                                argus_e2e::simulated::AfterLink::Reconnect
                            },
                        )
                        .await;
                    panic!("{} ended: {ended:?}", agent.agent_id);
                })
            })
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(60), || connected.load(Ordering::SeqCst) == AGENTS),
        "{} of {AGENTS} connected",
        connected.load(Ordering::SeqCst)
    );
    let port = fleet.ops.agent.port();
    fleet.ops.stop();
    assert!(wait_until(Duration::from_secs(20), || connected.load(Ordering::SeqCst) == 0), "the links never dropped");
    fleet.ops.serve(Some(port));
    assert!(
        wait_until(Duration::from_secs(90), || connected.load(Ordering::SeqCst) == AGENTS),
        "after the restart only {} of {AGENTS} came back",
        connected.load(Ordering::SeqCst)
    );
    eprintln!("connected, restarted and back in {:.1} s", enrolled_at.elapsed().as_secs_f64());
    let resumed = fleet.ops.metric(RESUMED);
    assert!(resumed >= (AGENTS * 9 / 10) as f64, "only {resumed} of {AGENTS} resumed");
    assert!(turned.load(Ordering::SeqCst) > 0, "with one place for 300 agents, some were given turns");
    assert!(fleet.ops.metric(DEFERRED) > 0.0, "the server counted the turns it gave");
    for task in tasks {
        task.abort();
    }
}

/// A link probes its path MTU once (straight to 1452 bytes, which loopback carries), not with
/// quinn's default binary search of four padded probes each way on every reconnect.
#[test]
fn a_link_probes_its_mtu_once() {
    let agent = Ticketed::new("m1", 31);
    let ca = std::fs::read(agent.fleet.ops.ca()).unwrap();
    let addr = agent.fleet.ops.agent;
    let (probes, mtu) = agent.rt.block_on(async {
        let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
        let (connection, ..) =
            connect_with(&endpoint, agent.config.clone(), addr, "127.0.0.1", hello("m1"), &agent.key)
                .await
                .unwrap()
                .expect("let in");
        // The probe goes out once the handshake is confirmed; wait for its answer (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while connection.stats().path.current_mtu < 1452 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give a second probe (the default search's next step) the time it would take.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let path = connection.stats().path;
        connection.close(0u32.into(), b"done");
        endpoint.wait_idle().await;
        (path.sent_plpmtud_probes, path.current_mtu)
    });
    assert_eq!(mtu, 1452, "the one probe found loopback's room");
    assert_eq!(probes, 1, "one probe, not a binary search");
}

/// An agent from before the one-round-trip handshake (Hello, challenge, answer) still gets in,
/// under the same rules: an answer signed with another key is refused.
#[test]
fn an_agent_of_the_two_round_trip_handshake_still_gets_in() {
    let agent = Ticketed::new("o1", 41);
    let ca = std::fs::read(agent.fleet.ops.ca()).unwrap();
    let addr = agent.fleet.ops.agent;
    let old_agent = |key: SigningKey| {
        agent.rt.block_on(async {
            let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
            let connection = endpoint.connect_with(agent.config.clone(), addr, "127.0.0.1").unwrap().await.unwrap();
            let (mut send, mut recv) = connection.open_bi().await.unwrap();
            argus_transport_quic::write_frame(&mut send, &AgentMessage::Hello(hello("o1"))).await.unwrap();
            let Some(ServerMessage::Challenge(challenge)) =
                argus_transport_quic::read_frame::<ServerMessage>(&mut recv).await.unwrap()
            else {
                panic!("no challenge for a plain Hello");
            };
            let exporter = argus_transport_quic::exporter(&connection).unwrap();
            let proof = answer_challenge(&hello("o1"), &exporter, &challenge, &key);
            argus_transport_quic::write_frame(&mut send, &AgentMessage::Proof(proof)).await.unwrap();
            let answer = argus_transport_quic::read_frame::<ServerMessage>(&mut recv).await.unwrap();
            connection.close(0u32.into(), b"done");
            endpoint.wait_idle().await;
            answer
        })
    };
    assert!(matches!(old_agent(agent.key.clone()), Some(ServerMessage::Welcome { .. })));
    assert_eq!(
        old_agent(SigningKey::from_bytes(&[42; 32])),
        Some(ServerMessage::Refused { code: Code::AgentAuthFailed })
    );
}

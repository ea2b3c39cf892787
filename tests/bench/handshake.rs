//! `argus-bench handshake` (issue #15).

use std::time::Instant;

use argus_e2e::Fleet;
use ed25519_dalek::SigningKey;

use crate::common::*;

/// Issue #15: what one agent connection (TLS handshake, passkey proof, registration) costs
/// each side, full and resumed: `rounds` sequential connections each way, one simulated agent,
/// wall time per connection and CPU time of the server process and of this (client) process.
pub(crate) fn handshake(rounds: usize) {
    println!("== handshake: {rounds} sequential connections, full then resumed");
    let fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let rt = runtime();
    let pid = fleet.ops.server.as_ref().unwrap().child.id();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let key = SigningKey::from_bytes(&argus_fsm::signed::sha256(b"handshake-bench"));
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, std::slice::from_ref(&key), fleet.ops.agent, &ca, "h");
    let addr = fleet.ops.agent;
    let resumed_config = argus_transport_quic::client_config(&ca).unwrap();
    let mut figures = Vec::new();
    for (label, resume) in [("full", false), ("resumed", true)] {
        let before_resumed = fleet.ops.metric("argus_agent_tls_resumed_total");
        let (server_cpu, client_cpu) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
        let mut samples = Vec::with_capacity(rounds);
        rt.block_on(async {
            let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
            // Warm-up: the resumed run starts with a ticket in hand.
            let config =
                if resume { resumed_config.clone() } else { argus_transport_quic::client_config(&ca).unwrap() };
            connect_once(&endpoint, config, addr, &key).await;
            for _ in 0..rounds {
                let config =
                    if resume { resumed_config.clone() } else { argus_transport_quic::client_config(&ca).unwrap() };
                let started = Instant::now();
                connect_once(&endpoint, config, addr, &key).await;
                samples.push(started.elapsed());
            }
            endpoint.wait_idle().await;
        });
        let server = (cpu_seconds(pid) - server_cpu) / (rounds + 1) as f64 * 1e6;
        let client = (cpu_seconds(std::process::id()) - client_cpu) / (rounds + 1) as f64 * 1e6;
        let resumed = fleet.ops.metric("argus_agent_tls_resumed_total") - before_resumed;
        let median = summary(&format!("connection, {label}: connect → Welcome"), samples);
        println!(
            "  CPU per connection, {label}: server {server:.0} µs, client {client:.0} µs; {resumed} of {} resumed",
            rounds + 1
        );
        figures.push((median, server, client));
    }
    let ((full_wall, full_server, full_client), (res_wall, res_server, res_client)) = (figures[0], figures[1]);
    println!(
        "resumed / full: wall {:.2}, server CPU {:.2}, client CPU {:.2}",
        res_wall / full_wall,
        res_server / full_server,
        res_client / full_client
    );
}

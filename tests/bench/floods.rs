//! `argus-bench floods` (issue #16).

use std::time::{Duration, Instant};

use argus_e2e::Fleet;
use ed25519_dalek::SigningKey;

use crate::common::*;

/// Issue #16 items 1 and 2: how fast an enrolled agent from 127.0.0.1 connects (full TLS
/// handshake, passkey proof, Welcome) while QUIC Initials that are never answered arrive from 16
/// other loopback addresses at a rising rate; `rounds` sequential connections per rate, the
/// flood running for `seconds` before and during them. Prints the rate the flood reached, the
/// connection times, the server's CPU and what the listener did with the flood.
pub(crate) fn floods(seconds: usize, rounds: usize) {
    println!("== floods: {rounds} agent connections per rate, Initials from 16 other addresses");
    let fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    let rt = runtime();
    let pid = fleet.ops.server.as_ref().unwrap().child.id();
    let admin = Operator { pat: fleet.ops.admin_pat.clone(), ..Operator::new(&fleet) };
    let key = SigningKey::from_bytes(&argus_fsm::signed::sha256(b"flood-bench"));
    let ca = std::fs::read(fleet.ops.ca()).unwrap();
    enroll_simulated(&rt, &admin, std::slice::from_ref(&key), fleet.ops.agent, &ca, "h");
    let addr = fleet.ops.agent;
    let sources: Vec<std::net::IpAddr> = (2..18).map(|i| std::net::IpAddr::from([127, 0, 0, i])).collect();
    let mut baseline = None;
    for rate in [0usize, 1_000, 4_000, 16_000] {
        let flood = (rate > 0).then(|| {
            let (ca, sources) = (ca.clone(), sources.clone());
            let count = (rate * (seconds * 2 + 5)) as u64;
            std::thread::spawn(move || argus_e2e::flood::initials(addr, &ca, &sources, count, rate as f64, false))
        });
        if flood.is_some() {
            std::thread::sleep(Duration::from_secs(seconds as u64));
        }
        let server_cpu = cpu_seconds(pid);
        let started = Instant::now();
        let mut samples = Vec::with_capacity(rounds);
        rt.block_on(async {
            let endpoint = argus_agent::link::endpoint_for(addr, &ca).unwrap();
            for _ in 0..rounds {
                let config = argus_transport_quic::client_config(&ca).unwrap();
                let begun = Instant::now();
                connect_once(&endpoint, config, addr, &key).await;
                samples.push(begun.elapsed());
            }
            endpoint.wait_idle().await;
        });
        let busy = (cpu_seconds(pid) - server_cpu) / started.elapsed().as_secs_f64() * 100.0;
        let label = if rate == 0 { "no flood".to_string() } else { format!("flood {rate}/s asked") };
        let median = summary(&format!("agent connect → Welcome, {label}"), samples);
        if let Some(flood) = flood {
            let sent = flood.join().unwrap();
            let shed =
                |reason: &str| fleet.ops.metric(&format!("argus_agent_handshakes_shed_total{{reason=\"{reason}\"}}"));
            println!(
                "  flood reached {:.0} Initials/s ({} sent); server CPU {busy:.0} % of a core while the agent connected; \
                 shed so far: retry {}, timeout {}, full {}; median {:.2}x the quiet one",
                sent.rate(),
                sent.initials,
                shed("retry"),
                shed("timeout"),
                shed("full"),
                median / baseline.unwrap_or(median)
            );
        } else {
            println!("  server CPU {busy:.0} % of a core while the agent connected");
            baseline = Some(median);
        }
    }
}

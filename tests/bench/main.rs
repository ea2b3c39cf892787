//! `argus-bench`: the project's benchmarks, printed as figures (medians and spread, one run).
//! Real processes on loopback; simulated fleets use the agent's own connection code
//! (`argus_e2e::simulated`). `argus-bench --help` lists them, `argus-bench NAME --help` their
//! options; unknown options are refused.

#![forbid(unsafe_code)]

mod chaos;
mod cluster;
mod commands;
mod common;
mod export;
mod fleet;
mod floods;
mod handshake;
mod latency;
mod observability;
mod store;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "argus-bench", about = "ARGUS benchmarks on loopback, printed as figures", version)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Command round trip, throughput across agents, tail_log on a 1 GiB log, read_file of 1 MiB (issue #4).
    Commands {
        #[arg(long, default_value_t = 100)]
        agents: usize,
        #[arg(long, default_value_t = 64)]
        inflight: usize,
        #[arg(long, default_value_t = 10)]
        seconds: usize,
    },
    /// Functional deadlines: kill switch → session ended, revoke → link closed.
    Latency {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// A simulated fleet on one node: connect, memory per agent, restarts, revocations (issues #3, #15).
    Fleet {
        #[arg(long, default_value_t = 10_000)]
        agents: usize,
        #[arg(long, default_value_t = 100)]
        revocations: usize,
        /// Restart storms after connecting: 0, 1 (without ticket keys) or 2 (then with them).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=2))]
        restarts: u8,
    },
    /// What one agent connection costs each side, full and resumed (issue #15).
    Handshake {
        #[arg(long, default_value_t = 2_000)]
        rounds: usize,
    },
    /// Metrics and access logging on versus off, alternating runs (issue #13).
    Observability {
        #[arg(long, default_value_t = 8)]
        agents: usize,
        #[arg(long, default_value_t = 32)]
        inflight: usize,
        #[arg(long, default_value_t = 10)]
        seconds: usize,
        #[arg(long, default_value_t = 3)]
        pairs: usize,
    },
    /// sled versus PostgreSQL, with and without history (issue #11).
    Store {
        #[arg(long, default_value_t = 8)]
        agents: usize,
        #[arg(long, default_value_t = 32)]
        inflight: usize,
        #[arg(long, default_value_t = 10)]
        seconds: usize,
        #[arg(long, default_value_t = 100_000)]
        history: usize,
    },
    /// Three nodes on one PostgreSQL: routing, throughput, a simulated fleet, failover (issue #12).
    Cluster {
        /// Simulated agents per node.
        #[arg(long, default_value_t = 3_000)]
        agents: usize,
        #[arg(long, default_value_t = 32)]
        inflight: usize,
        #[arg(long, default_value_t = 10)]
        seconds: usize,
        #[arg(long, default_value_t = 100)]
        revocations: usize,
    },
    /// A nemesis run: three nodes on a primary + synchronous standby, real and simulated agents,
    /// concurrent operators; node kills, pauses, database failovers and peer partitions; then a
    /// checker over the history, the audit chain and the agents' records (issue #18). Exits 1 on
    /// any anomaly.
    Chaos {
        #[arg(long, default_value_t = 240)]
        seconds: u64,
        /// About how many faults of each kind (node kill, pause, database failover, partition).
        #[arg(long, default_value_t = 5)]
        faults: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 2)]
        real_agents: usize,
        #[arg(long, default_value_t = 8)]
        simulated_agents: usize,
        /// Only these fault kinds (comma-separated: node_kill, pause, db_failover, partition),
        /// e.g. to measure one kind's recovery with nothing else going on.
        #[arg(long, value_delimiter = ',', value_parser = ["node_kill", "pause", "db_failover", "partition"])]
        kinds: Vec<String>,
    },
    /// `argusctl audit export` of a large trail to stdout, both formats (issue #20).
    Export {
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
    },
    /// An agent's connect time under floods of never-answered QUIC Initials (issue #16).
    Floods {
        #[arg(long, default_value_t = 5)]
        seconds: usize,
        #[arg(long, default_value_t = 40)]
        rounds: usize,
    },
}

fn main() {
    match Cli::parse().bench {
        Bench::Commands { agents, inflight, seconds } => commands::commands(agents, inflight, seconds),
        Bench::Latency { rounds } => latency::latency(rounds),
        Bench::Fleet { agents, revocations, restarts } => fleet::fleet(agents, revocations, usize::from(restarts)),
        Bench::Handshake { rounds } => handshake::handshake(rounds),
        Bench::Observability { agents, inflight, seconds, pairs } => {
            observability::observability(agents, inflight, seconds, pairs)
        }
        Bench::Store { agents, inflight, seconds, history } => store::store(agents, inflight, seconds, history),
        Bench::Cluster { agents, inflight, seconds, revocations } => {
            cluster::cluster(agents, inflight, seconds, revocations)
        }
        Bench::Floods { seconds, rounds } => floods::floods(seconds, rounds),
        Bench::Export { records } => export::export(records),
        Bench::Chaos { seconds, faults, seed, real_agents, simulated_agents, kinds } => {
            let clean = chaos::chaos(chaos::Settings {
                seconds,
                faults_per_kind: faults,
                seed,
                real_agents,
                simulated_agents,
                kinds,
            });
            if !clean {
                std::process::exit(1);
            }
        }
    }
}

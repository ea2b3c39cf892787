//! `argus-bench commands` (issue #4).

use std::sync::Arc;
use std::time::Instant;

use argus_e2e::Fleet;
use serde_json::json;

use crate::common::*;

/// Issue #4: command round trip, throughput across agents, tail_log on a 1 GiB log, read_file
/// of 1 MiB.
pub(crate) fn commands(agents: usize, inflight: usize, seconds: usize) {
    println!("== commands: {agents} agents, {inflight} in flight, {seconds} s");
    let mut fleet = Fleet::armed(&[]);
    for i in 0..agents {
        fleet.add_agent(&format!("b{i:03}"));
    }
    let tokens: Vec<String> = (0..agents).map(|i| fleet.activate(&format!("b{i:03}"))).collect();
    let root = fleet.agents[0].root.clone();
    let rt = runtime();
    let op = Arc::new(Operator::new(&fleet));
    rt.block_on(async {
        for _ in 0..200 {
            op.command(&tokens[0], "ping", json!({})).await;
        }
        let mut samples = Vec::new();
        for _ in 0..2000 {
            let start = Instant::now();
            op.command(&tokens[0], "ping", json!({})).await;
            samples.push(start.elapsed());
        }
        summary("ping round trip (HTTPS → ops → QUIC → agent → back, persistent client)", samples);

        let (total, rate) = throughput(std::slice::from_ref(&op), &tokens, inflight, seconds).await;
        println!("throughput: {total} pings in {seconds} s = {rate:.0} commands/s across {agents} agents, {inflight} in flight");
    });

    // tail_log: 25 KiB vs 1 GiB logs, 100 lines.
    let line = "2026-11-23T10:00:00Z INFO camera poll ok cycle=000000000\n";
    std::fs::write(root.join("argus.log.1"), line.repeat(25 * 1024 / line.len())).unwrap();
    {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(root.join("argus.log.2")).unwrap());
        let block = line.repeat(16 * 1024 * 1024 / line.len());
        for _ in 0..64 {
            file.write_all(block.as_bytes()).unwrap();
        }
    }
    let big = std::fs::metadata(root.join("argus.log.2")).unwrap().len();
    rt.block_on(async {
        let mut small = Vec::new();
        let mut large = Vec::new();
        for _ in 0..10 {
            op.command(&tokens[0], "tail_log", json!({"file": "argus.log.2", "lines": 100})).await;
        }
        for _ in 0..200 {
            let start = Instant::now();
            op.command(&tokens[0], "tail_log", json!({"file": "argus.log.1", "lines": 100})).await;
            small.push(start.elapsed());
            let start = Instant::now();
            let body = op.command(&tokens[0], "tail_log", json!({"file": "argus.log.2", "lines": 100})).await;
            large.push(start.elapsed());
            assert_eq!(body["result"]["lines"].as_array().unwrap().len(), 100);
        }
        let a = summary("tail_log 100 lines, 25 KiB log", small);
        let b = summary(&format!("tail_log 100 lines, {:.2} GiB log", big as f64 / (1u64 << 30) as f64), large);
        println!("tail_log ratio (1 GiB / 25 KiB, medians): {:.2}", b / a);

        std::fs::write(root.join("crashes").join("mib.txt"), vec![b'x'; 1024 * 1024]).unwrap();
        let mut samples = Vec::new();
        for _ in 0..100 {
            let start = Instant::now();
            let body = op.command(&tokens[0], "read_file", json!({"path": "crashes/mib.txt"})).await;
            samples.push(start.elapsed());
            assert_eq!(body["result"]["size"], 1024 * 1024);
        }
        summary("read_file 1 MiB end to end", samples);
    });
    let _ = std::fs::remove_file(root.join("argus.log.2"));
}

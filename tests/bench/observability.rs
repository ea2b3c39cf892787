//! `argus-bench observability` (issue #13).

use argus_e2e::Fleet;

use crate::store::store_figures;

/// Issue #13: metrics and access logging on versus off. Alternating runs (off, on, off, on, …),
/// each a fresh server and fleet: `ping` p50 over 1,000 sequential commands, then durable
/// commands/s with `inflight` in flight for `seconds`. Prints each run and the medians.
pub(crate) fn observability(agents: usize, inflight: usize, seconds: usize, pairs: usize) {
    println!("== observability: metrics + access log on vs off, {agents} agents, {inflight} in flight, {seconds} s, {pairs} pairs");
    let mut figures: [Vec<(f64, f64)>; 2] = [vec![], vec![]];
    for run in 0..pairs * 2 {
        let on = run % 2 == 1;
        let env: &[(&str, &str)] = if on {
            &[("ARGUS_LOG", "info"), ("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]
        } else {
            &[("ARGUS_LOG", "warn")]
        };
        let mut fleet = Fleet::armed(env);
        for i in 0..agents {
            fleet.add_agent(&format!("o{i:03}"));
        }
        let tokens: Vec<String> = (0..agents).map(|i| fleet.activate(&format!("o{i:03}"))).collect();
        // The same measurement as the store benchmark (its `agent ls` figure is not used here).
        let (p50, rate, _) = store_figures(&fleet, &tokens, inflight, seconds);
        let label = if on { "on " } else { "off" };
        println!("run {run}: metrics+access log {label}: ping p50 {p50:.3} ms, {rate:.0} durable commands/s");
        figures[usize::from(on)].push((p50, rate));
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let [off, on] = figures;
    let (off_p50, off_rate) = (median(off.iter().map(|f| f.0).collect()), median(off.iter().map(|f| f.1).collect()));
    let (on_p50, on_rate) = (median(on.iter().map(|f| f.0).collect()), median(on.iter().map(|f| f.1).collect()));
    println!("medians: off p50 {off_p50:.3} ms, {off_rate:.0}/s; on p50 {on_p50:.3} ms, {on_rate:.0}/s");
    println!(
        "on / off: ping p50 {:+.1}%, throughput {:+.1}%",
        (on_p50 / off_p50 - 1.0) * 100.0,
        (on_rate / off_rate - 1.0) * 100.0
    );
}

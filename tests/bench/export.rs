//! `argus-bench export` (issue #20): `argusctl audit export` of a large trail to stdout, in
//! both formats, timed whole (the client's pages, the server's reads and encoding, the pipe).

use std::process::{Command, Stdio};
use std::time::Instant;

use argus_e2e::{bin, Fleet, OPS_TOKEN};

/// Writes `count` audit records (command records of tenant T1, chained) into the stopped
/// server's store, in batches.
fn seed_records(fleet: &Fleet, count: usize) {
    let url = argus_ops::store::resolve(None, &fleet.ops.data()).unwrap();
    let store = argus_ops::store::open(&url, &fleet.ops.data()).unwrap();
    let (last, tenants) = store.audit_heads().unwrap();
    let mut chain = argus_ops::store::audit::AuditChain::resume(last.as_ref(), tenants);
    let now = argus_fsm::Timestamp(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64,
    );
    let mut written = 0;
    while written < count {
        let batch = (count - written).min(10_000);
        let writes: Vec<argus_ops::store::Write> = (0..batch)
            .map(|i| {
                let entry = argus_ops::store::audit::AuditEntry::new(
                    argus_ops::store::audit::AuditEvent::RemoteSupportCommand,
                    "op@example.com",
                )
                .tenant("T1")
                .agent("a1")
                .session("ses_history")
                .details(serde_json::json!({ "command": "ping", "outcome": "ok", "n": written + i }));
                argus_ops::store::Write::Audit(chain.next_record(entry, now))
            })
            .collect();
        store.commit(&writes).unwrap();
        written += batch;
    }
    drop(store);
    argus_ops::store::SledStore::forget(&fleet.ops.data().join("db"));
}

pub(crate) fn export(records: usize) {
    println!("== export: {records} records through argusctl audit export to stdout (sled)");
    let mut fleet = Fleet::armed_on(argus_e2e::Ops::start_on_sled(&[]));
    assert!(fleet.ops.stop().success());
    let start = Instant::now();
    seed_records(&fleet, records);
    println!("seeded in {:.1} s", start.elapsed().as_secs_f64());
    fleet.ops.serve(None);
    for format in ["jsonl", "ocsf"] {
        let start = Instant::now();
        let out = Command::new(bin("argusctl"))
            .env_clear()
            .env("ARGUS_SERVER", format!("https://{}", fleet.ops.api))
            .env("ARGUS_CA_CERT", fleet.ops.ca())
            .env("ARGUS_OPS_TOKEN", OPS_TOKEN)
            .env("ARGUS_PAT", &fleet.operator)
            .args(["audit", "export", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let seconds = start.elapsed().as_secs_f64();
        assert!(out.status.success());
        let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
        assert!(lines >= records, "{lines} lines for {records} records");
        println!(
            "{format}: {lines} records in {seconds:.2} s = {:.0} records/s ({:.0} MB)",
            lines as f64 / seconds,
            out.stdout.len() as f64 / 1e6
        );
    }
}

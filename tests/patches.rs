//! Signed patches through the real binaries: a corpus of validly signed but hostile patches,
//! each refused with its code, audited as `patch_rejected`, and leaving the install root
//! byte-for-byte unchanged; then a good patch applied atomically with its exact mode, and its
//! replay refused.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use argus_e2e::Fleet;
use argus_fsm::signed::{parse_signing_key_file, sha256, sign_patch, Envelope, PatchBody};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn body(id: u32) -> PatchBody {
    PatchBody {
        version: 1,
        patch_id: format!("00000000-0000-4000-8000-{id:012x}"),
        target: "config.yaml".into(),
        content: b"poll: 9\n".to_vec(),
        mode: 0o644,
        base_sha256: None,
        not_before: now_s() - 60,
        not_after: now_s() + 3600,
        agents: vec![],
    }
}

/// Every file under the root with its content and mode (the state dir excluded: replay memory
/// and status legitimately change).
fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if name == "state" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                files.insert(name, (std::fs::read(&path).unwrap_or_default(), meta.permissions().mode()));
            }
        }
    }
    files
}

/// Agent `a1` online with `config.yaml` at mode 0644, and the fleet's patch signing key.
fn agent_ready_for_patches(fleet: &mut Fleet) -> (usize, SigningKey) {
    let index = fleet.add_agent("a1");
    let root = fleet.agents[index].root.clone();
    std::fs::set_permissions(root.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let key = parse_signing_key_file(&std::fs::read_to_string(fleet.keys.join("patch.key")).unwrap()).unwrap();
    (index, key)
}

fn apply(fleet: &Fleet, token: &str, envelope: &Envelope) -> Value {
    let file = fleet.ops.dir.path().join("patch.json");
    std::fs::write(&file, envelope.to_json_pretty()).unwrap();
    fleet
        .op(&[
            "support",
            "command",
            "T1",
            "--session",
            token,
            "--command",
            "apply_patch",
            "--patch",
            file.to_str().unwrap(),
        ])
        .json
}

#[test]
fn hostile_signed_patches_are_refused_and_touch_nothing() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let root = fleet.agents[0].root.clone();
    std::fs::set_permissions(root.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let key = parse_signing_key_file(&std::fs::read_to_string(fleet.keys.join("patch.key")).unwrap()).unwrap();
    let token = fleet.activate("a1");
    let before = snapshot(&root);

    let mut corpus: Vec<(&str, Envelope)> = Vec::new();
    let mut n = 0;
    let mut with = |f: &dyn Fn(&mut PatchBody)| {
        n += 1;
        let mut b = body(n);
        f(&mut b);
        sign_patch(&key, &b)
    };
    for target in [
        "../config.yaml",
        "/etc/passwd",
        "argus.log",
        "version.txt",
        "state/agent.toml",
        "hotfix/../config.yaml",
        "hotfix/a.yml",
        "Config.yaml",
        "hotfix/.x.yaml",
    ] {
        let target = target.to_string();
        corpus.push(("patch_target_not_allowlisted", with(&move |b| b.target = target.clone())));
    }
    for mode in [0o755u32, 0o4644, 0o2644, 0o1644, 0o600] {
        corpus.push(("patch_mode_change", with(&move |b| b.mode = mode)));
    }
    corpus.push(("patch_not_yet_valid", with(&|b| b.not_before = now_s() + 600)));
    corpus.push(("patch_expired", with(&|b| b.not_after = now_s() - 600)));
    corpus.push(("patch_wrong_agent", with(&|b| b.agents = vec!["someone_else".into()])));
    corpus.push(("patch_base_mismatch", with(&|b| b.base_sha256 = Some(sha256(b"not the current content")))));
    corpus.push(("patch_too_large", with(&|b| b.content = vec![b'a'; 1024 * 1024 + 1])));
    let other = SigningKey::from_bytes(&[9; 32]);
    let mut forged = sign_patch(&other, &body(900));
    forged.key_id = argus_fsm::signed::key_id(&key.verifying_key());
    corpus.push(("patch_signature_invalid", forged));
    let mut flipped = sign_patch(&key, &body(901));
    flipped.signature = flipped.signature.replacen(|c: char| c.is_ascii_alphabetic(), "A", 1);
    if flipped.signature == sign_patch(&key, &body(901)).signature {
        flipped.signature = flipped.signature.replacen('A', "B", 1);
    }
    corpus.push(("patch_signature_invalid", flipped));

    for (expected, envelope) in &corpus {
        let answer = apply(&fleet, &token, envelope);
        assert_eq!(answer["error"], *expected, "{answer}");
        assert_eq!(snapshot(&root), before, "{expected} changed the install root");
    }
    let rejected = fleet.ops.audit_events("patch_rejected");
    assert_eq!(rejected.len(), corpus.len(), "every rejection audited");
    assert!(fleet.ops.audit_events("patch_applied").is_empty());
}

#[test]
fn good_patch_applies_with_exact_mode_and_replay_is_refused_across_restarts() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let root = fleet.agents[0].root.clone();
    std::fs::set_permissions(root.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let key = parse_signing_key_file(&std::fs::read_to_string(fleet.keys.join("patch.key")).unwrap()).unwrap();
    let token = fleet.activate("a1");
    let mut based = body(1);
    based.base_sha256 = Some(sha256(b"poll: 5\n"));
    let envelope = sign_patch(&key, &based);
    let answer = apply(&fleet, &token, &envelope);
    assert_eq!(answer["result"]["applied"], true, "{answer}");
    assert_eq!(answer["result"]["patch_id"], based.patch_id);
    assert_eq!(
        answer["result"]["sha256"],
        argus_fsm::signed::sha256(b"poll: 9\n").iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    assert_eq!(std::fs::read_to_string(root.join("config.yaml")).unwrap(), "poll: 9\n");
    // A new hotfix file is created with the signed mode; hotfix/ appears when missing.
    let mut hotfix = body(2);
    hotfix.target = "hotfix/cameras.yaml".into();
    hotfix.mode = 0o640;
    assert_eq!(apply(&fleet, &token, &sign_patch(&key, &hotfix))["result"]["applied"], true);
    assert_eq!(std::fs::metadata(root.join("hotfix/cameras.yaml")).unwrap().permissions().mode() & 0o7777, 0o640);
    // Replays are refused: by the server's memory, and by the agent's after an ops restart
    // that keeps the server's memory too.
    assert_eq!(apply(&fleet, &token, &envelope)["error"], "patch_replayed");
    let port = fleet.ops.agent.port();
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    assert!(fleet.wait_online("a1", true));
    assert_eq!(apply(&fleet, &token, &envelope)["error"], "patch_replayed");
    let applied = fleet.ops.audit_events("patch_applied");
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0]["details"]["target"], "config.yaml");
    assert_eq!(applied[0]["details"]["patch_id"], json!(based.patch_id));
}

#[test]
fn patch_verify_and_sign_cli_round_trip() {
    let fleet = Fleet::armed(&[]);
    let dir = fleet.ops.dir.path();
    std::fs::write(dir.join("new.yaml"), "a: 1\n").unwrap();
    let out = argus_e2e::ctl_with(
        &[],
        &[
            "patch",
            "sign",
            "--key",
            fleet.keys.join("patch.key").to_str().unwrap(),
            "--target",
            "hotfix/x.yaml",
            "--file",
            dir.join("new.yaml").to_str().unwrap(),
            "--not-before",
            "2026-01-01T00:00:00Z",
            "--not-after",
            "2030-01-01T00:00:00Z",
            "--agent",
            "a1",
            "--out",
            dir.join("p.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let verify = argus_e2e::ctl_with(
        &[],
        &[
            "patch",
            "verify",
            "--pubkey",
            fleet.keys.join("patch.pub").to_str().unwrap(),
            dir.join("p.json").to_str().unwrap(),
        ],
    );
    assert_eq!(verify.code, 0);
    assert_eq!(
        (verify.json["target"].as_str(), verify.json["content_utf8"].as_str()),
        (Some("hotfix/x.yaml"), Some("a: 1\n"))
    );
    let wrong = argus_e2e::ctl_with(
        &[],
        &[
            "patch",
            "verify",
            "--pubkey",
            fleet.keys.join("tenant.pub").to_str().unwrap(),
            dir.join("p.json").to_str().unwrap(),
        ],
    );
    assert_eq!((wrong.code, wrong.json["error"].as_str()), (1, Some("patch_signature_invalid")));
    let refused = argus_e2e::ctl_with(
        &[],
        &[
            "patch",
            "sign",
            "--key",
            fleet.keys.join("patch.key").to_str().unwrap(),
            "--target",
            "../etc/passwd",
            "--file",
            dir.join("new.yaml").to_str().unwrap(),
            "--not-before",
            "2026-01-01T00:00:00Z",
            "--not-after",
            "2030-01-01T00:00:00Z",
            "--out",
            dir.join("bad.json").to_str().unwrap(),
        ],
    );
    assert_eq!(refused.code, 2);
}

#[test]
fn tampered_envelopes_are_refused_through_the_binaries_and_touch_nothing() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let root = fleet.agents[0].root.clone();
    std::fs::set_permissions(root.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let key = parse_signing_key_file(&std::fs::read_to_string(fleet.keys.join("patch.key")).unwrap()).unwrap();
    let token = fleet.activate("a1");
    let before = snapshot(&root);
    let good = sign_patch(&key, &body(1));
    let flip = |text: &str, bit: usize| {
        let mut bytes = b64.decode(text).unwrap();
        let index = bit / 8 % bytes.len();
        bytes[index] ^= 1 << (bit % 8);
        b64.encode(bytes)
    };
    let mut cases: Vec<Envelope> = Vec::new();
    // Sampled single-bit flips across the body and the whole signature.
    let body_bits = b64.decode(&good.body).unwrap().len() * 8;
    for bit in (0..body_bits).step_by(body_bits / 12 + 1) {
        cases.push(Envelope { body: flip(&good.body, bit), ..good.clone() });
    }
    for bit in (0..512).step_by(47) {
        cases.push(Envelope { signature: flip(&good.signature, bit), ..good.clone() });
    }
    // The same body signed under the consent domain (a consent signature presented as a patch).
    let mut domain = argus_fsm::signed::CONSENT_DOMAIN.to_vec();
    domain.extend(b64.decode(&good.body).unwrap());
    use ed25519_dalek::Signer as _;
    cases.push(Envelope { signature: b64.encode(key.sign(&domain).to_bytes()), ..good.clone() });
    // Trailing bytes after the struct, validly signed.
    let mut trailing = b64.decode(&good.body).unwrap();
    trailing.push(0);
    let mut signed = argus_fsm::signed::PATCH_DOMAIN.to_vec();
    signed.extend(&trailing);
    cases.push(Envelope {
        body: b64.encode(&trailing),
        signature: b64.encode(key.sign(&signed).to_bytes()),
        key_id: good.key_id.clone(),
    });
    for envelope in &cases {
        let answer = apply(&fleet, &token, envelope);
        assert_eq!(answer["error"], "patch_signature_invalid", "{answer}");
    }
    // Malformed envelopes never reach the agent: bad arguments.
    for malformed in
        [json!("not an object"), json!({"body": "x"}), json!({"body": "", "signature": "", "key_id": "", "extra": 1})]
    {
        let out = fleet.command(&token, "apply_patch", Some(json!({ "patch": malformed })));
        assert_eq!(out.json["error"], "bad_args", "{}", out.stdout);
    }
    assert_eq!(snapshot(&root), before, "a tampered patch changed the install root");
    assert_eq!(fleet.ops.audit_events("patch_rejected").len(), cases.len());
    // The untampered original still applies: nothing above consumed its ID.
    assert_eq!(apply(&fleet, &token, &good)["result"]["applied"], true);
}

#[test]
fn server_with_the_patch_key_refuses_forged_and_replayed_patches_before_relaying() {
    let mut fleet = Fleet::armed(&[]);
    fleet.ops.serve_args = vec!["--patch-pubkey".into(), fleet.keys.join("patch.pub").to_string_lossy().into_owned()];
    let port = fleet.ops.agent.port();
    assert!(fleet.ops.stop().success());
    fleet.ops.serve(Some(port));
    let (index, key) = agent_ready_for_patches(&mut fleet);
    let token = fleet.activate("a1");
    let good = sign_patch(&key, &body(1));
    assert_eq!(apply(&fleet, &token, &good)["result"]["applied"], true);
    // Take the agent away: whatever the server answers now, it decided alone.
    fleet.agents[index].process.terminate();
    assert!(fleet.wait_online("a1", false));
    let mut forged = sign_patch(&SigningKey::from_bytes(&[9; 32]), &body(2));
    forged.key_id = argus_fsm::signed::key_id(&key.verifying_key());
    assert_eq!(
        apply(&fleet, &token, &forged)["error"],
        "patch_signature_invalid",
        "refused at the server, not agent_offline"
    );
    assert_eq!(apply(&fleet, &token, &good)["error"], "patch_replayed", "the server remembers applied IDs");
    let mut expired = body(3);
    expired.not_after = now_s() - 10;
    assert_eq!(apply(&fleet, &token, &sign_patch(&key, &expired))["error"], "patch_expired");
    // A valid new patch is relayed, and only then fails for want of an agent.
    assert_eq!(apply(&fleet, &token, &sign_patch(&key, &body(4)))["error"], "agent_offline");
    assert_eq!(fleet.ops.audit_events("patch_rejected").len(), 3);
}

#[test]
fn migrate_store_moves_a_sled_node_to_postgres_keeping_agents_consumed_patches_and_the_chain() {
    let mut fleet = Fleet::armed_on(argus_e2e::Ops::start_on_sled(&[]));
    fleet.ops.serve_args = vec!["--patch-pubkey".into(), fleet.keys.join("patch.pub").to_string_lossy().into_owned()];
    let (index, key) = agent_ready_for_patches(&mut fleet);
    let token = fleet.activate("a1");
    let good = sign_patch(&key, &body(1));
    assert_eq!(apply(&fleet, &token, &good)["result"]["applied"], true);
    let events = fleet.ops.audit().len();
    let port = fleet.ops.agent.port();
    assert!(fleet.ops.stop().success());
    // The node was written by a build from before tenant chains (SPEC §14): the copy gives its
    // records their places, and the head it remembers still names its record.
    let placed = argus_e2e::sled_trail_as_before_tenant_chains(&fleet.ops.data());

    let pg = argus_e2e::pg::Postgres::start();
    let migrate = |url: &str| {
        std::process::Command::new(argus_e2e::bin("argus-ops"))
            .args(["migrate-store", "--json", "--data-dir"])
            .arg(fleet.ops.data())
            .env("ARGUS_STORE", url)
            .output()
            .unwrap()
    };
    let out = migrate(&pg.url("argus"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copied: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every record, and the checkpoint the shutdown signed (SPEC §14).
    assert_eq!(copied["audit_records"], events as u64 + 1, "{copied}");
    assert_eq!((copied["agents"].as_u64(), copied["consumed_patch_ids"].as_u64()), (Some(1), Some(1)));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(pg.password()), "no password in --json output");
    // In the cluster the CA key lives only sealed under the secret printed now; the clear copy
    // is gone from the node's disk.
    assert!(copied["cluster_secret"].as_str().is_some_and(|s| s.starts_with("argus_cs_")), "{copied}");
    assert!(!fleet.ops.data().join("tls/ca.key").exists(), "tls/ca.key removed after the copy");
    assert_eq!(pg.psql("argus", "SELECT key_pem LIKE 'argus-sealed-ca-v1:%' FROM cluster_ca"), "t");
    // A second run is refused: this data dir already serves from the database...
    let again = migrate(&pg.url("argus"));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already serves from") && !stderr.contains(pg.password()), "{stderr}");
    // ...and another sled node cannot be copied into a database that holds a deployment.
    let other = fleet.ops.dir.path().join("other");
    let init = std::process::Command::new(argus_e2e::bin("argus-ops"))
        .args(["init", "--data-dir"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(init.status.success());
    let into_full = std::process::Command::new(argus_e2e::bin("argus-ops"))
        .args(["migrate-store", "--data-dir"])
        .arg(&other)
        .env("ARGUS_STORE", pg.url("argus"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&into_full.stderr);
    assert_eq!(into_full.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not empty") && !stderr.contains(pg.password()), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(other.join("store.url")).unwrap().trim(),
        "sled",
        "a refused copy changes nothing"
    );
    assert_eq!(pg.psql("argus", "SELECT count(*) FROM cluster_ca"), "1", "the node's CA is the cluster CA");

    // The same data dir now serves from PostgreSQL; the agent comes back without re-enrolling.
    let copied_records: Vec<argus_fsm::audit::AuditRecord> = pg
        .psql("argus", "SELECT record FROM audit ORDER BY seq")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(copied_records, placed, "the copy holds every record with its tenant place");
    assert_eq!(
        pg.psql("argus", "SELECT count(*) FROM audit WHERE tenant = 'T1' AND tenant_seq IS NOT NULL")
            .parse::<usize>()
            .unwrap(),
        placed.iter().filter(|r| r.tenant.as_deref() == Some("T1")).count()
    );
    fleet.ops.postgres = Some(pg);
    fleet.ops.serve(Some(port));
    let (status, body) = fleet.ops.http("127.0.0.1".parse().unwrap(), "GET", "/readyz", &[], None);
    assert_eq!(status, 200, "the remembered head still names its record: {body}");
    assert!(fleet.wait_online("a1", true), "the enrolled agent reconnects to the migrated node");
    assert_eq!(fleet.command(&token, "ping", None).json["result"]["pong"], true, "the live session survived");
    // The consumed patch ID moved with it: refused by the server itself, agent or not.
    fleet.agents[index].process.terminate();
    assert!(fleet.wait_online("a1", false));
    assert_eq!(apply(&fleet, &token, &good)["error"], "patch_replayed");
    let verify = std::process::Command::new(argus_e2e::bin("argus-ops"))
        .args(["audit", "verify", "--data-dir"])
        .arg(fleet.ops.data())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

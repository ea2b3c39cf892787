//! Crash safety of the one write path: a process applying patches in a loop is killed with
//! SIGKILL at random points, 200 times. After every kill the target holds exactly one complete
//! version (old or new, never a mix), and replay memory remembers every patch reported applied.

use std::collections::HashSet;
use std::io::{BufRead as _, Read as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use argus_e2e::bin;
use argus_fsm::signed::{format_key_file, sign_patch, PatchBody};
use ed25519_dalek::SigningKey;

const PATCHES: usize = 600;
const KILLS: usize = 200;

fn content(n: usize) -> Vec<u8> {
    // Large enough that a torn write would be visible: 64 KiB of one repeated marker line.
    format!("version: {n:04}\n").repeat(64 * 1024 / 14).into_bytes()
}

#[test]
fn sigkill_during_patch_application_never_leaves_a_torn_file_or_forgets_a_patch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("state")).unwrap();
    let key = SigningKey::from_bytes(&[31; 32]);
    std::fs::write(root.join("state").join("patch.pub"), format_key_file(&key.verifying_key().to_bytes())).unwrap();
    std::fs::write(root.join("config.yaml"), content(0)).unwrap();
    let patches = dir.path().join("patches");
    std::fs::create_dir(&patches).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let valid: HashSet<Vec<u8>> = (0..=PATCHES).map(content).collect();
    for n in 1..=PATCHES {
        let body = PatchBody {
            version: 1,
            patch_id: format!("00000000-0000-4000-8000-{n:012}"),
            target: "config.yaml".into(),
            content: content(n),
            mode: 0o644,
            base_sha256: None,
            not_before: now - 600,
            not_after: now + 3600,
            agents: vec![],
        };
        std::fs::write(patches.join(format!("{n:04}.json")), sign_patch(&key, &body).to_json_pretty()).unwrap();
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(root.join("config.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut reported: HashSet<String> = HashSet::new();
    for round in 0..KILLS {
        let mut child = Command::new(bin("crash-helper"))
            .arg(&root)
            .arg(&patches)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "round {round}: the helper did not start");
        // Let it apply a few patches (counted, not timed, so a loaded machine still makes
        // progress), then kill it a random moment into the next one.
        let mut out = String::new();
        for _ in 0..seed % 4 {
            if stdout.read_line(&mut out).unwrap() == 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(seed % 3_000));
        let _ = child.kill();
        let _ = child.wait();
        stdout.read_to_string(&mut out).unwrap();
        reported.extend(out.lines().filter_map(|l| l.strip_prefix("applied ")).map(str::to_string));
        let current = std::fs::read(root.join("config.yaml")).unwrap();
        assert!(valid.contains(&current), "round {round}: config.yaml is torn ({} bytes)", current.len());
        let mode = std::fs::metadata(root.join("config.yaml")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644, "round {round}: mode changed");
        let replay: serde_json::Value = std::fs::read(root.join("state").join("applied-patches.json"))
            .ok()
            .map(|b| serde_json::from_slice(&b).expect("replay memory is never torn"))
            .unwrap_or(serde_json::json!({ "seen": [] }));
        let seen: HashSet<String> =
            replay["seen"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        for id in &reported {
            assert!(seen.contains(id), "round {round}: replay memory forgot {id}");
        }
    }
    assert!(reported.len() > 10, "the helper applied too little to exercise anything: {}", reported.len());
}

//! SPEC §9: `argus-ops quickstart` walks the seed flows with no configuration, keeps serving
//! with an `env.sh` that drives `argusctl`, and stops cleanly on Ctrl-C (SIGINT).

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use argus_e2e::{bin, wait_until};

#[test]
fn quickstart_walks_the_seed_flows_then_serves_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out_path = dir.path().join("out.txt");
    let mut child = Command::new(bin("argus-ops"))
        .args(["quickstart", "--dir"])
        .arg(&demo)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let read = || {
        let mut text = String::new();
        std::fs::File::open(&out_path).unwrap().read_to_string(&mut text).unwrap();
        text
    };
    assert!(
        wait_until(Duration::from_secs(60), || read().contains("Ctrl-C")),
        "quickstart did not finish its walk-through:\n{}",
        read()
    );
    let out = read();
    for expected in [
        "\"pong\":true",
        "\"cameras\":[",
        "\"lines\":[",
        "camera_poll_seconds: 5",
        "\"error\":\"path_not_allowlisted\"",
        "\"applied\":true",
        "\"error\":\"patch_replayed\"",
        "\"ended_reason\":\"deactivated\"",
        "\"error\":\"session_expired\"",
        "\"state\":\"revoked\"",
    ] {
        assert!(out.contains(expected), "missing {expected} in:\n{out}");
    }
    // The hints name the binaries next to argus-ops and offer a profile, not a second build.
    assert!(!out.contains("cargo run"), "{out}");
    let ctl = bin("argusctl");
    assert!(out.contains(&format!("{} login --profile quickstart", ctl.display())), "{out}");
    // No secret is printed: the PATs and ops token live only in env.sh (0600).
    let env = std::fs::read_to_string(demo.join("env.sh")).unwrap();
    for line in env.lines().filter(|l| l.contains("ARGUS_PAT=") || l.contains("ARGUS_OPS_TOKEN=")) {
        let secret = line.split('=').nth(1).unwrap();
        assert!(!out.contains(secret), "quickstart printed a secret");
    }
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(demo.join("env.sh")).unwrap().permissions().mode() & 0o077, 0);
    // env.sh drives argusctl against the running server.
    let vars: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ls = Command::new(bin("argusctl"))
        .envs(vars)
        .args(["--json", "agent", "ls", "--tenant", "DEMO_TENANT"])
        .output()
        .unwrap();
    assert!(ls.status.success(), "{}", String::from_utf8_lossy(&ls.stderr));
    let listing: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(listing["agents"][0]["online"], true);
    // Ctrl-C stops it cleanly.
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let mut status = None;
    assert!(wait_until(Duration::from_secs(15), || {
        status = child.try_wait().unwrap();
        status.is_some()
    }));
    assert!(status.unwrap().success());
    // A re-run starts afresh in the same directory.
    let rerun = Command::new(bin("argus-ops")).args(["quickstart", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(!rerun.status.success(), "a directory quickstart did not make is never deleted");
}

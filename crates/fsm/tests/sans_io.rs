//! The protocol core stays sans-IO, and the build proves it (STYLE rule 1): this test fails if
//! `argus-fsm` gains a runtime, socket, database or web dependency.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "quinn",
    "quinn-proto",
    "rustls",
    "sled",
    "axum",
    "hyper",
    "reqwest",
    "socket2",
    "tower",
    "rand",
    "getrandom",
    "chrono",
];

#[test]
fn fsm_has_no_runtime_socket_database_web_or_randomness_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "argus-fsm", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).unwrap();
    let names: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(names.contains(&"argus-fsm"), "cargo tree printed nothing useful: {tree}");
    for forbidden in FORBIDDEN {
        assert!(!names.contains(forbidden), "argus-fsm depends on {forbidden}:\n{tree}");
    }
}

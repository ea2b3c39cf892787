//! Test helper for the crash-safety test: applies signed patches from a directory, in order,
//! through the agent's real apply path, printing `applied ID` after each success. The test
//! kills it with SIGKILL at random moments.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use argus_agent::commands::Executor;
use argus_agent::settings::{Settings, StateDir};
use argus_fsm::command::Command;

fn main() {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().expect("install root"));
    let patches = std::path::PathBuf::from(args.next().expect("patch dir"));
    let state = StateDir::new(&root);
    let patch_key =
        argus_fsm::signed::parse_public_key_file(&std::fs::read_to_string(state.patch_pubkey()).unwrap()).unwrap();
    let replay = state.load_replay().expect("replay memory readable after any crash");
    let executor = Executor {
        settings: Settings { agent_id: "crash".into(), tenant: "T1".into(), server: "127.0.0.1:1".into() },
        state,
        patch_key,
        replay: Mutex::new(replay),
        started: Instant::now(),
    };
    let mut names: Vec<_> = std::fs::read_dir(&patches).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    let stdout = std::io::stdout();
    // Startup is done: the test starts its random delay before the kill from here, so a slow
    // start on a loaded machine does not eat the window in which patches are applied.
    writeln!(stdout.lock(), "ready").unwrap();
    stdout.lock().flush().unwrap();
    for path in names {
        // Skip what is already applied without reading it (file NNNN.json holds patch N).
        let n: u64 = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).unwrap_or(0);
        if executor.replay.lock().unwrap().contains(&format!("00000000-0000-4000-8000-{n:012}")) {
            continue;
        }
        let envelope = argus_fsm::signed::Envelope::from_json(&std::fs::read(&path).unwrap()).unwrap();
        if let Ok(result) = executor.run(&Command::ApplyPatch { patch: envelope }, argus_agent::now()) {
            let mut out = stdout.lock();
            writeln!(out, "applied {}", result["patch_id"].as_str().unwrap()).unwrap();
            out.flush().unwrap();
        }
    }
}

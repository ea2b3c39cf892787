//! SPEC §11 pieces that are in place, through the real binaries: `/readyz`, the start-up
//! warning that names a variable leaving the API closed, `audit verify` on a running server,
//! and argusctl's `version`, `--since 1h`, relative patch times and the `invalid_pat` hint.

use std::process::Command;

use argus_e2e::{bin, ctl_with, scrape, Fleet, Ops};

#[test]
fn readyz_answers_without_the_gate() {
    let ops = Ops::start(&[]);
    // From outside the operator network, with no token and no PAT.
    let (status, body) = ops.http("127.0.0.2".parse().unwrap(), "GET", "/readyz", &[], None);
    assert_eq!((status, body), (200, serde_json::json!({ "status": "ready" })));
}

#[test]
fn serve_names_each_variable_that_leaves_the_api_closed() {
    let mut ops = Ops::start(&[("REMOTE_SUPPORT_ENABLED", "0"), ("REMOTE_SUPPORT_OPERATOR_CIDRS", "")]);
    argus_e2e::wait_until(std::time::Duration::from_secs(10), || ops.log().contains("REMOTE_SUPPORT_OPERATOR_CIDRS"));
    let log = ops.log();
    assert!(log.contains("REMOTE_SUPPORT_ENABLED is off"), "{log}");
    assert!(log.contains("REMOTE_SUPPORT_OPERATOR_CIDRS is empty"), "{log}");
    assert!(!log.contains("ARGUS_OPS_TOKEN is unset"), "the token is set in this fixture");
    assert!(!log.contains(argus_e2e::OPS_TOKEN), "no secret in the log");
    let status = ops.stop();
    assert!(status.success(), "{status:?}: {}", ops.log());
}

#[test]
fn audit_verify_on_a_running_server_says_so_plainly() {
    let ops = Ops::start(&[]);
    let out = Command::new(bin("argus-ops")).args(["audit", "verify", "--data-dir"]).arg(ops.data()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if ops.postgres.is_some() {
        // A shared database has no lock to hold: the live chain verifies while serving.
        assert!(out.status.success(), "{stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact"));
        return;
    }
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("a server is running") && stderr.contains("stop it first"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("lock"), "no raw lock error: {stderr}");
}

#[test]
fn argusctl_fits_an_operators_hands() {
    let fleet = Fleet::armed(&[]);
    // version: client and server.
    let version = fleet.op(&["version"]);
    assert_eq!(version.code, 0, "{}", version.stderr);
    assert_eq!(version.json["client"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version.json["server"], env!("CARGO_PKG_VERSION"));
    // --since takes a duration back from now.
    let recent = fleet.op(&["audit", "ls", "--since", "1h"]);
    assert_eq!(recent.code, 0, "{}", recent.stderr);
    assert!(!recent.json["events"].as_array().unwrap().is_empty());
    let future = fleet.op(&["audit", "ls", "--since", "2100-01-01T00:00:00Z"]);
    assert!(future.json["events"].as_array().unwrap().is_empty());
    // The invalid_pat answer says what to do.
    let wrong = fleet.ops.ctl("argus_pat_wrong", &["agent", "fleet"]);
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains("hint:") && wrong.stderr.contains("ARGUS_PAT"), "{}", wrong.stderr);
    // Patch times relative to now.
    let content = fleet.ops.dir.path().join("relative.yaml");
    std::fs::write(&content, "poll: 3\n").unwrap();
    let out = fleet.ops.dir.path().join("relative.patch.json");
    let key = fleet.keys.join("patch.key");
    let signed = ctl_with(
        &[],
        &[
            "patch",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--target",
            "config.yaml",
            "--file",
            content.to_str().unwrap(),
            "--not-before",
            "now",
            "--not-after",
            "+1h",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let shown = ctl_with(
        &[],
        &["patch", "verify", "--pubkey", fleet.keys.join("patch.pub").to_str().unwrap(), out.to_str().unwrap()],
    );
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let time = |key: &str| {
        let text = shown.json[key].as_str().unwrap_or_else(|| panic!("{key} in {}", shown.stdout));
        argus_fsm::Timestamp::parse_rfc3339(text).unwrap().unix_seconds()
    };
    assert_eq!(time("not_after") - time("not_before"), 3600, "{}", shown.stdout);
    let bad = ctl_with(
        &[],
        &[
            "patch",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--target",
            "config.yaml",
            "--file",
            content.to_str().unwrap(),
            "--not-before",
            "soon",
            "--not-after",
            "+1h",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn logs_are_plain_or_json_with_one_access_event_per_request_and_no_secret() {
    // Text (the default): a log file gets no colour codes.
    let fleet = Fleet::armed(&[]);
    assert_eq!(fleet.op(&["agent", "ls", "--tenant", "T1"]).code, 0);
    // The log is written by a writer thread: wait for the line rather than race it.
    let written = |fleet: &Fleet, route: &str| {
        argus_e2e::wait_until(std::time::Duration::from_secs(10), || fleet.ops.log().contains(route))
    };
    assert!(written(&fleet, "/support/tenants/{tenant}/agents"));
    let log = fleet.ops.log();
    assert!(!log.contains('\u{1b}'), "escape codes in a log file");
    let access: Vec<&str> = log.lines().filter(|l| l.contains("argus_ops::access")).collect();
    let listing = access.iter().find(|l| l.contains("/support/tenants/{tenant}/agents")).expect("access event");
    assert!(listing.contains("GET") && listing.contains("200") && listing.contains("op@example.com"), "{listing}");
    assert!(!listing.contains("/support/tenants/T1/agents"), "the route template, not the raw path");
    assert!(!log.contains(&fleet.operator) && !log.contains(argus_e2e::OPS_TOKEN), "no secret in the log");

    // JSON: one object per line with the SPEC's keys.
    let fleet = Fleet::armed(&[("ARGUS_LOG_FORMAT", "json")]);
    assert_eq!(fleet.op(&["agent", "fleet"]).code, 0);
    assert!(written(&fleet, "/support/fleet"));
    let log = fleet.ops.log();
    let events: Vec<serde_json::Value> =
        log.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect();
    for event in &events {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(event.get(key).is_some(), "{key} missing in {event}");
        }
    }
    let access = events.iter().find(|e| e["target"] == "argus_ops::access" && e["route"] == "/support/fleet");
    let access = access.expect("an access event for /support/fleet");
    assert_eq!((access["method"].as_str(), access["status"].as_u64()), (Some("GET"), Some(200)));
    assert_eq!(access["owner"], "op@example.com");
    assert!(access["duration_ms"].as_f64().is_some() && access["ip"] == "127.0.0.1", "{access}");
    // A bad format refuses to start.
    let mut bad = std::process::Command::new(bin("argus-ops"));
    bad.args(["serve", "--data-dir"]).arg(fleet.ops.data()).env("ARGUS_LOG_FORMAT", "yaml");
    let out = bad.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn argusctl_ships_completions_and_man_pages() {
    for (shell, marker) in [("bash", "_argusctl()"), ("zsh", "#compdef argusctl"), ("fish", "complete -c argusctl")] {
        let out = ctl_with(&[], &["completion", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}");
        assert!(out.stdout.contains("activate") && out.stdout.contains("revoke"), "{shell} knows the subcommands");
    }
    assert_eq!(ctl_with(&[], &["completion", "tcsh"]).code, 2, "an unknown shell is a usage error");
    let dir = tempfile::tempdir().unwrap();
    let out = ctl_with(&[], &["manpages", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in ["argusctl.1", "argusctl-agent-activate.1", "argusctl-pat-revoke.1", "argusctl-audit-ls.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|_| panic!("{page} missing"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page} is roff");
    }
    let activate = std::fs::read_to_string(dir.path().join("argusctl-agent-activate.1")).unwrap();
    assert!(activate.contains("argusctl agent activate") && activate.contains("ttl"), "{activate}");
}

/// `GET /metrics` over plain HTTP.
#[test]
fn metrics_carry_the_spec_families_and_no_tenant_agent_owner_or_token() {
    let mut fleet = Fleet::armed(&[("ARGUS_METRICS_LISTEN", "127.0.0.1:0")]);
    fleet.add_agent("a1");
    let addresses: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fleet.ops.data().join("run").join("addresses.json")).unwrap()).unwrap();
    let metrics = addresses["metrics"].as_str().expect("run/addresses.json names the metrics listener").to_string();
    let token = fleet.activate("a1");
    assert_eq!(fleet.command(&token, "ping", None).code, 0);
    assert_eq!(fleet.command(&token, "read_file", Some(serde_json::json!({ "path": "../secret" }))).code, 1);
    assert_eq!(fleet.command(&token, "rm_rf", None).code, 1);
    assert_eq!(fleet.ops.ctl("argus_pat_wrong", &["agent", "fleet"]).code, 1);
    let text = scrape(&metrics);
    for family in [
        "argus_agents_online 1",
        "argus_sessions_active 1",
        "argus_commands_total{command=\"ping\",outcome=\"ok\"} 1",
        "argus_commands_total{command=\"read_file\",outcome=\"path_not_allowlisted\"} 1",
        "argus_commands_total{command=\"not_allowlisted\",outcome=\"command_not_allowlisted\"} 1",
        "argus_gate_denied_total{factor=\"pat\"}",
        "argus_http_requests_total{route=\"/support/tenants/{tenant}/commands\",status=\"200\"}",
        "argus_command_duration_seconds_bucket",
        "argus_audit_append_seconds_bucket",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    for private in ["T1", "\"a1\"", "op@example.com", "admin@local", fleet.operator.as_str(), token.as_str(), "rm_rf"] {
        assert!(!text.contains(private), "{private} in a label:\n{text}");
    }
}

#[test]
fn systemd_units_run_each_binary_as_its_own_user_with_a_read_only_system() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    for (unit, user, writable) in [
        ("argus-ops.service", "argus-ops", Some("/var/lib/argus-ops")),
        ("argus-agent.service", "argus-agent", Some("/var/lib/argus-agent")),
        ("argus-console.service", "argus-console", None),
    ] {
        let text = std::fs::read_to_string(dir.join(unit)).unwrap_or_else(|_| panic!("{unit} missing"));
        let set = |key: &str| text.lines().filter_map(move |l| l.strip_prefix(&format!("{key}="))).collect::<Vec<_>>();
        assert_eq!(set("User"), [user], "{unit}: a dedicated user");
        assert_eq!(set("NoNewPrivileges"), ["yes"], "{unit}");
        assert_eq!(set("ProtectSystem"), ["strict"], "{unit}");
        assert_eq!(set("CapabilityBoundingSet"), [""], "{unit}: no capabilities");
        // SPEC §12 "Floods": a descriptor limit set, high enough for the listeners' caps.
        let nofile: Vec<u64> = set("LimitNOFILE").iter().map(|v| v.parse().expect("a number")).collect();
        assert!(nofile.len() == 1 && nofile[0] >= 1024, "{unit}: LimitNOFILE {nofile:?}");
        assert_eq!(
            set("ReadWritePaths"),
            writable.into_iter().collect::<Vec<_>>(),
            "{unit}: writable only where data lives"
        );
        let exec = set("ExecStart");
        assert_eq!(exec.len(), 1, "{unit}");
        let binary = unit.trim_end_matches(".service");
        assert!(exec[0].starts_with(&format!("/usr/bin/{binary} ")), "{unit}: {}", exec[0]);
        assert!(!text.contains("ARGUS_OPS_TOKEN=") && !text.contains("argus_pat_"), "{unit}: no secret in a unit");
    }
}

#[test]
fn login_keeps_a_checked_profile_that_flags_and_environment_override() {
    let fleet = Fleet::armed(&[]);
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().to_str().unwrap();
    let server = format!("https://{}", fleet.ops.api);
    let ca = fleet.ops.ca();
    let creds = |pat: &str| {
        vec![
            "--server".to_string(),
            server.clone(),
            "--ca-cert".into(),
            ca.to_str().unwrap().into(),
            "--pat".into(),
            pat.into(),
            "--ops-token".into(),
            argus_e2e::OPS_TOKEN.into(),
        ]
    };
    let run = |env: &[(&str, &str)], args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ctl_with(env, &args)
    };
    // A refused login saves nothing.
    let mut wrong = vec!["login".to_string()];
    wrong.extend(creds("argus_pat_wrong"));
    let refused = run(&[("XDG_CONFIG_HOME", xdg)], &wrong);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(!home.path().join("argus").join("config.toml").exists());
    // A good one is kept 0600 and used by later commands with no flags or environment.
    let mut good = vec!["login".to_string(), "--profile".into(), "lab".into()];
    good.extend(creds(&fleet.operator));
    let saved = run(&[("XDG_CONFIG_HOME", xdg)], &good);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    use std::os::unix::fs::PermissionsExt as _;
    let config = home.path().join("argus").join("config.toml");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
    let fleet_view = ctl_with(&[("XDG_CONFIG_HOME", xdg)], &["agent", "fleet"]);
    assert_eq!(fleet_view.code, 0, "the profile supplies everything: {}", fleet_view.stderr);
    // Environment beats the profile.
    let overridden = ctl_with(&[("XDG_CONFIG_HOME", xdg), ("ARGUS_PAT", "argus_pat_wrong")], &["agent", "fleet"]);
    assert_eq!(overridden.json["error"], "invalid_pat");
    // profile ls shows names and servers, never a secret; use switches; a missing name is refused.
    let listed = ctl_with(&[("XDG_CONFIG_HOME", xdg)], &["profile", "ls"]);
    assert_eq!(listed.json["profiles"][0]["profile"], "lab");
    assert_eq!(listed.json["profiles"][0]["current"], true);
    assert!(!listed.stdout.contains(&fleet.operator) && !listed.stdout.contains(argus_e2e::OPS_TOKEN));
    assert_eq!(ctl_with(&[("XDG_CONFIG_HOME", xdg)], &["profile", "use", "nope"]).code, 2);
    assert_eq!(ctl_with(&[("XDG_CONFIG_HOME", xdg)], &["profile", "use", "lab"]).code, 0);
    assert_eq!(ctl_with(&[("XDG_CONFIG_HOME", xdg), ("ARGUS_PROFILE", "nope")], &["agent", "fleet"]).code, 2);
}

#[test]
fn activate_keeps_the_session_token_for_later_commands_until_the_session_ends() {
    let mut fleet = Fleet::armed(&[]);
    fleet.add_agent("a1");
    let state = tempfile::tempdir().unwrap();
    let xdg = state.path().to_str().unwrap().to_string();
    let server = format!("https://{}", fleet.ops.api);
    let ca = fleet.ops.ca().to_str().unwrap().to_string();
    let env = |extra: Option<(&'static str, String)>| {
        let mut env = vec![
            ("XDG_STATE_HOME", xdg.clone()),
            ("ARGUS_SERVER", server.clone()),
            ("ARGUS_CA_CERT", ca.clone()),
            ("ARGUS_OPS_TOKEN", argus_e2e::OPS_TOKEN.to_string()),
            ("ARGUS_PAT", fleet.operator.clone()),
        ];
        env.extend(extra);
        env
    };
    let run = |extra: Option<(&'static str, String)>, args: &[&str]| {
        let env = env(extra);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ctl_with(&env, args)
    };
    let activated = run(None, &["agent", "activate", "a1", "--tenant", "T1", "--reason", "context"]);
    assert_eq!(activated.code, 0, "{}", activated.stderr);
    let token = activated.json["session_token"].as_str().unwrap().to_string();
    use std::os::unix::fs::PermissionsExt as _;
    let kept = state.path().join("argus").join("sessions.json");
    assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
    // No --session: the kept token is used.
    let ping = run(None, &["support", "command", "T1", "--command", "ping"]);
    assert_eq!(ping.code, 0, "{}", ping.stderr);
    assert_eq!(run(None, &["support", "status", "T1"]).json["state"], "active");
    // ARGUS_SESSION works too (and a wrong one is not the kept one).
    let wrong = run(Some(("ARGUS_SESSION", "rst_wrong".into())), &["support", "status", "T1"]);
    assert_eq!(wrong.json["error"], "session_not_found");
    // Deactivating through the context drops the kept token.
    let ended = run(None, &["support", "deactivate", "T1"]);
    assert_eq!((ended.code, ended.json["state"].as_str()), (0, Some("ended")), "{}", ended.stderr);
    assert!(!std::fs::read_to_string(&kept).unwrap().contains(&token), "an ended session's token is dropped");
    let none = run(None, &["support", "command", "T1", "--command", "ping"]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("no session for T1"), "{}", none.stderr);
}

#[test]
fn output_formats_and_a_followed_audit_trail() {
    let fleet = Fleet::armed(&[]);
    let env = [
        ("ARGUS_SERVER", format!("https://{}", fleet.ops.api)),
        ("ARGUS_CA_CERT", fleet.ops.ca().to_str().unwrap().to_string()),
        ("ARGUS_OPS_TOKEN", argus_e2e::OPS_TOKEN.to_string()),
        ("ARGUS_PAT", fleet.ops.admin_pat.clone()),
    ];
    // argusctl as a person runs it (the harness's `ctl` always adds --json).
    let plain = |args: &[&str]| {
        let out = std::process::Command::new(bin("argusctl"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, yaml) = plain(&["-o", "yaml", "agent", "fleet"]);
    assert_eq!(code, Some(0), "{yaml}");
    assert!(yaml.contains("tenants:") && yaml.contains("tenant: T1"), "{yaml}");
    let (_, json) = plain(&["-o", "json", "agent", "fleet"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["tenants"][0]["tenant"], "T1");
    let (code, wide) = plain(&["-o", "wide", "agent", "fleet"]);
    assert_eq!(code, Some(0));
    assert!(wide.lines().next().unwrap().contains("ACTIVE_SESSIONS"), "{wide}");
    let (code, table) = plain(&["audit", "ls", "--limit", "3"]);
    assert_eq!(code, Some(0));
    assert!(table.lines().next().unwrap().contains("OUTCOME"), "{table}");
    let (code, error) = plain(&["-o", "yaml", "tenant", "show", "NOPE"]);
    assert_eq!(code, Some(1));
    assert!(error.contains("error: tenant_not_found"), "the error object in YAML: {error}");

    // --follow prints each new event once, as it is recorded.
    let mut follower = std::process::Command::new(bin("argusctl"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["--json", "audit", "ls", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let first = seen.recv_timeout(std::time::Duration::from_secs(20)).expect("the existing events");
    assert!(serde_json::from_str::<serde_json::Value>(&first).is_ok(), "{first}");
    assert_eq!(fleet.ops.admin(&["tenant", "disarm", "T1", "--reason", "followed"]).code, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut found = Vec::new();
    while std::time::Instant::now() < deadline {
        if let Ok(line) = seen.recv_timeout(std::time::Duration::from_millis(200)) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["event"] == "tenant_disarmed" {
                found.push(event);
            }
        }
        if !found.is_empty() && std::time::Instant::now() + std::time::Duration::from_secs(17) > deadline {
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(found.len(), 1, "the new event, exactly once: {found:?}");
}

#[test]
fn the_packaged_completions_and_man_pages_are_what_argusctl_generates() {
    // deploy/ holds what `cargo deb -p argusctl` installs; regenerate it with
    // `argusctl completion SHELL > deploy/completions/…` and `argusctl manpages --out deploy/man`.
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for (shell, file) in [("bash", "argusctl.bash"), ("zsh", "_argusctl"), ("fish", "argusctl.fish")] {
        let generated = ctl_with(&[], &["completion", shell]).stdout;
        let packaged = std::fs::read_to_string(deploy.join("completions").join(file)).unwrap();
        assert!(generated == packaged, "deploy/completions/{file} is stale: regenerate it");
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(ctl_with(&[], &["manpages", "--out", dir.path().to_str().unwrap()]).code, 0);
    let names = |path: &std::path::Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let packaged_dir = deploy.join("man");
    assert_eq!(names(dir.path()), names(&packaged_dir), "deploy/man is stale: regenerate it");
    for name in names(dir.path()) {
        let generated = std::fs::read(dir.path().join(&name)).unwrap();
        assert!(generated == std::fs::read(packaged_dir.join(&name)).unwrap(), "deploy/man/{name} is stale");
    }
}

/// The routes of SPEC §3.2, §4, §11 and §13, as `METHOD path` with the document's parameter
/// names.
const SPEC_ROUTES: &[&str] = &[
    "post /support/agents/{agent}/access-requests",
    "get /support/tenants/{tenant}/access-requests",
    "get /support/access-requests/{request}",
    "post /support/access-requests/{request}/approvals",
    "post /support/access-requests/{request}/deny",
    "get /healthz",
    "get /audit/checkpoint-key",
    "get /readyz",
    "get /openapi.json",
    "post /admin/tenants",
    "post /admin/pats",
    "get /admin/pats",
    "delete /admin/pats/{id}",
    "get /support/fleet",
    "get /support/audit",
    "get /support/audit/export",
    "get /support/tenants/{tenant}",
    "get /support/tenants/{tenant}/agents",
    "put /support/tenants/{tenant}/consent",
    "delete /support/tenants/{tenant}/consent",
    "post /support/tenants/{tenant}/arm",
    "post /support/tenants/{tenant}/disarm",
    "put /support/tenants/{tenant}/approval",
    "post /support/tenants/{tenant}/enrollment-tokens",
    "get /support/agents/{agent}/capabilities",
    "get /support/cluster",
    "post /support/agents/{agent}/revoke",
    "post /support/agents/{agent}/activate",
    "post /support/tenants/{tenant}/commands",
    "get /support/tenants/{tenant}/session",
    "post /support/tenants/{tenant}/session/deactivate",
];

#[test]
fn the_openapi_document_describes_exactly_the_routes_the_server_serves() {
    let ops = Ops::start(&[]);
    // No gate: from outside the operator network, without token or PAT.
    let (status, doc) = ops.http("127.0.0.2".parse().unwrap(), "GET", "/openapi.json", &[], None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3.1"), "{}", doc["openapi"]);
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    let mut names: Vec<String> = documented.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    let mut spec: Vec<String> = SPEC_ROUTES.iter().map(|r| r.to_string()).collect();
    names.sort();
    spec.sort();
    assert_eq!(names, spec, "the document names exactly the SPEC's routes");
    // Every documented route is served: the server answers it itself (the gate, or the probe),
    // never with the fallback that unknown routes get, and with a status the document lists.
    let (status, fallback) = ops.http("127.0.0.1".parse().unwrap(), "GET", "/support/nothing-here", &[], None);
    assert_eq!((status, fallback["message"].as_str()), (404, Some("no such route")));
    for (method, path, operation) in &documented {
        let concrete = path.replace("{tenant}", "t1").replace("{agent}", "a1").replace("{id}", "p1");
        let body = operation.get("requestBody").map(|_| serde_json::json!({}));
        let (status, answer) = ops.http("127.0.0.1".parse().unwrap(), &method.to_uppercase(), &concrete, &[], body);
        assert_ne!(answer["message"], fallback["message"], "{method} {path} is served");
        if path.starts_with("/admin/") || path.starts_with("/support/") {
            assert_eq!((status, answer["error"].as_str()), (403, Some("bad_ops_token")), "{method} {path}");
        }
        assert!(operation["responses"].get(status.to_string()).is_some(), "{method} {path}: {status} is documented");
    }
}

//! `argus-ops quickstart`: the one-command demo (SPEC §9). A fresh directory, an ops server on
//! loopback, tenant `DEMO_TENANT` with signed consent, armed, two demo agents (run in this
//! process through the agent library), then the seed flows step by step — and it keeps
//! serving, with an `env.sh` for `argusctl`, until Ctrl-C.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use argus_fsm::signed::{format_key_file, sign_consent, sign_patch, ConsentBody, PatchBody};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tokio::sync::watch;

use argus_ops::bootstrap::serve::{serve, ServeOptions};
use argus_ops::config::GateConfig;
use argus_ops::secrets;

const MARKER: &str = ".argus-quickstart";
const TENANT: &str = "DEMO_TENANT";
const AGENTS: [&str; 2] = ["demo_agent_01", "demo_agent_02"];

/// Runs the demo until `stop` resolves.
pub async fn quickstart(dir: PathBuf, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    fresh_dir(&dir)?;
    let dir = dir.canonicalize()?;
    println!("ARGUS remote support quickstart in {}\n", dir.display());

    step("initialise the ops server (CA, store, bootstrap admin PAT)");
    let data = dir.join("ops");
    let init = argus_ops::bootstrap::init::init(&data, &[], &argus_ops::store::StoreUrl::Sled, None)?;
    let ops_token = secrets::token("ops_");
    let config = GateConfig {
        enabled: true,
        operator_cidrs: vec!["127.0.0.1/32".parse()?, "::1/128".parse()?],
        ops_token_hash: Some(argus_fsm::signed::sha256(ops_token.as_bytes())),
        trusted_proxies: vec![],
        access: None,
    };
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let consent_key = keygen(&keys.join("tenant_consent"))?;
    let patch_key = keygen(&keys.join("argus_patch"))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let options = ServeOptions {
        data_dir: data.clone(),
        store: argus_ops::store::StoreUrl::Sled,
        api_listen: "127.0.0.1:0".parse()?,
        agent_listen: "127.0.0.1:0".parse()?,
        patch_pubkey: Some(keys.join("argus_patch.pub")),
        config,
        access_keys: None,
        metrics_listen: None,
        node_id: None,
        peer_listen: argus_ops::bootstrap::serve::DEFAULT_PEER_LISTEN.parse().unwrap(),
        peer_advertise: None,
    };
    let server = tokio::spawn(serve(options, stopped(shutdown_rx.clone())));
    let addresses = wait_for_addresses(&data.join("run").join("addresses.json")).await?;
    let api = addresses["api"].as_str().context("api address")?.to_string();
    let agent_addr = addresses["agent"].as_str().context("agent address")?.to_string();
    result(&json!({ "api": format!("https://{api}"), "agent_quic": agent_addr, "ca_cert": init.ca_cert }));

    let ca = std::fs::read(&init.ca_cert)?;
    let admin_pat = init.admin_pat.clone().expect("a fresh data dir founds its own store");
    let admin = Api::new(&api, &ca, &ops_token, &admin_pat)?;

    step(&format!("create tenant {TENANT} with its consent key"));
    let consent_pub = std::fs::read_to_string(keys.join("tenant_consent.pub"))?;
    result(
        &admin
            .call("POST", "/admin/tenants", Some(json!({ "tenant": TENANT, "consent_key": consent_pub.trim() })))
            .await?,
    );

    step("the tenant signs consent offline; record it");
    let now = argus_ops::time_format::now().unix_seconds();
    let body = ConsentBody {
        version: 1,
        tenant: TENANT.into(),
        signer: "Demo Store Manager".into(),
        issued_at: now,
        expires_at: None,
    };
    let envelope = sign_consent(&consent_key, &body);
    std::fs::write(dir.join("consent.json"), envelope.to_json_pretty())?;
    result(
        &admin
            .call("PUT", &format!("/support/tenants/{TENANT}/consent"), Some(serde_json::to_value(&envelope)?))
            .await?,
    );

    step("arm the tenant");
    result(
        &admin
            .call("POST", &format!("/support/tenants/{TENANT}/arm"), Some(json!({ "reason": "quickstart demo" })))
            .await?,
    );

    step("create an operator PAT (scope remote_support)");
    let pat = admin
        .call("POST", "/admin/pats", Some(json!({ "owner": "operator@demo.local", "scopes": ["remote_support"] })))
        .await?;
    let operator_pat = pat["pat"].as_str().context("pat")?.to_string();
    result(&json!({ "owner": pat["owner"], "scopes": pat["scopes"], "pat": "<written to env.sh>" }));
    let operator = Api::new(&api, &ca, &ops_token, &operator_pat)?;

    let mut agents = Vec::new();
    for agent in AGENTS {
        step(&format!("enroll {agent} (one-time token, passkey proven over QUIC)"));
        let root = dir.join("agents").join(agent);
        sample_install_root(&root)?;
        let token = admin
            .call("POST", &format!("/support/tenants/{TENANT}/enrollment-tokens"), Some(json!({ "agent_id": agent })))
            .await?;
        let token = token["token"].as_str().context("token")?.to_string();
        argus_agent::enroll(argus_agent::EnrollRequest {
            root: &root,
            server: &agent_addr,
            server_ca: &init.ca_cert,
            tenant: TENANT,
            agent_id: agent,
            token: &token,
            patch_pubkey: &keys.join("argus_patch.pub"),
            replace: false,
        })
        .await?;
        let rx = shutdown_rx.clone();
        agents.push(tokio::spawn(async move { argus_agent::run(&root, stopped(rx)).await }));
        result(&json!({ "agent_id": agent, "enrolled": true }));
    }
    wait_online(&operator, &AGENTS).await?;
    step(&format!("argusctl agent ls --tenant {TENANT}"));
    result(&operator.call("GET", &format!("/support/tenants/{TENANT}/agents"), None).await?);

    step("activate a session on demo_agent_01 (the token is shown once)");
    let session = operator
        .call(
            "POST",
            "/support/agents/demo_agent_01/activate",
            Some(json!({ "tenant": TENANT, "reason": "investigate alert", "ttl_seconds": 1800 })),
        )
        .await?;
    result(&session);
    let session_token = session["session_token"].as_str().context("session token")?.to_string();
    let run = |command: &'static str, args: Value| {
        let operator = &operator;
        let session_token = session_token.clone();
        async move {
            operator
                .call_with_session(
                    "POST",
                    &format!("/support/tenants/{TENANT}/commands"),
                    &session_token,
                    Some(json!({ "command": command, "args": args })),
                )
                .await
        }
    };
    for (label, command, args) in [
        ("ping", "ping", json!({})),
        ("agent_info", "agent_info", json!({})),
        ("tail_log (last 5 lines)", "tail_log", json!({ "lines": 5 })),
        ("read_file config.yaml", "read_file", json!({ "path": "config.yaml" })),
        ("read_file ../secret (must be refused)", "read_file", json!({ "path": "../secret" })),
    ] {
        step(label);
        result(&run(command, args).await?);
    }

    step("sign a hotfix patch offline with the ARGUS patch key, and apply it");
    let now = argus_ops::time_format::now().unix_seconds();
    let patch = PatchBody {
        version: 1,
        patch_id: uuid::Uuid::new_v4().hyphenated().to_string(),
        target: "config.yaml".into(),
        content: b"camera_poll_seconds: 7\nupload: true\n".to_vec(),
        mode: 0o644,
        base_sha256: Some(argus_fsm::signed::sha256(SAMPLE_CONFIG.as_bytes())),
        not_before: now - 60,
        not_after: now + 3600,
        agents: vec!["demo_agent_01".into()],
    };
    let signed = serde_json::to_value(sign_patch(&patch_key, &patch))?;
    std::fs::write(dir.join("patch.json"), serde_json::to_string_pretty(&signed)?)?;
    result(&run("apply_patch", json!({ "patch": signed.clone() })).await?);
    step("apply the same patch again (replay must be refused)");
    result(&run("apply_patch", json!({ "patch": signed })).await?);

    step("deactivate the session");
    result(
        &operator
            .call_with_session(
                "POST",
                &format!("/support/tenants/{TENANT}/session/deactivate"),
                &session_token,
                Some(json!({ "reason": "done" })),
            )
            .await?,
    );
    step("a command after deactivation (must answer session_expired)");
    result(&run("ping", json!({})).await?);

    step("revoke demo_agent_02 (permanent) and show it offline");
    result(
        &operator
            .call(
                "POST",
                "/support/agents/demo_agent_02/revoke",
                Some(json!({ "tenant": TENANT, "reason": "quickstart: retire this machine" })),
            )
            .await?,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    result(&operator.call("GET", &format!("/support/tenants/{TENANT}/agents"), None).await?);

    let env = dir.join("env.sh");
    let env_text = format!(
        "# source this file to drive the quickstart server with argusctl\nexport ARGUS_SERVER=https://{api}\nexport ARGUS_CA_CERT={}\nexport ARGUS_OPS_TOKEN={ops_token}\nexport ARGUS_PAT={operator_pat}\n",
        init.ca_cert.display()
    );
    argus_ops::bootstrap::tls::write_private(&env, env_text.as_bytes())?;
    // Hints name the binaries next to this one (target/release/… after the README's command),
    // not a second, debug build through `cargo run`.
    let bin_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).unwrap_or_default();
    let ctl = bin_dir.join("argusctl");
    let agent_cli = bin_dir.join("argus-agent");
    println!("\nThe server keeps running (Ctrl-C stops it). In another terminal:\n");
    if !ctl.exists() || !agent_cli.exists() {
        println!("  cargo build --release --bin argusctl --bin argus-agent   # once, next to argus-ops");
    }
    println!("  source {}", env.display());
    let ctl = ctl.display();
    println!("  {ctl} login --profile quickstart   # keeps these settings as a profile (0600)");
    println!("  {ctl} agent ls --tenant {TENANT}");
    println!("  {ctl} agent activate demo_agent_01 --tenant {TENANT} --reason \"try it\"");
    println!("  {ctl} support command {TENANT} --session rst_... --command tail_log --args '{{\"lines\":20}}'");
    println!("  {ctl} audit ls --tenant {TENANT} --since 1h");
    println!("\nThe agents' install roots are under {}/agents; try the kill switch:", dir.display());
    println!("  {} remote-support-off --install-root {}/agents/demo_agent_01", agent_cli.display(), dir.display());

    stop.await;
    println!("\nstopping: closing agent links and flushing the store");
    let _ = shutdown_tx.send(true);
    for agent in agents {
        let _ = agent.await;
    }
    server.await??;
    Ok(())
}

/// The demo dir: created fresh; an existing one is replaced only if a quickstart made it.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!("{} exists and was not made by quickstart; refusing to delete it (pass --dir)", dir.display());
        }
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(MARKER), "made by argus-ops quickstart; a re-run deletes this directory\n")?;
    Ok(())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

fn step(text: &str) {
    println!("==> {text}");
}

fn result(value: &Value) {
    println!("    {}", serde_json::to_string(value).unwrap_or_default());
}

fn keygen(prefix: &Path) -> anyhow::Result<SigningKey> {
    let seed = secrets::random32();
    let key = SigningKey::from_bytes(&seed);
    argus_ops::bootstrap::tls::write_private(&prefix.with_extension("key"), format_key_file(&seed).as_bytes())?;
    std::fs::write(prefix.with_extension("pub"), format_key_file(&key.verifying_key().to_bytes()))?;
    Ok(key)
}

const SAMPLE_CONFIG: &str = "camera_poll_seconds: 5\nupload: true\n";

fn sample_install_root(root: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join("crashes"))?;
    let log: String = (1..=500)
        .map(|i| format!("2026-11-23T10:{:02}:{:02}Z INFO camera poll ok (cycle {i})\n", i / 60 % 60, i % 60))
        .collect();
    std::fs::write(root.join("argus.log"), log)?;
    std::fs::write(root.join("config.yaml"), SAMPLE_CONFIG)?;
    std::fs::write(root.join("version.txt"), "4.2.0\n")?;
    std::fs::write(
        root.join("agent_info.json"),
        json!({ "cameras": [{ "id": "lobby-1", "model": "X100" }, { "id": "door-2", "model": "X200" }] }).to_string(),
    )?;
    std::fs::write(root.join("crashes").join("crash-2026-11-20.txt"), "camera driver restarted\n")?;
    // Outside the allowlist: the demo shows it cannot be read.
    std::fs::write(root.parent().context("agents dir")?.join("secret"), "not for operators\n")?;
    Ok(())
}

async fn wait_for_addresses(path: &Path) -> anyhow::Result<Value> {
    for _ in 0..200 {
        if let Some(value) = std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
            return Ok(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not start (no {})", path.display())
}

async fn wait_online(api: &Api, agents: &[&str]) -> anyhow::Result<()> {
    for _ in 0..200 {
        let listing = api.call("GET", &format!("/support/tenants/{TENANT}/agents"), None).await?;
        let online = listing["agents"].as_array().into_iter().flatten().filter(|a| a["online"] == true).count();
        if online == agents.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the demo agents did not come online")
}

/// A minimal API client for the demo (the real CLI is `argusctl`).
struct Api {
    http: reqwest::Client,
    base: String,
    ops_token: String,
    pat: String,
}

impl Api {
    fn new(api: &str, ca: &[u8], ops_token: &str, pat: &str) -> anyhow::Result<Api> {
        let tls = rustls::ClientConfig::builder_with_provider(argus_transport_quic::crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(argus_transport_quic::pinned_roots(ca)?)
            .with_no_client_auth();
        let http = reqwest::Client::builder().use_preconfigured_tls(tls).build()?;
        Ok(Api { http, base: format!("https://{api}"), ops_token: ops_token.into(), pat: pat.into() })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.send(method, path, None, body).await
    }

    async fn call_with_session(
        &self,
        method: &str,
        path: &str,
        session: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.send(method, path, Some(session), body).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        session: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.parse()?, format!("{}{path}", self.base))
            .header("X-Argus-Ops-Token", &self.ops_token)
            .bearer_auth(&self.pat);
        if let Some(session) = session {
            request = request.header("X-Argus-Session", session);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        Ok(response.json().await?)
    }
}

// ARGUS Operations Console. No framework, no external resources, no inline script (the CSP
// forbids it). Text from the server is always placed with textContent, never as HTML.
// Secrets: the PAT lives in its input field and the session token in a variable of this
// closure; neither is written to storage, cookies or the URL.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // The SPEC's codes, in words for the operator.
  const WORDS = {
    remote_support_disabled: "Remote support is switched off on the ops server.",
    ip_not_allowlisted: "Your sign-in could not be used as the first factor (Cloudflare Access assertion missing or not accepted).",
    bad_ops_token: "The console is not configured with the right ops token; tell the ops team.",
    invalid_pat: "Your personal access token is missing, unknown or expired.",
    missing_role: "Your token does not have the remote_support role.",
    rate_limited: "Too many failed attempts; wait a minute and try again.",
    cf_allowlist_empty: "The browser path is on but nobody is allowlisted; tell the ops team.",
    cf_identity_mismatch: "Your Cloudflare Access identity is not the owner of this token.",
    tenant_consent_required: "The tenant has not given (or has withdrawn) consent for remote support.",
    tenant_disarmed: "The tenant is disarmed; a tenant admin must arm it first.",
    tenant_not_found: "No such tenant.",
    agent_offline: "The agent is offline.",
    agent_revoked: "The agent has been revoked.",
    agent_not_found: "No such agent in that tenant.",
    remote_support_off: "The machine's owner has switched remote support off (kill switch).",
    reason_required: "Give a reason; it is recorded in the audit trail.",
    ttl_exceeds_cap: "A session lasts at most 120 minutes.",
    session_already_active: "This agent already has a live session.",
    session_expired: "That session has ended.",
    session_not_found: "That session is not yours, or does not exist.",
    cross_site_refused: "The request did not come from this page.",
    ops_unreachable: "The ops API could not be reached.",
    bad_request: "The request was not understood.",
    too_large: "The request was too large.",
    not_found: "Not found.",
    internal: "The server failed; the ops team can see why in its log.",
  };

  let oneClick = false;
  let sessionToken = null; // held for status and deactivate; never shown again, never stored
  let lastSession = null; // the last session state shown, so an ended one stays visible

  function say(where, failure) {
    const code = failure && failure.error;
    const words = WORDS[code] || (failure && failure.message) || "Something went wrong.";
    where.textContent = code ? words + " (" + code + ")" : words;
    where.hidden = false;
  }

  function clear(where) {
    where.textContent = "";
    where.hidden = true;
  }

  function ids() {
    return { tenant: $("tenant").value.trim(), agent: $("agent").value.trim() };
  }

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function guidedCommand() {
    const { tenant, agent } = ids();
    const reason = $("reason").value.trim();
    return "argusctl agent activate " + (agent || "AGENT") + " --tenant " + (tenant || "TENANT") +
      " --reason " + (reason ? shellQuote(reason) : "\"…\"");
  }

  async function act(name, body) {
    const response = await fetch("/api/tunnel/" + name, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: {
        "Content-Type": "application/json",
        "X-Argus-Console": "1",
        "Authorization": "Bearer " + $("pat").value.trim(),
      },
      body: JSON.stringify(body),
    });
    let json = null;
    try {
      json = await response.json();
    } catch (_) {
      json = { error: "ops_unreachable" };
    }
    if (!response.ok) {
      throw json;
    }
    return json;
  }

  function fact(list, name, value, cls) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    if (cls) dd.className = cls;
    list.append(dt, dd);
    return dd;
  }

  function showSession(session) {
    if (session) lastSession = session;
    else if (!sessionToken && lastSession && lastSession.state !== "active") session = lastSession;
    const state = $("session-state");
    if (!session) {
      state.textContent = sessionToken ? "held in this tab" : "none";
    } else if (session.state === "active") {
      state.textContent = "active until " + session.expires_at;
    } else if (session.state === "ended") {
      state.textContent = "ended (" + session.ended_reason + ")";
    } else {
      state.textContent = "gone (" + (session.error || "unknown") + ")";
    }
    $("deactivate").disabled = !(session && session.state === "active");
  }

  function render(view) {
    const agent = view.agent || {};
    const facts = $("agent-facts");
    facts.replaceChildren();
    fact(facts, "Agent", agent.agent_id);
    fact(facts, "Tenant", agent.tenant);
    fact(facts, "State", agent.state);
    fact(facts, "Online", agent.online ? "online" : "offline", agent.online ? "online" : "offline").id = "agent-online";
    fact(facts, "Last seen", agent.last_seen);
    fact(facts, "Version", agent.version);
    fact(facts, "Live session on this agent", agent.session_active ? "yes" : "no");
    const caps = view.capabilities;
    const list = $("capability-facts");
    list.replaceChildren();
    if (!caps || !caps.manifest) {
      fact(list, "Manifest", "none received yet");
    } else {
      fact(list, "Host", caps.hostname);
      fact(list, "OS / arch", caps.os + " / " + caps.arch);
      fact(list, "Agent version", caps.agent_version);
      fact(list, "Commands", (caps.commands || []).join(", "));
      fact(list, "Remote support (kill switch)", caps.remote_support_on ? "on" : "off");
      fact(list, "Generated", caps.generated_at + (caps.stale ? " (stale)" : ""));
    }
    showSession(view.session);
    $("view").hidden = false;
  }

  async function refresh() {
    clear($("error"));
    const { tenant, agent } = ids();
    if (!tenant || !agent) {
      say($("error"), { message: "Enter a tenant and an agent." });
      return;
    }
    if (!oneClick) {
      say($("error"), { message: "The live view needs the browser path, which is not enabled yet. " +
        "Use argusctl agent ls --tenant " + tenant + " from the operator network." });
      return;
    }
    try {
      const body = { tenant, agent };
      if (sessionToken) body.session_token = sessionToken;
      render(await act("status", body));
    } catch (failure) {
      say($("error"), failure);
    }
  }

  function openModal() {
    clear($("modal-error"));
    $("modal-agent").textContent = ids().agent || "…";
    $("guided-command").textContent = guidedCommand();
    $("one-click").disabled = !oneClick;
    $("one-click-hint").hidden = oneClick;
    $("modal").hidden = false;
    $("reason").focus();
  }

  function closeModal() {
    hideToken();
    $("modal").hidden = true;
  }

  function hideToken() {
    $("token").textContent = "";
    $("token-once").hidden = true;
  }

  async function oneClickActivate() {
    clear($("modal-error"));
    const { tenant, agent } = ids();
    const body = { tenant, agent, reason: $("reason").value.trim() };
    const minutes = parseInt($("ttl").value, 10);
    if (Number.isFinite(minutes)) body.ttl_seconds = minutes * 60;
    $("one-click").disabled = true;
    try {
      const started = await act("activate", body);
      sessionToken = started.session_token;
      $("token").textContent = started.session_token; // shown once: cleared on "done" or close
      $("token-once").hidden = false;
      showSession({ state: "active", expires_at: started.expires_at });
      refresh();
    } catch (failure) {
      say($("modal-error"), failure);
    } finally {
      $("one-click").disabled = !oneClick;
    }
  }

  async function deactivate() {
    clear($("error"));
    if (!sessionToken) return;
    try {
      const ended = await act("deactivate", { tenant: ids().tenant, session_token: sessionToken });
      showSession(ended);
      sessionToken = null;
      refresh();
    } catch (failure) {
      say($("error"), failure);
    }
  }

  function copy(from) {
    const text = $(from).textContent;
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  }

  async function loadConfig() {
    try {
      const response = await fetch("/api/tunnel/config", { cache: "no-store" });
      oneClick = (await response.json()).one_click_enabled === true;
    } catch (_) {
      oneClick = false;
    }
    document.body.dataset.oneClick = String(oneClick);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    // Deep links: /?tenant=T&agent=A (no secrets ever go in the URL).
    const params = new URLSearchParams(window.location.search);
    if (params.get("tenant")) $("tenant").value = params.get("tenant");
    if (params.get("agent")) $("agent").value = params.get("agent");
    $("lookup").addEventListener("submit", (event) => {
      event.preventDefault();
      refresh();
    });
    $("tunnel-in").addEventListener("click", openModal);
    $("close-modal").addEventListener("click", closeModal);
    $("reason").addEventListener("input", () => { $("guided-command").textContent = guidedCommand(); });
    $("one-click").addEventListener("click", oneClickActivate);
    $("copy-command").addEventListener("click", () => copy("guided-command"));
    $("copy-token").addEventListener("click", () => copy("token"));
    $("token-done").addEventListener("click", hideToken);
    $("status").addEventListener("click", refresh);
    $("deactivate").addEventListener("click", deactivate);
    await loadConfig();
    document.body.dataset.ready = "true";
  });
})();

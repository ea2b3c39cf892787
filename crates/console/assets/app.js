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
    store_unavailable: "The ops server cannot record anything right now (its database is unavailable); try again shortly.",
    agent_timeout: "The agent did not answer in time.",
  };

  let oneClick = false;
  let sessionToken = null; // held for status and deactivate; never shown again, never stored
  let lastSession = null; // the last session state shown, so an ended one stays visible
  let expiresAt = null; // the live session's end, for the countdown
  let agentRows = []; // the open tenant's agents, with their kill-switch state
  let auditTenant = null; // the tenant whose audit tail refreshes
  const REFRESH_MS = 5000;

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
      expiresAt = Date.parse(session.expires_at);
    } else if (session.state === "ended") {
      state.textContent = "ended (" + session.ended_reason + ")";
    } else {
      state.textContent = "gone (" + (session.error || "unknown") + ")";
    }
    if (!session || session.state !== "active") expiresAt = null;
    $("deactivate").disabled = !(session && session.state === "active");
    tick();
  }

  // The countdown to the live session's end, once a second; at zero the status is asked again
  // (the server decides when a session ends, the page only shows it).
  function tick() {
    const left = $("time-left");
    if (expiresAt === null || Number.isNaN(expiresAt)) {
      left.textContent = "—";
      return;
    }
    const ms = expiresAt - Date.now();
    if (ms <= 0) {
      left.textContent = "ending now";
      return;
    }
    const total = Math.floor(ms / 1000);
    const minutes = Math.floor(total / 60);
    const seconds = String(total % 60).padStart(2, "0");
    left.textContent = minutes + ":" + seconds + " left";
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
    $("stale-badge").hidden = !(caps && caps.stale);
    if (!caps || !caps.manifest) {
      fact(list, "Manifest", "none received yet");
    } else {
      fact(list, "Host", caps.hostname);
      fact(list, "OS / arch", caps.os + " / " + caps.arch);
      fact(list, "Agent version", caps.agent_version);
      fact(list, "Commands", (caps.commands || []).join(", "));
      fact(list, "Remote support (kill switch)", caps.remote_support_on ? "on" : "off").id = "kill-switch";
      fact(list, "Generated", caps.generated_at + (caps.stale ? " (stale)" : ""));
    }
    showSession(view.session);
    $("view-title").textContent = "Agent " + (agent.agent_id || "");
    $("view").hidden = false;
  }

  // The whole manifest (allowlists, cameras) for the agent panel.
  async function manifestDetails(tenant, agent) {
    try {
      const caps = await act("capabilities", { tenant, agent });
      const manifest = caps.manifest;
      const list = $("capability-facts");
      if (!manifest) return;
      fact(list, "Files it may read", (manifest.read_allowlist || []).join(", "));
      fact(list, "Files a patch may change", (manifest.patch_allowlist || []).join(", "));
      const cameras = Array.isArray(manifest.cameras) ? manifest.cameras : [];
      fact(list, "Cameras", cameras.length ? cameras.map((c) => c.id || c.name || "?").join(", ") : "none");
    } catch (_) {
      // The summary above stays; the details are a bonus.
    }
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
      await manifestDetails(tenant, agent);
      if (auditTenant !== tenant) openAudit(tenant);
    } catch (failure) {
      say($("error"), failure);
    }
  }

  // ---- The fleet, a tenant's agents, the audit tail -------------------------------------

  function cell(row, value, cls) {
    const td = document.createElement("td");
    if (value instanceof Node) td.append(value);
    else td.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    if (cls) td.className = cls;
    row.append(td);
    return td;
  }

  function linkButton(text, label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = text;
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }

  // Live sessions first, then the most agents offline, then by name.
  function byAttention(a, b) {
    const offline = (t) => Math.max(0, (t.enrolled || 0) - (t.online || 0));
    return (b.active_sessions - a.active_sessions) || (offline(b) - offline(a)) ||
      String(a.tenant).localeCompare(String(b.tenant));
  }

  async function loadFleet() {
    clear($("fleet-error"));
    if (!oneClick) {
      $("guided").hidden = false;
      return;
    }
    try {
      const fleet = await act("fleet", {});
      const body = $("fleet-table").tBodies[0];
      body.replaceChildren();
      for (const t of (fleet.tenants || []).slice().sort(byAttention)) {
        const row = document.createElement("tr");
        row.dataset.tenant = t.tenant;
        const th = document.createElement("th");
        th.scope = "row";
        th.append(linkButton(t.tenant, "Show the agents of tenant " + t.tenant, () => openTenant(t.tenant)));
        row.append(th);
        cell(row, t.armed ? "armed" : "disarmed", t.armed ? "" : "warn");
        cell(row, t.consent ? "on record" : "none", t.consent ? "" : "warn");
        cell(row, t.enrolled);
        cell(row, t.online);
        const offline = Math.max(0, (t.enrolled || 0) - (t.online || 0));
        cell(row, offline, offline ? "warn" : "");
        cell(row, t.revoked);
        cell(row, t.active_sessions, t.active_sessions ? "live" : "");
        body.append(row);
      }
      const totals = fleet.totals || {};
      const foot = $("fleet-table").tFoot;
      foot.replaceChildren();
      const row = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = "All " + (totals.tenants || 0) + " tenants";
      row.append(th);
      cell(row, totals.armed + " armed");
      cell(row, "");
      cell(row, totals.enrolled);
      cell(row, totals.online);
      cell(row, Math.max(0, (totals.enrolled || 0) - (totals.online || 0)));
      cell(row, totals.revoked);
      cell(row, totals.active_sessions);
      foot.append(row);
      $("fleet-view").hidden = false;
    } catch (failure) {
      say($("fleet-error"), failure);
    }
  }

  async function openTenant(tenant) {
    clear($("tenant-error"));
    $("tenant").value = tenant;
    $("tenant-title").textContent = "Agents of " + tenant;
    try {
      const listed = await act("agents", { tenant });
      const rows = (listed.agents || []).slice(0, 200);
      // The kill-switch state is in each agent's manifest (the first 50 agents).
      await Promise.all(rows.slice(0, 50).map(async (row) => {
        try {
          const caps = await act("capabilities", { tenant, agent: row.agent_id });
          row.remote_support_on = caps.manifest ? caps.manifest.remote_support_on : null;
          row.stale = caps.stale;
        } catch (_) {
          row.remote_support_on = null;
        }
      }));
      agentRows = rows;
      renderAgents();
      $("tenant-view").hidden = false;
      $("tenant-view").scrollIntoView({ block: "start" });
      openAudit(tenant);
    } catch (failure) {
      say($("tenant-error"), failure);
    }
  }

  function renderAgents() {
    const onlineOnly = $("filter-online").checked;
    const sessionOnly = $("filter-session").checked;
    const body = $("agents-table").tBodies[0];
    body.replaceChildren();
    const shown = agentRows.filter((a) => (!onlineOnly || a.online) && (!sessionOnly || a.session_active));
    for (const a of shown) {
      const row = document.createElement("tr");
      row.dataset.agent = a.agent_id;
      const status = document.createElement("span");
      const state = a.state === "revoked" ? "revoked" : a.online ? "online" : "offline";
      status.className = "dot " + state;
      status.textContent = state;
      cell(row, status);
      const th = document.createElement("th");
      th.scope = "row";
      if (a.state === "revoked") th.textContent = a.agent_id;
      else th.append(linkButton(a.agent_id, "Open agent " + a.agent_id, () => openAgent(a.agent_id)));
      row.append(th);
      cell(row, a.version);
      cell(row, a.last_seen);
      const on = a.remote_support_on;
      cell(row, on === true ? "on" : on === false ? "off (kill switch)" : "unknown", on === false ? "warn" : "");
      cell(row, a.session_active ? "live" : "none", a.session_active ? "live" : "");
      body.append(row);
    }
    $("agents-empty").hidden = shown.length > 0;
  }

  async function openAgent(agent) {
    $("agent").value = agent;
    await refresh();
    if (!$("view").hidden) $("view").scrollIntoView({ block: "start" });
  }

  function detail(record) {
    const d = record.details || {};
    if (record.event === "remote_support_command") return (d.command || "") + " → " + (d.outcome || "");
    if (record.event === "remote_support_session_ended") return record.reason || "";
    return record.reason || "";
  }

  function openAudit(tenant) {
    auditTenant = tenant;
    $("audit-title").textContent = "Audit trail of " + tenant;
    $("audit-view").hidden = false;
    $("requests-title").textContent = "Access requests of " + tenant;
    $("requests-view").hidden = false;
    loadAudit();
    loadRequests();
  }

  // A tenant's access requests (SPEC §13): approved with its admins' keys, never here.
  async function loadRequests() {
    if (!auditTenant || !oneClick) return;
    try {
      const pending = $("requests-pending").checked;
      const answer = await act("access_requests", { tenant: auditTenant, pending });
      clear($("requests-error"));
      const body = $("requests-table").tBodies[0];
      body.replaceChildren();
      for (const r of answer.access_requests || []) {
        const row = document.createElement("tr");
        cell(row, r.request_id);
        cell(row, r.state);
        cell(row, r.agent_id);
        cell(row, r.requester);
        cell(row, r.reason);
        cell(row, (r.approvers || []).join(", "));
        cell(row, r.state === "pending" ? r.expires_at : "");
        body.append(row);
      }
    } catch (failure) {
      say($("requests-error"), failure);
    }
  }

  async function loadAudit() {
    if (!auditTenant || !oneClick) return;
    try {
      const trail = await act("audit", { tenant: auditTenant, limit: 20 });
      clear($("audit-error"));
      const body = $("audit-table").tBodies[0];
      body.replaceChildren();
      const events = (trail.events || []).slice().sort((a, b) => b.seq - a.seq);
      for (const e of events) {
        const row = document.createElement("tr");
        cell(row, e.seq);
        cell(row, e.at);
        cell(row, e.event);
        cell(row, e.actor);
        cell(row, e.agent);
        cell(row, detail(e));
        body.append(row);
      }
    } catch (failure) {
      say($("audit-error"), failure);
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
    $("load-fleet").addEventListener("click", loadFleet);
    $("filter-online").addEventListener("change", renderAgents);
    $("filter-session").addEventListener("change", renderAgents);
    $("requests-pending").addEventListener("change", loadRequests);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("modal").hidden) closeModal();
    });
    setInterval(tick, 1000);
    // While a session is live the status refreshes (it shows why it ended); the audit tail too.
    setInterval(() => {
      if (expiresAt !== null && sessionToken) refresh();
      loadAudit();
      loadRequests();
    }, REFRESH_MS);
    await loadConfig();
    $("guided").hidden = oneClick;
    document.body.dataset.ready = "true";
  });
})();

// The chorus console: one more client of the HTTP API, in plain JavaScript.
// Model output is always written with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "chorus-key";
const state = {
  key: sessionStorage.getItem(KEY) || "",
  agents: [],
  turn: null, // the running turn's number, for cancel
  streaming: false,
  samples: [], // metric snapshots, oldest first
  polling: null,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ------------------------------------------------------------------ talking to the server

function headers(json) {
  const h = {};
  if (state.key) h["Authorization"] = "Bearer " + state.key;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function failure(response) {
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) {
    /* not JSON: keep the status text */
  }
  if (response.status === 401) notice("This server needs an API key: enter it at the top.");
  else if (response.status === 403) notice("This key may not do that: " + message);
  return new ApiError(response.status, message);
}

async function api(path, options = {}) {
  const hasBody = options.body !== undefined;
  const response = await fetch(path, {
    method: options.method || "GET",
    headers: headers(hasBody),
    body: hasBody ? JSON.stringify(options.body) : undefined,
  });
  if (!response.ok) throw await failure(response);
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

// Server-sent events from a fetch() response (EventSource cannot POST or send a key).
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { id: null, kind: "message", data: "" };
      for (const line of chunk.split("\n")) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const field = line.slice(0, colon);
        const text = line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") event.id = text;
        else if (field === "event") event.kind = text;
        else if (field === "data") event.data += (event.data ? "\n" : "") + text;
      }
      yield { id: event.id, kind: event.kind, data: event.data ? JSON.parse(event.data) : {} };
    }
  }
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers(true),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response;
}

function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const texts = value.filter((b) => b && b.type === "text").map((b) => b.text);
    if (texts.length === value.length) return texts.join("\n");
  }
  return JSON.stringify(value, null, 1);
}

// ------------------------------------------------------------------ tabs

const TABS = ["chat", "sessions", "teams", "metrics"];

function select(name, focus) {
  for (const tab of TABS) {
    const button = $("tab-" + tab);
    const on = tab === name;
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
    $("view-" + tab).hidden = !on;
    if (on && focus) button.focus();
  }
  if (name === "sessions") listSessions();
  if (name === "teams") loadTeams();
  if (name === "metrics") startMetrics();
}

function setUpTabs() {
  TABS.forEach((tab, i) => {
    const button = $("tab-" + tab);
    button.addEventListener("click", () => select(tab, false));
    button.addEventListener("keydown", (e) => {
      let next = null;
      if (e.key === "ArrowRight") next = TABS[(i + 1) % TABS.length];
      else if (e.key === "ArrowLeft") next = TABS[(i + TABS.length - 1) % TABS.length];
      else if (e.key === "Home") next = TABS[0];
      else if (e.key === "End") next = TABS[TABS.length - 1];
      if (next) {
        e.preventDefault();
        select(next, true);
      }
    });
  });
}

// ------------------------------------------------------------------ agents

async function loadAgents() {
  try {
    const found = await api("/v1/agents");
    state.agents = found.data.map((a) => a.name);
    notice("");
  } catch (e) {
    if (e.status !== 401) notice("Could not list the agents: " + e.message);
    state.agents = [];
  }
  for (const id of ["chat-agent", "sessions-agent"]) {
    const box = $(id);
    const was = box.value;
    box.replaceChildren(...state.agents.map((name) => new Option(name, name)));
    if (state.agents.includes(was)) box.value = was;
  }
}

// ------------------------------------------------------------------ chat

function newSessionId() {
  return "web-" + Math.random().toString(36).slice(2, 10);
}

function sessionPath() {
  const agent = encodeURIComponent($("chat-agent").value);
  const session = encodeURIComponent($("chat-session").value.trim());
  return `/v1/agents/${agent}/sessions/${session}`;
}

function scrollDown() {
  const box = $("transcript");
  box.scrollTop = box.scrollHeight;
}

function bubble(role) {
  const node = el("div", "msg " + role);
  node.append(el("span", "who", role === "user" ? "you" : $("chat-agent").value));
  $("transcript").append(node);
  scrollDown();
  return node;
}

function setBusy(busy, status) {
  state.streaming = busy;
  $("chat-send").disabled = busy;
  $("chat-cancel").disabled = !busy;
  // While a turn runs, its agent and session stay as they are: cancel and reconnect
  // address the session the turn belongs to.
  for (const id of ["chat-agent", "chat-session", "chat-new"]) $(id).disabled = busy;
  if (busy) state.path = sessionPath();
  $("chat-status").textContent = status || "";
}

function turnPath() {
  return state.streaming && state.path ? state.path : sessionPath();
}

// One reply as it streams: text pieces, tool calls and results in the order they came.
class Reply {
  constructor() {
    this.node = bubble("assistant");
    this.text = null;
    this.tools = new Map();
  }
  add(kind, data) {
    if (kind === "text") {
      if (!this.text) {
        this.text = el("span", "text");
        this.node.append(this.text);
      }
      this.text.textContent += data.text;
    } else if (kind === "thinking") {
      this.node.append(el("div", "block meta", "thinking: " + data.thinking));
    } else if (kind === "tool_call") {
      this.text = null;
      const block = el("div", "block tool", `tool call: ${data.name}`);
      block.dataset.tool = data.name;
      this.tools.set(data.id, block);
      this.node.append(block);
    } else if (kind === "tool_result") {
      this.text = null;
      const block = el("div", "block result" + (data.is_error ? " error" : ""));
      block.textContent = `${data.name} returned: ${show(data.content)}`;
      this.node.append(block);
    } else if (kind === "done") {
      this.done(data);
    } else if (kind === "error") {
      this.node.append(el("div", "block error", `${data.type}: ${data.message}`));
    }
    scrollDown();
  }
  done(result) {
    const said = this.node.querySelector(".text");
    if (!said && typeof result.output === "string" && result.output) {
      this.node.append(el("span", "text", result.output)); // (a reply that came whole)
    }
    if (result.usage) {
      const u = result.usage;
      const cost = typeof result.cost === "number" ? ` · $${result.cost.toFixed(5)}` : "";
      const line = `turn ${result.turn} · ${u.input_tokens + u.cache_read_input_tokens} in, ${u.output_tokens} out tokens${cost}`;
      this.node.append(el("div", "usage", line));
    }
    if (result.stop_reason === "paused" && result.pending) approvals(this.node, result.pending);
  }
}

// A paused turn: a person approves or denies each pending tool call, then it resumes.
function approvals(node, pending) {
  const path = sessionPath(); // the session that waits, whatever is shown later
  const block = el("div", "block approval");
  block.setAttribute("role", "group");
  block.setAttribute("aria-label", "Tool calls waiting for approval");
  block.append(el("strong", "", "Waiting for approval"));
  const decisions = {};
  for (const call of pending) {
    const row = el("div", "pending");
    row.append(el("div", "", `${call.name}(${JSON.stringify(call.input)})`));
    const yes = el("button", "", "Approve");
    const no = el("button", "secondary", "Deny");
    yes.type = no.type = "button";
    yes.setAttribute("aria-label", `Approve ${call.name}`);
    no.setAttribute("aria-label", `Deny ${call.name}`);
    const decide = (ok) => {
      decisions[call.id] = ok;
      yes.disabled = no.disabled = true;
      row.append(el("span", ok ? "won" : "lost", ok ? " approved" : " denied"));
      if (pending.every((c) => c.id in decisions)) resume(decisions, path);
    };
    yes.addEventListener("click", () => decide(true));
    no.addEventListener("click", () => decide(false));
    row.append(yes, no);
    block.append(row);
  }
  node.append(block);
  scrollDown();
}

// Follow a turn's stream to its end; a dropped connection resumes from the last event id.
async function follow(response, reply) {
  const turnHeader = response.headers.get("X-Chorus-Turn");
  if (turnHeader) state.turn = Number(turnHeader);
  let last = 0;
  let ended = false;
  for (let attempt = 0; attempt < 5 && !ended; attempt++) {
    try {
      for await (const event of events(response)) {
        if (event.id) {
          last = Number(event.id);
          state.turn = Math.floor(last / 1e6);
        }
        reply.add(event.kind, event.data);
        if (event.kind === "done" || event.kind === "error") ended = true;
      }
    } catch (e) {
      /* the connection dropped: resume below */
    }
    if (!ended && state.turn) {
      response = await fetch(`${turnPath()}/turns/${state.turn}/events?after=${last}`, {
        headers: headers(false),
      });
      if (!response.ok) break;
    }
  }
}

async function send(message) {
  if (state.streaming) return;
  if (!$("chat-session").value.trim()) $("chat-session").value = newSessionId();
  const you = bubble("user");
  you.append(el("span", "text", message));
  setBusy(true, "streaming…");
  state.turn = null;
  try {
    const response = await post(`${sessionPath()}/turns`, { message, stream: true });
    await follow(response, new Reply());
  } catch (e) {
    $("transcript").append(el("div", "block error", e.message));
  } finally {
    setBusy(false, "");
    state.turn = null;
  }
}

async function resume(decisions, path) {
  setBusy(true, "resuming…");
  state.path = path;
  try {
    const response = await post(`${path}/resume`, { decisions, stream: true });
    await follow(response, new Reply());
  } catch (e) {
    $("transcript").append(el("div", "block error", e.message));
  } finally {
    setBusy(false, "");
  }
}

async function cancel() {
  try {
    const path = turnPath();
    let turn = state.turn;
    if (!turn) turn = (await api(`${path}?limit=1`)).running;
    if (!turn) return;
    $("chat-status").textContent = "cancelling…";
    await api(`${path}/turns/${turn}/cancel`, { method: "POST", body: {} });
  } catch (e) {
    notice("Could not cancel: " + e.message);
  }
}

// A past session: its messages, with what compaction folded into summaries marked.
async function openSession(agent, session) {
  $("chat-agent").value = agent;
  $("chat-session").value = session;
  select("chat", false);
  const box = $("transcript");
  box.replaceChildren();
  let page;
  try {
    page = await api(`${sessionPath()}?start=0&limit=200`);
    if (page.length > 200) page = await api(`${sessionPath()}?start=${page.length - 200}&limit=200`);
  } catch (e) {
    box.append(el("div", "block error", e.message));
    return;
  }
  const summaries = page.summaries || [];
  const shown = (s) =>
    el(
      "div",
      "block summary",
      `Compacted: messages ${s.start + 1}–${s.end} (marked below) are sent to the model as this summary: ${s.text}`,
    );
  const folded = (index) => summaries.some((s) => index >= s.start && index < s.end);
  if (page.start > 0) box.append(el("div", "usage", `${page.start} earlier messages not shown`));
  for (const s of summaries) if (s.start < page.start) box.append(shown(s));
  let reply = null;
  page.messages.forEach((message, i) => {
    const index = page.start + i;
    for (const s of summaries) if (s.start === index && s.start >= page.start) box.append(shown(s));
    const content = typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content || [];
    if (message.role === "user" && content.some((b) => b.type !== "tool_result")) {
      const you = bubble("user");
      you.append(el("span", "text", content.filter((b) => b.type === "text").map((b) => b.text).join("\n")));
      if (folded(index)) you.classList.add("folded");
      reply = null;
      return;
    }
    if (!reply) reply = new Reply();
    if (folded(index)) reply.node.classList.add("folded");
    for (const b of content) {
      if (b.type === "text") reply.add("text", { text: b.text });
      else if (b.type === "tool_use") reply.add("tool_call", { id: b.id, name: b.name });
      else if (b.type === "tool_result") {
        const name = (reply.tools.get(b.tool_use_id) || {}).dataset?.tool || "tool";
        reply.add("tool_result", { name, content: b.content, is_error: b.is_error });
      }
    }
  });
  $("chat-status").textContent = `session ${session}: ${page.length} messages, ${page.turns} turns`;
  try {
    const pending = (await api(`${sessionPath()}/pending`)).data;
    if (pending.length) approvals(new Reply().node, pending);
  } catch (_) {
    /* nothing pending */
  }
}

function setUpChat() {
  $("chat-session").value = newSessionId();
  $("chat-new").addEventListener("click", () => {
    $("chat-session").value = newSessionId();
    $("transcript").replaceChildren();
    $("chat-status").textContent = "new session";
  });
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const box = $("chat-message");
    const message = box.value.trim();
    if (!message) return;
    box.value = "";
    send(message);
  });
  $("chat-message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("chat-cancel").addEventListener("click", cancel);
}

// ------------------------------------------------------------------ sessions

function ago(seconds) {
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(seconds * 1000).toLocaleString();
}

async function listSessions() {
  const agent = $("sessions-agent").value;
  const body = $("sessions-table").tBodies[0];
  if (!agent) return;
  let found;
  try {
    const q = encodeURIComponent($("sessions-q").value.trim());
    found = (await api(`/v1/agents/${encodeURIComponent(agent)}/sessions?q=${q}`)).data;
  } catch (e) {
    notice("Could not list sessions: " + e.message);
    return;
  }
  body.replaceChildren(
    ...found.map((s) => {
      const row = el("tr");
      row.append(el("td", "", s.session), el("td", "", String(s.messages)), el("td", "", ago(s.updated)));
      const cell = el("td");
      const open = el("button", "secondary", "Open");
      open.type = "button";
      open.setAttribute("aria-label", `Open session ${s.session}`);
      open.addEventListener("click", () => openSession(agent, s.session));
      cell.append(open);
      row.append(cell);
      return row;
    }),
  );
  $("sessions-empty").hidden = found.length > 0;
}

function setUpSessions() {
  $("sessions-form").addEventListener("submit", (e) => {
    e.preventDefault();
    listSessions();
  });
  $("sessions-agent").addEventListener("change", listSessions);
}

// ------------------------------------------------------------------ teams

async function loadTeams() {
  const box = $("team-name");
  try {
    const teams = (await api("/v1/teams")).data;
    const was = box.value;
    box.replaceChildren(...teams.map((t) => new Option(`${t.name} (${t.agents.join(", ")})`, t.name)));
    if (teams.some((t) => t.name === was)) box.value = was;
  } catch (e) {
    notice("Could not list teams: " + e.message);
  }
}

function item(list, text, className) {
  const li = el("li", className, text);
  $(list).append(li);
  return li;
}

function teamEvent(kind, d) {
  item("team-log", `${kind} ${JSON.stringify(d)}`);
  if (kind === "called_for_bids") {
    item("team-asked", `${d.agents.join(", ")} (for ${d.capability || "any"})`);
  } else if (kind === "question_asked") {
    item("team-asked", `round ${d.round}: ${d.agents.join(", ")}`);
  } else if (kind === "bid") {
    const li = item("team-bids", `${d.agent}: ${Number(d.score).toFixed(2)}`);
    const bar = el("span", "bidbar");
    bar.style.width = `${Math.round(Math.max(0, Math.min(1, d.score)) * 80)}px`;
    li.append(bar);
  } else if (kind === "awarded") {
    item("team-awards", `${d.agent} (award ${d.award})`, "won");
  } else if (kind === "award_ended") {
    item("team-awards", `${d.agent} given up: ${d.reason}`, "lost");
  } else if (kind === "answer") {
    const a = d.answer;
    const conf = a.confidence == null ? "" : ` (confidence ${a.confidence})`;
    item("team-answers", `${a.agent}${d.round > 1 ? " r" + d.round : ""}: ${show(a.value)}${conf}`);
  } else if (kind === "verdict") {
    item("team-answers", `judge ${d.judge} (order ${d.order}) picks ${show(d.pick)}`);
  } else if (kind === "task_completed") {
    const r = d.result;
    outcome(`${r.agent} did it (${r.awards} award${r.awards > 1 ? "s" : ""}, ${r.tokens} tokens):`, show(r.output), "won");
  } else if (kind === "task_failed") {
    outcome("the task failed:", d.reason, "lost");
  } else if (kind === "decided") {
    const x = d.decision;
    outcome(`decided by ${x.strategy} (${x.outcome}):`, show(x.answer), "won");
  } else if (kind === "error") {
    outcome("error:", d.message || JSON.stringify(d), "lost");
  }
}

function outcome(head, body, className) {
  const box = $("team-outcome");
  box.replaceChildren(el("div", className, head), el("div", "", body));
}

async function runTeam() {
  const team = $("team-name").value;
  const task = $("team-task").value.trim();
  if (!team || !task) return;
  const action = document.querySelector("input[name=team-action]:checked").value;
  for (const id of ["team-asked", "team-bids", "team-awards", "team-answers", "team-outcome", "team-log"]) {
    $(id).replaceChildren();
  }
  const body = action === "assign" ? { task } : { question: task };
  const capability = $("team-capability").value.trim();
  if (capability) body.capability = capability;
  body.stream = true;
  $("team-run").disabled = true;
  try {
    const response = await post(`/v1/teams/${encodeURIComponent(team)}/${action}`, body);
    for await (const event of events(response)) teamEvent(event.kind, event.data);
  } catch (e) {
    outcome("error:", e.message, "lost");
  } finally {
    $("team-run").disabled = false;
  }
}

function setUpTeams() {
  $("team-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runTeam();
  });
}

// ------------------------------------------------------------------ metrics

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const p of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    samples.push({ name: m[1], labels, value: parseFloat(m[3]) });
  }
  return samples;
}

function snapshot(samples) {
  const sum = (name, keep) =>
    samples.filter((s) => s.name === name && (!keep || keep(s.labels))).reduce((a, s) => a + s.value, 0);
  const buckets = {};
  for (const s of samples) {
    if (s.name === "chorus_turn_seconds_bucket") buckets[s.labels.le] = (buckets[s.labels.le] || 0) + s.value;
  }
  const breakers = {}; // a model's breaker is closed until it first changes
  for (const s of samples) {
    if (s.name === "chorus_model_calls_total") breakers[s.labels.model] = 0;
  }
  for (const s of samples) {
    if (s.name === "chorus_model_breaker_state") breakers[s.labels.model] = s.value;
  }
  return {
    t: performance.now() / 1000,
    turns: sum("chorus_turns_total"),
    failed: sum("chorus_turns_total", (l) => !["done", "paused", "cancelled"].includes(l.status)),
    errors5xx: sum("chorus_http_requests_total", (l) => (l.status || "").startsWith("5")),
    tokens: sum("chorus_model_tokens_total"),
    cost: sum("chorus_turn_cost_dollars_total") + sum("chorus_team_cost_dollars_total"),
    waits: sum("chorus_model_rate_limit_wait_seconds_total"),
    retries: sum("chorus_model_retries_total"),
    inFlight: sum("chorus_model_in_flight"),
    buckets,
    breakers,
  };
}

// A quantile of the turns that ended between two snapshots, from the histogram's buckets.
const bound = (le) => (le === "+Inf" ? Infinity : parseFloat(le));

function quantile(q, now, then) {
  const bounds = Object.keys(now.buckets).sort((a, b) => bound(a) - bound(b));
  const counts = bounds.map((le) => now.buckets[le] - ((then && then.buckets[le]) || 0));
  const total = counts[counts.length - 1] || 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const upper = bound(bounds[i]);
    if (counts[i] >= rank) {
      if (!isFinite(upper)) return lower;
      return lower + (upper - lower) * ((rank - below) / Math.max(1e-9, counts[i] - below));
    }
    lower = upper;
    below = counts[i];
  }
  return lower;
}

const CARDS = [
  ["turns", "Turns per second", (n, o, dt) => ((n.turns - o.turns) / dt).toFixed(1)],
  ["p50", "Turn p50 (ms)", (n, o) => ms(quantile(0.5, n, o))],
  ["p99", "Turn p99 (ms)", (n, o) => ms(quantile(0.99, n, o))],
  ["errors", "Errors (failed turns, 5xx)", (n, o) => String(n.failed + n.errors5xx - o.failed - o.errors5xx), (n) => `${n.failed + n.errors5xx} in all`],
  ["tokens", "Model tokens per second", (n, o, dt) => ((n.tokens - o.tokens) / dt).toFixed(0), (n) => `${n.tokens} in all`],
  ["cost", "Cost (US$)", (n) => n.cost.toFixed(4), (n, o, dt) => `$${(((n.cost - o.cost) / dt) * 60).toFixed(4)} a minute`],
  ["waits", "Rate-limit waits (s)", (n) => n.waits.toFixed(1), (n) => `${n.retries} retries in all`],
  ["inflight", "Model calls in flight", (n) => String(n.inFlight)],
];

function ms(seconds) {
  return seconds == null ? "–" : String(Math.round(seconds * 1000));
}

function setUpMetricCards() {
  const box = $("metric-cards");
  for (const [id, title] of CARDS) {
    const card = el("div", "metric");
    card.id = "metric-" + id;
    card.append(el("h2", "", title), el("div", "value", "–"), el("div", "usage", ""));
    const canvas = el("canvas");
    canvas.width = 200;
    canvas.height = 40;
    canvas.setAttribute("aria-hidden", "true");
    card.append(canvas);
    card.series = [];
    box.append(card);
  }
}

function spark(canvas, series) {
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const values = series.filter((v) => Number.isFinite(v));
  if (values.length < 2) return;
  const top = Math.max(...values, 1e-9);
  g.strokeStyle = "#0b5cad";
  g.lineWidth = 2;
  g.beginPath();
  series.forEach((v, i) => {
    const x = (i / Math.max(1, series.length - 1)) * (canvas.width - 2) + 1;
    const y = canvas.height - 2 - ((Number.isFinite(v) ? v : 0) / top) * (canvas.height - 4);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
}

async function pollMetrics() {
  let text;
  try {
    text = await api("/metrics");
  } catch (e) {
    $("metric-cards").dataset.error = e.message;
    return;
  }
  const now = snapshot(parseMetrics(text));
  state.samples.push(now);
  if (state.samples.length > 300) state.samples.shift();
  const old = state.samples.find((s) => now.t - s.t <= 10.5) || now;
  const then = old === now && state.samples.length > 1 ? state.samples[state.samples.length - 2] : old;
  const dt = Math.max(1e-3, now.t - then.t);
  for (const [id, , value, extra] of CARDS) {
    const card = $("metric-" + id);
    const shown = state.samples.length > 1 || !["turns", "tokens"].includes(id) ? value(now, then, dt) : "–";
    card.querySelector(".value").textContent = shown;
    card.querySelector(".usage").textContent = extra ? extra(now, then, dt) : "";
    card.series.push(parseFloat(shown));
    if (card.series.length > 60) card.series.shift();
    spark(card.querySelector("canvas"), card.series);
  }
  const names = ["closed", "half-open", "open"];
  $("breakers").replaceChildren(
    ...Object.entries(now.breakers).map(([model, v]) => el("li", v ? "lost" : "won", `${model}: ${names[v] || v}`)),
  );
  if (!Object.keys(now.breakers).length) $("breakers").append(el("li", "", "no model calls yet"));
}

function startMetrics() {
  if (state.polling) return;
  pollMetrics();
  state.polling = setInterval(pollMetrics, 2000);
}

// ------------------------------------------------------------------ start

function setUpKey() {
  $("key").value = state.key;
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.key = $("key").value.trim();
    if (state.key) sessionStorage.setItem(KEY, state.key);
    else sessionStorage.removeItem(KEY);
    notice("");
    loadAgents();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpTabs();
  setUpKey();
  setUpChat();
  setUpSessions();
  setUpTeams();
  setUpMetricCards();
  loadAgents();
});

// Air-Executor dashboard: live pages over the JSON API and its server-sent events.
// Job files are hostile input: every value goes into the page as text (textContent,
// setAttribute of plain attributes), never as HTML; status names become CSS classes
// only from a fixed list.
"use strict";

const STATUS_CLASSES = new Set(["pending", "running", "completed", "failed", "skipped", "cancelled", "waiting",
  "working", "unreadable", "unknown", "success", "timed_out", "killed", "runner_lost", "failed_to_start"]);
const TOKEN_KEY = "air-executor-dashboard-token";
const SVG = "http://www.w3.org/2000/svg";
const MAX_GRAPH = 300;      // tasks drawn in the graph (dagre's layout grows fast)
const MAX_TIMELINE = 500;   // attempts drawn in the timeline
const MAX_LOG = 2 << 20;    // characters of a log kept on the page

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function cls(status) { return STATUS_CLASSES.has(status) ? status : "unknown"; }
function badge(status) { return el("span", { class: "badge s-" + cls(status) }, status || "?"); }
function when(epoch) {
  if (epoch === null || epoch === undefined) return "-";
  return new Date(epoch * 1000).toISOString().slice(0, 19).replace("T", " ");
}
function stamp(iso) { return iso ? String(iso).slice(0, 19).replace("T", " ") : "-"; }
function took(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 10) return seconds.toFixed(1) + "s";
  if (seconds < 60) return Math.round(seconds) + "s";
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return m + "m" + String(s).padStart(2, "0") + "s";
  return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
}
function later(fn, ms) {
  let timer = null;
  return () => { if (timer === null) timer = setTimeout(() => { timer = null; fn(); }, ms); };
}
function flash(message, bad) {
  const box = document.getElementById("flash");
  box.textContent = message;
  box.className = bad ? "flash bad" : "flash";
  box.hidden = false;
}

async function getJSON(url) {
  const reply = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error || reply.statusText);
  return body;
}

// -- live connection -------------------------------------------------------------------

function listen(url, handlers) {
  const live = document.getElementById("live");
  const source = new EventSource(url);
  source.addEventListener("open", () => { live.textContent = "● live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "○ reconnecting"; live.className = "live"; });
  for (const [kind, handler] of Object.entries(handlers)) {
    source.addEventListener(kind, (event) => handler(JSON.parse(event.data)));
  }
  return source;
}

// -- token and actions -----------------------------------------------------------------

function setupToken() {
  const form = document.getElementById("token-form");
  if (!form) return;
  const input = document.getElementById("token"), state = document.getElementById("token-state");
  const show = () => { state.textContent = sessionStorage.getItem(TOKEN_KEY) ? "token set for this tab" : "no token"; };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    show();
  });
  show();
}

async function act(job, action) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const reply = await fetch("/api/jobs/" + encodeURIComponent(job) + "/" + action, { method: "POST", headers });
  const body = await reply.json();
  if (reply.ok) flash(body.message, false);
  else flash(action + " refused: " + (body.error || reply.statusText), true);
}

// -- the jobs page ---------------------------------------------------------------------

function jobRow(job) {
  const progress = el("progress", { max: job.total || 1, value: job.done });
  return el("tr", { "data-job": job.name },
    el("td", {}, el("a", { href: "/jobs/" + encodeURIComponent(job.name) }, job.name)),
    el("td", {}, badge(job.state)),
    el("td", {}, progress, " " + job.done + "/" + job.total),
    el("td", {}, job.counts.running), el("td", {}, job.counts.pending),
    el("td", {}, when(job.started)), el("td", {}, took(job.duration)), el("td", {}, stamp(job.updated_at)));
}

function initJobs() {
  const body = document.getElementById("jobs-body");
  const refresh = later(async () => {
    const query = new URLSearchParams(location.search);
    let result;
    try { result = await getJSON("/api/jobs?" + query.toString()); } catch (error) { flash(error.message, true); return; }
    const rows = result.jobs.map(jobRow);
    if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: 8 }, "No jobs.")));
    body.replaceChildren(...rows);
    const counts = document.getElementById("state-counts");
    counts.replaceChildren(...Object.entries(result.states).flatMap(([s, n]) => [el("span", { class: "badge s-" + cls(s) }, s + " " + n), " "]));
    document.getElementById("page-info").textContent = "page " + result.page + " of " + result.pages + " · " + result.total + " job(s)";
    document.getElementById("indexing").hidden = result.indexed;
  }, 200);
  listen("/api/events", { job: (e) => { if (e.changed) refresh(); }, removed: refresh, indexed: refresh, reset: refresh, hello: refresh });
  document.getElementById("state-filter").addEventListener("change", () => document.getElementById("filters").submit());
}

// -- the job page ----------------------------------------------------------------------

function drawGraph(box, graph, onPick) {
  if (graph.nodes.length > MAX_GRAPH) {
    box.replaceChildren(el("p", { class: "muted" }, "The graph is drawn for jobs of up to " + MAX_GRAPH + " tasks; this one has " + graph.nodes.length + "."));
    return;
  }
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 36, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: Math.max(56, node.id.length * 7.2 + 20), height: 26, status: node.status });
  for (const edge of graph.edges) g.setEdge(edge.from, edge.to);
  dagre.layout(g);
  const size = g.graph();
  const svg = el("svg:svg", { width: Math.ceil(size.width), height: Math.ceil(size.height), role: "img", "aria-label": "task graph" });
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    el("svg:path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }));
  svg.append(el("svg:defs", {}, marker));
  for (const e of g.edges()) {
    const points = g.edge(e).points.map((p) => p.x.toFixed(1) + "," + p.y.toFixed(1));
    svg.append(el("svg:path", { d: "M" + points.join(" L"), class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const id of g.nodes()) {
    const n = g.node(id);
    const group = el("svg:g", { class: "node", "data-task": id, transform: "translate(" + (n.x - n.width / 2) + "," + (n.y - n.height / 2) + ")" },
      el("svg:title", {}, id + ": " + n.status),
      el("svg:rect", { width: n.width, height: n.height, class: "st-" + (STATUS_CLASSES.has(n.status) ? n.status : "other") }),
      el("svg:text", { x: 10, y: 17 }, id));
    group.addEventListener("click", () => onPick(id));
    svg.append(group);
  }
  box.replaceChildren(svg);
}

function drawTimeline(box, attempts) {
  const shown = attempts.filter((a) => a.started !== null || a.queued !== null).slice(0, MAX_TIMELINE);
  if (!shown.length) { box.replaceChildren(el("p", { class: "muted" }, "No attempt has started yet.")); return; }
  const now = Date.now() / 1000;
  const starts = shown.map((a) => a.queued ?? a.started), ends = shown.map((a) => a.ended ?? (a.started !== null ? now : a.queued));
  const t0 = Math.min(...starts), t1 = Math.max(...ends, t0 + 1);
  const left = 170, width = Math.max(box.clientWidth - left - 20, 300), row = 20;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * width;
  const svg = el("svg:svg", { width: left + width + 20, height: shown.length * row + 30, role: "img", "aria-label": "timeline of attempts" });
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    svg.append(el("svg:line", { x1: x(t), x2: x(t), y1: 0, y2: shown.length * row + 4, class: "axis" }));
    svg.append(el("svg:text", { x: x(t) - 20, y: shown.length * row + 20, class: "tick" }, when(t).slice(11)));
  }
  shown.forEach((a, i) => {
    const y = i * row + 3;
    svg.append(el("svg:text", { x: 4, y: y + 12 }, (a.task + " #" + a.attempt).slice(0, 24)));
    const tip = a.task + " attempt " + a.attempt + "\nqueued " + when(a.queued) + "\nstarted " + when(a.started) + "\nended " + when(a.ended) +
      "\nresult " + (a.result || "-") + "\nexit code " + (a.exit_code ?? "-") + (a.oom_killed ? "\nOOM-killed" : "") +
      (a.container_id ? "\ncontainer " + a.container_id.slice(0, 12) : "") + (a.image ? "\nimage " + a.image : "");
    if (a.queued !== null && a.started !== null && a.started > a.queued) {
      svg.append(el("svg:rect", { x: x(a.queued), y, width: Math.max(x(a.started) - x(a.queued), 1), height: 14, class: "queued" }, el("svg:title", {}, tip)));
    }
    if (a.started !== null) {
      const end = a.ended ?? now, result = a.result === "running" ? "running" : a.result === "success" ? "success" : a.result ? "failed" : "other";
      svg.append(el("svg:rect", { x: x(a.started), y, width: Math.max(x(end) - x(a.started), 2), height: 14, class: "st-" + result }, el("svg:title", {}, tip)));
    }
  });
  box.replaceChildren(svg);
}

function taskRow(t) {
  const link = el("a", { href: "#log", class: "log-link", "data-task": t.id }, "log");
  return el("tr", { "data-task": t.id },
    el("td", {}, t.id), el("td", {}, badge(t.status)), el("td", {}, t.attempts),
    el("td", {}, t.exit_code ?? "-"), el("td", {}, stamp(t.started_at)),
    el("td", { title: runsWith(t) }, el("code", {}, [t.command || "", ...t.args].join(" "))), el("td", {}, t.error || ""), el("td", {}, link));
}

// The task's env (values of secret-looking keys come as ***) and the names of its secrets, on hover.
function runsWith(t) {
  const env = Object.entries(t.env || {}).map(([k, v]) => k + "=" + v);
  const secrets = (t.secrets || []).map((name) => name + "=***");
  return [...env, ...secrets].join("\n");
}

function attemptRow(a) {
  return el("tr", {}, el("td", {}, a.task), el("td", {}, a.attempt), el("td", {}, when(a.queued)), el("td", {}, when(a.started)),
    el("td", {}, when(a.ended)), el("td", {}, a.result || "-"), el("td", {}, a.exit_code ?? "-"), el("td", {}, a.oom_killed ? "yes" : ""),
    el("td", {}, (a.container_id || "").slice(0, 12)), el("td", {}, a.image || ""));
}

class LogView {
  constructor(job) { this.job = job; this.source = null; this.task = null; this.pre = document.getElementById("log-text"); }

  async open(task) {
    if (this.source) this.source.close();
    this.task = task;
    document.getElementById("log-task").textContent = "— " + task;
    document.getElementById("log-hint").hidden = true;
    for (const row of document.querySelectorAll("#tasks-body tr")) row.classList.toggle("picked", row.dataset.task === task);
    const base = "/api/jobs/" + encodeURIComponent(this.job) + "/tasks/" + encodeURIComponent(task) + "/log";
    let first;
    try { first = await getJSON(base + "?last=65536"); } catch (error) { this.pre.textContent = "(" + error.message + ")"; return; }
    if (this.task !== task) return;
    this.pre.textContent = first.text;
    this.source = new EventSource(base + "/stream?offset=" + first.end);
    this.source.addEventListener("chunk", (event) => this.append(JSON.parse(event.data).text));
    this.source.addEventListener("problem", (event) => { this.append("\n(" + JSON.parse(event.data).error + ")\n"); this.source.close(); });
  }

  append(text) {
    const follow = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    let all = this.pre.textContent + text;
    if (all.length > MAX_LOG) all = all.slice(all.length - MAX_LOG);
    this.pre.textContent = all;
    if (follow) this.pre.scrollTop = this.pre.scrollHeight;
  }
}

function initJob() {
  const job = document.getElementById("job").dataset.job;
  const logs = new LogView(job);
  const pick = (task) => { logs.open(task); document.getElementById("log").scrollIntoView({ block: "start" }); };
  document.getElementById("tasks-body").addEventListener("click", (event) => {
    const link = event.target.closest(".log-link");
    if (link) { event.preventDefault(); pick(link.dataset.task); }
  });
  const buttons = [...document.querySelectorAll(".actions button")];
  for (const button of buttons) button.addEventListener("click", () => act(job, button.dataset.action));
  const render = (d) => {
    const state = document.getElementById("job-state");
    state.textContent = d.state;
    state.className = "badge s-" + cls(d.state);
    document.getElementById("job-progress").replaceChildren(el("progress", { max: d.total || 1, value: d.done }),
      " " + d.done + "/" + d.total + " completed · " + d.counts.running + " running · " + d.counts.pending + " pending · started " + when(d.started) + " · " + took(d.duration));
    const error = document.getElementById("job-error");
    error.textContent = d.problem || d.error || "";
    error.hidden = !(d.problem || d.error);
    document.getElementById("tasks-body").replaceChildren(...d.tasks.map(taskRow));
    for (const row of document.querySelectorAll("#tasks-body tr")) row.classList.toggle("picked", row.dataset.task === logs.task);
    document.getElementById("attempts-body").replaceChildren(...d.attempts.map(attemptRow));
    drawGraph(document.getElementById("graph"), d.graph, pick);
    drawTimeline(document.getElementById("timeline"), d.attempts);
    document.getElementById("report").textContent = d.report || "The report is ready once the job has finished.";
    const done = ["completed", "failed", "cancelled"].includes(d.state);
    const cancel = document.getElementById("cancel-job"), retry = document.getElementById("retry-job");
    if (cancel) cancel.disabled = done;
    if (retry) retry.disabled = !["failed", "cancelled"].includes(d.state);
  };
  const refresh = later(async () => {
    try { render(await getJSON("/api/jobs/" + encodeURIComponent(job))); } catch (error) { flash(error.message, true); }
  }, 100);
  listen("/api/events?job=" + encodeURIComponent(job), { job: refresh, removed: refresh, reset: refresh, hello: refresh });
  const wanted = location.hash.startsWith("#log=") ? decodeURIComponent(location.hash.slice(5)) : null;
  if (wanted) logs.open(wanted);
}

// -- the analytics page ----------------------------------------------------------------

function initAnalytics() {
  const box = document.getElementById("rate-chart");
  let chart = null;
  const draw = async () => {
    let stats;
    try { stats = await getJSON("/api/analytics"); } catch (error) { flash(error.message, true); return; }
    const data = [stats.minutes, stats.started_per_minute, stats.finished_per_minute, stats.failed_per_minute];
    if (chart) { chart.setData(data); return; }
    chart = new uPlot({
      width: Math.max(box.clientWidth - 10, 400), height: 240,
      series: [{}, { label: "started", stroke: "#2563eb", width: 2 }, { label: "finished", stroke: "#16a34a", width: 2 },
        { label: "failed", stroke: "#dc2626", width: 2 }],
      axes: [{}, { label: "attempts / minute" }],
    }, data, box);
  };
  draw();
  listen("/api/events", { job: later(draw, 2000), indexed: draw });
}

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  const page = document.body.dataset.page;
  if (page === "jobs") initJobs();
  else if (page === "job") initJob();
  else if (page === "analytics") initAnalytics();
});

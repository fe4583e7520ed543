// DrugEnv dashboard: draws the view named in <body data-view>, from /api/... and then live from
// /api/stream/... (server-sent events: the server re-sends the view's JSON whenever its files change).
// Text from run folders is only ever set as textContent, never parsed as HTML; where it goes into a
// Plotly chart (titles, hover text: Plotly reads a subset of HTML there), it is escaped first (plain()).
"use strict";

const BASE = document.body.dataset.base;
const VIEW = document.body.dataset.view;
const ARG = document.body.dataset.arg;
const main = document.getElementById("main");
const liveBadge = document.getElementById("live");
const announcer = document.getElementById("announce");
const SITE = "DrugEnv dashboard";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const plain = (s) => String(s ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const fmt = (v, d = 3) => (isNum(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(d)) : v === null || v === undefined ? "" : String(v));
const enc = (id) => id.split("/").map(encodeURIComponent).join("/");
function duration(s) {
  if (!isNum(s)) return "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}
function table(headers, rows, rowClass) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r, i) => el("tr", { class: rowClass ? rowClass(i) : null },
      r.map((c) => (c instanceof Node ? el("td", {}, c) : el("td", { class: isNum(c) ? "num" : null }, fmt(c))))))));
}
function problems(list) {
  if (!list || !list.length) return null;
  return el("div", { class: "problems", id: "problems" }, el("strong", {}, "Problems with this folder's files:"),
    el("ul", {}, list.map((p) => el("li", {}, p))));
}
// Colour-blind-safe colours (Okabe-Ito) with a marker or dash of their own, so that no series is told from
// another by colour alone, and a reference agent keeps its look on every chart.
const SERIES_STYLE = [["#0072B2", "circle"], ["#D55E00", "square"], ["#009E73", "diamond"], ["#000000", "triangle-up"],
  ["#CC79A7", "x"]];
const REFERENCE_STYLE = { heuristic: ["#E69F00", "dash"], oracle: ["#56B4E9", "dot"], random: ["#CC79A7", "dashdot"] };
const seriesLook = (i) => ({ line: { color: SERIES_STYLE[i % SERIES_STYLE.length][0] },
  marker: { color: SERIES_STYLE[i % SERIES_STYLE.length][0], symbol: SERIES_STYLE[i % SERIES_STYLE.length][1], size: 7 } });
const referenceLook = (name) => { const [color, dash] = REFERENCE_STYLE[name] || ["#777777", "longdash"]; return { line: { color, dash } }; };

// What a chart shows, in words: its title and each series' last point (the chart itself is hidden from
// screen readers, which would read its tick labels; the numbers are also in a table on the page).
function chartLabel(title, traces) {
  const last = traces.filter((t) => t.y && t.y.length).map((t) => `${t.name} ${fmt(t.y[t.y.length - 1])}` +
    (t.x.length > 1 && !String(t.meta || "").startsWith("reference/") ? ` at iteration ${t.x[t.x.length - 1]}` : ""));
  return `Chart: ${title}. ` + (last.length ? `Latest: ${last.join("; ")}.` : "No data yet.");
}
// Only the buttons a reader of these charts needs: save as PNG and reset the zoom (drag still zooms).
const MODEBAR_REMOVED = ["zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
  "hoverClosestCartesian", "hoverCompareCartesian", "toggleSpikelines", "sendDataToCloud"];
function chart(id, traces, layout) {
  const div = document.getElementById(id);
  if (!div) return;
  div.setAttribute("role", "figure");
  div.setAttribute("aria-label", chartLabel(layout.title ? layout.title.text : id, traces));
  if (typeof Plotly === "undefined") { div.textContent = window.PLOTLY_MISSING || "Plotly did not load."; return; }
  Plotly.react(div, traces, Object.assign({ margin: { l: 50, r: 10, t: 30, b: 10 }, uirevision: "keep",
    legend: { orientation: "h", x: 0, y: -0.3, yanchor: "top", font: { size: 10 } },
    xaxis: { title: { text: "iteration", standoff: 4 } } }, layout),
  { displaylogo: false, responsive: true, showSendToCloud: false, modeBarButtonsToRemove: MODEBAR_REMOVED })
    .then(() => div.querySelectorAll("svg.main-svg").forEach((svg) => svg.setAttribute("aria-hidden", "true")));
}

// Redraw a part of the page without losing the reader's place: the element that had the keyboard focus
// (found again by its id, or a link by its address) has it again after the redraw.
function focusKey(node, within) {
  if (!node || node === within || !within.contains(node)) return null;
  if (node.id) return ["id", node.id];
  return node.getAttribute("href") ? ["href", node.getAttribute("href")] : null;
}
function replaceKeepingFocus(container, ...nodes) {
  const key = focusKey(document.activeElement, container);
  container.replaceChildren(...nodes);
  if (!key) return;
  const again = key[0] === "id" ? document.getElementById(key[1])
    : Array.from(container.querySelectorAll("[href]")).find((a) => a.getAttribute("href") === key[1]);
  if (again && container.contains(again)) again.focus({ preventScroll: true });
}
const replaceMain = (...nodes) => replaceKeepingFocus(main, ...nodes);

// One polite live region for changes a reader should hear of (a run finished, an episode ended), each once;
// the step-by-step updates are not announced.
let announced = null;
function announce(text) {
  if (!announcer || text === announced) return;
  announced = text;
  announcer.textContent = text;
}
function setTitle(text) { document.title = text ? `${text} · ${SITE}` : SITE; }
// A wide table scrolls sideways in a region of its own, which the keyboard can reach to scroll it.
const scroller = (label, node) => el("div", { class: "scroll", role: "region", "aria-label": label, tabindex: "0" }, node);

function showError(message) {
  setTitle("Not available");
  replaceMain(el("h1", {}, "Not available"), el("p", { class: "error", id: "error", role: "alert" }, message));
}

// Fetch the view's JSON once (a 404 or 400 shows its message), then follow its stream.
async function follow(api, stream, render) {
  let resp;
  try { resp = await fetch(BASE + api); } catch (e) { showError(`The dashboard server did not answer: ${e}`); return; }
  const body = await resp.json().catch(() => ({ detail: `HTTP ${resp.status}` }));
  if (!resp.ok) { showError(body.detail || `HTTP ${resp.status}`); liveBadge.textContent = "not live"; return; }
  render(body);
  const es = new EventSource(BASE + stream);
  es.onopen = () => { liveBadge.textContent = "● live"; };
  // CLOSED: the server refused the stream (a 503 when it serves as many live views as it may), and the browser
  // does not retry; otherwise the connection dropped and the browser reconnects.
  es.onerror = () => { liveBadge.textContent = es.readyState === EventSource.CLOSED ? "not live (reload to retry)" : "reconnecting…"; };
  es.onmessage = (e) => {
    const data = JSON.parse(e.data);
    if (data.gone) { showError(data.gone); es.close(); return; }
    render(data);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  };
}

// ---------------------------------------------------------------- runs list
let runStatuses = null;
function renderRuns(d) {
  setTitle("Runs");
  const out = [el("h1", {}, "Runs")];
  if (!d.runs.length) {
    out.push(el("div", { class: "empty", id: "empty" },
      el("p", {}, d.exists ? `No runs in ${d.root} yet.` : `${d.root} does not exist yet: no run has been started here.`),
      el("p", {}, "Start one, and it appears here while it trains:"),
      el("pre", {}, "bash scripts/main.sh                               # the main job: SFT + LoRA-GRPO, tiny model, CPU\n" +
        "drugenv train rllib_configs/grpo_tiny_cpu.py       # the same, by hand\n" +
        "drugenv train rllib_configs/ppo_vector.py          # PPO on the vector env\n" +
        "drugenv sweep tune_sweeps/reward_weights.py        # a Ray Tune sweep"),
      el("p", {}, "Or watch an agent play: ", el("a", { href: `${BASE}/episodes` }, "Watch an episode"), ".")));
  } else {
    out.push(scroller("Runs", table(["run", "kind", "status", "iteration", "elapsed", "config", "notes"], d.runs.map((r) => [
      el("a", { href: `${BASE}/runs/${enc(r.id)}`, class: "run-link" }, r.id), r.kind,
      el("span", { class: `badge ${r.status}`, title: r.status_reason }, r.status),
      r.iteration === null ? "" : `${r.iteration}${r.iterations_total ? " / " + r.iterations_total : ""}`,
      duration(r.elapsed_s), Object.entries(r.config).map(([k, v]) => `${k}=${v}`).join(" · "),
      r.problems.length ? `${r.problems.length} problem(s)` : ""]))));
  }
  const statuses = Object.fromEntries(d.runs.map((r) => [r.id, r.status]));
  if (runStatuses) {
    const changed = d.runs.filter((r) => runStatuses[r.id] && runStatuses[r.id] !== r.status).map((r) => `${r.id} ${r.status}`);
    if (changed.length) announce(`Run ${changed.join(", ")}.`);
  }
  runStatuses = statuses;
  if (d.snapshots.length) {
    out.push(el("h2", {}, "run-agent snapshots"),
      el("ul", {}, d.snapshots.map((s) => el("li", {}, el("a", { href: `${BASE}/episodes/${enc(s)}` }, s)))));
  }
  replaceMain(...out);
}

// ---------------------------------------------------------------- one run
function curveTraces(panel, d) {
  const rows = d.curve;
  const traces = [];
  for (const [key, label] of panel.series) {
    const pts = rows.filter((r) => isNum(r[key]));
    if (!pts.length) continue;
    traces.push(Object.assign({ x: pts.map((r) => r.iteration), y: pts.map((r) => r[key]), name: label, meta: key,
      type: panel.stacked ? "bar" : "scatter", mode: "lines+markers" }, seriesLook(traces.length)));
  }
  const its = rows.map((r) => r.iteration);
  if (panel.reference && its.length) {
    const x0 = Math.min(0, ...its), x1 = Math.max(...its);
    for (const [name, m] of Object.entries(d.references || {})) {
      if (!isNum(m[panel.reference])) continue;
      traces.push(Object.assign({ x: [x0, x1], y: [m[panel.reference], m[panel.reference]], name: `${name} (held-out ${panel.reference})`,
        meta: `reference/${name}`, mode: "lines" }, referenceLook(name)));
    }
  }
  return traces;
}
// The training curve as numbers: every series of every panel, a row an iteration (what the charts draw).
function curveTable(d) {
  const cols = [];
  for (const p of d.panels) for (const [key, label] of p.series) if (!cols.some((c) => c[0] === key)) cols.push([key, label]);
  const shown = cols.filter(([key]) => d.curve.some((r) => isNum(r[key])));
  return scroller("Training curve", table(["iteration", ...shown.map((c) => c[1])], d.curve.map((r) => [r.iteration, ...shown.map(([key]) => r[key])])));
}
function beforeAfter(ba) {
  if (!ba) return el("p", { class: "note" }, "Written when the run finishes (evidence/before_after_metrics.json).");
  const heads = ["metric", ...ba.columns.map((c) => c.label), "Δ RL − untrained", "Δ RL − SFT"];
  const delta = (row, base) => {
    const v = row.deltas[base];
    if (!isNum(v)) return "";
    const good = row.lower_is_better ? v < 0 : v > 0;
    return el("span", { class: v === 0 ? null : good ? "better" : "worse" }, (v > 0 ? "+" : "") + v.toFixed(3));
  };
  const card = scroller("Before / after", table(heads, ba.rows.map((r) => [r.metric + (r.lower_is_better ? " ↓" : ""),
    ...ba.columns.map((c) => r.values[c.key]), delta(r, "before"), delta(r, "after_sft")])));
  const done = ba.columns.some((c) => c.key === "after_grpo");
  return el("div", {}, card, done ? null : el("p", { class: "note" }, "After RL, the baselines and the deltas appear when the run finishes."));
}
function renderRun(d) {
  if (d.sweep) { renderSweep(d); return; }
  setTitle(d.id);
  const first = !document.getElementById("run-header");
  if (first) {
    main.replaceChildren(el("div", { id: "run-header" }), el("div", { id: "run-problems" }),
      el("h2", {}, "Training curve"), el("div", { class: "charts" }, d.panels.map((p) => el("div", { class: "chart", id: `chart-${p.id}` }))),
      el("details", { id: "curve-numbers" }, el("summary", {}, "The training curve as a table"), el("div", { id: "curve-table" })),
      el("h2", {}, "Checkpoint progression (held-out)"), el("div", { id: "checkpoints" }),
      el("div", { class: "charts" }, el("div", { class: "chart", id: "chart-checkpoints" })),
      el("h2", {}, "Before / after"), el("div", { id: "before-after" }),
      el("h2", {}, "Settings"), el("details", {}, el("summary", {}, "settings.json"), el("pre", { id: "settings" })));
  }
  const header = document.getElementById("run-header");
  if (header.dataset.status && header.dataset.status !== d.status) announce(`Run ${d.id} ${d.status}.`);
  header.dataset.status = d.status;
  header.replaceChildren(el("h1", {}, d.id),
    el("p", {}, `${d.kind} · `, el("span", { class: `badge ${d.status}`, id: "status" }, d.status), ` ${d.status_reason} · iteration `,
      el("span", { id: "iteration" }, d.iteration === null ? "—" : String(d.iteration)),
      d.iterations_total ? ` / ${d.iterations_total}` : "", ` · elapsed ${duration(d.elapsed_s)}`));
  document.getElementById("run-problems").replaceChildren(...[problems(d.problems)].filter(Boolean));
  for (const p of d.panels) {
    chart(`chart-${p.id}`, curveTraces(p, d), { title: { text: p.title, font: { size: 13 } }, barmode: p.stacked ? "stack" : undefined });
  }
  document.getElementById("curve-table").replaceChildren(curveTable(d));
  const ck = d.checkpoints;
  document.getElementById("checkpoints").replaceChildren(ck.length
    ? scroller("Checkpoint progression", table(["when", "checkpoint", "accuracy", "return", "Brier", "report rate", "utility", "credits used"],
      ck.map((r) => [r.label, r.checkpoint || "—", r.decision_accuracy, r.mean_return, r.brier, r.report_rate, r.decision_utility, r.credits_used])))
    : el("p", { class: "note" }, "No held-out evaluation yet (every run.eval_interval iterations)."));
  chart("chart-checkpoints", [["mean_return", "held-out return"], ["decision_accuracy", "held-out accuracy"]].map(([k, label], i) => (
    Object.assign({ x: ck.map((r) => r.iteration), y: ck.map((r) => r[k]), name: label, meta: k, mode: "lines+markers" }, seriesLook(i)))),
  { title: { text: "Held-out metrics at each checkpoint", font: { size: 13 } } });
  document.getElementById("before-after").replaceChildren(beforeAfter(d.before_after));
  document.getElementById("settings").textContent = d.settings ? JSON.stringify(d.settings, null, 2) : "settings.json not available";
}

// ---------------------------------------------------------------- sweep
function renderSweep(d) {
  const params = d.params;
  setTitle(d.id);
  replaceMain(el("h1", {}, d.id), el("p", {}, `Tune sweep · ${d.status} · ${d.trials.length} trials · metric `,
    el("code", {}, d.metric || "?"), ` (${d.mode}) · best trial `, el("code", { id: "best-trial" }, d.best_trial_id || "—")),
  ...[problems(d.problems)].filter(Boolean),
  el("h2", {}, "Metric vs parameter"), el("div", { class: "charts" }, params.map((p, i) => el("div", { class: "chart", id: `chart-param-${i}` }))),
  el("h2", {}, "Trials"), scroller("Trials", table(d.columns.map((c) => c.replace("config.", "").replace("heldout/", "")),
    d.trials.map((t) => d.columns.map((c) => (typeof t[c] === "object" && t[c] !== null ? JSON.stringify(t[c]) : t[c]))),
    (i) => (d.trials[i].trial_id === d.best_trial_id ? "best" : null))));
  params.forEach((p, i) => {
    const best = d.trials.filter((t) => t.trial_id === d.best_trial_id);
    chart(`chart-param-${i}`, [
      Object.assign({ x: d.trials.map((t) => t[p]), y: d.trials.map((t) => t[d.metric]), text: d.trials.map((t) => plain(t.trial_id)),
        mode: "markers", name: "trial" }, seriesLook(0)),
      { x: best.map((t) => t[p]), y: best.map((t) => t[d.metric]), mode: "markers", name: "best trial",
        marker: { symbol: "star", size: 16, color: "#ff7f0e" } }],
    { title: { text: plain(p.replace("config.", "")), font: { size: 13 } }, xaxis: { title: { text: plain(p.split(".").pop()) } },
      yaxis: { title: { text: plain(d.metric) } } });
  });
}

// ---------------------------------------------------------------- episodes
function renderEpisodes(d) {
  setTitle("Watch an episode");
  if (!document.getElementById("play")) {
    const agent = el("select", { id: "agent", name: "agent" }, d.agents.map((a) => el("option", { value: a }, a)));
    const scenario = el("select", { id: "scenario", name: "scenario" }, d.scenarios.map((s) => el("option", { value: s }, s)));
    const seed = el("input", { id: "seed", name: "seed", type: "number", value: "0", min: "0" });
    const custom = el("input", { id: "agent-spec", placeholder: "checkpoint:runs/…/checkpoint_final (under the runs folder)", size: "48",
      "aria-describedby": "agent-spec-hint form-error" });
    // The path or address is read only for the agents that take one: the field is off for the others.
    const needsSpec = () => agent.value.endsWith(":PATH") || agent.value.endsWith(":URL");
    const toggle = () => { custom.disabled = !needsSpec(); };
    agent.addEventListener("change", toggle);
    toggle();
    const form = el("form", { id: "play" }, el("label", {}, "agent ", agent), el("label", {}, "path or address ", custom),
      el("label", {}, "scenario ", scenario), el("label", {}, "seed ", seed), el("button", { type: "submit" }, "Play"),
      el("p", { class: "note", id: "agent-spec-hint" }, "The path or address is for checkpoint:PATH, trl:PATH and serve:URL agents."));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const spec = needsSpec() ? custom.value : agent.value;
      const resp = await fetch(`${BASE}/api/episodes`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ agent: spec, scenario: scenario.value === "procedural" ? null : scenario.value, seed: Number(seed.value) }) });
      const body = await resp.json();
      if (!resp.ok) { document.getElementById("form-error").textContent = body.detail || `HTTP ${resp.status}`; return; }
      window.location.href = `${BASE}/episodes/${enc(body.id)}`;
    });
    main.replaceChildren(el("h1", {}, "Watch an episode"), el("p", {}, "An agent plays one scenario step by step; the truth is shown only when the episode ends."),
      form, el("p", { class: "error-text", id: "form-error", role: "alert" }), el("div", { id: "episode-lists" }));
  }
  const links = (ids) => el("ul", {}, ids.map((s) => el("li", {}, el("a", { href: `${BASE}/episodes/${enc(s)}` }, s))));
  replaceKeepingFocus(document.getElementById("episode-lists"),
    el("h2", {}, "Played here"), d.live.length ? links(d.live.map((e) => e.id)) : el("p", { class: "note" }, "None yet."),
    el("h2", {}, "run-agent snapshots (_dashboard_state.json)"),
    d.snapshots.length ? links(d.snapshots) : el("p", { class: "note" }, "None found. drugenv run-agent --dashboard-path runs/agent/_dashboard_state.json writes one."));
}

function renderEpisode(v) {
  const s = v.state;
  const heading = s ? `${s.target_gene} — ${s.indication}` : "Starting…";
  setTitle(heading);
  const out = [el("h1", {}, heading)];
  if (v.error) out.push(el("p", { class: "error", id: "error", role: "alert" }, v.error));
  if (s) {
    out.push(el("p", {}, `agent ${v.agent} · seed ${s.seed} · ${s.scenario || "procedural"} · step ${s.step} / ${s.max_steps} · return `,
      el("strong", {}, fmt(s.cumulative_reward)), " · credits ", el("span", { class: "meter" },
        el("span", { style: `width:${(100 * s.credits_remaining) / Math.max(1, s.credits_total)}%` })),
      ` ${s.credits_remaining} / ${s.credits_total} left · `, el("span", { id: "episode-status" }, s.done ? "episode ended" : "playing…")));
    const steps = table(["#", "action", "parameters", "reasoning", "readout", "reward", "credits left", "violations"],
      s.steps.map((st, i) => [st.step, st.action_type, Object.entries(st.parameters).map(([k, x]) => `${k}=${x}`).join(", "),
        st.reasoning, `[${st.status}] ${st.summary}`,
        el("span", { title: Object.entries(v.reward_terms[i] || {}).map(([k, x]) => `${k}: ${x}`).join("\n") },
          `${fmt(st.reward)} ${Object.entries(v.reward_terms[i] || {}).map(([k, x]) => `${k.split("/").pop()} ${fmt(x)}`).join(", ")}`),
        st.credits_remaining, st.violations.join("; ")]));
    steps.id = "steps";
    const last = s.steps[s.steps.length - 1];
    const report = last && last.final_decision ? `${last.final_decision} at confidence ${fmt(last.confidence, 2)}` : "no report yet";
    const dossier = v.dossier ? Object.entries(v.dossier).map(([sec, fs]) => el("div", {}, el("strong", {}, `${sec} (${fs.length})`),
      el("ul", {}, fs.map((f) => el("li", {}, `step ${f.step}: ${f.summary}`))))) : [el("p", { class: "note" }, "The v1 snapshot has no dossier; see the steps.")];
    const o = v.outcome;
    const truth = o
      ? el("div", { class: `card truth ${o.decision_correct ? "right" : "wrong"}`, id: "truth" }, el("strong", {}, "Truth: "),
        `correct decision ${o.correct_decision}; the agent said ${o.decision || "nothing"} — `,
        el("strong", {}, o.decision_correct ? "right" : o.decision ? "wrong" : "no report"),
        ` · key-evidence coverage ${fmt(o.key_evidence_coverage, 2)} · ended by ${o.termination_reason}`)
      : el("div", { class: "card truth hidden", id: "truth" }, s.done && v.source === "snapshot"
        ? "Truth not available: a run-agent snapshot does not record it." : "Truth hidden until the episode ends.");
    if (s.done) {
      announce(`Episode ended. Final decision: ${report}.` + (o ? ` Correct decision ${o.correct_decision}: the agent was ` +
        `${o.decision_correct ? "right" : o.decision ? "wrong" : "silent"}.` : ""));
    }
    out.push(el("div", { class: "cols" }, el("div", {}, el("h2", {}, "Steps"), scroller("Steps", steps)),
      el("div", {}, el("div", { class: "card", id: "decision" }, el("strong", {}, "Final decision: "), report), truth,
        el("div", { class: "card", id: "red-flags" }, el("strong", {}, "Red flags: "), v.red_flags.length ? v.red_flags.join("; ") : "none"),
        el("div", { class: "card", id: "dossier" }, el("h2", {}, "Dossier"), dossier))));
  }
  replaceMain(...out);
}

const views = {
  runs: () => follow("/api/runs", "/api/stream/runs/", renderRuns),
  run: () => follow(`/api/runs/${enc(ARG)}`, `/api/stream/run/${enc(ARG)}`, renderRun),
  sweep: () => follow(`/api/runs/${enc(ARG)}`, `/api/stream/run/${enc(ARG)}`, renderSweep),
  episodes: () => follow("/api/episodes", "/api/stream/episodes/", renderEpisodes),
  episode: () => follow(`/api/episodes/${enc(ARG)}`, `/api/stream/episode/${enc(ARG)}`, renderEpisode),
  missing: () => { liveBadge.textContent = "not live"; setTitle("Not found"); },
};
(views[VIEW] || views.missing)();

// hardneg inspector: plain JavaScript, no build step, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
const RULE_COLORS = {
  self: "#8c8c8c", positive: "#1f77b4", excluded: "#7f7f7f", in_batch: "#9467bd", feedback: "#e377c2",
  same_group: "#bcbd22", duplicate: "#d62728", excluded_duplicate: "#ff9896", guide: "#17becf",
  margin: "#ff7f0e", score_band: "#8c564b", rank_window: "#aec7e8", diversity: "#98df8a",
  likely_false_negative: "#e7298a", exposure: "#66a61e", stale: "#a6761d", rotation: "#7570b3",
  shortfall: "#000000",
};
// ruleColor gives a rule without a colour of its own one of these, the same each time.
const SPARE_COLORS = ["#1b9e77", "#d95f02", "#666666", "#e6ab02", "#a6cee3", "#b2df8a"];
function ruleColor(n) {
  if (RULE_COLORS[n]) return RULE_COLORS[n];
  let h = 0;
  for (const c of n) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return SPARE_COLORS[h % SPARE_COLORS.length];
}
let info = null;
let historyTimer = null;

// --- API -------------------------------------------------------------------------------

function token() { return sessionStorage.getItem("hardneg-token") || ""; }

async function api(path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch("api/" + path, init);
  const text = await resp.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // An answer that is not the API's JSON (a proxy's page, a 405 from the router).
    throw new Error("HTTP " + resp.status + ": " + text.slice(0, 200));
  }
  if (!resp.ok) {
    let msg = data.code + ": " + data.message;
    // The violations the message does not already say.
    const unsaid = (data.violations || []).filter((v) => !data.message.includes(v.description));
    if (unsaid.length) msg += " (" + unsaid.map((v) => v.field + ": " + v.description).join("; ") + ")";
    throw new Error(msg);
  }
  return data;
}

function showError(err) {
  const el = $("#error");
  el.hidden = !err;
  el.textContent = err ? String(err.message || err) : "";
}

// --- helpers ---------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? "" : String(c)));
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function kv(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) dl.append(el("dt", {}, k), el("dd", {}, v));
}

function bytes(n) {
  n = Number(n || 0);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function fmt(x, d = 4) { return x === undefined || x === null || Number.isNaN(x) ? "—" : Number(x).toFixed(d); }

function splitIDs(s) { return (s || "").split(",").map((x) => x.trim()).filter((x) => x); }

// f32base64 encodes numbers as little-endian float32 bytes in base64 (proto bytes in JSON).
// parseVector reads the vector field: a JSON array of finite numbers.
function parseVector(text) {
  let v;
  try { v = JSON.parse(text); } catch (_) {
    throw new Error("anchor vector: not a JSON array of numbers (NaN and Infinity are not numbers in JSON): " + text.slice(0, 80));
  }
  if (!Array.isArray(v) || v.length === 0) throw new Error("anchor vector: want a non-empty JSON array of numbers, like [0.1, -0.2, 0.3]");
  const i = v.findIndex((x) => typeof x !== "number" || !Number.isFinite(x));
  if (i >= 0) throw new Error(`anchor vector: value ${i} is ${JSON.stringify(v[i])}, not a finite number`);
  return v;
}

function f32base64(nums) {
  const buf = new ArrayBuffer(nums.length * 4);
  const dv = new DataView(buf);
  nums.forEach((x, i) => dv.setFloat32(i * 4, x, true));
  let bin = "";
  new Uint8Array(buf).forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin);
}

// --- routing ---------------------------------------------------------------------------

function route() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query || "");
  const page = path === "/playground" ? "playground" : "collections";
  for (const p of ["collections", "playground"]) {
    $("#page-" + p).hidden = p !== page;
    $("#nav-" + p).classList.toggle("active", p === page);
  }
  clearInterval(historyTimer);
  showError(null);
  if (page === "collections") {
    loadCollections();
    historyTimer = setInterval(loadHistory, 5000);
  } else {
    loadPlayground(params);
  }
}

// --- collections page ------------------------------------------------------------------

async function loadCollections() {
  try {
    const data = await api("collections");
    const tbody = $("#collections tbody");
    tbody.replaceChildren();
    for (const e of data.collections || []) {
      const c = e.collection, st = c.stats || {}, p = c.index_params || {};
      const since = e.unsnapshotted_since ? " since " + new Date(e.unsnapshotted_since).toLocaleTimeString() : "";
      tbody.append(el("tr", { "data-collection": c.name },
        el("td", {}, c.name, " ", el("a", { href: "#/playground?c=" + encodeURIComponent(c.name), title: "mine in the playground" }, "▸ mine")),
        el("td", { class: "num" }, st.item_count || 0), el("td", { class: "num" }, c.dim),
        el("td", {}, (c.metric || "").replace("METRIC_", "").toLowerCase()),
        el("td", {}, st.graph_search ? "graph" : "exact"),
        el("td", {}, `${p.m} / ${p.ef_construction} / ${p.ef_search}`),
        el("td", { class: "num" }, st.tombstone_count || 0), el("td", { class: "num" }, st.last_applied_sequence || 0),
        el("td", { title: versionTitle(e.versions) }, versionText(e.versions)),
        el("td", { class: "num" }, bytes(st.vector_bytes)), el("td", {}, bytes(e.unsnapshotted_bytes) + since)));
    }
    const s = data.storage;
    kv($("#storage"), [
      ["data directory", s.data_dir], ["fsync", s.fsync], ["WAL on disk", bytes(s.wal_bytes)],
      ["WAL records since start", s.wal_records], ["snapshots since start", s.snapshots],
      ["snapshot failures", s.snapshot_failures],
      ["last snapshot", s.last_snapshot ? new Date(s.last_snapshot).toLocaleString() : "none"],
      ["recovery at start", fmt(s.recovery_seconds, 3) + " s"],
    ]);
    await loadHistory();
  } catch (err) { showError(err); }
}

// versionText shows the range of the items' version stamps and how many carry the
// newest one.
function versionText(v) {
  if (!v || !v.distinct) return "—";
  if (v.distinct === 1) return String(v.max);
  return `${v.min} … ${v.max} (${v.distinct}; ${v.newest[0].items} at ${v.max})`;
}

function versionTitle(v) {
  if (!v || !v.newest) return "";
  return "items per newest version: " + v.newest.map((n) => `${n.version}: ${n.items}`).join(", ");
}

async function loadHistory() {
  try {
    const data = await api("history");
    drawHistory(data.samples || []);
  } catch (err) { showError(err); }
}

// drawHistory plots, between consecutive samples, removals per second by rule and
// anchors short of k per second.
function drawHistory(samples) {
  const svg = $("#history");
  svg.replaceChildren();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 50, B = 24, T = 10, R = 10;
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
  svg.append(svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
  const last = samples[samples.length - 1];
  if (last) {
    const r = last.removed;
    kv($("#totals"), [
      ["requests", last.requests], ["anchors", last.anchors], ["negatives returned", last.negatives],
      ["candidates examined", last.examined], ["anchors short of k", last.shortfalls],
      ["negatives missing", last.short_negatives],
      ["removed", Object.entries(r).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(", ") || "none"],
    ]);
  }
  // Each interval between two samples is a step from its start to its end.
  const series = {};
  const times = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    const dt = (new Date(b.time) - new Date(a.time)) / 1000;
    if (dt <= 0) continue;
    times.push([new Date(a.time), new Date(b.time)]);
    for (const rule of Object.keys(b.removed)) {
      (series[rule] = series[rule] || []).push((b.removed[rule] - a.removed[rule]) / dt);
    }
    (series.shortfall = series.shortfall || []).push((b.shortfalls - a.shortfalls) / dt);
  }
  const names = Object.keys(series).filter((k) => series[k].some((v) => v > 0));
  const legend = $("#history-legend");
  legend.replaceChildren(...names.map((n) => el("span", {}, el("i", { style: "background:" + ruleColor(n) }), n)));
  if (times.length === 0) {
    svg.append(svgEl("text", { x: L + 10, y: H / 2, fill: "#6b7480" }, "collecting samples…"));
    return;
  }
  const t0 = times[0][0].getTime(), t1 = Math.max(times[times.length - 1][1].getTime(), t0 + 1);
  const ymax = Math.max(1e-9, ...names.flatMap((n) => series[n]));
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / ymax) * (H - B - T);
  svg.append(svgEl("text", { x: 4, y: T + 10, "font-size": 11 }, ymax.toPrecision(3) + "/s"));
  svg.append(svgEl("text", { x: L, y: H - 6, "font-size": 11 }, times[0][0].toLocaleTimeString()));
  svg.append(svgEl("text", { x: W - R - 60, y: H - 6, "font-size": 11 }, times[times.length - 1][1].toLocaleTimeString()));
  for (const n of names) {
    const pts = series[n].flatMap((v, i) => times[i].map((t) => `${x(t.getTime()).toFixed(1)},${y(v).toFixed(1)}`));
    svg.append(svgEl("polyline", {
      points: pts.join(" "), fill: "none", stroke: ruleColor(n), "stroke-width": 1.6,
      "stroke-dasharray": n === "shortfall" ? "4 3" : "", "data-series": n,
    }));
  }
}

// --- playground ------------------------------------------------------------------------

function buildPolicyForm() {
  const box = $("#policy-fields");
  if (box.childElementCount) return;
  for (const f of info.policy_fields) {
    // A default that depends on the collection's metric (or on k) is described in words.
    const def = f.default_note || (f.default == null ? (f.optional ? "off" : "") : formValue(f.default));
    let input;
    if (f.kind === "bool") {
      input = el("select", { name: f.name }, el("option", { value: "" }, "default (" + def + ")"),
        el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
    } else if (f.kind === "enum") {
      input = el("select", { name: f.name }, el("option", { value: "" }, "default (" + shortEnum(def) + ")"),
        ...f.values.filter((v) => !v.endsWith("_UNSPECIFIED")).map((v) => el("option", { value: v }, shortEnum(v))));
    } else if (f.kind === "string") {
      input = el("input", { name: f.name, placeholder: def || "none" });
    } else if (f.kind === "message") {
      // A JSON object of the message's fields, e.g. {"num_mixed": 2}.
      input = el("input", { name: f.name, placeholder: def === "{}" ? "{} (JSON)" : def });
    } else {
      // 64-bit integers as text: a number input would round them to 53 bits.
      input = f.kind.endsWith("int64") ? el("input", { name: f.name, type: "text", inputmode: "numeric", placeholder: def })
        : el("input", { name: f.name, type: "number", step: f.kind === "float" ? "any" : "1", placeholder: def });
    }
    input.dataset.kind = f.kind;
    box.append(el("label", { title: f.name }, f.name, input));
  }
}

function fieldKind(name) { return (info.policy_fields.find((f) => f.name === name) || {}).kind; }

// formValue shows a policy value in the form: objects (message fields) as JSON.
function formValue(v) { return typeof v === "object" ? JSON.stringify(v) : String(v); }

function shortEnum(v) { return v.replace(/^(SAMPLING_STRATEGY|RANK_MODE|STALE_RULE)_/, "").toLowerCase(); }

// policyFromForm returns the fields the user set, as MiningPolicy JSON.
function policyFromForm() {
  const pol = {};
  for (const input of $("#policy-fields").querySelectorAll("input, select")) {
    const v = input.value.trim();
    if (v === "") continue;
    const k = input.dataset.kind;
    if (k === "message") {
      let obj;
      try { obj = JSON.parse(v); } catch (err) { throw new Error(`policy.${input.name}: not a JSON object: ${err.message}`); }
      if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new Error(`policy.${input.name}: not a JSON object: ${v}`);
      pol[input.name] = obj;
      continue;
    }
    if (k === "int64" || k === "uint64") {
      // Sent as a decimal string, as protojson writes 64-bit integers, so no digit is
      // lost (a JavaScript number holds 53 bits).
      if (!(k === "int64" ? /^-?[0-9]+$/ : /^[0-9]+$/).test(v)) throw new Error(`policy.${input.name}: not ${k === "int64" ? "an integer" : "a whole number ≥ 0"}: ${v}`);
      pol[input.name] = String(BigInt(v));
      continue;
    }
    pol[input.name] = k === "bool" ? v === "true" : k === "enum" || k === "string" ? v : Number(v);
  }
  return pol;
}

async function loadPlayground(params) {
  try {
    buildPolicyForm();
    const data = await api("collections");
    const sel = $("#collection");
    const names = (data.collections || []).map((e) => e.collection.name);
    sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (params.get("c")) {
      sel.value = params.get("c");
      if (sel.value !== params.get("c")) throw new Error(`collection ${JSON.stringify(params.get("c"))}: not found on this server (the link names a collection it does not hold)`);
    }
    $("#anchor-id").value = params.get("anchor") || "";
    $("#anchor-vector").value = params.get("vector") || "";
    $("#positive-ids").value = params.get("pos") || "";
    $("#exclude-ids").value = params.get("excl") || "";
    $("#explain").value = params.get("explain") || "200";
    let pol = {};
    try { pol = params.get("policy") ? JSON.parse(params.get("policy")) : {}; } catch (_) { throw new Error("the link's policy is not JSON: " + params.get("policy").slice(0, 80)); }
    const known = new Set(info.policy_fields.map((f) => f.name));
    const unknown = Object.keys(pol).filter((k) => !known.has(k));
    if (unknown.length) throw new Error(`the link's policy names fields MiningPolicy does not have: ${unknown.join(", ")}`);
    for (const input of $("#policy-fields").querySelectorAll("input, select")) {
      input.value = pol[input.name] === undefined ? "" : formValue(pol[input.name]);
    }
    const req = buildRequest();
    showCalls(req);
    $("#share").href = location.href;
    if (req && (params.get("anchor") || params.get("vector"))) await runMine(req);
  } catch (err) { showError(err); }
}

function buildRequest() {
  const anchor = {};
  const id = $("#anchor-id").value.trim();
  const vec = $("#anchor-vector").value.trim();
  if (id) anchor.id = id;
  if (vec) anchor.vector = f32base64(parseVector(vec));
  const pos = splitIDs($("#positive-ids").value), excl = splitIDs($("#exclude-ids").value);
  if (pos.length) anchor.positive_ids = pos;
  if (excl.length) anchor.exclude_ids = excl;
  return {
    collection: $("#collection").value, anchors: [anchor], policy: policyFromForm(),
    explain: Number($("#explain").value) || 0,
  };
}

// shareHash encodes the form in the URL.
function shareHash() {
  const p = new URLSearchParams();
  p.set("c", $("#collection").value);
  for (const [k, sel] of [["anchor", "#anchor-id"], ["vector", "#anchor-vector"], ["pos", "#positive-ids"], ["excl", "#exclude-ids"], ["explain", "#explain"]]) {
    const v = $(sel).value.trim();
    if (v) p.set(k, v);
  }
  const pol = policyFromForm();
  if (Object.keys(pol).length) p.set("policy", JSON.stringify(pol));
  return "#/playground?" + p.toString();
}

async function runMine(req) {
  showError(null);
  const resp = await api("mine", req);
  renderResult(req, resp.results[0], resp.warnings || []);
}

function renderResult(req, r, warnings = []) {
  $("#result").hidden = false;
  const removed = Object.entries(r.removed || {}).filter(([, v]) => Number(v) > 0).map(([k, v]) => `${k} ${v}`).join(", ");
  kv($("#summary"), [
    ["s⁺ (positive score)", fmt(r.positive_score)], ["negatives", (r.negatives || []).length],
    ["shortfall", r.shortfall || 0], ["candidates examined", r.candidates_examined || 0],
    ["removed", removed || "none"], ["near-duplicate threshold (vs positives)", fmt(r.duplicate_threshold)],
    ["hardness floor (max_rank)", r.max_rank], ["floor reached", !!r.floor_reached],
    ["widenings", r.widenings || 0], ["exact scan", !!r.exact_scan],
    ["explained", (r.explained || []).length + (r.explain_truncated ? " (truncated)" : "")],
    // policy fields the rest of the policy leaves without effect (MineResponse.warnings)
    ...(warnings.length ? [["policy warnings", warnings.join("; ")]] : []),
  ]);
  const rows = (r.explained || []).slice();
  rows.sort((a, b) => (a.rank === undefined) - (b.rank === undefined) || (a.rank || 0) - (b.rank || 0));
  const counts = {};
  const tbody = $("#candidates tbody");
  tbody.replaceChildren();
  const key = req.anchors[0].id || "";
  for (const x of rows) {
    const fate = x.fate.replace("CANDIDATE_FATE_", "").toLowerCase();
    counts[fate] = (counts[fate] || 0) + 1;
    const cls = fate === "returned" ? "fate-returned" : fate === "unsampled" ? "fate-unsampled" : "fate-removed";
    const btn = el("button", { class: "small", type: "button", title: key ? "ReportFalseNegatives for anchor " + key : "needs an anchor id" }, "false negative");
    // Only scored candidates can be false negatives: the others are the anchor, its
    // positives or exclusions, or already reported.
    btn.disabled = !key || x.score === undefined;
    btn.addEventListener("click", async () => {
      try {
        await api("report", { collection: req.collection, reports: [{ anchor_key: key, item_ids: [x.id] }] });
        btn.disabled = true;
        btn.textContent = "reported";
      } catch (err) { showError(err); }
    });
    tbody.append(el("tr", { "data-fate": fate, "data-id": x.id },
      el("td", { class: "num" }, x.rank === undefined ? "—" : x.rank), el("td", {}, x.id),
      el("td", { class: "num" }, fmt(x.score)), el("td", {}, el("span", { class: "fate " + cls }, fate)), el("td", {}, btn)));
  }
  $("#fate-counts").textContent = Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(" · ");
  drawHistogram(req, r, rows);
}

// drawHistogram draws the scores of the explained candidates, stacked by outcome, with
// s⁺ and the policy's margin and score-band lines.
function drawHistogram(req, r, rows) {
  const svg = $("#histogram");
  svg.replaceChildren();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 40, B = 26, T = 16, R = 10;
  const scored = rows.filter((x) => x.score !== undefined);
  const pol = Object.assign({}, defaults(), req.policy);
  const sp = r.positive_score;
  const lines = [];
  if (sp !== undefined) {
    lines.push(["s⁺", sp, "#1f77b4"]);
    if (pol.absolute_margin != null) lines.push(["s⁺ − margin", sp - pol.absolute_margin, "#ff7f0e"]);
    if (pol.relative_margin != null) lines.push(["s⁺ − |s⁺|·r", sp - Math.abs(sp) * pol.relative_margin, "#ff7f0e"]);
  }
  if (pol.min_score != null) lines.push(["min_score", pol.min_score, "#8c564b"]);
  if (pol.max_score != null) lines.push(["max_score", pol.max_score, "#8c564b"]);
  const vals = scored.map((x) => x.score).concat(lines.map((l) => l[1]));
  if (vals.length === 0) {
    svg.append(svgEl("text", { x: L, y: H / 2, fill: "#6b7480" }, "no scored candidates"));
    return;
  }
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (hi - lo < 1e-6) { lo -= 0.05; hi += 0.05; }
  const pad = (hi - lo) * 0.04; lo -= pad; hi += 2 * pad;
  const nb = 40, bw = (hi - lo) / nb;
  const groups = ["returned", "unsampled", "removed"], colors = { returned: "#2e8540", unsampled: "#b8c0c8", removed: "#d9776f" };
  const bins = Array.from({ length: nb }, () => ({ returned: 0, unsampled: 0, removed: 0 }));
  for (const x of scored) {
    const f = x.fate.replace("CANDIDATE_FATE_", "").toLowerCase();
    const g = f === "returned" || f === "unsampled" ? f : "removed";
    bins[Math.min(nb - 1, Math.floor((x.score - lo) / bw))][g]++;
  }
  const ymax = Math.max(1, ...bins.map((b) => b.returned + b.unsampled + b.removed));
  const x = (v) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const y = (n) => H - B - (n / ymax) * (H - B - T);
  bins.forEach((b, i) => {
    let acc = 0;
    for (const g of groups) {
      if (!b[g]) continue;
      svg.append(svgEl("rect", {
        x: x(lo + i * bw) + 0.5, y: y(acc + b[g]), width: Math.max(1, (W - L - R) / nb - 1), height: y(acc) - y(acc + b[g]),
        fill: colors[g], "data-bin": i, "data-group": g,
      }));
      acc += b[g];
    }
  });
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(svgEl("text", { x: x(v) - 14, y: H - 8, "font-size": 11 }, v.toFixed(3)));
  }
  svg.append(svgEl("text", { x: 4, y: T, "font-size": 11 }, ymax));
  lines.forEach(([label, v, color], i) => {
    svg.append(svgEl("line", { x1: x(v), y1: T - 6, x2: x(v), y2: H - B, stroke: color, "stroke-width": 2, "stroke-dasharray": label === "s⁺" ? "" : "5 3", "data-line": label }));
    const right = x(v) > W - 160;
    svg.append(svgEl("text", { x: x(v) + (right ? -3 : 3), y: T + 4 + 12 * i, "font-size": 11, fill: color, "text-anchor": right ? "end" : "start" }, label + " " + v.toFixed(3)));
  });
  $("#hist-legend").replaceChildren(...groups.map((g) => el("span", {}, el("i", { style: "background:" + colors[g] }), g)));
}

function defaults() {
  const d = {};
  for (const f of info.policy_fields) if (f.default != null) d[f.name] = f.default;
  return d;
}

// --- the same call in Python and grpcurl -----------------------------------------------

function pyValue(v) {
  if (v === null) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") {
    return "{" + Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyValue(x)}`).join(", ") + "}";
  }
  return String(v);
}

function showCalls(req) {
  if (!req) return;
  const a = req.anchors[0];
  const args = [JSON.stringify(req.collection)];
  if (a.id) args.push(`anchor_ids=[${JSON.stringify(a.id)}]`);
  if (a.vector) args.push(`anchor_vectors=np.array([${$("#anchor-vector").value.trim()}], dtype=np.float32)`);
  if (a.positive_ids) args.push(`positive_ids=[${JSON.stringify(a.positive_ids)}]`);
  if (a.exclude_ids) args.push(`exclude_ids=[${JSON.stringify(a.exclude_ids)}]`);
  for (const [k, v] of Object.entries(req.policy)) {
    if (k === "sampling") args.push(`sampling_strategy=${pyValue(shortEnum(v))}`);
    else if (k === "rank_mode" || k === "stale_rule") args.push(`${k}=${pyValue(shortEnum(v))}`);
    else if (/int64$/.test(fieldKind(k))) args.push(`${k}=${v}`); // a decimal string on the wire
    else args.push(`${k}=${pyValue(v)}`);
  }
  if (req.explain) args.push(`explain=${req.explain}`);
  const auth = info.auth ? ', token=os.environ["HARDNEG_TOKEN"]' : "";
  // TLS with the system's roots; a private CA is hardneg.TLSConfig(ca_file=...).
  const tls = info.tls ? ", tls=True" : "";
  $("#python-call").textContent =
    `import hardneg${a.vector ? ", numpy as np" : ""}${info.auth ? ", os" : ""}\n\n` +
    `client = hardneg.Client(${JSON.stringify(grpcAddr())}${auth}${tls})\n` +
    `res = client.mine(\n    ${args.join(",\n    ")},\n)\n` +
    (req.explain ? `print(res.explained.to_pandas())  # or res.explained.rows()\n` : "");
  const hdr = info.auth ? ` -H "authorization: Bearer $HARDNEG_TOKEN"` : "";
  $("#grpcurl-call").textContent =
    `grpcurl ${info.tls ? "" : "-plaintext "}${hdr.trim()}${hdr ? " " : ""}-d ${shellQuote(JSON.stringify(req))} \\\n  ${shellQuote(grpcAddr())} hardneg.v1.MinerService/Mine`;
}

// shellQuote quotes s as one POSIX shell word: ids may hold any character, a quote too.
function shellQuote(s) { return "'" + s.replaceAll("'", "'\\''") + "'"; }

// grpcAddr is the gRPC address to show: a wildcard listen address (":50051" listens as
// "[::]:50051") is shown with the host this page was loaded from.
function grpcAddr() {
  const m = /^(.*):([0-9]+)$/.exec(info.grpc_addr);
  if (!m || !["", "[::]", "0.0.0.0"].includes(m[1])) return info.grpc_addr;
  const host = location.hostname.includes(":") && !location.hostname.startsWith("[") ? `[${location.hostname}]` : location.hostname;
  return `${host}:${m[2]}`;
}

// --- start -----------------------------------------------------------------------------

async function start() {
  $("#token").value = token();
  // A new token starts the page afresh (the server's description needs one too).
  $("#token").addEventListener("change", (e) => { sessionStorage.setItem("hardneg-token", e.target.value); location.reload(); });
  try {
    info = await api("info");
  } catch (err) {
    // Without a token the API answers 401: ask for one.
    $("#token-box").hidden = false;
    showError(err);
    return;
  }
  $("#version").textContent = "miner-server " + info.version;
  $("#token-box").hidden = !info.auth;
  $("#mine-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!$("#anchor-id").value.trim() && !$("#anchor-vector").value.trim()) {
      showError(new Error("anchor: give an anchor id (an item of the collection) or a vector"));
      return;
    }
    let h;
    try { h = shareHash(); buildRequest(); } catch (err) { showError(err); return; }
    if (location.hash === h) route(); else location.hash = h;
  });
  $("#mine-form").addEventListener("input", () => { try { showCalls(buildRequest()); $("#share").href = shareHash(); } catch (_) { /* incomplete vector */ } });
  window.addEventListener("hashchange", route);
  route();
}

start();

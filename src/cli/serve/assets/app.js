// imgdex web UI: plain JavaScript over the JSON API (no build step).
"use strict";
const $ = (s) => document.querySelector(s);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
// Requests that act carry the server's per-process token (it is only in
// this page, which other sites cannot read).
const TOKEN = document.querySelector('meta[name="imgdex-token"]').content;
async function api(url, opts = {}) {
  const r = await fetch(url, { ...opts, headers: { ...(opts.headers || {}), "x-imgdex-token": TOKEN } });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { error: text }; }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
const thumb = (id, title) => el("img", { src: `/api/thumb/${id}`, alt: title || "", title: title || "", loading: "lazy" });
const base = (p) => p.split("/").pop();
function status(sel, msg, error) { const s = $(sel); s.textContent = msg; s.classList.toggle("error", !!error); }

// ---- tabs ----
for (const t of document.querySelectorAll(".tab")) {
  t.addEventListener("click", () => show(t.dataset.view));
}
function show(view) {
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.view === view);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  if (view === "clusters" && !clustersLoaded) loadClusters();
}

api("/api/info").then((i) => {
  $("#store-info").textContent = `${i.images} images · ${i.features.embedding} embeddings`;
}).catch((e) => { $("#store-info").textContent = e.message; });

// ---- search ----
const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) searchFile(e.dataTransfer.files[0]);
});
$("#file").addEventListener("change", (e) => { if (e.target.files.length) searchFile(e.target.files[0]); });

async function searchFile(file) {
  $("#query-preview").replaceChildren(el("img", { src: URL.createObjectURL(file), alt: "query" }));
  const q = `k=${$("#k").value}&by=${$("#by").value}`;
  await runSearch(`searching for images like ${file.name}…`, () => api(`/api/query?${q}`, { method: "POST", headers: { "content-type": file.type || "application/octet-stream" }, body: file }));
}
async function searchPath(path) {
  $("#query-preview").replaceChildren(el("p", {}, `Images like ${path}`));
  const q = `k=${$("#k").value}&by=${$("#by").value}&path=${encodeURIComponent(path)}`;
  await runSearch("searching…", () => api(`/api/query?${q}`));
  show("search");
}
async function runSearch(msg, call) {
  status("#search-status", msg);
  $("#results").replaceChildren();
  try {
    const t0 = performance.now();
    const hits = await call();
    status("#search-status", `${hits.length} nearest images (${Math.round(performance.now() - t0)} ms). Click one to search from it.`);
    $("#results").replaceChildren(...hits.map((h) => el("figure", { class: "hit", "data-path": h.path },
      Object.assign(thumb(h.id, h.path), { onclick: () => searchPath(h.path) }),
      el("figcaption", {}, el("span", { class: "dist" }, h.distance.toFixed(3)), " ", base(h.path)))));
  } catch (e) { status("#search-status", e.message, true); }
}

// ---- duplicates ----
const PAGE = 20;
let groups = [];   // {keeper, members:[{id,path,width,height,bytes,reason}], done}
let page = 0;
let loadedWith = { by: "auto", preset: "default" };  // the server checks applied groups against these

$("#load-dupes").addEventListener("click", loadDupes);
async function loadDupes() {
  status("#dupes-status", "finding duplicate groups…");
  try {
    const how = { by: $("#dupes-by").value, preset: $("#dupes-preset").value };
    const r = await api(`/api/dupes?by=${how.by}&preset=${how.preset}`);
    loadedWith = how;
    groups = r.details.map((g) => ({ keeper: g.keeper, members: g.members, done: false }));
    page = 0;
    const n = groups.reduce((a, g) => a + g.members.length, 0);
    status("#dupes-status", `${groups.length} groups, ${n} images (${r.method})`);
    $("#apply-bar").hidden = $("#dupes-help").hidden = groups.length === 0;
    renderGroups();
  } catch (e) { status("#dupes-status", e.message, true); }
}
function renderPager(sel) {
  const pages = Math.max(1, Math.ceil(groups.length / PAGE));
  const done = groups.filter((g) => g.done).length;
  const go = (p) => { page = Math.min(pages - 1, Math.max(0, p)); renderGroups(); window.scrollTo(0, 0); };
  $(sel).replaceChildren(
    el("button", { onclick: () => go(page - 1) }, "‹ Prev"),
    el("span", {}, ` page ${page + 1} of ${pages} · ${done} of ${groups.length} done `),
    el("button", { onclick: () => go(page + 1) }, "Next ›"));
}
function renderGroups() {
  renderPager("#pager-top"); renderPager("#pager-bottom");
  const start = page * PAGE;
  $("#groups").replaceChildren(...groups.slice(start, start + PAGE).map((g, i) => renderGroup(g, start + i)));
}
function renderGroup(g, idx) {
  const box = el("div", { class: "group" + (g.done ? " done" : ""), "data-group": idx });
  const done = el("input", { type: "checkbox", class: "done-box" });
  done.checked = g.done;
  done.addEventListener("change", () => { g.done = done.checked; renderGroups(); });
  box.append(el("h3", {}, `Group ${idx + 1} · ${g.members.length} images`, el("label", {}, done, " done")));
  const grid = el("div", { class: "members" });
  for (const m of g.members) {
    const keep = m.path === g.keeper;
    const f = el("figure", { class: "member" + (keep ? " keeper" : ""), "data-path": m.path },
      Object.assign(thumb(m.id, m.path), { onclick: () => { g.keeper = m.path; renderGroups(); } }),
      el("figcaption", {}, el("b", {}, base(m.path)), el("br"), `${m.width}×${m.height} · ${Math.round(m.bytes / 1024)} KB`,
        el("br"), el("span", { class: "reason" }, keep ? "keeper" : m.reason)));
    if (keep) f.append(el("span", { class: "badge" }, "KEEP"));
    grid.append(f);
  }
  box.append(grid);
  return box;
}

function actionSpec() {
  const a = $("#action").value;
  if (a !== "move") return a;
  const dir = $("#move-dir").value.trim();
  if (!dir.startsWith("/")) throw new Error("move needs an absolute folder");
  return `move:${dir}`;
}
function chosenGroups() {
  const scope = $("#scope").value === "all" ? groups : groups.filter((g) => g.done);
  return scope.map((g) => ({ keeper: g.keeper, members: g.members.map((m) => m.path) }));
}
function applyBody(dryRun) {
  return JSON.stringify({ action: actionSpec(), keep: "keeper", dry_run: dryRun, yes: $("#yes").checked, groups: chosenGroups(),
    by: loadedWith.by, preset: loadedWith.preset });
}
// The apply report (same as `dupes --apply --json`): actions [{op, path,
// target?, keeper, status}] and skipped [{path, error}].
function planLines(report) {
  const acts = (report.actions || []).map((a) => ({
    text: `${a.op} ${a.path}${a.target ? " → " + a.target : ""}  (keeper ${a.keeper})`,
    skip: a.status === "failed",
  }));
  const skipped = (report.skipped || []).map((s) => ({ text: `skip ${s.path}  (${s.error})`, skip: true }));
  return acts.concat(skipped);
}
$("#apply").addEventListener("click", async () => {
  let body;
  try { body = applyBody(true); } catch (e) { status("#dupes-status", e.message, true); return; }
  if (chosenGroups().length === 0) { status("#dupes-status", "no groups chosen: mark groups done, or apply to all groups", true); return; }
  status("#dupes-status", "planning…");
  try {
    const plan = await api("/api/dupes/apply", { method: "POST", headers: { "content-type": "application/json" }, body });
    const lines = planLines(plan);
    $("#confirm-title").textContent = `Apply ${$("#action").value} (dry run first)`;
    $("#confirm-summary").textContent = `${lines.length} planned steps for ${chosenGroups().length} groups. Keepers are never touched. Nothing has happened yet.`;
    $("#plan").replaceChildren(...lines.map((l) => el("div", { class: l.skip ? "skip" : "" }, l.text)));
    $("#yes-row").hidden = $("#action").value !== "delete";
    $("#confirm").showModal();
    status("#dupes-status", "");
  } catch (e) { status("#dupes-status", e.message, true); }
});
$("#confirm-cancel").addEventListener("click", () => $("#confirm").close());
$("#confirm-go").addEventListener("click", async () => {
  try {
    const r = await api("/api/dupes/apply", { method: "POST", headers: { "content-type": "application/json" }, body: applyBody(false) });
    $("#confirm").close();
    status("#dupes-status", `applied: ${planLines(r).length} steps` + (r.journal ? `, journal ${r.journal}` : ""));
    await loadDupes();
  } catch (e) { $("#confirm-summary").textContent = e.message; }
});

// ---- clusters ----
let clustersLoaded = false;
async function loadClusters() {
  clustersLoaded = true;
  status("#clusters-status", "loading the saved clustering…");
  try {
    const v = await api("/api/clusters?sample=8");
    status("#clusters-status", `${v.k} clusters by ${v.feature}. Click a cluster to browse it.`);
    $("#clusters").replaceChildren(...v.clusters.map((c) => el("div", { class: "cluster", onclick: () => loadMembers(c.cluster, 0) },
      el("b", {}, `Cluster ${c.cluster}`), ` · ${c.size} images`,
      el("div", { class: "strip" }, ...c.sample.slice(0, 8).map((id) => thumb(id))))));
  } catch (e) { status("#clusters-status", e.message, true); }
}
async function loadMembers(c, offset) {
  const v = await api(`/api/clusters/${c}?offset=${offset}&limit=60`);
  const nav = el("div", { class: "pager" },
    el("button", { onclick: () => loadMembers(c, Math.max(0, offset - 60)) }, "‹ Prev"),
    el("span", {}, ` cluster ${c}: ${offset + 1}–${offset + v.members.length} of ${v.size} `),
    el("button", { onclick: () => offset + 60 < v.size && loadMembers(c, offset + 60) }, "Next ›"));
  $("#cluster-members").replaceChildren(nav, el("div", { class: "grid" }, ...v.members.map((m) =>
    el("figure", {}, Object.assign(thumb(m.id, m.path), { onclick: () => searchPath(m.path) }), el("figcaption", {}, base(m.path))))));
}

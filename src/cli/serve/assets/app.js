// imgdex web UI: plain JavaScript over the JSON API (no build step).
// app.js: shared helpers, tabs, search and clusters; the duplicates review
// is in dupes.js (groups, cards, decisions) and review.js (sorting,
// filtering, keys, apply, re-index), loaded after this file.
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
const dir = (p) => p.slice(0, p.lastIndexOf("/")) || "/";
function fmtBytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}
const postJson = (url, body) => api(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

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

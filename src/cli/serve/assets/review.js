// review.js: working through the groups of dupes.js: sorting (bytes to
// reclaim, size, similarity) and filtering (folder, kind), paging, the
// keyboard (j/k, 1–9, n, d, ?), the dry run and apply with the bytes they
// free, and re-indexing with progress.
"use strict";
let page = 0;
let cursor = 0;    // index into groups of the current group (keyboard)

const groupBytes = (g) => g.members.reduce((a, m) => a + (m.bytes || 0), 0);
const SORTS = {
  reclaim: (a, b) => reclaim(b) - reclaim(a),
  size: (a, b) => groupBytes(b) - groupBytes(a),
  similar: (a, b) => similarity(b) - similarity(a),
  unsure: (a, b) => similarity(a) - similarity(b),
  path: () => 0,
};
// The groups shown, filtered and sorted (indices into groups).
function visible() {
  const folder = $("#filter-folder").value.trim().toLowerCase();
  const kind = $("#filter-kind").value;
  const idx = groups.map((_, i) => i).filter((i) => {
    const g = groups[i];
    return (kind === "all" || g.kind === kind) &&
      (!folder || g.members.some((m) => dir(m.path).toLowerCase().includes(folder)));
  });
  const by = SORTS[$("#sort").value] || SORTS.path;
  return idx.sort((a, b) => by(groups[a], groups[b]) || a - b);
}
for (const id of ["#sort", "#filter-kind"]) $(id).addEventListener("change", () => { page = 0; renderGroups(); });
$("#filter-folder").addEventListener("input", () => { page = 0; renderGroups(); });

function renderPager(sel, shown) {
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  const done = groups.filter((g) => g.done).length;
  const go = (p) => { page = Math.min(pages - 1, Math.max(0, p)); renderGroups(); window.scrollTo(0, 0); };
  $(sel).replaceChildren(
    el("button", { onclick: () => go(page - 1) }, "‹ Prev"),
    el("span", {}, ` page ${page + 1} of ${pages} · ${shown.length} shown · ${done} of ${groups.length} done `),
    el("button", { onclick: () => go(page + 1) }, "Next ›"));
}
function renderGroups() {
  const shown = visible();
  page = Math.min(page, Math.max(0, Math.ceil(shown.length / PAGE) - 1));
  renderPager("#pager-top", shown); renderPager("#pager-bottom", shown);
  $("#groups").replaceChildren(...shown.slice(page * PAGE, (page + 1) * PAGE).map((i, j) => renderGroup(groups[i], i, page * PAGE + j)));
  $("#dupes-total").textContent = fmtBytes(totalReclaim());
}

// ---- keyboard ----
function moveCursor(step) {
  const shown = visible();
  if (!shown.length) return;
  const at = shown.indexOf(cursor);
  const next = at < 0 ? 0 : Math.min(shown.length - 1, Math.max(0, at + step));
  cursor = shown[next];
  page = Math.floor(next / PAGE);
  renderGroups();
  const box = document.querySelector(`.group[data-group="${cursor}"]`);
  if (box) box.scrollIntoView({ block: "nearest" });
}
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || $("#confirm").open) return;
  if (e.target.closest && e.target.closest("input, select, textarea")) return;
  if (e.key === "?") { toggleKeys(); return; }
  if (e.key === "Escape") { $("#keys").hidden = true; return; }
  if ($("#view-dupes").hidden || !groups.length) return;
  const g = groups[cursor];
  if (e.key === "j") moveCursor(1);
  else if (e.key === "k") moveCursor(-1);
  else if (!g) return;
  else if (/^[1-9]$/.test(e.key) && g.members[+e.key - 1]) setKeeper(g, g.members[+e.key - 1]);
  else if (e.key === "n" && g.kind !== "series") notDuplicates(g);
  else if (e.key === "d" && g.kind !== "series") setDone(g, !g.done);
  else return;
  e.preventDefault();
});
function toggleKeys() { $("#keys").hidden = !$("#keys").hidden; }
$("#keys-close").addEventListener("click", toggleKeys);
$("#show-keys").addEventListener("click", toggleKeys);

// ---- apply ----
function actionSpec() {
  const a = $("#action").value;
  if (a !== "move") return a;
  const d = $("#move-dir").value.trim();
  if (!d.startsWith("/")) throw new Error("move needs an absolute folder");
  return `move:${d}`;
}
// The groups to act on: the keeper and the ticked members (unticked and
// reference files are kept); groups with nothing to act on are left out.
function chosenGroups() {
  const scope = groups.filter((g) => g.kind !== "series" && ($("#scope").value === "all" || g.done));
  return scope.filter((g) => acted(g).length > 0)
    .map((g) => ({ keeper: g.keeper, members: [g.keeper, ...acted(g).map((m) => m.path)] }));
}
function applyBody(dryRun) {
  return { action: actionSpec(), keep: "keeper", dry_run: dryRun, yes: $("#yes").checked, groups: chosenGroups(),
    by: loadedWith.by || undefined, preset: loadedWith.preset };
}
// The apply report (same as `dupes --apply --json`): actions [{op, path,
// target?, keeper, status, bytes}], bytes, and skipped [{path, error}].
function planLines(report) {
  const acts = (report.actions || []).map((a) => ({
    text: `${a.op} ${a.path}${a.target ? " → " + a.target : ""}  (keeper ${a.keeper}, ${fmtBytes(a.bytes)})`,
    skip: a.status === "failed",
  }));
  const skipped = (report.skipped || []).map((s) => ({ text: `skip ${s.path}  (${s.error})`, skip: true }));
  return acts.concat(skipped);
}
$("#apply").addEventListener("click", async () => {
  let body;
  try { body = applyBody(true); } catch (e) { status("#dupes-status", e.message, true); return; }
  if (body.groups.length === 0) { status("#dupes-status", "nothing to act on: mark groups done (or apply to all groups), and keep some members ticked", true); return; }
  status("#dupes-status", "planning…");
  try {
    const plan = await postJson("/api/dupes/apply", body);
    const lines = planLines(plan);
    $("#confirm-title").textContent = `Apply ${$("#action").value} (dry run first)`;
    $("#confirm-summary").textContent = `${plan.actions.length} planned steps for ${body.groups.length} groups: ` +
      `frees ${fmtBytes(plan.bytes)} (${plan.bytes} bytes). Keepers, unticked and reference files are never touched. Nothing has happened yet.`;
    $("#confirm-bytes").textContent = fmtBytes(plan.bytes);
    $("#plan").replaceChildren(...lines.map((l) => el("div", { class: l.skip ? "skip" : "" }, l.text)));
    $("#yes-row").hidden = $("#action").value !== "delete";
    $("#confirm").showModal();
    status("#dupes-status", `dry run: ${plan.actions.length} steps would free ${fmtBytes(plan.bytes)}`);
  } catch (e) { status("#dupes-status", e.message, true); }
});
$("#confirm-cancel").addEventListener("click", () => $("#confirm").close());
$("#confirm-go").addEventListener("click", async () => {
  try {
    const r = await postJson("/api/dupes/apply", applyBody(false));
    $("#confirm").close();
    // The server dropped the applied files from the store: the groups are recomputed from it.
    await loadDupes(`applied: ${r.done} steps freed ${fmtBytes(r.bytes)}` + (r.journal ? `, journal ${r.journal}` : ""));
  } catch (e) { $("#confirm-summary").textContent = e.message; }
});

// ---- re-index ----
$("#reindex").addEventListener("click", async () => {
  const btn = $("#reindex");
  btn.disabled = true;
  const poll = setInterval(async () => {
    try {
      const p = await api("/api/index/progress");
      if (p.running) status("#index-status", p.total ? `re-indexing: ${p.done} of ${p.total} files analysed` : "re-indexing: walking the folders…");
    } catch { /* the next poll tells */ }
  }, 500);
  status("#index-status", "re-indexing…");
  try {
    const s = await api("/api/index", { method: "POST" });
    status("#index-status", `re-indexed: ${s.indexed} analysed, ${s.unchanged} unchanged, ${s.removed} removed, ${s.failed.length} failed`);
    api("/api/info").then((i) => { $("#store-info").textContent = `${i.images} images · ${i.features.embedding} embeddings`; });
    if (groups.length) await loadDupes();
  } catch (e) { status("#index-status", e.message, true); }
  clearInterval(poll);
  btn.disabled = false;
});

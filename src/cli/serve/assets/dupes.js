// dupes.js: the duplicate groups as the server reports them, each member a
// card (folder, name, resolution, size, format, date, evidence against the
// current keeper), and the decisions taken on them: keeper by click, "not
// duplicates" per group or member, done, and unticking a member (keep it,
// leave it out of every plan: a "keep" decision), all stored through
// /api/decisions so that a reload (or the CLI) sees them.
"use strict";
const PAGE = 20;
let groups = [];   // {key, kind, keeper, keeperBy, members, done}, in the report's order
let loadedWith = { by: "", preset: "default" };  // the server checks applied groups against these

$("#load-dupes").addEventListener("click", () => loadDupes());
async function loadDupes(note) {
  status("#dupes-status", "finding duplicate groups…");
  try {
    const how = { by: $("#dupes-by").value, preset: $("#dupes-preset").value };
    const r = await api(`/api/dupes?preset=${how.preset}` + (how.by ? `&by=${how.by}` : ""));
    loadedWith = how;
    groups = r.details.map(fromDetail).concat(r.series.map(fromSeries));
    const n = r.details.reduce((a, g) => a + g.members.length, 0);
    const changed = r.decisions.groups_changed ? ` · decisions changed ${r.decisions.groups_changed}` : "";
    status("#dupes-status", `${note ? note + " · " : ""}${r.details.length} groups, ${n} images, ` +
      `${r.series.length} series (${r.method})${changed} · ${fmtBytes(totalReclaim())} to reclaim`);
    $("#dupes-total").textContent = fmtBytes(totalReclaim());
    $("#apply-bar").hidden = $("#dupes-help").hidden = $("#review-bar").hidden = groups.length === 0;
    cursor = 0; page = 0;
    renderGroups();
  } catch (e) { status("#dupes-status", e.message, true); }
}
function fromDetail(d) {
  const exact = d.members.every((m) => m.path === d.keeper || (m.evidence && m.evidence.identical));
  return { key: d.members.map((m) => m.path).sort().join("\n"), kind: exact ? "exact" : "copies",
    keeper: d.keeper, keeperBy: d.keeper_by, done: d.reviewed,
    members: d.members.map((m) => ({ ...m, ticked: !m.kept })) };
}
function fromSeries(s) {
  return { key: "series\n" + s.shots.join("\n"), kind: "series", keeper: s.best, keeperBy: "rule", done: false,
    reason: s.reason, members: s.shots.map((p, i) => ({ id: s.ids[i], path: p, ticked: false, series: true })) };
}
// What acting on the group frees: ticked members, not the keeper, not reference files.
const acted = (g) => g.kind === "series" ? [] : g.members.filter((m) => m.ticked && !m.reference && m.path !== g.keeper);
const reclaim = (g) => acted(g).reduce((a, m) => a + m.bytes, 0);
const totalReclaim = () => groups.reduce((a, g) => a + reclaim(g), 0);
// Least sure member against the keeper: 1 = identical bytes.
function similarity(g) {
  const s = g.members.filter((m) => m.evidence).map((m) => m.evidence.identical ? 1 :
    m.evidence.detail ?? 1 - (m.evidence.phash ?? 32) / 64);
  return s.length ? Math.min(...s) : 0;
}

async function decide(kind, paths) { return postJson("/api/decisions", { kind, paths }); }
async function setKeeper(g, m) {
  if (g.kind === "series" || g.keeper === m.path) return;
  if (g.members.some((x) => x.reference)) {
    status("#dupes-status", "this group has a file under a reference folder: it stays the keeper", true); return;
  }
  try {
    await decide("keeper", [m.path]);
    const ev = await postJson("/api/dupes/evidence", { keeper: m.path, members: g.members.map((x) => x.path) });
    const by = new Map(ev.map((e) => [e.path, e.evidence]));
    for (const x of g.members) x.evidence = by.get(x.path) || undefined;
    g.keeper = m.path; g.keeperBy = "decision";
    m.kept = false; m.ticked = true;  // a keeper decision replaces its keep decision
    renderGroups();
  } catch (e) { status("#dupes-status", e.message, true); }
}
async function notDuplicates(g, m) {
  try {
    if (m) {
      await decide("not-duplicate", [g.keeper, m.path]);
      g.members = g.members.filter((x) => x !== m);
    }
    if (!m || g.members.length < 2) {
      if (!m) await decide("not-duplicate", g.members.map((x) => x.path));
      groups = groups.filter((x) => x !== g);
      cursor = Math.max(0, Math.min(cursor, groups.length - 1));
    }
    status("#dupes-status", m ? `${base(m.path)} is not a duplicate of ${base(g.keeper)}: remembered`
      : "not duplicates: remembered, this group will not come back");
    renderGroups();
  } catch (e) { status("#dupes-status", e.message, true); }
}
// Done is a "reviewed" decision. Un-done clears the decisions naming the
// group's files and restores all but this group's "reviewed" ones.
async function setDone(g, done) {
  const paths = g.members.map((m) => m.path);
  try {
    if (done) await decide("reviewed", paths);
    else {
      const before = await api("/api/decisions");
      await decide("clear", paths);
      const mine = new Set(paths);
      for (const d of before.decisions || []) {
        const names = d.paths.some((p) => mine.has(p));
        const same = d.kind === "reviewed" && d.paths.every((p) => mine.has(p));
        if (names && !same) await decide(d.kind, d.paths);
      }
    }
    g.done = done;
  } catch (e) { status("#dupes-status", e.message, true); }
  renderGroups();
}
// Unticked is a "keep" decision; ticking again drops it.
async function setTicked(m, on) {
  try {
    await decide(on ? "unkeep" : "keep", [m.path]);
    m.ticked = on; m.kept = !on;
  } catch (e) { status("#dupes-status", e.message, true); }
  renderGroups();
}

function evidenceTitle(e) {
  const n = (v, d = 3) => v == null ? "–" : v.toFixed(d);
  return [e.identical ? "identical bytes (same SHA-256)" : null,
    e.phash != null ? `pHash ${e.phash}/64 bits, dHash ${e.dhash}/64 bits apart` : "no hashes",
    `detail match ${n(e.detail)} (same picture from ${e.same_from})`,
    e.hue_turn != null ? `hue turn ${n(e.hue_turn, 1)}°` : null,
    `thumbnail correlation ${n(e.correlation)}, mirrored ${n(e.mirrored_correlation)}`,
    e.brightness != null ? `brightness ${e.brightness > 0 ? "+" : ""}${n(e.brightness, 1)} levels` : null,
  ].filter(Boolean).join("\n");
}
function memberCard(g, m, i) {
  const keep = m.path === g.keeper;
  const f = el("figure", { class: "member" + (keep ? " keeper" : "") + (m.reference ? " reference" : "") +
    (!keep && !m.ticked && !m.series ? " unticked" : ""), "data-path": m.path });
  const img = thumb(m.id, m.path);
  img.addEventListener("click", () => setKeeper(g, m));
  f.append(img, el("span", { class: "num" }, String(i + 1)));
  if (keep) f.append(el("span", { class: "badge" }, m.reference ? "KEEP · REF" : "KEEP"));
  else if (m.reference) f.append(el("span", { class: "badge locked" }, "REFERENCE · kept"));
  const cap = el("figcaption", {}, el("span", { class: "folder", title: dir(m.path) }, dir(m.path) + "/"),
    el("b", { class: "name" }, base(m.path)));
  if (!m.series) {
    // The EXIF capture date (camera time, no zone) when the file has one, else its mtime.
    const date = m.taken ? el("span", { class: "facts taken", title: `EXIF capture date ${m.taken.replace("T", " ")} (camera time)` },
      `taken ${m.taken.slice(0, 10)}`)
      : el("span", { class: "facts modified", title: "file modified (the file has no EXIF capture date)" },
        `modified ${new Date(m.modified * 1000).toISOString().slice(0, 16).replace("T", " ")}`);
    cap.append(el("span", { class: "facts" }, `${m.width}×${m.height} · `,
      el("span", { title: `${m.bytes} bytes` }, fmtBytes(m.bytes)), ` · ${m.format.toUpperCase()}`), date);
  }
  const why = m.series ? (keep ? "best shot" : "another shot of the scene")
    : keep ? (m.reference ? "keeper: under a reference folder" : g.keeperBy === "decision" ? "keeper (your choice)" : "suggested keeper")
      : m.evidence ? m.evidence.words : m.reason;
  cap.append(el("span", { class: "reason", title: m.evidence ? `against ${base(g.keeper)}:\n${evidenceTitle(m.evidence)}` : m.reason || "" }, why));
  if (!keep && !m.series && !m.reference) cap.append(memberTools(g, m));
  f.append(cap);
  return f;
}
function memberTools(g, m) {
  const tick = el("input", { type: "checkbox", class: "act-box" });
  tick.checked = m.ticked;
  tick.addEventListener("change", () => setTicked(m, tick.checked));
  return el("span", { class: "tools" }, el("label", { title: "untick to keep this file: it is left out of the plan" }, tick, " act on it"),
    el("button", { class: "small not-dup-member", title: `not a duplicate of ${base(g.keeper)}`, onclick: () => notDuplicates(g, m) }, "not a duplicate"));
}
// Group `idx` of groups, shown as number `pos` + 1 of the sorted, filtered list.
function renderGroup(g, idx, pos) {
  const box = el("div", { class: `group kind-${g.kind}` + (g.done ? " done" : "") + (idx === cursor ? " current" : ""), "data-group": idx, "data-kind": g.kind });
  const title = el("h3", {}, `Group ${pos + 1} · ${g.kind} · ${g.members.length} images`);
  if (g.kind === "series") title.append(el("span", { class: "muted" }, "separate shots of one scene, never acted on"));
  else {
    const done = el("input", { type: "checkbox", class: "done-box" });
    done.checked = g.done;
    done.addEventListener("change", () => setDone(g, done.checked));
    title.append(el("span", { class: "reclaim" }, `frees ${fmtBytes(reclaim(g))}`), el("label", {}, done, " done"),
      el("button", { class: "small not-dup-group", onclick: () => notDuplicates(g) }, "Not duplicates"));
  }
  box.append(title, el("div", { class: "members" }, ...g.members.map((m, i) => memberCard(g, m, i))));
  return box;
}

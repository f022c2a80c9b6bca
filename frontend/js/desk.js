// The operator's desk: queues, a case's detail (history, photos, clock) and every action an
// operator may take (docs/API.md §5), each on a key.

import { Api, ApiError } from "./api.js";
import { CalendarBanner } from "./calendar.js";
import { OUTCOMES, SOURCES, STATES, addWords, applyI18n, fmt, fmtDuration, fmtRate, lang, setLang, startOfToday, t, word } from "./i18n.js";
import { IncidentStore, OPEN_STATES, Reference, clockOf, isOpen } from "./incidents.js";
import { LiveFeed } from "./live.js";
import { PeopleAdmin } from "./people.js";
import { sessionEnded, signedIn } from "./session.js";
import { SupervisionBoard } from "./supervision.js";
import { el, flagList, historyList, metres, photos, toast } from "./views.js";

addWords({ "view.cases": ["案卷", "Cases"] });
const LIST_MAX = 300;
const $ = (sel) => document.querySelector(sel);

const pendingExtension = (inc) => Boolean(inc.clock && (inc.clock.extensions || []).some((e) => e.status === "pending"));
const QUEUES = [
  { id: "reported", test: (inc) => inc.state === "reported" },
  { id: "registered", test: (inc) => inc.state === "registered" },
  { id: "returned", test: (inc) => inc.state === "returned" },
  { id: "overdue", alert: true, test: (inc, c) => c === "red" && inc.state !== "resolved" && !inc.suspended },
  { id: "repeat", test: (inc) => Number(inc.report_count || 1) >= 3 || (inc.flags || []).includes("repeat") || Boolean(inc.repeat) },
  { id: "duplicates", test: (inc) => (inc.flags || []).some((f) => f.includes("duplicate")) },
  { id: "approvals", alert: true, test: (inc) => pendingExtension(inc) || Boolean(inc.suspension_requested) },
  { id: "resolved", test: (inc) => inc.state === "resolved" },
];

/** Every action of the desk: its key, when it applies, and what it asks before it is sent. */
const ACTIONS = [
  { id: "register", key: "r", when: (i) => i.state === "reported" },
  { id: "reject", key: "x", when: (i) => i.state === "reported", ask: "reason" },
  { id: "dispatch", key: "d", when: (i) => i.state === "registered" || i.state === "returned", ask: "dispatch" },
  { id: "merge", key: "m", when: isOpen, ask: "merge" },
  { id: "supervise", key: "s", when: isOpen, ask: "note" },
  { id: "remind", key: "u", when: (i) => ["dispatched", "accepted"].includes(i.state), ask: "note" },
  { id: "approve_extension", key: "a", when: pendingExtension, body: { approved: true } },
  { id: "reject_extension", key: "A", action: "approve_extension", when: pendingExtension, ask: "reason", body: { approved: false } },
  { id: "suspend", key: "p", when: (i) => isOpen(i) && !i.suspended, ask: "reason" },
  { id: "resume", key: "P", when: (i) => isOpen(i) && i.suspended, ask: "reason" },
  { id: "verify", key: "v", when: (i) => i.state === "resolved", body: { passed: true } },
  { id: "rework", key: "V", action: "verify", when: (i) => i.state === "resolved", ask: "note", body: { passed: false } },
];

const state = {
  api: null, ref: new Reference(), store: new IncidentStore(), live: null,
  queue: "reported", selected: null, detail: null, listIds: [], view: "cases", me: null, sup: null, people: null,
  figures: undefined, // today's total from /api/v1/stats once asked: an object, or null
};

function setConn(s) {
  const c = $("#conn");
  c.className = "conn " + s;
  c.querySelector(".conn-text").textContent = t(s === "live" ? "conn.live" : s === "connecting" ? "conn.connecting" : "conn.offline");
}

function colourOf(inc, now) { return clockOf(inc, now).colour; }

// --- today's figures -------------------------------------------------------------------------

/** The rates the desk shows, the server's (docs/API.md §7): over 应处置数 and 应结案数, the cases
 * that should have been handled by now. Null (nothing due yet) and no answer show "—". */
const FIGURES = ["disposal_rate", "on_time_rate", "close_rate", "on_time_close_rate"];
const FIGURES_EVERY_MS = 30000;

async function loadFigures() {
  const from = encodeURIComponent(startOfToday());
  const to = encodeURIComponent(new Date().toISOString());
  let total = null;
  try {
    const body = await state.api.optional(`/api/v1/stats?from=${from}&to=${to}&group_by=day`);
    total = body ? body.total : null;
  } catch (err) {
    console.warn("figures unavailable:", err.message);
  }
  state.figures = total;
  renderFigures();
}

function renderFigures() {
  const box = $("#desk-figures");
  box.title = t("kpi.today");
  for (const k of FIGURES) {
    const value = state.figures ? state.figures[k] : null;
    box.querySelector(`[data-fig="${k}"] dd`).textContent = fmtRate(value);
  }
}

// --- queues --------------------------------------------------------------------------------

function queueMembers(q, now) {
  const out = [];
  for (const inc of state.store.values()) {
    if (!isOpen(inc)) continue;
    if (q.test(inc, colourOf(inc, now))) out.push(inc);
  }
  out.sort((a, b) => {
    const ra = clockOf(a, now).remaining, rb = clockOf(b, now).remaining;
    if (ra !== null && rb !== null && ra !== rb) return ra - rb;
    if (ra !== null && rb === null) return -1;
    if (ra === null && rb !== null) return 1;
    return Date.parse(b.received_at) - Date.parse(a.received_at);
  });
  return out;
}

function renderTabs(now) {
  const tabs = $("#queue-tabs");
  tabs.replaceChildren(...QUEUES.map((q, i) => {
    const n = queueMembers(q, now).length;
    return el("button", {
      type: "button", role: "tab", class: "queue-tab" + (q.alert && n ? " alert" : ""), "data-queue": q.id,
      "aria-selected": String(state.queue === q.id), "aria-keyshortcuts": String(i + 1),
      onclick: () => selectQueue(q.id),
    }, el("span", {}, el("kbd", { text: String(i + 1) }), t("queue." + q.id)), el("b", { text: String(n) }));
  }));
}

function renderList(now = Date.now()) {
  renderTabs(now);
  const q = QUEUES.find((x) => x.id === state.queue);
  const members = queueMembers(q, now);
  state.listIds = members.map((m) => m.id);
  const list = $("#queue-list");
  const shown = members.slice(0, LIST_MAX);
  list.replaceChildren(...shown.map((inc) => {
    const clock = clockOf(inc, now);
    const street = state.ref.streetOf(inc);
    return el("li", {
      class: "queue-item", role: "option", "data-id": inc.id, "aria-selected": String(inc.id === state.selected),
      onclick: () => select(inc.id),
    },
    el("span", { class: "dot " + clock.colour, title: t("legend." + clock.colour) }),
    el("span", { class: "cat", text: state.ref.categoryName(inc.category, lang() === "en") }),
    el("span", { class: "left c-" + clock.colour, text: clock.remaining === null ? "" : fmtDuration(clock.remaining) }),
    el("span", { class: "sub", text: `${inc.id} · ${word(SOURCES, inc.source)} · ${street ? street.name : inc.address || ""}` }));
  }));
  if (!members.length) list.append(el("li", { class: "queue-empty", text: t("queue.empty") }));
  const more = $("#queue-more");
  more.hidden = members.length <= LIST_MAX;
  more.textContent = `${LIST_MAX} / ${members.length}`;
}

function selectQueue(id) {
  state.queue = id;
  renderList();
}

function move(step) {
  const ids = state.listIds;
  if (!ids.length) return;
  let i = ids.indexOf(state.selected);
  i = i < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, i + step));
  select(ids[i]);
  const item = document.querySelector(`.queue-item[data-id="${CSS.escape(ids[i])}"]`);
  if (item) item.scrollIntoView({ block: "nearest" });
}

// --- the case ------------------------------------------------------------------------------

async function select(id) {
  state.selected = id;
  document.querySelectorAll(".queue-item").forEach((li) => li.setAttribute("aria-selected", String(li.dataset.id === id)));
  renderDetail();
  await refreshDetail(id);
}

async function refreshDetail(id) {
  try {
    const full = await state.api.get(`/api/v1/incidents/${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    state.detail = full;
    state.store.upsert({ ...full });
    renderDetail();
  } catch (err) {
    toast(`${id}: ${err.message}`, true);
  }
}

let detailTimer = null;
function refreshSoon(id) {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => refreshDetail(id), 150);
}

function fact(label, value, wide = false) {
  return [el("dt", { text: t(label) }), el("dd", { class: wide ? "wide" : null }, value ?? "—")];
}

function renderDetail() {
  const box = $("#detail");
  const id = state.selected;
  const inc = id ? state.store.get(id) : null;
  if (!inc) {
    box.replaceChildren(el("p", { class: "detail-empty", text: t("detail.pick") }));
    renderActions(null);
    return;
  }
  const history = state.detail && state.detail.id === id ? state.detail.history : null;
  const clock = clockOf(inc);
  const street = state.ref.streetOf(inc);
  const clockText = clock.suspended ? t("detail.suspended")
    : clock.remaining === null ? "—"
      : clock.remaining < 0 ? `${t("detail.overdue_by")} ${fmtDuration(-clock.remaining)}` : `${t("detail.remaining")} ${fmtDuration(clock.remaining)}`;
  const ext = inc.clock && (inc.clock.extensions || []).find((e) => e.status === "pending");
  box.replaceChildren(...[
    el("div", { class: "detail-head" },
      el("div", {},
        el("h2", {}, state.ref.categoryName(inc.category, lang() === "en"), inc.priority === "urgent" ? el("span", { class: "urgent", text: "急" }) : null),
        el("div", {}, el("span", { class: "id", text: inc.id + "  " }), el("span", { class: "state-badge " + inc.state, text: word(STATES, inc.state) }))),
      el("div", { class: "clock-box" },
        el("div", { class: "small", text: t("detail.clock") }),
        el("div", { class: "big c-" + clock.colour, id: "detail-clock", text: clockText }),
        el("div", { class: "small", text: `${t("detail.deadline")} ${fmt(inc.deadline, "full")}` }))),
    ext ? el("p", { class: "pending", text: `${t("detail.extension")}: +${Math.round(ext.seconds / 360) / 10}h · ${ext.reason || ""}` }) : null,
    inc.suspension_requested ? el("p", { class: "pending", text: `${t("detail.suspension")}: ${inc.suspension_requested.reason || ""}` }) : null,
    el("dl", { class: "facts" },
      fact("detail.source", word(SOURCES, inc.source)),
      fact("detail.received", fmt(inc.received_at, "full")),
      fact("detail.squad", state.ref.squadName(inc.squad_id)),
      fact("detail.support", (inc.support_squad_ids || []).map((s) => state.ref.squadName(s)).join("、") || "—"),
      fact("detail.address", `${[street && street.name, inc.address].filter(Boolean).join(" · ")} (${Number(inc.lon).toFixed(5)}, ${Number(inc.lat).toFixed(5)})`, true),
      fact("detail.description", inc.description || "—", true),
      fact("detail.reports", String(inc.report_count || 1)),
      fact("detail.confidence", inc.confidence === null || inc.confidence === undefined ? "—" : `${Math.round(inc.confidence * 100)}%`),
      inc.flags && inc.flags.length ? fact("detail.flags", el("span", {}, ...flagList(inc.flags)), true) : null,
      inc.outcome ? fact("detail.outcome", `${word(OUTCOMES, inc.outcome)}${inc.resolution_note ? " · " + inc.resolution_note : ""}`, true) : null),
    el("h3", { text: t("detail.media") }),
    [...(inc.media || []), ...(inc.resolution_media || [])].length ? photos([...(inc.media || []), ...(inc.resolution_media || [])], state.api) : el("p", { class: "small", text: t("none") }),
    el("h3", { text: t("detail.history") }),
    history ? historyList(history, state.ref) : el("p", { text: "…" }),
  ].filter(Boolean));
  renderActions(inc);
}

function renderActions(inc) {
  const grid = $("#action-grid");
  grid.replaceChildren(...ACTIONS.map((a) => el("button", {
    type: "button", "data-action": a.id, disabled: !inc || !a.when(inc), "aria-keyshortcuts": a.key,
    onclick: () => run(a),
  }, el("span", { text: t("act." + a.id) }), el("kbd", { text: a.key === a.key.toUpperCase() && a.key !== a.key.toLowerCase() ? "⇧" + a.key : a.key.toUpperCase() }))));
  const recs = $("#recs");
  if (inc && (inc.state === "registered" || inc.state === "returned")) {
    recs.hidden = false;
    loadRecommendations(inc.id).then((rec) => {
      if (state.selected !== inc.id) return;
      const list = $("#rec-list");
      const cands = (rec && rec.candidates) || [];
      list.replaceChildren(...(cands.length ? cands.map(recItem) : [el("li", { text: t("rec.none") })]));
    });
  } else {
    recs.hidden = true;
  }
}

function recItem(c) {
  return el("li", { class: "rec" },
    el("b", { text: state.ref.squadName(c.squad_id) }),
    el("span", { class: "meta", text: [c.unit_id, c.distance_m !== null && c.distance_m !== undefined ? `${t("rec.distance")} ${Math.round(c.distance_m)} m` : null].filter(Boolean).join(" · ") }),
    el("ul", {}, ...(c.reasons || []).map((r) => el("li", { text: r }))));
}

const recCache = new Map();
async function loadRecommendations(id) {
  if (recCache.has(id)) return recCache.get(id);
  try {
    const rec = await state.api.get(`/api/v1/incidents/${encodeURIComponent(id)}/recommendations`);
    recCache.set(id, rec);
    return rec;
  } catch {
    return null;
  }
}

// --- actions -------------------------------------------------------------------------------

async function run(a) {
  const inc = state.selected && state.store.get(state.selected);
  if (!inc || !a.when(inc)) return;
  let body = { action: a.action || a.id, ...(a.body || {}) };
  if (a.ask) {
    const extra = await ask(a, inc);
    if (!extra) return;
    body = { ...body, ...extra };
  }
  await send(inc.id, body, t("act." + a.id));
}

async function send(id, body, label) {
  try {
    const answer = await state.api.action(id, body);
    const updated = answer && (answer.incident || answer);
    if (updated && updated.id) state.store.upsert(updated);
    toast(`${label} · ${id} · ${t("done")}`);
    recCache.delete(id);
    renderList();
    refreshSoon(id);
    return true;
  } catch (err) {
    toast(`${label} · ${t("failed")}: ${err instanceof ApiError ? err.message : err}`, true);
    return false;
  }
}

/** Ask what an action needs in the one dialog; answer the extra body fields, or null. */
function ask(a, inc) {
  const dlg = $("#dlg");
  const body = $("#dlg-body");
  $("#dlg-title").textContent = `${t("act." + a.id)} · ${inc.id}`;
  $("#dlg-error").hidden = true;
  let collect;
  if (a.ask === "reason" || a.ask === "note") {
    const name = a.ask;
    const area = el("textarea", { rows: "3", id: "dlg-text", required: a.ask === "reason" || a.id === "supervise" ? true : null });
    body.replaceChildren(el("label", {}, el("span", { text: t(name === "reason" ? "dlg.reason" : "dlg.note") }), area));
    collect = () => {
      const v = area.value.trim();
      if (!v && area.required) return null;
      return v ? { [name]: v } : {};
    };
  } else if (a.ask === "merge") {
    const input = el("input", { type: "text", id: "dlg-into", required: true, autocomplete: "off" });
    const near = [...state.store.values()]
      .filter((o) => o.id !== inc.id && isOpen(o) && o.category === inc.category && metres(o, inc) < 500)
      .sort((x, y) => metres(x, inc) - metres(y, inc)).slice(0, 8);
    body.replaceChildren(
      el("label", {}, el("span", { text: t("dlg.into") }), input),
      el("span", { class: "small", text: t("dlg.nearby") }),
      el("ul", { class: "nearby" }, ...near.map((o) => el("li", { onclick: () => { input.value = o.id; } ,
        text: `${o.id} · ${Math.round(metres(o, inc))} m · ${word(STATES, o.state)} · ${o.address || ""}` }))),
    );
    collect = () => (input.value.trim() ? { into: input.value.trim() } : null);
  } else if (a.ask === "dispatch") {
    const holder = el("div", {}, el("p", { text: "…" }));
    body.replaceChildren(holder);
    let chosen = null;
    let chosenUnit = null; // the recommended unit of the chosen squad, if any
    const support = new Set(inc.support_squad_ids || []);
    loadRecommendations(inc.id).then((rec) => {
      const cands = (rec && rec.candidates) || [];
      (rec && rec.support_squad_ids || []).forEach((s) => support.add(s));
      chosen = cands.length ? cands[0].squad_id : null;
      chosenUnit = cands.length ? cands[0].unit_id || null : null;
      const radios = cands.map((c, i) => el("label", { class: "cand" },
        el("input", { type: "radio", name: "squad", value: c.squad_id, checked: i === 0, onchange: () => { chosen = c.squad_id; chosenUnit = c.unit_id || null; other.value = ""; } }),
        el("div", {}, el("b", { text: `${i + 1}. ${state.ref.squadName(c.squad_id)}${c.unit_id ? " · " + c.unit_id : ""}` }), el("ul", {}, ...(c.reasons || []).map((r) => el("li", { text: r }))))));
      const other = el("select", { id: "dlg-squad", onchange: () => { if (other.value) { chosen = other.value; chosenUnit = null; holder.querySelectorAll("input[name=squad]").forEach((r) => { r.checked = false; }); } } },
        el("option", { value: "", text: "—" }),
        ...[...state.ref.squads.values()].filter((s) => s.kind !== "centre").map((s) => el("option", { value: s.id, text: s.name })));
      const supports = [...state.ref.squads.values()].filter((s) => s.kind === "specialist").map((s) => el("label", {},
        el("input", { type: "checkbox", value: s.id, checked: support.has(s.id), onchange: (e) => { if (e.target.checked) support.add(s.id); else support.delete(s.id); } }), s.name));
      holder.replaceChildren(
        el("h4", { text: t("rec.title") }),
        ...(radios.length ? radios : [el("p", { text: t("rec.none") })]),
        el("label", {}, el("span", { text: t("dlg.squad") }), other),
        el("span", { class: "small", text: t("rec.support") }),
        el("div", { class: "support" }, ...supports));
      dlg.dataset.pickCount = String(cands.length);
      dlg.pick = (n) => { const r = holder.querySelectorAll("input[name=squad]")[n]; if (r) { r.checked = true; chosen = r.value; chosenUnit = cands[n].unit_id || null; other.value = ""; } };
    });
    collect = () => {
      if (!chosen) return null;
      const body = { squad_id: chosen, support_squad_ids: [...support].filter((s) => s !== chosen) };
      return chosenUnit ? { ...body, unit_id: chosenUnit } : body;
    };
  }
  return new Promise((resolve) => {
    const done = (value) => {
      dlg.close();
      $("#dlg-form").onsubmit = null;
      $("#dlg-cancel").onclick = null;
      dlg.pick = null;
      resolve(value);
    };
    $("#dlg-form").onsubmit = (e) => {
      e.preventDefault();
      const value = collect();
      if (!value) { $("#dlg-error").hidden = false; $("#dlg-error").textContent = "…?"; return; }
      done(value);
    };
    $("#dlg-cancel").onclick = () => done(null);
    dlg.onclose = () => { if (dlg.pick !== null) done(null); };
    dlg.showModal();
    const first = body.querySelector("textarea, input, select");
    if (first) first.focus(); else $("#dlg-ok").focus();
  });
}

// --- keys ----------------------------------------------------------------------------------

function onKey(e) {
  const dlg = $("#dlg");
  if (dlg.open) {
    if (dlg.pick && /^[1-9]$/.test(e.key) && !(e.target instanceof HTMLTextAreaElement) && !(e.target instanceof HTMLInputElement && e.target.type === "text")) {
      dlg.pick(Number(e.key) - 1);
      e.preventDefault();
    }
    return;
  }
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if ($("#help").open || state.view !== "cases") return;
  if (e.key === "j" || e.key === "ArrowDown") { move(1); e.preventDefault(); return; }
  if (e.key === "k" || e.key === "ArrowUp") { move(-1); e.preventDefault(); return; }
  if (/^[1-8]$/.test(e.key)) { selectQueue(QUEUES[Number(e.key) - 1].id); return; }
  if (e.key === "?") { showHelp(); return; }
  if (e.key === "/") {
    e.preventDefault();
    const id = prompt(t("detail.pick"));
    if (id) { const found = state.store.get(id.trim()); if (found || id.trim()) select(id.trim()); }
    return;
  }
  const a = ACTIONS.find((x) => x.key === e.key);
  if (a) { e.preventDefault(); run(a); }
}

function showHelp() {
  const table = $("#help-table");
  table.replaceChildren(...ACTIONS.map((a) => el("tr", {}, el("td", {}, el("kbd", { text: a.key === a.key.toUpperCase() && a.key !== a.key.toLowerCase() ? "Shift+" + a.key : a.key.toUpperCase() })), el("td", { text: t("act." + a.id) }))));
  applyI18n($("#help"));
  $("#help").showModal();
}

// --- live ----------------------------------------------------------------------------------

let listTimer = null;
function listSoon() {
  if (!listTimer) listTimer = setTimeout(() => { listTimer = null; renderList(); }, 250);
}

function onEvent(ev) {
  if (ev.item && state.sup) state.sup.onItem(ev.item);
  if (!ev.incident) return;
  state.store.upsert(ev.incident);
  recCache.delete(ev.incident.id);
  listSoon();
  if (ev.incident.id === state.selected) refreshSoon(ev.incident.id);
}

async function loadSnapshot() {
  const open = await state.api.incidents({ state: [...OPEN_STATES].join(",") });
  for (const inc of open) state.store.upsert(inc);
  state.loaded = true;
  renderList();
  if (!state.selected && state.listIds.length) select(state.listIds[0]);
}

/** The desk's views: the cases, the supervision queue, people (admins). */
function showView(view) {
  state.view = view;
  document.querySelectorAll("#desk-views [data-view]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.view === view)));
  $("#main").hidden = view !== "cases";
  $("#sup-view").hidden = view !== "supervision";
  $("#people-view").hidden = view !== "people";
  if (view === "supervision") state.sup.load();
  if (view === "people" && state.people) state.people.load();
}

/** Open a case from elsewhere (a supervision item's covered incident). */
function openCase(id) {
  showView("cases");
  select(id);
}

function supCounts(c) {
  const n = $("#n-sup");
  n.textContent = c.owed ? String(c.owed) : "";
  n.className = "n-sup" + (c.red ? " red" : c.yellow ? " yellow" : "");
}

function applyLang() {
  applyI18n();
  $("#centre-name").textContent = lang() === "en" ? t("app.title") : state.ref.centreName || t("app.title");
  renderList();
  renderDetail();
  renderFigures();
  if (state.calendar) state.calendar.render();
  if (state.sup) { state.sup.build(); state.sup.renderList(); }
  if (state.people) state.people.render();
}

async function start() {
  state.api = new Api();
  state.me = await signedIn(state.api, { hide: ["#main", "#desk-views"] });
  await state.ref.load(state.api);
  state.calendar = new CalendarBanner($("#calendar-banner")).start(state.api);
  applyLang();
  state.live = new LiveFeed({
    api: state.api, topics: ["all"], onEvent, onStatus: setConn,
    onSubscribed: () => { loadSnapshot().catch((err) => toast(err.message, true)); },
    onRevoked: () => sessionEnded(state.api),
  }).start();
  document.addEventListener("keydown", onKey);
  state.sup = new SupervisionBoard({ api: state.api, me: state.me, ref: state.ref, root: $("#sup-view"), onIncident: openCase, onChange: supCounts, breaches: true });
  state.sup.load();
  if (state.me.role === "admin") {
    state.people = new PeopleAdmin({ api: state.api, me: state.me, ref: state.ref, root: $("#people-view") });
    $('#desk-views [data-view="people"]').hidden = false;
  }
  document.querySelectorAll("#desk-views [data-view]").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("#desk-views").hidden = false;
  setInterval(() => {
    $("#clock").textContent = fmt(new Date(), "time");
    const inc = state.selected && state.store.get(state.selected);
    const box = $("#detail-clock");
    if (inc && box) {
      const c = clockOf(inc);
      box.className = "big c-" + c.colour;
      box.textContent = c.suspended ? t("detail.suspended") : c.remaining === null ? "—"
        : c.remaining < 0 ? `${t("detail.overdue_by")} ${fmtDuration(-c.remaining)}` : `${t("detail.remaining")} ${fmtDuration(c.remaining)}`;
    }
  }, 1000);
  setInterval(() => renderList(), 5000);
  loadFigures();
  setInterval(loadFigures, FIGURES_EVERY_MS);
  window.__desk = { state, ready: () => Boolean(state.loaded), calendarChecked: () => state.calendar.checked, figures: () => state.figures, select, selectQueue, showView, drop: () => state.live.drop() };
}

$("#lang").addEventListener("click", () => { setLang(lang() === "en" ? "zh-CN" : "en"); applyLang(); });
$("#help-btn").addEventListener("click", showHelp);
applyI18n();
$("#clock").textContent = fmt(new Date(), "time");
start().catch((err) => toast(err.message, true));

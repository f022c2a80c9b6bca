// The squad's phone page: its live dispatches (with a sound) and their countdowns; sign for,
// return, ask for an extension or a suspension, resolve with an outcome, a note and photos;
// an inspector's verify view; the unit's position from the browser's geolocation. Every
// action goes through the outbox, so a flaky network loses none.

import { Api } from "./api.js";
import { OUTCOMES, SOURCES, STATES, applyI18n, fmt, fmtDuration, lang, setLang, t, word } from "./i18n.js";
import { IncidentStore, Reference, clockOf } from "./incidents.js";
import { LiveFeed } from "./live.js";
import { Outbox } from "./outbox.js";
import { readsAll, sessionEnded, signedIn } from "./session.js";
import { DutyPanel } from "./duty.js";
import { InspectionBoard } from "./inspections.js";
import { SupervisionBoard } from "./supervision.js";
import { el, historyList, photos, toast } from "./views.js";

const SQUAD_KEY = "dispatch.squadId";
const UNIT_KEY = "dispatch.unitId";
const TASK_STATES = ["dispatched", "accepted", "resolved"];
const MAX_PHOTO_SIDE = 1600;
const $ = (sel) => document.querySelector(sel);

const state = {
  api: null, ref: new Reference(), store: new IncidentStore(), live: null, outbox: null,
  squadId: null, scope: new Set(), me: null, sup: null, inspector: false, tab: "tasks", open: null, audio: null, unseen: new Set(),
  lastFix: null, lastSent: 0,
};

function setConn(s) {
  const c = $("#conn");
  c.className = "conn " + s;
  c.querySelector(".conn-text").textContent = t(s === "live" ? "conn.live" : s === "connecting" ? "conn.connecting" : "conn.offline");
  if (s === "live" && state.outbox) state.outbox.flush();
}

// --- sound ---------------------------------------------------------------------------------

function unlockAudio() {
  if (state.audio) return;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  state.audio = new Ctx();
  $("#sound").hidden = state.audio.state === "running";
}

/** A new dispatch: vibrate and chime (the banner stays until it is signed for). */
function chime() {
  state.chimes = (state.chimes || 0) + 1;
  if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  if (!state.audio) unlockAudio();
  const ctx = state.audio;
  if (!ctx) return;
  // a browser keeps audio suspended until the page is touched: then offer the button
  if (ctx.state === "suspended") ctx.resume().then(() => { $("#sound").hidden = ctx.state === "running"; });
  const now = ctx.currentTime;
  [880, 1175, 880].forEach((f, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, now + i * 0.22);
    gain.gain.exponentialRampToValueAtTime(0.4, now + i * 0.22 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.22 + 0.2);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + i * 0.22);
    osc.stop(now + i * 0.22 + 0.21);
  });
}

// --- the lists -----------------------------------------------------------------------------

/** Whether the incident is a task of the squad shown (a tier's holder: of any squad in it). */
function answers(squadId) {
  return state.inspector ? squadId === state.squadId : state.scope.has(squadId);
}

function mine(inc) {
  if (state.inspector && !state.squadId) return TASK_STATES.includes(inc.state);
  return TASK_STATES.includes(inc.state) && (answers(inc.squad_id) || (inc.support_squad_ids || []).some(answers));
}

function tasks() {
  const now = Date.now();
  return [...state.store.values()].filter((i) => mine(i) && i.state !== "resolved").sort((a, b) => {
    if ((a.state === "dispatched") !== (b.state === "dispatched")) return a.state === "dispatched" ? -1 : 1;
    const ra = clockOf(a, now).remaining ?? Infinity, rb = clockOf(b, now).remaining ?? Infinity;
    return ra - rb;
  });
}

function toVerify() {
  return [...state.store.values()].filter((i) => i.state === "resolved" && (state.inspector || answers(i.squad_id)));
}

function countdown(inc) {
  const c = clockOf(inc);
  if (c.suspended) return { text: t("detail.suspended"), colour: c.colour };
  if (c.remaining === null) return { text: "—", colour: c.colour };
  if (c.remaining < 0) return { text: `${t("detail.overdue_by")} ${fmtDuration(-c.remaining)}`, colour: c.colour };
  return { text: fmtDuration(c.remaining), colour: c.colour };
}

function renderList() {
  const list = state.tab === "verify" ? toVerify() : tasks();
  $("#n-tasks").textContent = String(tasks().length);
  $("#n-verify").textContent = String(toVerify().length);
  const box = $("#tasks");
  box.replaceChildren(...list.map((inc) => {
    const cd = countdown(inc);
    const street = state.ref.streetOf(inc);
    const isNew = inc.state === "dispatched" && state.tab === "tasks";
    return el("li", { class: "task" + (isNew ? " new" : ""), "data-id": inc.id, tabindex: "0", role: "button",
      onclick: () => openTask(inc.id), onkeydown: (e) => { if (e.key === "Enter") openTask(inc.id); } },
    el("h2", { text: state.ref.categoryName(inc.category, lang() === "en") }),
    el("span", { class: "count c-" + cd.colour, "data-countdown": inc.id, text: cd.text }),
    el("span", { class: "where", text: `${[street && street.name, inc.address].filter(Boolean).join(" · ")}` }),
    el("span", { class: "meta" },
      el("span", { class: "state-badge " + inc.state, text: word(STATES, inc.state) }),
      el("span", { text: inc.id }),
      state.outbox && state.outbox.has(inc.id) ? el("span", { class: "queued", text: t("squad.queue") }) : null));
  }));
  if (!list.length) box.append(el("li", { class: "empty", text: t("squad.no_tasks") }));
  const fresh = tasks().filter((i) => i.state === "dispatched");
  const banner = $("#banner");
  banner.hidden = fresh.length === 0 || state.tab !== "tasks";
  banner.textContent = `${t("squad.new")}（${fresh.length}）`;
}

// --- one task ------------------------------------------------------------------------------

async function openTask(id) {
  state.open = id;
  renderTask();
  $("#view").hidden = false;
  try {
    const full = await state.api.get(`/api/v1/incidents/${encodeURIComponent(id)}`);
    state.store.upsert(full);
    state.history = { id, entries: full.history };
    if (state.open === id) renderTask();
  } catch (err) {
    if (err.status) toast(err.message, true);
  }
}

function closeTask() {
  state.open = null;
  $("#view").hidden = true;
  renderList();
}

function renderTask(form = null) {
  const inc = state.store.get(state.open);
  const view = $("#view");
  if (!inc) { closeTask(); return; }
  const cd = countdown(inc);
  const street = state.ref.streetOf(inc);
  const queued = state.outbox.has(inc.id);
  const acts = [];
  const btn = (id, label, fn, primary = false) => el("button", { type: "button", "data-act": id, class: primary ? "primary" : null, disabled: queued, onclick: fn, text: label });
  if (state.tab === "verify") {
    if (inc.state === "resolved") {
      acts.push(btn("verify-done", t("squad.verify_done"), () => renderTask("verify-done"), true));
      acts.push(btn("verify-not", t("squad.verify_not"), () => renderTask("verify-not")));
      acts.push(btn("verify-cannot", t("squad.verify_cannot"), () => renderTask("verify-cannot")));
    }
  } else if (inc.state === "dispatched") {
    acts.push(btn("accept", t("act.accept"), () => act(inc, { action: "accept" }, t("act.accept")), true));
    acts.push(btn("return", t("act.return"), () => renderTask("return")));
    acts.push(btn("extend", t("act.extend"), () => renderTask("extend")));
  } else if (inc.state === "accepted") {
    acts.push(btn("resolve", t("act.resolve"), () => renderTask("resolve"), true));
    acts.push(btn("extend", t("act.extend"), () => renderTask("extend")));
    acts.push(btn("suspend", t("act.ask_suspend"), () => renderTask("suspend")));
  }
  const media = [...(inc.media || []), ...(inc.resolution_media || [])];
  view.replaceChildren(...[
    el("div", { class: "tv-head" },
      el("button", { type: "button", id: "back", onclick: closeTask, text: "‹ " + t("squad.back") }),
      el("h2", { text: state.ref.categoryName(inc.category, lang() === "en") }),
      el("span", { class: "state-badge " + inc.state, text: word(STATES, inc.state) })),
    el("div", { class: "tv-body" },
      el("div", { class: "tv-clock c-" + cd.colour, "data-countdown": inc.id, text: cd.text }),
      queued ? el("p", { class: "pending", text: t("squad.queued") }) : null,
      el("dl", { class: "tv-facts" },
        el("dt", { text: t("detail.address") }), el("dd", { text: `${[street && street.name, inc.address].filter(Boolean).join(" · ")}` }),
        el("dt", { text: t("detail.description") }), el("dd", { text: inc.description || "—" }),
        el("dt", { text: t("detail.source") }), el("dd", { text: word(SOURCES, inc.source) }),
        el("dt", { text: t("detail.deadline") }), el("dd", { text: fmt(inc.deadline, "full") }),
        el("dt", { text: "#" }), el("dd", { text: inc.id }),
        inc.outcome ? el("dt", { text: t("detail.outcome") }) : null,
        inc.outcome ? el("dd", { text: `${word(OUTCOMES, inc.outcome)} ${inc.resolution_note || ""}` }) : null),
      el("div", { class: "tv-actions" }, ...acts),
      form ? actionForm(form, inc) : null,
      media.length ? el("h3", { text: t("detail.media") }) : null,
      media.length ? photos(media, state.api) : null,
      el("h3", { text: t("detail.history") }),
      state.history && state.history.id === inc.id ? historyList(state.history.entries, state.ref) : el("p", { text: "…" })),
  ].filter(Boolean));
  if (form) { const f = view.querySelector(".form textarea, .form select, .form input"); if (f) f.focus(); }
}

/** Downscale a camera photo to at most MAX_PHOTO_SIDE and JPEG: quicker over a weak network. */
async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const k = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * k);
    canvas.height = Math.round(bitmap.height * k);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
    return blob && blob.size < file.size ? blob : file;
  } catch {
    return file;
  }
}

function photoInput(id, label, shots) {
  const preview = el("div", { class: "shots" });
  const input = el("input", { type: "file", id, class: "sr-only", accept: "image/jpeg,image/png,image/webp", capture: "environment", multiple: true });
  input.addEventListener("change", async () => {
    for (const file of input.files) {
      const blob = await shrink(file);
      shots.push({ blob, kind: id });
      preview.append(el("img", { src: URL.createObjectURL(blob), alt: label }));
    }
    input.value = "";
  });
  return el("div", { class: "photo-field" },
    el("span", { class: "photo-label", text: label }),
    el("label", { class: "cam-btn" }, input, t("squad.take_photo")),
    preview);
}

function actionForm(kind, inc) {
  const shots = [];
  const error = el("p", { class: "form-error", hidden: true });
  const fields = [];
  let build;
  const text = (name, label, required) => {
    const area = el("textarea", { rows: "3", name, required: required || null });
    fields.push(el("label", {}, el("span", { text: label }), area));
    return area;
  };
  if (kind === "return" || kind === "suspend") {
    const reason = text("reason", t("dlg.reason"), true);
    build = () => (reason.value.trim() ? { action: kind === "return" ? "return" : "suspend", reason: reason.value.trim() } : null);
  } else if (kind === "extend") {
    const hours = el("input", { type: "number", name: "hours", min: "0.5", step: "0.5", value: "4" });
    fields.push(el("label", {}, el("span", { text: t("dlg.hours") }), hours));
    const reason = text("reason", t("dlg.reason"), true);
    build = () => (Number(hours.value) > 0 && reason.value.trim() ? { action: "extend", hours: Number(hours.value), reason: reason.value.trim() } : null);
  } else if (kind === "resolve") {
    const outcome = el("select", { name: "outcome" }, ...Object.keys(OUTCOMES).map((k) => el("option", { value: k, text: word(OUTCOMES, k) })));
    fields.push(el("label", {}, el("span", { text: t("squad.outcome") }), outcome));
    const note = text("note", t("dlg.note"), false);
    fields.push(photoInput("photo-before", t("squad.photos_before"), shots));
    fields.push(photoInput("photo-after", t("squad.photos_after"), shots));
    build = () => {
      if (!shots.length) { error.textContent = t("squad.need_photo"); return null; }
      return { action: "resolve", outcome: outcome.value, ...(note.value.trim() ? { note: note.value.trim() } : {}) };
    };
  } else if (kind.startsWith("verify")) {
    const note = text("note", t("dlg.note"), kind === "verify-cannot");
    fields.push(photoInput("photo-verify", t("detail.media"), shots));
    build = () => {
      if (kind === "verify-cannot") return note.value.trim() ? { action: "supervise", note: `${t("squad.verify_cannot")}：${note.value.trim()}` } : null;
      return { action: "verify", passed: kind === "verify-done", ...(note.value.trim() ? { note: note.value.trim() } : {}) };
    };
  }
  const labels = { return: "act.return", suspend: "act.ask_suspend", extend: "act.extend", resolve: "act.resolve", "verify-done": "squad.verify_done", "verify-not": "squad.verify_not", "verify-cannot": "squad.verify_cannot" };
  const form = el("form", { class: "form", "data-form": kind }, ...fields, error,
    el("div", { class: "row" },
      el("button", { type: "button", onclick: () => renderTask(), text: t("dlg.cancel") }),
      el("button", { type: "submit", class: "primary", text: t(labels[kind]) })));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = build();
    if (!body) { error.hidden = false; if (!error.textContent) error.textContent = "…?"; return; }
    act(inc, body, t(labels[kind]), shots.map((s) => ({ blob: s.blob, kind: s.kind })));
  });
  return form;
}

async function act(inc, body, label, shots = []) {
  unlockAudio();
  await state.outbox.add(inc.id, body, shots, label);
  if (!navigator.onLine) toast(t("squad.queued"));
  renderTask();
}

function onOutboxResult({ entry, ok, error, incident }) {
  if (ok) {
    if (incident && incident.id) state.store.upsert(incident);
    toast(`${entry.label} · ${t("squad.sent")}`);
  } else {
    toast(`${entry.label} · ${t("failed")}: ${error.message}`, true);
  }
  renderList();
  if (state.open === entry.incidentId) openTask(entry.incidentId);
}

function onOutboxChange() {
  const n = state.outbox.waiting.length;
  const box = $("#outbox");
  box.hidden = n === 0;
  box.textContent = `${t("squad.queue")} ${n}`;
  renderList();
  if (state.open) renderTask($("#view .form") ? $("#view .form").dataset.form : null);
}

// --- live ----------------------------------------------------------------------------------

function onEvent(ev) {
  if (ev.item && state.sup) state.sup.onItem(ev.item);
  if (ev.inspection && state.insp) state.insp.onTask(ev.inspection);  // 检查任务 (inspections.js)
  if (!ev.incident) return;
  const before = state.store.get(ev.incident.id);
  state.store.upsert(ev.incident);
  const assignedToUs = ev.type === "dispatch.assigned" || (ev.incident.state === "dispatched" && mine(ev.incident) && (!before || before.state !== "dispatched"));
  if (assignedToUs && !state.inspector && mine(ev.incident) && state.loaded) chime();
  renderList();
  if (state.open === ev.incident.id && !$("#view .form")) openTask(ev.incident.id);
}

async function loadSnapshot() {
  const q = { state: TASK_STATES.join(",") };
  if (state.squadId) q.squad_id = state.squadId;
  const list = await state.api.incidents(q, 5000);
  for (const inc of list) state.store.upsert(inc);
  state.loaded = true;
  renderList();
}

// --- position ------------------------------------------------------------------------------

async function loadUnits() {
  const q = state.squadId ? `?squad_id=${encodeURIComponent(state.squadId)}` : "";
  const body = await state.api.optional(`/api/v1/units${q}`).catch(() => null);
  const select = $("#unit");
  const units = (body && body.units) || [];
  select.replaceChildren(el("option", { value: "", text: "—" }), ...units.map((u) => el("option", { value: u.id, text: u.name || u.id })));
  const saved = localStorage.getItem(UNIT_KEY);
  if (saved && units.some((u) => u.id === saved)) select.value = saved;
  select.onchange = () => { localStorage.setItem(UNIT_KEY, select.value); state.lastSent = 0; sendPosition(); };
  if (!units.length) $("#pos-text").textContent = "—";
}

function watchPosition() {
  if (!navigator.geolocation) { $("#pos-text").textContent = t("squad.position_off"); return; }
  navigator.geolocation.watchPosition((p) => {
    state.lastFix = { lon: p.coords.longitude, lat: p.coords.latitude, at: new Date(p.timestamp).toISOString() };
    sendPosition();
  }, () => { $("#pos-text").textContent = t("squad.position_off"); }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  setInterval(sendPosition, 30000);
}

async function sendPosition() {
  const unit = $("#unit").value;
  const fix = state.lastFix;
  if (!unit || !fix || Date.now() - state.lastSent < 15000) return;
  state.lastSent = Date.now();
  try {
    // browsers give WGS84 (the W3C Geolocation API), so no crs is named
    await state.api.post(`/api/v1/units/${encodeURIComponent(unit)}/position`, { lon: fix.lon, lat: fix.lat, at: fix.at });
    $("#pos-text").textContent = `${fix.lon.toFixed(5)}, ${fix.lat.toFixed(5)} · ${fmt(Date.now(), "time")}`;
  } catch (err) {
    $("#pos-text").textContent = err.status === 404 ? "—" : t("failed");
  }
}

// --- who is signed in ----------------------------------------------------------------------

function selectTab(tab) {
  state.tab = tab;
  $("#tab-tasks").setAttribute("aria-selected", String(tab === "tasks"));
  $("#tab-verify").setAttribute("aria-selected", String(tab === "verify"));
  $("#tab-sup").setAttribute("aria-selected", String(tab === "sup"));
  $("#tab-insp").setAttribute("aria-selected", String(tab === "insp"));
  $("#tasks").hidden = tab === "sup" || tab === "insp";
  $("#sup").hidden = tab !== "sup";
  $("#insp").hidden = tab !== "insp";
  document.querySelector(".sq-bar").hidden = tab === "sup" || tab === "insp";
  if (tab === "insp") { closeTask(); state.insp.render(); return; }
  if (tab === "sup") { closeTask(); state.sup.load(); } else renderList();
}

async function start() {
  state.api = new Api();
  const me = await signedIn(state.api, { hide: ["#app"] });
  state.me = me;
  $("#app").hidden = false;
  await state.ref.load(state.api);
  // who answers for what comes from the session: a squad's holder its tier (scope); an
  // operator, admin or auditor is an inspector here and picks the squad to look at
  state.inspector = readsAll(me);
  state.scope = new Set(me.scope || []);
  state.squadId = me.squad_id || null;
  if (state.inspector) {
    $("#tab-verify").hidden = false;
    const pick = $("#pick-squad");
    $("#pick-squad-box").hidden = false;
    pick.replaceChildren(el("option", { value: "", text: "—" }), ...[...state.ref.squads.values()].filter((s) => s.kind !== "centre").map((s) => el("option", { value: s.id, text: s.name })));
    pick.value = localStorage.getItem(SQUAD_KEY) || "";
    state.squadId = pick.value || null;
    pick.onchange = () => { localStorage.setItem(SQUAD_KEY, pick.value); location.reload(); };
  }
  state.sup = new SupervisionBoard({ api: state.api, me, ref: state.ref, root: $("#sup"), compact: true,
    onChange: (c) => { $("#n-sup").textContent = String(c.owed); $("#tab-sup").classList.toggle("alert", c.owed > 0); } });
  state.sup.load();
  state.duty = new DutyPanel({ api: state.api, root: $("#duty") });  // 勤务: shift, post, check-in
  state.duty.load();
  state.insp = new InspectionBoard({ api: state.api, root: $("#insp"), count: $("#n-insp") });
  state.insp.load();
  $("#squad-name").textContent = state.squadId ? state.ref.squadName(state.squadId) : t("squad.title");
  state.outbox = new Outbox(state.api, onOutboxResult, onOutboxChange);
  await state.outbox.refresh();
  state.live = new LiveFeed({
    api: state.api,
    topics: state.inspector ? ["all"] : [...state.scope].map((id) => `squad:${id}`),
    onEvent, onStatus: setConn,
    onSubscribed: () => { loadSnapshot().catch((err) => toast(err.message, true)); },
    onRevoked: () => sessionEnded(state.api),
  }).start();
  loadUnits();
  watchPosition();
  setInterval(() => {
    document.querySelectorAll("[data-countdown]").forEach((node) => {
      const inc = state.store.get(node.dataset.countdown);
      if (!inc) return;
      const cd = countdown(inc);
      node.textContent = cd.text;
      node.className = node.className.replace(/c-\w+/, "c-" + cd.colour);
    });
  }, 1000);
  window.__squad = { state, ready: () => Boolean(state.loaded), selectTab, drop: () => state.live.drop(), chimes: () => state.chimes || 0, outbox: () => state.outbox.waiting.length };
}

$("#tab-tasks").addEventListener("click", () => selectTab("tasks"));
$("#tab-verify").addEventListener("click", () => selectTab("verify"));
$("#tab-sup").addEventListener("click", () => selectTab("sup"));
$("#tab-insp").addEventListener("click", () => selectTab("insp"));
$("#sound").addEventListener("click", unlockAudio);
document.addEventListener("pointerdown", unlockAudio, { once: true });
$("#lang").addEventListener("click", () => {
  setLang(lang() === "en" ? "zh-CN" : "en");
  applyI18n();
  renderList();
  if (state.open) renderTask();
  if (state.sup) { state.sup.build(); state.sup.renderList(); }
});
applyI18n();
start().catch((err) => toast(err.message, true));

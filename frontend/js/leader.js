// A leader's page for a tier (支队, 大队 or 中队; docs/API.md §2a, §7, §12): the tier's figures
// rolled up (/api/v1/stats?squad_id=&group_by=squad), the thresholds it breaches
// (/api/v1/thresholds/breaches), its red and yellow open cases, and its supervision items with
// their colours; live through /ws on the tier's squad: topics (or all, for the centre).

import { Api } from "./api.js";
import { addWords, applyI18n, fmt, fmtDuration, fmtInt, fmtRate, lang, setLang, shanghaiDay, t } from "./i18n.js";
import { IncidentStore, OPEN_STATES, Reference, clockOf, isOpen } from "./incidents.js";
import { LiveFeed } from "./live.js";
import { readsAll, sessionEnded, signedIn } from "./session.js";
import { SupervisionBoard } from "./supervision.js";
import { el, toast } from "./views.js";

addWords({
  "leader.title": ["层级督导", "Tier overview"],
  "leader.tier": ["层级", "Tier"],
  "leader.period": ["统计期", "Month"],
  "leader.as_of": ["截至", "as of"],
  "leader.figures": ["层级指标", "The tier's figures"],
  "leader.squad": ["单位", "Squad"],
  "leader.overdue_open": ["超期", "Overdue"],
  "leader.breaches": ["指标预警", "Threshold breaches"],
  "leader.no_breaches": ["本期各项指标均达标", "Every threshold is met this period"],
  "leader.target": ["目标", "target"],
  "leader.cases": ["红黄牌案卷", "Red and yellow cases"],
  "leader.no_cases": ["暂无红黄牌案卷", "No red or yellow cases"],
  "leader.supervision": ["督办件", "Supervision items"],
  "leader.no_tier": ["未分配层级：请选择", "No tier: pick one"],
});

/** The national rates, by their Chinese names as /api/v1/stats labels them (docs/API.md §7). */
const RATES = [
  ["disposal_rate", "处置率", "Disposal rate"],
  ["on_time_rate", "按期处置率", "On-time disposal rate"],
  ["close_rate", "结案率", "Close rate"],
  ["on_time_close_rate", "按期结案率", "On-time close rate"],
  ["rework_rate", "返工率", "Rework rate"],
  ["extension_rate", "延期率", "Extension rate"],
  ["overdue_open_rate", "超期未处置率", "Overdue open rate"],
];
const COUNTS = [
  ["received", "上报数", "Reported"],
  ["registered", "立案数", "Registered"],
  ["dispatched", "派遣数", "Dispatched"],
  ["resolved", "处置数", "Resolved"],
  ["closed", "结案数", "Closed"],
  ["overdue_open", "超期待处置数", "Overdue open"],
];
const name = (row) => (lang() === "en" ? row[2] : row[1]);
const $ = (sel) => document.querySelector(sel);

const state = {
  api: null, me: null, ref: new Reference(), store: new IncidentStore(), live: null, sup: null,
  tier: null, month: null, stats: null, breaches: null, loaded: false,
};

function setConn(s) {
  const c = $("#conn");
  c.className = "conn " + s;
  c.querySelector(".conn-text").textContent = t(s === "live" ? "conn.live" : s === "connecting" ? "conn.connecting" : "conn.offline");
}

/** The squad and every squad below it, by parent_id (the directory's tree). */
function subtree(top) {
  const found = new Set([top]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of state.ref.squads.values()) {
      if (s.parent_id && found.has(s.parent_id) && !found.has(s.id)) { found.add(s.id); grew = true; }
    }
  }
  return found;
}

/** The tiers the person may pick: every squad for the centre, its own tier's otherwise. */
function pickable() {
  const all = [...state.ref.squads.values()];
  const mine = readsAll(state.me) ? all : all.filter((s) => (state.me.scope || []).includes(s.id));
  const depth = (s) => { let n = 0; for (let p = s; p && p.parent_id && n < 10; p = state.ref.squads.get(p.parent_id)) n += 1; return n; };
  return mine.sort((a, b) => depth(a) - depth(b) || a.name.localeCompare(b.name, "zh-CN"));
}

function monthRange(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const end = `${month}-${String(last).padStart(2, "0")}`;
  const today = shanghaiDay();
  return { from: `${month}-01`, to: end < today ? end : today };
}

// --- figures and breaches ------------------------------------------------------------------

async function loadFigures() {
  const tier = state.tier;
  if (!tier) return;
  const { from, to } = monthRange(state.month);
  const q = new URLSearchParams({ from, to, squad_id: tier, group_by: "squad" });
  const b = new URLSearchParams({ period: state.month, squad_id: tier });
  try {
    const [stats, breaches] = await Promise.all([
      state.api.get(`/api/v1/stats?${q}`),
      state.api.get(`/api/v1/thresholds/breaches?${b}`),
    ]);
    if (tier !== state.tier) return;
    state.stats = stats;
    state.breaches = breaches;
  } catch (err) {
    toast(`${t("leader.figures")}: ${err.message}`, true);
  }
  renderFigures();
  renderBreaches();
}

function renderFigures() {
  const total = state.stats ? state.stats.total || {} : {};
  $("#fig-period").textContent = state.stats ? `${state.month}（${t("leader.as_of")} ${fmt(state.stats.as_of, "short")}）` : "";
  $("#rates").replaceChildren(...RATES.map((r) => el("div", { class: "rate", "data-rate": r[0] },
    el("dt", { text: name(r) }), el("dd", { text: fmtRate(total[r[0]]) }))));
  $("#counts").replaceChildren(...COUNTS.map((r) => el("div", { "data-count": r[0] },
    el("dt", { text: name(r) }), el("dd", { text: total[r[0]] === undefined ? "—" : fmtInt(total[r[0]]) }))));
  const groups = (state.stats && state.stats.groups) || [];
  $("#squad-rows").replaceChildren(...groups.map((g) => el("tr", { "data-squad": g.key },
    el("td", { text: state.ref.tierLabel(g.key) !== g.key ? state.ref.tierLabel(g.key) : g.name || g.key }),
    el("td", { text: fmtInt(g.dispatched) }),
    el("td", { text: fmtRate(g.disposal_rate) }),
    el("td", { text: fmtRate(g.on_time_rate) }),
    el("td", { text: fmtRate(g.close_rate) }),
    el("td", { class: g.overdue_open ? "c-red" : null, text: fmtInt(g.overdue_open) }))));
}

function renderBreaches() {
  const list = (state.breaches && state.breaches.breaches) || [];
  $("#n-breaches").textContent = String(list.length);
  $("#n-breaches").classList.toggle("red", list.length > 0);
  $("#breaches").replaceChildren(...list.map((b) => el("li", { class: "breach", "data-indicator": b.indicator, "data-squad": b.squad_id },
    el("b", { class: "b-label", text: b.label }),
    el("span", { class: "b-value c-red", text: fmtRate(b.value) }),
    el("span", { class: "b-target", text: `${t("leader.target")} ${b.threshold ? b.threshold.text : ""}` }),
    el("span", { class: "b-squad", text: `${b.squad_name || state.ref.squadName(b.squad_id)}（${b.tier}）` }),
    el("span", { class: "b-count", text: b.denominator !== undefined ? `${b.numerator}/${b.denominator}` : "" }))));
  if (!list.length) $("#breaches").append(el("li", { class: "ok", text: t("leader.no_breaches") }));
}

// --- red and yellow cases ------------------------------------------------------------------

function inTier(inc) {
  if (!state.members) return false;
  return state.members.has(inc.squad_id) || (inc.support_squad_ids || []).some((s) => state.members.has(s));
}

function renderCases() {
  const now = Date.now();
  const flagged = [...state.store.values()].filter((i) => isOpen(i) && inTier(i))
    .map((i) => ({ i, c: clockOf(i, now) })).filter(({ c }) => c.colour === "red" || c.colour === "yellow")
    .sort((a, b) => (a.c.colour === b.c.colour ? (a.c.remaining ?? 0) - (b.c.remaining ?? 0) : a.c.colour === "red" ? -1 : 1));
  $("#n-red").textContent = String(flagged.filter((x) => x.c.colour === "red").length);
  $("#n-yellow").textContent = String(flagged.filter((x) => x.c.colour === "yellow").length);
  $("#cases").replaceChildren(...flagged.slice(0, 200).map(({ i, c }) => el("li", { class: "ld-case c-" + c.colour, "data-id": i.id, "data-colour": c.colour },
    el("span", { class: "dot " + c.colour }),
    el("b", { text: state.ref.categoryName(i.category, lang() === "en") }),
    el("span", { class: "c-" + c.colour, text: c.remaining === null ? "" : c.remaining < 0 ? `${t("detail.overdue_by")} ${fmtDuration(-c.remaining)}` : fmtDuration(c.remaining) }),
    el("span", { class: "sub", text: [i.id, state.ref.squadName(i.squad_id), i.address].filter(Boolean).join(" · ") }))));
  if (!flagged.length) $("#cases").append(el("li", { class: "ok", text: t("leader.no_cases") }));
}

async function loadCases() {
  const tier = state.tier;
  const list = await state.api.incidents({ squad_id: tier, state: [...OPEN_STATES].join(",") }, 5000);
  if (tier !== state.tier) return;
  for (const inc of list) state.store.upsert(inc);
  renderCases();
}

// --- the tier ------------------------------------------------------------------------------

async function showTier(id) {
  state.tier = id;
  state.members = id ? subtree(id) : null;
  state.store = new IncidentStore();
  state.stats = null;
  state.breaches = null;
  renderFigures();
  renderBreaches();
  state.sup = new SupervisionBoard({ api: state.api, me: state.me, ref: state.ref, root: $("#sup"), tier: id });
  if (!id) { $("#cases").replaceChildren(el("li", { text: t("leader.no_tier") })); return; }
  await Promise.all([loadFigures(), loadCases().catch((err) => toast(err.message, true)), state.sup.load()]);
  state.loaded = true;
}

let figuresTimer = null;
function onEvent(ev) {
  if (ev.item && state.sup) state.sup.onItem(ev.item);
  if (ev.incident && state.members) {
    state.store.upsert(ev.incident);
    renderCases();
  }
  // figures follow the events, at most every two seconds
  if (!figuresTimer) figuresTimer = setTimeout(() => { figuresTimer = null; loadFigures(); }, 2000);
}

function applyLang() {
  applyI18n();
  $("#centre-name").textContent = lang() === "en" ? t("app.title") : state.ref.centreName || t("app.title");
  renderFigures();
  renderBreaches();
  renderCases();
  if (state.sup) { state.sup.build(); state.sup.renderList(); }
}

async function start() {
  state.api = new Api();
  state.me = await signedIn(state.api, { hide: ["#main", "#tier-box", "#period-box"] });
  $("#main").hidden = false;
  await state.ref.load(state.api);
  const pick = $("#tier");
  const choices = pickable();
  pick.replaceChildren(...choices.map((s) => el("option", { value: s.id, text: state.ref.tierLabel(s.id) })));
  const first = state.me.squad_id && choices.some((s) => s.id === state.me.squad_id) ? state.me.squad_id : choices.length ? choices[0].id : "";
  pick.value = first;
  pick.onchange = () => showTier(pick.value);
  $("#tier-box").hidden = false;
  state.month = shanghaiDay().slice(0, 7);
  const period = $("#period");
  const [y, m] = state.month.split("-").map(Number);
  const months = Array.from({ length: 13 }, (_, k) => {
    const d = new Date(Date.UTC(y, m - 1 - k, 1));
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  });
  period.replaceChildren(...months.map((v) => el("option", { value: v, text: lang() === "en" ? v : `${v.slice(0, 4)}年${Number(v.slice(5))}月` })));
  period.value = state.month;
  period.onchange = () => { state.month = period.value; loadFigures(); };
  $("#period-box").hidden = false;
  applyLang();
  await showTier(first || null);
  state.live = new LiveFeed({
    api: state.api,
    topics: readsAll(state.me) ? ["all"] : (state.me.scope || []).map((id) => `squad:${id}`),
    onEvent, onStatus: setConn,
    onRevoked: () => sessionEnded(state.api),
  }).start();
  setInterval(() => { $("#clock").textContent = fmt(new Date(), "time"); }, 1000);
  setInterval(renderCases, 5000);
  setInterval(loadFigures, 60000);
  window.__leader = {
    state, ready: () => Boolean(state.loaded), showTier,
    tiers: () => [...$("#tier").options].map((o) => o.value),
    breaches: () => ((state.breaches && state.breaches.breaches) || []).map((b) => `${b.squad_id}:${b.indicator}`),
  };
}

$("#lang").addEventListener("click", () => { setLang(lang() === "en" ? "zh-CN" : "en"); applyLang(); });
applyI18n();
$("#clock").textContent = fmt(new Date(), "time");
start().catch((err) => toast(err.message, true));

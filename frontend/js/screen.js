// The big screen (大屏): today's figures, the source and category mix, the district map with
// every open incident coloured by its clock and the units moving, a ticker, the 30-day trend,
// the ranking of squads and the live activity feed. It follows /ws and recovers by itself.

import * as echarts from "../vendor/echarts.esm.min.js";
import { Api } from "./api.js";
import { CalendarBanner } from "./calendar.js";
import { EVENT_WORDS, STATES, applyI18n, fmt, fmtDuration, fmtInt, fmtRate, lang, setLang, startOfToday, t, word } from "./i18n.js";
import { IncidentStore, OPEN_STATES, Reference, clockOf, isOpen, receivedMs, timeOf } from "./incidents.js";
import { LiveFeed } from "./live.js";
import { DistrictMap, tileConfig } from "./map.js";
import { sessionEnded, signedIn } from "./session.js";
import { WallPanels } from "./wallpanels.js";

const FEED_MAX = 40;
const TICKER_MAX = 14;
const SOURCE_GROUP = { hotline: "hotline", camera: "camera", grid: "grid", drone: "iot", sensor: "iot" };
const GROUP_ORDER = ["hotline", "camera", "grid", "iot", "other"];
const GROUP_COLOURS = ["#35d3ff", "#ffb347", "#21d07a", "#c792ff", "#6f8fbf"];

const $ = (sel) => document.querySelector(sel);
const scale = () => parseFloat(getComputedStyle(document.documentElement).fontSize) / 16;

const state = {
  api: null,
  ref: new Reference(),
  store: new IncidentStore(),
  map: null,
  live: null,
  units: new Map(),
  stats: { today: null, trend: null, squads: null, available: null },
  feed: [],
  seqs: [],
  ticker: [],
  tickerDirty: false,
  kpi: {},
  charts: {},
  colours: new Map(),
  popup: null,
};

function setConn(s) {
  const el = $("#conn");
  el.className = "conn " + s;
  el.querySelector(".conn-text").textContent = t(s === "live" ? "conn.live" : s === "connecting" ? "conn.connecting" : "conn.offline");
}

function tickClock() {
  const now = new Date();
  $("#clock").textContent = fmt(now, "time");
  $("#date").textContent = fmt(now, "date");
}

// --- figures -------------------------------------------------------------------------------

const RECEIVED = 1, REGISTERED = 2, DISPATCHED = 4, CLOSED = 8;
// The rates are only ever the server's (/api/v1/stats): 处置率 and 按期处置率 divide by 应处置数,
// the dispatched cases less those still inside their limit (docs/API.md §7), which this page
// cannot know for incidents it does not hold. Until the server answers, and when a rate has no
// denominator (null), the wall shows "—", never 0.0%.
const RATE_KPIS = ["disposal_rate", "on_time_rate"];

/** What an incident adds to today's figures, as bits; kept on the object for the day. */
function contribution(inc, today) {
  if (inc._day === today) return inc._bits;
  let bits = 0;
  if (receivedMs(inc) >= today) bits |= RECEIVED;
  if (timeOf(inc, "dispatched_at") >= today) bits |= DISPATCHED;
  if (inc.state === "closed" && timeOf(inc, "closed_at") >= today) bits |= CLOSED;
  if (timeOf(inc, "registered_at") >= today) bits |= REGISTERED;
  Object.defineProperty(inc, "_day", { value: today, enumerable: false, writable: true });
  Object.defineProperty(inc, "_bits", { value: bits, enumerable: false, writable: true });
  return bits;
}

/** Today's counts from the incidents this page holds; the rates wait for /api/v1/stats. */
function localToday(now) {
  const today = Date.parse(startOfToday(now));
  let received = 0, registered = 0, dispatched = 0, closed = 0;
  for (const inc of state.store.values()) {
    const bits = contribution(inc, today);
    if (!bits) continue;
    if (bits & RECEIVED) received += 1;
    if (bits & REGISTERED) registered += 1;
    if (bits & DISPATCHED) dispatched += 1;
    if (bits & CLOSED) closed += 1;
  }
  return { received, registered, dispatched, closed, ...Object.fromEntries(RATE_KPIS.map((k) => [k, null])) };
}

function groupsOf(resp) {
  if (!resp) return null;
  if (Array.isArray(resp)) return resp;
  for (const k of ["groups", "rows", "items", "stats", "data"]) if (Array.isArray(resp[k])) return resp[k];
  return null;
}
const keyOf = (g) => g.key ?? g.group ?? g.day ?? g.date ?? g.squad_id ?? g.zone_id ?? g.category ?? g.id;

function statsTotal(resp) {
  if (!resp) return null;
  const total = resp.total || resp.totals || resp.overall;
  if (total && typeof total === "object") return total;
  const groups = groupsOf(resp);
  if (!groups) return null;
  if (groups.length === 1) return groups[0];
  const sum = {};
  for (const name of ["received", "registered", "dispatched", "resolved", "closed", "closed_on_time", "overdue_open", "reworked"]) {
    sum[name] = groups.reduce((s, g) => s + Number(g[name] || 0), 0);
  }
  return sum;
}

function renderKpis() {
  const now = Date.now();
  const local = localToday(now);
  const remote = statsTotal(state.stats.today);
  const fig = { ...local };
  if (remote) {
    // counts are what this wall holds (the same incidents as its map and charts); the rates
    // are the server's, by the formulas of /api/v1/stats
    for (const k of RATE_KPIS) fig[k] = typeof remote[k] === "number" ? remote[k] : null;
  }
  let overdue = 0, open = 0;
  const byColour = { green: 0, yellow: 0, red: 0 };
  for (const inc of state.store.values()) {
    if (!isOpen(inc)) continue;
    open += 1;
    const c = state.colours.get(inc.id) || "green";
    byColour[c] += 1;
    if (c === "red" && inc.state !== "resolved" && !inc.suspended) overdue += 1;
  }
  fig.overdue = overdue;
  fig.open = open;
  for (const [k, v] of Object.entries(fig)) {
    const el = document.querySelector(`[data-kpi="${k}"] b`);
    if (!el) continue;
    const text = k.endsWith("_rate") ? fmtRate(v) : fmtInt(v);
    if (el.textContent !== text) {
      const wasSet = el.textContent !== "—";
      el.textContent = text;
      if (wasSet) {
        el.parentElement.classList.remove("flash");
        void el.parentElement.offsetWidth;
        el.parentElement.classList.add("flash");
      }
    }
  }
  state.kpi = fig;
  $("#n-green").textContent = fmtInt(byColour.green);
  $("#n-yellow").textContent = fmtInt(byColour.yellow);
  $("#n-red").textContent = fmtInt(byColour.red);
}

// --- charts --------------------------------------------------------------------------------

function chart(id) {
  if (!state.charts[id]) {
    const el = document.getElementById(id);
    const c = echarts.init(el, null, { renderer: "canvas" });
    state.charts[id] = c;
    new ResizeObserver(() => c.resize()).observe(el);
  }
  return state.charts[id];
}

function axisStyle(s) {
  return {
    axisLine: { lineStyle: { color: "#2f5f9e" } },
    axisLabel: { color: "#9fbfe6", fontSize: 12 * s },
    splitLine: { lineStyle: { color: "rgba(47,95,158,.3)" } },
  };
}

function noData(s) {
  return { type: "text", left: "center", top: "middle", style: { text: t("nodata"), fill: "#5f7fa9", fontSize: 15 * s } };
}

function renderSources() {
  const s = scale();
  const today = Date.parse(startOfToday());
  const counts = new Map(GROUP_ORDER.map((g) => [g, 0]));
  for (const inc of state.store.values()) {
    if (!(receivedMs(inc) >= today)) continue;
    const g = SOURCE_GROUP[inc.source] || "other";
    counts.set(g, counts.get(g) + 1);
  }
  const data = GROUP_ORDER.map((g, i) => ({ name: t("srcgroup." + g), value: counts.get(g), itemStyle: { color: GROUP_COLOURS[i] } }));
  const total = data.reduce((a, d) => a + d.value, 0);
  chart("chart-sources").setOption({
    animation: false,
    graphic: total ? [] : [noData(s)],
    tooltip: { trigger: "item" },
    legend: {
      orient: "vertical", right: 4 * s, top: "middle", itemWidth: 12 * s, itemHeight: 12 * s, itemGap: 9 * s,
      textStyle: { color: "#cfe0f7", fontSize: 13 * s },
      formatter: (name) => {
        const d = data.find((x) => x.name === name);
        const pct = total ? Math.round((d.value / total) * 100) : 0;
        return `${name}  ${d.value}  ${pct}%`;
      },
    },
    series: [{
      type: "pie", radius: ["48%", "78%"], center: ["28%", "52%"], avoidLabelOverlap: true,
      label: { show: true, position: "center", formatter: () => `${total}`, color: "#fff", fontSize: 24 * s, fontWeight: 700 },
      labelLine: { show: false }, data, itemStyle: { borderColor: "#0a2042", borderWidth: 2 * s },
      emphasis: { scale: false },
    }],
  }, { replaceMerge: ["graphic"] });
}

function renderCategories() {
  const s = scale();
  const today = Date.parse(startOfToday());
  const counts = new Map();
  for (const inc of state.store.values()) {
    if (!(receivedMs(inc) >= today)) continue;
    counts.set(inc.category, (counts.get(inc.category) || 0) + 1);
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 7).reverse();
  const en = lang() === "en";
  chart("chart-categories").setOption({
    animation: false,
    graphic: top.length ? [] : [noData(s)],
    grid: { left: 8 * s, right: 36 * s, top: 4 * s, bottom: 4 * s, containLabel: true },
    xAxis: { type: "value", show: false },
    yAxis: {
      type: "category", data: top.map(([code]) => state.ref.categoryName(code, en)),
      axisLabel: { color: "#cfe0f7", fontSize: 13 * s, width: 150 * s, overflow: "truncate" },
      axisLine: { show: false }, axisTick: { show: false },
    },
    series: [{
      type: "bar", data: top.map(([, n]) => n), barWidth: "55%",
      label: { show: true, position: "right", color: "#fff", fontSize: 13 * s },
      itemStyle: { borderRadius: [0, 3 * s, 3 * s, 0], color: new echarts.graphic.LinearGradient(0, 0, 1, 0, [{ offset: 0, color: "#1565c0" }, { offset: 1, color: "#35d3ff" }]) },
    }],
  }, { replaceMerge: ["graphic"] });
}

function renderTrend() {
  const s = scale();
  const groups = groupsOf(state.stats.trend) || [];
  const days = [];
  const start = Date.now() - 29 * 86400000;
  for (let i = 0; i < 30; i += 1) days.push(fmt(start + i * 86400000, "ymd"));
  const byDay = new Map(groups.map((g) => [String(keyOf(g)).slice(0, 10), g]));
  const has = groups.length > 0;
  const val = (d, k) => (byDay.has(d) ? Number(byDay.get(d)[k] || 0) : has ? 0 : null);
  const rate = (d) => (byDay.has(d) && byDay.get(d).on_time_rate !== null && byDay.get(d).on_time_rate !== undefined ? Math.round(byDay.get(d).on_time_rate * 1000) / 10 : null);
  const ax = axisStyle(s);
  chart("chart-trend").setOption({
    animation: false,
    graphic: has ? [] : [noData(s)],
    tooltip: { trigger: "axis" },
    legend: { top: 0, right: 0, itemWidth: 12 * s, itemHeight: 8 * s, textStyle: { color: "#cfe0f7", fontSize: 12 * s } },
    grid: { left: 6 * s, right: 6 * s, top: 26 * s, bottom: 4 * s, containLabel: true },
    xAxis: { type: "category", data: days.map((d) => d.slice(5)), ...ax, axisLabel: { ...ax.axisLabel, interval: 6 } },
    yAxis: [
      { type: "value", ...ax, minInterval: 1 },
      { type: "value", min: 0, max: 100, ...ax, splitLine: { show: false }, axisLabel: { ...ax.axisLabel, formatter: "{value}%" } },
    ],
    series: [
      { name: t("trend.received"), type: "bar", data: days.map((d) => val(d, "received")), itemStyle: { color: "#2f7fd6" }, barGap: "10%" },
      { name: t("trend.closed"), type: "bar", data: days.map((d) => val(d, "closed")), itemStyle: { color: "#21d07a" } },
      { name: t("trend.on_time"), type: "line", yAxisIndex: 1, data: days.map(rate), smooth: true, symbol: "none", lineStyle: { color: "#ffd21f", width: 2 * s } },
    ],
  }, { replaceMerge: ["graphic"] });
}

function renderRanking() {
  const remote = new Map((groupsOf(state.stats.squads) || []).map((g) => [String(keyOf(g)), g]));
  const rows = [];
  for (const squad of state.ref.squads.values()) {
    if (squad.kind === "centre") continue;
    // 按期处置率 as the server judges it (over 应处置数); null (nothing due yet) shows "—"
    rows.push({ id: squad.id, name: state.ref.squadShort(squad.id), open: 0, overdue: 0, onTime: remote.get(squad.id)?.on_time_rate ?? null });
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const inc of state.store.values()) {
    const r = inc.squad_id && byId.get(inc.squad_id);
    if (!r) continue;
    if (!isOpen(inc)) continue;
    r.open += 1;
    if (state.colours.get(inc.id) === "red" && inc.state !== "resolved") r.overdue += 1;
  }
  rows.sort((a, b) => (b.onTime ?? -1) - (a.onTime ?? -1) || a.overdue - b.overdue || a.open - b.open || a.name.localeCompare(b.name));
  const body = $("#rank");
  const html = rows.slice(0, 10).map((r, i) => `<tr><td><span>${i + 1}</span></td><td>${escapeHtml(r.name)}</td><td>${r.open}</td><td>${fmtRate(r.onTime)}</td><td class="${r.overdue ? "over" : ""}">${r.overdue}</td></tr>`).join("");
  if (body.innerHTML !== html) body.innerHTML = html;
}

function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// --- the feed and the ticker -----------------------------------------------------------------

function eventLabel(ev) {
  if (EVENT_WORDS[ev.type] && ev.type !== "incident.updated") return { text: word(EVENT_WORDS, ev.type), cls: ev.type === "deadline.overdue" ? "t-overdue" : ev.type === "deadline.warning" ? "t-warning" : "t-created" };
  const action = ev.action;
  const actWord = action ? t("act." + action) : null;
  if (actWord && actWord !== "act." + action) {
    if (action === "verify") return { text: ev.incident.state === "closed" ? word(STATES, "closed") : t("act.rework"), cls: "t-closed" };
    return { text: actWord, cls: "t-" + (ev.incident.state || "") };
  }
  return { text: word(STATES, ev.incident.state), cls: "t-" + ev.incident.state };
}

function addFeed(ev) {
  if (ev.type === "dispatch.assigned") return; // the same dispatch arrives as incident.updated
  const inc = ev.incident;
  const label = eventLabel(ev);
  const street = state.ref.streetOf(inc);
  const li = document.createElement("li");
  li.className = "fresh";
  li.dataset.seq = String(ev.seq);
  li.dataset.id = inc.id;
  li.innerHTML = `<time></time><span class="tag ${label.cls}"></span><span class="what"></span>`;
  li.children[0].textContent = fmt(ev.at, "time");
  li.children[1].textContent = label.text;
  li.children[2].textContent = `${state.ref.categoryName(inc.category, lang() === "en")} · ${street ? street.name : inc.address || inc.id}`;
  li.title = inc.id;
  const list = $("#feed");
  list.prepend(li);
  while (list.children.length > FEED_MAX) list.lastChild.remove();
}

/** Before any live event: the latest changes of the day, so the wall never starts empty. */
function seedFeed() {
  if ($("#feed").children.length) return;
  const latest = [...state.store.values()].sort((a, b) => Date.parse(a.updated_at) - Date.parse(b.updated_at)).slice(-FEED_MAX);
  for (const inc of latest) {
    const type = inc.version === 1 ? "incident.created" : "incident.updated";
    addFeed({ seq: 0, type, at: inc.updated_at, incident: inc });
  }
  for (const li of $("#feed").children) li.classList.remove("fresh");
  const created = [...state.store.values()].sort((a, b) => Date.parse(b.received_at) - Date.parse(a.received_at)).slice(0, TICKER_MAX);
  for (const inc of created.reverse()) addTicker({ type: "incident.created", at: inc.received_at, incident: inc });
  renderTicker();
}

function addTicker(ev) {
  let cls = null;
  if (ev.type === "incident.created") cls = "new";
  else if (ev.type === "deadline.overdue") cls = "alert";
  else if (ev.type === "deadline.warning") cls = "warn";
  if (!cls) return;
  const inc = ev.incident;
  const street = state.ref.streetOf(inc);
  state.ticker.unshift({ cls, at: ev.at, text: `${state.ref.categoryName(inc.category, lang() === "en")} · ${street ? street.name : ""} ${inc.address || ""}`.trim() });
  state.ticker.length = Math.min(state.ticker.length, TICKER_MAX);
  state.tickerAt = 0;
  state.tickerDirty = true;
}

/**
 * The ticker shows one line at a time and slides the next one in every few seconds: a
 * continuously scrolling strip would repaint the wall sixty times a second, which a wall PC
 * without a GPU cannot afford next to the map.
 */
function renderTicker() {
  state.tickerDirty = false;
  if (!state.ticker.length) return;
  state.tickerAt = (state.tickerAt || 0) % state.ticker.length;
  const item = state.ticker[state.tickerAt];
  const words = { new: "ticker.new", alert: "ticker.alert", warn: "ticker.warning" };
  const span = document.createElement("span");
  span.className = "tick " + item.cls;
  span.innerHTML = "<time></time><em></em><span></span>";
  span.children[0].textContent = fmt(item.at, "time");
  span.children[1].textContent = t(words[item.cls]);
  span.children[2].textContent = item.text;
  const track = $("#ticker");
  const old = track.firstElementChild;
  track.append(span);
  if (old) {
    old.classList.add("out");
    setTimeout(() => old.remove(), 600);
  }
  requestAnimationFrame(() => span.classList.add("in"));
}

function nextTick() {
  if (!state.ticker.length) return;
  state.tickerAt = ((state.tickerAt || 0) + 1) % state.ticker.length;
  renderTicker();
}

// --- incidents -----------------------------------------------------------------------------

function place(inc, now) {
  if (!isOpen(inc)) {
    state.colours.delete(inc.id);
    state.map.setIncident(inc.id, null, null, null);
    return;
  }
  const c = clockOf(inc, now).colour;
  state.colours.set(inc.id, c);
  state.map.setIncident(inc.id, inc.lon, inc.lat, c);
}

function streetCounts() {
  const counts = new Map();
  for (const inc of state.store.values()) {
    if (!isOpen(inc)) continue;
    const st = state.ref.streetOf(inc);
    if (st) counts.set(st.id, (counts.get(st.id) || 0) + 1);
  }
  state.map.setStreetCounts(counts);
}

let figuresTimer = null;
let chartsTimer = null;
let statsTimer = null;
function figuresSoon() {
  // the figures follow within half a second; the charts and the server's rates need not
  // redraw for every one of a burst of events
  if (!figuresTimer) figuresTimer = setTimeout(() => { figuresTimer = null; renderKpis(); renderRanking(); streetCounts(); }, 400);
  if (!chartsTimer) chartsTimer = setTimeout(() => { chartsTimer = null; renderSources(); renderCategories(); }, 2500);
  if (!statsTimer && state.stats.available !== false) statsTimer = setTimeout(() => { statsTimer = null; loadStats(); }, 4000);
}

function onEvent(ev) {
  state.seqs.push(ev.seq);
  if (state.seqs.length > 5000) state.seqs.splice(0, 1000);
  if (ev.type === "unit.moved") { onUnit(ev); return; }
  if (state.panels) state.panels.onEvent(ev);
  if (!ev.incident) return;
  const kept = state.store.upsert(ev.incident);
  if (kept) place(kept[1], Date.now());
  addFeed(ev);
  addTicker(ev);
  figuresSoon();
}

function onUnit(msg) {
  const u = msg.unit || msg;
  const id = u.id || u.unit_id;
  if (!id) return;
  const prev = state.units.get(id) || {};
  const pos = u.position || u;
  const unit = { ...prev, ...u, id, lon: pos.lon ?? prev.lon, lat: pos.lat ?? prev.lat, status: u.status ?? prev.status };
  state.units.set(id, unit);
  state.map.setUnit(id, unit.lon, unit.lat, unit.status);
}

function onOther(msg) {
  if (state.panels) state.panels.onOther(msg);
  if (msg.type === "unit.moved" || msg.type === "unit.updated") onUnit(msg);
}

async function loadSnapshot() {
  const api = state.api;
  const [open, today] = await Promise.all([
    api.incidents({ state: [...OPEN_STATES].join(",") }),
    api.incidents({ since: startOfToday() }),
  ]);
  const now = Date.now();
  for (const inc of [...open, ...today]) {
    const kept = state.store.upsert(inc);
    if (kept) place(kept[1], now);
  }
  renderKpis(); renderRanking(); streetCounts(); renderSources(); renderCategories();
  seedFeed();
  state.snapshotLoaded = true;
}

async function loadUnits() {
  const body = await state.api.optional("/api/v1/units").catch(() => null);
  if (!body) return;
  for (const u of body.units || []) onUnit(u);
  $("#n-units").textContent = fmtInt([...state.units.values()].filter((u) => u.status !== "off_duty").length);
}

async function loadStats() {
  const api = state.api;
  const now = new Date();
  const to = encodeURIComponent(now.toISOString());
  const from = encodeURIComponent(startOfToday());
  const monthStart = encodeURIComponent(`${fmt(now, "ymd").slice(0, 8)}01T00:00:00+08:00`);
  const trendFrom = encodeURIComponent(`${fmt(now.getTime() - 29 * 86400000, "ymd")}T00:00:00+08:00`);
  try {
    const today = await api.optional(`/api/v1/stats?from=${from}&to=${to}&group_by=day`);
    if (today === null) { state.stats.available = false; return; }
    state.stats.available = true;
    state.stats.today = today;
    const [trend, squads] = await Promise.all([
      api.optional(`/api/v1/stats?from=${trendFrom}&to=${to}&group_by=day`),
      api.optional(`/api/v1/stats?from=${monthStart}&to=${to}&group_by=squad`),
    ]);
    state.stats.trend = trend;
    state.stats.squads = squads;
  } catch (err) {
    console.warn("stats unavailable:", err.message);
    return;
  }
  renderKpis(); renderTrend(); renderRanking();
}

function everySecond() {
  tickClock();
  const now = Date.now();
  let changed = false;
  for (const inc of state.store.values()) {
    if (!isOpen(inc)) continue;
    const c = clockOf(inc, now).colour;
    if (state.colours.get(inc.id) !== c) {
      changed = true;
      place(inc, now);
    }
  }
  if (changed) figuresSoon();
  if (state.units.size) $("#n-units").textContent = fmtInt([...state.units.values()].filter((u) => u.status !== "off_duty").length);
}

function showPopup(id, lngLat) {
  const inc = state.store.get(id);
  if (!inc) return;
  const clock = clockOf(inc);
  const el = document.createElement("div");
  el.innerHTML = `<b></b><div></div><div></div><div></div>`;
  el.children[0].textContent = `${state.ref.categoryName(inc.category, lang() === "en")}`;
  el.children[1].textContent = `${inc.id} · ${word(STATES, inc.state)}`;
  el.children[2].textContent = `${state.ref.squadName(inc.squad_id)}`;
  el.children[3].textContent = clock.remaining === null ? "" : `${t("detail.remaining")} ${fmtDuration(clock.remaining)}`;
  el.children[3].className = "c-" + clock.colour;
  state.popup = state.map.showPopup(lngLat, el);
}

function applyLang() {
  applyI18n();
  $("#centre-name").textContent = lang() === "en" ? t("app.title") : state.centreName || state.ref.centreName || t("app.title");
  setConn(state.live && state.live.socket && state.live.socket.readyState === WebSocket.OPEN ? "live" : "connecting");
  renderSources(); renderCategories(); renderTrend(); renderRanking(); renderTicker();
  tickClock();
  if (state.calendar) state.calendar.render();
  if (state.panels) state.panels.render();
}

function onResize() {
  for (const c of Object.values(state.charts)) c.resize();
  state.map.resize(scale());
  renderSources(); renderCategories(); renderTrend();
}

async function start() {
  state.api = new Api();
  state.me = await signedIn(state.api, { hide: ["#wall"] });
  $("#wall").hidden = false;
  const tiles = await tileConfig();
  state.centreName = tiles.centre || null;
  await state.ref.load(state.api);
  state.calendar = new CalendarBanner($("#calendar-banner")).start(state.api);
  state.panels = new WallPanels({ api: state.api, ref: state.ref });
  applyLang();
  state.map = new DistrictMap($("#map"), { tiles: tiles.tiles, attribution: tiles.attribution, scale: scale() });
  state.map.onIncidentClick = (id, at) => showPopup(id, at);
  await state.map.setZones(state.ref.zonesGeoJSON);
  state.live = new LiveFeed({
    api: state.api,
    topics: ["all"],
    onEvent,
    onOther,
    onStatus: setConn,
    onSubscribed: () => { state.panels.start(); loadSnapshot().catch((err) => console.warn("snapshot:", err.message)); },
    onRevoked: () => sessionEnded(state.api),
  }).start();
  loadUnits();
  loadStats();
  renderTrend();
  setInterval(everySecond, 1000);
  setInterval(() => { if (state.stats.available !== false) loadStats(); }, 30000);
  setInterval(() => { if (state.tickerDirty) renderTicker(); else nextTick(); }, 4000);
  window.addEventListener("resize", () => { clearTimeout(state.resizeTimer); state.resizeTimer = setTimeout(onResize, 150); });
  // a handle for tests, benchmarks and whoever debugs the wall from the console
  window.__screen = {
    state,
    drop: () => state.live.drop(),
    ready: () => Boolean(state.snapshotLoaded && state.map.loaded),
    panels: () => ({ ...state.panels.loaded }),
    calendarChecked: () => state.calendar.checked,
    renderedColour: (id) => state.map.renderedColour(id),
    colour: (id) => state.colours.get(id) || null,
    kpi: () => ({ ...state.kpi }),
    feedSeqs: () => [...document.querySelectorAll("#feed li")].map((li) => Number(li.dataset.seq)),
    seqs: () => [...state.seqs],
    liveStats: () => ({ ...state.live.stats, lastSeq: state.live.lastSeq }),
    incident: (id) => state.store.get(id) || null,
    onUnit,
    flush: () => state.map.flush(),
  };
}

tickClock();
setInterval(tickClock, 1000);
applyI18n();
$("#lang").addEventListener("click", () => {
  setLang(lang() === "en" ? "zh-CN" : "en");
  applyLang();
});
start().catch((err) => console.error("the wall did not start:", err));

// Three panels of the wall (大屏) the issues ask for "on the wall":
// - 督办与指标预警 (issue 16): the supervision items (督办单, docs/API.md §12) a reply is owed
//   on, in their three colours, with kind, answering tier and deadline; the internal items the
//   breach watch opens (文号 考核预警…) marked 指标预警; and this month's threshold breaches (§7).
//   Live from the items' steps on /ws (`supervision.*`, with `item` where an incident's event
//   has `incident`).
// - 专项整治进度 (issue 17): the running campaigns and their progress per squad (§13.4),
//   one campaign at a time when several run.
// - 在岗力量 (issue 18): on-duty strength per street (§15, GET /api/v1/duty/now), grouped by
//   brigade, refreshed on `duty.checked_in` and every few minutes.
// Names, never ids. screen.js hands this module its events (onEvent, onOther).

import { addWords, fmt, fmtInt, fmtRate, lang, shanghaiDay, t } from "./i18n.js";
import { KINDS } from "./supervision.js";
import { el } from "./views.js";

addWords({
  "wall.sup": ["督办与指标预警", "Supervision and warnings"],
  "wall.sup.count": ["待答复 {n}", "{n} owed"],
  "wall.sup.empty": ["暂无待答复督办件", "No item awaits a reply"],
  "wall.sup.breach": ["指标预警", "Threshold"],
  "wall.sup.due": ["时限", "due"],
  "wall.sup.returned": ["退回", "returned"],
  "wall.breaches": ["本月指标预警", "Breaches this month"],
  "wall.camp": ["专项整治进度", "Campaign progress"],
  "wall.camp.empty": ["暂无进行中的专项整治", "No campaign running"],
  "wall.camp.squad": ["中队", "Squad"],
  "wall.camp.squads": ["中队（共 {n}）", "Squads ({n})"],
  "wall.camp.inspections": ["检查", "Inspections"],
  "wall.camp.incidents": ["案件办结", "Cases closed"],
  "wall.target.inspections": ["检查数", "Inspections"],
  "wall.target.places_inspected": ["检查对象数", "Places"],
  "wall.target.incidents_closed": ["办结案件", "Cases closed"],
  "wall.duty": ["在岗力量", "On duty"],
  "wall.duty.total": ["在岗 {n} · 签到 {m}", "{n} on duty · {m} in"],
  "wall.duty.in": ["签到", "in"],
  "wall.duty.empty": ["暂无排班", "No roster"],
});

const OWED = new Set(["open", "returned"]);
const COLOUR_ORDER = { red: 0, yellow: 1, green: 2 };
const BREACH_PREFIX = "考核预警";
const CAMPAIGN_ROWS = 12;
const ROTATE_MS = 12000;
const DUTY_EVERY_MS = 3 * 60000;
const CAMPAIGNS_EVERY_MS = 5 * 60000;
const PROGRESS_EVERY_MS = 60000;
const BREACHES_EVERY_MS = 5 * 60000;

const $ = (sel) => document.querySelector(sel);
const fill = (key, n, m) => t(key).replace("{n}", fmtInt(n)).replace("{m}", fmtInt(m));
const kindWord = (item) => (KINDS[item.kind] ? KINDS[item.kind][lang() === "en" ? 1 : 0] : item.kind_label || item.kind);
const OPS = { ">=": "≥", "<=": "≤", ">": ">", "<": "<" };
const threshold = (th) => (th ? `${OPS[th.op] || th.op} ${Math.round(th.value * 1000) / 10}%` : "");
const isBreach = (item) => item.kind === "internal" && String(item.doc_no || "").startsWith(BREACH_PREFIX);

/** A call at most once per `gap` ms, `delay` ms after it is asked for. */
function throttled(fn, delay, gap) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(delay, last + gap - Date.now());
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
  };
}

export class WallPanels {
  /**
   * @param {object} o
   * @param {import("./api.js").Api} o.api
   * @param {import("./incidents.js").Reference} o.ref names of squads
   */
  constructor(o) {
    this.api = o.api;
    this.ref = o.ref;
    this.items = new Map();
    this.breaches = [];
    this.campaigns = [];
    this.progress = new Map();
    this.campaignAt = 0;
    this.breachAt = 0;
    this.duty = null;
    this.loaded = { items: false, breaches: false, campaigns: false, duty: false };
    this.dutySoon = throttled(() => this.loadDuty(), 500, 2000);
    // a campaign opened since is listed with the progress it makes (no event announces it)
    this.progressSoon = throttled(() => this.loadCampaigns(), 2000, 10000);
    this.breachesSoon = throttled(() => this.loadBreaches(), 2000, 15000);
  }

  /** Once /ws has subscribed (so no step falls between the first load and the live ones). */
  start() {
    this.loadItems();
    this.loadBreaches();
    this.loadCampaigns();
    this.loadDuty();
    setInterval(() => this.loadDuty(), DUTY_EVERY_MS);
    setInterval(() => this.loadCampaigns(), CAMPAIGNS_EVERY_MS);
    setInterval(() => this.loadProgress(), PROGRESS_EVERY_MS);
    setInterval(() => this.loadBreaches(), BREACHES_EVERY_MS);
    setInterval(() => this.rotate(), ROTATE_MS);
    setInterval(() => this.recolour(), 5000);
    return this;
  }

  /** Every numbered event of /ws: supervision steps, and what moves a campaign's figures. */
  onEvent(ev) {
    if (ev.item) {
      const item = ev.item;
      if (OWED.has(item.state)) this.items.set(item.id, item);
      else this.items.delete(item.id);
      this.renderItems();
      if (isBreach(item)) this.breachesSoon();
      return;
    }
    if (ev.inspection || ev.incident) this.progressSoon();
    if (ev.type === "deadline.overdue" || ev.action === "resolve" || ev.action === "verify") this.breachesSoon();
  }

  /** Messages without a seq: a check-in changes the on-duty strength. */
  onOther(msg) {
    if (msg.type === "duty.checked_in") this.dutySoon();
  }

  render() {
    this.renderItems();
    this.renderBreaches();
    this.renderCampaign();
    this.renderDuty();
  }

  // --- supervision items and breaches ------------------------------------------------------

  async loadItems() {
    try {
      const body = await this.api.get("/api/v1/supervision-items?state=open,returned&limit=200");
      this.items = new Map(((body && body.items) || []).map((i) => [i.id, i]));
      this.loaded.items = true;
    } catch (err) {
      console.warn("supervision items:", err.message);
    }
    this.renderItems();
  }

  async loadBreaches() {
    try {
      const body = await this.api.get(`/api/v1/thresholds/breaches?period=${shanghaiDay().slice(0, 7)}`);
      this.breaches = (body && body.breaches) || [];
      this.loaded.breaches = true;
    } catch (err) {
      console.warn("threshold breaches:", err.message);
    }
    this.renderBreaches();
  }

  /** The item's colour now: the server's, or later if its yellow_at or deadline has passed. */
  colourOf(item, now = Date.now()) {
    let c = item.colour || "green";
    if (c !== "red" && item.deadline && Date.parse(item.deadline) <= now) c = "red";
    if (c === "green" && item.yellow_at && Date.parse(item.yellow_at) <= now) c = "yellow";
    return c;
  }

  recolour() {
    const list = $("#wall-sup");
    if (!list) return;
    const now = Date.now();
    for (const li of list.children) {
      const item = this.items.get(li.dataset.item);
      if (item && li.dataset.colour !== this.colourOf(item, now)) { this.renderItems(); return; }
    }
  }

  renderItems() {
    const list = $("#wall-sup");
    if (!list || !this.loaded.items) return;
    const now = Date.now();
    const items = [...this.items.values()].map((item) => ({ item, colour: this.colourOf(item, now) }));
    items.sort((a, b) => COLOUR_ORDER[a.colour] - COLOUR_ORDER[b.colour] || Date.parse(a.item.deadline) - Date.parse(b.item.deadline));
    const counts = { red: 0, yellow: 0, green: 0 };
    for (const { colour } of items) counts[colour] += 1;
    $("#wall-sup-count").replaceChildren(
      el("span", { text: fill("wall.sup.count", items.length) }),
      ...["red", "yellow", "green"].map((c) => el("span", { class: "n-" + c, text: fmtInt(counts[c]) })));
    if (!items.length) {
      list.replaceChildren(el("li", { class: "empty", text: t("wall.sup.empty") }));
      return;
    }
    list.replaceChildren(...items.map(({ item, colour }) => {
      const breach = isBreach(item);
      const what = breach ? (item.title || "").replace(/^考核预警[：:]\s*/, "") || item.doc_text : item.title || item.doc_no || item.doc_text;
      return el("li", { class: `c-${colour}${breach ? " breach" : ""}`, "data-item": item.id, "data-colour": colour, title: item.doc_no || "" },
        el("i", { class: "dot" }),
        el("span", { class: "kind", text: breach ? t("wall.sup.breach") : kindWord(item) }),
        el("span", { class: "what", text: what || "—" }),
        el("span", { class: "tier", text: this.tierName(item) }),
        el("time", { text: (item.state === "returned" ? t("wall.sup.returned") + " · " : "") + fmt(item.deadline, "short") }));
    }));
  }

  tierName(item) {
    if (item.tier_id && this.ref.squads.has(item.tier_id)) return this.ref.squadShort(item.tier_id);
    return (item.tier && item.tier.name) || this.ref.squadShort(item.tier_id);
  }

  renderBreaches() {
    const box = $("#wall-breaches");
    if (!box) return;
    const list = this.breaches;
    box.hidden = !list.length;
    // one line, turning: each breach comes first in turn
    const at = list.length ? this.breachAt % list.length : 0;
    box.replaceChildren(el("b", { text: `${t("wall.breaches")} ${fmtInt(list.length)}` }),
      ...[...list.slice(at), ...list.slice(0, at)].map((b) => el("span", { class: "breach-chip", "data-squad": b.squad_id, "data-indicator": b.indicator },
        `${this.ref.squads.has(b.squad_id) ? this.ref.squadShort(b.squad_id) : b.squad_name} ${this.rateName(b)} ${fmtRate(b.value)}（${threshold(b.threshold)}）`)));
  }

  rateName(b) {
    const key = "kpi." + b.indicator;
    return lang() === "en" && t(key) !== key ? t(key) : b.label;
  }

  // --- campaigns ---------------------------------------------------------------------------

  async loadCampaigns() {
    try {
      const body = await this.api.get("/api/v1/campaigns");
      const now = Date.now();
      this.campaigns = ((body && body.campaigns) || [])
        .filter((c) => Date.parse(c.starts_at) <= now && now < Date.parse(c.ends_at))
        .sort((a, b) => Date.parse(a.ends_at) - Date.parse(b.ends_at));
    } catch (err) {
      console.warn("campaigns:", err.message);
      return;
    }
    await this.loadProgress();
    this.loaded.campaigns = true;
    this.renderCampaign();
  }

  async loadProgress() {
    const found = await Promise.all(this.campaigns.map((c) =>
      this.api.get(`/api/v1/campaigns/${encodeURIComponent(c.id)}/progress`).catch(() => null)));
    this.progress = new Map(this.campaigns.map((c, i) => [c.id, found[i]]));
    this.renderCampaign();
  }

  rotate() {
    if (this.breaches.length > 1) {
      this.breachAt = (this.breachAt + 1) % this.breaches.length;
      this.renderBreaches();
    }
    if (this.campaigns.length < 2) return;
    this.campaignAt = (this.campaignAt + 1) % this.campaigns.length;
    this.renderCampaign();
  }

  renderCampaign() {
    const box = $("#wall-campaigns");
    if (!box || !this.loaded.campaigns) return;
    const n = this.campaigns.length;
    $("#wall-camp-count").textContent = n > 1 ? `${(this.campaignAt % n) + 1}/${n}` : "";
    if (!n) {
      box.replaceChildren(el("p", { class: "empty", text: t("wall.camp.empty") }));
      return;
    }
    const c = this.campaigns[this.campaignAt % n];
    const p = this.progress.get(c.id);
    const targets = Object.entries((p && p.targets) || {}).map(([name, g]) =>
      el("div", { class: "target" },
        el("span", { text: t("wall.target." + name) }),
        el("span", { class: "bar" }, el("i", { style: `width:${Math.min(100, Math.round((g.share || 0) * 100))}%` })),
        el("b", { text: `${fmtInt(g.reached)}/${fmtInt(g.target)}` })));
    const squads = ((p && p.squads) || [])
      .filter((r) => r.squad_id)
      .sort((a, b) => (b.planned + b.incidents) - (a.planned + a.incidents) || String(a.name).localeCompare(String(b.name)));
    const rows = squads.slice(0, CAMPAIGN_ROWS).map((r) =>
      el("tr", { "data-squad": r.squad_id },
        el("td", { text: this.ref.squads.has(r.squad_id) ? this.ref.squadShort(r.squad_id) : r.name }),
        el("td", { text: `${fmtInt(r.done)}/${fmtInt(r.planned)}` }),
        el("td", { text: `${fmtInt(r.incidents_closed)}/${fmtInt(r.incidents)}` })));
    const first = el("th", { text: t("wall.camp.squad") });
    box.replaceChildren(el("div", { class: "camp", "data-campaign": c.id },
      el("div", { class: "camp-head" },
        el("b", { class: "camp-name", text: c.name }),
        el("time", { text: `${fmt(c.starts_at, "day")}–${fmt(c.ends_at, "day")}` })),
      targets.length ? el("div", { class: "targets" }, targets) : null,
      el("table", { class: "camp-squads" },
        el("thead", {}, el("tr", {}, first, el("th", { text: t("wall.camp.inspections") }), el("th", { text: t("wall.camp.incidents") }))),
        el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: "3", class: "empty", text: t("nodata") }))]))));
    // as many squads as the panel holds, the busiest first; the header counts them all
    while (rows.length > 1 && box.scrollHeight > box.clientHeight + 1) rows.pop().remove();
    if (rows.length < squads.length) first.textContent = fill("wall.camp.squads", squads.length);
  }

  // --- on-duty strength --------------------------------------------------------------------

  async loadDuty() {
    try {
      this.duty = await this.api.get("/api/v1/duty/now");
      this.loaded.duty = true;
    } catch (err) {
      console.warn("duty:", err.message);
    }
    this.renderDuty();
  }

  /** The street a squad answers for, by the squad's short name (南京东路街道中队 → 南京东路街道). */
  streetName(id) {
    return this.ref.squadShort(id).replace(/街道中队$/, "街道");
  }

  renderDuty() {
    const box = $("#duty-streets");
    if (!box || !this.duty) return;
    const rows = this.duty.squads || [];
    const parents = new Set(rows.map((r) => r.parent_id).filter(Boolean));
    const kind = (id) => (this.ref.squads.get(id) || {}).kind;
    // the streets: squads with none below them; specialist brigades only while on duty
    const streets = rows.filter((r) => !parents.has(r.squad_id) && kind(r.squad_id) !== "centre"
      && (kind(r.squad_id) !== "specialist" || r.on_duty > 0));
    const groups = new Map();
    for (const r of streets) {
      const key = r.parent_id && rows.some((p) => p.squad_id === r.parent_id && kind(p.squad_id) !== "centre") ? r.parent_id : "";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    const byId = new Map(rows.map((r) => [r.squad_id, r]));
    const total = this.duty.total || { on_duty: 0, checked_in: 0 };
    $("#duty-total").textContent = fill("wall.duty.total", total.on_duty, total.checked_in);
    const cell = (r, cls) => el("li", { class: cls + (r.on_duty ? "" : " none"), "data-squad": r.squad_id },
      el("span", { class: "name", text: cls === "tier" ? this.ref.squadShort(r.squad_id) : this.streetName(r.squad_id) }),
      el("b", { text: fmtInt(cls === "tier" ? r.tier.on_duty : r.on_duty) }),
      el("small", { text: `${t("wall.duty.in")} ${fmtInt(cls === "tier" ? r.tier.checked_in : r.checked_in)}` }));
    const columns = [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([parent, list]) =>
      el("ul", { class: "duty-group" },
        parent && byId.has(parent) ? cell(byId.get(parent), "tier") : null,
        list.sort((a, b) => this.streetName(a.squad_id).localeCompare(this.streetName(b.squad_id), "zh-CN")).map((r) => cell(r, "street"))));
    box.replaceChildren(...columns);
  }
}

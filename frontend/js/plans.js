// Inspection plans and campaigns on the desk (双随机一公开, 综合查一次, 专项整治; docs/API.md
// §13): a tab of its own listing the plans, newest first; a draft is drawn from here (with a
// seed typed in, or a fresh random one the server records), a drawn plan shows its seed, its
// tasks' progress and the visits 综合查一次 saved, and offers the published export (CSV or
// JSON, no phone numbers). Below, each campaign's progress against its targets. Self-contained:
// it adds its tab and view once the desk has signed in (window.__desk) and uses the desk's Api.

import { addWords, fmt, lang, t } from "./i18n.js";
import { el, toast } from "./views.js";

addWords({
  "jh.title": ["检查计划", "Inspection plans"],
  "jh.none": ["暂无检查计划", "No plans"],
  "jh.draft": ["待抽取", "Draft"],
  "jh.drawn": ["已抽取", "Drawn"],
  "jh.sample": ["抽取数", "Sample"],
  "jh.seed": ["随机种子", "Seed"],
  "jh.seed_hint": ["留空则由系统随机生成并公示", "Empty: a random seed, recorded and published"],
  "jh.draw": ["双随机抽取", "Draw"],
  "jh.tasks": ["检查任务", "Tasks"],
  "jh.done": ["已完成", "done"],
  "jh.saved": ["综合查一次减少检查", "Visits saved"],
  "jh.export": ["公示导出", "Publish"],
  "jh.campaigns": ["专项整治", "Campaigns"],
  "jh.target": ["目标", "Target"],
});

const $ = (sel) => document.querySelector(sel);
const TARGETS = { inspections: ["检查数", "Inspections"], places_inspected: ["检查对象数", "Places"], incidents_closed: ["结案数", "Cases closed"] };
const targetName = (name) => (TARGETS[name] ? TARGETS[name][lang() === "en" ? 1 : 0] : name);

class PlanBoard {
  constructor({ api, me, root, tab }) {
    // seeds typed but not yet drawn, by plan: a reload of the list (the tab opened again, a
    // live update) re-renders the rows and must not wipe what the operator typed
    Object.assign(this, { api, me, root, tab, plans: [], seeds: new Map() });
  }

  get mayDraw() { return ["admin", "operator"].includes(this.me.role); }

  async load() {
    try {
      const [plans, campaigns] = await Promise.all([
        this.api.get("/api/v1/inspection-plans"),
        this.api.get("/api/v1/campaigns"),
      ]);
      this.plans = plans.plans || [];
      this.campaigns = campaigns.campaigns || [];
      this.progress = await Promise.all(this.campaigns.map((c) =>
        this.api.get(`/api/v1/campaigns/${encodeURIComponent(c.id)}/progress`).catch(() => null)));
    } catch (err) {
      toast(err.message, true);
      return;
    }
    this.tab.querySelector("b").textContent = String(this.plans.filter((p) => p.state === "draft").length || "");
    this.render();
  }

  render() {
    const rows = this.plans.map((plan) => this.row(plan));
    const campaigns = (this.campaigns || []).map((c, i) => this.campaign(c, this.progress[i]));
    const parts = [
      el("h2", { text: t("jh.title") }),
      rows.length ? el("ol", { class: "jh-list" }, rows) : el("p", { class: "jh-none", text: t("jh.none") }),
    ];
    if (campaigns.length) parts.push(el("h2", { text: t("jh.campaigns") }), el("ol", { class: "jh-list" }, campaigns));
    this.root.replaceChildren(...parts);
  }

  row(plan) {
    const drawn = plan.state === "drawn";
    const facts = [
      `${t("jh.sample")} ${plan.sample_size}`,
      `${fmt(plan.starts_at)} – ${fmt(plan.ends_at)}`,
    ];
    const item = el("li", { class: "jh-plan", "data-plan": plan.id, "data-state": plan.state },
      el("div", { class: "jh-head" },
        el("b", { text: plan.name }),
        el("span", { class: `jh-state ${plan.state}`, text: t(drawn ? "jh.drawn" : "jh.draft") })),
      el("div", { class: "jh-facts", text: `${plan.id} · ${plan.tier_name || plan.tier_id} · ${facts.join(" · ")}` }));
    if (drawn) {
      const d = plan.draw || {};
      item.append(el("div", { class: "jh-facts" },
        el("span", { text: `${t("jh.seed")}: ` }), el("code", { class: "jh-seed", text: plan.seed }),
        el("span", { text: ` · ${t("jh.tasks")} ${(d.result || []).length} · ${t("jh.saved")} ${d.visits_saved ?? 0}` })),
      el("div", { class: "jh-actions" },
        el("button", { type: "button", text: `${t("jh.export")} CSV`, onclick: () => this.download(plan, "csv") }),
        el("button", { type: "button", text: `${t("jh.export")} JSON`, onclick: () => this.download(plan, "json") })));
    } else if (this.mayDraw) {
      const seed = el("input", { type: "text", class: "jh-seed-in", placeholder: t("jh.seed_hint"), maxlength: "128" });
      seed.value = this.seeds.get(plan.id) || "";
      seed.addEventListener("input", () => this.seeds.set(plan.id, seed.value));
      item.append(el("form", { class: "jh-actions", onsubmit: (e) => { e.preventDefault(); this.draw(plan, seed.value.trim(), e.currentTarget); } },
        seed, el("button", { type: "submit", class: "primary jh-draw", text: t("jh.draw") })));
    }
    return item;
  }

  campaign(c, progress) {
    const targets = progress ? Object.entries(progress.targets || {}) : [];
    return el("li", { class: "jh-campaign", "data-campaign": c.id },
      el("div", { class: "jh-head" }, el("b", { text: c.name }), el("span", { text: `${fmt(c.starts_at)} – ${fmt(c.ends_at)}` })),
      el("div", { class: "jh-facts" }, targets.map(([name, v]) =>
        el("span", { class: "jh-target", "data-target": name, text: `${targetName(name)} ${v.reached}/${v.target}${v.share === null ? "" : ` (${Math.round(v.share * 100)}%)`}` }))));
  }

  async draw(plan, seed, form) {
    form.querySelector("button").disabled = true;
    try {
      await this.api.post(`/api/v1/inspection-plans/${encodeURIComponent(plan.id)}/draw`, seed ? { seed } : {});
      this.seeds.delete(plan.id);
      await this.load();
    } catch (err) {
      toast(err.message, true);
      form.querySelector("button").disabled = false;
    }
  }

  async download(plan, format) {
    try {
      const resp = await this.api.request("GET", `/api/v1/inspection-plans/${encodeURIComponent(plan.id)}/export?format=${format}`, undefined, { raw: true });
      const url = URL.createObjectURL(await resp.blob());
      const a = el("a", { href: url, download: `${plan.id}.${format}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      toast(err.message, true);
    }
  }
}

/** Add the tab and the view once the desk has signed in. */
function mount() {
  const desk = window.__desk;
  if (!desk || !desk.state || !desk.state.me) { setTimeout(mount, 200); return; }
  const { api, me } = desk.state;
  if (!["admin", "operator", "auditor"].includes(me.role)) return;
  document.head.append(el("link", { rel: "stylesheet", href: "/static/css/plans.css" }));
  const tab = el("button", { type: "button", role: "tab", "data-view": "plans", "aria-selected": "false" },
    el("span", { text: t("jh.title") }), " ", el("b", { class: "n-sup" }));
  $("#desk-views").append(tab);
  const root = el("section", { class: "desk-view jh-view", id: "jh-view", "aria-label": t("jh.title"), hidden: true });
  $("#people-view").after(root);
  const board = new PlanBoard({ api, me, root, tab });
  // one listener on the tab bar: any other tab hides this view; this tab hides every other view
  $("#desk-views").addEventListener("click", (e) => {
    const button = e.target.closest("[data-view]");
    if (!button) return;
    const mine = button === tab;
    root.hidden = !mine;
    if (!mine) return;
    document.querySelectorAll("#main, .desk-view").forEach((v) => { if (v !== root) v.hidden = true; });
    document.querySelectorAll("#desk-views [data-view]").forEach((o) => o.setAttribute("aria-selected", String(o === tab)));
    board.load();
  });
  board.load();
  window.__plans = board;
}

mount();

// Supervision items (督办单, docs/API.md §12): the queue, colour-coded (三色: 绿色, 黄色预警,
// 红色超期), one item's text, covered incidents, replies and steps, and what the signed-in
// person may do with it: open one (operator, admin), reply with a photo (the tier's holder, or
// the centre), review it (accept, or return with a reason) and close it (operator, admin).
// The desk, the squad's phone and the leader's page draw it; names, never ids or role codes.

import { ApiError } from "./api.js";
import { addWords, fmt, fmtRate, lang, shanghaiDay, t } from "./i18n.js";
import { changesAll } from "./session.js";
import { actorName, el, photos, toast } from "./views.js";

addWords({
  "sup.title": ["督办", "Supervision"],
  "sup.new": ["新建督办", "New item"],
  "sup.kind": ["督办类型", "Kind"],
  "sup.id": ["督办编号", "Item"],
  "sup.doc_no": ["文号", "Document no."],
  "sup.doc_title": ["标题", "Title"],
  "sup.text": ["督办内容", "Text"],
  "sup.tier": ["承办单位", "Answering tier"],
  "sup.incidents": ["涉及案卷", "Incidents"],
  "sup.incidents_hint": ["案卷编号，以逗号分隔（可不填）", "incident ids, comma-separated (optional)"],
  "sup.deadline": ["办理时限", "Deadline"],
  "sup.deadline_hint": ["不填则按督办类型的默认工作日", "empty: the kind's working days"],
  "sup.state": ["状态", "State"],
  "sup.colour": ["预警", "Warning"],
  "sup.all": ["全部", "All"],
  "sup.running": ["待答复/退回", "Reply owed"],
  "sup.replies": ["答复", "Replies"],
  "sup.steps": ["办理过程", "Steps"],
  "sup.reply": ["答复", "Reply"],
  "sup.reply_text": ["答复内容", "Reply"],
  "sup.attach": ["附件照片", "Photos"],
  "sup.accept": ["审核通过", "Accept"],
  "sup.return": ["退回重办", "Return"],
  "sup.reason": ["退回理由", "Reason"],
  "sup.close": ["办结", "Close"],
  "sup.note": ["办结说明", "Note"],
  "sup.empty": ["暂无督办件", "No items"],
  "sup.pick": ["选择一件督办查看", "Pick an item"],
  "sup.opened": ["立项", "Opened"],
  "sup.escalated": ["已升级至", "Escalated to"],
  "sup.round": ["第 {n} 次答复", "Reply {n}"],
  "sup.reviewed": ["审核", "Review"],
  "sup.verdict.accepted": ["通过", "accepted"],
  "sup.verdict.returned": ["退回", "returned"],
  "sup.back": ["返回", "Back"],
  "sup.count": ["督办", "Supervision"],
  "sup.breaches": ["本月指标预警", "This month's threshold breaches"],
  "sup.target": ["目标", "target"],
});

/** The kinds, states and colours in both languages (the server's label is zh-CN). */
export const KINDS = {
  leader_instruction: ["领导批示", "Leader's instruction"],
  media: ["媒体曝光", "Media exposure"],
  environmental_inspection: ["环保督察", "Environmental inspection"],
  petition: ["信访", "Petition"],
  deputies_proposal: ["人大建议/政协提案", "Deputies' proposal"],
  assigned_by_superior: ["上级交办", "Assigned from above"],
  internal: ["内部督办", "Internal"],
};
const ITEM_STATES = {
  open: ["待答复", "Reply owed"],
  replied: ["已答复待审核", "Replied, to review"],
  returned: ["退回重办", "Returned"],
  accepted: ["审核通过", "Accepted"],
  closed: ["已办结", "Closed"],
};
const COLOURS = { green: ["绿色", "Green"], yellow: ["黄色预警", "Yellow: warning"], red: ["红色超期", "Red: overdue"] };
const words = (table, code, fallback) => (table[code] ? table[code][lang() === "en" ? 1 : 0] : fallback || code || "—");

/** A tier as the item names it ({id, name, tier}), or the directory's name of the id. */
function tierText(tier, id, ref) {
  if (tier && tier.name) return tier.tier ? `${tier.name}（${tier.tier}）` : tier.name;
  return ref.tierLabel(id);
}

const shanghaiMonth = () => shanghaiDay().slice(0, 7);

/** A datetime-local value (Asia/Shanghai wall time) as RFC 3339 with +08:00, or null. */
function shanghaiInstant(value) {
  if (!value) return null;
  return `${value.length === 16 ? value + ":00" : value}+08:00`;
}

export class SupervisionBoard {
  /**
   * @param {object} o
   * @param {import("./api.js").Api} o.api
   * @param {object} o.me GET /api/v1/session's answer
   * @param {import("./incidents.js").Reference} o.ref names of squads and people
   * @param {HTMLElement} o.root where the board is drawn
   * @param {boolean} [o.compact] the phone: no filters, the item in place of the list
   * @param {string|null} [o.tier] only this tier's items (the leader's page)
   * @param {(id: string) => void} [o.onIncident] open a covered incident
   * @param {() => void} [o.onChange] the list changed (counts)
   * @param {boolean} [o.breaches] show this month's threshold breaches above the queue
   */
  constructor(o) {
    Object.assign(this, { compact: false, tier: null, onIncident: null, onChange: null, breaches: false }, o);
    this.breachList = [];
    this.items = new Map();
    this.selected = null;
    this.detail = null;
    this.filters = { state: "", colour: "", tier: "" };
    this.loaded = false;
    this.build();
  }

  mayChange() { return changesAll(this.me); }
  mayReply(item) {
    if (!["open", "returned"].includes(item.state)) return false;
    return this.mayChange() || (this.me.role === "squad" && (this.me.scope || []).includes(item.tier_id));
  }

  build() {
    const filter = (name, options) => el("label", {}, el("span", { text: t(`sup.${name}`) }),
      el("select", { "data-filter": name, onchange: (e) => { this.filters[name] = e.target.value; this.load(); } },
        ...options.map(([value, text]) => el("option", { value, text }))));
    this.bar = el("div", { class: "sup-bar" });
    if (!this.compact) {
      const tiers = [...this.ref.squads.values()].filter((s) => !this.tier || s.id === this.tier)
        .map((s) => [s.id, this.ref.tierLabel(s.id)]);
      this.bar.append(...[
        filter("state", [["", t("sup.all")], ["open,returned", t("sup.running")], ...Object.keys(ITEM_STATES).map((k) => [k, words(ITEM_STATES, k)])]),
        filter("colour", [["", t("sup.all")], ...Object.keys(COLOURS).map((k) => [k, words(COLOURS, k)])]),
        this.tier ? null : filter("tier", [["", t("sup.all")], ...tiers]),
        this.mayChange() ? el("button", { type: "button", class: "primary", id: "sup-new", text: t("sup.new"), onclick: () => this.openNew() }) : null,
      ].filter(Boolean));
    }
    this.warnings = el("div", { class: "sup-breaches", role: "status", hidden: true });
    this.list = el("ol", { class: "sup-list", "aria-label": t("sup.title") });
    this.pane = el("section", { class: "sup-detail", "aria-live": "polite" });
    this.root.replaceChildren(this.bar, this.warnings, el("div", { class: "sup-body" + (this.compact ? " compact" : "") }, this.list, this.pane));
    this.renderDetail();
  }

  query() {
    const q = new URLSearchParams({ limit: "500" });
    if (this.filters.state) q.set("state", this.filters.state);
    if (this.filters.colour) q.set("colour", this.filters.colour);
    const tier = this.tier || this.filters.tier;
    if (tier) q.set("tier", tier);
    return q;
  }

  /** The thresholds this month's figures breach (docs/API.md §7), as warnings over the queue. */
  async loadBreaches() {
    if (!this.breaches) return;
    try {
      const body = await this.api.get(`/api/v1/thresholds/breaches?period=${shanghaiMonth()}`);
      this.breachList = (body && body.breaches) || [];
    } catch {
      this.breachList = [];
    }
    this.renderBreaches();
  }

  renderBreaches() {
    const list = this.breachList;
    this.warnings.hidden = !list.length;
    this.warnings.replaceChildren(...[el("b", { text: `${t("sup.breaches")}（${list.length}）` }),
      ...list.slice(0, 12).map((b) => el("span", { class: "sup-breach", "data-indicator": b.indicator, "data-squad": b.squad_id },
        `${b.squad_name || this.ref.squadName(b.squad_id)} · ${b.label} ${fmtRate(b.value)}（${t("sup.target")} ${b.threshold ? b.threshold.text : ""}）`)),
      list.length > 12 ? el("span", { text: "…" }) : null].filter(Boolean));
  }

  async load() {
    this.loadBreaches();
    try {
      const body = await this.api.get(`/api/v1/supervision-items?${this.query()}`);
      this.items = new Map(((body && body.items) || []).map((i) => [i.id, i]));
      this.loaded = true;
      this.renderList();
      if (this.selected) this.refresh(this.selected);
    } catch (err) {
      toast(`${t("sup.title")}: ${err.message}`, true);
    }
  }

  /** A step arrived on /ws (its `item`): keep it when it passes the filters. */
  onItem(item) {
    if (!item || !item.id) return;
    const known = this.items.get(item.id);
    if (known && Number(known.version || 0) > Number(item.version || 0)) return;
    if (this.passes(item)) this.items.set(item.id, { ...(known || {}), ...item });
    else this.items.delete(item.id);
    this.renderList();
    if (this.selected === item.id) this.refresh(item.id);
  }

  passes(item) {
    const { state, colour } = this.filters;
    if (state && !state.split(",").includes(item.state)) return false;
    if (colour && item.colour !== colour) return false;
    const tier = this.tier || this.filters.tier;
    if (tier && item.tier_id !== tier && !(this.ref.squads.get(item.tier_id) && this.under(item.tier_id, tier))) return false;
    return true;
  }

  under(id, top) {
    for (let s = this.ref.squads.get(id), n = 0; s && n < 10; s = this.ref.squads.get(s.parent_id), n += 1) {
      if (s.id === top) return true;
    }
    return false;
  }

  sorted() {
    const rank = { open: 0, returned: 0, replied: 1, accepted: 2, closed: 3 };
    return [...this.items.values()].sort((a, b) => (rank[a.state] ?? 4) - (rank[b.state] ?? 4)
      || Date.parse(a.deadline || 0) - Date.parse(b.deadline || 0));
  }

  counts() {
    const out = { all: 0, owed: 0, green: 0, yellow: 0, red: 0 };
    for (const i of this.items.values()) {
      out.all += 1;
      if (["open", "returned"].includes(i.state)) { out.owed += 1; out[i.colour] = (out[i.colour] || 0) + 1; }
    }
    return out;
  }

  renderList() {
    const items = this.sorted();
    this.list.replaceChildren(...items.map((i) => el("li", {
      class: `sup-item c-${i.colour}`, "data-id": i.id, "data-colour": i.colour, "data-state": i.state,
      "aria-selected": String(i.id === this.selected), tabindex: "0",
      onclick: () => this.select(i.id), onkeydown: (e) => { if (e.key === "Enter") this.select(i.id); },
    },
    el("span", { class: `sup-colour ${i.colour}`, text: words(COLOURS, i.colour, i.colour_label) }),
    el("b", { class: "sup-kind", text: words(KINDS, i.kind, i.kind_label) }),
    el("span", { class: "sup-docno", text: i.doc_no || "" }),
    el("span", { class: "sup-state state-" + i.state, text: words(ITEM_STATES, i.state, i.state_label) }),
    el("span", { class: "sup-title", text: i.title || i.doc_text || "" }),
    el("span", { class: "sup-tier", text: tierText(i.tier, i.tier_id, this.ref) }),
    el("time", { class: "sup-deadline", datetime: i.deadline || "", text: `${t("sup.deadline")} ${fmt(i.deadline, "full")}` }))));
    if (!items.length) this.list.append(el("li", { class: "sup-empty", text: t("sup.empty") }));
    this.list.hidden = this.compact && Boolean(this.selected);
    if (this.onChange) this.onChange(this.counts());
  }

  async select(id) {
    this.selected = id;
    this.detail = null;
    this.renderList();
    this.renderDetail();
    await this.refresh(id);
  }

  back() {
    this.selected = null;
    this.detail = null;
    this.renderList();
    this.renderDetail();
  }

  async refresh(id) {
    try {
      const full = await this.api.get(`/api/v1/supervision-items/${encodeURIComponent(id)}`);
      if (this.selected !== id) return;
      this.detail = full;
      const known = this.items.get(id);
      if (known) this.items.set(id, { ...known, ...full });
      this.renderDetail();
    } catch (err) {
      toast(`${id}: ${err.message}`, true);
    }
  }

  renderDetail(form = null) {
    const i = this.detail || (this.selected && this.items.get(this.selected));
    if (!i) {
      this.pane.hidden = this.compact;
      this.pane.replaceChildren(el("p", { class: "detail-empty", text: t("sup.pick") }));
      return;
    }
    this.pane.hidden = false;
    const fact = (k, v) => [el("dt", { text: t(k) }), el("dd", {}, v ?? "—")];
    const opener = i.opened_by ? (i.opened_by.name || actorName(i.opened_by, this.ref)) : "—";
    const escalated = (i.escalated || []).map((e) => tierText(e, e.id, this.ref)).join("、");
    this.pane.replaceChildren(...[
      this.compact ? el("button", { type: "button", class: "sup-back", onclick: () => this.back(), text: "‹ " + t("sup.back") }) : null,
      el("div", { class: "sup-head" },
        el("span", { class: `sup-colour big ${i.colour}`, text: words(COLOURS, i.colour, i.colour_label) }),
        el("h2", { text: `${words(KINDS, i.kind, i.kind_label)} · ${i.doc_no || i.id}` }),
        el("span", { class: "sup-state state-" + i.state, text: words(ITEM_STATES, i.state, i.state_label) })),
      i.title ? el("h3", { class: "sup-doc-title", text: i.title }) : null,
      el("p", { class: "sup-text", text: i.doc_text || "" }),
      el("dl", { class: "facts sup-facts" },
        fact("sup.id", i.id),
        fact("sup.tier", tierText(i.tier, i.tier_id, this.ref)),
        fact("sup.deadline", fmt(i.deadline, "full")),
        fact("sup.opened", `${opener} · ${fmt(i.opened_at, "full")}`),
        escalated ? fact("sup.escalated", escalated) : null,
        fact("sup.incidents", (i.incident_ids || []).length ? el("span", { class: "sup-incidents" }, ...(i.incident_ids || []).map((id) => this.onIncident
          ? el("button", { type: "button", class: "link", text: id, onclick: () => this.onIncident(id) }) : el("span", { class: "inc-id", text: id + " " }))) : t("none"))),
      el("div", { class: "sup-actions" }, ...this.actions(i)),
      form ? this.form(form, i) : null,
      el("h3", { text: t("sup.replies") }),
      this.replies(i),
      el("h3", { text: t("sup.steps") }),
      this.steps(i),
    ].filter(Boolean));
    if (form) { const f = this.pane.querySelector(".sup-form textarea"); if (f) f.focus(); }
  }

  actions(i) {
    const btn = (id, label, fn, primary = false) => el("button", { type: "button", "data-sup-act": id, class: primary ? "primary" : null, text: t(label), onclick: fn });
    const out = [];
    if (this.mayReply(i)) out.push(btn("reply", "sup.reply", () => this.renderDetail("reply"), true));
    if (this.mayChange() && i.state === "replied") {
      out.push(btn("accept", "sup.accept", () => this.send(i, "review", { accepted: true }, "sup.accept"), true));
      out.push(btn("return", "sup.return", () => this.renderDetail("return")));
    }
    if (this.mayChange() && i.state === "accepted") out.push(btn("close", "sup.close", () => this.renderDetail("close"), true));
    return out;
  }

  form(kind, i) {
    const area = el("textarea", { rows: "4", name: kind, required: kind !== "close" ? true : null });
    const label = { reply: "sup.reply_text", return: "sup.reason", close: "sup.note" }[kind];
    const files = el("input", { type: "file", name: "photo", accept: "image/jpeg,image/png,image/webp", multiple: true });
    const error = el("p", { class: "form-error", hidden: true });
    const form = el("form", { class: "form sup-form", "data-form": kind },
      el("label", {}, el("span", { text: t(label) }), area),
      kind === "reply" ? el("label", {}, el("span", { text: t("sup.attach") }), files) : null,
      error,
      el("div", { class: "row" },
        el("button", { type: "button", onclick: () => this.renderDetail(), text: t("dlg.cancel") }),
        el("button", { type: "submit", class: "primary", text: t({ reply: "sup.reply", return: "sup.return", close: "sup.close" }[kind]) })));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = area.value.trim();
      if (!text && kind !== "close") { error.hidden = false; error.textContent = "…?"; return; }
      form.querySelector("button[type=submit]").disabled = true;
      if (kind === "reply") {
        const attachments = [];
        try {
          for (const file of files.files) {
            const up = await this.api.request("POST", `/api/v1/supervision-items/${encodeURIComponent(i.id)}/attachments`, file);
            attachments.push(up.url);
          }
        } catch (err) {
          error.hidden = false; error.textContent = `${t("failed")}: ${err.message}`;
          form.querySelector("button[type=submit]").disabled = false;
          return;
        }
        await this.send(i, "reply", { text, ...(attachments.length ? { attachments } : {}) }, "sup.reply");
      } else if (kind === "return") {
        await this.send(i, "review", { accepted: false, reason: text }, "sup.return");
      } else {
        await this.send(i, "close", text ? { note: text } : {}, "sup.close");
      }
    });
    return form;
  }

  async send(i, step, body, label) {
    try {
      const item = await this.api.post(`/api/v1/supervision-items/${encodeURIComponent(i.id)}/${step}`, body);
      toast(`${t(label)} · ${i.doc_no || i.id} · ${t("done")}`);
      this.detail = null;
      this.onItem(item);
      await this.refresh(i.id);
    } catch (err) {
      toast(`${t(label)} · ${t("failed")}: ${err instanceof ApiError ? err.message : err}`, true);
      this.renderDetail();
    }
  }

  replies(i) {
    const list = el("ol", { class: "sup-replies" });
    for (const r of i.replies || []) {
      list.append(el("li", { class: "sup-reply" + (r.verdict ? " " + r.verdict : "") },
        el("div", { class: "sup-reply-head" },
          el("b", { text: t("sup.round").replace("{n}", r.round) }),
          el("span", { class: "who", text: r.replied_by_name || actorName({ actor: r.replied_by }, this.ref) }),
          el("time", { datetime: r.replied_at, text: fmt(r.replied_at, "full") })),
        el("p", { text: r.text }),
        (r.attachments || []).length ? photos(r.attachments, this.api) : null,
        r.verdict ? el("p", { class: "sup-verdict " + r.verdict },
          `${t("sup.reviewed")}：${t("sup.verdict." + r.verdict)} · ${r.reviewed_by_name || actorName({ actor: r.reviewed_by }, this.ref)}`,
          r.reason ? ` · ${r.reason}` : "", r.reviewed_at ? ` · ${fmt(r.reviewed_at, "full")}` : "") : null));
    }
    if (!list.children.length) list.append(el("li", { class: "small", text: t("none") }));
    return list;
  }

  steps(i) {
    const list = el("ol", { class: "history sup-steps" });
    for (const s of i.steps || []) {
      const d = s.detail || {};
      const why = [d.reason, d.text, d.note].filter(Boolean).join(" · ");
      list.append(el("li", {},
        el("time", { datetime: s.at, text: fmt(s.at, "full") }),
        el("b", { text: s.label || d.label || s.type }),
        el("span", { class: "who", text: actorName(s, this.ref) }),
        why ? el("span", { class: "why", text: why }) : null));
    }
    if (!list.children.length) list.append(el("li", { text: "…" }));
    return list;
  }

  /** The new item's dialog (operator, admin): kind, 文号, text, tier, incidents, deadline. */
  openNew(prefill = {}) {
    let dlg = document.getElementById("sup-dlg");
    if (dlg) dlg.remove();
    const tiers = [...this.ref.squads.values()].map((s) => el("option", { value: s.id, text: this.ref.tierLabel(s.id) }));
    const error = el("p", { class: "dlg-error", hidden: true });
    const f = {
      kind: el("select", { name: "kind" }, ...Object.keys(KINDS).map((k) => el("option", { value: k, text: words(KINDS, k) }))),
      doc_no: el("input", { name: "doc_no", type: "text", autocomplete: "off" }),
      title: el("input", { name: "title", type: "text", autocomplete: "off" }),
      doc_text: el("textarea", { name: "doc_text", rows: "4", required: true }),
      tier_id: el("select", { name: "tier_id", required: true }, el("option", { value: "", text: "—" }), ...tiers),
      incident_ids: el("input", { name: "incident_ids", type: "text", autocomplete: "off", placeholder: t("sup.incidents_hint"), value: prefill.incident_ids || "" }),
      deadline: el("input", { name: "deadline", type: "datetime-local" }),
    };
    if (prefill.tier_id) f.tier_id.value = prefill.tier_id;
    const row = (k, node, hint) => el("label", {}, el("span", { text: t(k) }), node, hint ? el("small", { text: t(hint) }) : null);
    const form = el("form", { method: "dialog", class: "sup-new" },
      el("h3", { text: t("sup.new") }),
      row("sup.kind", f.kind), row("sup.doc_no", f.doc_no), row("sup.doc_title", f.title), row("sup.text", f.doc_text),
      row("sup.tier", f.tier_id), row("sup.incidents", f.incident_ids), row("sup.deadline", f.deadline, "sup.deadline_hint"),
      error,
      el("div", { class: "dlg-buttons" },
        el("button", { type: "button", text: t("dlg.cancel"), onclick: () => dlg.close() }),
        el("button", { type: "submit", class: "primary", text: t("dlg.ok") })));
    dlg = el("dialog", { id: "sup-dlg", class: "sup-dlg" }, form);
    document.body.append(dlg);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { kind: f.kind.value, doc_text: f.doc_text.value.trim(), tier_id: f.tier_id.value };
      if (!body.doc_text || !body.tier_id) { error.hidden = false; error.textContent = "…?"; return; }
      if (f.doc_no.value.trim()) body.doc_no = f.doc_no.value.trim();
      if (f.title.value.trim()) body.title = f.title.value.trim();
      const ids = f.incident_ids.value.split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
      if (ids.length) body.incident_ids = ids;
      const deadline = shanghaiInstant(f.deadline.value);
      if (deadline) body.deadline = deadline;
      try {
        const item = await this.api.post("/api/v1/supervision-items", body);
        dlg.close();
        toast(`${t("sup.new")} · ${item.doc_no || item.id} · ${t("done")}`);
        this.onItem(item);
        this.select(item.id);
      } catch (err) {
        error.hidden = false;
        error.textContent = `${t("failed")}: ${err.message}${err.field ? ` (${err.field})` : ""}`;
      }
    });
    dlg.showModal();
    f.doc_text.focus();
  }
}

// Enforcement cases (行政处罚案件, docs/API.md §14) on the desk: a tab of its own with the
// cases, the overdue first (三色: 绿色, 黄色预警, 红色超期; 立案超期 and 结案超期 counted on the
// tab), one case's party, officers, clocks, steps and documents (each with its SHA-256), and
// its next step with its day, note and files for whoever may take it. Self-contained: it adds
// its tab and view to the desk once the desk has signed in (window.__desk), and uses the
// desk's session (its Api carries the CSRF token).

import { addWords, fmt, lang, t } from "./i18n.js";
import { el, toast } from "./views.js";

addWords({
  "aj.title": ["处罚案件", "Penalty cases"],
  "aj.empty": ["暂无案件", "No cases"],
  "aj.pick": ["选择一件案件查看", "Pick a case"],
  "aj.party": ["当事人", "Party"],
  "aj.officers": ["承办人员", "Officers"],
  "aj.clocks": ["办案时限", "Limits"],
  "aj.steps": ["办案过程", "Steps"],
  "aj.documents": ["证据材料", "Documents"],
  "aj.next": ["下一步", "Next step"],
  "aj.date": ["日期", "Date"],
  "aj.note": ["说明", "Note"],
  "aj.files": ["上传材料（照片、PDF、执法记录仪音视频）", "Files (photos, PDF, recorder audio/video)"],
  "aj.fine": ["罚款（元）", "Fine (yuan)"],
  "aj.waived": ["当事人放弃陈述申辩", "Party waived its statement"],
  "aj.submit": ["提交", "Submit"],
  "aj.deadline": ["期限", "Deadline"],
  "aj.late": ["超期", "late"],
});

const STEPS = {
  file: ["立案", "File"],
  investigate: ["调查取证", "Investigate"],
  notify: ["告知", "Notify"],
  decide: ["决定", "Decide"],
  serve: ["送达", "Serve"],
  execute: ["执行", "Execute"],
  close: ["结案", "Close"],
  correct: ["补正", "Correct"],
  extend: ["延期", "Extend"],
};
const pick = (table, code) => (table[code] ? table[code][lang() === "en" ? 1 : 0] : code);
const $ = (sel) => document.querySelector(sel);

class CaseBoard {
  constructor({ api, me, root, tab }) {
    Object.assign(this, { api, me, root, tab, cases: [], selected: null });
    this.list = el("ol", { class: "aj-list", "aria-label": t("aj.title") });
    this.detail = el("div", { class: "aj-detail" }, el("p", { class: "aj-empty", text: t("aj.pick") }));
    root.append(this.list, this.detail);
  }

  get mayAct() { return ["admin", "operator", "squad"].includes(this.me.role); }

  async load() {
    try {
      const body = await this.api.get("/api/v1/cases?limit=500");
      this.cases = body.cases || [];
      const n = this.tab.querySelector(".n-sup");
      const { red, yellow } = body.counts || {};
      n.textContent = red || yellow ? String((red || 0) + (yellow || 0)) : "";
      n.className = "n-sup" + (red ? " red" : yellow ? " yellow" : "");
      this.renderList();
      if (this.selected) await this.open(this.selected);
    } catch (err) {
      toast(`${t("aj.title")}: ${err.message}`, true);
    }
  }

  renderList() {
    this.list.replaceChildren(...(this.cases.length ? this.cases.map((c) => el("li", {
      class: `aj-row c-${c.colour}` + (c.id === this.selected ? " sel" : ""),
      tabindex: "0",
      onclick: () => this.open(c.id),
      onkeydown: (e) => { if (e.key === "Enter") this.open(c.id); },
    }, el("b", { text: c.number }), el("span", { text: c.title }),
      el("span", { class: "aj-state", text: c.state_label }),
      el("span", { class: `aj-colour c-${c.colour}`, text: c.colour_label }))) : [el("li", { class: "aj-empty", text: t("aj.empty") })]));
  }

  async open(id) {
    this.selected = id;
    this.renderList();
    try {
      this.render(await this.api.get(`/api/v1/cases/${encodeURIComponent(id)}`));
    } catch (err) {
      toast(err.message, true);
    }
  }

  render(c) {
    const p = c.party;
    const partyText = [p.name, p.kind_label, p.credit_code || p.id_number || p.place_id].filter(Boolean).join(" · ");
    const clocks = Object.values(c.clocks).map((k) => el("li", { class: `c-${k.colour}` },
      `${k.label} — ${t("aj.deadline")} ${fmt(k.deadline)}` + (k.late ? `（${t("aj.late")}）` : "")));
    const steps = c.steps.map((s) => el("li", {},
      `${fmt(s.at)} ${s.label || s.type} · ${s.actor_name || s.actor}` + (s.detail.note ? `：${s.detail.note}` : "")));
    const docs = c.documents.map((d) => el("li", {},
      el("a", { href: d.url, target: "_blank", rel: "noopener", text: d.name || d.file }),
      el("code", { class: "aj-sha", title: "SHA-256", text: d.sha256.slice(0, 16) + "…" })));
    this.detail.replaceChildren(
      el("h2", { text: `${c.number} ${c.title}` }),
      el("p", { text: `${c.procedure_label} · ${c.state_label} · ${c.source.label} ${c.source.ref}` }),
      el("h3", { text: t("aj.party") }), el("p", { text: partyText }),
      el("h3", { text: t("aj.officers") }), el("p", { text: c.officers.map((o) => `${o.name}（${o.badge_no}）`).join("、") }),
      el("h3", { text: t("aj.clocks") }), el("ul", {}, clocks),
      el("h3", { text: t("aj.steps") }), el("ol", { class: "aj-steps" }, steps),
      el("h3", { text: t("aj.documents") }), el("ul", { class: "aj-docs" }, docs),
      this.mayAct && c.next_steps.length ? this.form(c) : null,
    );
  }

  form(c) {
    const step = el("select", { name: "step" }, c.next_steps.map((s) => el("option", { value: s, text: pick(STEPS, s) })));
    const date = el("input", { type: "datetime-local", name: "date" });
    const note = el("textarea", { name: "note", rows: "2" });
    const files = el("input", { type: "file", multiple: true, accept: "image/*,application/pdf,video/*,audio/*" });
    const fine = el("input", { type: "number", min: "0", step: "0.01", name: "fine" });
    const waived = el("input", { type: "checkbox", name: "waived" });
    const submit = async (e) => {
      e.preventDefault();
      try {
        const documents = [];
        for (const file of files.files) {
          const up = await this.api.request("POST", `/api/v1/cases/${encodeURIComponent(c.id)}/documents?name=${encodeURIComponent(file.name)}`, file);
          documents.push(up.id);
        }
        const body = { step: step.value, note: note.value, documents };
        if (date.value) body.date = `${date.value.length === 16 ? date.value + ":00" : date.value}+08:00`;
        if (step.value === "decide") {
          if (fine.value) body.fine_yuan = Number(fine.value);
          body.waived = waived.checked;
        }
        await this.api.post(`/api/v1/cases/${encodeURIComponent(c.id)}/steps`, body);
        await this.load();
      } catch (err) {
        toast(err.message, true);
      }
    };
    return el("form", { class: "aj-form", onsubmit: submit },
      el("h3", { text: t("aj.next") }),
      el("label", {}, t("aj.next"), step),
      el("label", {}, t("aj.date"), date),
      el("label", {}, t("aj.note"), note),
      el("label", {}, t("aj.fine"), fine),
      el("label", { class: "aj-check" }, waived, t("aj.waived")),
      el("label", {}, t("aj.files"), files),
      el("button", { type: "submit", class: "primary", text: t("aj.submit") }));
  }
}

/** Add the tab and the view once the desk has signed in. */
function mount() {
  const desk = window.__desk;
  if (!desk || !desk.state || !desk.state.me) { setTimeout(mount, 200); return; }
  const { api, me } = desk.state;
  if (!["admin", "operator", "auditor", "squad"].includes(me.role)) return;
  const tab = el("button", { type: "button", role: "tab", "data-view": "enforcement", "aria-selected": "false" },
    el("span", { text: t("aj.title") }), " ", el("b", { class: "n-sup" }));
  $("#desk-views").append(tab);
  const root = el("section", { class: "desk-view aj-view", id: "aj-view", "aria-label": t("aj.title"), hidden: true });
  $("#people-view").after(root);
  const board = new CaseBoard({ api, me, root, tab });
  document.querySelectorAll("#desk-views [data-view]").forEach((b) => b.addEventListener("click", () => {
    const mine = b === tab;
    root.hidden = !mine;
    if (mine) {
      // the desk hides its own views for a view it does not know
      ["#main", "#sup-view", "#people-view"].forEach((s) => { $(s).hidden = true; });
      document.querySelectorAll("#desk-views [data-view]").forEach((o) => o.setAttribute("aria-selected", String(o === tab)));
      board.load();
    }
  }));
  board.load();
  window.__cases = board;
}

mount();

// People admin on the desk (admins; docs/API.md §2a): the list of people with their role and
// squad by name, a new person, re-assigning squad and role, disabling and enabling, and a new
// password. Disabling or re-assigning ends the person's sessions at once (the server does it).

import { ApiError } from "./api.js";
import { addWords, fmt, t } from "./i18n.js";
import { el, toast } from "./views.js";

addWords({
  "ppl.title": ["人员管理", "People"],
  "ppl.new": ["新建人员", "New person"],
  "ppl.login": ["登录名", "Sign-in name"],
  "ppl.name": ["姓名", "Name"],
  "ppl.role": ["角色", "Role"],
  "ppl.squad": ["所属中队/层级", "Squad / tier"],
  "ppl.badge": ["执法证号", "Law-enforcement ID"],
  "ppl.phone": ["电话", "Phone"],
  "ppl.password": ["密码", "Password"],
  "ppl.password_hint": ["至少8位，含字母和数字", "at least 8, letters and digits"],
  "ppl.state": ["状态", "State"],
  "ppl.active": ["在用", "active"],
  "ppl.disabled": ["已停用", "disabled"],
  "ppl.edit": ["调整", "Re-assign"],
  "ppl.disable": ["停用", "Disable"],
  "ppl.enable": ["启用", "Enable"],
  "ppl.reset": ["重置密码", "Reset password"],
  "ppl.new_password": ["新密码", "New password"],
  "ppl.created": ["创建时间", "Created"],
  "ppl.none": ["（无）", "(none)"],
  "ppl.saved": ["已保存", "Saved"],
});

/** The roles a person may have, as the server names them (ROLE_NAMES). */
export const ROLES = {
  admin: ["系统管理员", "Administrator"],
  operator: ["指挥中心值班员", "Duty operator"],
  squad: ["执法队员", "Squad officer"],
  auditor: ["督查审计", "Auditor"],
};

export class PeopleAdmin {
  /** @param {{api, me, ref, root: HTMLElement}} o */
  constructor(o) {
    Object.assign(this, o);
    this.people = [];
    this.loaded = false;
    this.table = el("tbody", { id: "people-rows" });
    this.root.replaceChildren(
      el("div", { class: "ppl-bar" },
        el("h2", { text: t("ppl.title") }),
        el("button", { type: "button", class: "primary", id: "ppl-new", text: t("ppl.new"), onclick: () => this.edit(null) })),
      el("table", { class: "people" },
        el("thead", {}, el("tr", {}, ...["ppl.name", "ppl.login", "ppl.role", "ppl.squad", "ppl.badge", "ppl.phone", "ppl.state", ""].map((k) => el("th", { text: k ? t(k) : "" })))),
        this.table));
  }

  async load() {
    try {
      const body = await this.api.get("/api/v1/people");
      this.people = (body && body.people) || [];
      this.loaded = true;
      this.render();
    } catch (err) {
      toast(`${t("ppl.title")}: ${err.message}`, true);
    }
  }

  render() {
    const sorted = [...this.people].sort((a, b) => Boolean(a.disabled_at) - Boolean(b.disabled_at) || a.login.localeCompare(b.login));
    this.table.replaceChildren(...sorted.map((p) => el("tr", { "data-login": p.login, class: p.disabled_at ? "disabled" : null },
      el("td", { class: "ppl-name", text: p.name }),
      el("td", { text: p.login }),
      el("td", { class: "ppl-role", text: p.role_name || ROLES[p.role]?.[0] || "—" }),
      el("td", { class: "ppl-squad", text: p.squad_id ? this.ref.tierLabel(p.squad_id) : t("ppl.none") }),
      el("td", { text: p.badge_no || "—" }),
      el("td", { text: p.phone || "—" }),
      el("td", { class: "ppl-state", title: p.disabled_at ? fmt(p.disabled_at, "full") : "", text: p.disabled_at ? t("ppl.disabled") : t("ppl.active") }),
      el("td", { class: "ppl-acts" },
        el("button", { type: "button", "data-ppl": "edit", text: t("ppl.edit"), onclick: () => this.edit(p) }),
        p.id === this.me.id ? null : el("button", { type: "button", "data-ppl": p.disabled_at ? "enable" : "disable", text: t(p.disabled_at ? "ppl.enable" : "ppl.disable"),
          onclick: () => this.patch(p, { disabled: !p.disabled_at }) }),
        el("button", { type: "button", "data-ppl": "reset", text: t("ppl.reset"), onclick: () => this.edit(p, true) })))));
  }

  async patch(p, body) {
    try {
      const updated = await this.api.patch(`/api/v1/people/${encodeURIComponent(p.id)}`, body);
      this.people = this.people.map((x) => (x.id === updated.id ? updated : x));
      this.render();
      toast(`${updated.name} · ${t("ppl.saved")}`);
      return true;
    } catch (err) {
      toast(`${p.name} · ${t("failed")}: ${err instanceof ApiError ? err.message : err}`, true);
      return false;
    }
  }

  /** The dialog: a new person (p null), re-assigning one, or only a new password. */
  edit(p, passwordOnly = false) {
    let dlg = document.getElementById("ppl-dlg");
    if (dlg) dlg.remove();
    const error = el("p", { class: "dlg-error", hidden: true });
    const squads = [...this.ref.squads.values()].map((s) => el("option", { value: s.id, text: this.ref.tierLabel(s.id) }));
    const f = {
      login: el("input", { name: "login", autocomplete: "off", required: true }),
      name: el("input", { name: "name", autocomplete: "off", required: true, value: p ? p.name : "" }),
      role: el("select", { name: "role" }, ...Object.entries(ROLES).map(([k, w]) => el("option", { value: k, text: w[0] }))),
      squad_id: el("select", { name: "squad_id" }, el("option", { value: "", text: t("ppl.none") }), ...squads),
      badge_no: el("input", { name: "badge_no", autocomplete: "off", value: p && p.badge_no ? p.badge_no : "" }),
      phone: el("input", { name: "phone", type: "tel", autocomplete: "off", value: p && p.phone ? p.phone : "" }),
      password: el("input", { name: "password", type: "password", autocomplete: "new-password", required: !p || passwordOnly ? true : null }),
    };
    if (p) { f.role.value = p.role; f.squad_id.value = p.squad_id || ""; }
    else f.role.value = "squad";
    const row = (k, node, hint) => el("label", {}, el("span", { text: t(k) }), node, hint ? el("small", { text: t(hint) }) : null);
    const rows = passwordOnly ? [row("ppl.new_password", f.password, "ppl.password_hint")]
      : [p ? null : row("ppl.login", f.login), row("ppl.name", f.name), row("ppl.role", f.role), row("ppl.squad", f.squad_id),
        row("ppl.badge", f.badge_no), row("ppl.phone", f.phone), p ? null : row("ppl.password", f.password, "ppl.password_hint")];
    const title = passwordOnly ? `${t("ppl.reset")} · ${p.name}` : p ? `${t("ppl.edit")} · ${p.name}` : t("ppl.new");
    const form = el("form", { method: "dialog", class: "ppl-form" }, el("h3", { text: title }), ...rows.filter(Boolean), error,
      el("div", { class: "dlg-buttons" },
        el("button", { type: "button", text: t("dlg.cancel"), onclick: () => dlg.close() }),
        el("button", { type: "submit", class: "primary", text: t("dlg.ok") })));
    dlg = el("dialog", { id: "ppl-dlg", class: "ppl-dlg" }, form);
    document.body.append(dlg);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fail = (err) => { error.hidden = false; error.textContent = `${t("failed")}: ${err.message}${err.field ? ` (${err.field})` : ""}`; };
      if (passwordOnly) {
        if (await this.patch(p, { password: f.password.value })) dlg.close();
        else fail({ message: t("ppl.password_hint") });
        return;
      }
      const body = { name: f.name.value.trim(), role: f.role.value, badge_no: f.badge_no.value.trim() || null, phone: f.phone.value.trim() || null };
      if (p) {
        body.squad_id = f.squad_id.value; // "" clears it
        if (!body.badge_no) delete body.badge_no;
        if (!body.phone) delete body.phone;
        if (await this.patch(p, body)) dlg.close();
        return;
      }
      body.login = f.login.value.trim();
      body.password = f.password.value;
      if (f.squad_id.value) body.squad_id = f.squad_id.value;
      for (const k of ["badge_no", "phone"]) if (!body[k]) delete body[k];
      try {
        const made = await this.api.post("/api/v1/people", body);
        this.people.push(made);
        this.render();
        dlg.close();
        toast(`${made.name} · ${t("ppl.saved")}`);
      } catch (err) {
        fail(err);
      }
    });
    dlg.showModal();
    (passwordOnly ? f.password : p ? f.name : f.login).focus();
  }
}

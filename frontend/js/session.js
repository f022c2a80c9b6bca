// Signing in (docs/API.md §2a): every page asks GET /api/v1/session first; without a session it
// shows the sign-in form (登录名, 密码) and posts POST /api/v1/session. The session itself is
// an HttpOnly cookie the page never sees; the CSRF token the answer gives is kept in memory
// only (api.csrf). No secret is put in a URL or in localStorage. A 401 later (the session ended,
// the person was disabled or re-assigned) or a WebSocket closed with 1008 brings the form back.

import { ApiError } from "./api.js";
import { applyI18n, t } from "./i18n.js";
import { el } from "./views.js";

const $ = (sel) => document.querySelector(sel);

/** The sign-in form in #login (an empty <form id="login"> of the page), built once. */
function buildForm() {
  const form = $("#login");
  if (form.dataset.built) return form;
  form.dataset.built = "1";
  form.replaceChildren(
    el("h2", { "data-i18n": "login.title" }),
    el("label", {}, el("span", { "data-i18n": "login.name" }),
      el("input", { id: "login-name", name: "username", autocomplete: "username", required: true, autocapitalize: "off", spellcheck: "false" })),
    el("label", {}, el("span", { "data-i18n": "login.password" }),
      el("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    el("button", { type: "submit", class: "primary", id: "login-go", "data-i18n": "login.go" }),
    el("p", { class: "login-error", id: "login-error", role: "alert", hidden: true }));
  applyI18n(form);
  return form;
}

function showError(text) {
  const p = $("#login-error");
  p.textContent = text;
  p.hidden = !text;
}

/** Show the form (hiding `hide`) until a sign-in succeeds; answer the sign-in's answer. */
function askToSignIn(api, hide, note) {
  const form = buildForm();
  for (const sel of hide) { const node = $(sel); if (node) node.hidden = true; }
  form.hidden = false;
  document.body.classList.add("signed-out");
  showError(note || "");
  $("#login-name").focus();
  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const login = $("#login-name").value.trim();
      const password = $("#login-password").value;
      if (!login || !password) return;
      $("#login-go").disabled = true;
      try {
        const answer = await api.post("/api/v1/session", { login, password });
        $("#login-password").value = "";
        form.hidden = true;
        form.onsubmit = null;
        document.body.classList.remove("signed-out");
        resolve(answer);
      } catch (err) {
        const status = err instanceof ApiError ? err.status : 0;
        form.dataset.refused = String(Number(form.dataset.refused || 0) + 1);
        showError(status === 401 ? t("login.bad") : status === 429 ? t("login.limited") : `${t("failed")}: ${err.message}`);
        $("#login-password").select();
      } finally {
        $("#login-go").disabled = false;
      }
    };
  });
}

/** The header's "who": name, role name, squad and tier, and the sign-out button, in #who. */
export function renderWho(api, me) {
  const box = $("#who");
  if (!box) return;
  const squad = me.squad_name ? `${me.squad_name}${me.tier_name ? `（${me.tier_name}）` : ""}` : null;
  box.replaceChildren(...[
    el("b", { class: "who-name", text: me.name }),
    el("span", { class: "who-role", text: me.role_name || "" }),
    squad ? el("span", { class: "who-squad", text: squad }) : null,
    el("button", { type: "button", id: "signout", "data-i18n": "login.out", text: t("login.out"), onclick: () => signOut(api) }),
  ].filter(Boolean));
  box.hidden = false;
}

export async function signOut(api) {
  api.onUnauthorized = null;
  try { await api.del("/api/v1/session"); } catch { /* signed out either way */ }
  location.reload();
}

/** The session ended under the page: start again, which asks for a sign-in. */
export function sessionEnded(api) {
  if (api.ended) return;
  api.ended = true;
  api.onUnauthorized = null;
  sessionStorage.setItem("dispatch.ended", "1"); // a flag, no secret: the form says why
  location.reload();
}

/**
 * Who is signed in: GET /api/v1/session, or the sign-in form until someone is. Answers the
 * session's answer (name, role_name, squad_name, tier_name, scope, ...) with api.csrf set and
 * a 401 from then on leading back to the form. `hide`: the page's parts to hide meanwhile.
 */
export async function signedIn(api, { hide = [] } = {}) {
  let me = null;
  try {
    me = await api.get("/api/v1/session");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  if (!me) {
    const ended = sessionStorage.getItem("dispatch.ended");
    sessionStorage.removeItem("dispatch.ended");
    const answer = await askToSignIn(api, hide, ended ? t("login.ended") : "");
    api.csrf = answer.csrf_token;
    me = await api.get("/api/v1/session");
    for (const sel of hide) { const node = $(sel); if (node) node.hidden = false; }
  }
  if (me.csrf_token) api.csrf = me.csrf_token;
  delete me.csrf_token;
  api.onUnauthorized = () => sessionEnded(api);
  renderWho(api, me);
  return me;
}

/** Whether the person may read every squad (operators, admins, auditors) or only a tier. */
export const readsAll = (me) => ["admin", "operator", "auditor"].includes(me.role);
export const changesAll = (me) => ["admin", "operator"].includes(me.role);

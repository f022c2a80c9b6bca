// Pieces the pages draw: the history of a case, its photos, a toast.

import { FLAGS, OUTCOMES, STATES, fmt, t, word } from "./i18n.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** What one history entry says: the action (or event), then its reason, note or outcome. */
export function historyText(entry, ref) {
  const action = entry.action;
  let what;
  if (action) {
    what = t("act." + action);
    if (what === "act." + action) what = action;
    if (action === "verify") what = entry.state_after === "closed" ? t("act.verify") : t("act.rework");
    if (action === "approve_extension" && entry.detail && entry.detail.approved === false) what = t("act.reject_extension");
    if (action === "suspend" && entry.detail && entry.detail.requested) what = t("act.ask_suspend");
  } else if (entry.type === "incident.created") {
    what = word(STATES, "reported");
  } else {
    what = { "deadline.warning": t("ticker.warning"), "deadline.overdue": t("legend.red") }[entry.type] || entry.type;
  }
  const d = entry.detail || {};
  const why = [];
  if (d.squad_id) why.push(ref.squadName(d.squad_id));
  if (d.reason) why.push(d.reason);
  if (d.note) why.push(d.note);
  if (d.outcome) why.push(word(OUTCOMES, d.outcome));
  if (d.into) why.push("→ " + d.into);
  if (d.seconds) why.push(`+${Math.round(d.seconds / 360) / 10}h`);
  const steps = d.steps || d.automatic;
  if (Array.isArray(steps)) why.push(steps.join(" → "));
  return { what, why: why.join(" · ") };
}

/** Who acted, by name: the entry's actor_name, else the directory's, never a raw id or role. */
export function actorName(entry, ref) {
  const name = entry.actor_name || (entry.detail && entry.detail.actor_name);
  if (name) return name;
  if (!entry.actor || entry.actor === "system") return t("who.system");
  if (entry.actor === "admin-bootstrap") return t("who.bootstrap");
  return (ref && ref.actorName(entry.actor)) || t("who.unknown");
}

export function historyList(entries, ref) {
  const list = el("ol", { class: "history" });
  for (const entry of entries || []) {
    const { what, why } = historyText(entry, ref);
    const who = actorName(entry, ref);
    list.append(el("li", {},
      el("time", { datetime: entry.at, text: fmt(entry.at, "full") }),
      el("b", { text: what }),
      entry.state_before && entry.state_after && entry.state_before !== entry.state_after ? el("span", { class: "who", text: `${word(STATES, entry.state_before)} → ${word(STATES, entry.state_after)}` }) : null,
      el("span", { class: "who", text: who }),
      why ? el("span", { class: "why", text: why }) : null));
  }
  return list;
}

/** Show photos: ours need the session, so they are fetched and shown as object URLs. */
export function photos(urls, api) {
  const box = el("div", { class: "photos" });
  for (const url of urls || []) {
    const img = el("img", { alt: t("detail.media"), loading: "lazy" });
    if (url.startsWith("/api/")) {
      api.photoUrl(url).then((src) => { img.src = src; }).catch(() => { img.alt = t("failed"); });
    } else {
      // a photo held by another platform: linked, not fetched (the centre may be offline)
      box.append(el("a", { class: "ext-photo", href: url, target: "_blank", rel: "noopener noreferrer", text: (url.split("/").pop() || url).slice(0, 40) + " ↗" }));
      continue;
    }
    const link = el("a", { href: "#", title: url }, img);
    link.addEventListener("click", (e) => { e.preventDefault(); if (img.src) window.open(img.src, "_blank"); });
    box.append(link);
  }
  return box;
}

export function flagList(flags) {
  return (flags || []).map((f) => el("span", { class: "flag", text: word(FLAGS, f) }));
}

let toastTimer = null;
export function toast(text, error = false) {
  let box = document.getElementById("toast");
  if (!box) {
    box = el("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  box.textContent = text;
  box.className = "toast" + (error ? " error" : "");
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, error ? 6000 : 2500);
}

/** Great-circle distance in metres (for "nearby" hints only; the server measures properly). */
export function metres(a, b) {
  const r = 6371008.8, rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

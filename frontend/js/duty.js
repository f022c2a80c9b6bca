// Duty on the squad's phone (勤务, docs/API.md §15): the signed-in officer's shift and post now
// (GET /api/v1/duty/me), and a check-in button (到岗签到) per post that sends the phone's
// position (the browser's geolocation, WGS84) to POST /api/v1/duty/check-ins. The server
// accepts it only on duty at that post and within its radius; a refusal shows its reason.

import { ApiError } from "./api.js";
import { addWords, t } from "./i18n.js";
import { el, toast } from "./views.js";

addWords({
  "duty.title": ["今日勤务", "On duty"],
  "duty.none": ["当前不在班", "Not on duty now"],
  "duty.check_in": ["到岗签到", "Check in"],
  "duty.checked_in": ["已签到", "Checked in"],
  "duty.late": ["（迟到）", " (late)"],
  "duty.locating": ["定位中…", "Locating…"],
  "duty.no_position": ["无法获取位置，请开启定位", "No position: turn location on"],
  "duty.joint": ["城警联勤", "Joint post"],
  "duty.refused": ["签到未通过", "Check-in refused"],
});

function hhmm(text) {
  return text ? text.slice(11, 16) : "";
}

/** Where the phone is now (WGS84), or a rejection when the browser cannot tell. */
function position() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error(t("duty.no_position"))); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude }),
      () => reject(new Error(t("duty.no_position"))),
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 });
  });
}

export class DutyPanel {
  /** `root`: an empty element of the page; `api`: the page's signed-in Api. */
  constructor({ api, root }) {
    this.api = api;
    this.root = root;
    this.done = new Map();  // post id → the accepted check-in
  }

  async load() {
    if (!this.root) return;
    let me;
    try {
      me = await this.api.get("/api/v1/duty/me");
    } catch {
      this.root.hidden = true;  // duty is not planned, or the caller may not read it
      return;
    }
    this.me = me;
    this.render();
  }

  render() {
    const me = this.me;
    const posts = new Map((me.posts || []).map((p) => [p.id, p]));
    const rows = (me.now || []).map((stint) => {
      const post = posts.get(stint.post_id) || { id: stint.post_id, name: stint.post_id };
      const done = this.done.get(post.id);
      const button = el("button", {
        type: "button", class: "primary duty-check-in", "data-post": post.id, disabled: Boolean(done),
        text: done ? `${t("duty.checked_in")} ${hhmm(done.at)}${done.late ? t("duty.late") : ""}` : t("duty.check_in"),
        onclick: (e) => this.checkIn(post, e.currentTarget),
      });
      return el("li", { class: "duty-row" },
        el("span", { class: "duty-post", text: post.name }),
        post.joint_police ? el("span", { class: "duty-joint", text: `${t("duty.joint")} · ${post.police_unit}` }) : null,
        el("span", { class: "duty-shift", text: `${hhmm(stint.starts_at)}–${hhmm(stint.ends_at)}` }),
        button);
    });
    this.root.replaceChildren(
      el("h2", { class: "duty-title", text: t("duty.title") }),
      rows.length ? el("ul", { class: "duty-list" }, rows) : el("p", { class: "duty-none", text: t("duty.none") }));
    this.root.hidden = false;
  }

  async checkIn(post, button) {
    button.disabled = true;
    button.textContent = t("duty.locating");
    try {
      const where = await position();
      const answer = await this.api.post("/api/v1/duty/check-ins", { post_id: post.id, lon: where.lon, lat: where.lat });
      this.done.set(post.id, answer);
      toast(`${t("duty.checked_in")}：${post.name}${answer.late ? t("duty.late") : ""}`);
    } catch (err) {
      const text = err instanceof ApiError ? err.message : err.message || String(err);
      toast(`${t("duty.refused")}：${text}`, true);
    }
    this.render();
  }
}

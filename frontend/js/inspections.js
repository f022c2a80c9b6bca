// Inspection tasks on the squad's phone (双随机 检查, 综合查一次; docs/API.md §13): the open
// tasks of the squad's tier (GET /api/v1/inspection-tasks?state=assigned), new ones arriving
// live from /ws (`inspection.*` steps on the squad's topics), and for each the checklist to
// fill in: every item passed or failed with a note and photos, and the place's 亮码 code,
// scanned (a camera that reads QR codes, where the browser can) or typed. Photos are uploaded
// to the task first (POST …/photos), then the result is sent (POST …/result); a wrong code
// answers 422 and is shown beside the code's field.

import { ApiError } from "./api.js";
import { addWords, fmt, t } from "./i18n.js";
import { el, toast } from "./views.js";

addWords({
  "insp.title": ["检查任务", "Inspections"],
  "insp.none": ["暂无检查任务", "No inspection tasks"],
  "insp.deadline": ["检查时限", "Due"],
  "insp.departments": ["检查部门", "Departments"],
  "insp.combined": ["综合查一次", "Combined visit"],
  "insp.open": ["开始检查", "Inspect"],
  "insp.pass": ["合格", "Passed"],
  "insp.fail": ["不合格", "Failed"],
  "insp.note": ["情况说明", "Note"],
  "insp.photo": ["现场照片", "Photos"],
  "insp.qr": ["亮码编号（扫码或输入）", "Place code (scan or type)"],
  "insp.scan": ["扫码", "Scan"],
  "insp.submit": ["提交检查结果", "Submit result"],
  "insp.done": ["检查结果已提交", "Result recorded"],
  "insp.findings": ["发现问题，已生成案件", "Findings became cases"],
  "insp.unanswered": ["请逐项选择合格或不合格", "Answer every item"],
});

const COLOURS = { green: "c-green", yellow: "c-yellow", red: "c-red" };

export class InspectionBoard {
  /** `root`: an empty element of the page; `count`: where the number of open tasks goes. */
  constructor({ api, root, count, onChange }) {
    this.api = api;
    this.root = root;
    this.count = count;
    this.onChange = onChange;
    this.tasks = new Map();  // id → the task as last seen
    this.open = null;
    this.loaded = false;
  }

  async load() {
    if (!this.root) return;
    try {
      const answer = await this.api.get("/api/v1/inspection-tasks?state=assigned");
      for (const task of answer.tasks || []) this.tasks.set(task.id, task);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 403) toast(err.message, true);
    }
    this.loaded = true;
    this.render();
  }

  /** A task as a step of the history carried it (`ev.inspection`). */
  onTask(task) {
    const known = this.tasks.get(task.id);
    if (task.state === "done") this.tasks.delete(task.id);
    else this.tasks.set(task.id, { ...(known || {}), ...task });
    if (this.open === task.id && task.state === "done") this.open = null;
    this.render();
  }

  openTasks() {
    return [...this.tasks.values()].filter((task) => task.state === "assigned")
      .sort((a, b) => String(a.deadline).localeCompare(String(b.deadline)));
  }

  render() {
    const list = this.openTasks();
    if (this.count) this.count.textContent = String(list.length);
    if (this.onChange) this.onChange(list.length);
    if (!this.root) return;
    const rows = list.map((task) => this.card(task));
    this.root.replaceChildren(
      el("h2", { class: "insp-title", text: t("insp.title") }),
      rows.length ? el("ul", { class: "insp-list" }, rows) : el("p", { class: "insp-none", text: t("insp.none") }));
  }

  card(task) {
    const place = task.place || { name: task.place_id, address: "" };
    const head = el("div", { class: "insp-head" },
      el("b", { class: "insp-place", text: place.name }),
      el("span", { class: `insp-due ${COLOURS[task.colour] || ""}`, text: `${t("insp.deadline")} ${fmt(task.deadline)}` }));
    const meta = el("div", { class: "insp-meta" },
      el("span", { text: place.address || "" }),
      el("span", { text: `${t("insp.departments")}: ${(task.departments || []).join("、")}` }),
      (task.departments || []).length >= 2 ? el("span", { class: "insp-combined", text: t("insp.combined") }) : null);
    const item = el("li", { class: "insp-task", "data-task": task.id, "data-colour": task.colour }, head, meta);
    if (this.open === task.id) item.append(this.form(task));
    else item.append(el("button", { type: "button", class: "primary insp-open", text: t("insp.open"), onclick: () => { this.open = task.id; this.render(); } }));
    return item;
  }

  form(task) {
    const rows = (task.items || []).map((item) => el("fieldset", { class: "insp-item", "data-item": item.id },
      el("legend", { text: `${item.text}（${item.department}）` }),
      el("label", {}, el("input", { type: "radio", name: `r-${item.id}`, value: "pass" }), ` ${t("insp.pass")}`),
      el("label", {}, el("input", { type: "radio", name: `r-${item.id}`, value: "fail" }), ` ${t("insp.fail")}`),
      el("input", { type: "text", class: "insp-note", placeholder: t("insp.note"), maxlength: "2000" }),
      el("label", { class: "insp-photo" }, `${t("insp.photo")} `, el("input", { type: "file", accept: "image/*", capture: "environment", multiple: true }))));
    const qr = el("input", { type: "text", class: "insp-qr", name: "qr_code", autocomplete: "off", required: true });
    const qrRow = el("label", { class: "insp-qr-row" }, `${t("insp.qr")} `, qr);
    if ("BarcodeDetector" in window) {
      qrRow.append(el("button", { type: "button", text: t("insp.scan"), onclick: () => this.scan(qr) }));
    }
    const error = el("p", { class: "insp-error", role: "alert", hidden: true });
    const form = el("form", { class: "insp-form" }, rows, qrRow, error,
      el("button", { type: "submit", class: "primary insp-submit", text: t("insp.submit") }));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.submit(task, form, error); });
    return form;
  }

  /** Read a QR code with the camera where the browser offers a BarcodeDetector. */
  async scan(input) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      const video = el("video", { playsinline: true });
      video.srcObject = stream;
      await video.play();
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      for (let i = 0; i < 100; i += 1) {
        const found = await detector.detect(video);
        if (found.length) { input.value = found[0].rawValue; break; }
        await new Promise((r) => setTimeout(r, 200));
      }
      stream.getTracks().forEach((track) => track.stop());
    } catch (err) {
      toast(err.message, true);
    }
  }

  async submit(task, form, error) {
    error.hidden = true;
    const results = [];
    for (const box of form.querySelectorAll(".insp-item")) {
      const chosen = box.querySelector("input[type=radio]:checked");
      if (!chosen) { error.textContent = t("insp.unanswered"); error.hidden = false; return; }
      const photos = [];
      for (const file of box.querySelector("input[type=file]").files) {
        const stored = await this.api.request("POST", `/api/v1/inspection-tasks/${encodeURIComponent(task.id)}/photos`, file);
        photos.push(stored.url);
      }
      results.push({ item_id: box.dataset.item, passed: chosen.value === "pass", note: box.querySelector(".insp-note").value, photos });
    }
    const button = form.querySelector(".insp-submit");
    button.disabled = true;
    try {
      const done = await this.api.post(`/api/v1/inspection-tasks/${encodeURIComponent(task.id)}/result`,
        { qr_code: form.querySelector(".insp-qr").value, results });
      toast(done.findings ? `${t("insp.done")} · ${t("insp.findings")} ${done.incident_ids.join(", ")}` : t("insp.done"));
      this.open = null;
      this.onTask(done);
    } catch (err) {
      error.textContent = err.message;
      error.dataset.field = err.field || "";
      error.hidden = false;
      button.disabled = false;
    }
  }
}

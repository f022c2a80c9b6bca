// Actions a squad takes on a phone, kept in IndexedDB until the server has them: a flaky
// network must not lose one. Photos are kept as Blobs beside the action and uploaded first.

import { ApiError } from "./api.js";

const DB = "dispatch-squad";
const STORE = "outbox";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "key", autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function tx(db, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const out = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(out && "result" in out ? out.result : undefined);
    t.onerror = () => reject(t.error);
  });
}

export class Outbox {
  /**
   * @param {import("./api.js").Api} api
   * @param {(e: {entry: object, ok: boolean, error?: ApiError, incident?: object}) => void} onResult
   * @param {() => void} onChange called when the number of waiting actions changes
   */
  constructor(api, onResult, onChange) {
    this.api = api;
    this.onResult = onResult;
    this.onChange = onChange;
    this.flushing = null;
    this.db = open();
    this.waiting = [];
    window.addEventListener("online", () => this.flush());
    setInterval(() => this.flush(), 10000);
  }

  async list() {
    const db = await this.db;
    return tx(db, "readonly", (s) => s.getAll());
  }

  /** Keep an action (with its photos) and try to send it at once. */
  async add(incidentId, body, photos = [], label = "") {
    const db = await this.db;
    await tx(db, "readwrite", (s) => s.add({ incidentId, body, photos, label, created: Date.now() }));
    await this.refresh();
    this.flush();
  }

  async refresh() {
    this.waiting = await this.list();
    this.onChange();
  }

  has(incidentId) {
    return this.waiting.some((e) => e.incidentId === incidentId);
  }

  /** Send what is waiting, oldest first; stop at the first failure of the network. */
  flush() {
    if (!this.flushing) {
      this.flushing = this.run().finally(() => { this.flushing = null; });
    }
    return this.flushing;
  }

  async run() {
    const db = await this.db;
    if (navigator.onLine === false) { await this.refresh(); return; } // the "online" event brings us back
    for (const entry of await this.list()) {
      try {
        const media = [...(entry.body.media || [])];
        for (const photo of entry.photos || []) {
          if (photo.url) { media.push(photo.url); continue; }
          const up = await this.api.uploadPhoto(entry.incidentId, photo.blob);
          photo.url = up.url;
          media.push(up.url);
          // remember the upload, so a retry does not send the same photo twice
          await tx(db, "readwrite", (s) => s.put(entry));
        }
        const body = media.length ? { ...entry.body, media } : entry.body;
        const answer = await this.api.action(entry.incidentId, body);
        await tx(db, "readwrite", (s) => s.delete(entry.key));
        this.onResult({ entry, ok: true, incident: answer && (answer.incident || answer) });
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError(0, "network", String(err));
        if (e.transient) break; // offline or the server is down: keep it, try later
        // refused for good (a 409 when someone acted first, a 403, a 422): tell, drop it
        await tx(db, "readwrite", (s) => s.delete(entry.key));
        this.onResult({ entry, ok: false, error: e });
      }
    }
    await this.refresh();
  }
}

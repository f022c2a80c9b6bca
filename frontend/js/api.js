// The HTTP side of docs/API.md §2–§12: the session cookie, JSON in and out, errors as ApiError.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  /** True when the server (or the network) failed, not the request: worth trying again. */
  get transient() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

const CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Calls with the session cookie the browser holds (HttpOnly: this page never sees it) and, on
 * every changing request, the session's CSRF token in X-CSRF-Token (docs/API.md §2a). The CSRF
 * token is kept in memory only: a reload asks GET /api/v1/session for it again.
 */
export class Api {
  constructor() {
    this.csrf = null;
    /** Called once on a 401 after sign-in (the session ended, the person was disabled). */
    this.onUnauthorized = null;
  }

  headers(method, extra = {}) {
    const h = { ...extra };
    if (CHANGING.has(method) && this.csrf) h["X-CSRF-Token"] = this.csrf;
    return h;
  }

  async request(method, path, body, { raw = false, contentType } = {}) {
    const init = { method, headers: this.headers(method), credentials: "same-origin" };
    if (body !== undefined) {
      if (body instanceof Blob || body instanceof ArrayBuffer) {
        init.body = body;
        init.headers["Content-Type"] = contentType || body.type || "application/octet-stream";
      } else {
        init.body = JSON.stringify(body);
        init.headers["Content-Type"] = "application/json";
      }
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", String(err && err.message ? err.message : err));
    }
    if (raw && resp.ok) return resp;
    const text = await resp.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!resp.ok) {
      if (resp.status === 401 && this.onUnauthorized) this.onUnauthorized();
      const e = (data && data.error) || {};
      throw new ApiError(resp.status, e.code || "http_error", e.message || resp.statusText, e.field);
    }
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }
  del(path) { return this.request("DELETE", path); }

  /** GET, answering null when the route is not there (yet): the page shows "—" instead. */
  async optional(path) {
    try {
      return await this.get(path);
    } catch (err) {
      if (err instanceof ApiError && [404, 405, 501].includes(err.status)) return null;
      throw err;
    }
  }

  /** Every incident matching query, newest first, paging with `before` up to max. */
  async incidents(query = {}, max = 20000) {
    const out = [];
    let before = null;
    while (out.length < max) {
      const q = new URLSearchParams({ ...query, limit: "1000" });
      if (before) q.set("before", before);
      const page = await this.get(`/api/v1/incidents?${q}`);
      const list = (page && page.incidents) || [];
      out.push(...list);
      if (list.length < 1000) break;
      before = list[list.length - 1].id;
    }
    return out;
  }

  action(id, body) {
    return this.post(`/api/v1/incidents/${encodeURIComponent(id)}/actions`, body);
  }

  uploadPhoto(id, blob) {
    return this.request("POST", `/api/v1/incidents/${encodeURIComponent(id)}/media`, blob);
  }

  /** The URL of /ws: the session cookie goes with it (same origin), so no secret is in it. */
  async socketUrl() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return `${scheme}${location.host}/ws`;
  }

  /** A photo behind the session as an object URL an <img> can show. */
  async photoUrl(url) {
    const resp = await this.request("GET", url, undefined, { raw: true });
    return URL.createObjectURL(await resp.blob());
  }
}

// The HTTP side of docs/API.md §2–§7: a bearer token, JSON in and out, errors as ApiError.

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

/** The token given in the page's #token=… (then remembered under key and removed from the URL). */
export function takeToken(key) {
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token");
  if (given) {
    localStorage.setItem(key, given);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
  return localStorage.getItem(key);
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request(method, path, body, { raw = false, contentType } = {}) {
    const init = { method, headers: this.headers() };
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
      const e = (data && data.error) || {};
      throw new ApiError(resp.status, e.code || "http_error", e.message || resp.statusText, e.field);
    }
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }

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

  /**
   * The URL of /ws for one connection, opened at once: a one-time ticket asked for with the
   * token in the header (docs/API.md §2), so the token itself never travels in a URL.
   */
  async socketUrl() {
    const { ticket } = await this.post("/api/v1/ws-tickets");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return `${scheme}${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  }

  /** A photo behind the bearer token as an object URL an <img> can show. */
  async photoUrl(url) {
    const resp = await this.request("GET", url, undefined, { raw: true });
    return URL.createObjectURL(await resp.blob());
  }
}

/** Whether a token works at all (401 means it does not; other failures are not its fault). */
export async function checkToken(api) {
  try {
    await api.get("/api/v1/categories");
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return false;
    throw err;
  }
}

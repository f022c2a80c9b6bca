// Incidents as the pages hold them: the latest version of each, and its clock as of now.
//
// The server's `colour` (green|yellow|red) is the truth when it was sent; between events the
// pages keep the colour live themselves: a continuous clock is recomputed from its start,
// pauses and approved extensions (yellow from 80% of the allowed time), and any clock past its
// deadline is red. deadline.warning / deadline.overdue events confirm it.

export const OPEN_STATES = new Set(["reported", "registered", "dispatched", "accepted", "resolved", "returned"]);
export const WARN_AT = 0.8;

export const isOpen = (inc) => OPEN_STATES.has(inc.state);

function ms(text) {
  if (!text) return null;
  const v = Date.parse(text);
  return Number.isNaN(v) ? null : v;
}

/** The instants of an incident's clock, parsed once per version (kept on the object). */
function parsed(inc) {
  let p = inc._clock;
  if (p) return p;
  const clock = inc.clock && typeof inc.clock === "object" ? inc.clock : null;
  p = { clock, deadline: ms(inc.deadline), stageDue: inc.stage && inc.stage.deadline ? ms(inc.stage.deadline) : null };
  if (clock) {
    p.start = ms(clock.start);
    p.stoppedAt = ms(clock.stopped_at);
    p.allowed = Number(clock.limit_s || 0) + (clock.extensions || []).filter((e) => e.status === "approved")
      .reduce((sum, e) => sum + Number(e.seconds || 0), 0);
    p.pauses = (clock.pauses || []).map(([a, b]) => [ms(a), b ? ms(b) : null]);
  }
  Object.defineProperty(inc, "_clock", { value: p, enumerable: false });
  return p;
}

/** A time field of an incident in ms, parsed once per version (kept on the object). */
export function timeOf(inc, name) {
  let cache = inc._times;
  if (!cache) {
    cache = {};
    Object.defineProperty(inc, "_times", { value: cache, enumerable: false });
  }
  if (!(name in cache)) cache[name] = ms(inc[name]);
  return cache[name];
}

export const receivedMs = (inc) => timeOf(inc, "received_at");

/**
 * The clock of an incident at `now` (ms): {colour, remaining (s) or null, deadline (ms) or null,
 * suspended, stopped, allowed (s) or null}.
 */
export function clockOf(inc, now = Date.now()) {
  const suspended = Boolean(inc.suspended);
  const p = parsed(inc);
  const deadline = p.deadline;
  const out = { colour: inc.colour || "green", remaining: null, deadline, suspended, stopped: false, allowed: null };
  if (p.clock) {
    out.stopped = p.stoppedAt !== null;
    out.allowed = p.allowed || null;
    if (p.clock.kind === "continuous" && p.start !== null && p.allowed > 0) {
      const end = p.stoppedAt !== null ? Math.min(now, p.stoppedAt) : now;
      let used = end - p.start;
      for (const [pa, b] of p.pauses) {
        const pb = b === null ? end : b;
        if (pa !== null && pb !== null) used -= Math.max(0, Math.min(pb, end) - Math.max(pa, p.start));
      }
      used = Math.max(0, used) / 1000;
      out.remaining = p.allowed - used;
      out.colour = used >= p.allowed ? "red" : used >= WARN_AT * p.allowed ? "yellow" : "green";
      return out;
    }
  }
  if (deadline !== null) {
    if (suspended || out.stopped) {
      out.remaining = typeof inc.remaining_s === "number" ? inc.remaining_s : null;
    } else {
      out.remaining = (deadline - now) / 1000;
      if (out.remaining <= 0) out.colour = "red";
    }
  } else if (p.stageDue !== null && !suspended) {
    out.remaining = (p.stageDue - now) / 1000;
    if (out.remaining <= 0) out.colour = "red";
  }
  return out;
}

/** The latest version of every incident the page knows, and who changed. */
export class IncidentStore {
  constructor() {
    this.byId = new Map();
  }

  get size() { return this.byId.size; }
  get(id) { return this.byId.get(id); }
  values() { return this.byId.values(); }

  /** Keep inc if it is newer than what we have; answer [previous, kept] or null when stale. */
  upsert(inc) {
    const prev = this.byId.get(inc.id);
    if (prev && Number(prev.version || 0) > Number(inc.version || 0)) return null;
    if (prev && prev.version === inc.version && prev.updated_at === inc.updated_at && prev.state === inc.state) {
      // same version again (a snapshot racing an event): keep the richer of the two
      const merged = { ...inc, ...prev };
      this.byId.set(inc.id, merged);
      return [prev, merged];
    }
    const kept = prev ? { ...inc, stage: inc.stage ?? (inc.state === prev.state ? prev.stage : undefined) } : inc;
    this.byId.set(inc.id, kept);
    return [prev || null, kept];
  }
}

/** Names of categories, squads and zones, loaded once per page. */
export class Reference {
  constructor() {
    this.categories = new Map();
    this.squads = new Map();
    this.zones = new Map();
    this.streets = [];
    this.centreName = null;
    this.people = {};
    this.tokens = {};
  }

  /** Names of people, tokens and squads (GET /api/v1/directory): pages show names, not ids. */
  async loadDirectory(api) {
    const dir = await api.get("/api/v1/directory").catch(() => null);
    if (!dir) return this;
    this.people = dir.people || {};
    this.tokens = dir.tokens || {};
    for (const [id, s] of Object.entries(dir.squads || {})) {
      const known = this.squads.get(id);
      this.squads.set(id, { ...(known || { id, kind: "street" }), ...s, id });
    }
    return this;
  }

  /** A person's or a token's name by its id (psn_…, tok_…), or null. */
  actorName(id) {
    const p = this.people[id] || this.tokens[id];
    return p ? p.name : null;
  }

  /** A squad's name with its tier (支队/大队/中队), e.g. 外滩街道城管执法中队（中队）. */
  tierLabel(id) {
    if (!id) return "—";
    const s = this.squads.get(id);
    if (!s) return this.squadName(id);
    return s.tier_name ? `${s.name}（${s.tier_name}）` : s.name;
  }

  async load(api) {
    const [cats, squads, zones] = await Promise.all([
      api.get("/api/v1/categories").catch(() => null),
      api.get("/api/v1/squads").catch(() => null),
      api.get("/api/v1/zones").catch(() => null),
    ]);
    for (const c of (cats && cats.categories) || []) this.categories.set(c.code, c);
    for (const s of (squads && squads.squads) || []) {
      this.squads.set(s.id, s);
      if (s.kind === "centre" && !this.centreName) this.centreName = s.name;
    }
    await this.loadDirectory(api);
    this.zonesGeoJSON = zones || { type: "FeatureCollection", features: [] };
    for (const f of this.zonesGeoJSON.features || []) {
      const id = f.id ?? (f.properties && f.properties.id);
      this.zones.set(id, { id, ...(f.properties || {}) });
      if (f.properties && f.properties.level === "street") this.streets.push({ id, ...f.properties });
    }
    return this;
  }

  categoryName(code, en = false) {
    const c = this.categories.get(code);
    if (!c) return code || "—";
    return en && c.name_en ? c.name_en : c.name;
  }

  squadName(id) {
    if (!id) return "—";
    const s = this.squads.get(id);
    return s ? s.name : id;
  }

  /** The short name of a squad for tight spaces: its street or brigade without the prefix. */
  squadShort(id) {
    const name = this.squadName(id);
    return name.replace(/^.*?城管执法局/, "").replace("城管执法中队", "中队") || name;
  }

  /** The street zone of an incident (the first of its zone_ids at street level). */
  streetOf(inc) {
    for (const z of inc.zone_ids || []) {
      const zone = this.zones.get(z);
      if (zone && zone.level === "street") return zone;
    }
    return null;
  }
}

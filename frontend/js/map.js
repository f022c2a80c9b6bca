// The district map: zones drawn by MapLibre from the API on a plain background (no tile
// server needed), an optional raster tile layer from a URL template; open incidents coloured
// by their clock and units by their status drawn on a canvas layer of our own above it.
//
// Why a canvas layer and not GeoJSON sources: every setData makes MapLibre redraw the whole
// WebGL map, and a wall PC without a GPU (WebGL in software) spends 100–300 ms on that; with
// 1,000 units moving it never stops. Markers change far more often than the zones, so the
// zones stay in WebGL (redrawn only when the view moves) and the markers are drawn on 2D
// canvases as one path per colour: a few milliseconds for 6,000 of them. Changes are
// gathered and drawn at most every 250 ms; never one DOM node per marker.

import * as maplibregl from "../vendor/maplibre-gl.js";

maplibregl.setWorkerUrl(new URL("../vendor/maplibre-gl-worker.js", import.meta.url).href);

const FLUSH_MS = 250;
const COLOUR_CODE = { green: 0, yellow: 1, red: 2 };
const STREET_TINTS = ["#123a6b", "#0f4470", "#16406e", "#113b5e", "#1a3f75", "#0e4a66", "#173d68", "#12466f", "#193a63", "#0f3f6a", "#154b74", "#11385f"];
const UNIT_STATUS = { available: 0, en_route: 1, on_scene: 2, busy: 3, off_duty: 4 };

/** Tile settings: ?tiles=… in the URL, then localStorage "dispatch.tiles", then config.json. */
export async function tileConfig() {
  const fromUrl = new URLSearchParams(location.search).get("tiles");
  if (fromUrl !== null) return { tiles: fromUrl || null, attribution: "" };
  const saved = localStorage.getItem("dispatch.tiles");
  if (saved) return { tiles: saved, attribution: "" };
  try {
    const resp = await fetch(new URL("../config.json", import.meta.url));
    if (resp.ok) {
      const cfg = await resp.json();
      return { tiles: cfg.tiles || null, attribution: cfg.tile_attribution || "", centre: cfg.centre_name || null };
    }
  } catch { /* no config: a plain background */ }
  return { tiles: null, attribution: "" };
}

function bboxOf(features) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === "number") {
      if (c[0] < minX) minX = c[0];
      if (c[0] > maxX) maxX = c[0];
      if (c[1] < minY) minY = c[1];
      if (c[1] > maxY) maxY = c[1];
    } else c.forEach(walk);
  };
  features.forEach((f) => f.geometry && walk(f.geometry.coordinates));
  return minX === Infinity ? null : [[minX, minY], [maxX, maxY]];
}

/** The area-weighted centroid of a feature's largest ring: where its label goes. */
function labelPoint(geometry) {
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  let best = null, bestArea = 0;
  for (const poly of polys) {
    const ring = poly[0];
    let a = 0, cx = 0, cy = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const f = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      a += f; cx += (ring[j][0] + ring[i][0]) * f; cy += (ring[j][1] + ring[i][1]) * f;
    }
    if (Math.abs(a) > bestArea) { bestArea = Math.abs(a); best = [cx / (3 * a), cy / (3 * a)]; }
  }
  return best;
}

export class DistrictMap {
  /**
   * @param {HTMLElement} container
   * @param {{tiles?: string|null, attribution?: string, scale?: number, interactive?: boolean}} opts
   */
  constructor(container, opts = {}) {
    this.opts = opts;
    this.scale = opts.scale || 1;
    this.incidents = new Map(); // id -> feature
    this.units = new Map(); // id -> feature
    this.dirty = { incidents: false, units: false };
    this.labels = new Map(); // street zone id -> {marker, el}
    this.tileErrors = 0;
    this.ready = new Promise((resolve) => { this.resolveReady = resolve; });
    this.onIncidentClick = null;
    const empty = { type: "FeatureCollection", features: [] };
    const sources = {
      zones: { type: "geojson", data: empty },
    };
    const layers = [{ id: "bg", type: "background", paint: { "background-color": "#071428" } }];
    if (opts.tiles) {
      sources.tiles = { type: "raster", tiles: [opts.tiles], tileSize: 256, attribution: opts.attribution || "" };
      layers.push({ id: "tiles", type: "raster", source: "tiles", paint: { "raster-opacity": 0.55, "raster-saturation": -0.6, "raster-brightness-max": 0.6 } });
    }
    const s = this.scale;
    layers.push(
      { id: "street-fill", type: "fill", source: "zones", filter: ["==", ["get", "level"], "street"],
        paint: { "fill-color": ["get", "tint"], "fill-opacity": opts.tiles ? 0.25 : 0.85 } },
      { id: "grid-line", type: "line", source: "zones", minzoom: 14.2, filter: ["==", ["get", "level"], "grid"],
        paint: { "line-color": "#2b5b94", "line-width": 0.5 * s, "line-opacity": 0.35 } },
      { id: "community-line", type: "line", source: "zones", filter: ["==", ["get", "level"], "community"],
        paint: { "line-color": "#3f78b8", "line-width": 0.8 * s, "line-opacity": 0.55, "line-dasharray": [3, 2] } },
      { id: "special-fill", type: "fill", source: "zones", filter: ["==", ["get", "level"], "special"],
        paint: { "fill-color": "#ff9f1a", "fill-opacity": 0.08 } },
      { id: "special-line", type: "line", source: "zones", filter: ["==", ["get", "level"], "special"],
        paint: { "line-color": "#ffb347", "line-width": 1.5 * s, "line-dasharray": [2, 1.5] } },
      { id: "street-line", type: "line", source: "zones", filter: ["==", ["get", "level"], "street"],
        paint: { "line-color": "#5fb4ff", "line-width": 1.2 * s, "line-opacity": 0.9 } },
      { id: "district-glow", type: "line", source: "zones", filter: ["==", ["get", "level"], "district"],
        paint: { "line-color": "#29d3ff", "line-width": 8 * s, "line-opacity": 0.18, "line-blur": 4 * s } },
      { id: "district-line", type: "line", source: "zones", filter: ["==", ["get", "level"], "district"],
        paint: { "line-color": "#5fe3ff", "line-width": 2 * s } },
    );
    this.map = new maplibregl.Map({
      container,
      style: { version: 8, sources, layers },
      center: [121.48, 31.23],
      zoom: 12.5,
      attributionControl: opts.tiles && opts.attribution ? { compact: true } : false,
      interactive: opts.interactive !== false,
      fadeDuration: 0,
      dragRotate: false,
      pitchWithRotate: false,
    });
    this.map.on("error", (e) => this.onError(e));
    this.map.on("load", () => {
      this.loaded = true;
      this.resolveReady();
    });
    this.map.on("click", (e) => {
      const id = this.hit(e.point.x, e.point.y);
      if (id && this.onIncidentClick) this.onIncidentClick(id, e.lngLat);
    });
    this.overlay = new MarkerLayer(this.map, this.scale);
    this.map.on("move", () => this.overlay.draw(this.incidents, this.units, this.selected));
    this.map.on("resize", () => {
      this.overlay.box = null;
      this.overlay.draw(this.incidents, this.units, this.selected);
    });
    this.flusher = setInterval(() => this.flush(), FLUSH_MS);
  }

  onError(e) {
    const source = e && e.sourceId;
    if (source === "tiles" || (e && e.tile)) {
      this.tileErrors += 1;
      if (this.tileErrors === 3 && this.map.getLayer("tiles")) {
        // the tile server is not reachable: keep the plain drawing
        this.map.setLayoutProperty("tiles", "visibility", "none");
        this.map.setPaintProperty("street-fill", "fill-opacity", 0.85);
        console.warn("map tiles unreachable; drawing zones on a plain background");
      }
      return;
    }
    console.warn("map:", e && e.error ? e.error.message : e);
  }

  /** Draw the zone set (a FeatureCollection as GET /api/v1/zones answers) and fit the district. */
  async setZones(collection) {
    await this.ready;
    const features = (collection.features || []).map((f, i) => ({
      type: "Feature",
      geometry: f.geometry,
      properties: { ...(f.properties || {}), id: f.id ?? (f.properties && f.properties.id), tint: STREET_TINTS[i % STREET_TINTS.length] },
    }));
    let n = 0;
    for (const f of features) if (f.properties.level === "street") f.properties.tint = STREET_TINTS[n++ % STREET_TINTS.length];
    this.map.getSource("zones").setData({ type: "FeatureCollection", features });
    const district = features.filter((f) => f.properties.level === "district");
    const box = bboxOf(district.length ? district : features.filter((f) => f.properties.level === "street"));
    if (box) {
      this.bounds = box;
      this.fit();
    }
    for (const { marker } of this.labels.values()) marker.remove();
    this.labels.clear();
    for (const f of features) {
      if (f.properties.level !== "street" || !f.geometry) continue;
      const at = labelPoint(f.geometry);
      if (!at) continue;
      const el = document.createElement("div");
      el.className = "zone-label";
      el.innerHTML = `<span class="zone-name"></span><span class="zone-count"></span>`;
      el.firstChild.textContent = f.properties.name || f.properties.id;
      const marker = new maplibregl.Marker({ element: el, anchor: "center" }).setLngLat(at).addTo(this.map);
      this.labels.set(f.properties.id, { marker, el });
    }
  }

  fit() {
    if (!this.bounds) return;
    const pad = Math.round(24 * this.scale);
    this.map.fitBounds(this.bounds, { padding: pad, animate: false });
  }

  resize(scale) {
    if (scale && scale !== this.scale) this.scale = scale;
    this.overlay.scale = this.scale;
    this.map.resize();
    this.fit();
  }

  /** Show the open-incident count next to each street's name. */
  setStreetCounts(counts) {
    for (const [id, { el }] of this.labels) {
      const n = counts.get(id) || 0;
      el.lastChild.textContent = n ? String(n) : "";
    }
  }

  /** Put or move an incident marker (colour: green|yellow|red); null colour removes it. */
  setIncident(id, lon, lat, colour) {
    if (colour === null || lon === null || lon === undefined) {
      if (this.incidents.delete(id)) this.dirty.incidents = true;
      return;
    }
    const c = COLOUR_CODE[colour] ?? 0;
    const m = this.incidents.get(id);
    if (m && m.c === c && m.lon === lon && m.lat === lat) return;
    this.incidents.set(id, { lon, lat, c });
    this.dirty.incidents = true;
  }

  setUnit(id, lon, lat, status) {
    if (lon === null || lon === undefined || lat === null || lat === undefined) return;
    const st = UNIT_STATUS[status] ?? 0;
    const m = this.units.get(id);
    if (m) { m.lon = lon; m.lat = lat; m.st = st; } else this.units.set(id, { lon, lat, st });
    this.dirty.units = true;
  }

  select(id) {
    this.selected = id || null;
    this.dirty.incidents = true;
  }

  flyTo(lon, lat) {
    this.map.easeTo({ center: [lon, lat], zoom: Math.max(this.map.getZoom(), 15), duration: 600 });
  }

  flush() {
    if (!this.loaded || !(this.dirty.incidents || this.dirty.units)) return;
    if (this.dirty.incidents) this.overlay.drawIncidents(this.incidents, this.selected);
    if (this.dirty.units) this.overlay.drawUnits(this.units);
    this.dirty.incidents = false;
    this.dirty.units = false;
  }

  /** The incident drawn nearest to a point of the map (within a few pixels), or null. */
  hit(x, y) {
    return this.overlay.nearest(x, y, 10 * this.scale);
  }

  showPopup(lngLat, element) {
    if (this.popup) this.popup.remove();
    this.popup = new maplibregl.Popup({ closeButton: true, maxWidth: "none" }).setLngLat(lngLat).setDOMContent(element).addTo(this.map);
    return this.popup;
  }

  /** The colour of an incident as drawn now (for tests): green|yellow|red, or null if not drawn. */
  renderedColour(id) {
    const c = this.overlay.drawn.get(id);
    return c === undefined ? null : ["green", "yellow", "red"][c];
  }
}

const INCIDENT_FILL = ["#21d07a", "#ffd21f", "#ff3b3b"];
const UNIT_FILL = ["#38e1ff", "#7aa2ff", "#c792ff", "#ffb347", "#38e1ff"];

/**
 * Two 2D canvases over the map: units below (redrawn as they move, at most every 250 ms) and
 * incidents above (redrawn only when one changes), so a thousand moving units never cost the
 * redrawing of five thousand incidents.
 */
class MarkerLayer {
  constructor(map, scale) {
    this.map = map;
    this.scale = scale;
    this.dpr = window.devicePixelRatio || 1;
    const layer = (name) => {
      const c = document.createElement("canvas");
      c.className = "marker-layer " + name;
      Object.assign(c.style, { position: "absolute", left: "0", top: "0", pointerEvents: "none" });
      map.getContainer().appendChild(c);
      return c;
    };
    this.unitCanvas = layer("units");
    this.incidentCanvas = layer("incidents");
    this.drawn = new Map(); // id -> colour code, as drawn last
    this.xs = new Float32Array(0);
    this.ys = new Float32Array(0);
    this.ids = [];
    this.count = 0;
  }

  size(canvas) {
    // the container's size is read once per resize, not per draw (a read forces a layout)
    if (!this.box) {
      const el = this.map.getContainer();
      this.box = [el.clientWidth, el.clientHeight];
    }
    const dpr = this.dpr;
    const [w, h] = this.box;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = w + "px";
      canvas.style.height = h + "px";
    }
    return [w, h, dpr];
  }

  draw(incidents, units, selected) {
    this.drawUnits(units);
    this.drawIncidents(incidents, selected);
  }

  drawUnits(units) {
    const canvas = this.unitCanvas;
    const [w, h, dpr] = this.size(canvas);
    const g = canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const r = 3 * this.scale;
    const paths = UNIT_FILL.map(() => new Path2D());
    for (const u of units.values()) {
      if (u.st === 4) continue; // off duty
      const p = this.map.project([u.lon, u.lat]);
      if (p.x < -20 || p.y < -20 || p.x > w + 20 || p.y > h + 20) continue;
      paths[u.st].moveTo(p.x + r, p.y);
      paths[u.st].arc(p.x, p.y, r, 0, Math.PI * 2);
    }
    g.lineWidth = 2.2 * this.scale;
    g.strokeStyle = "#e8f6ff";
    paths.forEach((path, st) => {
      g.stroke(path);
      g.fillStyle = UNIT_FILL[st];
      g.fill(path);
    });
  }

  drawIncidents(incidents, selected) {
    const canvas = this.incidentCanvas;
    const [w, h, dpr] = this.size(canvas);
    const g = canvas.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, canvas.width, canvas.height);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const s = this.scale;
    const n = incidents.size;
    if (this.xs.length < n) { this.xs = new Float32Array(n * 2); this.ys = new Float32Array(n * 2); }
    const ids = [];
    // one path per colour, filled and stroked once: far cheaper than a draw per marker
    const paths = [new Path2D(), new Path2D(), new Path2D()];
    const halo = new Path2D();
    const radius = [3.2 * s, 4.1 * s, 5 * s];
    const haloR = 11 * s;
    this.drawn = new Map();
    let k = 0;
    for (const [id, m] of incidents) {
      const p = this.map.project([m.lon, m.lat]);
      if (p.x < -20 || p.y < -20 || p.x > w + 20 || p.y > h + 20) continue;
      this.xs[k] = p.x; this.ys[k] = p.y; ids.push(id); k += 1;
      const r = radius[m.c];
      paths[m.c].moveTo(p.x + r, p.y);
      paths[m.c].arc(p.x, p.y, r, 0, Math.PI * 2);
      if (m.c === 2) { halo.moveTo(p.x + haloR, p.y); halo.arc(p.x, p.y, haloR, 0, Math.PI * 2); }
      this.drawn.set(id, m.c);
    }
    g.fillStyle = "rgba(255, 59, 59, 0.22)";
    g.fill(halo);
    // green first, red last: the ones that matter are never hidden under the others
    // the outline is stroked twice as wide before the fill: markers on one spot merge into
    // one shape instead of a tangle of outlines
    g.lineWidth = 1.8 * s;
    g.strokeStyle = "#06101f";
    paths.forEach((path, c) => {
      g.stroke(path);
      g.fillStyle = INCIDENT_FILL[c];
      g.fill(path);
    });
    if (selected && incidents.has(selected)) {
      const m = incidents.get(selected);
      const p = this.map.project([m.lon, m.lat]);
      g.beginPath();
      g.arc(p.x, p.y, 9 * s, 0, Math.PI * 2);
      g.lineWidth = 2 * s;
      g.strokeStyle = "#ffffff";
      g.stroke();
    }
    this.ids = ids;
    this.count = k;
  }

  nearest(x, y, within) {
    let best = null, bestD = within * within;
    for (let i = 0; i < this.count; i += 1) {
      const dx = this.xs[i] - x, dy = this.ys[i] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = this.ids[i]; }
    }
    return best;
  }
}

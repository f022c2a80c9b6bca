// The live incident feed: follows /ws, replays from the last seq after a reconnect.
"use strict";
(() => {
  const I18N = {
    en: { title: "Urban Management Command Centre · Live incidents", connecting: "connecting…", live: "live",
      offline: "reconnecting…", token: "Access token", connect: "Connect", received: "received",
      dispatched: "dispatched", waiting: "waiting", time: "Time", id: "Case no.", source: "Source",
      category: "Category", state: "State", squad: "Squad", deadline: "Deadline", description: "Description" },
  };
  const STATES = { reported: "上报", registered: "立案", dispatched: "派遣", accepted: "签收", resolved: "处置完毕",
    closed: "结案", returned: "回退", rejected: "不予立案", merged: "并案" };
  const SOURCES = { camera: "AI摄像头", drone: "无人机", sensor: "传感器", hotline: "12345热线", grid: "网格巡查",
    citizen: "市民", leader: "领导交办", media: "媒体曝光", platform: "平台" };
  const zh = {};
  document.querySelectorAll("[data-i18n]").forEach((el) => { zh[el.dataset.i18n] = el.textContent; });
  let lang = localStorage.getItem("lang") || "zh-CN";
  const t = (key) => (lang === "en" ? I18N.en[key] : zh[key]) || key;
  const fmt = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour12: false,
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const when = (s) => (s ? fmt.format(new Date(s)) : "—");
  const rows = new Map();
  let lastSeq = Number(sessionStorage.getItem("lastSeq") || 0);
  let socket = null;
  let backoff = 500;

  const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
  if (hashToken) { localStorage.setItem("token", hashToken); history.replaceState(null, "", location.pathname); }

  function applyLang() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.getElementById("lang").textContent = lang === "en" ? "中文" : "English";
    setConn(socket && socket.readyState === WebSocket.OPEN);
  }
  function setConn(on) {
    document.getElementById("conn").className = "dot " + (on ? "on" : "off");
    document.getElementById("conn-text").textContent = t(on ? "live" : "offline");
  }
  function counts() {
    let dispatched = 0, waiting = 0;
    rows.forEach((inc) => {
      if (["dispatched", "accepted", "resolved"].includes(inc.state)) dispatched += 1;
      if (["reported", "registered", "returned"].includes(inc.state)) waiting += 1;
    });
    document.getElementById("n-total").textContent = rows.size;
    document.getElementById("n-dispatched").textContent = dispatched;
    document.getElementById("n-waiting").textContent = waiting;
  }
  function render(inc) {
    let tr = document.getElementById("inc-" + inc.id);
    const fresh = !tr;
    if (!tr) { tr = document.createElement("tr"); tr.id = "inc-" + inc.id; }
    const cells = [when(inc.received_at), inc.id, lang === "en" ? inc.source : SOURCES[inc.source] || inc.source,
      inc.category, null, inc.squad_id || "—", when(inc.deadline), inc.description || ""];
    tr.replaceChildren(...cells.map((text, i) => {
      const td = document.createElement("td");
      if (i === 4) {
        const span = document.createElement("span");
        span.className = "state " + inc.state;
        span.textContent = lang === "en" ? inc.state : STATES[inc.state] || inc.state;
        td.append(span);
      } else { td.textContent = text; }
      if (i === 7) td.className = "desc";
      return td;
    }));
    if (fresh) {
      tr.className = "fresh";
      const body = document.getElementById("feed");
      body.prepend(tr);
      while (body.children.length > 500) body.lastChild.remove();
    }
  }
  function onEvent(ev) {
    if (typeof ev.seq !== "number") return;
    if (ev.seq <= lastSeq) return; // already shown before a reconnect
    lastSeq = ev.seq;
    sessionStorage.setItem("lastSeq", String(lastSeq));
    document.getElementById("seq").textContent = lastSeq;
    if (ev.incident) { rows.set(ev.incident.id, ev.incident); render(ev.incident); counts(); }
  }
  function connect() {
    const token = localStorage.getItem("token");
    if (!token) { document.getElementById("login").hidden = false; return; }
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?access_token=" + encodeURIComponent(token);
    socket = new WebSocket(url);
    socket.onopen = () => {
      backoff = 500;
      setConn(true);
      const sub = { type: "subscribe", topics: ["all"] };
      if (lastSeq > 0) sub.since = lastSeq;
      socket.send(JSON.stringify(sub));
    };
    socket.onmessage = (m) => {
      const data = JSON.parse(m.data);
      if (data.type === "subscribed" && lastSeq === 0) {
        // first connection: start from the incidents already open, then follow live
        loadRecent(token);
      }
      onEvent(data);
    };
    socket.onclose = (e) => {
      setConn(false);
      if (e.code === 1008 || e.code === 4401) { localStorage.removeItem("token"); document.getElementById("login").hidden = false; return; }
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }
  async function loadRecent(token) {
    const resp = await fetch("/api/v1/incidents?limit=200", { headers: { Authorization: "Bearer " + token } });
    if (!resp.ok) return;
    const body = await resp.json();
    body.incidents.slice().reverse().forEach((inc) => { if (!rows.has(inc.id)) { rows.set(inc.id, inc); render(inc); } });
    counts();
  }
  document.getElementById("login").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("token", document.getElementById("token").value.trim());
    document.getElementById("login").hidden = true;
    connect();
  });
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "en" ? "zh-CN" : "en";
    localStorage.setItem("lang", lang);
    applyLang();
    rows.forEach(render);
  });
  setInterval(() => { document.getElementById("clock").textContent = fmt.format(new Date()); }, 1000);
  applyLang();
  connect();
})();

// Following /ws (docs/API.md §6): subscribe, then events in seq order; after a lost connection,
// reconnect by itself with `since` = the last seq seen, so nothing is missed, and drop any
// event whose seq was already applied, so nothing is shown twice.

const PING_EVERY_MS = 15000;
const SILENCE_MS = 45000; // no message at all for this long: the connection is dead

export class LiveFeed {
  /**
   * @param {object} o
   * @param {{socketUrl: () => Promise<string>, get: Function}} o.api the address of /ws (the
   *   session cookie goes with the handshake, from the page's own origin: no secret in a URL)
   * @param {string[]} o.topics topics to follow
   * @param {(ev: object) => void} o.onEvent every numbered event, once, in order
   * @param {(msg: object) => void} [o.onOther] messages without a seq (unit.moved, errors, ...)
   * @param {(state: "live"|"connecting"|"offline") => void} [o.onStatus]
   * @param {(seq: number) => void} [o.onSubscribed] the first subscription's seq (load a snapshot then)
   */
  constructor(o) {
    this.o = o;
    this.lastSeq = 0;
    this.subscribedOnce = false;
    this.socket = null;
    this.backoff = 250;
    this.stopped = false;
    this.stats = { events: 0, duplicates: 0, reconnects: 0, lastMessageAt: 0 };
    this.timer = null;
    this.pinger = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
  }

  /** For tests and the debug hook: drop the connection as a network failure would. */
  drop() {
    if (this.socket) this.socket.close(4000, "dropped on purpose");
  }

  status(s) {
    if (this.o.onStatus) this.o.onStatus(s);
  }

  connect() {
    if (this.stopped) return;
    if (navigator.onLine === false) {
      // no network at all: wait for it instead of failing attempts
      this.status("offline");
      window.addEventListener("online", () => this.connect(), { once: true });
      return;
    }
    this.status("connecting");
    this.o.api.socketUrl().then((url) => this.open(url), (err) => {
      if (this.stopped) return;
      this.status("offline");
      if (err && err.status === 401) { // the session has ended
        if (this.o.onRevoked) this.o.onRevoked();
        return;
      }
      this.retry();
    });
  }

  retry() {
    const wait = this.backoff * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, 10000);
    this.stats.reconnects += 1;
    this.timer = setTimeout(() => this.connect(), wait);
  }

  open(url) {
    if (this.stopped) return;
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      const sub = { type: "subscribe", topics: this.o.topics };
      if (this.subscribedOnce) sub.since = this.lastSeq;
      socket.send(JSON.stringify(sub));
      this.stats.lastMessageAt = Date.now();
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.heartbeat(socket), PING_EVERY_MS);
    };
    socket.onmessage = (m) => {
      this.stats.lastMessageAt = Date.now();
      let data;
      try { data = JSON.parse(m.data); } catch { return; }
      this.receive(data);
    };
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      clearInterval(this.pinger);
      this.socket = null;
      if (this.stopped) return;
      this.status("offline");
      if (e.code === 1008) { // the session ended (signed out, disabled, re-assigned)
        if (this.o.onRevoked) this.o.onRevoked();
        return;
      }
      if (!opened && this.o.api.get) {
        // refused before the upgrade (a browser is not told why): a 401 from the session
        // check means the session has ended, and the page's Api says so
        this.o.api.get("/api/v1/session").then(() => this.retry(), (err) => {
          if (err && err.status === 401) { if (this.o.onRevoked) this.o.onRevoked(); } else this.retry();
        });
        return;
      }
      this.retry();
    };
  }

  heartbeat(socket) {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.stats.lastMessageAt > SILENCE_MS) {
      socket.close(4001, "silent");
      return;
    }
    socket.send(JSON.stringify({ type: "ping" }));
  }

  receive(data) {
    if (data.type === "subscribed") {
      this.backoff = 250;
      this.status("live");
      if (!this.subscribedOnce) {
        this.subscribedOnce = true;
        // the first time, there is no replay: start at the server's seq and load a snapshot
        if (typeof data.seq === "number" && data.seq > this.lastSeq) this.lastSeq = data.seq;
        if (this.o.onSubscribed) this.o.onSubscribed(data.seq);
      }
      return;
    }
    if (typeof data.seq === "number" && data.type !== "pong" && data.type !== "subscribed") {
      if (data.seq <= this.lastSeq) {
        this.stats.duplicates += 1;
        return;
      }
      this.lastSeq = data.seq;
      this.stats.events += 1;
      this.o.onEvent(data);
      return;
    }
    if (this.o.onOther) this.o.onOther(data);
  }
}

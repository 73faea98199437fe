// Hub client for the protocol of DESIGN.md section 4: auth first, subscribe with `since` after a reconnect,
// a REST reload when history cannot fill the gap (`recovered:false`), ping keepalive, backoff.

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

const newId = () =>
  (globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

export class Hub {
  /**
   * @param {object} opts
   * @param {() => string|null} opts.token  bearer token for the first frame
   * @param {(status: string) => void} [opts.onStatus]  "connecting" | "online" | "offline"
   * @param {() => void} [opts.onAuthFailed]  the server closed with 4401
   * @param {(frame: object) => void} [opts.onError]  error frames (forbidden, ...)
   */
  constructor({ token, onStatus = () => {}, onAuthFailed = () => {}, onError = () => {}, url } = {}) {
    this.token = token;
    this.onStatus = onStatus;
    this.onAuthFailed = onAuthFailed;
    this.onError = onError;
    this.url = url || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.channels = new Map(); // channel -> {handlers: Set, position: {offset, epoch}|null, ready: bool}
    this.pending = new Map(); // client id -> {channel, data, resolve, reject}
    this.waiters = new Map(); // "presence:C" -> [resolve]
    this.user = null;
    this.status = "offline";
    this.attempt = 0;
    this.closed = false;
  }

  connect() {
    this.closed = false;
    this._open();
    return this;
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000);
    this._setStatus("offline");
  }

  /** Listen on a channel; `onReset` reloads the REST snapshot (first subscribe and unrecoverable gaps). */
  subscribe(channel, { onMessage = () => {}, onReset = () => {} } = {}) {
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { handlers: new Set(), position: null, ready: false };
      this.channels.set(channel, entry);
      if (this.status === "online") this._sendSubscribe(channel, entry);
    }
    const handler = { onMessage, onReset };
    entry.handlers.add(handler);
    return () => {
      entry.handlers.delete(handler);
      if (entry.handlers.size === 0) {
        this.channels.delete(channel);
        if (this.status === "online") this._send({ op: "unsubscribe", channel });
      }
    };
  }

  /** Publish with a client id; resent after a reconnect until acknowledged (the server deduplicates). */
  publish(channel, data) {
    const id = newId();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { channel, data, resolve, reject });
      if (this.status === "online") this._send({ op: "publish", channel, id, data });
    });
  }

  /** Who is on a channel now; null when offline, refused or unanswered within 3 s. */
  presence(channel) {
    return new Promise((resolve) => {
      if (this.status !== "online") { resolve(null); return; }
      const key = `presence:${channel}`;
      this.waiters.set(key, [...(this.waiters.get(key) || []), resolve]);
      this._send({ op: "presence", channel });
      setTimeout(() => {
        const left = (this.waiters.get(key) || []).filter((r) => r !== resolve);
        if (left.length) this.waiters.set(key, left); else this.waiters.delete(key);
        resolve(null);
      }, 3000);
    });
  }

  position(channel) {
    return this.channels.get(channel)?.position ?? null;
  }

  // -- internals ---------------------------------------------------------------------------------------

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    document.body && (document.body.dataset.hub = status);
    this.onStatus(status);
  }

  _open() {
    this._setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ op: "auth", token: this.token() }));
    ws.onmessage = (event) => this._onFrame(event.data);
    ws.onclose = (event) => this._onClose(ws, event);
    ws.onerror = () => {}; // onclose follows
  }

  _onClose(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    for (const entry of this.channels.values()) entry.ready = false;
    this._setStatus("offline");
    if (this.closed) return;
    if (event.code === 4401) {
      this.onAuthFailed();
      return;
    }
    this._retry();
  }

  _retry() {
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const delay = base / 2 + Math.random() * base; // jitter: a room of screens must not reconnect in step
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._open(), delay);
  }

  _send(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  _sendSubscribe(channel, entry) {
    const frame = { op: "subscribe", channel };
    if (entry.position) frame.since = entry.position;
    this._send(frame);
  }

  _onFrame(text) {
    this.lastFrameAt = Date.now();
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    switch (frame.op) {
      case "welcome": return this._onWelcome(frame);
      case "subscribed": return this._onSubscribed(frame);
      case "message": return this._onMessage(frame);
      case "ack": {
        const waiting = this.pending.get(frame.id);
        if (waiting) { this.pending.delete(frame.id); waiting.resolve(frame); }
        return;
      }
      case "presence": {
        const key = `presence:${frame.channel}`;
        for (const resolve of this.waiters.get(key) || []) resolve(frame.users);
        this.waiters.delete(key);
        return;
      }
      case "error": {
        const waiting = frame.ref != null && this.pending.get(frame.ref);
        if (waiting && frame.code !== "rate_limited") { this.pending.delete(frame.ref); waiting.reject(frame); }
        this.onError(frame);
        return;
      }
      default: return; // pong, unsubscribed
    }
  }

  _onWelcome(frame) {
    this.user = frame.user;
    this.attempt = 0;
    this._setStatus("online");
    for (const [channel, entry] of this.channels) this._sendSubscribe(channel, entry);
    for (const [id, p] of this.pending) this._send({ op: "publish", channel: p.channel, id, data: p.data });
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) { this.ws?.close(4000); return; }
      this._send({ op: "ping" });
    }, PING_EVERY_MS);
  }

  _onSubscribed(frame) {
    const entry = this.channels.get(frame.channel);
    if (!entry) return;
    const first = entry.position === null;
    // On a recovered subscribe `offset` is the channel's newest position and the replay of everything
    // after ours follows: keep our position, or the replayed messages would look already seen.
    if (frame.recovered !== true) entry.position = { offset: frame.offset, epoch: frame.epoch };
    entry.ready = true;
    // A first subscribe closes the gap between the page's snapshot and the live stream; a failed
    // recovery means messages were lost: both reload the REST snapshot, the source of truth.
    if (first || frame.recovered === false) for (const handler of entry.handlers) handler.onReset(frame);
  }

  _onMessage(frame) {
    const entry = this.channels.get(frame.channel);
    if (!entry) return;
    const known = entry.position;
    if (known && known.epoch === frame.epoch && frame.offset <= known.offset) return; // already seen
    entry.position = { offset: frame.offset, epoch: frame.epoch };
    for (const handler of entry.handlers) {
      try { handler.onMessage(frame.data, frame); } catch (exc) { console.error("hub handler", exc); }
    }
  }
}

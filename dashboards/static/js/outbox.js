// Field reports survive a flaky network: a POST that cannot reach the server is kept in localStorage and
// sent, in order, when the network is back.
import { api } from "./api.js";

const KEY = "cc.outbox";
const listeners = new Set();

const read = () => JSON.parse(localStorage.getItem(KEY) || "[]");
const write = (items) => { localStorage.setItem(KEY, JSON.stringify(items)); for (const l of listeners) l(items.length); };

export const pendingCount = () => read().length;
export const onOutboxChange = (listener) => listeners.add(listener);

const transient = (exc) => exc.network || exc.status >= 500 || exc.status === 408 || exc.status === 429;

/** POST now; if the network fails, queue it. Resolves to {sent: true, result} or {sent: false}. */
export async function send(path, body) {
  if (read().length === 0) {
    try {
      return { sent: true, result: await api.post(path, body) };
    } catch (exc) {
      if (!transient(exc)) throw exc;
    }
  }
  write([...read(), { path, body, at: Date.now() }]);
  return { sent: false };
}

let flushing = false;
export async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    for (;;) {
      const [first] = read();
      if (!first) break;
      try {
        await api.post(first.path, first.body);
      } catch (exc) {
        if (transient(exc)) break; // try again later, keep the order
        console.warn("dropping a queued request the server refused", first, exc);
      }
      write(read().slice(1));
    }
  } finally {
    flushing = false;
  }
}

window.addEventListener("online", flush);
setInterval(flush, 5000);

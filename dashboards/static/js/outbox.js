// Field reports survive a flaky network: a POST that cannot reach the server is kept in localStorage and
// sent, in order, when the network is back.
//
// Each queued item belongs to the user who queued it and carries the Idempotency-Key of its first attempt:
// a phone shared by two officers never sends one officer's report with the other's token, and a report
// whose first attempt did reach the server (only the answer was lost) is not filed twice.
import { api, currentUser, newKey } from "./api.js";

const KEY = "cc.outbox";
const listeners = new Set();

const read = () => JSON.parse(localStorage.getItem(KEY) || "[]");
const me = () => currentUser()?.id ?? null;
const mine = (items, user = me()) => items.filter((item) => user !== null && item.user === user);
const write = (items) => {
  localStorage.setItem(KEY, JSON.stringify(items));
  const n = mine(items).length;
  for (const l of listeners) l(n);
};

/** How many of the signed-in user's requests are waiting (other users' items are not counted). */
export const pendingCount = () => mine(read()).length;
export const onOutboxChange = (listener) => listeners.add(listener);

// 401: the token ran out while offline; keep the item for when this user signs in again.
const keep = (exc) => exc.network || exc.status >= 500 || exc.status === 408 || exc.status === 429
  || exc.status === 401;

/** POST now; if the network fails, queue it. Resolves to {sent: true, result} or {sent: false}. */
export async function send(path, body) {
  const user = me();
  const item = { path, body, at: Date.now(), key: newKey(), user };
  if (pendingCount() === 0) {
    try {
      return { sent: true, result: await api.post(path, body, { key: item.key }) };
    } catch (exc) {
      if (!keep(exc)) throw exc;
    }
  }
  write([...read(), item]);
  return { sent: false };
}

let flushing = false;
/** Send the signed-in user's queued items in order; anyone else's wait for their owner. */
export async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    for (;;) {
      const user = me();
      const [first] = mine(read(), user);
      if (!first) break;
      try {
        await api.post(first.path, first.body, { key: first.key });
      } catch (exc) {
        if (keep(exc)) break; // try again later, keep the order
        console.warn("dropping a queued request the server refused", first, exc);
      }
      write(read().filter((item) => item.key !== first.key));
    }
  } finally {
    flushing = false;
  }
}

/** Drop every item the given user queued (on sign-out, after asking). */
export function dropFor(user) {
  write(read().filter((item) => item.user !== user));
}

/** Before signing out: if this user has queued items, ask; true means go ahead (and they are dropped). */
export function confirmDropOnSignOut(ask) {
  const n = pendingCount();
  if (n === 0) return true;
  if (!ask(n)) return false;
  dropFor(me());
  return true;
}

/** Retry whenever the network returns, and every few seconds (pages that queue call this once). */
export function startOutbox() {
  window.addEventListener("online", flush);
  setInterval(flush, 5000);
  flush();
}

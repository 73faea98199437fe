// Field reports survive a flaky network: a POST that cannot reach the server is kept in localStorage and
// sent, in order, when the network is back. One the server refuses when it finally arrives (the incident
// was closed meanwhile, say) is not dropped unseen: it moves to a "refused" list, with the server's reason,
// which the page shows until the officer has read it (the report's content is in it, to pass on by phone).
//
// Each queued item belongs to the user who queued it and carries the Idempotency-Key of its first attempt:
// a phone shared by two officers never sends one officer's report with the other's token, and a report
// whose first attempt did reach the server (only the answer was lost) is not filed twice.
import { api, currentUser, newKey } from "./api.js";

const KEY = "cc.outbox";
const REFUSED = "cc.outbox.refused";
const listeners = new Set();
const refusedListeners = new Set();

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

const readRefused = () => JSON.parse(localStorage.getItem(REFUSED) || "[]");
const writeRefused = (items) => {
  localStorage.setItem(REFUSED, JSON.stringify(items));
  const list = mine(items);
  for (const l of refusedListeners) l(list);
};
/** The signed-in user's queued requests the server refused: {path, body, at, reason, status}. */
export const refused = () => mine(readRefused());
export const onRefused = (listener) => refusedListeners.add(listener);
/** The officer has read them: forget the signed-in user's refused items. */
export function dismissRefused() {
  const user = me();
  writeRefused(readRefused().filter((item) => item.user !== user));
}

// 401: the token ran out while offline; keep the item for when this user signs in again. 409
// idempotency_in_progress: the first attempt is still being handled; it may yet fail, so ask again later.
const keep = (exc) => exc.network || exc.status >= 500 || exc.status === 408 || exc.status === 429
  || exc.status === 401 || (exc.status === 409 && exc.params?.rule === "idempotency_in_progress");

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
        writeRefused([...readRefused(), { ...first, reason: exc.message, status: exc.status }]);
      }
      write(read().filter((item) => item.key !== first.key));
    }
  } finally {
    flushing = false;
  }
}

/** Drop every item the given user queued (on sign-out, after asking), and its refused ones. */
export function dropFor(user) {
  write(read().filter((item) => item.user !== user));
  writeRefused(readRefused().filter((item) => item.user !== user));
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

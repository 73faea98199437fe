// Deadline chips whose colour is recomputed every second from `due_at`: amber in the warning window,
// red once missed, without waiting for a server push.
import { h } from "./dom.js";
import { t, tn } from "./i18n.js";
import { clock, countdownText, deadlineState } from "./time.js";

const live = new Set();

export function countdown(deadline, { label = true } = {}) {
  const text = h("span", { class: "cd-time" });
  const el = h("span", { class: "countdown", dataset: { kind: deadline.kind } },
    label ? h("span", { class: "cd-label" }, tn("deadline", deadline.kind)) : null, text);
  el._deadline = deadline;
  el._text = text;
  update(el);
  live.add(el);
  return el;
}

/** Time elapsed since `iso` ("waiting 02:13"), e.g. for orders nobody has acknowledged yet. */
export function elapsed(iso) {
  const el = h("span", { class: "elapsed" });
  el._since = new Date(iso).getTime();
  update(el);
  live.add(el);
  return el;
}

function update(el) {
  if (el._since) {
    el.textContent = t("time.waiting", { time: clock((Date.now() - el._since) / 1000) });
    return;
  }
  const state = deadlineState(el._deadline);
  if (el.dataset.status !== state.status) {
    el.dataset.status = state.status;
    el.className = `countdown cd-${state.status}`;
  }
  el._text.textContent = countdownText(state);
}

setInterval(() => {
  for (const el of live) {
    if (!el.isConnected) live.delete(el);
    else update(el);
  }
}, 1000);

/** The most urgent open deadline state of a list ("missed" > "warning" > "pending"), for card borders. */
export function worstStatus(deadlines = []) {
  const order = { missed: 3, warning: 2, pending: 1 };
  let worst = null;
  for (const d of deadlines) {
    const s = deadlineState(d).status;
    if ((order[s] || 0) > (order[worst] || 0)) worst = s;
  }
  return worst;
}

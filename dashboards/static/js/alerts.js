// Alerts the command room cannot miss: a banner across the top and a tone made with WebAudio (no sound
// file), for a new incident, a missed deadline, and a drill starting or ending. A mute switch in the top
// bar silences the tone (remembered per browser); the banner always shows. The drill's own notice (what to
// do) is drillnotice.js's; this module only rings and names the event.
import { api } from "./api.js";
import { h } from "./dom.js";
import { onLangChange, t, tn } from "./i18n.js";

const MUTE_KEY = "cc.alerts.muted";
const SHOWN = 6; // banners kept at once; older ones drop off
const TONES = {
  // [frequency Hz, duration s] steps: rising for news, urgent triple for a miss, two-tone for drills.
  incident: [[660, 0.18], [880, 0.28]],
  missed: [[988, 0.16], [0, 0.06], [988, 0.16], [0, 0.06], [988, 0.3]],
  drill: [[523, 0.25], [784, 0.35]],
};
const INCIDENT_ROLES = new Set(["admin", "commander", "duty_officer", "liaison"]);
const DRILL_START = new Set(["drill.started"]);
const DRILL_END = new Set(["drill.ended", "drill.stopped", "drill.finished"]);

let audio = null;
const state = { played: 0, shown: 0, muted: localStorage.getItem(MUTE_KEY) === "true" };

function context() {
  if (!audio) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    audio = new Context();
  }
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}

/** Play a tone pattern now (unless muted). Browsers start audio only after the page was touched once. */
export function ring(kind) {
  if (state.muted) return false;
  const ctx = context();
  if (!ctx) return false;
  let at = ctx.currentTime + 0.02;
  for (const [frequency, duration] of TONES[kind] || TONES.incident) {
    if (frequency) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + duration);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + duration + 0.02);
    }
    at += duration;
  }
  state.played += 1;
  return true;
}

export function setMuted(muted) {
  state.muted = muted;
  localStorage.setItem(MUTE_KEY, String(muted));
  const button = document.getElementById("alert-mute");
  if (button) {
    button.textContent = t(muted ? "alert.sound_off" : "alert.sound_on");
    button.setAttribute("aria-pressed", String(muted));
  }
}

function box() {
  let el = document.getElementById("alerts");
  if (!el) {
    el = h("div", { id: "alerts", role: "alert", "aria-live": "assertive" });
    document.body.append(el);
  }
  return el;
}

/** Show a banner and ring; `kind` is incident | missed | drill. */
export function alertBanner(kind, text, { href = null, drill = false } = {}) {
  const banner = h("div", { class: `alert alert-${kind}${drill ? " is-drill" : ""}`, dataset: { kind } },
    // A drill notice says "drill" once, with the badge every drill item carries (not label, badge and text).
    kind !== "drill" ? h("strong", { class: "alert-label" }, t(`alert.${kind}`)) : null,
    drill ? h("span", { class: "badge badge-drill" }, t("drill.badge")) : null,
    href ? h("a", { href, class: "alert-text" }, text) : h("span", { class: "alert-text" }, text),
    h("button", { type: "button", class: "ghost alert-close", "aria-label": t("video.close"), onclick: () => banner.remove() }, "×"));
  const el = box();
  el.prepend(banner);
  while (el.children.length > SHOWN) el.lastChild.remove();
  state.shown += 1;
  ring(kind);
  // News and drill notices step aside after a while; a missed deadline stays until someone closes it.
  if (kind !== "missed") setTimeout(() => banner.remove(), 60000);
  return banner;
}

async function incidentTitle(subject) {
  const [kind, id] = String(subject || "").split(":");
  if (kind !== "incident") return null;
  try { return (await api.get(`/api/incidents/${id}`)).title; } catch { return null; }
}

/** What a hub message means for the alarm, if anything. */
async function onMessage(user, data) {
  if (!data?.type) return;
  if (data.type === "incident.created" && data.incident && INCIDENT_ROLES.has(user.role)) {
    alertBanner("incident", data.incident.title, { href: `/static/incident.html?id=${data.incident.id}`, drill: data.drill });
  } else if (data.type === "deadline.missed" && data.deadline) {
    const d = data.deadline;
    const title = await incidentTitle(d.subject);
    const [kind, id] = String(d.subject || "").split(":");
    alertBanner("missed", `${tn("deadline", d.kind)}${title ? ` · ${title}` : ""}`,
      { href: kind === "incident" ? `/static/incident.html?id=${id}` : null, drill: data.drill });
  } else if (DRILL_START.has(data.type)) {
    alertBanner("drill", t("alert.drill_started"), { drill: true });
  } else if (DRILL_END.has(data.type)) {
    alertBanner("drill", t(data.type === "drill.stopped" ? "alert.drill_stopped" : "alert.drill_ended"), { drill: true });
  }
}

/** Listen on the user's board and own channel; put the mute switch in the top bar. */
export function installAlerts(hub, user, boardChannel) {
  const seen = new Set(); // channel:offset, so a recovered replay or a message on two channels rings once
  const handle = (data, frame) => {
    const key = `${data?.type}:${data?.id}:${data?.deadline?.id ?? ""}`;
    if (seen.has(key) || (frame && seen.has(`${frame.channel}:${frame.offset}`))) return;
    seen.add(key);
    if (frame) seen.add(`${frame.channel}:${frame.offset}`);
    onMessage(user, data).catch((exc) => console.warn("alert", exc));
  };
  hub.subscribe(boardChannel, { onMessage: handle });
  hub.subscribe(`user:${user.id}`, { onMessage: handle });
  const button = h("button", { type: "button", class: "ghost", id: "alert-mute", onclick: () => setMuted(!state.muted) });
  document.getElementById("sign-out")?.before(button);
  setMuted(state.muted);
  onLangChange(() => setMuted(state.muted));
  // The first touch of the page unlocks audio for later alerts (browser autoplay rules).
  document.addEventListener("pointerdown", () => context(), { once: true });
  window.cc = Object.assign(window.cc || {}, { alerts: state });
}

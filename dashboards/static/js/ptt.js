// Push-to-talk and talk-back in the browser (DESIGN.md section 9). The floor is asked for and given back on
// the hub (ptt.request / ptt.release on user:{me}); once granted, the talk spurt is published as an
// audio-only stream over WHIP and attached to the floor with its stream_id, so members play it over WHEP
// through the same forwarding relay (no mixing). Releasing ends the stream: its recording is the spurt's.
import { optional } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { Publisher, viewStream } from "./webrtc.js";

const TALKERS = new Set(["admin", "commander", "duty_officer", "field_officer"]);
let counter = 0;
const nextRef = () => `ptt-${Date.now().toString(36)}-${++counter}`;

/** Hold-to-talk on one talkgroup. `onState(state, data)` with state idle | requesting | talking | denied. */
export class Talk {
  constructor({ hub, user, talkgroup, incidentId = null, onState = () => {} }) {
    Object.assign(this, { hub, user, talkgroup, incidentId, onState });
    this.state = "idle";
    this.want = false;
    this.publisher = null;
    this.mic = null;
    this.unsubscribe = hub.subscribe(`user:${user.id}`, { onMessage: (data) => this._onMessage(data) });
  }

  /** Ask for the floor (button pressed). */
  async press() {
    if (this.want) return;
    this.want = true;
    this.ref = nextRef();
    this._set("requesting");
    await this._send("ptt.request");
  }

  /** Give the floor back (button released), or withdraw a request still on its way. */
  async release() {
    if (!this.want) return;
    this.want = false;
    await this._stopMedia();
    this._set("idle");
    await this._send("ptt.release");
  }

  close() {
    this.release().catch(() => {});
    this.unsubscribe();
    for (const track of this.mic?.getTracks() || []) track.stop();
  }

  _send(type, extra = {}) {
    return this.hub.publish(`user:${this.user.id}`, { type, talkgroup: this.talkgroup, id: this.ref, drill: false, ...extra });
  }

  _set(state, data = null) {
    this.state = state;
    this.onState(state, data);
  }

  async _onMessage(data) {
    if (data.talkgroup !== this.talkgroup) return;
    if (data.type === "ptt.granted" && data.request === this.ref && !data.stream_id) {
      if (!this.want) { await this._send("ptt.release"); return; }
      this._set("talking", data);
      await this._startMedia();
    } else if (data.type === "ptt.denied" && data.request === this.ref) {
      this.want = false;
      this._set("denied", data);
    } else if (data.type === "ptt.released" && data.reason !== "released" && this.want) {
      // Taken back (time-out) or pre-empted by the command room: stop sending at once.
      this.want = false;
      await this._stopMedia();
      this._set("idle", data);
    }
  }

  async _startMedia() {
    this.mic = this.mic || await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true }, video: false });
    const publisher = new Publisher({
      incidentId: this.incidentId,
      constraints: { audio: true, video: false },
      onState: (state) => {
        if (state === "live" && publisher === this.publisher && publisher.streamId && !publisher.attached) {
          publisher.attached = true;
          this._send("ptt.request", { stream_id: publisher.streamId, id: nextRef() }).catch(() => {});
        }
      },
    });
    publisher.media = new MediaStream(this.mic.getAudioTracks().map((track) => track.clone()));
    this.publisher = publisher;
    await publisher.start();
    if (!this.want) await this._stopMedia();
  }

  async _stopMedia() {
    const publisher = this.publisher;
    this.publisher = null;
    if (publisher) await publisher.stop();
  }
}

/** Play whoever holds the floor on `channel` (a talkgroup's channel, or user:{me} for talk-back). `accept`
 * picks the messages to act on; `onSpeaker(data | null)` shows who speaks. Returns a stop function. */
export function listen({ hub, user, channel, talkgroup = null, accept = () => true, onSpeaker = () => {} }) {
  let current = null;
  const audio = h("audio", { autoplay: true, class: "ptt-audio", hidden: true });
  document.body.append(audio);
  async function stop() {
    const playing = current;
    current = null;
    clearInterval(playing?.timer);
    playing?.close();
    audio.srcObject = null;
    delete document.body.dataset.pttRxBytes;
  }
  async function play(data) {
    if (current?.streamId === data.stream_id) return;
    await stop();
    const entry = { streamId: data.stream_id, close: () => {} };
    current = entry;
    const { pc, close } = await viewStream(data.stream_id, (media) => { audio.srcObject = media; });
    entry.close = close;
    if (current !== entry) { close(); return; }
    // Bytes heard so far, for the page's tests and the level of trust a dispatcher needs ("is it live?").
    entry.timer = setInterval(async () => {
      for (const s of (await pc.getStats()).values()) {
        if (s.type === "inbound-rtp" && s.kind === "audio") document.body.dataset.pttRxBytes = String(s.bytesReceived);
      }
    }, 500);
  }
  const onMessage = (data) => {
    if (!data.type?.startsWith("ptt.") || !accept(data)) return;
    if (data.type === "ptt.granted" && data.speaker?.id !== user.id) {
      onSpeaker(data);
      if (data.stream_id) play(data).catch(() => {});
    } else if (data.type === "ptt.released") {
      onSpeaker(null);
      stop();
    }
  };
  const unsubscribe = hub.subscribe(channel, { onMessage });
  // A page that opens mid-spurt hears the rest of it (and shows who speaks) at once.
  if (talkgroup) {
    optional(`/api/ptt/${encodeURIComponent(talkgroup)}`, null).then((state) => {
      if (state?.speaker && !current) onMessage({ type: "ptt.granted", talkgroup, drill: state.drill, speaker: state.speaker, stream_id: state.stream_id });
    }).catch(() => {});
  }
  return () => { unsubscribe(); stop(); audio.remove(); };
}

/** A hold-to-talk button bound to a Talk: pointer or Space/Enter held down. */
export function talkButton(talk, label) {
  const button = h("button", { type: "button", class: "ptt-button", dataset: { state: "idle" } }, label);
  const down = (event) => {
    event.preventDefault();
    event.stopPropagation();
    // The pointer stays with the button while it is held: a list re-rendering above it (presence, a new task
    // force) or a finger sliding a little must not end the talk, only letting go. (A tile re-attaching its
    // bar drops the capture; that alone does not end the talk either, as before.)
    if (event.pointerId !== undefined) button.setPointerCapture(event.pointerId);
    talk.press().catch(() => {});
  };
  const up = (event) => { event.stopPropagation(); talk.release().catch(() => {}); };
  button.addEventListener("pointerdown", down);
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(name, up);
  button.addEventListener("click", (event) => event.stopPropagation());
  button.addEventListener("keydown", (event) => { if ((event.key === " " || event.key === "Enter") && !event.repeat) down(event); });
  button.addEventListener("keyup", (event) => { if (event.key === " " || event.key === "Enter") up(event); });
  return button;
}

/** The push-to-talk panel of one incident or task force: who speaks, and a hold-to-talk button. */
export function pttPanel({ hub, user, talkgroup, incidentId = null }) {
  const speaker = h("p", { class: "ptt-speaker", "aria-live": "polite" }, t("ptt.idle"));
  const status = h("span", { class: "ptt-status" }, "");
  const panel = h("section", { class: "panel ptt", dataset: { talkgroup, state: "idle" } });
  const talk = new Talk({ hub, user, talkgroup, incidentId, onState: (state, data) => {
    panel.dataset.state = state;
    if (panel.dataset.speaking !== "true") speaker.textContent = state === "talking" ? t("ptt.you_speaking") : t("ptt.idle");
    button.dataset.state = state;
    status.textContent = state === "denied" ? t(`ptt.denied.${data?.reason || "busy"}`)
      : state === "idle" && data?.reason ? t(`ptt.taken.${data.reason}`) : state === "idle" ? "" : t(`ptt.state.${state}`);
  } });
  const button = talkButton(talk, t("ptt.hold"));
  // Speaking publishes an audio stream: roles that may not publish (liaisons, evaluators) listen only.
  button.hidden = !TALKERS.has(user.role);
  const stopListening = listen({ hub, user, channel: talkgroup, talkgroup, onSpeaker: (data) => {
    panel.dataset.speaking = data ? "true" : "false";
    panel.classList.toggle("is-drill", Boolean(data?.drill));
    speaker.textContent = data ? `${data.speaker?.display_name || data.speaker?.name || ""} ${t("ptt.speaking")}` : t("ptt.idle");
  } });
  panel.append(h("h2", {}, t("ptt.title")), speaker, button, status);
  panel.close = () => { talk.close(); stopListening(); };
  return panel;
}

/** The officer's phone: the command room talking back shows "指挥中心正在讲话" and plays it. */
export function listenForTalkBack({ hub, user, banner }) {
  return listen({
    hub, user, channel: `user:${user.id}`,
    accept: (data) => String(data.talkgroup || "").startsWith("stream:"),
    onSpeaker: (data) => {
      banner.hidden = !data;
      document.body.dataset.talkback = data ? "true" : "false";
      const drill = data?.drill ? `[${t("drill.badge")}] ` : "";
      banner.textContent = data ? `${drill}${t("ptt.command_speaking")} · ${data.speaker?.display_name || data.speaker?.name || ""}` : "";
    },
  });
}

// Video wall: every live body-cam stream in a grid with officer, incident, position and health; click a
// tile to enlarge it. Each view goes through POST /api/streams/{id}/view, which the server audits.
import { optional } from "../api.js";
import { createMap } from "../map.js";
import { streamBadge, streamState } from "../streamstate.js";
import { $, fill, h, params, toast } from "../dom.js";
import { onLangChange, t } from "../i18n.js";
import { drillBadge, loadPeople, markDrill, boardChannel, personName, startPage } from "../shell.js";
import { fmt } from "../time.js";
import { viewStream } from "../webrtc.js";
import { Talk, talkButton } from "../ptt.js";
import { can } from "../nav.js";
import { cameraForm, cascadeForm, isBroughtIn, stopButton } from "../cameras.js";

const page = await startPage("video");
if (page) await run(page);

async function run({ user, hub }) {
  const tiles = new Map(); // stream id -> {el, pc, info}
  const titles = new Map(); // incident id -> title, so a tile names the incident rather than "#7"
  let available = true;
  let wallMap = null;
  const phone = window.matchMedia("(max-width: 900px)"); // as the layout's own breakpoint (video.css)
  await loadPeople();

  const officerName = (s) => (typeof s.officer === "object" && s.officer ? s.officer.display_name || s.officer.name : personName(s.officer)) || s.id;
  async function loadTitles() {
    for (const i of (await optional("/api/incidents", [])) || []) titles.set(i.id, i.title);
  }

  function healthText(health) {
    if (!health || typeof health !== "object") return health ? String(health) : "—";
    const parts = [];
    if (health.fps != null) parts.push(`${Math.round(health.fps)} fps`);
    if (health.bitrate_kbps != null) parts.push(`${Math.round(health.bitrate_kbps)} kbps`);
    if (health.loss_fraction != null) parts.push(`${(health.loss_fraction * 100).toFixed(1)}%`);
    if (health.rtt_ms != null) parts.push(`${Math.round(health.rtt_ms)} ms`);
    return parts.join(" · ") || "—";
  }
  const healthBad = (health) => health && typeof health === "object" && ((health.fps ?? 30) < 10 || (health.loss_fraction ?? 0) > 0.05);

  function overlay(tile) {
    const info = tile.info;
    const pos = info.position;
    return [
      h("div", { class: "top" }, streamState(info) === "live" ? h("span", { class: "live-dot" }, t("video.live")) : streamBadge(info), drillBadge(info),
        h("button", { type: "button", class: "close", onclick: (e) => { e.stopPropagation(); enlarge(null); } }, t("video.close")),
        isBroughtIn(info) && can.commandIncidents(user.role) ? stopButton(info, officerName(info), load) : null),
      h("div", { class: "overlay" },
        h("strong", { class: "officer" }, officerName(info)),
        info.incident_id ? h("a", { href: `/static/incident.html?id=${info.incident_id}`, class: "incident-title", onclick: (e) => e.stopPropagation() },
          titles.get(info.incident_id) || t("incident.open")) : null,
        h("span", { class: "position" }, `${t("video.position")}: ${pos ? `${Number(pos.lat).toFixed(5)}, ${Number(pos.lon).toFixed(5)}` : "—"}`),
        h("span", { class: `health${healthBad(info.health) ? " health-bad" : ""}` }, `${t("video.health")}: ${healthText(info.health)}`),
        streamState(info) === "lost" ? h("span", { class: "health-bad signal-lost" }, t("video.state.lost")) : null,
        h("span", { class: "muted" }, `${t("video.started")} ${fmt(info.started_at, "time")}`),
        viewError(tile)),
    ];
  }

  function enlarge(id) {
    for (const [key, tile] of tiles) tile.el.classList.toggle("enlarged", key === id);
  }

  // A view that could not start (the relay restarting, the stream not ready yet) is tried again while the
  // tile stays: a wall runs unattended, and a tile must not stay black until someone reloads the page.
  const viewError = (tile) => tile.error ? h("span", { class: "error view-error" }, t("video.view_failed", { reason: tile.error })) : null;
  function showViewError(tile, message) {
    tile.error = message;
    tile.el.querySelector(".view-error")?.remove();
    if (message) tile.el.querySelector(".overlay")?.append(viewError(tile));
  }
  function retryLater(tile, delay) {
    tile.retry = setTimeout(() => connect(tile, Math.min(delay * 2, 30000)), delay);
  }

  async function connect(tile, delay = 2000) {
    tile.retry = null;
    try {
      const { pc, close } = await viewStream(tile.info.id, (media) => { tile.video.srcObject = media; });
      if (tile.gone) { close(); return; }
      tile.pc = pc;
      tile.close = close; // ends the WHEP session too
      if (tile.error) showViewError(tile, null);
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed" && !tile.gone) { close(); retryLater(tile, 2000); }
      };
    } catch (exc) {
      if (tile.gone) return;
      showViewError(tile, exc.message);
      retryLater(tile, delay);
    }
  }

  async function load() {
    const streams = await optional("/api/streams", null);
    available = streams !== null;
    const live = new Map((streams || []).filter(hasVideo).map((s) => [String(s.id), s]));
    for (const [id, tile] of tiles) {
      // Gone from the live list: the stream ended, and its WHEP sessions with it (no DELETE to send). Without
      // a list (refused or not there) nothing is known to have ended: end the sessions we hold.
      if (!live.has(id)) {
        (tile.close || (() => tile.pc?.close()))({ ended: available });
        clearTimeout(tile.retry);
        tile.talk?.close(); tile.gone = true; tile.el.remove(); tiles.delete(id);
        if (available) toast(t("video.ended", { name: officerName(tile.info) })); // not a silent disappearance
      }
    }
    for (const [id, info] of live) {
      let tile = tiles.get(id);
      if (!tile) {
        const video = h("video", { autoplay: true, muted: true, playsinline: true });
        video.muted = true; // the attribute alone does not mute an element made by script
        const el = h("article", { class: "tile", dataset: { id, muted: "true" }, onclick: () => enlarge(el.classList.contains("enlarged") ? null : id) }, video);
        tile = { el, video, info, pc: null };
        tiles.set(id, tile);
        connect(tile);
      }
      tile.info = info;
      markDrill(tile.el, info);
      tile.el.replaceChildren(tile.video, ...overlay(tile), audioBar(tile, { user, hub }));
    }
    render();
    wallMap?.setOfficers(streams || []);
  }

  function render() {
    $("#stream-count").textContent = tiles.size;
    const box = $("#tiles");
    if (!tiles.size) { fill(box, h("p", { class: "empty" }, available ? t("video.no_streams") : t("board.not_available"))); return; }
    box.querySelector(".empty")?.remove();
    // Fill the wall: 1 stream full screen, 2-4 in a 2x2 grid, up to 16 in 4x4; beyond that rows scroll.
    // A phone shows one tile per row and scrolls: side by side, two tiles were too narrow to watch.
    const narrow = phone.matches;
    const cols = narrow ? 1 : Math.ceil(Math.sqrt(tiles.size));
    const rows = Math.ceil(tiles.size / cols);
    const scrolls = narrow || tiles.size > 16;
    box.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    box.style.gridTemplateRows = scrolls ? "" : `repeat(${rows}, minmax(0, 1fr))`;
    box.style.gridAutoRows = scrolls ? (narrow ? "240px" : "330px") : "";
    for (const tile of tiles.values()) if (tile.el.parentNode !== box) box.append(tile.el);
  }

  phone.addEventListener("change", render);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") enlarge(null); });
  onLangChange(() => load().catch(() => {}));
  await loadTitles().catch(() => {});
  if (can.commandIncidents(user.role)) {
    const open = () => [...titles].map(([id, title]) => ({ id, title }));
    $("#wall-side").prepend(cameraForm({ incidents: open, onChange: () => load() }), cascadeForm({ onChange: () => load() }));
  }
  wallMap = await createMap($("#wall-map"), { onStream: (id) => enlarge(String(id)) }).catch((exc) => { console.warn("map", exc); return null; });
  await load();
  const wanted = params().get("stream");
  if (wanted) enlarge(wanted);
  hub.subscribe(boardChannel(user), { onMessage: (data) => {
    if (data.type?.startsWith("stream.")) load().catch(() => {});
    if (data.type?.startsWith("incident.") && data.incident) { titles.set(data.incident.id, data.incident.title); }
  } });
  setInterval(() => load().catch(() => {}), 5000); // health and position change continuously
  document.body.dataset.ready = "true";
}

// -- scene audio and talk-back (kept apart from the tile layout above) ---------------------------------------

/** Push-to-talk spurts and talk-back are audio-only streams: they are heard, not shown as tiles. */
function hasVideo(stream) {
  const codecs = stream.codecs || {};
  return !(codecs.audio && !codecs.video);
}

/** The command room talks back (a function, hoisted: the page runs before later constants exist). */
function commandRoom(role) {
  return role === "commander" || role === "duty_officer" || role === "admin";
}

/** A tile's audio controls, made once per tile: unmute, a level meter, and hold-to-talk ("对讲") back to
 * the officer (talkgroup stream:{id}); the officer's answer comes on the tile's own audio. */
function audioBar(tile, { user, hub }) {
  if (tile.audioBar) return tile.audioBar;
  tile.video.muted = true; // the property, not only the attribute: tiles start silent
  const level = h("span", { class: "level-fill" });
  const unmute = h("button", { type: "button", class: "unmute", dataset: { muted: "true" }, onclick: (event) => {
    event.stopPropagation();
    tile.video.muted = !tile.video.muted;
    if (!tile.video.muted) tile.video.play().catch(() => {});
    unmute.dataset.muted = String(tile.video.muted);
    tile.el.dataset.muted = String(tile.video.muted);
    unmute.textContent = t(tile.video.muted ? "video.unmute" : "video.mute");
  } }, t("video.unmute"));
  const bar = h("div", { class: "audio-bar", onclick: (event) => event.stopPropagation() },
    unmute, h("span", { class: "level", title: t("video.level") }, level));
  // Talk-back reaches the officer or device publishing the stream; a pulled camera or another centre's
  // stream has nobody at this end to hear it, so it offers none.
  if (commandRoom(user.role) && !isBroughtIn(tile.info)) {
    tile.talk = new Talk({ hub, user, talkgroup: `stream:${tile.info.id}`, incidentId: tile.info.incident_id, onState: (state, data) => {
      bar.dataset.talk = state;
      bar.querySelector(".ptt-button").dataset.state = state;
      if (state === "denied") bar.title = t(`ptt.denied.${data?.reason || "busy"}`);
    } });
    bar.append(talkButton(tile.talk, t("video.talk")));
  }
  tile.audioBar = bar;
  meter(tile, level);
  return bar;
}

/** Drive a level meter from the tile's received audio (RMS of the last analyser window), while it lives. */
function meter(tile, fill) {
  let analyser = null;
  let samples = null;
  const step = () => {
    if (tile.gone) return;
    const track = tile.video.srcObject?.getAudioTracks?.()[0];
    if (!analyser && track) {
      const context = meter.context || (meter.context = new AudioContext());
      analyser = context.createAnalyser();
      analyser.fftSize = 512;
      context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      samples = new Float32Array(analyser.fftSize);
    }
    if (analyser) {
      if (meter.context.state === "suspended") meter.context.resume().catch(() => {});
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      const rms = Math.sqrt(sum / samples.length);
      const percent = Math.min(100, Math.round(Math.max(0, 20 * Math.log10(rms || 1e-6) + 60) * (100 / 60)));
      fill.style.width = `${percent}%`;
      tile.el.dataset.audioLevel = String(percent);
    }
    setTimeout(step, 100);
  };
  step();
}

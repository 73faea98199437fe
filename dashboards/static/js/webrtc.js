// WebRTC with standard signaling (DESIGN.md section 9, non-trickle): the field camera publishes with WHIP
// (RFC 9725), the video wall plays with WHEP; both are a POST of application/sdp answered 201 + Location.
import { api, ApiError, token } from "./api.js";

const ICE_WAIT_MS = 3000;
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

/** Wait until ICE gathering completes (the offer then carries every candidate), at most a few seconds. */
function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_WAIT_MS);
  });
}

/** POST an SDP offer (WHIP/WHEP); fetch follows a 307 to the process holding the stream. Resolves to
 * {sdp, location} with the session URL made absolute against where the answer came from. */
export async function postSdp(url, sdp) {
  const headers = { "Content-Type": "application/sdp" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch(url, { method: "POST", headers, body: sdp });
  } catch (exc) {
    throw new ApiError(0, "network", String(exc.message || exc));
  }
  if (response.status !== 201) {
    let info = {};
    try { info = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, info.error || "http_error", info.detail || response.statusText, info.field);
  }
  const location = new URL(response.headers.get("Location"), response.url).href;
  return { sdp: await response.text(), location };
}

/** DELETE a WHIP/WHEP session resource; failures are ignored (the session also ends on disconnect). */
export async function endSession(url) {
  if (!url) return;
  const t = token();
  try { await fetch(url, { method: "DELETE", headers: t ? { Authorization: `Bearer ${t}` } : {} }); } catch { /* gone */ }
}

/** The field officer's camera + microphone + GPS ("telemetry" data channel), reconnecting on failure. */
export class Publisher {
  constructor({ incidentId = null, onState = () => {}, constraints } = {}) {
    this.incidentId = incidentId;
    this.onState = onState;
    this.constraints = constraints || {
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "environment" }, audio: true,
    };
    this.streamId = null;
    this.media = null;
    this.pc = null;
    this.telemetry = null;
    this.attempt = 0;
    this.stopped = true;
    this.lastFix = null;
  }

  async start() {
    this.stopped = false;
    this.media = this.media || await navigator.mediaDevices.getUserMedia(this.constraints);
    await this._connect();
    return this.media;
  }

  async stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.pc?.close();
    this.pc = null;
    for (const track of this.media?.getTracks() || []) track.stop();
    this.media = null;
    if (this.streamId) await endSession(this.session || `/api/whip/${encodeURIComponent(this.streamId)}`);
    this.streamId = null;
    this.session = null;
    this.onState("idle");
  }

  /** GPS over the "telemetry" data channel; over REST (at most every 10 s) while the channel is down. */
  sendPosition(fix) {
    this.lastFix = fix;
    if (this.telemetry?.readyState === "open") {
      this.telemetry.send(JSON.stringify({ ...fix, ts: Date.now() }));
    } else if (this.streamId && Date.now() - (this.lastRestFix || 0) > 10000) {
      this.lastRestFix = Date.now();
      api.post(`/api/streams/${encodeURIComponent(this.streamId)}/position`, fix).catch(() => {});
    }
  }

  async _connect() {
    this.onState(this.attempt ? "reconnecting" : "starting");
    const pc = new RTCPeerConnection();
    this.pc?.close();
    this.pc = pc;
    for (const track of this.media.getTracks()) pc.addTrack(track, this.media);
    this.telemetry = pc.createDataChannel("telemetry");
    this.telemetry.onopen = () => { if (this.lastFix) this.sendPosition(this.lastFix); };
    pc.onconnectionstatechange = () => this._onConnectionState(pc);
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc);
      const query = new URLSearchParams();
      if (this.incidentId) query.set("incident_id", this.incidentId);
      // The same stream id resumes the stream after a network drop (viewers stay attached).
      if (this.streamId) query.set("stream_id", this.streamId);
      let answer;
      try {
        answer = await postSdp(`/api/whip?${query}`, pc.localDescription.sdp);
      } catch (exc) {
        if (!query.has("stream_id") || exc.status !== 404) throw exc;
        query.delete("stream_id");
        answer = await postSdp(`/api/whip?${query}`, pc.localDescription.sdp);
      }
      if (pc !== this.pc) return;
      this.session = answer.location;
      this.streamId = decodeURIComponent(new URL(answer.location).pathname.split("/").pop());
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (exc) {
      if (pc !== this.pc) return;
      if (exc.status && exc.status < 500 && exc.status !== 408 && exc.status !== 429) {
        this.onState("failed", exc);
        return;
      }
      this._retry();
    }
  }

  _onConnectionState(pc) {
    if (pc !== this.pc || this.stopped) return;
    const state = pc.connectionState;
    if (state === "connected") { this.attempt = 0; this.onState("live"); }
    else if (state === "failed") this._retry();
    else if (state === "disconnected") {
      this.onState("reconnecting");
      // ICE often recovers by itself from a short drop; renegotiate only if it does not.
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => { if (pc === this.pc && pc.connectionState !== "connected") this._retry(); }, 4000);
    }
  }

  _retry() {
    if (this.stopped) return;
    this.onState("reconnecting");
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => { if (!this.stopped) this._connect(); }, delay);
  }
}

/** Open a receive-only connection to a live stream over WHEP; resolves to {pc, media, close}. The server
 * audits the view; close() ends the WHEP session and the connection. close({ ended: true }) when the
 * stream has ended: the server ended its sessions with it, and a DELETE would only be answered 404. */
export async function viewStream(streamId, onTrack) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const media = new MediaStream();
  pc.ontrack = (event) => { media.addTrack(event.track); onTrack?.(media); };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  let answer;
  try {
    answer = await postSdp(`/api/whep/${encodeURIComponent(streamId)}`, pc.localDescription.sdp);
  } catch (exc) {
    pc.close();
    throw exc;
  }
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  const close = ({ ended = false } = {}) => { pc.close(); if (!ended) endSession(answer.location); };
  return { pc, media, session: answer.location, close };
}

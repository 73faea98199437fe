// WebRTC over REST signaling (DESIGN.md section 9, non-trickle): publish the field camera, view a stream.
import { api } from "./api.js";

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
    if (this.streamId) { try { await api.del(`/api/streams/${encodeURIComponent(this.streamId)}`); } catch { /* ends on disconnect */ } }
    this.streamId = null;
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
      const body = { sdp: pc.localDescription.sdp, type: "offer" };
      if (this.incidentId) body.incident_id = this.incidentId;
      // The same stream id resumes the stream after a network drop (viewers stay attached).
      if (this.streamId) body.stream_id = this.streamId;
      let answer;
      try {
        answer = await api.post("/api/streams", body);
      } catch (exc) {
        if (!body.stream_id || exc.status !== 404) throw exc;
        delete body.stream_id;
        answer = await api.post("/api/streams", body);
      }
      if (pc !== this.pc) return;
      this.streamId = String(answer.id);
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

/** Open a receive-only connection to a live stream; resolves to {pc, stream}. The server audits it. */
export async function viewStream(streamId, onTrack) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const media = new MediaStream();
  pc.ontrack = (event) => { media.addTrack(event.track); onTrack?.(media); };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  const answer = await api.post(`/api/streams/${encodeURIComponent(streamId)}/view`,
    { sdp: pc.localDescription.sdp, type: "offer" });
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  return { pc, media };
}

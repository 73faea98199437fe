"""Plain-JavaScript WHIP and WHEP clients run inside headless Chromium: only fetch and RTCPeerConnection.

Nothing of the project's pages is used, so these are an independent client stack: what any web developer
would write from the RFC. Each is a function ``page.evaluate`` calls with one argument.
"""

GATHERED = """
const gathered = (pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve();
  pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") resolve();
  });
});
"""

WHIP_PUBLISH = (
    "async ({url, token}) => {"
    + GATHERED
    + """
  const constraints = { video: { width: 640, height: 480 }, audio: true };
  const media = await navigator.mediaDevices.getUserMedia(constraints);
  // "detail": keep the resolution when the CPU is short (a busy CI machine), so the viewer's width shows
  // what the relay did to the stream (nothing), not what Chromium's encoder chose to send meanwhile.
  for (const track of media.getVideoTracks()) track.contentHint = "detail";
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + token },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) return { status: response.status, body };
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  window.publisher = pc;
  return {
    status: response.status,
    type: response.headers.get("Content-Type"),
    location: new URL(response.headers.get("Location"), response.url).href,
    etag: response.headers.get("ETag"),
  };
}"""
)

WHEP_VIEW = (
    "async ({url, token, frames}) => {"
    + GATHERED
    + """
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + token },
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) return { status: response.status, body };
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  const started = performance.now();
  let decoded = 0, width = 0, codec = "", firstFrameMs = null;
  while (performance.now() - started < 30000) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        decoded = s.framesDecoded || 0; width = s.frameWidth || 0;
        const c = stats.get(s.codecId); if (c) codec = c.mimeType;
      }
    });
    if (decoded > 0 && firstFrameMs === null) firstFrameMs = Math.round(performance.now() - started);
    if (decoded >= frames) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  window.viewer = pc;
  return {
    status: response.status, decoded, width, codec,
    firstFrameMs,
    location: new URL(response.headers.get("Location"), response.url).href,
    redirected: response.redirected,
  };
}"""
)

DELETE = """async ({url, token}) => {
  const response = await fetch(url, { method: "DELETE", headers: { "Authorization": "Bearer " + token } });
  return response.status;
}"""

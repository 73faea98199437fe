"""Benchmark push-to-talk: mouth-to-ear latency, floor-grant latency over the hub, relay CPU per listener.

    python benchmarks/ptt.py [--quick] [--listeners 50] [--grants 200] [--window 8]
                             [--relay-loop uvloop|asyncio] [--listeners-in-process] [--no-grants]

Prints ONE JSON object. Three measurements:

* mouth-to-ear on loopback: a publisher sends 20 ms Opus frames of silence with a 1 kHz tone burst every
  500 ms; the wall clock is stamped when the burst frame leaves the track for the encoder ("mouth"), and a
  listener that decodes through the relay stamps the first loud decoded frame ("ear"). Bursts are 500 ms
  apart, far more than the latency, so they are matched in order. Relay in its own process (the forwarding
  relay of ``benchmarks/video_relay.py --role relay``, on uvloop as ``serve`` runs it: uvicorn's
  ``loop="auto"`` picks uvloop, which ``uvicorn[standard]`` installs), publisher and ear here. The other
  listeners are phones of their own in reality: they run in a second process ("crowd"), so the ear does
  not share its event loop with 49 other receivers (``--listeners-in-process`` puts them back here).
* relay CPU per listener: the same relay process's CPU time over a window with the publisher alone, then
  with ``--listeners`` listeners (they do not decode); the difference divided by the listener count.
* floor grant over the hub: the platform (``command_center demo``) in its own process, a field officer's
  ``HubClient`` publishes ``ptt.request`` on its ``user:{id}`` and waits for ``ptt.granted`` there, then
  releases and waits for ``ptt.released`` on the incident channel; ``--grants`` times, 50 ms apart (the
  hub rate-limits publishes per connection).
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from video_relay import _pct, call  # noqa: E402

from streaming import ice_configuration  # noqa: E402

RATE = 48000
SAMPLES = 960  # 20 ms
BURST_EVERY = 25  # frames: 500 ms
DEMO_PASSWORD = "demo-pass-2026"


class ToneTrack(MediaStreamTrack):
    """Silence with a 1 kHz burst every 500 ms, paced in real time; remembers when each burst left."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []
        self._index = 0
        self._start: float | None = None
        t = np.arange(SAMPLES) / RATE
        self._tone = (np.sin(2 * math.pi * 1000 * t) * 20000).astype(np.int16).reshape(1, -1)
        self._silence = np.zeros((1, SAMPLES), dtype=np.int16)

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.time()
        due = self._start + self._index * SAMPLES / RATE
        await asyncio.sleep(max(0.0, due - time.time()))
        burst = self._index % BURST_EVERY == 0 and self._index > 0
        frame = av.AudioFrame.from_ndarray(
            self._tone if burst else self._silence, format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        frame.pts = self._index * SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self._index += 1
        if burst:
            self.sent.append(time.time())
        return frame


class Listener:
    def __init__(self, decode: bool) -> None:
        self.pc = RTCPeerConnection(ice_configuration())
        self.pc.addTransceiver("audio", direction="recvonly")
        self.decode = decode
        self.heard: list[float] = []
        self._loud = False
        self._task: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.decode:
            self._task = asyncio.ensure_future(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray().astype(np.float64)
                loud = float(np.sqrt(np.mean(samples * samples))) > 2000
                if loud and not self._loud:
                    self.heard.append(time.time())
                self._loud = loud
        except MediaStreamError:
            pass

    async def join(self, port: int, stream_id: str) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await call(port, {"op": "view", "id": stream_id, "sdp": self.pc.localDescription.sdp})
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        await self.pc.close()


async def relay_cores(port: int, window: float) -> float:
    before = await call(port, {"op": "cpu"})
    await asyncio.sleep(window)
    after = await call(port, {"op": "cpu"})
    return (after["cpu"] - before["cpu"]) / (after["wall"] - before["wall"])


async def media(args: argparse.Namespace) -> dict[str, Any]:
    relay = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "benchmarks" / "video_relay.py"),
        "--role",
        "relay",
        "--mode",
        "forward",
        "--loop",
        args.relay_loop,
        stdout=asyncio.subprocess.PIPE,
    )
    assert relay.stdout is not None
    port = int((await asyncio.wait_for(relay.stdout.readline(), 30)).decode())
    publisher = RTCPeerConnection(ice_configuration())
    tone = ToneTrack()
    publisher.addTrack(tone)
    listeners: list[Listener] = []
    crowd: asyncio.subprocess.Process | None = None
    try:
        await publisher.setLocalDescription(await publisher.createOffer())
        reply = await call(port, {"op": "publish", "sdp": publisher.localDescription.sdp})
        await publisher.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        stream_id = reply["id"]
        ear = Listener(decode=True)
        listeners.append(ear)
        await ear.join(port, stream_id)
        await asyncio.sleep(1.0)
        alone = await relay_cores(port, args.window)
        if args.listeners_in_process:
            for _ in range(args.listeners - 1):
                listener = Listener(decode=False)
                listeners.append(listener)
                await listener.join(port, stream_id)
        else:
            crowd = await _crowd(port, stream_id, args.listeners - 1)
        await asyncio.sleep(2.0)
        sent_before = len(tone.sent)
        loaded = await relay_cores(port, args.window)
        latencies = _match(tone.sent, ear.heard)
        sent = await call(port, {"op": "sent", "id": stream_id})
        frames = sorted(sent["sent"].values())
    finally:
        if crowd is not None:
            assert crowd.stdin is not None
            crowd.stdin.close()  # the crowd's listeners leave
            try:
                await asyncio.wait_for(crowd.wait(), 20)
            except TimeoutError:
                crowd.kill()
                await crowd.wait()
        for listener in listeners:
            await listener.close()
        await publisher.close()
        relay.terminate()
        await relay.wait()
    return {
        "mouth_to_ear_ms": {
            "bursts": len(latencies),
            "p50": _pct(latencies, 0.5),
            "p95": _pct(latencies, 0.95),
            "max": _pct(latencies, 1.0),
            "bursts_sent": len(tone.sent),
            "sent_before_load": sent_before,
        },
        "relay_cpu": {
            "listeners": args.listeners,
            "cores_with_1_listener": round(alone, 4),
            "cores_with_all": round(loaded, 4),
            "cores_per_listener": round((loaded - alone) / max(1, args.listeners - 1), 5),
            "frames_sent_per_listener_min": frames[0] if frames else None,
        },
    }


async def _crowd(port: int, stream_id: str, count: int) -> asyncio.subprocess.Process:
    """Start ``count`` non-decoding listeners in a process of their own; return once all have joined."""
    crowd = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "crowd",
        "--port",
        str(port),
        "--stream",
        stream_id,
        "--listeners",
        str(count),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert crowd.stdout is not None
    line = await asyncio.wait_for(crowd.stdout.readline(), 120)
    if line.strip() != b"ready":
        raise RuntimeError(f"the crowd of listeners did not start: {line!r}")
    return crowd


async def run_crowd(port: int, stream_id: str, count: int) -> None:
    """The crowd process: join, say "ready", listen until the bench closes our stdin."""
    listeners = [Listener(decode=False) for _ in range(count)]
    try:
        for listener in listeners:
            await listener.join(port, stream_id)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        for listener in listeners:
            await listener.close()


def _match(sent: list[float], heard: list[float]) -> list[float]:
    """Pair each heard burst with the latest burst sent before it (bursts are 500 ms apart)."""
    latencies = []
    for arrival in heard:
        before = [s for s in sent if s <= arrival]
        if before and arrival - before[-1] < 0.45:
            latencies.append(round((arrival - before[-1]) * 1000, 2))
    return latencies


# -- floor grants over the hub ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def grants(args: argparse.Namespace) -> dict[str, Any]:
    from command_center.hub.client import HubClient

    folder = Path(tempfile.mkdtemp(prefix="bench-ptt-"))
    port = _free_port()
    env = {
        **os.environ,
        "CC_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{folder / 'cc.db'}",
        "CC_RECORDINGS_DIR": str(folder / "recordings"),
    }
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "command_center", "demo", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            tokens = {}
            for name in ("commander", "field1"):
                response = await http.post(
                    "/api/auth/token", data={"username": name, "password": DEMO_PASSWORD}
                )
                tokens[name] = response.json()["access_token"]
            auth = {"Authorization": f"Bearer {tokens['commander']}"}
            body = {"title": "对讲基准", "category": "collective_petition"}
            incident = (await http.post("/api/incidents", json=body, headers=auth)).json()["id"]
            me = (
                await http.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['field1']}"})
            ).json()["id"]
        group, mine = f"incident:{incident}", f"user:{me}"
        latencies: list[float] = []
        async with HubClient([base.replace("http", "ws") + "/ws"], tokens["field1"]) as hub:
            await hub.subscribe(mine)
            await hub.subscribe(group)
            for i in range(args.grants):
                started = time.perf_counter()
                await hub.publish(
                    mine, {"type": "ptt.request", "talkgroup": group, "id": f"g{i}", "drill": False}
                )
                await _wait(hub, mine, "ptt.granted", lambda d, i=i: d.get("request") == f"g{i}")
                latencies.append((time.perf_counter() - started) * 1000)
                await hub.publish(
                    mine, {"type": "ptt.release", "talkgroup": group, "id": f"r{i}", "drill": False}
                )
                await _wait(hub, group, "ptt.released", lambda d: True)
                await asyncio.sleep(0.05)  # stay under CC_WS_PUBLISH_RATE (50/s per connection)
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    return {
        "floor_grant_ms": {
            "grants": len(latencies),
            "p50": _pct(latencies, 0.5),
            "p95": _pct(latencies, 0.95),
            "p99": _pct(latencies, 0.99),
            "max": _pct(latencies, 1.0),
            "database": "postgresql" if args.database_url else "sqlite",
        }
    }


async def _wait(hub: Any, channel: str, kind: str, match: Any) -> None:
    while True:
        event = await asyncio.wait_for(hub.next(), 10)
        data = getattr(event, "data", None) or {}
        if getattr(event, "channel", None) == channel and data.get("type") == kind and match(data):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 listeners, 3 s windows, 50 grants")
    parser.add_argument("--listeners", type=int, default=None)
    parser.add_argument("--grants", type=int, default=None)
    parser.add_argument("--window", type=float, default=None)
    parser.add_argument("--database-url", default=None, help="e.g. a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--relay-loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument(
        "--listeners-in-process", action="store_true", help="the other listeners share the ear's process"
    )
    parser.add_argument(
        "--no-grants", action="store_true", help="media only (mouth-to-ear, relay CPU): no floor grants"
    )
    parser.add_argument("--role", choices=["bench", "crowd"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stream", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "crowd":
        asyncio.run(run_crowd(args.port, args.stream, args.listeners))
        return
    args.listeners = args.listeners or (10 if args.quick else 50)
    args.grants = args.grants or (50 if args.quick else 200)
    args.window = args.window or (3.0 if args.quick else 8.0)
    load_before = os.getloadavg()
    result = asyncio.run(media(args))
    if not args.no_grants:
        result.update(asyncio.run(grants(args)))
    result["setup"] = {
        "relay_loop": args.relay_loop,
        "other_listeners": "ear's process" if args.listeners_in_process else "own process",
    }
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

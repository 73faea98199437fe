"""Benchmark viewers spread over several processes, so no one process's event loop is the bottleneck.

    python benchmarks/viewer_pool.py --relay-port P --stream S   # one viewer process, as ViewerPool runs it
    python benchmarks/viewer_pool.py --whep URL --token T         # the same, playing over WHEP (whip_bench)

Each process hosts many aiortc viewers and answers JSON-lines commands over a TCP control socket (the
same protocol as the benchmark relay: ``video_relay.call``). A few viewers decode every frame and read the
stamps in the pixels (glass-to-glass latency); the others only receive, decrypt and count frames through
``tap_encoded_frames`` (no decoding), the lightest honest receiver: every packet still crosses ICE, DTLS-SRTP
and the jitter buffer. ``ViewerPool`` (in the benchmark process) spreads joins round-robin over them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from streaming import ice_configuration, read_stamp
from streaming.aiortc_internals import tap_encoded_frames


async def call(port: int, message: dict[str, Any]) -> dict[str, Any]:
    """One JSON-lines request/response over TCP to a benchmark process (relay or viewer pool)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
    reply = json.loads(await reader.readline())
    writer.close()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return dict(reply)


#: How a viewer's offer reaches the relay: SDP offer in, SDP answer out.
Signal = Callable[[str], Awaitable[str]]


def relay_signal(port: int, stream_id: str) -> Signal:
    """The benchmark relay's control socket (``video_relay.py``, the relay alone)."""

    async def signal(offer: str) -> str:
        return str((await call(port, {"op": "view", "id": stream_id, "sdp": offer}))["sdp"])

    return signal


class WhepSignal:
    """WHEP, as a video wall plays: POST the offer as ``application/sdp``, following a 307 to the owner."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.redirected = 0
        self._http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=20))

    async def __call__(self, offer: str) -> str:
        response = await self._http.post(
            self.url,
            content=offer,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
            follow_redirects=True,
        )
        if response.status_code != 201:
            raise RuntimeError(f"WHEP {response.status_code}: {response.text[:200]}")
        self.redirected += bool(response.history)
        return response.text


class BenchViewer:
    """One viewer: decodes and reads stamps (``decode``), or counts encoded frames without decoding.

    A ``light`` counting viewer goes further: each decrypted RTP packet ends in a counter of frames (RTP
    marker bits) instead of aiortc's receive pipeline (bitrate estimator, jitter buffer, NACK, receiver-report
    statistics). That pipeline is the load generator's cost, not the relay's, but without it the viewer
    sends the relay no receiver reports or REMB, which the relay would otherwise have to read (about 5% of
    its time in the profile in ``benchmarks/RESULTS.md``).
    """

    def __init__(self, decode: bool, light: bool = False) -> None:
        self.decode = decode
        self.pc = RTCPeerConnection(ice_configuration())
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        self.frames = 0
        self.joined_at = 0.0
        self.first_frame_at: float | None = None
        self.connected_at: float | None = None
        self.latencies_ms: list[float] = []
        self.measuring = False
        self._task: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_state)
        if decode:
            self.pc.on("track", self._on_track)
        elif light:
            # aiortc's transport awaits receiver._handle_rtp_packet(packet, arrival_time_ms) per packet.
            transceiver.receiver._handle_rtp_packet = self._on_packet  # type: ignore[method-assign]
        else:
            tap_encoded_frames(transceiver.receiver, self._on_encoded)

    async def _on_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.marker:
            self._frame()

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()

    def _frame(self) -> None:
        self.frames += 1
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()

    def _on_encoded(self, mime: str, rate: int, data: bytes, ts: int) -> None:
        self._frame()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._task = asyncio.ensure_future(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now_ms = time.time() * 1000
                self._frame()
                stamp = read_stamp(frame)
                if stamp is not None and self.measuring:
                    self.latencies_ms.append(now_ms - stamp.epoch_ms)

    async def join(self, signal: Signal) -> None:
        self.joined_at = time.monotonic()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await signal(self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def wait_first_frame(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.first_frame_at is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pc.close()


# -- one viewer process ------------------------------------------------------------------------------------


class _ViewerProcess:
    def __init__(self, signal: Signal, light: bool) -> None:
        self.signal = signal
        self.light = light
        self.viewers: list[BenchViewer] = []
        self._marked: tuple[list[int], float, float] = ([], 0.0, 0.0)

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message["op"]
        if op == "join":
            return await self._join(int(message["count"]), int(message["decode"]), int(message["batch"]))
        if op == "mark":
            for viewer in self.viewers:
                viewer.measuring = True
                viewer.latencies_ms.clear()
            times = os.times()
            self._marked = ([v.frames for v in self.viewers], time.monotonic(), times.user + times.system)
            return {}
        if op == "report":
            counts, wall_before, cpu_before = self._marked
            wall = time.monotonic() - wall_before
            times = os.times()
            return {
                "fps": [(v.frames - c) / wall for v, c in zip(self.viewers, counts, strict=False)],
                "latencies_ms": [ms for v in self.viewers if v.decode for ms in v.latencies_ms],
                "cpu_cores": (times.user + times.system - cpu_before) / wall,
            }
        if op == "probe":
            return {"joiners": await self._probe(int(message["count"]))}
        raise ValueError(f"unknown op {op}")

    async def _join(self, count: int, decode: int, batch: int) -> dict[str, Any]:
        new = [BenchViewer(decode=index < decode, light=self.light) for index in range(count)]
        self.viewers.extend(new)
        for start in range(0, len(new), batch):
            group = new[start : start + batch]
            await asyncio.gather(*(v.join(self.signal) for v in group))
            await asyncio.gather(*(v.wait_first_frame(10) for v in group))
        return {
            "ttff": [v.first_frame_at - v.joined_at for v in new if v.first_frame_at is not None],
            "connect": [v.connected_at - v.joined_at for v in new if v.connected_at is not None],
            "never": sum(v.first_frame_at is None for v in new),
            "redirected": getattr(self.signal, "redirected", 0),
        }

    async def _probe(self, count: int) -> list[tuple[float, float]]:
        """Join decoding viewers one at a time: (time to first decoded frame, time to connected), seconds."""
        times = []
        for _ in range(count):
            viewer = BenchViewer(decode=True)
            try:
                await viewer.join(self.signal)
                await viewer.wait_first_frame(5)
                if viewer.first_frame_at is not None:
                    connected = (viewer.connected_at or viewer.first_frame_at) - viewer.joined_at
                    times.append((round(viewer.first_frame_at - viewer.joined_at, 3), round(connected, 3)))
            finally:
                await viewer.close()
            await asyncio.sleep(0.5)
        return times


async def serve_control(answer: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
    """Answer JSON-lines requests on a TCP port (printed on stdout for the parent) until killed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await answer(json.loads(await reader.readline()))
        except Exception as exc:
            reply = {"error": repr(exc)}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# -- the benchmark's handle on them ------------------------------------------------------------------------


class ViewerPool:
    """Viewer processes; viewers join round-robin, one in each of the first ``decoded`` processes decodes."""

    def __init__(self, source: list[str], processes: int, decoded: int, *, light: bool = True) -> None:
        """The viewer processes take ``source``, the arguments naming the stream: ``relay_source`` (the
        benchmark relay) or ``whep_source`` (the platform)."""
        self._light = light
        self._source = source
        self._count = processes
        self._decoded = decoded
        self._processes: list[asyncio.subprocess.Process] = []
        self._ports: list[int] = []
        self._hosted = [0] * processes
        self.total = 0

    async def start(self) -> None:
        for _ in range(self._count):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                *self._source,
                *(["--light"] if self._light else []),
                stdout=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None
            self._processes.append(process)
            self._ports.append(int(await asyncio.wait_for(process.stdout.readline(), 30)))

    async def grow(self, total: int, batch: int) -> dict[str, Any]:
        """Add viewers up to ``total``; return the new ones' times to first frame and to connected."""
        add = [0] * self._count
        for index in range(self.total, total):
            add[index % self._count] += 1
        self.total = max(total, self.total)
        per_process_batch = max(1, batch // self._count)
        replies = await asyncio.gather(
            *(
                call(
                    port,
                    {
                        "op": "join",
                        "count": n,
                        # The first viewer of each of the first ``decoded`` processes decodes.
                        "decode": 1 if self._hosted[i] == 0 and i < self._decoded else 0,
                        "batch": per_process_batch,
                    },
                )
                for i, (port, n) in enumerate(zip(self._ports, add, strict=True))
                if n
            )
        )
        for i, n in enumerate(add):
            self._hosted[i] += n
        return {
            "ttff": [t for r in replies for t in r["ttff"]],
            "connect": [t for r in replies for t in r["connect"]],
            "never": sum(r["never"] for r in replies),
            "redirected": sum(r["redirected"] for r in replies),  # so far, in all processes
        }

    async def mark(self) -> None:
        await asyncio.gather(*(call(port, {"op": "mark"}) for port in self._ports))

    async def report(self) -> dict[str, Any]:
        replies = await asyncio.gather(*(call(port, {"op": "report"}) for port in self._ports))
        return {
            "fps": [f for r in replies for f in r["fps"]],
            "latencies_ms": [ms for r in replies for ms in r["latencies_ms"]],
            "cpu_cores": sum(r["cpu_cores"] for r in replies),
        }

    async def probe(self, count: int) -> list[tuple[float, float]]:
        reply = await call(self._ports[0], {"op": "probe", "count": count})
        return [tuple(pair) for pair in reply["joiners"]]  # type: ignore[misc]

    async def stop(self) -> None:
        for process in self._processes:
            if process.returncode is None:
                process.terminate()
                await process.wait()


def relay_source(port: int, stream_id: str) -> list[str]:
    return ["--relay-port", str(port), "--stream", stream_id]


def whep_source(url: str, token: str) -> list[str]:
    return ["--whep", url, "--token", token]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relay-port", type=int, help="the benchmark relay's control port")
    parser.add_argument("--stream", help="the stream id at the benchmark relay")
    parser.add_argument("--whep", help="a WHEP endpoint URL (instead of the benchmark relay)")
    parser.add_argument("--token", help="the bearer token for --whep")
    parser.add_argument(
        "--light", action="store_true", help="counting viewers skip aiortc's receive pipeline"
    )
    args = parser.parse_args()

    async def serve() -> None:
        # Made inside the loop: the WHEP client's connection pool belongs to it.
        if args.whep:
            signal: Signal = WhepSignal(args.whep, args.token)
        else:
            signal = relay_signal(args.relay_port, args.stream)
        await serve_control(_ViewerProcess(signal, args.light).handle)

    asyncio.run(serve())


if __name__ == "__main__":
    main()

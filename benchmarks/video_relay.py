"""Benchmark the forwarding relay against aiortc's stock transcoding MediaRelay; print ONE JSON object.

    python benchmarks/video_relay.py [--quick] [--levels 1,10,50,100] [--window 8] [--decoded 2]
    python benchmarks/video_relay.py --signaling whip [--source synthetic|rtsp] [--cross-process] [--quick]

``--signaling whip`` runs the platform itself (``command-center serve``) with WHIP ingest, WHEP viewers,
optionally a pulled RTSP camera and the cross-process 307 path: see ``benchmarks/whip_bench.py``.

Three kinds of process, so the relay's own CPU can be measured apart from the load generators:
* the relay (``--role relay``): ``streaming.Relay`` (mode ``forward``) or a stock aiortc pipeline (mode
  ``stock``: the receiver decodes, ``MediaRelay.subscribe(buffered=False)`` fans out, every viewer's sender
  encodes), answering offers over a JSON-lines TCP control socket and reporting its CPU time;
* the publisher (``--role publisher``): one 640x480 30 fps synthetic stream whose pixels carry the wall
  clock (``streaming.stamp``);
* the viewers, spread over ``--viewer-processes`` processes (``viewer_pool.py``): ``--decoded`` of them
  decode every frame and read the stamps (glass-to-glass latency: capture -> encode -> relay -> decode);
  the others count encoded frames without decoding, so hundreds of viewers' decoders do not starve the
  relay of the machine's cores.

Viewers are added level by level (1, 10, 50, 100): the new ones join in batches and their time to first
frame is measured from the offer to the first frame received; then every viewer's frames and the relay's
CPU are measured over a window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from viewer_pool import ViewerPool, call, relay_source, serve_control

from streaming import ice_configuration

# -- relay process -----------------------------------------------------------------------------------------


class StockRelay:
    """aiortc's documented fan-out: decode once, MediaRelay (unbuffered), encode per viewer."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaBlackhole, MediaRelay

        self.media_relay = MediaRelay()
        self.blackhole = MediaBlackhole()
        self.source: MediaStreamTrack | None = None
        self.pcs: list[RTCPeerConnection] = []

    async def publish(self, sdp: str) -> dict[str, Any]:
        pc = RTCPeerConnection(ice_configuration())
        self.pcs.append(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self.source = track
                # Keep the decoded track drained even before the first viewer (its queue is unbounded).
                self.blackhole.addTrack(self.media_relay.subscribe(track, buffered=False))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.blackhole.start()
        return {"id": "stock", "sdp": pc.localDescription.sdp}

    async def view(self, sdp: str) -> dict[str, Any]:
        pc = RTCPeerConnection(ice_configuration())
        self.pcs.append(pc)
        assert self.source is not None
        pc.addTrack(self.media_relay.subscribe(self.source, buffered=False))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"sdp": pc.localDescription.sdp}


class EventCounter:
    """Counts the relay's stream events (a publisher reconnection shows up here)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def on_stream_event(self, event: Any) -> None:
        if event.type != "health":
            self.counts[event.type] = self.counts.get(event.type, 0) + 1


async def run_relay(mode: str) -> None:
    import tempfile

    from streaming import Relay

    events = EventCounter()
    relay = Relay(Path(tempfile.mkdtemp(prefix="bench-relay-")), events) if mode == "forward" else None
    stock = StockRelay() if mode == "stock" else None

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        if message["op"] == "publish":
            if relay is None:
                return await stock.publish(message["sdp"])
            result = await relay.publish(message["sdp"], stream_id=message.get("stream_id"), record=False)
            return {"id": result.stream_id, "sdp": result.answer_sdp}
        if message["op"] == "view":
            if relay is None:
                return await stock.view(message["sdp"])
            return {"sdp": await relay.view(message["id"], message["sdp"])}
        if message["op"] == "cpu":
            times = os.times()
            return {"cpu": times.user + times.system, "wall": time.monotonic(), "events": events.counts}
        if message["op"] == "sent":
            stats = relay.forwarding_stats(message["id"]) if relay is not None else {}
            return {"sent": {k: v["frames_sent"] for k, v in stats.items()}}
        if message["op"] == "delays":
            delays = [d * 1000 for d in relay.forwarding_delays(message["id"])] if relay is not None else []
            return {"p50": _pct(delays, 0.5), "p95": _pct(delays, 0.95), "max": _pct(delays, 1.0)}
        return {"error": f"unknown op {message['op']}"}

    await serve_control(answer)


# -- publisher process -------------------------------------------------------------------------------------


async def run_publisher(port: int) -> None:
    from streaming import Publisher, SyntheticVideoTrack

    async def signal(offer: dict[str, Any]) -> dict[str, Any]:
        return await call(port, {"op": "publish", "sdp": offer["sdp"], "stream_id": offer.get("stream_id")})

    publisher = Publisher(signal, lambda: [SyntheticVideoTrack()])
    print(await publisher.connect(), flush=True)
    await publisher.run()  # like a field device: reconnects to the same stream if the connection fails


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def _spawn(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE
    )
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    return process, line.decode().strip()


async def bench_mode(mode: str, levels: list[int], args: argparse.Namespace) -> dict[str, Any]:
    relay_process, port_text = await _spawn("--role", "relay", "--mode", mode)
    port = int(port_text)
    publisher_process, stream_id = await _spawn("--role", "publisher", "--port", port_text)
    window, batch = args.window, args.batch
    pool = ViewerPool(relay_source(port, stream_id), args.viewer_processes, args.decoded, light=args.light)
    results = []
    try:
        await pool.start()
        await asyncio.sleep(1.0)
        for level in levels:
            joined = await pool.grow(level, batch)
            # Settle: the joins' keyframe bursts leave a backlog in the decoding viewers' (unbounded,
            # aiortc) decoder queues; measuring at once would charge it to the relay.
            await asyncio.sleep(1.0 + level / 50)
            await pool.mark()
            relay_before = await call(port, {"op": "cpu"})
            sent_before = (await call(port, {"op": "sent", "id": stream_id}))["sent"]
            wall_before = time.monotonic()
            await asyncio.sleep(window)
            wall = time.monotonic() - wall_before
            relay_after = await call(port, {"op": "cpu"})
            sent_after = (await call(port, {"op": "sent", "id": stream_id}))["sent"]
            relay_fps = [(n - sent_before[k]) / wall for k, n in sent_after.items() if k in sent_before]
            delays = await call(port, {"op": "delays", "id": stream_id})
            seen = await pool.report()
            fps, latencies, ttff = seen["fps"], seen["latencies_ms"], joined["ttff"]
            relay_cores = (relay_after["cpu"] - relay_before["cpu"]) / (
                relay_after["wall"] - relay_before["wall"]
            )
            results.append(
                {
                    "viewers": level,
                    "fps_per_viewer": {
                        "min": _pct(fps, 0),
                        "p50": _pct(fps, 0.5),
                        "mean": round(statistics.mean(fps), 2),
                    },
                    "latency_ms": {
                        "p50": _pct(latencies, 0.5),
                        "p95": _pct(latencies, 0.95),
                        "samples": len(latencies),
                    },
                    "time_to_first_frame_s": {
                        "p50": _pct(ttff, 0.5),
                        "p95": _pct(ttff, 0.95),
                        "max": _pct(ttff, 1.0),
                        "never": joined["never"],
                    },
                    "time_to_connected_s": {
                        "p50": _pct(joined["connect"], 0.5),
                        "max": _pct(joined["connect"], 1.0),
                    },
                    "relay_forward_delay_ms": delays,
                    "relay_sent_fps_per_viewer": {"min": _pct(relay_fps, 0), "p50": _pct(relay_fps, 0.5)},
                    "machine_load_1m": round(os.getloadavg()[0], 2),
                    "relay_cpu_cores": round(relay_cores, 3),
                    "relay_cpu_cores_per_viewer": round(relay_cores / level, 4),
                    "viewer_processes_cpu_cores": round(seen["cpu_cores"], 3),
                }
            )
        late_joiners = await pool.probe(args.probes)
        stream_events = (await call(port, {"op": "cpu"}))["events"]
    finally:
        await pool.stop()
        for process in (publisher_process, relay_process):
            process.terminate()
            await process.wait()
    first, last = results[0], results[-1]
    span = last["viewers"] - first["viewers"]
    marginal = (last["relay_cpu_cores"] - first["relay_cpu_cores"]) / span if span else None
    return {
        "levels": results,
        "stream_events": stream_events,
        "late_joiner_ttff_s": {
            "with_viewers": levels[-1],
            "each_first_frame_and_connected": late_joiners,
            "max": max(t for t, _ in late_joiners) if late_joiners else None,
        },
        "marginal_relay_cores_per_viewer": None if marginal is None else round(marginal, 4),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    import aiortc
    import av

    forward = await bench_mode("forward", args.levels, args)
    stock = await bench_mode("stock", args.stock_levels, args)
    top = forward["levels"][-1]
    f_marginal, s_marginal = (
        forward["marginal_relay_cores_per_viewer"],
        stock["marginal_relay_cores_per_viewer"],
    )
    ttff_max = max((lvl["time_to_first_frame_s"]["max"] or 0) for lvl in forward["levels"])
    return {
        "benchmark": "video_relay",
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "aiortc": aiortc.__version__,
            "av": av.__version__,
        },
        "note": "machine_load_1m counts every process on the machine; above the core count, other work "
        "competed with the relay, publisher and viewers and the figures are pessimistic",
        "settings": {
            "resolution": "640x480",
            "source_fps": 30,
            "codec": "VP8",
            "window_s": args.window,
            "decoded_viewers": "the first viewer of each of the first --decoded viewer processes",
            "viewer_processes": args.viewer_processes,
            "counting_viewers": "light (RTP marker bits after SRTP)"
            if args.light
            else "aiortc receive pipeline",
            "join_batch": args.batch,
        },
        "forward": forward,
        "stock_mediarelay": stock,
        "cpu_ratio_stock_over_forward_per_viewer": (
            round(s_marginal / f_marginal, 1) if f_marginal and s_marginal else None
        ),
        "targets": {
            "top_level_viewers": top["viewers"],
            "p95_latency_under_100ms": top["latency_ms"]["p95"] is not None
            and top["latency_ms"]["p95"] < 100,
            "all_viewers_29fps": (top["fps_per_viewer"]["min"] or 0) >= 29,
            "batch_join_time_to_first_frame_under_1s": ttff_max < 1.0,
            "late_joiner_time_to_first_frame_under_1s": (forward["late_joiner_ttff_s"]["max"] or 99) < 1.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=["bench", "relay", "publisher"], default="bench")
    parser.add_argument("--mode", choices=["forward", "stock"], default="forward")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the relay role's event loop (`serve` runs on uvloop: uvicorn's loop=auto picks it)",
    )
    parser.add_argument("--quick", action="store_true", help="short run: 1 and 10 viewers, 3 s windows")
    parser.add_argument("--levels", default=None, help="viewer counts for the forwarding relay")
    parser.add_argument("--stock-levels", default=None, help="viewer counts for the stock MediaRelay")
    parser.add_argument("--window", type=float, default=None, help="measurement window per level, seconds")
    parser.add_argument("--decoded", type=int, default=2, help="viewers that decode (latency sample)")
    parser.add_argument("--batch", type=int, default=10, help="viewers joining at once")
    parser.add_argument(
        "--viewer-processes", type=int, default=4, help="processes the viewers are spread over"
    )
    parser.add_argument(
        "--full-viewers",
        dest="light",
        action="store_false",
        help="counting viewers run aiortc's whole receive pipeline (default: count RTP marker bits)",
    )
    parser.add_argument(
        "--probes", type=int, default=5, help="late joiners timed one by one at the top level"
    )
    parser.add_argument(
        "--signaling", choices=["bare", "whip"], default="bare", help="whip: the whole platform"
    )
    parser.add_argument(
        "--source", choices=["synthetic", "rtsp"], default="synthetic", help="with --signaling whip"
    )
    parser.add_argument("--cross-process", action="store_true", help="WHEP via a second process (307)")
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    if args.signaling == "whip":
        from whip_bench import run

        args.levels = [int(x) for x in (args.levels or ("1,10" if args.quick else "1,10,50,100")).split(",")]
        args.window = args.window or (3.0 if args.quick else 8.0)
        run(args)
        return
    if args.role != "bench":
        logging.basicConfig(level=logging.WARNING, format=f"{args.role}: %(levelname)s %(name)s %(message)s")
    if args.role == "relay":
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(run_relay(args.mode))
        else:
            asyncio.run(run_relay(args.mode))
        return
    if args.role == "publisher":
        asyncio.run(run_publisher(args.port))
        return
    args.levels = [int(x) for x in (args.levels or ("1,10" if args.quick else "1,10,50,100")).split(",")]
    args.stock_levels = [int(x) for x in (args.stock_levels or ("1,4" if args.quick else "1,10")).split(",")]
    args.window = args.window or (3.0 if args.quick else 8.0)
    print(json.dumps(asyncio.run(bench(args)), indent=2))


if __name__ == "__main__":
    main()

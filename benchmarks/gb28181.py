"""Benchmark the GB/T 28181 gateway; print ONE JSON object.

    python benchmarks/gb28181.py [--plays 8] [--devices 1000] [--keepalive 6] [--window 30]

Part 1, INVITE to first forwarded frame: a simulated device (``tests/streaming/gb_simulator.py``) streams a
PS file muxed by PyAV over RTP (UDP) on loopback; each play is timed from sending the INVITE to the first
keyframe pushed into the relay (``Gateway.play()`` returns then), with the hops broken down: INVITE
answered, first RTP packet, PS opened by PyAV, first keyframe. Then BYE, and the next play.

Part 2, devices per process: ``--devices`` simulated devices (their own process, one UDP socket each)
register with Digest and send keepalives every ``--keepalive`` seconds. The gateway process's CPU is
measured over ``--window`` seconds of keepalives. Devices send keepalives every 60 s by default; running
the window at a shorter interval multiplies the message rate, so the CPU at 60 s is reported as the
measured CPU scaled by ``keepalive / 60`` (the work is per message; the sweep over devices every 5 s is
included unscaled, which overstates it). Both the measured and the scaled figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streaming import Relay
from streaming.gb28181 import DeviceEvent, Gateway, GatewayConfig, ha1
from tests.streaming.gb_simulator import DeviceSimulator
from tests.streaming.media_files import encode_file

DOMAIN = "3402000000"
PASSWORD = "device-pass-1"


def device_id(index: int) -> str:
    return f"{DOMAIN}132{index:07d}"


class Events:
    """Credentials from memory (HA1 precomputed, as the app keeps them); events only counted."""

    def __init__(self, count: int) -> None:
        self.h1 = {device_id(i): ha1(device_id(i), DOMAIN, PASSWORD) for i in range(count)}
        self.counts: dict[str, int] = {}

    async def credentials(self, device: str) -> str | None:
        return self.h1.get(device)

    async def on_device_event(self, event: DeviceEvent) -> None:
        self.counts[event.type] = self.counts.get(event.type, 0) + 1


def _config(**overrides: Any) -> GatewayConfig:
    return GatewayConfig(
        domain=DOMAIN,
        host="127.0.0.1",
        port=0,
        media_host="127.0.0.1",
        media_bind="127.0.0.1",
        rtp_port_min=31000,
        rtp_port_max=31099,
        bye_on_last_viewer=False,
        **overrides,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def first_frame(plays: int, workdir: Path) -> dict[str, Any]:
    media = encode_file(workdir / "bodycam.ps", container="mpeg", frames=125, size=(640, 480), gop=25)
    relay = Relay(workdir / "recordings")
    events = Events(1)
    gateway = Gateway(_config(), relay, events)
    await gateway.start()
    sim = DeviceSimulator(device_id(0), ("127.0.0.1", gateway.port), DOMAIN, media=media)
    await sim.start()
    totals: list[float] = []
    hops: dict[str, list[float]] = {"first_rtp": [], "ps_opened": [], "keyframe": []}
    try:
        assert (await sim.register()).status == 200
        for _ in range(plays):
            started = time.monotonic()
            await gateway.play(device_id(0))
            total = time.monotonic() - started
            session = next(iter(gateway.plays.values()))
            totals.append(total)
            stats, status = session.receiver.stats, session.source.status  # type: ignore[union-attr]
            hops["first_rtp"].append((stats.first_at or started) - started)
            hops["keyframe"].append((status.first_keyframe_at or started) - started)
            hops["ps_opened"].append((status.first_packet_at or started) - started)
            await gateway.stop_play(session.device_id, session.channel_id)
            await sim.byes.wait()
            sim.byes.clear()
    finally:
        await sim.close()
        await gateway.close()
        await relay.close()
    return {
        "plays": plays,
        "picture": "640x480 H.264 baseline, GOP 25 at 25 fps, PS over RTP/UDP",
        "invite_to_first_frame_s": {"p50": _pct(totals, 0.5), "max": round(max(totals), 3)},
        "first_rtp_s_p50": _pct(hops["first_rtp"], 0.5),
        "first_demuxed_packet_s_p50": _pct(hops["ps_opened"], 0.5),
        "first_keyframe_s_p50": _pct(hops["keyframe"], 0.5),
        "target_s": 1.5,
    }


def _devices_process(port: int, count: int, keepalive: float, window: float, pipe: Any) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))

    async def run() -> None:
        sims = [DeviceSimulator(device_id(i), ("127.0.0.1", port), DOMAIN) for i in range(count)]
        for sim in sims:
            await sim.start()
        started = time.monotonic()
        for batch in range(0, count, 50):
            replies = await asyncio.gather(*(s.register() for s in sims[batch : batch + 50]))
            assert all(r.status == 200 for r in replies), "every device registers"
        pipe.send({"registered_in_s": round(time.monotonic() - started, 2)})
        pipe.recv()  # the gateway starts measuring
        sent = lost = 0
        deadline = time.monotonic() + window
        offsets = [keepalive * i / count for i in range(count)]  # spread over the interval, like real devices

        async def keep(sim: DeviceSimulator, offset: float) -> None:
            nonlocal sent, lost
            await asyncio.sleep(offset)
            while time.monotonic() < deadline:
                try:
                    await sim.keepalive()
                    sent += 1
                except TimeoutError:
                    lost += 1
                await asyncio.sleep(keepalive)

        await asyncio.gather(*(keep(s, o) for s, o in zip(sims, offsets, strict=True)))
        pipe.send({"keepalives": sent, "unanswered": lost})
        for sim in sims:
            await sim.close()

    asyncio.run(run())


async def many_devices(count: int, keepalive: float, window: float, workdir: Path) -> dict[str, Any]:
    relay = Relay(workdir / "recordings2")
    events = Events(count)
    gateway = Gateway(_config(keepalive_interval=60.0, position_interval=0), relay, events)
    await gateway.start()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_devices_process, args=(gateway.port, count, keepalive, window, child)
    )
    process.start()
    loop = asyncio.get_running_loop()
    registered = await loop.run_in_executor(None, parent.recv)
    online = sum(1 for d in gateway.registry.devices.values() if d.online)
    cpu0, wall0 = time.process_time(), time.monotonic()
    parent.send("go")
    sent = await loop.run_in_executor(None, parent.recv)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    process.join(30)
    still_online = sum(1 for d in gateway.registry.devices.values() if d.online)
    await gateway.close()
    await relay.close()
    core = cpu / wall
    return {
        "devices": count,
        "online_after_register": online,
        "online_at_end": still_online,
        **registered,
        "window_s": round(wall, 1),
        "keepalive_interval_s_measured": keepalive,
        "keepalives_handled": sent["keepalives"],
        "keepalives_unanswered": sent["unanswered"],
        "keepalives_per_s": round(sent["keepalives"] / wall, 1),
        "gateway_cpu_core_measured": round(core, 4),
        "gateway_cpu_core_at_60s_keepalive": round(core * keepalive / 60.0, 4),
        "cpu_us_per_keepalive": round(cpu / max(sent["keepalives"], 1) * 1e6, 1),
        "target_core": 0.05,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plays", type=int, default=8)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--keepalive", type=float, default=6.0)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        result = {
            "benchmark": "gb28181",
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "first_frame": await first_frame(args.plays, workdir),
            "keepalives": await many_devices(args.devices, args.keepalive, args.window, workdir),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())

"""The servers the hub benchmarks measure: the hub and a bare ``websockets`` baseline, each in a process.

``start_hub`` runs the real hub (``tests/command_center/hub/serve_fixture.py``) under uvicorn;
``start_bare`` runs this file with ``--bare-server PORT``: ``websockets`` with ``broadcast()``, the same
frames, no offsets, history or queues. ``PLACEMENT`` puts each server on a CPU apart from the clients.
Used by ``hub_fanout.py`` and ``hub_crowd.py`` beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVE_MODULE = "tests.command_center.hub.serve_fixture"


# -- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (robust to other load on the machine, unlike latency)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start")


class Placement:
    """Which CPUs the servers and the clients run on: apart, or wherever the kernel puts them.

    Why: this machine has two cores for a server process and the client process (plus Redis). Left to
    itself, Linux often wakes the client on the server's core (a socket write wakes its reader "sync",
    as if the writer were about to sleep), and a broadcast then alternates with the client's reads on one
    core while the other idles: 265-370 forced context switches and 4-8 ms in the run queue per
    1,000-subscriber broadcast, for a few dozen broadcasts, then gone. It hits whichever server is measured
    when it happens, and decides a p99 of 40 broadcasts alone (RESULTS.md, 2026-12-01 04:30). Subscribers
    are never on the server's machine in use, so by default each server (the hub and the bare baseline
    alike) has the last CPU to itself and the clients the others; ``--no-pin`` measures as before. Redis
    is not pinned.
    """

    def __init__(self) -> None:
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.pinned = False
        self.servers = self.clients = set(self.cpus)

    def pin_apart(self) -> None:
        """Servers started from now on get the last CPU; this process (the clients) the others."""
        if len(self.cpus) < 2:
            return
        self.pinned = True
        self.servers, self.clients = {self.cpus[-1]}, set(self.cpus[:-1])
        os.sched_setaffinity(0, self.clients)

    def server(self, pid: int) -> None:
        if self.pinned:
            os.sched_setaffinity(pid, self.servers)

    def describe(self) -> dict[str, Any]:
        servers, clients = sorted(self.servers), sorted(self.clients)
        return {"pinned": self.pinned, "server_cpus": servers, "client_cpus": clients}


#: Where ``start_hub`` and ``start_bare`` put their servers (``main`` pins them apart unless ``--no-pin``).
PLACEMENT = Placement()


def start_hub(
    broker: str, profile: str | None = None, extra_args: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "CC_HUB_PROFILE": profile} if profile else None
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            SERVE_MODULE,
            "--port",
            str(port),
            "--broker",
            broker,
            "--publish-rate",
            "1000000",  # the publisher is one connection; per-connection rate limiting is not measured
            "--op-rate",
            "1000000",  # likewise the frame rate of any op (CC_WS_OP_RATE)
            "--send-queue",
            "1024",
            *(extra_args or []),
        ],
        cwd=REPO,
        env=env,
    )
    PLACEMENT.server(proc.pid)
    wait_port(port, proc)
    time.sleep(0.3)
    return proc, port


def start_bare() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)], cwd=REPO)
    PLACEMENT.server(proc.pid)
    wait_port(port, proc)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bare_server(port: int) -> None:
    """The baseline: ``websockets`` with ``broadcast()``; same frames, no offsets, history or queues."""
    import logging

    from websockets.asyncio.server import broadcast, serve

    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # clients leave with RST on purpose

    channels: dict[str, set[Any]] = {}
    offsets: dict[str, int] = {}

    async def handler(ws: Any) -> None:
        await ws.recv()  # auth: accepted as is
        await ws.send('{"op":"welcome","user":{}}')
        mine: set[str] = set()
        try:
            async for raw in ws:
                frame = json.loads(raw)
                channel = frame.get("channel", "")
                if frame["op"] == "subscribe":
                    channels.setdefault(channel, set()).add(ws)
                    mine.add(channel)
                    await ws.send(
                        _compact({"op": "subscribed", "channel": channel, "offset": 0, "epoch": "e"})
                    )
                elif frame["op"] == "publish":
                    offsets[channel] = offset = offsets.get(channel, 0) + 1
                    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
                    # The hub adds who sent it (server-set ``from``): the same bytes on the wire here.
                    data = json.dumps({**frame["data"], "from": FROM}, separators=(",", ":"))
                    message = (
                        f'{{"op":"message","channel":"{channel}","offset":{offset},"epoch":"e",'
                        f'"ts":"{ts}","data":{data}}}'
                    )
                    broadcast(channels.get(channel, ()), message)
                    await ws.send(
                        _compact({"op": "ack", "id": frame["id"], "channel": channel, "offset": offset})
                    )
        finally:
            for channel in mine:
                channels[channel].discard(ws)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, max_queue=64, backlog=8192):
            await asyncio.Future()

    run_loop(main())


FROM = {"id": 10000, "name": "bench0", "role": "duty_officer", "department": "section"}


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def run_loop(coro: Any) -> Any:
    """Run ``coro`` on uvloop (as the hub's server runs) where it is installed."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def raise_open_files() -> None:
    """As many open files as allowed, here and in the servers started from here (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, max(hard, 65536)))
    except (ValueError, OSError):  # not allowed to raise the hard limit (20,000 here): as far as it goes
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the bare websockets server of the hub benchmarks")
    parser.add_argument("--bare-server", type=int, metavar="PORT", required=True)
    raise_open_files()
    bare_server(parser.parse_args().bare_server)

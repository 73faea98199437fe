"""20,000 idle connections and a 20,000-client reconnect storm, over several processes on one port.

Prints ONE JSON object. This machine allows at most 20,000 open files per process (a hard limit that
cannot be raised here), so neither one server process nor one client process can hold 20,000 sockets.
The server is the hub's multi-process mode: ``serve_fixture.py --workers N`` is uvicorn's own workers on
one listening socket (as ``command-center serve --workers N``), over the Redis broker, which the
workers share. The clients are spread over ``--client-procs`` processes, each below the limit.

    python benchmarks/hub_crowd.py --broker redis://127.0.0.1:6379/0 [--clients 20000] [--workers 2]

Measures:
- idle: RSS growth of the server's workers per authenticated idle connection, and how the kernel spread
  the connections over the workers;
- storm: every client subscribed to one channel drops at once, 10 messages are published, all reconnect
  at once with ``since`` (``parallel`` connects in flight per client process); the time from the order to
  reconnect until every client holds the last message, and how many were told ``recovered: true``; and
  the CPU seconds the server's workers, the client processes and Redis used meanwhile, and of it the
  kernel's part (the rest of the machine's ``cpu_seconds_available`` went to other work and idle time):
  the clients and Redis share the two cores.

The client processes run on uvloop, as the server does: the load generator's own cost is not what is
measured, and on the default loop it took 13.6 of the storm's 31.9 CPU-seconds (RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis
import uvloop
from hub_fanout import StormClients, publish_missed  # beside this file
from hubservers import progress, raise_open_files, rss_kib, start_hub, stop


def workers_of(pid: int) -> list[int]:
    """The server's worker processes (uvicorn's children, less multiprocessing's resource tracker)."""
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User and kernel CPU time of processes so far (``/proc/PID/stat``), in seconds.

    The kernel's share matters here: loopback TCP (a connect's SYN, the server's accept) runs in the
    kernel on behalf of whichever process sent the packet, and no change to Python code shortens it.
    """
    user = system = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11])
        system += int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def redis_cpu_seconds(url: str) -> tuple[float, float]:
    """The Redis server's own user and kernel CPU time so far (``INFO cpu``)."""
    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]), float(info["used_cpu_sys"])


def sockets_of(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return count


# -- a client process: ``--client FIRST COUNT PORT CHANNEL``, commands on stdin, reports on stdout ------


async def client_process(first: int, count: int, port: int, channel: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    storm = StormClients(port, channel, count, first)

    def say(obj: dict[str, Any]) -> None:
        print(json.dumps(obj), flush=True)

    await storm.subscribe()
    say({"subscribed": count})
    while line := (await reader.readline()).decode().strip():
        command, _, arg = line.partition(" ")
        if command == "drop":
            storm.drop()
            say({"dropped": count})
        elif command == "reconnect":
            seconds = await storm.reconnect(int(arg))
            say(
                {
                    "caught_up": storm.done,
                    "seconds": round(seconds, 2),
                    "recovered_true": storm.recovered["true"],
                    "recovered_false": storm.recovered["false"],
                    "retried_after_1013": storm.retried,
                    "closed_not_retried": storm.refused,
                }
            )
        elif command == "quit":
            break
    storm.drop()


# -- the parent ---------------------------------------------------------------------------------------


class Clients:
    """Client processes talking JSON lines."""

    def __init__(self, port: int, total: int, procs: int, channel: str) -> None:
        self.port, self.total, self.channel = port, total, channel
        share = total // procs
        self.ranges = [(p * share, share if p < procs - 1 else total - p * share) for p in range(procs)]
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        for first, count in self.ranges:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--client",
                str(first),
                str(count),
                str(self.port),
                self.channel,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=Path(__file__).parent,
                limit=1 << 20,
            )
            self.procs.append(proc)

    async def read_all(self, timeout: float = 600) -> list[dict[str, Any]]:
        async def one(proc: asyncio.subprocess.Process) -> dict[str, Any]:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"client process {proc.pid} ended (code {await proc.wait()})")
            return json.loads(line)  # type: ignore[no-any-return]

        return await asyncio.wait_for(asyncio.gather(*(one(p) for p in self.procs)), timeout)

    def tell(self, command: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{command}\n".encode())

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with_stdin = proc.stdin
                if with_stdin is not None:
                    with_stdin.write(b"quit\n")
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    channel = f"taskforce:open-crowd-{int(time.time())}"
    extra = ["--workers", str(args.workers)]
    server, port = start_hub(args.broker, extra_args=extra)
    results: dict[str, Any] = {
        "broker": args.broker,
        "clients": args.clients,
        "server_workers": args.workers,
        "client_processes": args.client_procs,
        "cpus": os.cpu_count(),
    }
    clients = Clients(port, args.clients, args.client_procs, channel)
    try:
        time.sleep(2.0)  # the workers' own start-up (imports, Redis) before the baseline RSS
        workers = workers_of(server.pid)
        before = {pid: rss_kib(pid) for pid in workers}
        progress(f"{len(workers)} workers {workers}; opening {args.clients} connections")
        started = time.perf_counter()
        await clients.start()
        await clients.read_all()
        opened = time.perf_counter() - started
        await asyncio.sleep(2.0)
        after = {pid: rss_kib(pid) for pid in workers}
        held = {pid: sockets_of(pid) for pid in workers}
        growth = sum(after[pid] - before[pid] for pid in workers)
        results["idle"] = {
            "connections_held": args.clients,
            "seconds_to_open_and_subscribe": round(opened, 2),
            "sockets_per_worker": list(held.values()),
            "rss_before_kib": list(before.values()),
            "rss_after_kib": list(after.values()),
            "kib_per_connection": round(growth / args.clients, 2),
        }
        progress(f"idle: {results['idle']}")
        clients.tell("drop")
        await clients.read_all()
        await asyncio.sleep(1.0)
        final = await publish_missed(port, channel, 10)
        who = {"server_workers": workers, "client_processes": [p.pid for p in clients.procs]}

        def cpu_now() -> dict[str, tuple[float, float]]:
            """User and kernel CPU seconds so far of each process group and of Redis."""
            readings = {name: cpu_seconds(pids) for name, pids in who.items()}
            readings["redis"] = redis_cpu_seconds(args.broker)
            return readings

        cpu_before = cpu_now()
        started = time.perf_counter()
        clients.tell(f"reconnect {final}")
        reports = await clients.read_all()
        elapsed = time.perf_counter() - started
        cpu_after = cpu_now()
        cpu_used = {
            name: [now - then for now, then in zip(cpu_after[name], cpu_before[name], strict=True)]
            for name in cpu_after
        }
        results["storm"] = {
            "clients": args.clients,
            "missed_messages": 10,
            "seconds_to_full_recovery": round(elapsed, 2),
            "per_client_process_seconds": [r["seconds"] for r in reports],
            "recovered_true": sum(r["recovered_true"] for r in reports),
            "recovered_false": sum(r["recovered_false"] for r in reports),
            "caught_up": sum(r["caught_up"] for r in reports),
            "retried_after_1013": sum(r["retried_after_1013"] for r in reports),
            "closed_not_retried": [r["closed_not_retried"] for r in reports],
            # Where the machine's cores went during the storm (the rest: other work and idle time).
            "cpu_seconds": {name: round(sum(parts), 2) for name, parts in cpu_used.items()},
            "kernel_cpu_seconds": {name: round(parts[1], 2) for name, parts in cpu_used.items()},
            "cpu_seconds_available": round(elapsed * (os.cpu_count() or 1), 2),
        }
    finally:
        await clients.stop()
        stop(server)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0", help="redis://host:port/db")
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes on one port")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="client processes (each < 20,000 fds)",
    )
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_open_files()
    if args.client:
        first, count, port, channel = args.client
        uvloop.run(client_process(int(first), int(count), int(port), channel))
        return
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()

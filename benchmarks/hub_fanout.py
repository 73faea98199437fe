"""Hub fan-out benchmark: latency, deliveries per second, memory per connection, reconnect storm.

Prints ONE JSON object. The server is the real hub (``Hub`` + ``/ws`` router under uvicorn, started from
``tests/command_center/hub/serve_fixture.py`` in its own process); the clients and the publisher run in
this process, using a small raw WebSocket client (a load generator must not be the bottleneck). The same
broadcasts are run against a bare ``websockets`` server (``broadcast()``, no offsets, no history, no
queues) in the same run, for the ratio.

    python benchmarks/hub_fanout.py            # full: 1,000 and 5,000 subscribers, 100x10, 10,000 idle
    python benchmarks/hub_fanout.py --quick    # smaller and shorter
    python benchmarks/hub_fanout.py --broker redis://127.0.0.1:6379/0

Measures, per configuration (1 channel x 1,000, 1 channel x 5,000, 100 channels x 10):
- publish-to-receive latency p50/p99 of single broadcasts sent one after another (each broadcast waits
  until every subscriber has the previous one), for the hub and for the bare server, their rounds
  interleaved (``compare``: both servers meet the same machine) and each server on a CPU of its own
  apart from the clients (``Placement``; ``--no-pin`` to let the kernel place them);
- deliveries per second during a burst (messages published back to back, pipelined);
and, for the hub: server RSS per idle authenticated connection, and the time for a storm of clients to
reconnect with ``since`` and receive everything they missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

from hubservers import (  # beside this file
    PLACEMENT,
    cpu_seconds,
    progress,
    raise_open_files,
    rss_kib,
    run_loop,
    start_bare,
    start_hub,
    stop,
)
from rawws import RawClient, close_all, open_clients

# -- measurements --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Fanout:
    """Subscribers on ``channels`` channels of ``per_channel`` each, one publisher; latency and rate."""

    def __init__(self, pid: int, port: int, channels: int, per_channel: int, tag: str) -> None:
        self.pid = pid
        self.port = port
        self.names = [f"taskforce:open-{tag}-{c}" for c in range(channels)]
        self.per_channel = per_channel
        self.latencies: list[float] = []
        self.received = 0
        self.record = False
        self.expect = 0
        self.done: asyncio.Event | None = None
        self.subscribed = 0
        self.ready: asyncio.Event | None = None
        self.subscribers: list[RawClient] = []
        self.publisher: RawClient | None = None
        self.acks = 0
        self.sent = 0
        self.broadcasts = 0

    @property
    def total(self) -> int:
        return len(self.names) * self.per_channel

    def on_text(self, client: RawClient, payload: bytes) -> None:
        if payload.startswith(b'{"op":"message"'):
            self.received += 1
            if self.record:
                start = payload.rfind(b'"t":') + 4
                end = min(i for i in (payload.find(b",", start), payload.find(b"}", start)) if i > 0)
                self.latencies.append(time.time() - float(payload[start:end]))
            if self.received >= self.expect and self.done is not None:
                self.done.set()
        elif payload.startswith(b'{"op":"subscribed"'):
            self.subscribed += 1
            if self.subscribed >= self.total and self.ready is not None:
                self.ready.set()

    def _on_publisher_text(self, client: RawClient, payload: bytes) -> None:
        if payload.startswith(b'{"op":"ack"'):
            self.acks += 1

    async def open(self) -> None:
        """Connect and subscribe every subscriber, then the publisher."""
        self.ready = asyncio.Event()

        def first(i: int) -> list[dict[str, Any]]:
            return [
                {"op": "auth", "token": f"bench-{i + 1}"},
                {"op": "subscribe", "channel": self.names[i % len(self.names)]},
            ]

        self.subscribers = await open_clients(self.port, self.total, self.on_text, first)
        await asyncio.wait_for(self.ready.wait(), 60)
        publishers = await open_clients(
            self.port, 1, self._on_publisher_text, lambda i: [{"op": "auth", "token": "bench-0"}]
        )
        self.publisher = publishers[0]

    def _publish(self, channel: str) -> None:
        assert self.publisher is not None
        self.sent += 1
        n = self.sent
        data = {"type": "bench", "id": n, "drill": False, "t": time.time()}
        self.publisher.send_json({"op": "publish", "channel": channel, "id": f"b{n}", "data": data})

    async def _wait(self, what: str, timeout: float) -> None:
        assert self.done is not None
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            closed = sum(1 for c in self.subscribers if c.closed.done())
            code = self.publisher.close_code if self.publisher else None
            progress(
                f"{what} stalled: {self.received}/{self.expect} received, {closed} subscribers closed, "
                f"publisher code={code} acks={self.acks}"
            )
            raise

    async def broadcast(self) -> None:
        """One round: one message on every channel; return once every subscriber has its message."""
        self.record = True
        self.done = asyncio.Event()
        self.expect = self.received + self.total
        for name in self.names:
            self._publish(name)
        await self._wait(f"broadcast {self.broadcasts}", 30)
        self.broadcasts += 1
        self.record = False

    async def burst(self, burst: int) -> dict[str, Any]:
        """``burst`` messages per channel, back to back: deliveries per second and server CPU."""
        self.done = asyncio.Event()
        self.expect = self.received + burst * self.total
        started = time.perf_counter()
        cpu_before = cpu_seconds(self.pid)
        for i in range(burst):
            for name in self.names:
                self._publish(name)
            if i % 10 == 9:
                await asyncio.sleep(0)
        await self._wait("burst", 120)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(self.pid) - cpu_before
        return {
            "deliveries_per_s": round(burst * self.total / elapsed),
            "burst_deliveries": burst * self.total,
            "server_cpu_us_per_delivery": round(cpu / (burst * self.total) * 1e6, 2),
            "deliveries_per_server_cpu_s": round(burst * self.total / cpu) if cpu else None,
        }

    def latency(self, cpu: float) -> dict[str, Any]:
        latencies = self.latencies
        return {
            "subscribers": self.total,
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "max_ms": round(max(latencies) * 1000, 2),
            "samples": len(latencies),
            "broadcasts": self.broadcasts,
            "server_cpu_ms_per_broadcast": round(cpu / self.broadcasts / len(self.names) * 1000, 2),
        }

    async def close(self) -> None:
        close_all([*self.subscribers, *([self.publisher] if self.publisher else [])])
        await asyncio.sleep(0.5)


async def compare(hub: Fanout, bare: Fanout, broadcasts: int, burst: int) -> tuple[dict[str, Any], ...]:
    """Latency rounds of the hub and the bare server interleaved, then each one's burst.

    Why interleaved: the machine's pace drifts over seconds (other tenants, the kernel's placement), and
    measured one after the other the two servers met different machines (RESULTS.md). Round by round,
    each goes first every other round and both see the same pauses between rounds (5 and 20 ms, alternately).
    """
    await hub.open()
    await bare.open()
    await asyncio.sleep(0.3)
    cpu_before = {side.pid: cpu_seconds(side.pid) for side in (hub, bare)}
    for round_ in range(broadcasts):
        for side in (hub, bare) if round_ % 2 == 0 else (bare, hub):
            await side.broadcast()
            await asyncio.sleep(0.02 if (round_ // 2) % 2 else 0.005)
    latencies = [side.latency(cpu_seconds(side.pid) - cpu_before[side.pid]) for side in (hub, bare)]
    results = []
    for side, measured in zip((hub, bare), latencies, strict=True):
        results.append({**measured, **await side.burst(burst)})
        await side.close()
    return tuple(results)


async def idle_memory(pid: int, port: int, count: int) -> dict[str, Any]:
    welcomed = 0
    done = asyncio.Event()

    def on_text(client: RawClient, payload: bytes) -> None:
        nonlocal welcomed
        if payload.startswith(b'{"op":"welcome"'):
            welcomed += 1
            if welcomed >= count:
                done.set()

    warm = await open_clients(port, 50, on_text, lambda i: [{"op": "auth", "token": f"bench-{i}"}])
    await asyncio.sleep(1.0)
    close_all(warm)
    await asyncio.sleep(1.0)
    welcomed = 0
    before = rss_kib(pid)
    clients = await open_clients(port, count, on_text, lambda i: [{"op": "auth", "token": f"bench-{i}"}])
    await asyncio.wait_for(done.wait(), 120)
    await asyncio.sleep(2.0)
    after = rss_kib(pid)
    close_all(clients)
    return {
        "connections": count,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / count, 2),
    }


class StormClients:
    """Clients on one channel: subscribe, all drop at once, all come back with ``since``."""

    def __init__(self, port: int, channel: str, count: int, first: int = 0) -> None:
        self.port, self.channel, self.count, self.first = port, channel, count, first
        self.positions: dict[int, tuple[int, str]] = {}
        self.final = 0
        self.done = 0
        self.recovered = {"true": 0, "false": 0}
        self.ready = asyncio.Event()
        self.caught_up = asyncio.Event()
        self.clients: list[RawClient] = []
        self.retried = 0
        self.refused: dict[int, int] = {}  # close code -> clients closed with it and not come back

    def on_text(self, client: RawClient, payload: bytes) -> None:
        i = client.state["i"]
        if payload.startswith(b'{"op":"message"'):
            frame = json.loads(payload)
            self.positions[i] = (frame["offset"], frame["epoch"])
            if frame["offset"] >= self.final > 0 and not client.state.get("done"):
                client.state["done"] = True
                self.done += 1
                if self.done >= self.count:
                    self.caught_up.set()
        elif payload.startswith(b'{"op":"subscribed"'):
            frame = json.loads(payload)
            if "recovered" in frame:
                self.recovered["true" if frame["recovered"] else "false"] += 1
            else:
                self.positions[i] = (frame["offset"], frame["epoch"])
                if len(self.positions) >= self.count:
                    self.ready.set()

    def _frames(self, i: int, since: bool) -> list[dict[str, Any]]:
        subscribe: dict[str, Any] = {"op": "subscribe", "channel": self.channel}
        if since:
            offset, epoch = self.positions[i]
            subscribe["since"] = {"offset": offset, "epoch": epoch}
        return [{"op": "auth", "token": f"bench-{self.first + i + 1}"}, subscribe]

    async def subscribe(self, timeout: float = 300) -> None:
        self.clients = await open_clients(
            self.port, self.count, self.on_text, lambda i: self._frames(i, False), first=self.first
        )
        await asyncio.wait_for(self.ready.wait(), timeout)

    def drop(self) -> None:
        close_all(self.clients)

    async def reconnect(self, final: int, timeout: float = 300) -> float:
        """Reconnect every client with ``since``; seconds until each holds the message at ``final``.

        A client closed with 1013 ("try again": the broker did not answer in time) comes back with
        ``since`` as the product's client does; ``retried`` counts them. One closed with another code
        (4401: its auth frame was not read in time) is given up, as the product's client does, and
        counted in ``refused``: the time is then until every other client has caught up.
        """
        self.final = final
        started = time.perf_counter()
        self.clients = await open_clients(
            self.port,
            self.count,
            self.on_text,
            lambda i: self._frames(i, True),
            parallel=512,
            first=self.first,
        )
        deadline = started + timeout
        while not self.caught_up.is_set():
            pending: list[asyncio.Future[Any]] = [c.closed for c in self.clients if not c.state.get("done")]
            done, _ = await asyncio.wait(
                [asyncio.ensure_future(self.caught_up.wait()), *pending],
                timeout=deadline - time.perf_counter(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                raise TimeoutError(f"{self.done} of {self.count} caught up")
            for index, client in enumerate(self.clients):
                if client.closed.done() and not client.state.get("done"):
                    code = client.closed.result()
                    if code != 1013:  # not to be retried (4401: auth refused or timed out): counted, given up
                        client.state["done"] = True
                        self.refused[code] = self.refused.get(code, 0) + 1
                        self.done += 1
                        if self.done >= self.count:
                            self.caught_up.set()
                        continue
                    self.retried += 1
                    i = client.state["i"]
                    again = await open_clients(
                        self.port, 1, self.on_text, lambda _, i=i: self._frames(i, True), first=self.first + i
                    )
                    again[0].state["i"] = i  # before any answer arrives: nothing awaited since the open
                    self.clients[index] = again[0]
        return time.perf_counter() - started


async def publish_missed(port: int, channel: str, missed: int) -> int:
    """Publish ``missed`` messages on ``channel`` and return the last offset once all are acknowledged."""
    final = {"offset": 0}
    acked = asyncio.Event()

    def on_text(client: RawClient, payload: bytes) -> None:
        if payload.startswith(b'{"op":"ack"'):
            final["offset"] = max(final["offset"], json.loads(payload)["offset"])
            if final["offset"] >= missed:
                acked.set()

    publisher = (await open_clients(port, 1, on_text, lambda i: [{"op": "auth", "token": "bench-0"}]))[0]
    for n in range(missed):
        data = {"type": "bench", "id": n, "drill": False}
        publisher.send_json({"op": "publish", "channel": channel, "id": f"s{n}", "data": data})
    await asyncio.wait_for(acked.wait(), 60)
    close_all([publisher])
    return final["offset"]


async def reconnect_storm(port: int, count: int, missed: int) -> dict[str, Any]:
    channel = f"taskforce:open-storm-{int(time.time())}"
    storm = StormClients(port, channel, count)
    await storm.subscribe(60)
    storm.drop()  # every client drops at once
    await asyncio.sleep(0.5)
    final = await publish_missed(port, channel, missed)
    elapsed = await storm.reconnect(final, 120)
    storm.drop()
    recovered = storm.recovered
    return {
        "clients": count,
        "missed_messages": missed,
        "seconds_to_full_recovery": round(elapsed, 2),
        "recovered_true": recovered["true"],
        "recovered_false": recovered["false"],
        "retried_after_1013": storm.retried,
        "closed_not_retried": storm.refused,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    big = 2000 if quick else 5000
    configs = [("1000x1", 1, 1000), (f"{big}x1", 1, big), ("100x10", 100, 10)]
    if args.only:
        configs = [c for c in configs if c[0] in args.only.split(",")]
    broadcasts = 30 if quick else 200
    results: dict[str, Any] = {
        "broker": args.broker,
        "quick": quick,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "placement": PLACEMENT.describe(),
        "fanout": {},
    }
    hub_proc, hub_port = start_hub(args.broker, args.profile)
    bare_proc, bare_port = start_bare()
    try:
        for name, channels, per in configs:
            burst = (
                max(10, min(200, 200_000 // (channels * per)))
                if not quick
                else max(5, 50_000 // (channels * per))
            )
            if not args.broker.startswith("memory"):
                # Over Redis each publish is a round trip, answered in order on the one publisher
                # connection: 20,000 of them queue behind each other long enough for uvicorn's 20 s
                # keepalive to close the publisher (its pong waits behind them). 4,000 at most.
                burst = min(burst, max(10, 4000 // channels))
            progress(f"{name}: hub, burst {burst}")
            tag = f"{name}-{time.time_ns()}"
            hub, bare = await compare(
                Fanout(hub_proc.pid, hub_port, channels, per, f"h{tag}"),
                Fanout(bare_proc.pid, bare_port, channels, per, f"b{tag}"),
                broadcasts,
                burst,
            )
            progress(f"{name}: hub {hub}; bare {bare}")
            hub["server_rss_kib"] = rss_kib(hub_proc.pid)
            results["fanout"][name] = {
                "hub": hub,
                "bare_websockets": bare,
                "p99_ratio": round(hub["p99_ms"] / bare["p99_ms"], 2),
                "p50_ratio": round(hub["p50_ms"] / bare["p50_ms"], 2),
                "deliveries_ratio": round(hub["deliveries_per_s"] / bare["deliveries_per_s"], 2),
                "cpu_per_delivery_ratio": round(
                    hub["server_cpu_us_per_delivery"] / bare["server_cpu_us_per_delivery"], 2
                ),
            }
        if not args.only or "storm" in args.only.split(","):
            storm = args.storm or (1000 if quick else 5000)
            results["reconnect_storm"] = await reconnect_storm(hub_port, storm, 10)
    finally:
        stop(bare_proc)
        stop(hub_proc)
    if args.only and "idle" not in args.only.split(","):
        return results
    idle = args.idle or (2000 if quick else 10_000)
    idle_proc, idle_port = start_hub(args.broker)
    try:
        results["idle_memory"] = await idle_memory(idle_proc.pid, idle_port, idle)
    finally:
        stop(idle_proc)
    bare_proc, bare_port = start_bare()
    try:
        bare_idle = await idle_memory(bare_proc.pid, bare_port, idle)
        results["idle_memory"]["bare_websockets_kib_per_connection"] = bare_idle["kib_per_connection"]
    finally:
        stop(bare_proc)
    if args.only:
        return results
    fanout = results["fanout"]
    one_channel = [f for name, f in fanout.items() if name.endswith("x1")]
    recovery = results["reconnect_storm"]
    # Issue 19's targets, as ratios to the bare server in this run. The 100 x 10 one is for Redis; the
    # storm here has 5,000 clients (20,000 over several processes: ``hub_crowd.py``).
    results["targets"] = {
        "p99_one_channel_at_most_1_15x_bare": all(f["p99_ratio"] <= 1.15 for f in one_channel),
        "deliveries_one_channel_at_least_0_9x_bare": all(f["deliveries_ratio"] >= 0.9 for f in one_channel),
        **(
            {"p99_100x10_at_most_1_5x_bare": fanout["100x10"]["p99_ratio"] <= 1.5}
            if args.broker.startswith("redis")
            else {}
        ),
        "idle_kib_per_connection_at_most_20": results["idle_memory"]["kib_per_connection"] <= 20,
        "storm_recovered_under_10s": recovery["seconds_to_full_recovery"] < 10
        and recovery["recovered_false"] == 0,
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clients and broadcasts (about 30 s)")
    parser.add_argument("--broker", default="memory://", help="memory:// (default) or redis://host:port/db")
    parser.add_argument(
        "--only", help="comma-separated parts to run and no more: 1000x1, 5000x1, 100x10, storm, idle"
    )
    parser.add_argument("--idle", type=int, help="idle connections to hold (default 10,000)")
    parser.add_argument("--storm", type=int, help="clients in the reconnect storm (default 5,000)")
    parser.add_argument("--profile", metavar="PATH", help="cProfile the hub server into PATH (pstats)")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the kernel place servers and clients (default: servers on the last CPU, clients elsewhere)",
    )
    args = parser.parse_args()
    raise_open_files()
    if not args.no_pin:
        PLACEMENT.pin_apart()
    print(json.dumps(run_loop(run(args))))


if __name__ == "__main__":
    main()

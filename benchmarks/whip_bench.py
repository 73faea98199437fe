"""The WHIP/WHEP mode of ``video_relay.py``: the whole platform over HTTP, as devices and walls use it.

``command-center serve`` processes (one on SQLite, or two on PostgreSQL + Redis for the cross-process
path), a publisher (``command-center stream publish``: WHIP, pixel-stamped 640x480 at 30 fps) or a pulled
RTSP camera (GStreamer's RTSP server, H.264, ``POST /api/streams/pull``), and viewers that play with WHEP,
spread over ``--viewer-processes`` processes (``viewer_pool.py``). With ``--cross-process`` every viewer
posts to the second process and is redirected (307) to the one holding the stream. The relay's CPU is the
owning process's, read from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from viewer_pool import ViewerPool, whep_source

from command_center.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
RTSP_SERVER = ROOT / "tests" / "streaming" / "servers" / "rtsp_server.py"
SECRET = "benchmark-secret-key-0123456789"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


class Platform:
    """One or two serve processes sharing a database (and Redis when two)."""

    def __init__(self, cross_process: bool, postgres: str, redis: str, camera_url: str) -> None:
        self.cross = cross_process
        #: The allow-list matches scheme, host, port and path: the benchmark camera's exact address.
        self.camera_url = camera_url
        self.postgres = postgres
        self.redis = redis
        self.dir = Path(tempfile.mkdtemp(prefix="bench-whip-"))
        self.processes: list[asyncio.subprocess.Process] = []
        self.urls: list[str] = []
        self.database = ""
        self._pg_name = ""

    async def start(self) -> None:
        if self.cross:
            import asyncpg
            from sqlalchemy.engine import make_url

            self._pg_name = f"cc_bench_{uuid.uuid4().hex[:8]}"
            admin = make_url(self.postgres).set(drivername="postgresql").render_as_string(hide_password=False)
            conn = await asyncpg.connect(admin)
            await conn.execute(f'CREATE DATABASE "{self._pg_name}"')
            await conn.close()
            self.database = (
                make_url(self.postgres).set(database=self._pg_name).render_as_string(hide_password=False)
            )
        else:
            self.database = f"sqlite+aiosqlite:///{self.dir / 'bench.db'}"
        await self._seed()
        for index in range(2 if self.cross else 1):
            port = _port()
            url = f"http://127.0.0.1:{port}"
            env = {
                **os.environ,
                "CC_DATABASE_URL": self.database,
                "CC_BROKER_URL": self.redis if self.cross else "memory://",
                "CC_SECRET_KEY": SECRET,
                "CC_PUBLIC_URL": url,
                "CC_RECORDINGS_DIR": str(self.dir / f"rec-{index}"),
                "CC_BACKGROUND_TASKS": "false",
                "CC_MEDIA_ALLOWED_TARGETS": json.dumps([self.camera_url]),
                "CC_RELAY_MAX_VIEWERS": "5000",
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "command_center",
                "serve",
                "--port",
                str(port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            self.processes.append(process)
            self.urls.append(url)
        async with httpx.AsyncClient(timeout=2) as http:
            for url in self.urls:
                for _ in range(300):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.2)

    async def _seed(self) -> None:
        from command_center import demo
        from command_center.db import Database
        from command_center.migrate import upgrade
        from command_center.settings import Settings

        # The serve processes derive the audit key from the same secret, so their chains continue this one.
        database = Database.from_settings(Settings(secret_key=SECRET, database_url=self.database))
        try:
            await upgrade(database)
            async with database.session() as session:
                await demo.seed(session)
        finally:
            await database.dispose()

    async def token(self, http: httpx.AsyncClient, name: str) -> str:
        response = await http.post(
            f"{self.urls[0]}/api/auth/token", data={"username": name, "password": DEMO_PASSWORD}
        )
        return str(response.json()["access_token"])

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
                await process.wait()
        if self._pg_name:
            import asyncpg
            from sqlalchemy.engine import make_url

            admin = make_url(self.postgres).set(drivername="postgresql").render_as_string(hide_password=False)
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
            await conn.close()


async def _start_source(platform: Platform, http: httpx.AsyncClient, source: str) -> tuple[str, list[Any]]:
    """Start the publisher or the RTSP camera; return the stream id and the processes to stop."""
    owner = platform.urls[0]
    if source == "rtsp":
        port = urlsplit(platform.camera_url).port
        camera = await asyncio.create_subprocess_exec(
            "/usr/bin/python3", str(RTSP_SERVER), "--port", str(port), stdout=asyncio.subprocess.PIPE
        )
        assert camera.stdout is not None
        await asyncio.wait_for(camera.stdout.readline(), 30)
        token = await platform.token(http, "commander")
        started = time.monotonic()
        response = await http.post(
            f"{owner}/api/streams/pull",
            json={"url": platform.camera_url, "officer": "bench camera"},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        print(f"pull opened in {time.monotonic() - started:.2f} s", file=sys.stderr)
        return str(response.json()["id"]), [camera]
    publisher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "command_center",
        "stream",
        "publish",
        "--server",
        owner,
        "--user",
        "field1",
        "--password-stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert publisher.stdin is not None and publisher.stdout is not None
    publisher.stdin.write(f"{DEMO_PASSWORD}\n".encode())
    await publisher.stdin.drain()
    line = (await asyncio.wait_for(publisher.stdout.readline(), 60)).decode()
    return line.split()[2], [publisher]  # "publishing stream <id> from ..."


async def bench_whip(
    *,
    source: str,
    cross_process: bool,
    levels: list[int],
    window: float,
    decoded: int,
    batch: int,
    viewer_processes: int,
    light: bool,
    postgres: str,
    redis: str,
) -> dict[str, Any]:
    platform = Platform(cross_process, postgres, redis, f"rtsp://127.0.0.1:{_port()}/cam")
    pool: ViewerPool | None = None
    helpers: list[Any] = []
    results = []
    async with httpx.AsyncClient(timeout=60) as http:
        try:
            await platform.start()
            stream_id, helpers = await _start_source(platform, http, source)
            token = await platform.token(http, "commander")
            entry = platform.urls[-1]  # with --cross-process, the process NOT holding the stream
            whep = f"{entry}/api/whep/{stream_id}"
            owner_pid = platform.processes[0].pid
            # The viewers play over WHEP from processes of their own, as walls in other rooms would: one
            # process with 300 aiortc peers was itself the bottleneck (RESULTS.md, "Session of 2026-12-01").
            # Only the synthetic source carries stamps in its pixels to decode.
            pool = ViewerPool(
                whep_source(whep, token),
                viewer_processes,
                decoded if source == "synthetic" else 0,
                light=light,
            )
            await pool.start()
            await asyncio.sleep(1.0)
            redirected_before = 0
            for level in levels:
                joined = await pool.grow(level, batch)
                await asyncio.sleep(1.0 + level / 25)
                cpu_before, wall_before = _cpu_seconds(owner_pid), time.monotonic()
                await pool.mark()
                await asyncio.sleep(window)
                seen = await pool.report()
                wall = time.monotonic() - wall_before
                relay_cores = (_cpu_seconds(owner_pid) - cpu_before) / wall
                fps, latencies, ttff = seen["fps"], seen["latencies_ms"], joined["ttff"]
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
                            "p95": _pct(joined["connect"], 0.95),
                            "max": _pct(joined["connect"], 1.0),
                        },
                        "redirected_307": joined["redirected"] - redirected_before,
                        "relay_process_cpu_cores": round(relay_cores, 3),
                        "relay_process_cpu_cores_per_viewer": round(relay_cores / level, 4),
                        "viewer_processes_cpu_cores": round(seen["cpu_cores"], 3),
                        "machine_load_1m": round(os.getloadavg()[0], 2),
                    }
                )
                redirected_before = joined["redirected"]
            health = (
                await http.get(
                    f"{platform.urls[0]}/api/streams/{stream_id}",
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()
        finally:
            if pool is not None:
                await pool.stop()
            for helper in helpers:
                if helper.returncode is None:
                    helper.terminate()
                    await helper.wait()
            await platform.stop()
    first, last = results[0], results[-1]
    span = last["viewers"] - first["viewers"]
    marginal = (last["relay_process_cpu_cores"] - first["relay_process_cpu_cores"]) / span if span else None
    return {
        "benchmark": "video_relay --signaling whip",
        "source": "pulled RTSP H.264 (GStreamer test camera)"
        if source == "rtsp"
        else "WHIP publisher (CLI), VP8 stamped",
        "cross_process_307": cross_process,
        "viewer_processes": viewer_processes,
        "counting_viewers": "light (RTP marker bits after SRTP)"
        if light
        else "aiortc's whole receive pipeline",
        "levels": results,
        "stream_health": health.get("health"),
        "stream_codecs": health.get("codecs"),
        "marginal_relay_cores_per_viewer": None if marginal is None else round(marginal, 4),
    }


def run(args: Any) -> None:
    result = asyncio.run(
        bench_whip(
            source=args.source,
            cross_process=args.cross_process,
            levels=args.levels,
            window=args.window,
            decoded=args.decoded,
            batch=args.batch,
            viewer_processes=args.viewer_processes,
            light=args.light,
            postgres=args.postgres_url,
            redis=args.redis_url,
        )
    )
    print(json.dumps(result, indent=2))

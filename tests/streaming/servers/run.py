"""Start and stop the real media servers the pull tests read from (helpers, not fixtures)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from tests.services import require

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rtsp_available() -> bool:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst; Gst.init(None); assert Gst.ElementFactory.find('x264enc')"
    )
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


async def _wait_line(process: asyncio.subprocess.Process, wanted: str, timeout: float = 30) -> None:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    if line.decode().strip() != wanted:
        raise AssertionError(f"media server said {line!r}, wanted {wanted!r}")


def _rtsp_command(port: int, codec: str, fps: int) -> list[str]:
    require(
        "GStreamer RTSP server",
        rtsp_available(),
        "apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi "
        "gstreamer1.0-plugins-ugly gstreamer1.0-plugins-good",
    )
    return [
        SYSTEM_PYTHON,
        str(HERE / "rtsp_server.py"),
        "--port",
        str(port),
        "--codec",
        codec,
        "--fps",
        str(fps),
    ]


@asynccontextmanager
async def rtsp_server(port: int | None = None, codec: str = "h264", fps: int = 30) -> AsyncIterator[str]:
    """GStreamer's RTSP server on 127.0.0.1; yields ``rtsp://127.0.0.1:PORT/cam``."""
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        *_rtsp_command(port, codec, fps), stdout=asyncio.subprocess.PIPE
    )
    try:
        await _wait_line(process, "ready")
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@contextmanager
def rtsp_server_blocking(port: int, codec: str = "h264", fps: int = 30) -> Iterator[str]:
    """``rtsp_server`` for synchronous tests (the browser tests drive Playwright's sync API)."""
    process = subprocess.Popen(_rtsp_command(port, codec, fps), stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()  # the server prints "ready" once it listens
        if line != "ready":
            raise AssertionError(f"media server said {line!r}, wanted 'ready'")
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        process.terminate()
        process.wait(10)


NGINX_CONF = """
load_module {module};
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    application live {{ live on; record off; }}
  }}
}}
"""


def rtmp_available() -> bool:
    return bool(shutil.which("nginx") and shutil.which("ffmpeg") and _rtmp_module())


def _rtmp_module() -> str | None:
    for candidate in ("/usr/lib/nginx/modules/ngx_rtmp_module.so",):
        if Path(candidate).exists():
            return candidate
    return None


@asynccontextmanager
async def rtmp_server(workdir: Path, fps: int = 30) -> AsyncIterator[str]:
    """nginx with libnginx-mod-rtmp, fed H.264 by ffmpeg; yields ``rtmp://127.0.0.1:PORT/live/cam``."""
    require("nginx RTMP", rtmp_available(), "apt-get install nginx libnginx-mod-rtmp ffmpeg")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(module=_rtmp_module(), dir=workdir, port=port))
    nginx = await asyncio.create_subprocess_exec(
        "nginx",
        "-c",
        str(conf),
        "-p",
        str(workdir),
        "-e",
        str(workdir / "error.log"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"rtmp://127.0.0.1:{port}/live/cam"
    feeder = None
    try:
        for _ in range(100):  # wait for the listening socket (an event, with a generous bound)
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        feeder = await asyncio.create_subprocess_exec(
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=size=640x480:rate={fps}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            str(fps),
            "-pix_fmt",
            "yuv420p",
            "-f",
            "flv",
            url,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        yield url
    finally:
        for process in (feeder, nginx):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()

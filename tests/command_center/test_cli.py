"""The console script, run as a user runs it: in a subprocess, in a fresh folder."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from command_center.cli import main
from command_center.migrate import head_revision


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):  # type: ignore[no-untyped-def]
    full_env = {"PATH": os.environ["PATH"], "HOME": str(cwd), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "command_center", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_is_idempotent_and_keeps_existing_data(tmp_path: Path) -> None:
    first = _cli(["demo", "--no-serve"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "demo logins" in first.stdout and "commander" in first.stdout
    assert "http://127.0.0.1:8000/" in first.stdout
    dev = {"CC_DEVELOPMENT": "true"}
    added = _cli(
        ["user", "add", "xiao", "--role", "liaison", "--department", "police", "--password-stdin"],
        tmp_path,
        dev,
        stdin="a-long-password\n",
    )
    assert added.returncode == 0, added.stderr
    second = _cli(["demo", "--no-serve"], tmp_path)
    assert second.returncode == 0
    assert "(0 demo rows added)" in second.stdout
    again = _cli(
        ["user", "add", "xiao", "--role", "liaison", "--password-stdin"], tmp_path, dev, stdin="another-pw1\n"
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
    verify = _cli(["audit", "verify"], tmp_path, dev)
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_user_add_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    dev = {"CC_DEVELOPMENT": "true"}
    short = _cli(
        ["user", "add", "a", "--role", "liaison", "--password-stdin"], tmp_path, dev, stdin="short\n"
    )
    assert short.returncode == 2 and "at least 10" in short.stderr
    dept = _cli(
        ["user", "add", "b", "--role", "liaison", "--department", "navy", "--password-stdin"],
        tmp_path,
        dev,
        stdin="long-enough-1\n",
    )
    assert dept.returncode == 2 and "unknown department 'navy'" in dept.stderr
    role = _cli(
        ["user", "add", "c", "--role", "pilot", "--password-stdin"], tmp_path, dev, stdin="long-enough-1\n"
    )
    assert role.returncode == 2 and "invalid choice" in role.stderr
    for result in (short, dept, role):
        assert "Traceback" not in result.stderr


def test_unreachable_database_names_the_url_without_the_password(tmp_path: Path) -> None:
    env = {"CC_DEVELOPMENT": "true", "CC_DATABASE_URL": "postgresql+asyncpg://cc:topsecret@127.0.0.1:1/cc"}
    for args in (["serve"], ["db", "upgrade"], ["audit", "verify"]):
        result = _cli(args, tmp_path, env)
        assert result.returncode == 2, (args, result.stderr)
        assert "cannot reach the database at postgresql+asyncpg://cc:***@127.0.0.1:1/cc" in result.stderr
        assert "topsecret" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


def test_serve_refuses_the_placeholder_secret(tmp_path: Path) -> None:
    result = _cli(["serve"], tmp_path)
    assert result.returncode == 2
    assert "CC_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_workers_without_redis(tmp_path: Path) -> None:
    result = _cli(["serve", "--workers", "2"], tmp_path, {"CC_DEVELOPMENT": "true"})
    assert result.returncode == 2 and "CC_BROKER_URL=redis://" in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path: Path) -> None:
    result = _cli(["db", "upgrade"], tmp_path, {"CC_DEVELOPMENT": "true"})
    assert result.returncode == 0, result.stderr
    assert f"is at revision {head_revision()}" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_server_comes_up_and_answers(tmp_path: Path) -> None:
    """The first command of the README: migrate, seed and serve. Its speed is measured elsewhere; here a
    generous bound only keeps a hung start from hanging the suite, and an exit ends the wait at once."""
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "command_center", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    pytest.fail(f"demo exited with {process.returncode}: {process.stdout.read()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("demo server did not answer within 180 s")
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/token",
            data={"username": "commander", "password": "demo-pass-2026"},
        )
        assert token.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_main_returns_an_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "command-center" in capsys.readouterr().out


def test_help_loads_none_of_the_platform(tmp_path: Path) -> None:
    """`--help` and the parser load no database, media or simulation library; a command imports its work."""
    probe = (
        "import sys\n"
        "from command_center.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = {'sqlalchemy', 'aiortc', 'av', 'simpy', 'uvicorn', 'fastapi', 'streaming', 'simulation'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
    helped = _cli(["--help"], tmp_path)
    assert helped.returncode == 0 and "drill" in helped.stdout and "stream" in helped.stdout

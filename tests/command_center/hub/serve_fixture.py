"""A minimal server around the hub for real-process tests and the benchmark.

Run from the repository root as
``python -m tests.command_center.hub.serve_fixture --port P [--broker URL]``.
It builds a FastAPI app with the real ``Hub`` and ``/ws`` router, a fixed token -> user table
instead of the foundation's authentication, a test-only ``taskforce`` rule (department membership
from a fixed dict), and test endpoints: ``/_test/publish`` (server-side publish), ``/_test/flood``
and ``/_test/denials`` (what ``on_denied`` audited).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from command_center.auth.roles import Principal, Role
from command_center.errors import NotAuthenticated
from command_center.hub import Hub, create_broker, router, serve_hub_directly
from command_center.hub.upgrade import HTTP_PROTOCOL
from command_center.hub.wire import PROTOCOL
from command_center.settings import Settings

USERS: dict[str, Principal] = {
    "tok-alice": Principal(1, "alice", Role.admin, "section"),
    "tok-bob": Principal(2, "bob", Role.commander, "section"),
    "tok-carol": Principal(3, "carol", Role.liaison, "police"),
    "tok-dave": Principal(4, "dave", Role.liaison, "fire_rescue"),
    "tok-erin": Principal(5, "erin", Role.organizer, "section"),
    "tok-frank": Principal(6, "frank", Role.field_officer, "section"),
}
#: task force id -> departments taking part (the real rule comes with the domain, issue 4).
TASKFORCES: dict[str, set[str]] = {
    "1": {"section", "police"},
    "2": {"section", "fire_rescue"},
    "9": {"section", "police", "fire_rescue"},
}


async def authenticate(token: str) -> Principal:
    principal = USERS.get(token)
    if principal is not None:
        return principal
    if token.startswith("bench-") and token[6:].isdigit():  # many distinct users for load tests
        number = int(token[6:])
        return Principal(10_000 + number, f"bench{number}", Role.duty_officer, "section")
    raise NotAuthenticated("unknown token")


async def taskforce_rule(principal: Principal, arg: str | None, action: str) -> bool:
    if arg is not None and arg.startswith("open-"):  # fresh channels for load tests: every department
        return True
    return arg is not None and principal.department in TASKFORCES.get(arg, set())


def _start_profile() -> Any:
    """``CC_HUB_PROFILE=path``: profile the server (cProfile) from start to shutdown (benchmarks only)."""
    if not os.environ.get("CC_HUB_PROFILE"):
        return None
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    return profile


def _stop_profile(profile: Any) -> None:
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["CC_HUB_PROFILE"])


def _time_collections() -> Any:
    """``CC_HUB_GC_DEBUG=1``: time the collector in this worker; return what prints the totals at shutdown.

    Each full collection is logged as it ends (tail latency), and the shutdown line gives the count and
    milliseconds of each generation's collections, the share of a benchmark's CPU the collector took.
    Installed by ``build_app``, so it runs in each worker of ``--workers N`` and not only in the parent
    (it once ran in the parent alone, and a storm's full collections in the workers went unseen).
    """
    if not os.environ.get("CC_HUB_GC_DEBUG"):
        return lambda: None
    import gc
    import time

    started: list[float] = [0.0]
    counts, milliseconds = [0, 0, 0], [0.0, 0.0, 0.0]

    def timing(phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start":
            started[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - started[0]) * 1000
        counts[generation] += 1
        milliseconds[generation] += ms
        if generation == 2:
            print(
                f"gc gen2 {ms:.1f} ms, {info['collected']} collected (pid {os.getpid()})",
                file=sys.stderr,
            )

    def report() -> None:
        totals = ", ".join(f"gen{g} {counts[g]} x {milliseconds[g]:.0f} ms" for g in range(3))
        print(f"gc totals (pid {os.getpid()}): {totals}", file=sys.stderr, flush=True)

    gc.callbacks.append(timing)
    return report


def build_app(settings: Settings) -> FastAPI:
    report_collections = _time_collections()
    denials: list[dict[str, Any]] = []

    async def on_denied(principal: Principal, channel: str, op: str, count: int = 1) -> None:
        denials.append({"user": principal.name, "channel": channel, "op": op})

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        broker = create_broker(
            settings.broker_url,
            history_size=settings.hub_history_size,
            history_seconds=settings.hub_history_seconds,
        )
        # Any client ``type`` on the test-only channels: these tests are of the protocol, not the product's
        # request types (tests/command_center/hub/test_trust.py checks those on the real app).
        hub = Hub(
            settings=settings,
            broker=broker,
            authenticate=authenticate,
            on_denied=on_denied,
            client_types=None,
        )
        hub.policy.register("taskforce", taskforce_rule)
        await hub.start()
        app.state.hub = hub
        profile = _start_profile()
        yield
        _stop_profile(profile)
        report_collections()
        await hub.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    serve_hub_directly(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        hub: Hub = app.state.hub
        return {"ok": await hub.broker.ping(), "pid": os.getpid(), "connections": len(hub.connections)}

    @app.post("/_test/publish")
    async def publish(body: dict[str, Any]) -> dict[str, Any]:
        message = await app.state.hub.publish(body["channel"], body["data"], id=body.get("id"))
        return {"offset": message.offset, "epoch": message.epoch}

    @app.post("/_test/flood")
    async def flood(body: dict[str, Any]) -> dict[str, Any]:
        hub: Hub = app.state.hub
        pad = "x" * int(body.get("size", 100))
        last = None
        for i in range(int(body["count"])):
            last = await hub.publish(body["channel"], {"type": "flood", "id": i, "drill": False, "pad": pad})
            if i % 10 == 0:  # paced, so that a reading client keeps up on a busy test machine
                await asyncio.sleep(float(body.get("pause", 0)))
        return {"offset": last.offset if last else 0}

    @app.get("/_test/denials")
    async def get_denials() -> list[dict[str, Any]]:
        return denials

    return app


_ARGS_ENV = "CC_HUB_FIXTURE_ARGS"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broker", default="memory://")
    parser.add_argument("--history-size", type=int, default=1000)
    parser.add_argument("--send-queue", type=int, default=1024)
    parser.add_argument("--max-frame", type=int, default=64 * 1024)
    parser.add_argument("--auth-timeout", type=float, default=5.0)
    parser.add_argument("--publish-rate", type=float, default=50.0)
    parser.add_argument("--op-rate", type=float, default=None, help="CC_WS_OP_RATE (frames/s/connection)")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes on the one port")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        development=True,
        broker_url=args.broker,
        hub_history_size=args.history_size,
        ws_send_queue=args.send_queue,
        ws_max_frame_bytes=args.max_frame,
        ws_auth_timeout_seconds=args.auth_timeout,
        ws_publish_rate=args.publish_rate,
        **({} if args.op_rate is None else {"ws_op_rate": args.op_rate}),
    )


def app_from_env() -> FastAPI:
    """The app of a worker process (``--workers N``): the parent's command line is in the environment."""
    return build_app(_settings(_parser().parse_args(json.loads(os.environ[_ARGS_ENV]))))


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    os.environ[_ARGS_ENV] = json.dumps(sys.argv[1:] if argv is None else argv)
    settings = _settings(args)
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    if os.environ.get("CC_HUB_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG)
        logging.getLogger("command_center.hub").setLevel(logging.DEBUG)
    # More than one worker: uvicorn's own multi-process mode, as ``command-center serve --workers N``.
    app: Any = (
        "tests.command_center.hub.serve_fixture:app_from_env" if args.workers > 1 else build_app(settings)
    )
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws_per_message_deflate=False,  # JSON frames are small, and deflate would cost CPU per subscriber
        ws=PROTOCOL,  # frames built once per message, written to every subscriber (hub/wire.py)
        http=HTTP_PROTOCOL,  # the upgrade to /ws parsed once (hub/upgrade.py)
        backlog=8192,
        lifespan="on",
    )


if __name__ == "__main__":
    sys.exit(main())

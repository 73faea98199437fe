"""Shared pieces of the GB/T 28181 tests: an event recorder with waits, a hand-driven clock, a gateway."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from streaming import Relay
from streaming.gb28181 import DeviceEvent, Gateway, GatewayConfig, ha1
from tests.streaming.gb_simulator import Behaviour, DeviceSimulator

DOMAIN = "3402000000"
DEVICE = "34020000001320000001"
PASSWORD = "device-pass-1"


class Clock:
    """A clock the test moves by hand: liveness is decided by it, never by the wall clock."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Events:
    """``GatewayEvents`` for the tests: passwords by device id, and every event kept with a way to wait."""

    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords
        self.events: list[DeviceEvent] = []
        self._changed = asyncio.Event()

    async def credentials(self, device_id: str) -> str | None:
        password = self.passwords.get(device_id)
        return None if password is None else ha1(device_id, DOMAIN, password)

    async def on_device_event(self, event: DeviceEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, type_: str) -> list[DeviceEvent]:
        return [e for e in self.events if e.type == type_]

    async def wait(self, type_: str, count: int = 1, timeout: float = 10.0) -> DeviceEvent:
        async def waiting() -> DeviceEvent:
            while len(self.of(type_)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.of(type_)[count - 1]

        return await asyncio.wait_for(waiting(), timeout)


def free_port_base(size: int = 40) -> int:
    return random.randrange(20000, 60000 - size, size)


@asynccontextmanager
async def running_gateway(
    relay: Relay, clock: Clock, **overrides: Any
) -> AsyncIterator[tuple[Gateway, Events]]:
    base = free_port_base()
    options: dict[str, Any] = {
        "domain": DOMAIN,
        "host": "127.0.0.1",
        "port": 0,
        "media_host": "127.0.0.1",
        "media_bind": "127.0.0.1",
        "rtp_port_min": base,
        "rtp_port_max": base + 39,
        "invite_timeout": 3.0,
        "media_timeout": 6.0,
        "bye_on_last_viewer": False,
        "sweep_interval": 0.05,
    }
    options.update(overrides)
    events = Events({DEVICE: PASSWORD})
    gateway = Gateway(GatewayConfig(**options), relay, events, clock=clock)
    await gateway.start()
    try:
        yield gateway, events
    finally:
        await gateway.close()


@asynccontextmanager
async def device(
    gateway: Gateway,
    *,
    transport: str = "UDP",
    media: Path | None = None,
    behaviour: Behaviour | None = None,
    device_id: str = DEVICE,
    register: bool = True,
) -> AsyncIterator[DeviceSimulator]:
    sim = DeviceSimulator(
        device_id, ("127.0.0.1", gateway.port), DOMAIN, transport=transport, media=media, behaviour=behaviour
    )
    await sim.start()
    try:
        if register:
            reply = await sim.register()
            assert reply.status == 200, reply.start
        yield sim
    finally:
        await sim.close()

"""Shared steps of the live-drill tests: upload and schedule a scenario, start it on the clock, wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.command_center.clock import FakeClock as DrillClock

QUICK = (Path(__file__).parent / "quick-drill.yaml").read_text(encoding="utf-8")

#: The quick drill plus an order to the field officers and a synthetic body-cam, a minute after arrival.
WITH_ORDER_AND_VIDEO = QUICK.replace("id: test-quick-drill", "id: test-drill-debris").replace(
    "  - id: escalation\n",
    "  - id: move_in\n"
    "    after: {inject: arrival, delay: PT1M}\n"
    "    to: [field_officer]\n"
    "    kind: order\n"
    "    content: {zh-CN: 请立即到东门现场核实人数, en: Go to the east gate and count the crowd}\n"
    "  - id: bodycam\n"
    "    after: {inject: arrival, delay: PT1M}\n"
    "    to: [commander, duty_officer]\n"
    "    kind: video\n"
    "    content: {zh-CN: 东门现场约30人聚集, en: 'East gate: about 30 people gathered'}\n"
    "  - id: escalation\n",
)


#: The quick drill plus the order only (the end-to-end test of REST- and CLI-scheduled drills).
WITH_ORDER = QUICK.replace("id: test-quick-drill", "id: test-drill-with-order").replace(
    "  - id: escalation\n",
    "  - id: move_in\n"
    "    after: {inject: arrival, delay: PT1M}\n"
    "    to: [field_officer]\n"
    "    kind: order\n"
    "    content: {zh-CN: 请立即到东门现场核实人数, en: Go to the east gate and count the crowd}\n"
    "  - id: escalation\n",
)


async def wait_for(predicate: Any, timeout: float = 30.0, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(step)


async def schedule(
    client: httpx.AsyncClient, organizer: dict[str, str], clock: DrillClock, yaml: str, key: str
) -> int:
    upload = await client.post("/api/drills/scenarios", json={"yaml": yaml}, headers=organizer)
    assert upload.status_code == 201, upload.text
    body = {
        "window_start": clock.now.isoformat(),
        "window_end": (clock.now + timedelta(seconds=1)).isoformat(),
        "scenarios": [key],
        "single_scenario": True,
    }
    response = await client.post("/api/drills", json=body, headers=organizer)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def drill_incident(client: httpx.AsyncClient, headers: dict[str, str], drill_id: int) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        rows = (await client.get("/api/incidents?drill=true", headers=headers)).json()
        return next((i for i in rows if i.get("drill_id") == drill_id), None)

    result: dict[str, Any] = await wait_for(found)
    return result

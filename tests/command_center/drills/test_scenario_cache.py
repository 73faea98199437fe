"""Scenario files are read and validated once per file version, not on every drills request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from command_center.drills import scenarios
from simulation import load_scenario_text

QUICK = Path(__file__).parent / "quick-drill.yaml"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def counting(text: str, filename: str = "scenario.yaml"):  # type: ignore[no-untyped-def]
        calls.append(filename)
        return load_scenario_text(text, filename)

    monkeypatch.setattr(scenarios, "load_scenario_text", counting)
    scenarios._parse.cache_clear()
    scenarios._shipped.cache_clear()
    return calls


async def test_listing_twice_parses_each_shipped_file_once(client, login, counted) -> None:  # type: ignore[no-untyped-def]
    organizer = await login("organizer")
    first = await client.get("/api/drills/scenarios", headers=organizer)
    parsed = len(counted)
    assert first.status_code == 200 and parsed > 0
    for _ in range(3):
        assert (await client.get("/api/drills/scenarios", headers=organizer)).status_code == 200
    assert len(counted) == parsed


def test_a_changed_file_is_read_again(tmp_path: Path, counted: list[str]) -> None:
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK.read_text(encoding="utf-8"), encoding="utf-8")
    stat = path.stat()
    scenarios._shipped(str(path), stat.st_mtime_ns, stat.st_size)
    scenarios._shipped(str(path), stat.st_mtime_ns, stat.st_size)
    assert counted == ["quick.yaml"]
    path.write_text(path.read_text(encoding="utf-8").replace("测试用快速演练", "测试演练"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    stat = path.stat()
    _text, scenario = scenarios._shipped(str(path), stat.st_mtime_ns, stat.st_size)
    assert counted == ["quick.yaml", "quick.yaml"] and scenario.title.zh_cn == "测试演练"

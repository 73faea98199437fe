"""Uploading scenario YAML (issue 12): an alias bomb and recursive aliases get a 422 naming the problem,
and parsing happens off the event loop."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from command_center.drills import scenarios
from command_center.settings import Settings
from tests.simulation.test_yaml_budget import alias_bomb


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"background_tasks": False})


async def test_an_alias_bomb_upload_is_refused_by_name(client: Any, login: Any) -> None:
    organizer = await login("organizer")
    body = {"yaml": alias_bomb(), "filename": "bomb.yaml"}
    response = await client.post("/api/drills/scenarios", json=body, headers=organizer)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "yaml"
    assert "bomb.yaml:" in response.json()["detail"]
    assert "expands to more than" in response.json()["detail"]


async def test_recursive_aliases_get_a_4xx_not_a_500(client: Any, login: Any) -> None:
    organizer = await login("organizer")
    body = {"yaml": "schema_version: 1\nid: &id [*id]\n", "filename": "loop.yaml"}
    response = await client.post("/api/drills/scenarios", json=body, headers=organizer)
    assert response.status_code == 422, response.text
    assert "loop.yaml:2" in response.json()["detail"] and "recursive alias" in response.json()["detail"]


async def test_scenarios_are_parsed_off_the_event_loop(
    client: Any, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    original = scenarios.parse

    def recording_parse(text: str, filename: str = "scenario.yaml") -> Any:
        threads.append(threading.current_thread())
        return original(text, filename)

    monkeypatch.setattr(scenarios, "parse", recording_parse)
    organizer = await login("organizer")
    response = await client.post(
        "/api/drills/scenarios", json={"yaml": "schema_version: 1\n"}, headers=organizer
    )
    assert response.status_code == 422
    assert threads and all(t is not threading.main_thread() for t in threads)

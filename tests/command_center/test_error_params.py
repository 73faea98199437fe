"""Errors carry a stable code and params (DESIGN section 5) so pages translate them; every rule a service
can raise has a sentence in both catalogues."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


async def test_a_skipped_stage_names_the_rule_and_the_stages(client: Any, login: Any) -> None:
    commander = await login("commander")
    incident = (
        await client.post(
            "/api/incidents", json={"title": "跳过阶段", "category": "collective_petition"}, headers=commander
        )
    ).json()
    response = await client.post(
        f"/api/incidents/{incident['id']}/stage", json={"stage": "de_escalation"}, headers=commander
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error" and body["field"] == "reason"
    assert body["params"] == {
        "rule": "stage.skip_needs_reason",
        "from": "information_report",
        "to": "de_escalation",
        "skipped": ["on_site_control"],
    }


async def test_request_validation_names_the_input_rule(client: Any, login: Any) -> None:
    commander = await login("commander")
    response = await client.post(
        "/api/incidents", json={"category": "collective_petition"}, headers=commander
    )
    assert response.status_code == 422
    assert response.json()["field"] == "title" and response.json()["params"]["rule"] == "input.missing"
    long = await client.post(
        "/api/incidents", json={"title": "x" * 201, "category": "collective_petition"}, headers=commander
    )
    assert long.json()["params"] == {"rule": "input.string_too_long", "max_length": 200}


def test_every_rule_has_a_sentence_in_both_catalogues() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "command_center").rglob("*.py"))
    rules = set(re.findall(r'"rule":\s*"([a-z_.]+)"', source))
    assert {"stage.skip_needs_reason", "ledger.lower_needs_reason", "item.close_needs_evidence"} <= rules
    for code in ("zh-CN", "en"):
        catalogue = json.loads((ROOT / "dashboards/static/i18n" / f"{code}.json").read_text())
        missing = sorted(r for r in rules if f"error.rule.{r}" not in catalogue)
        assert not missing, f"{code} has no sentence for {missing}"
        for error_code in ("validation_error", "forbidden", "not_found", "conflict", "too_large"):
            assert f"error.code.{error_code}" in catalogue

"""Audit entries are readable only by those who may read their subject (DESIGN.md section 11)."""


async def _incident(client, headers, title: str, departments: list[str]) -> int:  # type: ignore[no-untyped-def]
    body = {"title": title, "category": "collective_petition", "departments": departments}
    response = await client.post("/api/incidents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_a_liaison_reads_only_its_departments_subjects(client, login) -> None:  # type: ignore[no-untyped-def]
    duty = await login("duty")
    police_incident = await _incident(client, duty, "东门聚集", ["police"])
    fire_incident = await _incident(client, duty, "仓库冒烟", ["fire_rescue"])
    admin = await login("admin")
    body = {"name": "newcomer", "role": "field_officer", "department": "section", "password": "long-enough-1"}
    assert (await client.post("/api/users", json=body, headers=admin)).status_code == 201
    police = await login("police")
    targets = {e["target"] for e in (await client.get("/api/audit?limit=500", headers=police)).json()}
    assert f"incident:{police_incident}" in targets
    assert f"incident:{fire_incident}" not in targets
    assert "user:newcomer" not in targets  # not its department's subject
    assert "user:police" in targets  # its own sign-in
    everyone = {e["target"] for e in (await client.get("/api/audit?limit=500", headers=admin)).json()}
    assert {f"incident:{fire_incident}", "user:newcomer"} <= everyone
    commander = {
        e["target"]
        for e in (await client.get("/api/audit?limit=500", headers=await login("commander"))).json()
    }
    assert f"incident:{fire_incident}" in commander


async def test_a_filtered_page_is_still_full(client, login) -> None:  # type: ignore[no-untyped-def]
    """Filtering happens before the limit: hidden entries never leave a liaison with an empty page."""
    duty = await login("duty")
    visible = await _incident(client, duty, "东门聚集", ["police"])
    for i in range(5):
        await _incident(client, duty, f"其他事件 {i}", ["fire_rescue"])
    entries = (
        await client.get("/api/audit?limit=1&action=incident.create", headers=await login("police"))
    ).json()
    assert [e["target"] for e in entries] == [f"incident:{visible}"]


async def test_only_whole_log_readers_check_the_whole_chain(client, login) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/api/audit/verify", headers=await login("police"))).status_code == 403
    report = (await client.get("/api/audit/verify", headers=await login("organizer"))).json()
    assert report["ok"] is True and report["entries"] >= 1

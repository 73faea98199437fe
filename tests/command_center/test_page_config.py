"""/api/config gives the pages the office's settings: time zone, language and the map (tile URL template,
coordinate system); nothing secret, so anyone may read it. Bad map settings are refused at start."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from command_center.app import create_app
from command_center.settings import Settings


async def test_config_follows_the_settings(settings: Settings) -> None:
    custom = settings.model_copy(
        update={
            "timezone": "Asia/Urumqi",
            "map_tile_url": "https://gis.example.gov.cn/tiles/{z}/{x}/{y}.png",
            "map_crs": "GCJ-02",
        }
    )
    app = create_app(custom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            config = (await http.get("/api/config")).json()
            favicon = await http.get("/favicon.ico")
            leaflet = await http.get("/static/vendor/leaflet/leaflet-src.esm.js")
    assert config["timezone"] == "Asia/Urumqi" and config["language"] == "zh-CN"
    assert config["map"]["tile_url"] == "https://gis.example.gov.cn/tiles/{z}/{x}/{y}.png"
    assert config["map"]["crs"] == "GCJ-02"
    assert config["officer_stale_seconds"] == 60 and config["officer_gone_seconds"] == 600
    assert "secret" not in str(config).lower() and "database" not in str(config).lower()
    assert favicon.status_code == 200 and leaflet.status_code == 200
    assert "export" in leaflet.text[-3000:]


def test_defaults_are_offline_and_wgs84() -> None:
    settings = Settings(development=True)
    assert settings.map_tile_url == "" and settings.map_crs == "WGS-84"


@pytest.mark.parametrize("bad", [{"map_crs": "BD-09"}, {"map_zoom": 0}, {"officer_stale_seconds": 0}])
def test_bad_map_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(development=True, **bad)

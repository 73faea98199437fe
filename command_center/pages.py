"""What the pages need from the server besides the API: their settings, the favicon and Leaflet's files.

Leaflet comes from the XStatic-Leaflet package and is served from where pip installed it, so no page loads
anything from outside the server (no CDN) and the project keeps no copy of third-party source.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import xstatic.pkg.leaflet as leaflet
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(tags=["pages"])

LEAFLET_URL = "/static/vendor/leaflet"


@router.get("/api/config")
async def page_config(request: Request) -> dict[str, Any]:
    """The settings pages follow (office time zone, language, map); public, since nothing here is secret."""
    settings = request.app.state.settings
    return {
        "timezone": settings.timezone,
        "language": settings.language,
        "map": {
            "tile_url": settings.map_tile_url,
            "tile_attribution": settings.map_tile_attribution,
            "crs": settings.map_crs,
            "center": [settings.map_center_lat, settings.map_center_lon],
            "zoom": settings.map_zoom,
            "leaflet": f"{LEAFLET_URL}/leaflet-src.esm.js",
            "leaflet_version": leaflet.VERSION,
        },
        "officer_stale_seconds": settings.officer_stale_seconds,
        "officer_gone_seconds": settings.officer_gone_seconds,
    }


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(str(files("dashboards") / "static" / "favicon.svg"), media_type="image/svg+xml")


def mount_vendor(app: FastAPI) -> None:
    """Serve Leaflet from the installed package; call before the ``/static`` mount so this path wins."""
    app.mount(LEAFLET_URL, StaticFiles(directory=leaflet.BASE_DIR), name="leaflet")

"""The map (一张图): Leaflet from the installed XStatic-Leaflet package, an offline view without tiles,
incidents, the three zones, officers with a stale time, live streams to click, the coordinate setting."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import xstatic.pkg.leaflet as leaflet

from tests.e2e.conftest import PHONE, shoot
from tests.e2e.streamrows import add_officer, end

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ZONES = [
    {"kind": "cordon", "lat": 30.6598, "lon": 104.0633, "radius_m": 80},
    {"kind": "buffer", "lat": 30.6598, "lon": 104.0633, "radius_m": 160},
    {"kind": "dialogue", "lat": 30.6601, "lon": 104.0640, "radius_m": 25},
]


def _external_requests(page, server) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(r.url) if not r.url.startswith((server.url, "data:", "blob:")) else None,
    )
    return seen


def test_leaflet_is_served_from_the_installed_package(server):
    served = httpx.get(f"{server.url}/static/vendor/leaflet/leaflet-src.esm.js")
    assert served.status_code == 200
    assert served.content == (Path(leaflet.BASE_DIR) / "leaflet-src.esm.js").read_bytes()
    assert httpx.get(f"{server.url}/static/vendor/leaflet/leaflet.css").status_code == 200
    assert not list((ROOT / "dashboards").rglob("leaflet*.js")), "no vendored copy in the project"
    config = httpx.get(f"{server.url}/api/config").json()
    assert config["map"]["tile_url"] == "" and config["map"]["crs"] == "WGS-84"
    assert config["timezone"] == "Asia/Shanghai"


def test_incident_map_offline_view_with_zones_and_nothing_external(open_page, server):
    incident = server.create_incident(title="一张图三区测试", location={"lat": 30.6598, "lon": 104.0633})
    with server.client("field1") as http:
        http.post(f"/api/incidents/{incident['id']}/zones", json={"zones": ZONES}).raise_for_status()
    page = open_page("commander", "/healthz", wait_ready=False)
    external = _external_requests(page, server)
    page.goto(f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#incident-map[data-ready=true][data-base=offline]")
    for kind in ("cordon", "buffer", "dialogue"):
        page.wait_for_selector(f"#incident-map path.map-zone-{kind}", state="attached")
    marker = page.locator(f"#incident-map [data-incident='{incident['id']}']")
    assert marker.count() == 1
    # The marker is on top of its zones: the point under its centre is the marker, not the cordon.
    page.locator("#incident-map").scroll_into_view_if_needed()
    box = marker.bounding_box()
    assert box is not None
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.dataset.incident",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == str(incident["id"]), "a zone covers its incident's marker"
    assert page.locator("#incident-map .leaflet-control-scale-line").count() == 1
    assert "°N" in page.evaluate(
        "[...document.querySelectorAll('#incident-map canvas')].length ? 'ok °N' : ''"
    )
    page.locator("#incident-map").scroll_into_view_if_needed()
    shoot(page, "incident-map-1920x1080")
    assert external == [], f"pages must load nothing from outside: {external}"


def test_officers_grey_when_stale_and_gone_after_ten_minutes(open_page, server):
    fresh = add_officer(server, "field1", age_seconds=5, lat=30.6605, lon=104.0650)
    stale = add_officer(server, "field2", age_seconds=90, lat=30.6590, lon=104.0620)
    gone = add_officer(server, "field1", age_seconds=11 * 60, lat=30.6580, lon=104.0610)
    try:
        page = open_page("commander", "/static/board.html")
        page.wait_for_selector(f"#board-map [data-stream='{fresh}'][data-stale=false]", state="attached")
        page.wait_for_selector(f"#board-map [data-stream='{stale}'][data-stale=true]", state="attached")
        assert page.locator(f"#board-map [data-stream='{gone}']").count() == 0
        labels = page.locator("#board-map").text_content() or ""  # shown or, where crowded, on hover
        assert "张警员" in labels and "赵警员" in labels and "秒前" in labels
        shoot(page, "board-map-officers-1920x1080")
        # A live stream on the map: click the officer to watch.
        page.locator(f"#board-map [data-stream='{fresh}']").click(force=True)
        link = page.locator("#board-map .map-watch")
        link.wait_for()
        assert link.get_attribute("href") == f"/static/video.html?stream={fresh}"
        wall = open_page("commander", "/static/video.html")
        wall.wait_for_selector(f"#wall-map [data-stream='{fresh}']", state="attached")
        wall.locator(f"#wall-map [data-stream='{fresh}']").click(force=True)
        wall.locator("#wall-map .map-watch").click()
        wall.wait_for_selector(f".tile.enlarged[data-id='{fresh}']")
        shoot(wall, "video-wall-map-1920x1080")
    finally:
        end(server, fresh, stale, gone)


def test_gcj02_setting_shifts_the_drawing_not_the_stored_position(open_page, server):
    incident = server.create_incident(title="坐标系测试", location={"lat": 39.908692, "lon": 116.397477})
    page = open_page("commander", "/healthz", wait_ready=False)

    def gcj_config(route):
        body = json.loads(route.fetch().text())
        body["map"]["crs"] = "GCJ-02"
        route.fulfill(json=body)

    page.route("**/api/config", gcj_config)
    page.goto(f"/static/incident.html?id={incident['id']}")
    page.wait_for_selector("#incident-map[data-ready=true][data-crs=GCJ-02]")
    page.wait_for_selector(f"#incident-map [data-incident='{incident['id']}']", state="attached")
    drawn = page.evaluate(
        "(() => { let p; document.querySelector('#incident-map')._map.map.eachLayer(l => "
        "{ if (l.options && /map-incident/.test(l.options.className || '')) p = l.getLatLng(); }); "
        "return [p.lat, p.lng]; })()"
    )
    # The published GCJ-02 offset near Tiananmen: about +0.0014 lat, +0.0062 lon.
    assert drawn[0] == pytest.approx(39.910093, abs=2e-5)
    assert drawn[1] == pytest.approx(116.403719, abs=2e-5)
    # A point picked on GCJ-02 tiles is stored as WGS-84: the inverse undoes the shift to < 1 cm.
    coords = "import('/static/js/coords.js').then(c => c.{})"
    back = page.evaluate(coords.format(f"fromMap('GCJ-02', {drawn[0]}, {drawn[1]})"))
    assert back == pytest.approx([39.908692, 116.397477], abs=1e-7)
    outside = page.evaluate(coords.format("toMap('GCJ-02', 51.5, -0.12)"))
    assert outside == [51.5, -0.12]  # GCJ-02 applies only inside China


def test_tile_url_setting_loads_tiles_from_the_template(open_page, server):
    page = open_page("commander", "/healthz", wait_ready=False)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "/tiles-test/" in r.url else None)

    def tiled(route):
        body = json.loads(route.fetch().text())
        body["map"]["tile_url"] = f"{server.url}/tiles-test/{{z}}/{{x}}/{{y}}.png"
        route.fulfill(json=body)

    page.route("**/api/config", tiled)
    tile = str(ROOT / "dashboards/static/favicon.svg")
    page.route("**/tiles-test/**", lambda route: route.fulfill(path=tile))
    page.goto("/static/board.html")
    page.wait_for_selector("#board-map[data-ready=true][data-base=tiles]")
    page.wait_for_function("document.querySelectorAll('#board-map img.leaflet-tile').length > 0")
    assert any("/tiles-test/14/" in url for url in requested)


def test_map_on_a_phone(open_page, server):
    page = open_page("commander", "/static/board.html", viewport=PHONE)
    page.wait_for_selector("#board-map[data-ready=true]")
    page.locator("#board-map").scroll_into_view_if_needed()
    shoot(page, "board-map-390x844")


def test_crowded_labels_move_aside_or_wait_for_a_hover(open_page, server):
    """Labels of markers close together were drawn over one another (a page walk of the board): each takes
    a free side of its marker, the most urgent first, and one with no free side shows on hover."""
    spot = {"lat": 30.6421, "lon": 104.0012}  # away from the other tests' incidents
    titles = [f"重叠标注{n}：同一路口聚集" for n in range(4)]
    made = [server.create_incident(title=title, location=spot) for title in titles]
    board = open_page("commander", "/static/board.html")
    board.wait_for_selector("#board-map[data-ready=true]")
    # Markers at one point overlap at every zoom: the board's own view (fitted to every open incident) will
    # do, once its zoom animation has ended.
    board.wait_for_function(
        "(n) => document.querySelectorAll('#board-map .map-label').length >= n"
        " && !document.querySelector('#board-map .leaflet-zoom-anim')",
        arg=4,
    )
    boxes = board.evaluate(
        """(titles) => [...document.querySelectorAll('#board-map .map-label')]
            .filter((el) => titles.some((t) => el.textContent.includes(t)))
            .map((el) => ({ text: el.textContent, crowded: el.classList.contains('crowded'),
                            box: el.getBoundingClientRect().toJSON() }))""",
        titles,
    )
    assert len(boxes) == 4
    shown = [b for b in boxes if not b["crowded"]]
    assert len(shown) >= 2, "no label moved aside: only one of four markers at one spot was readable"
    for i, a in enumerate(shown):  # no two labels shown cover each other
        for b in shown[i + 1 :]:
            x = a["box"]["left"] < b["box"]["right"] and b["box"]["left"] < a["box"]["right"]
            y = a["box"]["top"] < b["box"]["bottom"] and b["box"]["top"] < a["box"]["bottom"]
            assert not (x and y), f"{a['text']} covers {b['text']}"
    if len(shown) < 4:  # the marker on top at the spot is the last placed, whose label found no side
        assert board.locator("#board-map .map-label.crowded").first.is_hidden()
        spot_box = board.locator(f"#board-map [data-incident='{made[0]['id']}']").bounding_box()
        assert spot_box is not None
        board.mouse.move(spot_box["x"] + spot_box["width"] / 2, spot_box["y"] + spot_box["height"] / 2)
        hovered = board.locator("#board-map .map-label.hover")
        hovered.wait_for(state="visible")
        assert "crowded" in (hovered.get_attribute("class") or "")
    shoot(board, "board-map-crowded-1920x1080")

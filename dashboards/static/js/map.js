// The map (一张图): incidents, their three zones, officers' positions and live streams on Leaflet.
// Leaflet is served by the server from the XStatic-Leaflet package; tiles come from the configured URL
// template (the office's GIS or 天地图) or, with none configured, an offline view that loads nothing:
// a coordinate grid with labels and a scale. Every position is converted in coords.js, nowhere else.
import { loadConfig } from "./config.js";
import { fromMap, toMap } from "./coords.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { personName } from "./shell.js";

const ZONE_STYLE = {
  cordon: { color: "#e5484d" },
  buffer: { color: "#f5a524" },
  dialogue: { color: "#2fb36d" },
};
const URGENCY = { missed: "#e5484d", warning: "#f5a524", pending: "#3d8bfd" };
// Where a marker's label may sit, tried in this order after the marker's own side (declutter).
const LABEL_SIDES = ["right", "left", "top", "bottom"];

let leaflet = null;
async function loadLeaflet(config) {
  if (!leaflet) {
    if (!document.querySelector("link[data-leaflet]")) {
      // First in <head>, so the page's own styles (the dark theme) override Leaflet's defaults.
      document.head.prepend(h("link", { rel: "stylesheet", href: config.map.leaflet.replace(/[^/]+$/, "leaflet.css"), "data-leaflet": "" }));
    }
    leaflet = await import(config.map.leaflet);
  }
  return leaflet;
}

/** An offline base layer: a graticule with its coordinates written on it (nothing fetched). */
function offlineGrid(L) {
  const Grid = L.GridLayer.extend({
    createTile(coords) {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x;
      tile.height = size.y;
      const ctx = tile.getContext("2d");
      ctx.fillStyle = "#101b28";
      ctx.fillRect(0, 0, size.x, size.y);
      ctx.strokeStyle = "#1c2c3f";
      for (let i = 1; i < 4; i += 1) { // minor lines every quarter tile
        const at = Math.round((size.x * i) / 4) + 0.5;
        ctx.beginPath(); ctx.moveTo(at, 0); ctx.lineTo(at, size.y); ctx.moveTo(0, at); ctx.lineTo(size.x, at); ctx.stroke();
      }
      ctx.strokeStyle = "#2b3f56";
      ctx.strokeRect(0.5, 0.5, size.x, size.y);
      const nw = this._map.unproject(coords.scaleBy(size), coords.z);
      ctx.fillStyle = "#93a4b8";
      ctx.font = "11px sans-serif";
      ctx.fillText(`${nw.lat.toFixed(4)}°N`, 4, 13);
      ctx.fillText(`${nw.lng.toFixed(4)}°E`, 4, 26);
      return tile;
    },
  });
  return new Grid({ className: "offline-grid" });
}

/**
 * Put a map in `el`. Returns {setIncidents, setZones, setOfficers, onPick, setPick, fit, map, ready}.
 * `onStream(id)` is called when a live stream's marker is clicked (the wall enlarges its tile); without
 * it the marker links to the video wall.
 */
export async function createMap(el, { onStream = null, now = () => Date.now() } = {}) {
  const config = await loadConfig();
  const L = await loadLeaflet(config);
  const system = config.map.crs;
  const at = (lat, lon) => toMap(system, lat, lon);
  const map = L.map(el, { attributionControl: Boolean(config.map.tile_url), zoomControl: true })
    .setView(at(...config.map.center), config.map.zoom);
  el.dataset.crs = system;
  if (config.map.tile_url) {
    L.tileLayer(config.map.tile_url, { attribution: config.map.tile_attribution, maxZoom: 19 }).addTo(map);
    el.dataset.base = "tiles";
  } else {
    offlineGrid(L).addTo(map);
    el.dataset.base = "offline";
  }
  L.control.scale({ imperial: false, metric: true }).addTo(map);
  // Panels settle their size after the map is made (and dialogs open, phones turn): follow the box.
  const resize = new ResizeObserver(() => map.invalidateSize());
  resize.observe(el);

  // Zones under the markers: drawn after them in the same pane, a cordon's circle took the hover and the
  // click meant for its incident's marker.
  map.createPane("zones").style.zIndex = "350"; // below Leaflet's overlay pane (400), above the tiles
  const incidentsLayer = L.layerGroup().addTo(map);
  const zonesLayer = L.layerGroup().addTo(map);
  const officersLayer = L.layerGroup().addTo(map);
  let officers = [];
  let pickMarker = null;
  let pickHandler = null;

  function setIncidents(list, { urgency = () => "pending" } = {}) {
    incidentsLayer.clearLayers();
    // The most urgent first: where labels crowd, theirs are the ones shown (declutter).
    const order = Object.keys(URGENCY);
    const rank = (incident) => { const i = order.indexOf(urgency(incident)); return i < 0 ? order.length : i; };
    for (const incident of [...list].sort((a, b) => rank(a) - rank(b))) {
      if (!incident.location) continue;
      const marker = L.circleMarker(at(incident.location.lat, incident.location.lon), {
        radius: 9, color: "#fff", weight: 2, fillColor: URGENCY[urgency(incident)] || URGENCY.pending, fillOpacity: 0.9,
        className: `map-incident${incident.drill ? " map-drill" : ""}`,
      });
      marker.labelSide = "right";
      marker.bindTooltip(`${incident.drill ? `[${t("drill.badge")}] ` : ""}${incident.title}`, { permanent: true, direction: marker.labelSide, className: "map-label" });
      marker.on("click", () => { location.href = `/static/incident.html?id=${incident.id}`; });
      marker.addTo(incidentsLayer);
      marker.getElement()?.setAttribute("data-incident", incident.id);
      showOnHover(marker);
    }
    declutter();
  }

  // Permanent labels of markers close together were drawn over one another, and none could be read (a
  // page walk: the board's two East Gate incidents and the officers there). In order of importance
  // (incidents by urgency, then officers) each label takes the first side of its marker where it covers
  // no label already placed, inside the map if it can; one with no free side stays hidden until its marker
  // is hovered. The markers themselves are always drawn.
  function declutter() {
    const view = el.getBoundingClientRect();
    const placed = [];
    const free = (box) => !placed.some((other) => box.left < other.right && other.left < box.right
      && box.top < other.bottom && other.top < box.bottom);
    const inside = (box) => box.left >= view.left && box.right <= view.right
      && box.top >= view.top && box.bottom <= view.bottom;
    for (const marker of [...incidentsLayer.getLayers(), ...officersLayer.getLayers()]) {
      const tooltip = marker.getTooltip();
      const label = tooltip?.getElement();
      if (!label) continue;
      const sides = [marker.labelSide, ...LABEL_SIDES.filter((side) => side !== marker.labelSide)];
      const boxes = new Map();
      for (const side of sides) {
        if (tooltip.options.direction !== side) { tooltip.options.direction = side; tooltip.update(); }
        boxes.set(side, label.getBoundingClientRect());
        if (free(boxes.get(side)) && inside(boxes.get(side))) break;
      }
      const side = sides.find((s) => boxes.has(s) && free(boxes.get(s)) && inside(boxes.get(s)))
        || sides.find((s) => free(boxes.get(s))) || marker.labelSide;
      if (tooltip.options.direction !== side) { tooltip.options.direction = side; tooltip.update(); }
      const taken = free(boxes.get(side));
      if (taken) placed.push(boxes.get(side));
      label.classList.toggle("crowded", !taken);
    }
  }
  function showOnHover(marker) {
    marker.on("mouseover", () => marker.getTooltip()?.getElement()?.classList.add("hover"));
    marker.on("mouseout", () => marker.getTooltip()?.getElement()?.classList.remove("hover"));
  }
  map.on("zoomend moveend resize", declutter);

  function setZones(list) {
    zonesLayer.clearLayers();
    for (const incident of list) {
      for (const zone of Object.values(incident.zones || {})) {
        const circle = L.circle(at(zone.lat, zone.lon), { pane: "zones", radius: zone.radius_m, weight: 2, fillOpacity: 0.12,
          ...(ZONE_STYLE[zone.kind] || {}), className: `map-zone map-zone-${zone.kind}` });
        circle.bindTooltip(t(`zone.${zone.kind}`), { className: "map-label" });
        circle.addTo(zonesLayer);
      }
    }
  }

  /** Officers from /api/streams: live ones with a position; grey when stale, gone when long silent. */
  function setOfficers(streams) {
    officers = (streams || []).filter((s) => s.position && !s.ended_at);
    drawOfficers();
  }
  function drawOfficers() {
    officersLayer.clearLayers();
    for (const s of officers) {
      const age = (now() - new Date(s.position.at || s.started_at).getTime()) / 1000;
      if (age > config.officer_gone_seconds) continue;
      const stale = age > config.officer_stale_seconds;
      const marker = L.circleMarker(at(s.position.lat, s.position.lon), {
        radius: 7, weight: 2, color: stale ? "#6b7785" : "#fff", fillColor: stale ? "#6b7785" : "#2fb36d", fillOpacity: 0.95,
        className: `map-officer${stale ? " stale" : ""}`,
      });
      const name = personName(s.officer) || s.id;
      const ago = stale ? ` · ${t("map.seen_ago", { s: Math.round(age) })}` : "";
      marker.labelSide = "top";
      marker.bindTooltip(`${name}${ago}`, { permanent: true, direction: marker.labelSide, className: `map-label${stale ? " stale" : ""}` });
      const watch = h("a", { href: `/static/video.html?stream=${encodeURIComponent(s.id)}`, class: "map-watch",
        onclick: (e) => { if (onStream) { e.preventDefault(); onStream(s.id); } } }, t("map.watch"));
      marker.bindPopup(h("div", {}, h("strong", {}, name), h("br"), stale ? t("map.stale") : t("map.live"), " · ", watch));
      marker.addTo(officersLayer);
      showOnHover(marker);
      const element = marker.getElement();
      if (element) { element.dataset.stream = s.id; element.dataset.stale = String(stale); }
    }
    el.dataset.officers = String(officersLayer.getLayers().length);
    declutter();
  }
  const timer = setInterval(drawOfficers, 5000);

  /** Let the user click a point; `handler(lat, lon)` receives it in WGS-84 (what the server stores). */
  function setPick(handler) {
    pickHandler = handler;
    el.classList.add("map-pick");
  }
  function showPick(lat, lon) {
    if (lat == null || lon == null || Number.isNaN(lat) || Number.isNaN(lon)) return;
    const point = at(lat, lon);
    if (pickMarker) pickMarker.setLatLng(point);
    else pickMarker = L.circleMarker(point, { radius: 8, color: "#fff", fillColor: "#e5484d", fillOpacity: 1, className: "map-picked" }).addTo(map);
  }
  map.on("click", (event) => {
    if (!pickHandler) return;
    const [lat, lon] = fromMap(system, event.latlng.lat, event.latlng.lng);
    showPick(lat, lon);
    pickHandler(lat, lon);
  });

  function fit() {
    const layers = [...incidentsLayer.getLayers(), ...zonesLayer.getLayers(), ...officersLayer.getLayers()];
    if (!layers.length) return;
    const bounds = L.featureGroup(layers).getBounds();
    map.invalidateSize();
    if (bounds.isValid()) map.fitBounds(bounds.pad(0.3), { maxZoom: 17 });
  }

  const api = { map, setIncidents, setZones, setOfficers, setPick, showPick, fit,
    refresh: () => map.invalidateSize(), redraw: drawOfficers, close: () => { clearInterval(timer); resize.disconnect(); map.remove(); } };
  el._map = api; // for the browser tests
  el.dataset.ready = "true";
  return api;
}

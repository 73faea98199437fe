// A simple site plan: the incident's position and its three zones as circles, to scale, in SVG.
import { tn } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const COLOURS = { cordon: "#e5484d", buffer: "#f5a524", dialogue: "#2fb36d" };
const ORDER = ["buffer", "cordon", "dialogue"]; // widest first so smaller zones stay clickable on top

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Metres east/north of an origin (an equirectangular approximation is exact enough for a few km). */
function offset(origin, point) {
  const x = (point.lon - origin.lon) * 111320 * Math.cos((origin.lat * Math.PI) / 180);
  const y = (point.lat - origin.lat) * 110540;
  return { x, y };
}

export function sitePlan(incident, size = 320) {
  const zones = Object.values(incident.zones || {});
  const origin = incident.location || zones[0] || null;
  const svg = s("svg", { viewBox: `0 0 ${size} ${size}`, class: "siteplan", role: "img", width: "100%" });
  svg.append(s("rect", { x: 0, y: 0, width: size, height: size, fill: "#0b131d", rx: 6 }));
  if (!origin) return svg;
  let extent = 50;
  for (const z of zones) {
    const o = offset(origin, z);
    extent = Math.max(extent, Math.abs(o.x) + z.radius_m, Math.abs(o.y) + z.radius_m);
  }
  const scale = (size / 2 - 16) / extent;
  const cx = size / 2;
  const cy = size / 2;
  // A scale bar and grid rings help read distances on a wall screen.
  for (let r = 1; r <= 3; r += 1) {
    svg.append(s("circle", { cx, cy, r: ((size / 2 - 16) * r) / 3, fill: "none", stroke: "#1f2f42", "stroke-dasharray": "2 4" }));
  }
  for (const kind of ORDER) {
    const z = incident.zones?.[kind];
    if (!z) continue;
    const o = offset(origin, z);
    const x = cx + o.x * scale;
    const y = cy - o.y * scale;
    const g = s("g", { class: `zone zone-${kind}`, "data-kind": kind });
    g.append(s("circle", { cx: x, cy: y, r: Math.max(3, z.radius_m * scale), fill: COLOURS[kind], "fill-opacity": 0.18,
      stroke: COLOURS[kind], "stroke-width": 2 }));
    g.append(s("text", { x, y: y - Math.max(3, z.radius_m * scale) - 4, fill: COLOURS[kind], "font-size": 12,
      "text-anchor": "middle" }, `${tn("zone", kind)} ${Math.round(z.radius_m)}m`));
    svg.append(g);
  }
  svg.append(s("circle", { cx, cy, r: 5, fill: "#3d8bfd", stroke: "#fff", "stroke-width": 1.5 }));
  const bar = niceMetres(extent / 2);
  svg.append(s("line", { x1: 12, y1: size - 12, x2: 12 + bar * scale, y2: size - 12, stroke: "#93a4b8", "stroke-width": 2 }));
  svg.append(s("text", { x: 12, y: size - 18, fill: "#93a4b8", "font-size": 11 }, `${bar} m`));
  return svg;
}

function niceMetres(value) {
  const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
  return steps.reduce((best, step) => (step <= value ? step : best), 10);
}

// Small SVG charts for reviews: per-check elapsed time against the target, coloured by rating.
import { t, tn } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const COLOURS = { P: "#2fb36d", S: "#3d8bfd", M: "#f5a524", U: "#e5484d" };

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Horizontal bars: one per check, length = elapsed minutes (or "not done"), colour = effective rating. */
export function elapsedBars(checks, label) {
  const rowH = 28;
  const left = 300;
  const width = 860;
  const height = checks.length * rowH + 30;
  const max = Math.max(10, ...checks.map((c) => c.elapsed || 0)) * 1.1;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "plot", role: "img" });
  checks.forEach((c, i) => {
    const y = 10 + i * rowH;
    const rating = c.effective_rating || c.rating;
    const text = label(c);
    svg.append(s("text", { x: left - 8, y: y + 17, fill: "#e8eef5", "font-size": 13, "text-anchor": "end" },
      text.length > 20 ? `${text.slice(0, 19)}…` : text));
    const w = c.elapsed != null ? ((width - left - 70) * c.elapsed) / max : 0;
    svg.append(s("rect", { x: left, y: y + 4, width: Math.max(2, w), height: rowH - 10, rx: 3, fill: COLOURS[rating] || "#93a4b8" }));
    svg.append(s("text", { x: left + w + 6, y: y + 17, fill: "#93a4b8", "font-size": 12 },
      c.elapsed != null ? `${c.elapsed.toFixed(1)} ${t("unit.min")} · ${rating || ""}` : tn("check.status", c.status)));
  });
  return svg;
}

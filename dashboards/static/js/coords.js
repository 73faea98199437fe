// The one place where coordinates change system. Positions are stored and sent as WGS-84 (GPS); the map's
// tiles may be drawn in GCJ-02 (the obfuscated system Chinese web maps must use) or CGCS2000 (the national
// geodetic system, within centimetres of WGS-84, so taken as equal). Only the map converts, at its edge.

const A = 6378245.0; // Krasovsky 1940 semi-major axis, as GCJ-02 uses
const EE = 0.00669342162296594323; // its first eccentricity squared

/** GCJ-02 is defined only inside China; outside, positions are left as they are. */
const outsideChina = (lat, lon) => lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;

function shiftLat(x, y) {
  let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(y * Math.PI) + 40 * Math.sin((y / 3) * Math.PI)) * 2) / 3;
  r += ((160 * Math.sin((y / 12) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30)) * 2) / 3;
  return r;
}

function shiftLon(x, y) {
  let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(x * Math.PI) + 40 * Math.sin((x / 3) * Math.PI)) * 2) / 3;
  r += ((150 * Math.sin((x / 12) * Math.PI) + 300 * Math.sin((x / 30) * Math.PI)) * 2) / 3;
  return r;
}

/** WGS-84 -> GCJ-02. */
export function wgs84ToGcj02(lat, lon) {
  if (outsideChina(lat, lon)) return [lat, lon];
  let dLat = shiftLat(lon - 105, lat - 35);
  let dLon = shiftLon(lon - 105, lat - 35);
  const radLat = (lat / 180) * Math.PI;
  let magic = Math.sin(radLat);
  magic = 1 - EE * magic * magic;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI);
  dLon = (dLon * 180) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [lat + dLat, lon + dLon];
}

/** GCJ-02 -> WGS-84 by fixed-point iteration (the forward shift is smooth; a few steps reach < 1 mm). */
export function gcj02ToWgs84(lat, lon) {
  if (outsideChina(lat, lon)) return [lat, lon];
  let [wLat, wLon] = [lat, lon];
  for (let i = 0; i < 10; i += 1) {
    const [gLat, gLon] = wgs84ToGcj02(wLat, wLon);
    const eLat = gLat - lat;
    const eLon = gLon - lon;
    wLat -= eLat;
    wLon -= eLon;
    if (Math.abs(eLat) < 1e-9 && Math.abs(eLon) < 1e-9) break;
  }
  return [wLat, wLon];
}

export const SYSTEMS = ["WGS-84", "GCJ-02", "CGCS2000"];

/** A stored (WGS-84) position -> where it is drawn on tiles in `system`. */
export function toMap(system, lat, lon) {
  return system === "GCJ-02" ? wgs84ToGcj02(lat, lon) : [lat, lon];
}

/** A point picked on tiles in `system` -> the WGS-84 position to store. */
export function fromMap(system, lat, lon) {
  return system === "GCJ-02" ? gcj02ToWgs84(lat, lon) : [lat, lon];
}

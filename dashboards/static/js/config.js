// The server's page settings (GET /api/config): office time zone, language, the map. Fetched once per page.
let config = null;

const DEFAULTS = {
  timezone: "Asia/Shanghai",
  language: "zh-CN",
  map: { tile_url: "", tile_attribution: "", crs: "WGS-84", center: [30.6598, 104.0633], zoom: 14,
    leaflet: "/static/vendor/leaflet/leaflet-src.esm.js" },
  officer_stale_seconds: 60,
  officer_gone_seconds: 600,
};

export async function loadConfig() {
  if (!config) {
    try {
      const response = await fetch("/api/config");
      config = response.ok ? { ...DEFAULTS, ...(await response.json()) } : DEFAULTS;
    } catch {
      config = DEFAULTS;
    }
  }
  return config;
}

/** The settings once loaded (the defaults before). */
export const pageConfig = () => config || DEFAULTS;

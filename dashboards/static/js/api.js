// REST client: bearer token from localStorage (shared by every tab of the browser: a second screen needs no
// second sign-in, and signing out in one tab signs out all); the server's {error, detail, field, params} becomes an
// ApiError whose message is in the user's language (errors.js); every POST carries an Idempotency-Key.
import { describeError } from "./errors.js";

const TOKEN_KEY = "cc.token";
const USER_KEY = "cc.user";

export class ApiError extends Error {
  constructor(status, code, detail, field = null, params = {}) {
    super(describeError({ status, code, params, field }) || detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = field;
    this.params = params || {};
    this.network = status === 0;
  }
}

export const TOKEN_STORAGE_KEY = TOKEN_KEY;
export const token = () => localStorage.getItem(TOKEN_KEY);
export const currentUser = () => JSON.parse(localStorage.getItem(USER_KEY) || "null");

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/** A random UUID v4 for Idempotency-Key; crypto.randomUUID exists only in secure contexts (https), and
 * phones on the office network may open the pages over plain http. */
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function request(method, path, { body, form, multipart, raw, key } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  // The server replays the first response to a creating POST sent again with the same key (DESIGN 5).
  if (key) headers["Idempotency-Key"] = key;
  let payload;
  if (form) payload = new URLSearchParams(form);
  else if (multipart) payload = multipart; // FormData: the browser sets the multipart boundary itself
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (exc) {
    throw new ApiError(0, "network", String(exc.message || exc));
  }
  if (!response.ok) {
    let info = {};
    try { info = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401 && path !== "/api/auth/token") onUnauthorized();
    throw new ApiError(response.status, info.error || "http_error", info.detail || response.statusText, info.field,
      info.params);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

function onUnauthorized() {
  if (leaving) return;
  clearSession();
  const here = location.pathname + location.search;
  if (!location.pathname.endsWith("/index.html")) {
    location.href = `/static/index.html?next=${encodeURIComponent(here)}`;
  }
}

export const api = {
  get: (path) => request("GET", path),
  /** POST with an Idempotency-Key: pass `key` to retry the same request safely (the outbox does). */
  post: (path, body, { key = newKey() } = {}) => request("POST", path, { body: body ?? {}, key }),
  patch: (path, body) => request("PATCH", path, { body: body ?? {} }),
  put: (path, body) => request("PUT", path, { body: body ?? {} }),
  del: (path) => request("DELETE", path),
  raw: (path) => request("GET", path, { raw: true }),
  upload: (path, formData, { key = newKey() } = {}) => request("POST", path, { multipart: formData, key }),
};

/** GET that answers `fallback` when the resource does not exist yet (404/405, an API still being built)
 * or the role may not read it (403): a panel then shows "not available" instead of failing the page. */
export async function optional(path, fallback = null) {
  try {
    return await api.get(path);
  } catch (exc) {
    if (exc.status === 403 || exc.status === 404 || exc.status === 405) return fallback;
    throw exc;
  }
}

export async function signIn(username, password) {
  const result = await request("POST", "/api/auth/token", { form: { username, password } });
  localStorage.setItem(TOKEN_KEY, result.access_token);
  const me = await api.get("/api/auth/me");
  localStorage.setItem(USER_KEY, JSON.stringify(me));
  return me;
}

let leaving = false;

/** True once sign-out began: the revocation's own 401s and socket close must not send the page elsewhere. */
export const signingOut = () => leaving;

/** Revoke the token, forget the session and go to the sign-in page (the only navigation sign-out makes). */
export async function signOut() {
  leaving = true;
  try { await api.post("/api/auth/revoke"); } catch { /* already invalid */ }
  clearSession();
  location.href = "/static/index.html";
}

/** Download a protected file (the bearer token cannot ride on a plain link). */
export async function download(path, filename) {
  const response = await api.raw(path);
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

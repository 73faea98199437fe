// Page bootstrap: translations, the signed-in user, the role check, the header and the hub connection.
import { TOKEN_STORAGE_KEY, api, clearSession, currentUser, signOut, signingOut, token } from "./api.js";
import { $, h } from "./dom.js";
import { installAlerts } from "./alerts.js";
import { loadConfig } from "./config.js";
import { setTimeZone } from "./time.js";
import { setDepartmentNames } from "./errors.js";
import { Hub } from "./hub.js";
import { initI18n, lang, onLangChange, setLang, t, tn } from "./i18n.js";
import { PAGES, homeFor, mayOpen, pagesFor } from "./nav.js";
import { confirmDropOnSignOut } from "./outbox.js";

function toSignIn() {
  if (signingOut()) return; // sign-out navigates by itself
  clearSession();
  location.href = `/static/index.html?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** Start a page; resolves to {user, hub, main} or null when the user may not open it. */
export async function startPage(pageId, { hub: withHub = true } = {}) {
  const [, config] = await Promise.all([initI18n(), loadConfig()]);
  setTimeZone(config.timezone);
  if (!token()) { toSignIn(); return null; }
  let user = currentUser();
  if (!user) {
    try { user = await api.get("/api/auth/me"); } catch { toSignIn(); return null; }
  }
  document.body.dataset.role = user.role;
  // Signed out (or in as someone else) in another tab: this tab follows.
  window.addEventListener("storage", (event) => {
    if (event.key === TOKEN_STORAGE_KEY && event.newValue !== event.oldValue) {
      if (!event.newValue) toSignIn(); else location.reload();
    }
  });
  const main = $("main");
  renderHeader(user, pageId);
  if (!mayOpen(user.role, pageId)) {
    main.replaceChildren(h("section", { class: "panel forbidden", id: "forbidden" },
      h("h2", {}, t("forbidden.title")),
      h("p", {}, t("forbidden.detail", { role: tn("role", user.role) })),
      h("a", { href: homeFor(user.role), class: "button" }, t("forbidden.home"))));
    return null;
  }
  let hub = null;
  document.getElementById("hub-status").hidden = !withHub;
  if (withHub) {
    hub = new Hub({
      token,
      onAuthFailed: toSignIn,
      onStatus: renderHubStatus,
      onError: (frame) => console.warn("hub error", frame),
    });
    hub.connect();
    window.cc = { hub }; // for the operator's console and the browser tests
    installAlerts(hub, user, boardChannel(user));
  }
  return { user, hub, main };
}

function renderHeader(user, pageId) {
  const nav = h("nav", { class: "nav", "aria-label": "pages" },
    pagesFor(user.role).map((id) =>
      h("a", { href: PAGES[id].href, class: id === pageId ? "active" : null, "data-i18n": PAGES[id].key,
        dataset: { page: id } }, t(PAGES[id].key))));
  const langButton = h("button", { class: "lang-switch", id: "lang-switch", type: "button",
    onclick: () => setLang(lang() === "zh-CN" ? "en" : "zh-CN") }, lang() === "zh-CN" ? "EN" : "中文");
  const header = h("header", { class: "topbar" },
    h("a", { class: "brand", href: homeFor(user.role), "data-i18n": "app.name" }, t("app.name")),
    nav,
    h("span", { class: "hub-status", id: "hub-status", dataset: { status: "offline" } }, t("hub.offline")),
    h("span", { class: "who", id: "who" }, `${user.display_name || user.name} · `,
      h("span", { "data-i18n": `role.${user.role}` }, tn("role", user.role))),
    langButton,
    h("button", { type: "button", class: "ghost", id: "sign-out", "data-i18n": "auth.sign_out",
      onclick: async () => {
        // Unsent field reports belong to this user: never left for whoever signs in next on this phone.
        if (!confirmDropOnSignOut((n) => window.confirm(t("outbox.confirm_drop", { n })))) return;
        await signOut();
      } }, t("auth.sign_out")));
  document.body.prepend(header);
  // The switch shows the other language's name.
  onLangChange(() => {
    langButton.textContent = lang() === "zh-CN" ? "EN" : "中文";
    renderHubStatus();
  });
}

function renderHubStatus(status) {
  const el = document.getElementById("hub-status");
  if (!el) return;
  if (status) el.dataset.status = status;
  el.textContent = t(`hub.${el.dataset.status}`);
}

/** The 演练 / DRILL badge for anything that comes from a drill (null for real-world items). */
/** The board channel a user may read: department-scoped roles (liaisons) get their department's board. */
export function boardChannel(user) {
  return user.role === "liaison" ? `board:${user.department}` : "board";
}

export function drillBadge(item) {
  return item?.drill ? h("span", { class: "badge badge-drill", "data-i18n": "drill.badge" }, t("drill.badge")) : null;
}

/** Mark an element as drill traffic (badge + distinct border) when the item is from a drill. */
export function markDrill(el, item) {
  if (item?.drill) el.classList.add("is-drill");
  return el;
}

/** A department's display name, from a cached /api/departments. */
let departments = null;
export async function loadDepartments() {
  if (!departments) {
    try { departments = await api.get("/api/departments"); } catch { departments = []; }
  }
  return departments;
}
/** People's display names by login, from a cached /api/users: pages show 王指挥, never "commander". */
let people = null;
export async function loadPeople() {
  if (!people) {
    try { people = new Map((await api.get("/api/users")).map((u) => [u.name, u.display_name || u.name])); } catch { people = new Map(); }
  }
  return people;
}
export const personName = (login) => people?.get(login) || login || "—";

/** Join names the way each language does: 、 in Chinese, commas in English. */
export const joinNames = (names) => names.join(lang() === "en" ? ", " : "、");

setDepartmentNames((code) => deptName(code));
export function deptName(code) {
  const d = (departments || []).find((x) => x.code === code);
  if (!d) return code || "—";
  return lang() === "en" ? d.name_en : d.name_zh;
}

/** A drill inject addressed to this user or the board (`drill.inject`): a notice marked 演练 / DRILL. */
const shownInjects = new Set();
export function showDrillInject(data) {
  if (data.type !== "drill.inject" || !data.content) return false;
  const text = data.content[lang()] || data.content["zh-CN"] || "";
  const key = `${data.id}:${data.content["zh-CN"]}`;
  if (shownInjects.has(key)) return true; // the same inject reaches the board and the user channel
  shownInjects.add(key);
  let box = document.getElementById("injects");
  if (!box) { box = h("div", { id: "injects", role: "status", "aria-live": "assertive" }); document.body.append(box); }
  const note = h("div", { class: "inject is-drill" }, h("span", { class: "badge badge-drill" }, t("drill.badge")), " ", text,
    data.incident_id ? [" ", h("a", { href: `/static/incident.html?id=${data.incident_id}` }, `#${data.incident_id}`)] : null,
    h("button", { type: "button", class: "ghost", onclick: () => note.remove() }, "×"));
  box.prepend(note);
  return true;
}

// Translations: Simplified Chinese by default, English on a switch kept in localStorage.

const LANG_KEY = "cc.lang";
export const LANGUAGES = ["zh-CN", "en"];
let catalogue = {};
let fallback = {};
let current = "zh-CN";
const listeners = new Set();

export const lang = () => current;

async function load(code) {
  const response = await fetch(`/static/i18n/${code}.json`);
  return response.ok ? response.json() : {};
}

export async function initI18n() {
  const stored = localStorage.getItem(LANG_KEY);
  current = LANGUAGES.includes(stored) ? stored : "zh-CN";
  fallback = await load("zh-CN");
  catalogue = current === "zh-CN" ? fallback : await load(current);
  document.documentElement.lang = current;
  applyI18n();
}

export async function setLang(code) {
  localStorage.setItem(LANG_KEY, code);
  current = code;
  catalogue = code === "zh-CN" ? fallback : await load(code);
  document.documentElement.lang = code;
  applyI18n();
  for (const listener of listeners) listener(code);
}

/** Call `listener` after every language switch (pages re-render their dynamic parts). */
export const onLangChange = (listener) => listeners.add(listener);

/** t("board.title"), t("countdown.left", {time: "05:00"}) */
export function t(key, vars = {}) {
  let text = catalogue[key] ?? fallback[key] ?? key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

/** A name from an enumeration: tn("stage", "on_site_control") -> 现场管控; unknown values pass through. */
export function tn(group, value) {
  const key = `${group}.${value}`;
  const text = t(key);
  return text === key ? String(value ?? "") : text;
}

/** Fill every [data-i18n] (text) and [data-i18n-placeholder|title|aria-label] under root. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "title", "aria-label"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    }
  }
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = t(title.dataset.i18n);
}

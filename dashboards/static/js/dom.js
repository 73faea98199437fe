// Tiny DOM helpers: build elements from data with textContent only (no innerHTML with server data).

/** h("div", {class: "x", onclick: fn, dataset: {id: 1}}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. A <select> keeps the option chosen in it while that is still offered:
 * lists are refilled on live updates while someone is choosing (found: a task force's "add a department"
 * fell back to the first department between the choice and the click, and that one was added). */
export function fill(el, ...children) {
  const chosen = el instanceof HTMLSelectElement ? el.value : "";
  el.replaceChildren();
  append(el, children);
  if (chosen && [...el.options].some((option) => option.value === chosen)) el.value = chosen;
  return el;
}

/**
 * Replace an element's children without losing what the user is typing there. Live updates re-render
 * lists and details while someone fills in a form inside them; every field the user changed carries its
 * value (and the caret, when it had the focus) over to the field in the same place of the new content:
 * the same [data-id] item, the same form (by id or class) and the same name.
 */
export function refill(el, ...children) {
  const edits = new Map();
  const focused = el.contains(document.activeElement) ? fieldKey(el, document.activeElement) : null;
  const caret = focused && typeof document.activeElement.selectionStart === "number"
    ? [document.activeElement.selectionStart, document.activeElement.selectionEnd] : null;
  for (const field of el.querySelectorAll("[name]")) {
    if (edited(field)) edits.set(fieldKey(el, field), field.type === "checkbox" || field.type === "radio" ? field.checked : field.value);
  }
  fill(el, ...children);
  for (const field of el.querySelectorAll("[name]")) {
    const key = fieldKey(el, field);
    if (edits.has(key)) {
      const value = edits.get(key);
      if (typeof value === "boolean") field.checked = value;
      else if (field.tagName !== "SELECT" || [...field.options].some((o) => o.value === value)) field.value = value;
    }
    if (key === focused) {
      field.focus();
      if (caret) field.setSelectionRange?.(...caret);
    }
  }
  return el;
}

function fieldKey(root, field) {
  const item = field.closest("[data-id]");
  const form = field.form;
  return [root.contains(item) && item !== root ? item.dataset.id : "", form ? form.id || form.className : "",
    field.name, field.type === "checkbox" || field.type === "radio" ? field.value : ""].join("\u0000");
}

function edited(field) {
  if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
  if (field.tagName === "SELECT") {
    const initial = [...field.options].findIndex((o) => o.defaultSelected);
    return field.selectedIndex !== Math.max(initial, 0);
  }
  return "defaultValue" in field && field.value !== field.defaultValue;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Read a form into a plain object; empty strings are dropped, number inputs become numbers. */
export function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") { out[el.name] = el.checked; continue; }
    if (el.value === "") continue;
    out[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  return out;
}

/** Show a short message in the page's toast area. */
export function toast(text, kind = "info") {
  let box = document.getElementById("toasts");
  if (!box) { box = h("div", { id: "toasts", role: "status", "aria-live": "polite" }); document.body.append(box); }
  const item = h("div", { class: `toast toast-${kind}` }, text);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function params() {
  return new URLSearchParams(location.search);
}

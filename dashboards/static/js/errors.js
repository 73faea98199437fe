// Error messages in the user's language, built from the server's stable `error` code and `params`
// (DESIGN section 5); the English `detail` is for developers and is never shown when a translation exists.
import { t, tn } from "./i18n.js";

/** Which enumeration a parameter's value belongs to, so "on_site_control" reads 现场管控. */
const GROUPS = {
  stage: "stage", target: "stage", from: "stage", to: "stage", skipped: "stage",
  colour: "colour", status: "status", role: "role", category: "category",
  domain: "domain", subdomain: "subdomain", department: "department", permission: "permission",
};

/** Where a rule's parameter means something else than its name usually does. */
const RULE_GROUPS = {
  "ledger.lower_needs_reason": { from: "colour", to: "colour" },
  "ledger.not_open": { status: "ledger.status" },
  "item.transition": { status: "item.status", target: "item.status" },
  "item.reopen_first": { status: "item.status" },
};

function translateValue(rule, name, value) {
  const group = RULE_GROUPS[rule]?.[name] || GROUPS[name];
  if (!group) return value;
  if (group === "department") return departmentName(value);
  const one = (v) => tn(group, v);
  return Array.isArray(value) ? value.map(one).join(t("list.separator")) : one(value);
}

let departmentName = (code) => code;
/** Let the shell supply department names (it holds the cached /api/departments). */
export function setDepartmentNames(fn) { departmentName = fn; }

/** The field a problem is about, in words ("reason" -> 原因); unknown fields pass through. */
export function fieldName(field) {
  if (!field) return "";
  const last = String(field).split(".").filter((p) => !/^\d+$/.test(p)).pop();
  return tn("fieldname", last);
}

/** A translated sentence for an error, or null when no translation exists. */
export function describeError({ status, code, params = {}, field = null }) {
  if (status === 0 || code === "network") return t("error.network");
  const rule = params?.rule;
  const vars = { field: fieldName(field) };
  for (const [name, value] of Object.entries(params || {})) {
    if (name !== "rule") vars[name] = translateValue(rule, name, value);
  }
  for (const key of [rule && `error.rule.${rule}`, code && `error.code.${code}`]) {
    if (key && t(key) !== key) return t(key, vars);
  }
  return null;
}

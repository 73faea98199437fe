// Rectification-item pieces of the review page: the evidence list (files with their SHA-256, downloaded
// with the bearer token), the upload form (multipart) and the owner/leader/deadline form.
import { download } from "./api.js";
import { formData, h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { deptName } from "./shell.js";
import { fmt, isoToOfficeInput, officeInputToIso } from "./time.js";

const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`);

export function evidenceList(evidence, personName) {
  return evidence.map((e) => h("div", { class: "evidence-row", dataset: { id: e.id } },
    e.file_name
      ? h("a", { href: "#", class: "evidence-file", onclick: (event) => {
        event.preventDefault();
        download(`/api/reviews/evidence/${e.id}/file`, e.file_name).catch((exc) => toast(exc.message, "error"));
      } }, e.file_name)
      : h("span", {}, e.reference),
    ` · ${e.description}`,
    e.file_size != null ? ` · ${size(e.file_size)}` : "",
    e.sha256 ? h("span", { class: "sha", title: e.sha256 }, ` · SHA-256 ${e.sha256.slice(0, 12)}…`) : null,
    h("span", { class: "muted" }, ` · ${personName(e.added_by)} ${fmt(e.added_at, "short")}`)));
}

export function evidenceForm(item, send) {
  const form = h("form", { class: "row evidence-form", id: `evidence-form-${item.id}` },
    h("input", { type: "file", name: "file", required: true, class: "grow" }),
    h("input", { name: "description", required: true, maxlength: 4000, class: "grow", placeholder: t("review.evidence_description") }),
    h("button", { type: "submit", class: "primary" }, t("review.upload")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try { await send(new FormData(form)); } catch (exc) { toast(exc.message, "error"); } finally { button.disabled = false; }
  });
  return form;
}

export function itemEditForm(item, departments, send) {
  if (item.status === "closed" || item.status === "verified") return null;
  const form = h("form", { class: "row item-edit-form", id: `item-edit-${item.id}` },
    h("label", { class: "grow" }, t("review.owner"), h("select", { name: "department" },
      departments.map((d) => h("option", { value: d.code, selected: d.code === item.department }, deptName(d.code))))),
    h("label", { class: "grow" }, t("review.leader"), h("input", { name: "leader", maxlength: 64, value: item.leader || "" })),
    h("label", { class: "grow" }, t("review.due"), h("input", { name: "deadline", type: "datetime-local", value: isoToOfficeInput(item.deadline) })),
    h("button", { type: "submit" }, t("incident.save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = formData(form);
    if (body.deadline) body.deadline = officeInputToIso(body.deadline);
    try { await send(body); toast(t("review.item_saved"), "ok"); } catch (exc) { toast(exc.message, "error"); }
  });
  return form;
}

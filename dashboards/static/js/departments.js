// A department picker (checkboxes with display names), shared by the ledger, the new-incident dialog and the
// task-force forms so departments are chosen one way everywhere.
import { h } from "./dom.js";
import { deptName } from "./shell.js";

export function departmentPicker(departments, { name = "departments", checked = [], exclude = [] } = {}) {
  return h("div", { class: "checks", dataset: { picker: name } }, departments
    .filter((d) => !exclude.includes(d.code))
    .map((d) => h("label", {}, h("input", { type: "checkbox", value: d.code, dataset: { group: name },
      checked: checked.includes(d.code) }), deptName(d.code))));
}

/** The codes ticked in a picker; checkboxes carry no `name` so formData() leaves them alone. */
export function pickedDepartments(root, name = "departments") {
  return [...root.querySelectorAll(`input[type=checkbox][data-group="${name}"]`)].filter((x) => x.checked).map((x) => x.value);
}

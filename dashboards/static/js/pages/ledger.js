// Ledger (台账): add an item, change its warning colour (lowering needs a reason), resolve it, or escalate it
// into an incident. Every change goes through /api/ledger, which keeps the item's history and audits it;
// the `ledger` channel brings other people's changes in live.
import { api } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, params, refill, toast } from "../dom.js";
import { onLangChange, t, tn } from "../i18n.js";
import { can } from "../nav.js";
import { deptName, loadDepartments, loadPeople, personName, startPage } from "../shell.js";
import { fmt, officeInputToIso } from "../time.js";
import { departmentPicker, pickedDepartments } from "../departments.js";

const COLOURS = ["none", "yellow", "orange", "red"];
const CATEGORIES = ["collective_petition", "skip_level_petition", "disruptive_petition", "extreme_behaviour"];
const SOURCES = ["community_patrol", "street_weekly_analysis", "district_monthly_dispatch", "hotline_12345", "grid_worker"];
const RISKS = ["general", "elevated", "major"];
/** Domains and their subdomains; the server checks the pairing too (ledger/rules.py). */
const DOMAINS = {
  livelihood: ["education", "medical", "elderly_child_care", "employment", "social_security", "housing"],
  urban_renewal: ["estate_renovation", "expropriation_demolition"],
  law_related: ["enforcement", "administrative_dispute"],
  enterprise_restructuring: [],
  labour_dispute: [],
};

const page = await startPage("ledger");
if (page) await run(page);

async function run({ user, hub }) {
  const [departments] = await Promise.all([loadDepartments(), loadPeople()]);
  const writer = can.writeLedger(user.role);
  let items = [];
  let selected = null;
  let trail = [];

  async function load() {
    const status = $("#status-filter").value;
    items = await api.get(`/api/ledger${status ? `?status=${status}` : ""}`);
    renderList();
    if (selected) await select(selected.id, { quiet: true });
  }

  function colourBadge(colour) {
    return h("span", { class: `badge colour-${colour}` }, tn("colour", colour));
  }

  function renderList() {
    const rank = { red: 0, orange: 1, yellow: 2, none: 3 };
    const rows = [...items].sort((a, b) => rank[a.colour] - rank[b.colour] || String(a.due_at).localeCompare(String(b.due_at)));
    $("#ledger-count").textContent = rows.length;
    fill($("#items tbody"), rows.length ? rows.map((item) => h("tr", {
      class: item.id === selected?.id ? "selected" : null, dataset: { id: item.id, colour: item.colour },
      tabindex: 0, onclick: () => select(item.id), onkeydown: (e) => { if (e.key === "Enter") select(item.id); } },
    h("td", {}, colourBadge(item.colour)),
    h("td", {}, h("strong", {}, item.title), item.overdue ? [" ", h("span", { class: "badge colour-red" }, t("ledger.overdue"))] : null),
    h("td", {}, tn("domain", item.domain)),
    h("td", {}, deptName(item.responsible_department)),
    h("td", {}, item.leader_in_charge),
    h("td", {}, fmt(item.due_at, "date")),
    h("td", {}, tn("ledger.status", item.status))))
      : h("tr", {}, h("td", { colspan: 7, class: "empty" }, t("board.none"))));
  }

  async function select(id, { quiet = false } = {}) {
    const before = selected;
    let fresh;
    try {
      fresh = await api.get(`/api/ledger/${id}`);
      trail = await api.get(`/api/ledger/${id}/history`);
    } catch (exc) {
      if (!quiet) toast(exc.message, "error");
      return;
    }
    selected = fresh;
    window.history.replaceState(null, "", `?id=${id}`);
    renderList();
    // A reload that changed nothing leaves the forms alone, so nothing half-typed is lost.
    const shown = document.querySelector("#item-title") && before?.id === fresh.id;
    if (!(shown && before.updated_at === fresh.updated_at && before.status === fresh.status)) renderDetail();
  }

  function fact(label, value) {
    return h("div", {}, h("dt", {}, t(label)), h("dd", {}, value ?? "—"));
  }

  function renderDetail() {
    const i = selected;
    const open = i.status === "open";
    // A live update re-renders the item: what the user is typing or has picked in its forms stays.
    const sameItem = Number($("#detail").dataset.id) === i.id;
    $("#detail").dataset.id = i.id;
    (sameItem ? refill : fill)($("#detail"),
      h("h2", {}, colourBadge(i.colour), " ", h("span", { id: "item-title" }, i.title)),
      h("dl", { class: "facts" },
        fact("ledger.status", tn("ledger.status", i.status)),
        fact("ledger.domain", `${tn("domain", i.domain)}${i.subdomain ? ` · ${tn("subdomain", i.subdomain)}` : ""}`),
        fact("ledger.source", tn("source", i.source)),
        fact("ledger.risk", tn("risk", i.risk_grade)),
        fact("ledger.responsible", deptName(i.responsible_department)),
        fact("ledger.leader", i.leader_in_charge),
        fact("ledger.due", fmt(i.due_at, "date")),
        fact("ledger.warning_clock", i.warning_due_at && open ? countdown({ kind: "warning", due_at: i.warning_due_at }, { label: false }) : null),
        fact("ledger.description", i.description || null),
        i.resolution ? fact("ledger.resolution", i.resolution) : null,
        i.incident_id ? fact("ledger.incident", h("a", { href: `/static/incident.html?id=${i.incident_id}`, id: "item-incident" }, t("ledger.open_incident"))) : null),
      writer && open ? [colourForm(i), resolveForm(i), escalateForm(i)] : null,
      h("div", { class: "history" }, h("h3", {}, t("ledger.history")),
        h("ol", { class: "timeline", id: "item-history" }, [...trail].reverse().map((e) => h("li", { dataset: { action: e.action } },
          h("time", {}, fmt(e.at, "short")), h("strong", {}, tn("ledger.action", e.action)), " ",
          h("span", { class: "muted" }, `${personName(e.actor_name)} · ${deptName(e.actor_department)}`),
          historyDetail(e) ? h("div", { class: "detail" }, historyDetail(e)) : null)))));
  }

  function historyDetail(e) {
    const d = e.detail || {};
    const parts = [];
    if (d.from && d.to) parts.push(`${tn("colour", d.from)} → ${tn("colour", d.to)}`);
    if (d.reason) parts.push(d.reason);
    if (d.note) parts.push(d.note);
    return parts.join(" · ");
  }

  function colourForm(item) {
    const form = h("form", { class: "stack", id: "colour-form" }, h("h3", {}, t("ledger.change_colour")),
      h("div", { class: "row" },
        h("select", { name: "colour" }, COLOURS.filter((c) => c !== item.colour).map((c) => h("option", { value: c }, tn("colour", c)))),
        h("input", { name: "reason", class: "grow", maxlength: 1000, placeholder: t("ledger.reason") }),
        h("button", { type: "submit", class: "primary" }, t("ledger.apply"))));
    form.addEventListener("submit", submitter(form, (body) => api.post(`/api/ledger/${item.id}/warning`, body), "ledger.colour_changed"));
    return form;
  }

  function resolveForm(item) {
    const form = h("form", { class: "stack", id: "resolve-form" }, h("h3", {}, t("ledger.resolve")),
      h("textarea", { name: "note", required: true, maxlength: 4000, placeholder: t("ledger.resolution") }),
      h("button", { type: "submit" }, t("ledger.resolve")));
    form.addEventListener("submit", submitter(form, (body) => api.post(`/api/ledger/${item.id}/resolve`, body), "ledger.resolved"));
    return form;
  }

  function escalateForm(item) {
    const form = h("form", { class: "stack", id: "escalate-form" }, h("h3", {}, t("ledger.escalate")),
      h("label", {}, t("incident.category"), h("select", { name: "category" }, CATEGORIES.map((c) => h("option", { value: c }, tn("category", c))))),
      h("label", {}, t("incident.title_field"), h("input", { name: "title", maxlength: 200, value: item.title })),
      h("label", {}, t("incident.address"), h("input", { name: "address", maxlength: 300 })),
      h("label", {}, t("incident.headcount"), h("input", { name: "headcount", type: "number", min: 0 })),
      h("label", {}, t("incident.demands"), h("textarea", { name: "demands", maxlength: 4000 })),
      h("div", {}, h("span", { class: "muted" }, t("incident.departments")),
        departmentPicker(departments, { name: "departments", checked: [item.responsible_department] })),
      h("button", { type: "submit", class: "danger" }, t("ledger.escalate")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = formData(form);
      body.departments = pickedDepartments(form, "departments");
      try {
        const incident = await api.post(`/api/ledger/${item.id}/escalate`, body);
        toast(t("ledger.escalated"), "ok");
        location.href = `/static/incident.html?id=${incident.id}`;
      } catch (exc) { toast(exc.message, "error"); }
    });
    return form;
  }

  function submitter(form, send, done) {
    return async (event) => {
      event.preventDefault();
      try {
        await send(formData(form));
        form.reset(); // done: the next render starts from empty fields
        toast(t(done), "ok");
        await load();
      } catch (exc) { toast(exc.message, "error"); }
    };
  }

  // -- new item ---------------------------------------------------------------------------------------
  if (writer) {
    const dialog = $("#item-dialog");
    const form = $("#item-form");
    const subdomains = () => fill($("#subdomain-select"), h("option", { value: "" }, "—"),
      DOMAINS[$("#domain-select").value].map((s) => h("option", { value: s }, tn("subdomain", s))));
    $("#new-item").hidden = false;
    $("#new-item").addEventListener("click", () => {
      fill($("#domain-select"), Object.keys(DOMAINS).map((d) => h("option", { value: d }, tn("domain", d))));
      subdomains();
      fill($("#source-select"), SOURCES.map((s) => h("option", { value: s }, tn("source", s))));
      fill($("#risk-select"), RISKS.map((r) => h("option", { value: r }, tn("risk", r))));
      fill($("#dept-select"), departments.map((d) => h("option", { value: d.code }, deptName(d.code))));
      fill($("#colour-select"), COLOURS.map((c) => h("option", { value: c }, tn("colour", c))));
      dialog.showModal();
    });
    $("#domain-select").addEventListener("change", subdomains);
    $("#item-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = formData(form);
      body.due_at = officeInputToIso(body.due_at);
      try {
        const item = await api.post("/api/ledger", body);
        dialog.close();
        form.reset();
        toast(t("ledger.added"), "ok");
        await load();
        await select(item.id);
      } catch (exc) { toast(exc.message, "error"); }
    });
  }

  $("#status-filter").addEventListener("change", () => load().catch((e) => toast(e.message, "error")));
  onLangChange(() => { renderList(); if (selected) renderDetail(); });
  await load();
  const wanted = Number(params().get("id"));
  if (wanted) await select(wanted);
  hub.subscribe("ledger", { onMessage: () => load().catch(() => {}), onReset: () => load().catch(() => {}) });
  document.body.dataset.ready = "true";
}

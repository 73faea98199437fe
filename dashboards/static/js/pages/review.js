// Review page: the drill's scores and ratings (with justified overrides), the review meeting, findings,
// the rectification list (owner department, leader, deadline, evidence files, status one step at a time),
// a time plot, and the .docx export. REST only (reviews change at meeting pace).
import { api, download, optional } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, params, toast } from "../dom.js";
import { lang, onLangChange, t, tn } from "../i18n.js";
import { can } from "../nav.js";
import { deptName, drillBadge, loadDepartments, loadPeople, personName, startPage } from "../shell.js";
import { elapsedBars } from "../plot.js";
import { fmt, isoToOfficeInput, officeInputToIso } from "../time.js";
import { evidenceList, evidenceForm, itemEditForm } from "../reviewitems.js";

/** One score scale everywhere (pages and exports): 0-100, as the overall score (DESIGN section 7). */
const score100 = (x) => (x == null ? "—" : (x * 100).toFixed(0));

const page = await startPage("review", { hub: false });
if (page) await run(page);

async function run({ user }) {
  const [departments] = await Promise.all([loadDepartments(), loadPeople()]);
  const writer = can.writeReviews(user.role);
  let reviews = [];
  let review = null;
  let editing = null;
  const checkTitle = (c) => (lang() === "en" ? c.title_en : c.title_zh) || c.check_id;

  async function loadList() {
    reviews = (await optional("/api/reviews", [])) || [];
    fill($("#reviews"), reviews.length ? reviews.map((r) => h("li", { class: r.id === review?.id ? "selected" : null, dataset: { id: r.id } },
      h("a", { href: `?id=${r.id}`, onclick: (e) => { e.preventDefault(); select(r.id); } },
        drillBadge({ drill: true }), " ", lang() === "en" ? r.scenario_title_en : r.scenario_title_zh),
      h("span", { class: "muted" }, `${fmt(r.finished_at, "short")} · ${r.overall != null ? r.overall.toFixed(1) : "—"} ${r.rating || ""}`)))
      : h("li", { class: "empty" }, t("review.none")));
  }

  async function select(id) {
    review = await api.get(`/api/reviews/${id}`);
    history.replaceState(null, "", `?id=${id}`);
    await loadList();
    render();
  }
  const reload = () => select(review.id);

  function render() {
    const r = review;
    const p = r.progress;
    fill($("#detail"),
      h("div", { class: "review-head" }, drillBadge({ drill: true }),
        h("h2", {}, lang() === "en" ? r.scenario_title_en : r.scenario_title_zh),
        h("span", { class: "score-big", title: t("review.scale") }, r.overall != null ? r.overall.toFixed(1) : "—"),
        r.rating ? h("span", { class: `rating rating-${r.rating}` }, r.rating) : null,
        r.capped ? h("span", { class: "badge" }, t("drill.capped")) : null,
        h("span", { class: "muted", id: "rubric" }, t("review.rubric", { v: r.rubric_version })),
        h("button", { type: "button", id: "export-docx", onclick: () => download(`/api/reviews/${r.id}/export.docx?lang=${lang()}`, `review-${r.id}.docx`).catch((e) => toast(e.message, "error")) }, t("review.export"))),
      meetingPanel(r),
      h("h3", {}, t("review.scores"), " ", h("span", { class: "muted" }, t("review.scale"))),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", id: "checks" },
        h("thead", {}, h("tr", {}, ["review.check", "incident.stage", "review.owner", "review.elapsed", "review.score", "review.rating", "review.override"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, r.checks.map((c) => h("tr", { dataset: { check: c.check_id } },
          h("td", {}, checkTitle(c), c.critical ? " *" : ""), h("td", {}, tn("stage", c.stage)), h("td", {}, c.department ? deptName(c.department) : "—"),
          h("td", {}, c.elapsed != null ? `${c.elapsed.toFixed(1)} ${t("unit.min")}` : "—"), h("td", { class: "score" }, score100(c.score)),
          h("td", {}, c.effective_rating ? h("span", { class: `rating rating-${c.effective_rating}` }, c.effective_rating) : "—",
            c.override_rating ? h("span", { class: "muted" }, ` (${c.rating} → ${c.override_rating})`) : null),
          h("td", { class: "muted" }, c.override_justification || "")))))),
      writer ? overrideForm(r) : null,
      h("h3", {}, t("review.plot")),
      h("div", { class: "table-wrap" }, elapsedBars(r.checks, checkTitle)),
      h("h3", {}, t("review.items"), " ", h("span", { class: "count" }, `${Math.round(p.percent_closed)}%`)),
      h("div", { class: "progress", title: `${p.percent_closed}%` }, h("span", { style: { width: `${p.percent_closed}%` } })),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", id: "items" },
        h("thead", {}, h("tr", {}, ["review.item_title", "review.owner", "review.leader", "review.due", "drill.status", "review.evidence", ""].map((k) => h("th", {}, k ? t(k) : "")))),
        h("tbody", {}, r.items.flatMap(itemRows)))),
      writer ? findingForm(r) : null);
  }

  function meetingPanel(r) {
    if (r.meeting_held_at) {
      return h("section", { class: "meeting", id: "meeting" }, h("h3", {}, t("review.meeting"), " ",
        h("span", { class: "muted" }, `${t("review.meeting_held")} ${fmt(r.meeting_held_at, "short")}`),
        r.meeting_late ? h("span", { class: "badge colour-orange" }, t("review.meeting_late")) : null),
      h("p", { class: "minutes" }, r.meeting_minutes));
    }
    const head = h("h3", {}, t("review.meeting"), " ", countdown({ kind: "meeting", due_at: r.meeting_due_at }, { label: false }));
    if (!writer) return h("section", { class: "meeting", id: "meeting" }, head);
    const form = h("form", { class: "stack", id: "meeting-form" },
      h("label", {}, t("review.meeting_time"), h("input", { name: "held_at", type: "datetime-local", value: isoToOfficeInput(new Date().toISOString()) })),
      h("label", {}, t("review.minutes"), h("textarea", { name: "minutes", required: true, maxlength: 20000, placeholder: t("review.minutes_hint") })),
      h("button", { type: "submit", class: "primary" }, t("review.record_meeting")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = formData(form);
      // Left at the pre-filled "now", the server's own clock says when (to the second).
      if (body.held_at === form.elements.held_at.defaultValue) delete body.held_at;
      else body.held_at = officeInputToIso(body.held_at);
      try { review = await api.post(`/api/reviews/${r.id}/meeting`, body); toast(t("review.meeting_recorded"), "ok"); render(); }
      catch (exc) { toast(exc.message, "error"); }
    });
    return h("section", { class: "meeting", id: "meeting" }, head, form);
  }

  function findingForm(r) {
    const form = h("form", { class: "stack", id: "finding-form" }, h("h3", {}, t("review.add_finding")),
      h("textarea", { name: "text", required: true, maxlength: 2000, placeholder: t("review.finding_text") }),
      h("div", { class: "row" },
        h("label", { class: "grow" }, t("review.owner"), h("select", { name: "department" }, departments.map((d) => h("option", { value: d.code }, deptName(d.code))))),
        h("label", { class: "grow" }, t("review.leader"), h("input", { name: "leader", maxlength: 64 })),
        h("label", { class: "grow" }, t("review.due"), h("input", { name: "deadline", type: "datetime-local", required: true }))),
      h("button", { type: "submit", class: "primary" }, t("review.add_finding")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = formData(form);
      body.deadline = officeInputToIso(body.deadline);
      try { await api.post(`/api/reviews/${r.id}/findings`, body); toast(t("review.finding_added"), "ok"); await reload(); }
      catch (exc) { toast(exc.message, "error"); }
    });
    return form;
  }

  function overrideForm(r) {
    const form = h("form", { class: "row", id: "override-form" },
      h("select", { name: "check_id" }, r.checks.map((c) => h("option", { value: c.check_id }, checkTitle(c)))),
      h("select", { name: "rating" }, ["P", "S", "M", "U"].map((x) => h("option", { value: x }, x))),
      h("input", { name: "justification", class: "grow", required: true, placeholder: t("review.justification") }),
      h("button", { type: "submit" }, t("review.override")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { review = await api.post(`/api/reviews/${r.id}/overrides`, formData(form)); render(); } catch (exc) { toast(exc.message, "error"); }
    });
    return form;
  }

  // A drafted item is named after its check: shown in the reader's language, not as "中文 / English".
  function itemTitle(item) {
    const check = item.check_id && review.checks.find((c) => c.check_id === item.check_id);
    return check ? checkTitle(check) : item.title;
  }

  function itemRows(item) {
    const open = item.status !== "closed" && item.status !== "verified";
    const mine = writer || item.department === user.department;
    const row = h("tr", { dataset: { id: item.id, status: item.status } },
      h("td", {}, item.source === "finding" ? h("span", { class: "badge" }, t("review.finding")) : null, " ", itemTitle(item)),
      h("td", { class: "owner" }, deptName(item.department)), h("td", { class: "leader" }, item.leader || "—"),
      h("td", {}, open ? countdown({ kind: "item", due_at: item.deadline, status: item.overdue ? "missed" : undefined }, { label: false }) : fmt(item.deadline, "date")),
      h("td", {}, h("span", { class: "badge" }, tn("item.status", item.status))),
      h("td", { class: "evidence" }, evidenceList(item.evidence, personName)),
      h("td", {}, mine ? itemActions(item, open) : null));
    if (editing !== item.id) return [row];
    return [row, h("tr", { class: "editing" }, h("td", { colspan: 7 },
      itemEditForm(item, departments, async (body) => { await api.patch(`/api/reviews/items/${item.id}`, body); editing = null; await reload(); }),
      evidenceForm(item, async (data) => { await api.upload(`/api/reviews/items/${item.id}/evidence/file`, data); toast(t("review.evidence_added"), "ok"); await reload(); })))];
  }

  function itemActions(item, open) {
    const next = { open: "in_progress", in_progress: "closed", closed: "verified" }[item.status];
    return h("div", { class: "row" },
      item.status !== "verified" ? h("button", { type: "button", class: "edit-item", onclick: () => { editing = editing === item.id ? null : item.id; render(); } }, t(open ? "review.edit_item" : "review.add_evidence")) : null,
      next ? h("button", { type: "button", class: "primary", onclick: () => setStatus(item, next) }, tn("item.action", next)) : null);
  }

  async function setStatus(item, status) {
    try { await api.post(`/api/reviews/items/${item.id}/status`, { status, note: "" }); await reload(); }
    catch (exc) { toast(exc.message, "error"); }
  }

  onLangChange(() => { loadList(); if (review) render(); });
  await loadList();
  const wanted = Number(params().get("id")) || reviews[0]?.id;
  if (wanted) await select(wanted);
  document.body.dataset.ready = "true";
}

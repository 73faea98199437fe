// Review page: the drill's scores and ratings (with justified overrides), the rectification list with its
// progress and evidence, a time plot, and the .docx export. REST only (reviews change at meeting pace).
import { api, download, optional } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, params, toast } from "../dom.js";
import { lang, onLangChange, t, tn } from "../i18n.js";
import { can } from "../nav.js";
import { deptName, drillBadge, loadDepartments, startPage } from "../shell.js";
import { elapsedBars } from "../plot.js";
import { fmt } from "../time.js";

const page = await startPage("review", { hub: false });
if (page) await run(page);

async function run({ user }) {
  await loadDepartments();
  const writer = can.writeReviews(user.role);
  let reviews = [];
  let review = null;
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

  function render() {
    const r = review;
    const p = r.progress;
    fill($("#detail"),
      h("div", { class: "review-head" }, drillBadge({ drill: true }),
        h("h2", {}, lang() === "en" ? r.scenario_title_en : r.scenario_title_zh),
        h("span", { class: "score-big" }, r.overall != null ? r.overall.toFixed(1) : "—"),
        r.rating ? h("span", { class: `rating rating-${r.rating}` }, r.rating) : null,
        r.capped ? h("span", { class: "badge" }, t("drill.capped")) : null,
        h("span", { class: "muted" }, `rubric v${r.rubric_version}`),
        h("span", {}, t("review.meeting"), " ", r.meeting_held_at ? fmt(r.meeting_held_at, "short")
          : countdown({ kind: "meeting", due_at: r.meeting_due_at }, { label: false })),
        h("button", { type: "button", id: "export-docx", onclick: () => download(`/api/reviews/${r.id}/export.docx`, `review-${r.id}.docx`).catch((e) => toast(e.message, "error")) }, t("review.export"))),
      h("h3", {}, t("review.scores")),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", id: "checks" },
        h("thead", {}, h("tr", {}, ["review.check", "incident.stage", "review.owner", "review.elapsed", "review.score", "review.rating", "review.override"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, r.checks.map((c) => h("tr", { dataset: { check: c.check_id } },
          h("td", {}, checkTitle(c), c.critical ? " *" : ""), h("td", {}, tn("stage", c.stage)), h("td", {}, deptName(c.department)),
          h("td", {}, c.elapsed != null ? `${c.elapsed.toFixed(1)} min` : "—"), h("td", {}, c.score != null ? c.score.toFixed(2) : "—"),
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
        h("tbody", {}, r.items.map(itemRow)))));
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

  function itemRow(item) {
    const open = item.status !== "closed" && item.status !== "verified";
    return h("tr", { dataset: { id: item.id, status: item.status } },
      h("td", {}, item.title), h("td", {}, deptName(item.department)), h("td", {}, item.leader || "—"),
      h("td", {}, open ? countdown({ kind: "item", due_at: item.deadline, status: item.overdue ? "missed" : undefined }, { label: false }) : fmt(item.deadline, "date")),
      h("td", {}, h("span", { class: "badge" }, tn("item.status", item.status))),
      h("td", { class: "evidence" }, item.evidence.map((e) => h("div", {}, `${e.description} (${e.reference})`))),
      h("td", {}, writer || item.department === user.department ? itemActions(item) : null));
  }

  function itemActions(item) {
    const next = { open: "in_progress", in_progress: "closed", closed: "verified" }[item.status];
    return h("div", { class: "row" },
      h("button", { type: "button", onclick: () => addEvidence(item) }, t("review.add_evidence")),
      next ? h("button", { type: "button", class: "primary", onclick: () => setStatus(item, next) }, tn("item.action", next)) : null);
  }

  async function setStatus(item, status) {
    try { await api.post(`/api/reviews/items/${item.id}/status`, { status, note: "" }); await select(review.id); }
    catch (exc) { toast(exc.message, "error"); }
  }
  async function addEvidence(item) {
    const description = prompt(t("review.evidence"));
    if (!description) return;
    const reference = prompt(t("review.reference"), "") || "-";
    try { await api.post(`/api/reviews/items/${item.id}/evidence`, { description, reference }); await select(review.id); }
    catch (exc) { toast(exc.message, "error"); }
  }

  onLangChange(() => { loadList(); if (review) render(); });
  await loadList();
  const wanted = Number(params().get("id")) || reviews[0]?.id;
  if (wanted) await select(wanted);
  document.body.dataset.ready = "true";
}

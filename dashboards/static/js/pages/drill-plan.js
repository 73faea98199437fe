// The drill plan on the drill console (organizers and evaluators): one double-blind drill a quarter, the
// year's special drills still to run, and review meetings due or overdue (escalated by the deadline sweep).
// Reads GET /api/drill-plan; the server decides every state and warning, this only shows them.
import { optional } from "../api.js";
import { fill, h } from "../dom.js";
import { lang, onLangChange, t, tn } from "../i18n.js";
import { fmt } from "../time.js";

const title = (o, zh, en) => (lang() === "en" ? o[en] : o[zh]) || o.scenario_key || "";

function quarter(q) {
  return h("li", { class: `plan-quarter plan-${q.state}`, dataset: { quarter: q.label, state: q.state, warning: q.warning } },
    h("span", { class: "grow" }, t("plan.quarter", { year: q.label.slice(0, 4), q: q.quarter })),
    h("span", { class: `badge plan-state-${q.state}` }, tn("plan.state", q.state)),
    q.warning ? h("p", { class: "plan-warning" }, t("plan.quarter_warning", { days: q.days_left })) : null);
}

function special(s) {
  return h("li", { dataset: { scenario: s.scenario_key, held: s.held } },
    h("span", { class: "grow" }, title(s, "title_zh", "title_en")),
    h("span", { class: `badge ${s.held ? "plan-state-held" : "plan-state-due"}` }, t(s.held ? "plan.special_held" : "plan.special_to_run")));
}

function meeting(r) {
  return h("li", { dataset: { review: r.review_id, overdue: r.overdue } },
    h("a", { href: `/static/review.html?id=${r.review_id}`, class: "grow" }, title(r, "scenario_title_zh", "scenario_title_en")),
    h("span", { class: `badge ${r.overdue ? "plan-state-missed" : "plan-state-due"}` },
      r.overdue ? t("plan.meeting_overdue") : `${t("plan.meeting_due")} ${fmt(r.meeting_due_at, "short")}`),
    r.escalated_at ? h("p", { class: "plan-warning" }, t("plan.meeting_escalated", { at: fmt(r.escalated_at, "short") })) : null);
}

/** Show the plan in `container`; resolves to `refresh`, which the console calls when a drill or a review
 * changes (a finished drill holds its quarter and opens a review meeting), and a language switch calls. */
export async function mountPlan(container) {
  async function refresh() {
    const plan = await optional("/api/drill-plan", null);
    container.hidden = !plan;
    if (!plan) return;
    fill(container,
      h("h2", {}, t("plan.title", { year: plan.year })),
      h("ul", { class: "plain list", id: "plan-quarters" }, plan.quarters.map(quarter)),
      h("h3", {}, t("plan.special"), " ", h("span", { class: "muted" }, t("plan.special_remaining", { n: plan.special_remaining }))),
      plan.special_warning ? h("p", { class: "plan-warning", id: "plan-special-warning" }, t("plan.special_warning")) : null,
      h("ul", { class: "plain list", id: "plan-special" }, plan.special.map(special)),
      h("h3", {}, t("plan.meetings")),
      h("ul", { class: "plain list", id: "plan-meetings" },
        plan.reviews.length ? plan.reviews.map(meeting) : h("li", { class: "empty" }, t("plan.no_meetings"))));
  }
  onLangChange(refresh);
  await refresh();
  return refresh;
}

// Incident page: stages, deadlines, timeline, zones on a site plan, reports, linked streams and recordings.
// Channel: incident:{id}.
import { api, download, optional } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, params, toast } from "../dom.js";
import { onLangChange, t, tn } from "../i18n.js";
import { can } from "../nav.js";
import { deptName, drillBadge, loadDepartments, markDrill, startPage } from "../shell.js";
import { sitePlan } from "../siteplan.js";
import { fmt } from "../time.js";

const STAGES = ["information_report", "on_site_control", "de_escalation", "response_to_demands", "follow_up"];

const page = await startPage("incident");
if (page) await run(page);

async function run({ user, hub }) {
  const id = Number(params().get("id"));
  let incident = null;
  let events = [];
  await loadDepartments();

  async function load() {
    try {
      incident = await api.get(`/api/incidents/${id}`);
      events = await api.get(`/api/incidents/${id}/timeline`);
    } catch (exc) {
      fill($("#summary"), h("p", { class: "error", id: "load-error" }, exc.message));
      return;
    }
    render();
  }

  function render() {
    document.body.classList.toggle("drill-page", incident.drill);
    renderSummary();
    renderStages();
    fill($("#deadlines"), (incident.deadlines || []).map((d) => countdown(d)));
    renderZones();
    renderTimeline();
  }

  function fact(label, value) {
    return h("div", {}, h("dt", {}, t(label)), h("dd", {}, value ?? "—"));
  }
  function renderSummary() {
    const i = incident;
    fill($("#summary"),
      h("h1", {}, drillBadge(i), h("span", { id: "incident-title" }, i.title),
        h("span", { class: "badge" }, tn("category", i.category)),
        i.closed_at ? h("span", { class: "badge" }, t("incident.closed")) : null),
      h("dl", { class: "facts" },
        fact("incident.stage", tn("stage", i.stage)),
        fact("incident.headcount", i.headcount),
        fact("incident.address", i.address || (i.location ? `${i.location.lat.toFixed(5)}, ${i.location.lon.toFixed(5)}` : null)),
        fact("incident.started_at", fmt(i.started_at)),
        fact("incident.first_department", deptName(i.first_department)),
        fact("incident.departments", i.departments.map(deptName).join("、")),
        fact("incident.demands", i.demands || null),
        fact("incident.dynamics", i.dynamics || null)),
      h("a", { href: "/static/board.html" }, t("incident.back")));
    markDrill($("#summary"), i);
  }

  function renderStages() {
    const current = STAGES.indexOf(incident.stage);
    fill($("#stepper"), STAGES.map((stage, n) =>
      h("li", { class: n < current ? "done" : n === current ? "current" : null, dataset: { stage } }, tn("stage", stage))));
    const writable = can.writeIncidents(user.role) && !incident.closed_at && current < STAGES.length - 1;
    $("#stage-form").hidden = !writable;
    $("#report-panel").hidden = !(can.writeIncidents(user.role) && !incident.closed_at);
    if (writable) {
      fill($("#stage-select"), STAGES.slice(current + 1).map((stage) => h("option", { value: stage }, tn("stage", stage))));
    }
  }

  function renderZones() {
    fill($("#siteplan"), incident.location || Object.keys(incident.zones || {}).length
      ? sitePlan(incident) : h("p", { class: "empty" }, t("incident.no_location")));
    const zones = Object.values(incident.zones || {});
    fill($("#zone-list"), zones.length ? zones.map((z) =>
      h("li", { dataset: { kind: z.kind } }, `${tn("zone", z.kind)} · ${Math.round(z.radius_m)} m`,
        z.teams?.length ? ` · ${z.teams.join("、")}` : "", z.note ? ` · ${z.note}` : ""))
      : h("li", { class: "empty" }, t("incident.no_zones")));
  }

  function actionName(action) {
    if (action.startsWith("stage.")) return `${t("incident.move_to")} ${tn("stage", action.slice(6))}`;
    return tn("action", action);
  }
  function detailText(e) {
    const d = e.detail || {};
    const parts = [];
    if (d.headcount != null) parts.push(`${t("incident.headcount")} ${d.headcount}`);
    if (d.demands) parts.push(`${t("incident.demands")}: ${d.demands}`);
    if (d.dynamics) parts.push(`${t("incident.dynamics")}: ${d.dynamics}`);
    if (d.reason) parts.push(d.reason);
    if (d.note) parts.push(d.note);
    if (d.kinds) parts.push(d.kinds.map((k) => tn("zone", k)).join("、"));
    if (d.kind && typeof d.kind === "string" && e.action.startsWith("deadline")) parts.push(tn("deadline", d.kind));
    return parts.join(" · ");
  }
  function renderTimeline(freshId = null) {
    fill($("#timeline"), events.map((e) => markDrill(h("li", { class: e.id === freshId ? "new" : null, dataset: { action: e.action } },
      h("time", {}, fmt(e.at, "time")), drillBadge(e), h("strong", {}, actionName(e.action)), " ",
      h("span", { class: "muted" }, `${e.actor_name}${e.actor_department ? ` · ${deptName(e.actor_department)}` : ""}`),
      detailText(e) ? h("div", { class: "detail" }, detailText(e)) : null), e)).reverse());
  }

  async function loadMedia() {
    const streams = await optional("/api/streams", null);
    const mine = streams && streams.filter((s) => s.incident_id === id);
    fill($("#streams"), mine === null ? h("li", { class: "empty" }, t("board.not_available"))
      : mine.length ? mine.map((s) => markDrill(h("li", {}, drillBadge(s),
        h("a", { href: `/static/video.html?stream=${encodeURIComponent(s.id)}` },
          s.officer?.display_name || s.officer?.name || s.id), " · ", fmt(s.started_at, "time")), s))
      : h("li", { class: "empty" }, t("incident.no_streams")));
    const recordings = await optional(`/api/streams/recordings?incident_id=${id}`, null);
    fill($("#recordings"), recordings && recordings.length ? [h("li", { class: "muted" }, t("incident.recordings")),
      ...recordings.map((r) => h("li", {}, fmt(r.started_at || r.at, "datetime"), " · ", r.name || r.id))] : []);
  }

  function onMessage(data) {
    if (data.type === "incident.event" && data.event) {
      if (!events.some((e) => e.id === data.event.id)) events.push(data.event);
      renderTimeline(data.event.id);
      return;
    }
    if (data.incident) { incident = data.incident; render(); return; }
    if (data.type === "incident.zones_recorded" && data.zones) { incident.zones = data.zones; renderZones(); return; }
    if (data.type?.startsWith("deadline.") && data.deadline) {
      incident.deadlines = incident.deadlines.map((d) => (d.id === data.deadline.id ? data.deadline : d));
      fill($("#deadlines"), incident.deadlines.map((d) => countdown(d)));
      return;
    }
    if (data.type?.startsWith("stream.")) { loadMedia(); return; }
    api.get(`/api/incidents/${id}`).then((fresh) => { incident = fresh; render(); }).catch(() => {});
  }

  $("#stage-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      incident = await api.post(`/api/incidents/${id}/stage`, formData(event.target));
      render();
      toast(t("incident.moved"), "ok");
    } catch (exc) { toast(exc.message, "error"); }
  });
  $("#report-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post(`/api/incidents/${id}/reports`, formData(event.target));
      event.target.reset();
      toast(t("incident.reported"), "ok");
      await load();
    } catch (exc) { toast(exc.message, "error"); }
  });
  $("#export-csv").addEventListener("click", () => download(`/api/incidents/${id}/timeline.csv`, `incident-${id}-timeline.csv`).catch((e) => toast(e.message, "error")));
  $("#export-docx").addEventListener("click", () => download(`/api/incidents/${id}/timeline.docx`, `incident-${id}-timeline.docx`).catch((e) => toast(e.message, "error")));

  onLangChange(() => { if (incident) render(); loadMedia(); });
  await load();
  loadMedia().catch(() => {});
  hub.subscribe(`incident:${id}`, { onMessage, onReset: load });
  setInterval(() => { if (hub.status !== "online") load(); }, 10000);
  document.body.dataset.ready = "true";
}

// Incident page: stages, deadlines, timeline, zones on a site plan, reports, linked streams and recordings.
// Channel: incident:{id}.
import { api, download, optional } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, params, toast } from "../dom.js";
import { lang, onLangChange, t, tn } from "../i18n.js";
import { can, homeFor } from "../nav.js";
import { deptName, joinNames, drillBadge, loadDepartments, loadPeople, markDrill, personName, startPage } from "../shell.js";
import { watchDrills } from "../drillnotice.js";
import { createMap } from "../map.js";
import { streamBadge } from "../streamstate.js";
import { recordingItem } from "../recordings.js";
import { sitePlan } from "../siteplan.js";
import { fmt } from "../time.js";
import { pttPanel } from "../ptt.js";

const STAGES = ["information_report", "on_site_control", "de_escalation", "response_to_demands", "follow_up"];

const page = await startPage("incident");
if (page) await run(page);

async function run({ user, hub }) {
  const id = Number(params().get("id"));
  let incident = null;
  let events = [];
  let incidentMap = null;
  let liveStreams = [];
  await Promise.all([loadDepartments(), loadPeople()]);

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
    renderActions();
  }

  function renderActions() {
    const open = !incident.closed_at && can.writeIncidents(user.role);
    $("#actions-panel").hidden = !open;
    $("#order-form").hidden = !can.issueOrders(user.role);
    fill($("#team-list"), (incident.team || []).map((m) => h("li", { class: "muted" },
      `${m.name} · ${tn("team", m.role)}${m.organisation ? ` · ${m.organisation}` : ""}`)));
    // Closing is the commander's; the others may record what was done.
    const closeOption = $("#note-form option[value=close]");
    closeOption.hidden = closeOption.disabled = !can.commandIncidents(user.role);
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
        fact("incident.departments", joinNames(i.departments.map(deptName))),
        fact("incident.demands", i.demands || null),
        fact("incident.dynamics", i.dynamics || null)),
      h("a", { href: homeFor(user.role) }, t("incident.back")));
    markDrill($("#summary"), i);
  }

  function renderStages() {
    const current = STAGES.indexOf(incident.stage);
    fill($("#stepper"), STAGES.map((stage, n) =>
      h("li", { class: n < current ? "done" : n === current ? "current" : null, dataset: { stage } }, tn("stage", stage))));
    const writable = can.changeStages(user.role) && !incident.closed_at && current < STAGES.length - 1;
    $("#stage-form").hidden = !writable;
    $("#report-panel").hidden = !(can.writeIncidents(user.role) && !incident.closed_at);
    if (writable) {
      // A live update re-renders the page: keep what the user had picked if it is still ahead.
      const picked = $("#stage-select").value;
      fill($("#stage-select"), STAGES.slice(current + 1).map((stage) =>
        h("option", { value: stage, selected: stage === picked }, tn("stage", stage))));
    }
  }

  function renderMap() {
    if (!incidentMap) return;
    incidentMap.setIncidents([incident]);
    incidentMap.setZones([incident]);
    incidentMap.setOfficers(liveStreams);
  }

  function renderZones() {
    renderMap();
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
      h("span", { class: "muted" }, `${personName(e.actor_name)}${e.actor_department ? ` · ${deptName(e.actor_department)}` : ""}`),
      detailText(e) ? h("div", { class: "detail" }, detailText(e)) : null), e)).reverse());
  }

  async function loadMedia() {
    // Ended streams stay listed for their recordings (chain of custody).
    const streams = await optional(`/api/streams?include_ended=true&incident_id=${id}`, null);
    const mine = streams && streams.filter((s) => s.incident_id === id);
    liveStreams = (mine || []).filter((s) => !s.ended_at);
    incidentMap?.setOfficers(liveStreams);
    fill($("#streams"), mine === null ? h("li", { class: "empty" }, t("board.not_available"))
      : mine.length ? mine.map((s) => markDrill(h("li", { dataset: { stream: s.id } }, h("div", { class: "row" }, drillBadge(s),
        h("a", { href: `/static/video.html?stream=${encodeURIComponent(s.id)}` },
          personName(s.officer) || s.id), fmt(s.started_at, "time"), streamBadge(s))), s))
      : h("li", { class: "empty" }, t("incident.no_streams")));
    const recordings = (await Promise.all((mine || []).map(async (s) =>
      ((await optional(`/api/streams/${encodeURIComponent(s.id)}/recordings`, [])) || []).map((r) => [s, r])))).flat();
    fill($("#recordings"), recordings.length ? [h("li", { class: "muted" }, t("incident.recordings")),
      ...recordings.map(([s, r]) => recordingItem(s.id, r, $("#player")))] : []);
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
  $("#order-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { text, to } = formData(event.target);
    const [kind, value] = to.split(":");
    const body = kind === "user" ? { text, to: "user", user_ids: [Number(value)] } : { text, to: "department", department: value };
    try {
      await api.post("/api/orders", { ...body, incident_id: id });
      event.target.reset();
      toast(t("incident.order_sent"), "ok");
    } catch (exc) { toast(exc.message, "error"); }
  });
  $("#team-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const member = formData(event.target);
    try {
      incident = await api.post(`/api/incidents/${id}/team`, { members: [...(incident.team || []), member] });
      event.target.reset();
      render();
    } catch (exc) { toast(exc.message, "error"); }
  });
  $("#note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { action, note } = formData(event.target);
    try {
      await api.post(`/api/incidents/${id}/${action}`, { note });
      event.target.reset();
      toast(t("incident.saved"), "ok");
      await load();
    } catch (exc) { toast(exc.message, "error"); }
  });
  async function loadRecipients() {
    if (!can.issueOrders(user.role)) return;
    const users = await api.get("/api/users");
    const departments = new Set(incident?.departments || []);
    fill($("#order-to"),
      h("optgroup", { label: t("incident.departments") }, [...departments].map((d) => h("option", { value: `department:${d}` }, deptName(d)))),
      h("optgroup", { label: t("incident.people") }, users.filter((u) => u.role !== "system" && (departments.has(u.department) || u.role === "field_officer"))
        .map((u) => h("option", { value: `user:${u.id}` }, `${u.display_name || u.name} · ${tn("role", u.role)}`))));
  }

  // Linking a task force makes its member departments take part, so their liaisons see the incident.
  async function loadTaskforces() {
    if (!can.manageTaskforces(user.role)) return;
    const forces = (await optional("/api/taskforces", [])) || [];
    const open = forces.filter((tf) => !tf.closed_at && !(tf.incident_ids || []).includes(id));
    $("#link-form").hidden = !open.length || Boolean(incident?.closed_at);
    fill($("#link-taskforce"), open.map((tf) => h("option", { value: tf.id }, tf.name)));
  }
  $("#link-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post(`/api/taskforces/${$("#link-taskforce").value}/incidents`, { incident_id: id });
      toast(t("incident.linked"), "ok");
      await load();
      await loadTaskforces();
    } catch (exc) { toast(exc.message, "error"); }
  });

  $("#export-csv").addEventListener("click", () => download(`/api/incidents/${id}/timeline.csv`, `incident-${id}-timeline.csv`).catch((e) => toast(e.message, "error")));
  $("#export-docx").addEventListener("click", () => download(`/api/incidents/${id}/timeline.docx?lang=${lang()}`, `incident-${id}-timeline.docx`).catch((e) => toast(e.message, "error")));

  onLangChange(() => { if (incident) render(); loadMedia(); });
  incidentMap = await createMap($("#incident-map")).catch((exc) => { console.warn("map", exc); return null; });
  await load();
  if (!incident) {
    // Not there, or not this user's to see: the message alone, not controls that could only fail (found
    // in a page walk: a liaison saw talk and export buttons, and the console filled with refusals).
    for (const part of document.querySelectorAll("main > *")) part.hidden = part.id !== "summary";
    document.body.dataset.ready = "true";
    return;
  }
  incidentMap?.fit();
  loadMedia().catch(() => {});
  loadRecipients().catch(() => {});
  loadTaskforces().catch(() => {});
  hub.subscribe(`incident:${id}`, { onMessage, onReset: load });
  watchDrills({ user, hub, onEnded: () => load() });
  mountTalk({ user, hub, id });
  setInterval(() => { if (hub.status !== "online") load(); }, 10000);
  document.body.dataset.ready = "true";
}

/** The incident's push-to-talk talkgroup (incident:{id}): who speaks now, and hold-to-talk. */
function mountTalk({ user, hub, id }) {
  let panel = null;
  const mount = () => {
    panel?.close();
    panel = pttPanel({ hub, user, talkgroup: `incident:${id}`, incidentId: id });
    $("#ptt-slot").replaceChildren(panel);
  };
  onLangChange(mount);
  mount();
}

// Command board: incidents by stage with live deadline countdowns, ledger warnings, task forces,
// unacknowledged orders and live streams. Channels: board, ledger, user:{me}.
import { api, optional } from "../api.js";
import { countdown, elapsed, worstStatus } from "../countdown.js";
import { $, fill, formData, h, toast } from "../dom.js";
import { onLangChange, t, tn } from "../i18n.js";
import { can } from "../nav.js";
import { deptName, joinNames, drillBadge, loadDepartments, loadPeople, markDrill, personName, showDrillInject, boardChannel, startPage } from "../shell.js";
import { watchDrills } from "../drillnotice.js";
import { fmt, timeZone } from "../time.js";
import { departmentPicker, pickedDepartments } from "../departments.js";
import { createMap } from "../map.js";
import { streamBadge, streamState } from "../streamstate.js";

const STAGES = ["information_report", "on_site_control", "de_escalation", "response_to_demands", "follow_up"];
const CATEGORIES = ["collective_petition", "skip_level_petition", "disruptive_petition", "extreme_behaviour"];

const page = await startPage("board");
if (page) await run(page);

async function run({ user, hub }) {
  const incidents = new Map();
  const side = { ledger: [], orders: null, taskforces: null, streams: null };
  const fresh = new Set();
  await Promise.all([loadDepartments(), loadPeople()]);
  let pickPoint = null;
  let boardMap = null;

  // A liaison sees only incidents its department takes part in (the REST list is already scoped).
  const visible = (i) => user.role !== "liaison" || (i.departments || []).includes(user.department);

  async function loadIncidents() {
    const rows = await api.get("/api/incidents");
    incidents.clear();
    for (const row of rows) incidents.set(row.id, row);
    renderIncidents();
  }
  if (user.role === "liaison") { // the ledger is the section's own
    $("#ledger-panel").hidden = true;
    $("#stat-colours").hidden = true;
  }
  async function loadLedger() {
    if (user.role === "liaison") return; // not asked for at all: a refused request is a console error
    side.ledger = (await optional("/api/ledger?status=open", [])) || [];
    renderLedger();
  }
  async function loadOrders() {
    side.orders = await optional("/api/orders/pending", null);
    renderList("orders", side.orders, orderItem);
  }
  async function loadTaskforces() {
    side.taskforces = await optional("/api/taskforces", null);
    renderList("taskforces", side.taskforces, taskforceItem);
  }
  async function loadStreams() {
    side.streams = await optional("/api/streams", null);
    renderList("streams", side.streams, streamItem);
    boardMap?.setOfficers(side.streams || []);
  }
  const guard = (fn) => () => fn().catch((exc) => console.warn(fn.name, exc));

  function upsert(incident, { flash = false } = {}) {
    if (!visible(incident)) return;
    if (incident.closed_at) incidents.delete(incident.id);
    else incidents.set(incident.id, incident);
    if (flash) fresh.add(incident.id);
    renderIncidents();
  }

  const refetch = async (id) => {
    try { upsert(await api.get(`/api/incidents/${id}`)); } catch (exc) { if (exc.status === 404) incidents.delete(id); }
  };

  function onBoard(data) {
    if (showDrillInject(data)) return;
    if (data.type?.startsWith("incident.") && data.incident) return upsert(data.incident, { flash: data.type === "incident.created" });
    if (data.type?.startsWith("incident.")) return refetch(data.id);
    if (data.type?.startsWith("deadline.") && data.deadline) {
      const id = Number(String(data.deadline.subject || "").split(":")[1]);
      const incident = incidents.get(id);
      if (!incident) return;
      incident.deadlines = (incident.deadlines || []).map((d) => (d.id === data.deadline.id ? data.deadline : d));
      return renderIncidents();
    }
    if (data.type?.startsWith("ledger.")) return guard(loadLedger)();
    if (data.type?.startsWith("stream.")) return guard(loadStreams)();
    if (data.type?.startsWith("order.")) return guard(loadOrders)();
    if (data.type?.startsWith("taskforce.")) return guard(loadTaskforces)();
  }

  // -- rendering ---------------------------------------------------------------------------------------
  function renderIncidents() {
    const columns = STAGES.map((stage) => {
      const rows = [...incidents.values()].filter((i) => i.stage === stage)
        .sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
      return h("div", { class: "stage-col", dataset: { stage } },
        h("h3", {}, tn("stage", stage), h("span", { class: "count" }, rows.length)),
        h("div", { class: "cards" }, rows.length ? rows.map(card) : h("p", { class: "empty" }, t("board.none"))));
    });
    fill($("#stages"), columns);
    fresh.clear();
    renderStats();
    renderMap();
  }

  function card(incident) {
    const open = (incident.deadlines || []).filter((d) => !d.done_at);
    const el = h("article", { class: `card${fresh.has(incident.id) ? " new" : ""}`,
      dataset: { id: incident.id, urgency: worstStatus(open) || "pending" } },
      h("div", { class: "row" }, drillBadge(incident),
        h("a", { class: "card-title", href: `/static/incident.html?id=${incident.id}` }, incident.title)),
      h("div", { class: "meta" },
        h("span", { class: "badge" }, tn("category", incident.category)),
        incident.headcount != null ? h("span", {}, t("incident.headcount_n", { n: incident.headcount })) : null,
        h("span", {}, fmt(incident.started_at, "short")),
        h("span", {}, deptName(incident.first_department))),
      open.length ? h("div", { class: "deadlines" }, open.map((d) => countdown(d))) : null);
    el._deadlines = open;
    return markDrill(el, incident);
  }

  function renderMap() {
    if (!boardMap) return;
    const open = [...incidents.values()];
    boardMap.setIncidents(open, { urgency: (i) => worstStatus((i.deadlines || []).filter((d) => !d.done_at)) || "pending" });
    boardMap.setZones(open);
    boardMap.setOfficers(side.streams || []);
  }

  function renderStats() {
    const all = [...incidents.values()];
    $("#stat-open").textContent = all.filter((i) => !i.drill).length;
    $("#stat-drills").textContent = all.filter((i) => i.drill).length;
    tickStats();
  }
  function tickStats() {
    let missed = 0;
    for (const el of document.querySelectorAll(".card")) {
      const urgency = worstStatus(el._deadlines);
      el.dataset.urgency = urgency || "pending";
      // Drill traffic is never counted in real statistics (DOMAIN.md).
      if (!el.classList.contains("is-drill")) missed += el.querySelectorAll(".countdown[data-status=missed]").length;
    }
    $("#stat-missed").textContent = missed;
    $("#stat-missed").classList.toggle("hot", missed > 0);
    $("#clock").textContent = fmt(new Date(), "datetime");
  }

  function renderLedger() {
    const rank = { red: 0, orange: 1, yellow: 2 };
    const rows = side.ledger.filter((i) => i.colour && i.colour !== "none")
      .sort((a, b) => rank[a.colour] - rank[b.colour]);
    fill($("#stat-colours"), ["red", "orange", "yellow"].map((c) =>
      h("span", { class: `badge colour-${c}`, title: t(`colour.${c}.rule`) },
        `${tn("colour", c)} ${side.ledger.filter((i) => i.colour === c).length}`)));
    $("#ledger-count").textContent = rows.length;
    fill($("#ledger"), rows.length ? rows.map((item) =>
      h("li", { class: `colour-${item.colour}-item clickable`, dataset: { id: item.id, colour: item.colour },
        onclick: () => { location.href = `/static/ledger.html?id=${item.id}`; } },
        h("div", { class: "row" }, h("span", { class: `badge colour-${item.colour}` }, tn("colour", item.colour)),
          h("a", { href: `/static/ledger.html?id=${item.id}`, class: "strong" }, item.title)),
        h("div", { class: "row muted" }, deptName(item.responsible_department), "·", item.leader_in_charge, "·",
          item.warning_due_at ? countdown({ kind: "warning", due_at: item.warning_due_at }, { label: false }) :
            fmt(item.due_at, "short")))) : h("li", { class: "empty" }, t("board.none")));
  }

  function renderList(name, rows, item) {
    $(`#${name}-count`).textContent = rows ? rows.length : "—";
    fill($(`#${name}`), rows === null ? h("li", { class: "empty" }, t("board.not_available"))
      : rows.length ? rows.map(item) : h("li", { class: "empty" }, t("board.none")));
  }
  // One row per recipient who has not acknowledged; the time since issue shows how long it waits.
  const orderItem = (o) => markDrill(h("li", { dataset: { id: o.order_id, user: o.user_id } },
    h("div", { class: "row" }, drillBadge(o), h("strong", {}, o.text)),
    h("div", { class: "row muted" }, `→ ${personName(o.user_name)} · ${deptName(o.department)}`,
      h("span", {}, t(o.read_at ? "order.read" : o.delivered_at ? "order.delivered" : "order.sent")),
      elapsed(o.issued_at),
      o.incident_id ? h("a", { href: `/static/incident.html?id=${o.incident_id}` }, incidents.get(o.incident_id)?.title || t("incident.open")) : null)), o);
  const taskforceItem = (tf) => markDrill(h("li", { dataset: { id: tf.id } },
    h("div", { class: "row" }, drillBadge(tf), h("a", { href: `/static/taskforce.html?id=${tf.id}` }, tf.name)),
    h("div", { class: "muted" }, joinNames((tf.members || []).map((m) => deptName(m.department))))), tf);
  const streamItem = (s) => markDrill(h("li", { dataset: { id: s.id } },
    h("div", { class: "row" }, drillBadge(s), h("a", { href: `/static/video.html?stream=${encodeURIComponent(s.id)}`, class: "strong" }, personName(s.officer) || s.id), streamState(s) !== "live" ? streamBadge(s) : null),
    h("div", { class: "row muted" }, s.incident_id ? h("a", { href: `/static/incident.html?id=${s.incident_id}` }, incidents.get(s.incident_id)?.title || t("incident.open")) : null,
      fmt(s.started_at, "time"))), s);

  // -- new incident (writers only) ---------------------------------------------------------------------
  if (can.writeIncidents(user.role)) {
    const dialog = $("#incident-dialog");
    const form = $("#incident-form");
    $("#new-incident").hidden = false;
    $("#new-incident").addEventListener("click", async () => {
      const departments = await loadDepartments();
      fill($("#category-select"), CATEGORIES.map((c) => h("option", { value: c }, tn("category", c))));
      // A liaison opens incidents for its own department (the server checks the same).
      const firsts = user.role === "liaison" ? departments.filter((d) => d.code === user.department) : departments;
      fill($("#first-department"), firsts.map((d) => h("option", { value: d.code, selected: d.code === user.department }, deptName(d.code))));
      fill($("#departments-pick"), departmentPicker(departments, { exclude: [] }));
      const forces = side.taskforces || [];
      $("#taskforce-select").closest("label").hidden = !can.manageTaskforces(user.role);
      fill($("#taskforce-select"), h("option", { value: "" }, t("incident.no_taskforce")),
        forces.filter((tf) => !tf.closed_at && !tf.drill).map((tf) => h("option", { value: tf.id }, tf.name)));
      dialog.showModal();
      if (!pickPoint) {
        pickPoint = await createMap($("#pick-map"));
        pickPoint.setPick((lat, lon) => { $("#pick-lat").value = lat.toFixed(6); $("#pick-lon").value = lon.toFixed(6); });
      }
      pickPoint.refresh();
    });
    $("#incident-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { lat, lon, taskforce, ...body } = formData(form);
      if (lat != null && lon != null) body.location = { lat, lon };
      body.departments = pickedDepartments(form);
      try {
        let incident = await api.post("/api/incidents", body);
        if (taskforce) {
          // Linking makes every member department of the task force take part, so its liaisons see it.
          await api.post(`/api/taskforces/${taskforce}/incidents`, { incident_id: incident.id });
          incident = await api.get(`/api/incidents/${incident.id}`);
        }
        upsert(incident, { flash: true });
        dialog.close();
        form.reset();
        toast(t("incident.created"), "ok");
      } catch (exc) { toast(exc.message, "error"); }
    });
  }

  // -- start -------------------------------------------------------------------------------------------
  if (timeZone() !== "Asia/Shanghai") { // "北京时间" only where it is
    const label = $(".clock [data-i18n]");
    label.removeAttribute("data-i18n");
    label.textContent = timeZone();
  }
  boardMap = await createMap($("#board-map")).catch((exc) => { console.warn("map", exc); return null; });
  if (boardMap) $("#map-crs").textContent = $("#board-map").dataset.crs;
  onLangChange(() => { renderIncidents(); renderLedger(); guard(loadOrders)(); guard(loadTaskforces)(); guard(loadStreams)(); });
  setInterval(tickStats, 1000);
  await Promise.all([guard(loadIncidents)(), guard(loadLedger)(), guard(loadOrders)(), guard(loadTaskforces)(), guard(loadStreams)()]);
  boardMap?.fit(); // open on where the incidents are
  hub.subscribe(boardChannel(user), { onMessage: onBoard, onReset: guard(loadIncidents) });
  hub.subscribe("ledger", { onMessage: onBoard, onReset: guard(loadLedger) });
  hub.subscribe(`user:${user.id}`, { onMessage: onBoard, onReset: guard(loadOrders) });
  watchDrills({ user, hub, onEnded: () => { guard(loadIncidents)(); guard(loadOrders)(); guard(loadTaskforces)(); } });
  // Without a live hub (or between reconnects) the snapshot is refreshed on a slow timer; streams' health
  // changes too often to push, so it is polled anyway.
  setInterval(() => { if (hub.status !== "online") guard(loadIncidents)(); }, 5000);
  setInterval(guard(loadStreams), 10000);
  document.body.dataset.ready = "true";
}

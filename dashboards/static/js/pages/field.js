// Field officer page (phone): publish camera + microphone + GPS, file reports, record zones, acknowledge
// orders; reports queue while offline. Channels: user:{me} (orders), incident:{id}.
import { api, optional } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, toast } from "../dom.js";
import { onLangChange, t } from "../i18n.js";
import { dismissRefused, onOutboxChange, onRefused, pendingCount, refused, send, startOutbox } from "../outbox.js";
import { drillBadge, markDrill, showDrillInject, boardChannel, startPage } from "../shell.js";
import { watchDrills } from "../drillnotice.js";
import { fmt } from "../time.js";
import { Publisher } from "../webrtc.js";
import { listenForTalkBack, pttPanel } from "../ptt.js";

const INCIDENT_KEY = "cc.field.incident";

const page = await startPage("field");
if (page) await run(page);

async function run({ user, hub }) {
  let incidents = [];
  let orders = null;
  let fix = null;
  let publisher = null;
  const phoneSent = new Set(); // incidents whose phone report this phone sent (or queued) already
  const incidentId = () => Number($("#incident-select").value) || null;

  // -- incident choice --------------------------------------------------------------------------------
  /** The officer's own incident: the one chosen before if still open, else the newest with an order to this
   * officer, else the newest this officer opened; never just the first in the list. */
  function ownIncident() {
    const open = new Set(incidents.map((i) => i.id));
    const stored = Number(localStorage.getItem(INCIDENT_KEY));
    if (open.has(stored)) return stored;
    const ordered = (orders || []).filter((o) => o.incident_id && open.has(o.incident_id))
      .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    if (ordered.length) return ordered[0].incident_id;
    const mine = incidents.filter((i) => i.created_by_id === user.id)
      .sort((a, b) => String(b.started_at).localeCompare(String(a.started_at)));
    return mine[0]?.id ?? null;
  }

  /** `prefer`: an incident to switch to (a drill's incident when the drill notice names it). */
  async function loadIncidents(prefer = null) {
    incidents = await api.get("/api/incidents");
    const open = (id) => Boolean(id) && incidents.some((i) => i.id === id);
    const chosen = open(prefer) ? prefer : open(incidentId()) ? incidentId() : ownIncident();
    fill($("#incident-select"), h("option", { value: "" }, t("field.no_incident")),
      incidents.map((i) => h("option", { value: i.id, selected: i.id === chosen },
        `${i.drill && !/^[【\[]演练/.test(i.title) ? `[${t("drill.badge")}] ` : ""}#${i.id} ${i.title}`)));
    onIncidentChange();
  }
  function onIncidentChange() {
    const id = incidentId();
    localStorage.setItem(INCIDENT_KEY, id || "");
    const link = $("#incident-link");
    link.hidden = !id;
    link.href = id ? `/static/incident.html?id=${id}` : "#";
    const incident = incidents.find((i) => i.id === id);
    document.querySelector(".field > .panel").classList.toggle("is-drill", Boolean(incident?.drill));
    for (const form of ["#written-form", "#zone-form"]) for (const el of $(form).elements) el.disabled = !id;
    // The phone report is made once: after it, the button says so and cannot be pressed again.
    const phoneDone = incident?.deadlines?.find((d) => d.kind === "phone_report")?.done_at;
    $("#phone-report").disabled = !id || Boolean(phoneDone) || phoneSent.has(id);
    $("#phone-report").classList.toggle("done", Boolean(phoneDone) || phoneSent.has(id));
    // The report clocks of this incident count down on the phone as on the board.
    fill($("#field-deadlines"), (incident?.deadlines || []).filter((d) => d.kind === "phone_report" || d.kind === "written_report")
      .map((d) => countdown(d)));
  }
  $("#incident-select").addEventListener("change", onIncidentChange);

  // -- live camera ------------------------------------------------------------------------------------
  function setLiveState(state, error) {
    $("#live-state").dataset.state = state;
    $("#live-state").textContent = t(`field.state.${state}`);
    $("#live-toggle").textContent = t(state === "idle" || state === "failed" ? "field.start" : "field.stop");
    document.body.dataset.live = state;
    if (publisher?.streamId) document.body.dataset.streamId = publisher.streamId;
    if (state === "failed") toast(`${t("field.state.failed")}: ${error?.message || ""}`, "error");
  }
  $("#live-toggle").addEventListener("click", async () => {
    if (publisher && !publisher.stopped) { await publisher.stop(); publisher = null; $("#preview").srcObject = null; return; }
    publisher = new Publisher({ incidentId: incidentId(), onState: setLiveState });
    window.cc.publisher = publisher; // for the browser tests' network-failure drill
    if (fix) publisher.sendPosition(fix);
    try {
      $("#preview").srcObject = await publisher.start();
    } catch (exc) {
      setLiveState("idle");
      toast(`${t("field.camera_error")}: ${exc.message}`, "error");
      publisher = null;
    }
  });

  // -- GPS ---------------------------------------------------------------------------------------------
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition((pos) => {
      fix = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy };
      $("#gps").textContent = `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)} ±${Math.round(fix.accuracy || 0)}m`;
      $("#gps").dataset.fix = "true";
      publisher?.sendPosition(fix);
    }, () => { $("#gps").textContent = t("field.gps.denied"); }, { enableHighAccuracy: true, maximumAge: 5000 });
  } else $("#gps").textContent = t("field.gps.denied");

  // -- reports and zones, through the outbox --------------------------------------------------------------
  async function file(path, body, form) {
    try {
      const { sent } = await send(path, body);
      toast(sent ? t("field.sent") : t("field.queued"), sent ? "ok" : "info");
      form?.reset();
      if (sent) loadIncidents().catch(() => {}); // its report clock shows "done" at once
      return { sent, queued: !sent };
    } catch (exc) { toast(exc.message, "error"); return { sent: false, queued: false }; }
  }
  $("#phone-report").addEventListener("click", async () => {
    const id = incidentId();
    $("#phone-report").disabled = true; // no second report from a double tap
    const body = { kind: "phone", note: fix ? `GPS ${fix.lat.toFixed(5)},${fix.lon.toFixed(5)}` : "" };
    const { sent, queued } = await file(`/api/incidents/${id}/reports`, body);
    if (sent || queued) {
      phoneSent.add(id);
      $("#phone-report").classList.add("done");
    } else {
      $("#phone-report").disabled = false;
    }
  });
  $("#written-form").addEventListener("submit", (event) => {
    event.preventDefault();
    file(`/api/incidents/${incidentId()}/reports`, { kind: "written", ...formData(event.target) }, event.target);
  });
  $("#zone-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = formData(event.target);
    const incident = incidents.find((i) => i.id === incidentId());
    const where = fix || incident?.location;
    if (!where) { toast(t("field.gps.none"), "error"); return; }
    const zone = { kind: data.kind, lat: where.lat, lon: where.lon, radius_m: data.radius_m || 50,
      teams: (data.teams || "").split(/[,，、]/).map((s) => s.trim()).filter(Boolean), note: data.note || "" };
    file(`/api/incidents/${incidentId()}/zones`, { zones: [zone] });
  });
  const showOutbox = (n) => { $("#outbox").hidden = n === 0; $("#outbox").textContent = t("field.outbox", { n }); };
  onOutboxChange(showOutbox);
  showOutbox(pendingCount());
  // Queued reports the server refused when they finally arrived: shown, with what they said, until read.
  const refusedLabel = (item) => {
    const [, incident, what] = item.path.match(/^\/api\/incidents\/(\d+)\/(reports|zones)$/) || [];
    const kind = what === "zones" ? "zones" : item.body?.kind === "phone" ? "phone" : "written";
    return incident ? t(`field.refused.${kind}`, { id: incident }) : item.path;
  };
  const refusedContent = (item) => ["headcount", "demands", "dynamics", "note"]
    .filter((k) => item.body?.[k]).map((k) => `${t(`field.refused.field.${k}`)}: ${item.body[k]}`).join("；");
  const showRefused = (items) => {
    const box = $("#outbox-refused");
    box.hidden = items.length === 0;
    fill(box,
      h("strong", {}, t("field.refused.title", { n: items.length })),
      h("ul", { class: "plain" }, ...items.map((item) => h("li", {},
        h("span", {}, `${refusedLabel(item)} · ${fmt(new Date(item.at), "time")}`),
        refusedContent(item) ? h("div", { class: "muted" }, refusedContent(item)) : "",
        h("div", { class: "reason" }, t("field.refused.reason", { reason: item.reason }))))),
      h("button", { type: "button", id: "outbox-refused-dismiss", onclick: () => dismissRefused() },
        t("field.refused.dismiss")));
  };
  onRefused(showRefused);
  showRefused(refused());
  startOutbox();

  // -- orders: delivered when they reach the phone, read when shown, acknowledged by a tap ---------------
  const receipt = (o) => (o.receipts || []).find((r) => r.user_id === user.id) || null;
  async function loadOrders() {
    const rows = await optional("/api/orders", null);
    orders = rows && rows.filter((o) => receipt(o));
    renderOrders();
    for (const o of orders || []) confirm(o);
  }
  async function confirm(order) {
    const mine = receipt(order);
    for (const step of ["delivered", "read"]) {
      if (mine && !mine[`${step}_at`]) {
        try { Object.assign(mine, await api.post(`/api/orders/${order.id}/${step}`)); } catch { return; }
      }
    }
  }
  function renderOrders() {
    const open = orders && orders.filter((o) => !receipt(o)?.acknowledged_at && !o.cancelled_at);
    $("#orders-count").textContent = open ? open.length : "—";
    fill($("#orders"), orders === null ? h("li", { class: "empty" }, t("board.not_available"))
      : orders.length ? orders.map((o) => {
        const acked = receipt(o)?.acknowledged_at;
        return markDrill(h("li", { class: `order${acked ? " acked" : ""}`, dataset: { id: o.id } },
          h("div", { class: "row" }, drillBadge(o), h("strong", {}, o.text)),
          h("div", { class: "muted" }, `${o.issued_by} · ${fmt(o.created_at, "short")}`),
          acked ? h("span", { class: "muted ack-done" }, `${t("field.acked")} ${fmt(acked, "time")}`)
            : o.cancelled_at ? h("span", { class: "muted order-cancelled" }, t("field.order_cancelled"))
            : h("button", { type: "button", class: "primary big ack", onclick: () => acknowledge(o) }, t("field.ack"))), o);
      }) : h("li", { class: "empty" }, t("field.no_orders")));
  }
  async function acknowledge(order) {
    try {
      const updated = await api.post(`/api/orders/${order.id}/acknowledge`, {});
      Object.assign(receipt(order), updated);
      renderOrders();
    } catch (exc) { toast(exc.message, "error"); }
  }
  function onUserMessage(data) {
    if (showDrillInject(data)) return;
    if (data.type === "order.issued" && data.order && orders) {
      if (!orders.some((o) => o.id === data.order.id)) orders.unshift(data.order);
      renderOrders();
      confirm(data.order).then(renderOrders);
      toast(data.order.text, "info");
      navigator.vibrate?.(300);
      return;
    }
    if (data.type?.startsWith("order.")) { loadOrders().catch(() => {}); return; }
    if (data.type?.startsWith("incident.") || data.type?.startsWith("deadline.")) loadIncidents().catch(() => {});
  }

  onLangChange(() => { loadIncidents().catch(() => {}); renderOrders(); setLiveState($("#live-state").dataset.state); });
  await loadOrders().catch(() => {}); // orders first: they say which incident is the officer's own
  await loadIncidents();
  hub.subscribe(`user:${user.id}`, { onMessage: onUserMessage, onReset: () => loadOrders().catch(() => {}) });
  hub.subscribe(boardChannel(user), { onMessage: (data) => {
    if (data.type === "incident.created" || data.type === "incident.closed") loadIncidents().catch(() => {});
  } });
  // A drill that addresses this officer opens its incident: the phone switches to it at once.
  watchDrills({ user, hub,
    onIncident: (id) => { localStorage.setItem(INCIDENT_KEY, id); loadIncidents(id).catch(() => {}); },
    onEnded: () => { loadIncidents().catch(() => {}); loadOrders().catch(() => {}); } });
  setupTalk({ user, hub, incidentId });
  document.body.dataset.ready = "true";

}

/** Push-to-talk on the chosen incident's talkgroup, and the command room's talk-back ("指挥中心正在讲话"). */
function setupTalk({ user, hub, incidentId }) {
  listenForTalkBack({ hub, user, banner: $("#talkback-banner") });
  let panel = null;
  const mount = () => {
    panel?.close();
    panel = incidentId() ? pttPanel({ hub, user, talkgroup: `incident:${incidentId()}`, incidentId: incidentId() }) : null;
    $("#ptt-slot").replaceChildren(...(panel ? [panel] : []));
  };
  $("#incident-select").addEventListener("change", mount);
  onLangChange(mount);
  mount();
}

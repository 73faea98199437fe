// The drill banner (演练进行中): shown on every page of someone a running drill addresses. The server tells
// each addressed person on its own `user:{id}` channel (`drill.notice`: started, incident, ended); a page
// opened during a drill learns it from GET /api/drills (participants see status only, never the plan).
import { optional } from "./api.js";
import { h } from "./dom.js";
import { onLangChange, t } from "./i18n.js";

/**
 * Show the banner and keep it current.
 * @param {{user: object, hub: object, onIncident?: (id: number) => void, onEnded?: (notice: object) => void}} opts
 *   `onIncident` runs when the drill opens its incident (the phone switches to it); `onEnded` when it ends.
 * @returns {{state: object}} the live state: {phase: null|"running"|"ended", drillId, incidentId, status, reason}
 */
export function watchDrills({ user, hub, onIncident = () => {}, onEnded = () => {} }) {
  const state = { phase: null, drillId: null, incidentId: null, status: null, reason: "" };
  let banner = null;

  function render() {
    if (!state.phase) { banner?.remove(); banner = null; document.body.dataset.drill = ""; return; }
    const ended = state.phase === "ended";
    document.body.dataset.drill = state.phase;
    const text = ended
      ? t(state.status === "stopped" ? "drillnotice.stopped" : "drillnotice.finished")
      : t("drillnotice.running");
    const next = h("div", { id: "drill-banner", class: `drill-banner${ended ? " ended" : ""}`, role: "alert",
      dataset: { phase: state.phase, drill: state.drillId ?? "" } },
      h("span", { class: "badge badge-drill" }, t("drill.badge")),
      h("strong", {}, text),
      ended && state.reason ? h("span", { class: "muted" }, `${t("drill.stopped_because")}: ${state.reason}`) : null,
      !ended ? h("span", { class: "muted" }, t("drillnotice.hint")) : null,
      state.incidentId && !ended ? h("a", { href: `/static/incident.html?id=${state.incidentId}` },
        `${t("drillnotice.incident")} #${state.incidentId}`) : null,
      ended ? h("button", { type: "button", class: "ghost", "aria-label": t("drillnotice.dismiss"),
        onclick: () => { state.phase = null; render(); } }, "×") : null);
    if (banner) banner.replaceWith(next); else document.body.prepend(next); // above the header, sticky
    banner = next;
  }

  function onNotice(data) {
    if (data.type !== "drill.notice") return;
    state.drillId = data.id;
    if (data.phase === "started") Object.assign(state, { phase: "running", incidentId: null });
    else if (data.phase === "incident") {
      Object.assign(state, { phase: "running", incidentId: data.incident_id });
      onIncident(data.incident_id);
    } else if (data.phase === "ended") {
      Object.assign(state, { phase: "ended", status: data.status, reason: data.reason || "" });
      onEnded(data);
    }
    render();
  }

  hub.subscribe(`user:${user.id}`, { onMessage: onNotice });
  onLangChange(render);
  optional("/api/drills", []).then((drills) => {
    const running = (drills || []).find((d) => d.status === "running");
    if (running && !state.phase) { Object.assign(state, { phase: "running", drillId: running.id }); render(); }
  });
  return { state };
}

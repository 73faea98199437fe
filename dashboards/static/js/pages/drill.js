// Drill console (organizer; evaluators read): scenarios, double-blind scheduling (only a commitment is
// shown before the start), the live score, and the real-world stop. Channels: board, drill:{id} of every
// drill not yet over, so the status (scheduled, running, finished, stopped) is live without a reload.
import { api, optional } from "../api.js";
import { $, fill, formData, h, params, refill, toast } from "../dom.js";
import { lang, onLangChange, t, tn } from "../i18n.js";
import { can } from "../nav.js";
import { drillBadge, boardChannel, startPage } from "../shell.js";
import { fmt, officeInputToIso } from "../time.js";
import { mountPlan } from "./drill-plan.js";

const page = await startPage("drill");
if (page) await run(page);

async function run({ user, hub }) {
  const manager = can.manageDrills(user.role);
  let scenarios = [];
  let drills = [];
  let selected = null;
  let score = null;
  let stopping = null; // the drill whose stop (or cancel) reason is being written
  const title = (o) => (lang() === "en" ? o.title_en || o.en : o.title_zh || o["zh-CN"]) || o.key;

  async function loadScenarios() {
    scenarios = manager ? (await optional("/api/drills/scenarios", [])) || [] : [];
    $("#schedule-panel").hidden = !manager;
    fill($("#scenarios"), scenarios.map((s) => h("li", {}, h("label", { class: "row" },
      h("input", { type: "checkbox", name: "pool", value: s.key, checked: true, style: { width: "auto" } }),
      h("span", { class: "grow" }, title(s), " ", h("span", { class: "badge" }, tn("category", s.category)))))));
  }

  const watched = new Map(); // drill id -> unsubscribe, for every drill not yet over
  const STATUS_EVENTS = new Set(["drill.started", "drill.finished", "drill.stopped"]);
  const isActive = (d) => d && (d.status === "running" || d.status === "scheduled");

  function onDrillEvent(id, data) {
    if (STATUS_EVENTS.has(data.type)) { loadDrills().then(loadScore); return; }
    if (id === selected) loadScore();
  }

  function watchActive() {
    for (const d of drills) {
      if (isActive(d) && !watched.has(d.id)) {
        watched.set(d.id, hub.subscribe(`drill:${d.id}`, { onMessage: (data) => onDrillEvent(d.id, data) }));
      } else if (!isActive(d) && watched.has(d.id)) {
        watched.get(d.id)();
        watched.delete(d.id);
      }
    }
  }

  async function loadDrills() {
    drills = (await optional("/api/drills", [])) || [];
    watchActive();
    fill($("#drills"), drills.length ? drills.slice().reverse().map((d) => h("li", {
      class: d.id === selected ? "selected" : null, dataset: { id: d.id, status: d.status } },
      h("a", { href: `?id=${d.id}`, onclick: (e) => { e.preventDefault(); select(d.id); } },
        drillBadge(d), ` #${d.id} `, d.scenario_title ? title(d.scenario_title) : t("drill.sealed")),
      h("span", {}, h("span", { class: "badge" }, tn("drill.status", d.status)), " ",
        d.window_start ? `${fmt(d.window_start, "short")} – ${fmt(d.window_end, "short")}` : ""),
      h("span", { class: "commitment" }, `${t("drill.commitment")}: ${d.commitment}`)))
      : h("li", { class: "empty" }, t("drill.no_runs")));
  }

  async function select(id) {
    selected = id;
    history.replaceState(null, "", `?id=${id}`);
    await loadDrills();
    await loadScore();
  }

  async function loadScore() {
    if (!selected) return;
    const drill = drills.find((d) => d.id === selected);
    if (!drill?.started_at) {
      score = { status: drill?.status }; // no score before the start (asking would be a 400)
    } else {
      try {
        score = await api.get(`/api/drills/${selected}/score`);
      } catch (exc) {
        score = { status: drill?.status, note: exc.message };
      }
    }
    $("#drill-title").textContent = drill?.scenario_title ? title(drill.scenario_title) : `#${selected}`;
    const s = score?.score;
    const active = isActive(drill);
    const status = drill?.status || score?.status;
    refill($("#score"),
      h("div", { class: "row" }, h("span", { class: "score-big", id: "overall" }, s?.overall != null ? s.overall.toFixed(1) : "—"),
        s?.rating ? h("span", { class: `rating rating-${s.rating}` }, s.rating) : null,
        s?.capped ? h("span", { class: "badge" }, t("drill.capped")) : null,
        h("span", { class: "badge", id: "drill-status", dataset: { status } }, tn("drill.status", status))),
      score?.note ? h("p", { class: "muted" }, score.note) : null,
      drill?.stop_reason ? h("p", { class: "error" }, `${t("drill.stopped_because")}: ${drill.stop_reason}`) : null,
      s ? h("div", { class: "table-wrap" }, h("table", { class: "grid" }, h("thead", {}, h("tr", {}, ["review.check", "drill.status", "review.elapsed", "review.score", "review.rating"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, s.checks.map((c) => h("tr", { dataset: { check: c.check_id } },
          h("td", {}, score.check_titles?.[c.check_id] ? title(score.check_titles[c.check_id]) : c.check_id,
            c.critical ? " *" : ""), h("td", {}, tn("check.status", c.status)),
          h("td", {}, c.elapsed != null ? `${c.elapsed.toFixed(1)} ${t("unit.min")}` : "—"),
          h("td", {}, c.score != null ? (c.score * 100).toFixed(0) : "—"), // out of 100, like the overall
          h("td", {}, c.rating ? h("span", { class: `rating rating-${c.rating}` }, c.rating) : "—")))))) : null,
      // Not started yet, it is cancelled, not stopped for a real-world event (a page walk read it so).
      manager && active && stopping === selected ? stopForm(status) : null,
      manager && active && stopping !== selected ? h("button", { type: "button", class: "danger big", id: "stop-drill",
        onclick: () => { stopping = selected; loadScore().then(() => $("#stop-form textarea")?.focus()); } },
      t(status === "scheduled" ? "drill.cancel" : "drill.stop")) : null);
  }

  // The reason is asked in the panel, not in a prompt(), which froze the page (the live score, the hub)
  // while open and dropped an emptied answer without a word. The panel is re-rendered by live updates;
  // refill keeps what is typed.
  function stopForm(status) {
    const scheduled = status === "scheduled";
    const form = h("form", { class: "stack stop-drill", id: "stop-form" },
      h("label", {}, h("span", {}, t(scheduled ? "drill.cancel_confirm" : "drill.stop_confirm")),
        h("textarea", { name: "reason", required: true, maxlength: 500, rows: 2 },
          t(scheduled ? "drill.cancel_reason_default" : "drill.stop_reason_default"))),
      h("div", { class: "row" },
        h("button", { type: "submit", class: "danger", id: "stop-confirm" }, t(scheduled ? "drill.cancel" : "drill.stop")),
        h("button", { type: "button", onclick: () => { stopping = null; loadScore(); } }, t("drill.stop_back"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = form.elements.reason.value.trim();
      if (!reason) { form.elements.reason.focus(); return; }
      for (const button of form.querySelectorAll("button")) button.disabled = true;
      try {
        await api.post(`/api/drills/${selected}/stop`, { reason });
        stopping = null;
        toast(t("drill.stopped"), "ok");
        await loadDrills();
        await loadScore();
      } catch (exc) {
        toast(exc.message, "error");
        for (const button of form.querySelectorAll("button")) button.disabled = false;
      }
    });
    return form;
  }

  $("#schedule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = formData(event.target);
    const pool = [...document.querySelectorAll("input[name=pool]:checked")].map((el) => el.value);
    try {
      const drill = await api.post("/api/drills", {
        window_start: officeInputToIso(data.window_start), window_end: officeInputToIso(data.window_end),
        scenarios: pool, time_scale: data.time_scale || 1,
        single_scenario: event.target.elements.single_scenario.checked && pool.length === 1 });
      toast(t("drill.scheduled"), "ok");
      await select(drill.id);
    } catch (exc) { toast(exc.message, "error"); }
  });

  onLangChange(() => { loadScenarios(); loadDrills(); loadScore(); });
  const [, , refreshPlan] = await Promise.all([loadScenarios(), loadDrills(), mountPlan($("#plan-panel"))]);
  const wanted = Number(params().get("id")) || drills.find((d) => d.status === "running")?.id || drills.at(-1)?.id;
  if (wanted) await select(wanted);
  hub.subscribe(boardChannel(user), { onMessage: (data) => {
    if (data.type?.startsWith("drill.")) loadDrills().then(loadScore);
    // The plan was read once: a drill that ends holds its quarter and opens a review meeting (found in a
    // page walk: the plan stayed stale until a reload).
    if (data.type?.startsWith("drill.") || data.type?.startsWith("review.")) refreshPlan().catch(() => {});
  } });
  // The hub carries every change; this slow refresh only covers a hub that is down or reconnecting.
  setInterval(() => { if (hub.status !== "online" && drills.some(isActive)) loadDrills().then(loadScore); }, 5000);
  setInterval(() => { if (drills.find((d) => d.id === selected)?.status === "running") loadScore(); }, 5000);
  document.body.dataset.ready = "true";
}

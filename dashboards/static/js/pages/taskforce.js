// Task-force channel ("1 + N"): messages, member departments with presence, tasks with deadlines,
// first-receiver matters and handovers. Channel: taskforce:{id}.
import { api, optional } from "../api.js";
import { countdown } from "../countdown.js";
import { $, fill, formData, h, params, refill, toast } from "../dom.js";
import { onLangChange, t } from "../i18n.js";
import { can } from "../nav.js";
import { deptName, joinNames, drillBadge, loadDepartments, loadPeople, markDrill, boardChannel, personName, startPage } from "../shell.js";
import { fmt, officeInputToIso } from "../time.js";
import { watchDrills } from "../drillnotice.js";
import { pttPanel } from "../ptt.js";

const page = await startPage("taskforce");
if (page) await run(page);

async function run({ user, hub }) {
  const departments = await loadDepartments();
  await loadPeople();
  let list = await api.get("/api/taskforces");
  let current = null;
  let messages = [];
  let tasks = [];
  let matters = [];
  let online = [];
  let unsubscribe = null;
  const completing = new Set(); // tasks whose completion note is being written
  const refusing = new Set(); // matters whose refusal reason is being written
  const manager = can.commandIncidents(user.role) || user.role === "duty_officer";
  // Who sets task forces up and changes their members ("1 + N": the section leads, N departments join).
  const organiser = can.manageTaskforces(user.role);

  function renderList() {
    fill($("#taskforces"), list.length ? list.map((tf) => markDrill(h("li", { class: tf.id === current?.id ? "selected" : null, dataset: { id: tf.id } },
      h("div", { class: "row" }, drillBadge(tf), h("a", { href: `?id=${tf.id}`, onclick: (e) => { e.preventDefault(); select(tf.id); } }, tf.name)),
      h("span", { class: "muted" }, `${deptName(tf.lead_department)} + ${tf.members.filter((m) => m.role !== "lead").length}`)), tf))
      : h("li", { class: "empty" }, t("taskforce.none")));
  }

  async function select(id) {
    current = list.find((tf) => tf.id === id) || null;
    history.replaceState(null, "", current ? `?id=${id}` : location.pathname);
    renderList();
    if (!current) return;
    unsubscribe?.();
    await loadAll();
    unsubscribe = hub.subscribe(`taskforce:${id}`, { onMessage, onReset: loadAll });
    mountTalk({ user, hub, id });
    refreshPresence();
  }

  async function loadAll() {
    const id = current.id;
    [current, messages, tasks, matters] = await Promise.all([
      api.get(`/api/taskforces/${id}`), api.get(`/api/taskforces/${id}/messages`),
      api.get(`/api/taskforces/${id}/tasks`), optional("/api/matters", []),
    ]);
    matters = (matters || []).filter((m) => m.taskforce_id === id);
    render();
  }

  function render() {
    const closed = Boolean(current.closed_at);
    fill($("#tf-name"), drillBadge(current), current.name,
      closed ? h("span", { class: "badge", id: "tf-closed" }, t("taskforce.closed")) : null);
    // A closed task force (a drill's, after the drill) takes nothing more: no message, task or matter.
    for (const form of ["#message-form", "#task-form", "#matter-form"]) {
      for (const el of $(form).elements) el.disabled = closed;
    }
    $("#tf-purpose").textContent = current.purpose;
    renderMembers();
    renderMessages();
    renderTasks();
    renderMatters();
  }

  function renderMembers() {
    const here = new Set(online.map((u) => u.department));
    const changeable = organiser && !current.closed_at;
    fill($("#members"), current.members.map((m) => h("li", { dataset: { department: m.department } },
      h("span", {}, h("span", { class: `presence-dot${here.has(m.department) ? " on" : ""}` }), deptName(m.department),
        m.role === "lead" ? h("span", { class: "badge" }, t("taskforce.lead")) : null),
      h("span", { class: "muted" }, joinNames(online.filter((u) => u.department === m.department).map((u) => personName(u.name)))),
      changeable && m.role !== "lead" ? h("button", { type: "button", class: "small", dataset: { remove: m.department },
        onclick: () => removeMember(m.department) }, t("taskforce.remove_member")) : null)));
    const joined = new Set(current.members.map((m) => m.department));
    const others = departments.filter((d) => !joined.has(d.code));
    $("#member-form").hidden = !changeable || others.length === 0;
    fill($("#member-add"), others.map((d) => h("option", { value: d.code }, deptName(d.code)))); // keeps the choice
  }

  async function removeMember(code) {
    if (!confirm(t("taskforce.remove_confirm", { dept: deptName(code) }))) return;
    try { await api.del(`/api/taskforces/${current.id}/members/${encodeURIComponent(code)}`); await loadAll(); }
    catch (exc) { toast(exc.message, "error"); }
  }

  function renderMessages() {
    const box = $("#messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const sorted = [...messages].sort((a, b) => a.id - b.id);
    fill(box, sorted.map((m) => markDrill(h("div", { class: "message", dataset: { id: m.id } },
      h("div", { class: "who" }, drillBadge(m), `${personName(m.author_name)} · ${deptName(m.author_department)} · ${fmt(m.at, "short")}`),
      h("div", {}, m.text ?? m.body)), m)));
    if (atBottom || sorted.length < 30) box.scrollTop = box.scrollHeight;
  }

  function renderTasks() {
    // refill: a completion note being written survives the live updates that re-render the list.
    refill($("#tasks"), tasks.length ? tasks.map((task) => {
      const mine = task.owner_department === user.department || user.role === "admin";
      return markDrill(h("li", { dataset: { id: task.id, status: task.status } },
        h("div", { class: "row" }, drillBadge(task), h("strong", {}, task.title),
          h("span", { class: "badge" }, t(`taskforce.status.${task.status}`))),
        h("div", { class: "row muted" }, deptName(task.owner_department),
          task.status === "done" ? fmt(task.completed_at, "short") : task.status === "cancelled" ? ""
            : countdown({ kind: "task", due_at: task.due_at, status: task.overdue ? "missed" : undefined }, { label: false })),
        task.completion_note ? h("div", { class: "muted" }, task.completion_note) : null,
        mine && (task.status === "open" || task.status === "acknowledged") && !current.closed_at ? h("div", { class: "task-actions" },
          // Receipt first, then completion (the server refuses the other order): one step shown at a time.
          task.status === "open"
            ? h("button", { type: "button", class: "primary", onclick: () => act(`/api/tasks/${task.id}/acknowledge`) }, t("taskforce.ack"))
            : completing.has(task.id) ? null
              : h("button", { type: "button", class: "primary", onclick: () => openForm(completing, task.id, renderTasks, "#tasks") }, t("taskforce.complete"))) : null,
        completing.has(task.id) && task.status === "acknowledged" ? writtenForm({
          kind: "complete-form", name: "note", maxlength: 4000, label: t("taskforce.complete_note", { title: task.title }),
          submit: t("taskforce.complete_confirm"),
          send: (note) => act(`/api/tasks/${task.id}/complete`, { note }),
          close: () => { completing.delete(task.id); renderTasks(); } }) : null), task);
    }) : h("li", { class: "empty" }, t("board.none")));
    const form = $("#task-form");
    form.hidden = !manager;
    if (manager) fill($("#task-owner"), current.members.map((m) => h("option", { value: m.department }, deptName(m.department))));
  }

  function renderMatters() {
    // Any event on the channel reloads the matters: a handover being written survives it.
    refill($("#matters"), matters.length ? matters.map((m) => h("li", { dataset: { id: m.id } },
      h("strong", {}, m.title),
      h("div", { class: "muted" }, `${t("incident.first_department")}: ${deptName(m.first_department)} · ${t("taskforce.owner")}: ${deptName(m.owner_department)}`),
      m.pending_department ? h("div", { class: "row" }, h("span", { class: "badge colour-orange" }, t("taskforce.pending_to", { dept: deptName(m.pending_department) })),
        m.pending_reason,
        m.pending_department === user.department ? [
          h("button", { type: "button", class: "primary", onclick: () => act(`/api/matters/${m.id}/accept`, {}) }, t("taskforce.accept")),
          refusing.has(m.id) ? null : h("button", { type: "button", onclick: () => openForm(refusing, m.id, renderMatters, "#matters") }, t("taskforce.refuse"))] : null) : null,
      refusing.has(m.id) && m.pending_department === user.department ? writtenForm({
        kind: "refuse-form", name: "reason", maxlength: 1000, label: t("taskforce.refuse_reason", { title: m.title || "" }),
        submit: t("taskforce.refuse_confirm"),
        send: (reason) => act(`/api/matters/${m.id}/refuse`, { reason }),
        close: () => { refusing.delete(m.id); renderMatters(); } }) : null,
      !m.pending_department && m.owner_department === user.department ? handoverForm(m) : null))
      : h("li", { class: "empty" }, t("board.none")));
  }

  // First-receiver responsibility: the owner leads until another department explicitly accepts.
  function handoverForm(matter) {
    const form = h("form", { class: "row handover" },
      h("select", { name: "to_department" }, current.members.filter((d) => d.department !== user.department)
        .map((d) => h("option", { value: d.department }, deptName(d.department)))),
      h("input", { name: "reason", class: "grow", required: true, placeholder: t("incident.reason") }),
      h("button", { type: "submit" }, t("taskforce.handover")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(`/api/matters/${matter.id}/handover`, formData(form));
    });
    return form;
  }

  /** POST, then reload; whether it went through (a refusal is shown as a toast). */
  async function act(path, body) {
    try { await api.post(path, body); await loadAll(); return true; } catch (exc) { toast(exc.message, "error"); return false; }
  }
  // Completing a task and refusing a matter need a written text: asked in the item itself, not in a
  // prompt(), which stopped the page (live updates, the hub) while open and dropped an empty answer silently.
  function writtenForm({ kind, name, maxlength, label, submit, send, close }) {
    const text = h("textarea", { name, required: true, maxlength, rows: 2 });
    const form = h("form", { class: `stack ${kind}` },
      h("label", {}, h("span", {}, label), text),
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary" }, submit),
        h("button", { type: "button", onclick: close }, t("incident.cancel"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = form.elements[name].value.trim();
      if (!value) { form.elements[name].focus(); return; }
      for (const button of form.querySelectorAll("button")) button.disabled = true;
      if (await send(value)) close();
      else for (const button of form.querySelectorAll("button")) button.disabled = false;
    });
    return form;
  }
  /** Open an item's written form (ids in `open`) and put the cursor in it. */
  function openForm(open, id, render, list) {
    open.add(id);
    render();
    $(`${list} [data-id="${id}"] textarea`)?.focus();
  }

  function onMessage(data) {
    if (data.type === "taskforce.message" && data.message) {
      if (!messages.some((m) => m.id === data.message.id)) messages.push(data.message);
      renderMessages();
      return;
    }
    loadAll().catch(() => {});
  }

  async function refreshPresence() {
    if (!current) return;
    online = (await hub.presence(`taskforce:${current.id}`)) || [];
    renderMembers();
  }

  $("#message-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    const input = $("#message-input");
    try {
      const message = await api.post(`/api/taskforces/${current.id}/messages`, { text: input.value });
      if (!messages.some((m) => m.id === message.id)) messages.push(message);
      input.value = "";
      renderMessages();
    } catch (exc) { toast(exc.message, "error"); }
  });
  $("#task-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = formData(event.target);
    data.due_at = officeInputToIso(data.due_at); // entered in office time, whatever the browser's zone
    try { await api.post(`/api/taskforces/${current.id}/tasks`, data); event.target.reset(); await loadAll(); }
    catch (exc) { toast(exc.message, "error"); }
  });

  $("#member-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post(`/api/taskforces/${current.id}/members`, { departments: [formData(event.target).department] });
      await loadAll();
    } catch (exc) { toast(exc.message, "error"); }
  });

  // A new task force: the section leads; the departments ticked are the N.
  $("#taskforce-new").hidden = !organiser;
  fill($("#taskforce-departments"), departments.filter((d) => d.code !== "section").map((d) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "members", value: d.code }), deptName(d.code))));
  $("#taskforce-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const members = [...form.querySelectorAll("input[name=members]:checked")].map((box) => box.value);
    try {
      const created = await api.post("/api/taskforces", { name: form.name.value, purpose: form.purpose.value, members });
      form.reset();
      $("#taskforce-new").open = false;
      list = await api.get("/api/taskforces");
      await select(created.id);
    } catch (exc) { toast(exc.message, "error"); }
  });

  $("#matter-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api.post("/api/matters", { ...formData(event.target), taskforce_id: current.id }); event.target.reset(); await loadAll(); }
    catch (exc) { toast(exc.message, "error"); }
  });

  onLangChange(() => { renderList(); if (current) render(); });
  renderList();
  const wanted = Number(params().get("id")) || list[0]?.id;
  if (wanted) await select(wanted);
  hub.subscribe(boardChannel(user), { onMessage: async (data) => {
    if (data.type !== "taskforce.created" && data.type !== "taskforce.closed") return;
    list = await api.get("/api/taskforces");
    // A drill's task force comes up at once: the liaison works in it while the drill runs.
    if (data.type === "taskforce.created" && (data.drill || !current)) await select(data.id);
    else if (current?.id === data.id) await loadAll();
    else renderList();
  } });
  watchDrills({ user, hub });
  setInterval(refreshPresence, 15000);
  // Until the hub confirms the channel (offline, or the channel refused), poll the snapshot instead.
  setInterval(() => { if (current && hub.position(`taskforce:${current.id}`) === null) loadAll().catch(() => {}); }, 5000);
  document.body.dataset.ready = "true";
}

/** The selected task force's push-to-talk talkgroup (taskforce:{id}); one panel at a time. State lives on
 * the function: the page runs (top-level await) before module-level bindings below it exist. */
function mountTalk(where) {
  if (!mountTalk.hooked) {
    mountTalk.hooked = true;
    onLangChange(() => { if (mountTalk.where) mountTalk(mountTalk.where); });
  }
  mountTalk.where = where;
  mountTalk.panel?.close();
  const panel = pttPanel({ hub: where.hub, user: where.user, talkgroup: `taskforce:${where.id}` });
  panel.classList.remove("panel");
  mountTalk.panel = panel;
  $("#ptt-slot").replaceChildren(panel);
}

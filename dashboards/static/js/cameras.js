// The video wall's pictures from elsewhere: a commander pulls an RTSP/RTMP camera onto the wall
// (POST /api/streams/pull) or relays a stream of another command centre, superior or subordinate
// (POST /api/streams/cascade), both allow-listed by the administrator, and stops either
// (DELETE /api/streams/{id}). They are recorded and forwarded like body-cam streams, without transcoding.
import { api } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { t } from "./i18n.js";

/** Whether a stream was pulled from a camera platform rather than published by a person or a device. */
export const isPulled = (info) => /^(rtsp|rtmp):\/\//.test(info.source || "");
/** Whether a stream is relayed from another command centre (its source is `{centre}/streams/{id}`). */
export const isCascaded = (info) => /^https?:\/\/.+\/streams\/[^/]+$/.test(info.source || "");
/** Whether a commander may stop the stream from the wall: what this centre brought in, not a person's. */
export const isBroughtIn = (info) => isPulled(info) || isCascaded(info);

// Texts carry data-i18n, so a language switch (applyI18n) re-words a panel without rebuilding it.
const label = (key) => h("span", { "data-i18n": key }, t(key));

/** Submit `body()` to `path` with the panel's status line; `onChange` reloads the wall on success. */
function submitTo(path, body, { status, submit, adding, added, onChange }) {
  return async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    submit.disabled = true;
    status.classList.replace("error", "muted");
    status.textContent = t(adding);
    try {
      const stream = await api.post(path, body());
      status.textContent = "";
      toast(t(added, { name: stream.officer }), "success");
      form.reset();
      await onChange(stream);
    } catch (exc) {
      status.classList.replace("muted", "error");
      status.textContent = exc.message; // the server's reason, translated (unreachable, not allowed, codec)
    } finally {
      submit.disabled = false;
    }
  };
}

/** The "add a camera" form; `incidents()` lists the open incidents to link to, `onChange` reloads the wall. */
export function cameraForm({ incidents, onChange }) {
  const status = h("p", { class: "intake-status camera-status muted", role: "status" });
  const url = h("input", { name: "url", required: true, maxlength: 500, pattern: "(rtsp|rtmp)://.+", placeholder: "rtsp://192.168.1.20:554/stream1", autocomplete: "off" });
  const name = h("input", { name: "officer", maxlength: 200, placeholder: t("video.cameras.name"), "data-i18n-placeholder": "video.cameras.name" });
  const incident = h("select", { name: "incident_id" });
  const submit = h("button", { type: "submit", class: "primary", "data-i18n": "video.cameras.add" }, t("video.cameras.add"));
  const fillIncidents = () => fill(incident, // the open incidents as they are now (fill keeps the choice)
    h("option", { value: "" }, t("video.cameras.none")),
    ...incidents().map((i) => h("option", { value: String(i.id) }, i.title)));
  const body = () => {
    const data = { url: url.value.trim() };
    if (name.value.trim()) data.officer = name.value.trim();
    if (incident.value) data.incident_id = Number(incident.value);
    return data;
  };
  const form = h("form", { class: "stack camera-form", onsubmit: submitTo("/api/streams/pull", body,
    { status, submit, adding: "video.cameras.adding", added: "video.cameras.added", onChange }) },
  h("label", {}, label("video.cameras.url"), url),
  h("label", {}, label("video.cameras.name"), name),
  h("label", { onfocusin: fillIncidents }, label("video.cameras.incident"), incident),
  submit, status);
  fillIncidents();
  return h("details", { class: "panel intake-panel camera-panel" },
    h("summary", {}, label("video.cameras.title")),
    h("p", { class: "muted hint", "data-i18n": "video.cameras.hint" }, t("video.cameras.hint")),
    form);
}

/** The "relay another centre's stream" form: the centre's address, its stream id and a token valid there. */
export function cascadeForm({ onChange }) {
  const status = h("p", { class: "intake-status cascade-status muted", role: "status" });
  const source = h("input", { name: "source", type: "url", required: true, maxlength: 500, pattern: "https?://.+", placeholder: "https://zhihui.example.gov.cn", autocomplete: "off" });
  const stream = h("input", { name: "stream_id", required: true, maxlength: 64, pattern: "[A-Za-z0-9_\\-]+", autocomplete: "off" });
  // The token is the other centre's secret: never shown, never remembered by the browser.
  const token = h("input", { name: "token", type: "password", required: true, maxlength: 200, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary", "data-i18n": "video.cascade.add" }, t("video.cascade.add"));
  const body = () => ({ source: source.value.trim(), stream_id: stream.value.trim(), token: token.value.trim() });
  const form = h("form", { class: "stack cascade-form", onsubmit: submitTo("/api/streams/cascade", body,
    { status, submit, adding: "video.cascade.adding", added: "video.cascade.added", onChange }) },
  h("label", {}, label("video.cascade.source"), source),
  h("label", {}, label("video.cascade.stream"), stream),
  h("label", {}, label("video.cascade.token"), token),
  submit, status);
  return h("details", { class: "panel intake-panel cascade-panel" },
    h("summary", {}, label("video.cascade.title")),
    h("p", { class: "muted hint", "data-i18n": "video.cascade.hint" }, t("video.cascade.hint")),
    form);
}

/** A pulled tile's "stop" button: ends the pull (and its recording) after a confirmation. */
export function stopButton(info, label, onChange) {
  return h("button", { type: "button", class: "stop-pull", onclick: async (event) => {
    event.stopPropagation();
    if (!window.confirm(t("video.cameras.confirm_stop", { name: label }))) return;
    try {
      await api.del(`/api/streams/${encodeURIComponent(info.id)}`);
      toast(t("video.cameras.stopped", { name: label }), "success");
      await onChange();
    } catch (exc) {
      toast(exc.message, "error");
    }
  } }, t("video.cameras.stop"));
}

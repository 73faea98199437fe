// The video wall's cameras of other platforms: a commander pulls an RTSP/RTMP camera onto the wall
// (POST /api/streams/pull, allow-listed by the administrator) and stops it (DELETE /api/streams/{id}).
// Pulled streams are recorded and forwarded like body-cam streams, without transcoding.
import { api } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { t } from "./i18n.js";

/** Whether a stream was pulled from a camera platform rather than published by a person or a device. */
export const isPulled = (info) => /^(rtsp|rtmp):\/\//.test(info.source || "");

/** The "add a camera" form; `incidents()` lists the open incidents to link to, `onChange` reloads the wall. */
export function cameraForm({ incidents, onChange }) {
  const status = h("p", { class: "camera-status muted", role: "status" });
  const url = h("input", { name: "url", required: true, maxlength: 500, pattern: "(rtsp|rtmp)://.+", placeholder: "rtsp://192.168.1.20:554/stream1", autocomplete: "off" });
  const name = h("input", { name: "officer", maxlength: 200, placeholder: t("video.cameras.name"), "data-i18n-placeholder": "video.cameras.name" });
  const incident = h("select", { name: "incident_id" });
  const submit = h("button", { type: "submit", class: "primary", "data-i18n": "video.cameras.add" }, t("video.cameras.add"));
  // Texts carry data-i18n, so a language switch (applyI18n) re-words the panel without rebuilding it.
  const text = (key) => h("span", { "data-i18n": key }, t(key));
  const fillIncidents = () => fill(incident, // the open incidents as they are now (fill keeps the choice)
    h("option", { value: "" }, t("video.cameras.none")),
    ...incidents().map((i) => h("option", { value: String(i.id) }, i.title)));
  const form = h("form", { class: "stack camera-form", onsubmit: async (event) => {
    event.preventDefault();
    const body = { url: url.value.trim() };
    if (name.value.trim()) body.officer = name.value.trim();
    if (incident.value) body.incident_id = Number(incident.value);
    submit.disabled = true;
    status.className = "camera-status muted";
    status.textContent = t("video.cameras.adding");
    try {
      const stream = await api.post("/api/streams/pull", body);
      status.textContent = "";
      toast(t("video.cameras.added", { name: stream.officer }), "success");
      form.reset();
      await onChange(stream);
    } catch (exc) {
      status.className = "camera-status error";
      status.textContent = exc.message; // the server's reason, translated (unreachable, not allowed, codec)
    } finally {
      submit.disabled = false;
    }
  } },
  h("label", {}, text("video.cameras.url"), url),
  h("label", {}, text("video.cameras.name"), name),
  h("label", { onfocusin: fillIncidents }, text("video.cameras.incident"), incident),
  submit, status);
  fillIncidents();
  return h("details", { class: "panel camera-panel" },
    h("summary", {}, text("video.cameras.title")),
    h("p", { class: "muted hint", "data-i18n": "video.cameras.hint" }, t("video.cameras.hint")),
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

// GB/T 28181 devices: online state, last keepalive, channels, position and the hop-by-hop diagnosis of the
// last failed play; admins register devices; anyone who may watch streams can watch a device (audited).
import { api, optional } from "../api.js";
import { $, fill, formData, h } from "../dom.js";
import { onLangChange, t } from "../i18n.js";
import { boardChannel, startPage } from "../shell.js";
import { fmt } from "../time.js";

const HOPS = ["signalling", "rtp_arrival", "ssrc", "ps_parse", "keyframe", "codec"];

const page = await startPage("devices");
if (page) await run(page);

async function run({ user, hub }) {
  let devices = [];
  let pc = null;

  function status(d) {
    if (!d.gateway) return h("span", { class: "muted" }, t("devices.gateway_off"));
    return d.online
      ? h("span", { class: "badge badge-online" }, t("devices.online"))
      : h("span", { class: "badge badge-offline", title: d.offline_reason || "" }, t("devices.offline"),
        d.offline_reason ? ` · ${d.offline_reason}` : "");
  }

  function diagnosis(d) {
    const diag = d.diagnosis;
    if (!diag) return h("span", { class: "muted" }, "—");
    const failed = diag.hops.find((hop) => hop.ok === false);
    return h("div", { class: "diagnosis" },
      h("ol", { class: "hops" }, HOPS.map((name) => {
        const hop = diag.hops.find((x) => x.name === name) || { ok: null };
        const mark = hop.ok === true ? "✓" : hop.ok === false ? "✗" : "·";
        return h("li", { class: `hop hop-${hop.ok === true ? "ok" : hop.ok === false ? "bad" : "skip"}`, title: hop.detail || "" },
          `${mark} ${t(`devices.hop.${name}`)}`);
      })),
      failed ? h("p", { class: "error" }, t(`devices.fix.${failed.name}`)) : null,
      failed ? h("p", { class: "muted detail" }, failed.detail) : null,
      failed?.setting ? h("p", {}, `${t("devices.setting")}: `, h("code", {}, failed.setting)) : null,
      h("p", { class: "muted" }, fmt(diag.at, "datetime")));
  }

  function row(d) {
    const pos = d.position;
    return h("tr", { dataset: { device: d.device_id } },
      h("td", {}, h("strong", {}, d.name || d.device_id), h("div", { class: "muted mono" }, d.device_id)),
      h("td", {}, d.officer || "—"),
      h("td", { class: "state" }, status(d)),
      h("td", {}, d.last_keepalive ? fmt(d.last_keepalive, "time") : "—"),
      h("td", {}, d.transport ? `${d.transport} ${d.address || ""}` : "—"),
      h("td", {}, d.channels.length ? d.channels.map((c) => c.name || c.id).join("、") : "—"),
      h("td", {}, pos ? `${Number(pos.lat).toFixed(5)}, ${Number(pos.lon).toFixed(5)}` : "—"),
      h("td", {}, diagnosis(d)),
      h("td", {}, h("button", { type: "button", class: "watch", disabled: !d.online, onclick: () => watch(d) }, t("devices.watch"))));
  }

  function render() {
    const head = h("tr", {}, ["device", "officer", "state", "keepalive", "transport", "channels", "position", "diagnosis", ""]
      .map((key) => h("th", {}, key ? t(`devices.col.${key}`) : "")));
    const body = devices.length ? devices.map(row) : h("tr", {}, h("td", { colspan: 9, class: "empty" }, t("devices.none")));
    fill($("#devices"), h("thead", {}, head), h("tbody", {}, body));
  }

  async function load() {
    devices = (await optional("/api/devices", [])) || [];
    render();
  }

  async function watch(d) {
    pc?.close();
    pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    const media = new MediaStream();
    pc.ontrack = (event) => { media.addTrack(event.track); $("#player-video").srcObject = media; };
    $("#player").hidden = false;
    $("#player-title").textContent = `${d.name || d.device_id} · ${t("devices.connecting")}`;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await api.post(`/api/devices/${encodeURIComponent(d.device_id)}/view`,
        { sdp: pc.localDescription.sdp, type: "offer" });
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      $("#player-title").textContent = d.name || d.device_id;
    } catch (exc) {
      $("#player-title").textContent = `${d.name || d.device_id} · ${exc.message}`;
      await load();
    }
  }

  $("#player-close").addEventListener("click", () => { pc?.close(); pc = null; $("#player").hidden = true; });
  if (user.role === "admin") {
    $("#register").hidden = false;
    $("#register-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("#register-error").textContent = "";
      try {
        await api.post("/api/devices", formData(event.target));
        event.target.reset();
        await load();
      } catch (exc) {
        $("#register-error").textContent = exc.message;
      }
    });
  }
  onLangChange(render);
  await load();
  hub.subscribe(boardChannel(user), { onMessage: (data) => { if (data.type?.startsWith("device.")) load().catch(() => {}); } });
  setInterval(() => load().catch(() => {}), 10000); // last keepalive moves without an announcement
  document.body.dataset.ready = "true";
}

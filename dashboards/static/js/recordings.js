// Recorded segments in the page: play inline (the browser fetches byte ranges) or download, each with the
// SHA-256 its manifest holds. Asking for a segment's link is what the server audits as a view.
import { api } from "./api.js";
import { h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { fmt } from "./time.js";

const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round((n || 0) / 1024))} KB`);

async function link(streamId, file) {
  return api.post(`/api/streams/${encodeURIComponent(streamId)}/recordings/${encodeURIComponent(file)}/link`);
}

/** One list item per segment; `player` is the element a played segment's <video> goes into. */
export function recordingItem(streamId, segment, player) {
  const play = async () => {
    try {
      const { url, sha256 } = await link(streamId, segment.file);
      const video = h("video", { controls: true, autoplay: true, playsinline: true, src: url, class: "recording-video",
        dataset: { file: segment.file } });
      video.muted = true;
      player.replaceChildren(h("div", { class: "muted" }, `${segment.file} · SHA-256 ${sha256}`), video);
      player.hidden = false;
    } catch (exc) { toast(exc.message, "error"); }
  };
  const save = async () => {
    try {
      const { download_url: url } = await link(streamId, segment.file);
      const anchor = h("a", { href: url, download: segment.file });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
    } catch (exc) { toast(exc.message, "error"); }
  };
  return h("li", { class: "recording", dataset: { file: segment.file } },
    h("div", { class: "row" },
      h("strong", {}, `${fmt(segment.started_at, "short")} – ${fmt(segment.ended_at, "time")}`),
      h("span", { class: "muted" }, size(segment.bytes)),
      h("button", { type: "button", class: "play", onclick: play }, t("recording.play")),
      h("button", { type: "button", class: "download", onclick: save }, t("recording.download"))),
    h("div", { class: "sha", title: t("recording.sha_hint") }, `SHA-256 ${segment.sha256 || "—"}`));
}

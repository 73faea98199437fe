// One reading of a stream's state for every page: live, signal lost (the publisher vanished without
// ending), or stopped (ended normally). Only a lost signal is an alarm; a stopped stream is history.
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function streamState(s) {
  if (s.ended_at) return "stopped";
  return s.connected === false ? "lost" : "live";
}

export function streamBadge(s) {
  const state = streamState(s);
  return h("span", { class: `badge stream-${state}`, dataset: { state } }, t(`video.state.${state}`));
}

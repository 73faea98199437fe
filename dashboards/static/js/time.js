// Times are stored in UTC and shown in the office's zone (CC_TIMEZONE, served by /api/config; Asia/Shanghai
// until it is known); countdowns are computed locally.
import { lang, t } from "./i18n.js";

let zone = "Asia/Shanghai";
/** The office's IANA time zone. */
export const timeZone = () => zone;
/** Follow the server's setting (shell.js calls this once per page, before anything is shown). */
export function setTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
  } catch {
    console.warn("unknown time zone", name);
    return;
  }
  zone = name;
  formatters.clear();
  document.documentElement.dataset.timeZone = name;
}
/** Default warning window before a deadline (settings.deadline_warning_minutes); a deadline's own
 * `warn_at`, when the server sends it, wins. */
export const WARN_SECONDS = 180;

const formatters = new Map();
function formatter(kind) {
  const key = `${lang()}|${kind}`;
  if (!formatters.has(key)) {
    const options = {
      datetime: { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" },
      time: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
      date: { year: "numeric", month: "2-digit", day: "2-digit" },
      short: { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" },
    }[kind];
    // English as year-month-day (en-CA): "01/12" read as 12 January as often as 1 December (page walk).
    formatters.set(key, new Intl.DateTimeFormat(lang() === "en" ? "en-CA" : "zh-CN", {
      ...options, timeZone: zone, hour12: false,
    }));
  }
  return formatters.get(key);
}

export const parse = (iso) => (iso ? new Date(iso) : null);

export function fmt(iso, kind = "datetime") {
  const date = iso instanceof Date ? iso : parse(iso);
  return date && !Number.isNaN(date.getTime()) ? formatter(kind).format(date) : "—";
}

/** 3725 -> "1:02:05", 65 -> "01:05"; negative values are shown as their magnitude. */
export function clock(seconds) {
  const s = Math.abs(Math.trunc(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  if (hh >= 24) return t("time.days", { d: Math.floor(hh / 24), h: hh % 24 });
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** The state of a deadline now: "pending" | "warning" | "missed" | "met" | "met_late", and seconds left. */
export function deadlineState(deadline, now = Date.now()) {
  // Cancelled (its incident closed, its drill ended) is not "met": the clock stopped without the report.
  if (deadline.cancelled_at || deadline.status === "cancelled") return { status: "cancelled", left: 0 };
  if (deadline.done_at || deadline.status === "met" || deadline.status === "met_late") {
    return { status: deadline.status === "met_late" ? "met_late" : "met", left: 0 };
  }
  const due = parse(deadline.due_at).getTime();
  const left = Math.floor((due - now) / 1000);
  if (left <= 0 || deadline.status === "missed") return { status: "missed", left };
  const warnAt = deadline.warn_at ? parse(deadline.warn_at).getTime() : due - WARN_SECONDS * 1000;
  if (now >= warnAt || deadline.status === "warning") return { status: "warning", left };
  return { status: "pending", left };
}

export function countdownText(state) {
  if (state.status === "cancelled") return t("deadline.cancelled");
  if (state.status === "met") return t("deadline.met");
  if (state.status === "met_late") return t("deadline.met_late");
  if (state.status === "missed") return t("deadline.overdue", { time: clock(state.left) });
  return t("deadline.left", { time: clock(state.left) });
}

/** The office zone's offset from UTC at `date`, in minutes (e.g. 480 for Asia/Shanghai). */
function offsetMinutes(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
}

function offsetText(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const m = Math.abs(minutes);
  return `${sign}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

/** A `datetime-local` value read as office time -> ISO-8601 with the zone's offset at that moment. */
export function officeInputToIso(value) {
  if (!value) return null;
  const local = value.length === 16 ? `${value}:00` : value;
  const guess = new Date(`${local}Z`);
  // The offset at the instant the wall-clock time names (checked twice across a daylight-saving change).
  let offset = offsetMinutes(new Date(guess.getTime() - offsetMinutes(guess) * 60000));
  offset = offsetMinutes(new Date(guess.getTime() - offset * 60000));
  return `${local}${offsetText(offset)}`;
}

/** An ISO time -> a `datetime-local` value in office time. */
export function isoToOfficeInput(iso) {
  const date = new Date(iso);
  const d = new Date(date.getTime() + offsetMinutes(date) * 60000);
  return d.toISOString().slice(0, 16);
}

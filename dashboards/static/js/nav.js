// Role-aware navigation: each role sees only the pages it works in (the server enforces the same rules).

export const PAGES = {
  board: { href: "/static/board.html", key: "nav.board" },
  ledger: { href: "/static/ledger.html", key: "nav.ledger" },
  video: { href: "/static/video.html", key: "nav.video" },
  taskforce: { href: "/static/taskforce.html", key: "nav.taskforce" },
  field: { href: "/static/field.html", key: "nav.field" },
  drill: { href: "/static/drill.html", key: "nav.drill" },
  review: { href: "/static/review.html", key: "nav.review" },
  devices: { href: "/static/devices.html", key: "nav.devices" },
};

/** The incident page is reached from the board or the field page; it is allowed wherever incidents are. */
const ROLE_PAGES = {
  admin: ["board", "ledger", "video", "taskforce", "field", "drill", "review", "incident", "devices"],
  commander: ["board", "ledger", "video", "taskforce", "review", "incident", "devices"],
  duty_officer: ["board", "ledger", "video", "taskforce", "review", "incident", "devices"],
  field_officer: ["field", "incident"],
  organizer: ["drill", "review", "board", "ledger", "incident"],
  liaison: ["taskforce", "board", "video", "incident"],
  evaluator: ["review", "drill", "board", "ledger", "incident"],
};

/** Roles that may change live incidents (create, report, advance stages); evaluators and organizers read. */
const INCIDENT_WRITERS = new Set(["admin", "commander", "duty_officer", "field_officer", "liaison"]);
const INCIDENT_COMMANDERS = new Set(["admin", "commander"]);
const ORDER_ISSUERS = new Set(["admin", "commander", "duty_officer"]);
const DRILL_MANAGERS = new Set(["admin", "organizer"]);
/** Stages belong to the command room: the default of CC_STAGE_ROLES; others record what they did. */
const STAGE_CHANGERS = new Set(["commander", "duty_officer"]);
const TASKFORCE_MANAGERS = new Set(["admin", "commander"]);
const LEDGER_WRITERS = new Set(["admin", "commander", "duty_officer"]);
const REVIEW_WRITERS = new Set(["admin", "commander", "organizer", "evaluator"]);

export const pagesFor = (role) => (ROLE_PAGES[role] || []).filter((p) => p in PAGES);
export const mayOpen = (role, page) => (ROLE_PAGES[role] || []).includes(page);
export const homeFor = (role) => PAGES[pagesFor(role)[0]]?.href || "/static/index.html";
export const can = {
  writeIncidents: (role) => INCIDENT_WRITERS.has(role),
  commandIncidents: (role) => INCIDENT_COMMANDERS.has(role),
  issueOrders: (role) => ORDER_ISSUERS.has(role),
  manageDrills: (role) => DRILL_MANAGERS.has(role),
  changeStages: (role) => STAGE_CHANGERS.has(role),
  writeReviews: (role) => REVIEW_WRITERS.has(role),
  writeLedger: (role) => LEDGER_WRITERS.has(role),
  manageTaskforces: (role) => TASKFORCE_MANAGERS.has(role),
};

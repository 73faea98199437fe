// Sign-in: exchange name and password for a token, then go to the page the user came for or its home.
import { currentUser, signIn, token } from "../api.js";
import { $ } from "../dom.js";
import { initI18n, lang, onLangChange, setLang, t } from "../i18n.js";
import { homeFor, mayOpen } from "../nav.js";

function target(user) {
  const next = new URLSearchParams(location.search).get("next");
  if (next && next.startsWith("/static/") && !next.startsWith("/static/index.html")) {
    const page = next.split("/").pop().split(".")[0];
    if (mayOpen(user.role, page)) return next;
  }
  return homeFor(user.role);
}

// The form is live before anything is awaited: a quick (or scripted) submit must never fall through to
// the browser's own form submission, which would reload this page instead of signing in.
$("#signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("#signin-error");
  error.hidden = true;
  const button = $("#signin-submit");
  button.disabled = true;
  try {
    const user = await signIn($("#username").value.trim(), $("#password").value);
    location.href = target(user);
  } catch (exc) {
    error.textContent = exc.status === 401 ? t("signin.failed") : `${t("error.generic")}: ${exc.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});

await initI18n();
const switcher = $("#lang-switch");
const relabel = () => { switcher.textContent = lang() === "zh-CN" ? "EN" : "中文"; };
relabel();
onLangChange(relabel);
switcher.addEventListener("click", () => setLang(lang() === "zh-CN" ? "en" : "zh-CN"));

if (token() && currentUser()) location.replace(target(currentUser()));



"""Light/dark theme: each user's own choice, applied in their browser, the grid and the editor.

Streamlit's theme is a server option shared by every session, so Tusk does not set it: the app
ships a light and a dark variant (`[theme.light]`/`[theme.dark]` in .streamlit/config.toml) and
picks one per browser the way Streamlit's own Settings menu does, through the localStorage key
its frontend reads when a page loads. The choice is saved per user in multi-user mode (auth.db)
and in config.toml in single-user mode.
"""

from __future__ import annotations

import json

import streamlit as st

from tusk import auth, config
from tusk.errors import TuskError
from tusk.ui.error_display import md_escape

_WIDGET = "tusk_dark_theme"

# Runs in the page: store the choice under the key Streamlit's frontend reads at load (it is
# named after the path the page was loaded from; links to the other pages get it too) and,
# when the page shows the other theme, switch it in place (a first visit in a light browser
# needs nothing). The reload is the fallback; sessionStorage caps reloads, so a browser that
# will not keep the choice cannot loop.
_SCRIPT = """<script>
(() => {
  const want = %s;
  const key = (path) => "stActiveTheme-" + path + "-v2";
  const here = key(window.location.pathname);
  // What this page shows now: the stored choice, or with none (or "System") the browser's.
  let shown = JSON.parse(localStorage.getItem(here) || '"System"');
  if (shown !== "Light" && shown !== "Dark") {
    shown = window.matchMedia("(prefers-color-scheme: dark)").matches ? "Dark" : "Light";
  }
  shown = JSON.stringify(shown);
  for (const a of document.querySelectorAll("a[href]")) {
    const url = new URL(a.href, window.location.href);
    if (url.origin === window.location.origin) localStorage.setItem(key(url.pathname), want);
  }
  localStorage.setItem(here, want);
  if (shown === want) {
    sessionStorage.removeItem("tuskThemeReloads");
    return;
  }
  // Switch in place through the theme setter of Streamlit's frontend (what its Settings menu
  // calls; it also stores the choice): a reload would start a new session and lose its state,
  // the Studio's results among it. Only when that setter is not found, reload.
  const app = document.querySelector('[data-testid="stApp"]');
  const fiber = app && Object.keys(app).find((k) => k.startsWith("__reactFiber$"));
  for (let node = fiber ? app[fiber] : null; node; node = node.return) {
    const themes = node.memoizedProps && node.memoizedProps.value;
    if (!themes || typeof themes.setTheme !== "function") continue;
    const name = JSON.parse(want);  // "Light" or "Dark"; config's [theme.*] make custom ones
    const target = (themes.availableThemes || []).find(
      (t) => t.name === "Custom Theme " + name || t.name === name
    );
    if (target) {
      themes.setTheme(target);
      sessionStorage.removeItem("tuskThemeReloads");
      return;
    }
    break;
  }
  const reloads = Number(sessionStorage.getItem("tuskThemeReloads") || 0);
  if (reloads < 2) {
    sessionStorage.setItem("tuskThemeReloads", String(reloads + 1));
    window.location.reload();
  }
})();
</script>"""


def _user():  # noqa: ANN202 - a tusk.auth.schema.User or None
    from tusk.ui.auth_gate import current_user

    return current_user()


def current() -> str:
    """'light' or 'dark': the signed-in user's choice, else the configured one."""
    user = _user() if auth.mode() == "multi" else None
    if user is not None:
        return user.theme if user.theme in ("light", "dark") else "light"
    try:
        return str(config.load()["theme"])
    except TuskError:
        return "light"


def _tell_browser() -> None:
    """The script that shows this user's theme. Drawn on every run at the same place, so the
    elements around it keep their identity (a tab strip would otherwise snap back to its first
    tab); the browser runs it again only when its text, i.e. the theme, changes."""
    choice = json.dumps(json.dumps("Dark" if current() == "dark" else "Light"))
    st.html(_SCRIPT % choice, unsafe_allow_javascript=True)


def _toggled() -> None:
    theme = "dark" if st.session_state.get(_WIDGET) else "light"
    user = _user() if auth.mode() == "multi" else None
    try:
        if user is not None:
            from tusk.auth.users import set_theme

            set_theme(user, theme)
        else:
            config.set_value("theme", theme)
    except TuskError as exc:
        st.toast(f"Could not save the theme: {md_escape(exc.message)}", icon=":material/error:")


def theme_toggle() -> None:
    """The sidebar switch (every page): saved for this user, applied at once."""
    st.session_state[_WIDGET] = current() == "dark"
    st.toggle("Dark theme", key=_WIDGET, on_change=_toggled)
    _tell_browser()


def dark() -> bool:
    """True when the theme shown to this user is dark (the grid and editor follow it)."""
    return current() == "dark"

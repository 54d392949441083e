"""Which language a screen speaks: the user's choice (saved in their profile, kept in
the session), else the browser's (en or zh-CN); and which time zone it shows times
in: the tenant's."""

from __future__ import annotations

from flask import g, request, session
from sqlalchemy import select, update

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}


def select_locale() -> str:
    """The language the user chose, else the browser's."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh", "zh-Hans"])
    return "zh_CN" if best and best.startswith("zh") else "en"


def select_timezone() -> str | None:
    state = getattr(g, "metacrm_state", None)
    return state.timezone if state is not None else None


def remember_language(state, user_id: int) -> None:
    """Put the user's saved language in the session (at sign-in: one read, not one a
    request); no saved choice leaves the browser's language in charge."""
    users = state.system["users"]
    with state.engine.connect() as conn:
        saved = conn.execute(select(users.c.language).where(users.c.id == user_id)).scalar()
    if saved in LANGUAGES:
        session["lang"] = saved
    else:
        session.pop("lang", None)


def save_language(state, user_id: int, language: str) -> None:
    users = state.system["users"]
    with state.write.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(language=language))
    session["lang"] = language

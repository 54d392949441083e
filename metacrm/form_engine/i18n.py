"""Which language a screen speaks: the one the user chose in the shell, else the
browser's (en or zh-CN)."""

from __future__ import annotations

from flask import request, session

LANGUAGES = {"en": "English", "zh_CN": "简体中文"}


def select_locale() -> str:
    """The language the user chose (the switch in the shell), else the browser's."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh", "zh-Hans"])
    return "zh_CN" if best and best.startswith("zh") else "en"

"""`N_`: marks the built-in functions' docs for the screens' translation catalog
(babel.cfg reads functions.py). The designer translates them where it shows them;
expressions know nothing of languages, so nothing is translated here."""


def N_(text: str) -> str:  # noqa: N802 - gettext's conventional name for "mark only"
    return text

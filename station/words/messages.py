"""The command line's sentences in the user's language: gettext, domain ``bodycam``.

Under a ``zh_CN`` locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` or ``LANG``, as gettext looks
them up) the catalogue locale/zh_CN/LC_MESSAGES/bodycam.mo speaks Chinese; any other locale gets
the English the code is written in. The .po beside it is the source: ``make messages`` compiles
it (Babel), and tests/test_cli_words.py fails when the two differ."""
from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "bodycam"
LOCALE_DIR = Path(__file__).parent / "locale"


def _(message: str) -> str:
    """``message`` in the locale's language (itself when there is no catalogue for it)."""
    return gettext.dgettext(DOMAIN, message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined; it is looked up (``_``) where shown."""
    return message


def language() -> str:
    """``"zh"`` when the locale's language has our catalogue, else ``"en"`` (the labels' languages)."""
    return "zh" if gettext.find(DOMAIN, str(LOCALE_DIR)) else "en"


def install() -> None:
    """Make our domain gettext's default, so argparse's own words ("usage:", "options", "the
    following arguments are required") come from our catalogue too."""
    gettext.textdomain(DOMAIN)


gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))

"""The device command line's help in the user's language: gettext, domain ``bodycam-device``
(locale/zh_CN/LC_MESSAGES/bodycam-device.po, compiled to the .mo beside it by scripts/messages.py).
Under a ``zh_CN`` locale it is Chinese, else the English it is written in. The station has its
own catalogue (station/words/messages.py): the device and the station share no module."""
from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "bodycam-device"
LOCALE_DIR = Path(__file__).parent / "locale"


def _(message: str) -> str:
    return gettext.dgettext(DOMAIN, message)


def install() -> None:
    """Our domain as gettext's default, so argparse's own words come from our catalogue too."""
    gettext.textdomain(DOMAIN)


gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))

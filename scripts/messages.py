"""Refresh the command lines' gettext catalogues and compile them (``make messages``).

Extracts every ``_("…")`` of the station (and the words of argparse a user reads, which gettext
looks up in our domain too) into station/words/locale/zh_CN/LC_MESSAGES/bodycam.po, and those
of the device's command line into firmware/locale/zh_CN/LC_MESSAGES/bodycam-device.po, keeping
the Chinese already written, then compiles each .mo beside its .po (Babel). An entry without its
Chinese is named, and the script exits 1: tests/test_cli_words.py holds the same rule."""
from __future__ import annotations

import argparse as argparse_module
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
# Each catalogue and the sources its messages come from.
CATALOGUES = {ROOT / "station/words/locale/zh_CN/LC_MESSAGES/bodycam.po": [ROOT / "station"],
              ROOT / "firmware/locale/zh_CN/LC_MESSAGES/bodycam-device.po": [ROOT / "firmware/cli.py"]}

# argparse's sentences a user of the command line reads (its others speak to programmers).
ARGPARSE = ("usage: ", "positional arguments", "options", "show this help message and exit",
            "argument %(argument_name)s: %(message)s", "unrecognized arguments: %s", "not allowed with argument %s",
            "the following arguments are required: %s", "one of the arguments %s is required",
            "expected one argument", "expected at most one argument", "expected at least one argument",
            "ambiguous option: %(option)s could match %(matches)s", "invalid %(type)s value: %(value)r",
            "invalid choice: %(value)r (choose from %(choices)s)", "%(prog)s: error: %(message)s\n",
            "can't open '%(filename)s': %(error)s")


def extracted(sources: list[Path]) -> list[str]:
    """Every message id of ``sources`` (folders or files), in the order first found, then argparse's."""
    keywords = {"_": None, "N_": None}
    found = []
    for source in sources:
        if source.is_dir():
            found += [message for _, _, message, _, _ in extract_from_dir(source, keywords=keywords)]
        else:
            found += [message for _, message, _, _ in extract_from_file("python", source, keywords=keywords)]
    known = {message for _, message, _, _ in extract_from_file("python", argparse_module.__file__,
                                                                keywords={"_": None})}
    found += [message for message in ARGPARSE if message in known]
    return list(dict.fromkeys(message for message in found if isinstance(message, str)))


def main() -> int:
    missing = []
    for po, sources in CATALOGUES.items():
        missing += refresh(po, sources)
    for message in missing:
        print(f"no Chinese yet: {message!r}", file=sys.stderr)
    return 1 if missing else 0


def refresh(po: Path, sources: list[Path]) -> list[str]:
    """The catalogue ``po`` with the messages of ``sources``, and its .mo; the ids still without Chinese."""
    if not po.exists():
        po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n', encoding="utf-8")
    with open(po, "rb") as fh:
        old = read_po(fh, locale="zh_CN")
    catalog = Catalog(locale="zh_CN", project="bodycam", domain=po.stem, charset="utf-8", fuzzy=False,
                      header_comment=f"# A bodycam command line in Chinese ({po.stem}). scripts/messages.py "
                                     f"(make messages)\n# adds the new msgids and compiles {po.stem}.mo: "
                                     "write each msgstr here.",
                      creation_date=old.creation_date, revision_date=old.creation_date,
                      last_translator="bodycam", language_team="bodycam")
    for message in extracted(sources):
        known = old.get(message)
        catalog.add(message, known.string if known else "")
    with open(po, "wb") as fh:
        write_po(fh, catalog, width=120, omit_header=False, sort_output=False)
    with open(po.with_suffix(".mo"), "wb") as fh:
        write_mo(fh, catalog)
    return [message.id for message in catalog if message.id and not message.string]


if __name__ == "__main__":
    sys.exit(main())

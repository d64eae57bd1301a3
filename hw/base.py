"""The one base of every hardware adapter: ``close()`` safe to call twice, ``closed``, and ``with``.

Modelled on gpiozero's ``GPIOBase``: the base owns the closed state and the context
manager; each adapter says only what it owns, in :meth:`Adapter._close`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Self

from hw import AdapterClosed


class Adapter:
    """Base class of every hardware adapter and of every simulated twin.

    A subclass must set ``description`` (the part as the self-test names it) and may set
    ``simulated`` (the readings are made up, so that the user can be told). It may override:

    * :meth:`_close`: release what the adapter owns. :meth:`close` calls it once, however
      often it is itself called; it is never called again, even when it raises.

    Every method that uses the part calls :meth:`_check_open` first, so a closed adapter
    raises :class:`~hw.AdapterClosed` instead of reading from a released device. A
    constructor that opens more than one thing does the later steps inside
    ``with self._closing_on_failure():``, so that a failure part-way closes what it opened.
    """

    simulated = False
    description = "hardware adapter"
    _closed = False  # a class default: close() works even on an adapter whose constructor failed early

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called; a closed adapter refuses to be used."""
        return self._closed

    def close(self) -> None:
        """Release the part; safe to call twice (the second call does nothing)."""
        if self._closed:
            return
        self._closed = True  # before releasing: a release that fails is not tried again
        self._close()

    def _close(self) -> None:
        """Release what this adapter owns; an adapter that owns nothing keeps this default."""

    def _check_open(self) -> None:
        """Raise :class:`~hw.AdapterClosed` if the adapter is closed."""
        if self._closed:
            raise AdapterClosed(f"{self.description} is closed")

    @contextlib.contextmanager
    def _closing_on_failure(self) -> Iterator[None]:
        """Close the adapter if the block fails, then let the failure go on."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the failure that got us here matters more
                self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

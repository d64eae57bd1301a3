"""What the service's thread is told: one typed message per kind, handled one at a time, in order.

The buttons (gpiozero's threads), the watcher, the control socket and the parts' threads
only post these to the service's inbox (``firmware.service.Service.post``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class ButtonEvent:
    """A button was pressed, held or released (from gpiozero's threads)."""
    name: str
    kind: str  # PRESS, HOLD or RELEASE
    number: int  # which press of this button, counting from 1


@dataclass(frozen=True)
class ChooseReason:
    """The stop reason chosen on the device for the next hold of record."""
    code: str


@dataclass(frozen=True)
class ChooseLabel:
    """The label of the next marker."""
    text: str


@dataclass(frozen=True)
class AutoStop:
    """The watcher asks to stop the recording (battery, storage)."""
    code: str
    detail: str


@dataclass(frozen=True)
class Shutdown:
    """Seal any recording and end ``run``."""
    cause: str
    detail: str = ""


@dataclass(frozen=True)
class ThreadFailed:
    """A thread of the service's parts ended on an error (it was logged with its traceback)."""
    thread: str
    error: str


@dataclass(frozen=True)
class Settle:
    """Set ``done`` once every message before this one has been handled."""
    done: threading.Event


Message = Union[ButtonEvent, ChooseReason, ChooseLabel, AutoStop, Shutdown, ThreadFailed, Settle]

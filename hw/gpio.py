"""Buttons, lights and a vibration motor (or buzzer) on GPIO pins, through gpiozero.

The pin factory is chosen by a string, like the other adapters: ``simulated:`` is gpiozero's
own ``MockFactory`` (the simulated twin: tests and ``bodycam press`` drive its input pins) and
``auto`` takes gpiozero's default (lgpio on a Pi), else the simulated one. Each :class:`Panel` gets
its own factory instance, so two panels (two tests) never share pins.

Wiring: a button connects its pin to ground (the internal pull-up holds it high); a light
or a motor driver is on while its pin is high.

Threads: gpiozero calls :class:`Panel`'s ``on_event`` from its own threads (the pin's edge
callback, the button's hold timer), so ``on_event`` must only hand the event on. The
panel's player thread owns the outputs while a :class:`Pattern` plays; :meth:`Panel.set`
(any thread) changes an output's steady state, shown again when the pattern ends.
"""
from __future__ import annotations

import contextlib
import functools
import queue
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from bodycam_threads import OwnedThread
from hw import HardwareError
from hw.base import Adapter

PRESS, HOLD, RELEASE = "press", "hold", "release"
STOP_SECONDS = 5.0


@dataclass(frozen=True)
class Input:
    """A button on ``pin`` (BCM number); ``hold_seconds`` after a press it reports a hold (None: never)."""

    pin: int
    hold_seconds: float | None = None


@dataclass(frozen=True)
class Pattern:
    """``outputs`` go on for each pulse's first number of seconds and off for its second."""

    outputs: tuple[str, ...]
    pulses: tuple[tuple[float, float], ...]

    @classmethod
    def repeat(cls, outputs: tuple[str, ...], count: int, on: float, off: float) -> "Pattern":
        return cls(outputs, ((on, off),) * count)

    @property
    def seconds(self) -> float:
        return sum(on + off for on, off in self.pulses)


# on_event(button name, PRESS | HOLD | RELEASE, number of that button's press, counting from 1)
EventHandler = Callable[[str, str, int], None]


def simulated_factory():
    """gpiozero's own MockFactory: the simulated twin of the pins."""
    from gpiozero.pins.mock import MockFactory
    return MockFactory()


def default_factory():
    """gpiozero's default factory (lgpio on a Pi), else the simulated one."""
    from gpiozero import Device
    from gpiozero.exc import BadPinFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gpiozero warns once per factory it could not load
        try:
            # gpiozero's own choice (GPIOZERO_PIN_FACTORY, else lgpio, RPi.GPIO, ...), without making
            # it the process-wide Device.pin_factory as Device.ensure_pin_factory() would.
            return Device._default_pin_factory()
        except BadPinFactory:
            return simulated_factory()  # no GPIO on this machine: the simulated panel


class Panel(Adapter):
    """The device's buttons (``inputs``) and on/off outputs (``outputs``: name -> BCM pin).

    Its simulated twin is the same class on gpiozero's ``MockFactory`` (``simulated`` says which).
    """

    def __init__(self, inputs: Mapping[str, Input], outputs: Mapping[str, int], factory: Any,
                 on_event: EventHandler = lambda name, kind, number: None) -> None:
        """``factory``: the gpiozero pin factory to use (``hw.sources.open_factory`` names one)."""
        from gpiozero import Button, DigitalOutputDevice
        from gpiozero.pins.mock import MockFactory

        self.factory = factory
        self.simulated = isinstance(self.factory, MockFactory)
        self.description = ("simulated GPIO (gpiozero MockFactory)" if self.simulated
                            else f"GPIO ({type(self.factory).__name__})")
        self._on_event = on_event
        self._presses = dict.fromkeys(inputs, 0)
        self._steady = dict.fromkeys(outputs, False)
        self._playing: set[str] = set()
        self._lock = threading.Lock()
        self._patterns: queue.Queue[Pattern | None] = queue.Queue()
        self._pending = 0  # patterns queued or playing, under _lock
        self._idle = threading.Event()
        self._idle.set()
        self._quit = threading.Event()
        self._opened = contextlib.ExitStack()
        if isinstance(factory, str):
            self._opened.callback(self.factory.close)  # ours: closed after the devices on it
        try:
            self._buttons = {}
            for name, spec in inputs.items():
                button = self._opened.enter_context(Button(spec.pin, pull_up=True, hold_time=spec.hold_seconds or 1,
                                                           pin_factory=self.factory))
                button.when_pressed = functools.partial(self._pressed, name)
                button.when_released = functools.partial(self._report, name, RELEASE)
                if spec.hold_seconds is not None:
                    button.when_held = functools.partial(self._report, name, HOLD)
                self._buttons[name] = button
            self._outputs = {name: self._opened.enter_context(DigitalOutputDevice(pin, pin_factory=self.factory))
                             for name, pin in outputs.items()}
        except Exception as exc:  # a pin that is taken or invalid: release the ones already claimed
            self._opened.close()
            raise HardwareError(f"GPIO: {exc}") from exc
        self._player = OwnedThread(self._play_patterns, "gpio-patterns", stopping=self._quit)
        with self._closing_on_failure():  # a player that cannot start leaves no pin claimed
            self._player.start()

    def _pressed(self, name: str) -> None:
        self._presses[name] += 1
        self._report(name, PRESS)

    def _report(self, name: str, kind: str) -> None:
        self._on_event(name, kind, self._presses[name])

    def set(self, name: str, on: bool) -> None:
        """Set an output's steady state (an output the panel does not have is ignored: not fitted)."""
        with self._lock:
            if name not in self._steady:
                return
            self._steady[name] = on
            if name not in self._playing:
                self._outputs[name].value = on

    def is_on(self, name: str) -> bool:
        return name in self._outputs and bool(self._outputs[name].value)

    def play(self, pattern: Pattern) -> None:
        """Queue ``pattern``; patterns play one after another, then the outputs show their steady state."""
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._patterns.put(pattern)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued pattern has played; False on timeout."""
        return self._idle.wait(timeout)

    def _play_patterns(self) -> None:
        while not self._quit.is_set():
            pattern = self._patterns.get()
            if pattern is None:
                return
            outputs = [name for name in pattern.outputs if name in self._outputs]
            with self._lock:
                self._playing.update(outputs)
            for on, off in pattern.pulses:
                self._drive(outputs, True)
                if self._quit.wait(on):
                    break
                self._drive(outputs, False)
                if self._quit.wait(off):
                    break
            with self._lock:
                self._playing.difference_update(outputs)
                for name in outputs:
                    self._outputs[name].value = self._steady[name]
                self._pending -= 1
                if not self._pending:
                    self._idle.set()

    def _drive(self, outputs: list[str], on: bool) -> None:
        with self._lock:
            for name in outputs:
                self._outputs[name].value = on

    def pin(self, name: str):
        """The gpiozero pin of a button or an output (a ``MockPin`` on the simulated panel)."""
        device = self._buttons.get(name) or self._outputs[name]
        return device.pin

    def is_pressed(self, name: str) -> bool:
        return name in self._buttons and self._buttons[name].is_pressed

    def drive(self, name: str, pressed: bool) -> None:
        """Press (drive the pin low) or release a button of the simulated panel."""
        self._check_open()
        if not self.simulated:
            raise HardwareError(f"the {name} button is a real button here: press it")
        if name not in self._buttons:
            raise HardwareError(f"this panel has no {name} button")
        pin = self.pin(name)
        pin.drive_low() if pressed else pin.drive_high()

    def press(self, name: str, seconds: float) -> None:
        """Press a button of the simulated panel for ``seconds``, then release it."""
        self.drive(name, True)
        self._quit.wait(seconds)
        self.drive(name, False)

    def _close(self) -> None:
        """Stop the player, switch the outputs off and release the pins."""
        self._patterns.put(None)
        self._player.stop(STOP_SECONDS)
        for output in self._outputs.values():
            output.off()
        self._opened.close()
        self._idle.set()

"""The device's panel: its buttons and outputs, the officer's signals, and the stop reasons.

What the officer presses and feels, kept apart from the state machine that decides what a
press means (``firmware.service``): the light and vibration patterns, the presses that
``bodycam press`` drives on simulated pins, the reasons a recording may be stopped for, and
the panel opened from ``[gpio]`` (``hw.gpio.Panel``).
"""
from __future__ import annotations

from typing import Callable

from firmware.config import Config, ConfigError
from firmware.watch import Alarm, AlarmSink
from hw.gpio import Input, Panel, Pattern
from hw.sources import open_factory

# Why a recording may be stopped by the officer (R4), and the end of the enforcement itself.
MANUAL_REASONS = {
    "end_of_enforcement": "the enforcement ended (执法结束)",
    "witness_request": "a witness or victim asked (当事人、证人要求)",
    "covert_measures": "covert investigation measures (秘密侦查措施)",
    "public_transport": "on public transport (公共交通工具)",
    "secrets_privacy": "state or commercial secrets, or privacy (国家秘密、商业秘密、个人隐私)",
    "weather": "weather (天气原因)",
    "other": "another reason, to be written up (其他原因)",
}
UNSPECIFIED = "unspecified"  # stopped without choosing a reason on the device: the dock asks for it

# The officer's signals. Outputs a device does not have (pin -1) are skipped.
HAPTIC = ("vibration", "buzzer")
PATTERNS = {
    "start": Pattern.repeat(HAPTIC, 1, 0.4, 0.1),
    "stop": Pattern.repeat(HAPTIC, 2, 0.4, 0.2),
    "marker": Pattern.repeat(HAPTIC, 1, 0.1, 0.1),
    "still_recording": Pattern.repeat(("led_video",), 2, 0.1, 0.1),  # a short press of record while recording
    "reminder": Pattern.repeat(HAPTIC, 1, 0.15, 0.1),
    "state_reason": Pattern.repeat(HAPTIC, 3, 0.6, 0.3),  # resumed after an interruption: say why aloud
    "selftest": Pattern.repeat(("led_power",), 3, 0.1, 0.1),
    "fault": Pattern.repeat(HAPTIC + ("led_power",), 6, 0.1, 0.1),
    "shutdown": Pattern.repeat(HAPTIC + ("led_power", "led_video", "led_audio"), 1, 1.0, 0.0),
    "battery_low": Pattern.repeat(HAPTIC + ("led_power",), 3, 0.2, 0.2),
    "battery_critical": Pattern.repeat(HAPTIC + ("led_power",), 5, 0.2, 0.2),
    "storage_low": Pattern.repeat(HAPTIC + ("led_video",), 2, 0.8, 0.4),
    "storage_full": Pattern.repeat(HAPTIC + ("led_video",), 4, 0.8, 0.4),
    "storage_failed": Pattern.repeat(HAPTIC + ("led_video",), 4, 0.8, 0.4),
    "clock_jump": Pattern.repeat(HAPTIC + ("led_audio",), 1, 1.2, 0.3),
    "sensor_failed": Pattern.repeat(HAPTIC + ("led_power",), 6, 0.1, 0.1),
}
OUTPUTS = ("led_power", "led_video", "led_audio", "vibration", "buzzer")
# What `bodycam press` does: which button, for how long (None: the configured hold plus a margin).
PRESSES = {"record": ("record", 0.1), "record-hold": ("record", None), "marker": ("marker", 0.1),
           "power-hold": ("power", None), "dock": ("dock", True), "undock": ("dock", False)}
HOLD_MARGIN_SECONDS = 0.5


def reason_text(code: str, detail: str = "") -> str:
    """The reason written into the sealed session-close record: the code, then the cause if any."""
    if code == UNSPECIFIED and not detail:
        detail = "to be filled in at the dock"
    return f"{code}: {detail}" if detail else code


def open_panel(config: Config, on_event: Callable[[str, str, int], None]) -> Panel:
    """The configured buttons and outputs; a pin used twice is refused as a configuration error."""
    gpio = config["gpio"]
    inputs = {"record": Input(gpio["record"], gpio["hold_seconds"]), "marker": Input(gpio["marker"]),
              "power": Input(gpio["power"], gpio["power_hold_seconds"]), "dock": Input(gpio["dock"])}
    inputs = {name: spec for name, spec in inputs.items() if spec.pin >= 0}
    outputs = {name: gpio[name] for name in OUTPUTS if gpio[name] >= 0}
    used: dict[int, str] = {}
    for name, pin in [*((n, s.pin) for n, s in inputs.items()), *outputs.items()]:
        if pin in used:
            raise ConfigError(f"config {config.source}: 'gpio.{name}' and 'gpio.{used[pin]}' are both GPIO {pin}.")
        used[pin] = name
    return Panel(inputs, outputs, open_factory(gpio["pin_factory"]), on_event)


class PanelAlarms(AlarmSink):
    """The watcher's alarms as light and vibration patterns, and a line on the run screen."""

    def __init__(self, panel: Panel, echo: Callable[[str], None]) -> None:
        self.panel, self.echo = panel, echo
        self.last: Alarm | None = None

    def signal(self, alarm: Alarm) -> None:
        self.last = alarm
        self.panel.play(PATTERNS.get(alarm.kind, PATTERNS["sensor_failed"]))
        self.echo(f"ALARM {alarm.kind}: {alarm.message}")

"""What the overlay shows that is learnt while recording: place, clock trust, case, recording.

The GNSS reader, the clock check and the officer's case entry run on their own threads and
call :meth:`OverlayStatus.update`; the recorder's thread reads :attr:`OverlayStatus.current`
once per frame. Each update swaps in a new immutable :class:`Status`, so a frame never sees
half an update and the overlay knows that nothing changed when it gets the same object back.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Status:
    """``location`` is (latitude, longitude) in degrees, or None without a GNSS fix;
    ``location_utc_ns`` the receiver's time of that fix (ns since 1970 UTC), when it said one."""

    location: tuple[float, float] | None = None
    location_utc_ns: int | None = None
    clock_trusted: bool = True  # False: nobody vouches for the clock; the overlay marks its time
    case_number: str | None = None
    recording: bool = True

    def __post_init__(self) -> None:
        if self.location is not None:
            latitude, longitude = self.location
            if not (math.isfinite(latitude) and math.isfinite(longitude)
                    and -90 <= latitude <= 90 and -180 <= longitude <= 180):
                raise ValueError(f"overlay: location must be (latitude, longitude) in degrees, got {self.location!r}")
        if self.case_number is not None and not 1 <= len(self.case_number) <= 32:
            raise ValueError("overlay: case_number must be 1 to 32 characters, or None")


class OverlayStatus:
    """The live inputs of one overlay; any thread may update them. Default: no GPS fix, clock trusted."""

    def __init__(self, **fields: object) -> None:
        self._lock = threading.Lock()
        self._current = Status(**fields)

    @property
    def current(self) -> Status:
        return self._current

    def update(self, **changes: object) -> None:
        """Change some fields, e.g. ``update(location=(39.9042, 116.4074))``; checked like the constructor."""
        with self._lock:
            self._current = replace(self._current, **changes)

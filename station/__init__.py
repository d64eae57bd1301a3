"""The dock station: the PC that pulls footage off devices and keeps it (``bodycam-station``).

It imports only ``sync`` (the link) and ``evidence`` (the format) of ours, so it installs and
runs without the device's media and GPIO libraries (docs/architecture.md). Inside, by area:
``intake`` (what comes in from a device), ``catalogue`` (what is kept, and for how long),
``custody`` (who may see and export it, and the audit trail), all on ``db``; ``services`` opens
the station and composes them; ``commands``/``cli`` and ``web`` are the two front doors.
"""

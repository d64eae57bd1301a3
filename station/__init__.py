"""The dock station: the PC that pulls footage off devices and keeps it (``bodycam-station``).

It imports only ``sync`` (the link) and ``evidence`` (the format) of ours, so it installs and
runs without the device's media and GPIO libraries (docs/architecture.md).
"""

"""The firmware version, stamped into every segment's index and manifest."""
__version__ = "0.1.0"
# The day this firmware was built: a clock reading earlier than this is certainly wrong
# (a flat RTC cell restarts at 1970 or 2000). Set with each release.
BUILD_DATE = "2026-11-23"

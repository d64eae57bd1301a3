"""The firmware version, stamped into every segment's index and manifest."""
__version__ = "0.1.0"

"""Stand-ins for hardware libraries that exist only on the device (see each module)."""

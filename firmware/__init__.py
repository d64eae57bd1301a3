"""The device service: configuration, command line, and (later) the state machine."""

"""The dock service: every docked device pulled at once, one worker per bay, each bay's state on disk."""

"""The dock link: framing, protocol, device side, dock side and archive (to come)."""

"""Burning time, officer, device and place into frames (to come)."""

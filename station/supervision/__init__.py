"""Supervision: sample inspections and their ledger (检查台账)."""

"""Supervision (issue 24): sample inspections and their ledger (检查台账), what supervisors read of how
the recorders are used, and the footage's chain of custody."""

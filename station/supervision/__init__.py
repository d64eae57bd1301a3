"""Supervision (issue 24): what supervisors read of how the recorders are used, and the footage's chain of custody."""

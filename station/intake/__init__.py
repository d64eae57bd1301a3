"""Intake: what comes in from a device: the pull, the archive sink, the witness of each chain, enrolment."""

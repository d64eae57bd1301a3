"""Custody: who may see and export what: users and access, the signed audit trail, exports and their packages."""

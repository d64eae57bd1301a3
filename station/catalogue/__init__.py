"""The catalogue of archived footage: sessions, cases, holds, retention, the device ledger, write-ups, rebuild."""

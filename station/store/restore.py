"""The archive fetched back from the central store (``bodycam-station rebuild --from-store``):
the bucket is the archive of record. Each object of this station's sessions (the folders its
checkpoints name), the devices' identity records and event logs, and the write-ups, fetched as
its first version, the one the station stored (a later PUT only adds versions), its bytes
checked against the SHA-256 in its metadata; each session's open record given back the time it
was archived, which the catalogue reads from it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from station.store import bucket
from station.store.bucket import StoreSettings
from station.store.reader import download

SHARED = ("chain/", "events/")


def fetch_all(s3: Any, settings: StoreSettings, archive: Path, archived: dict[str, int]) -> int:
    """Fetch every object of the sessions in ``archived`` (folder: archived ns) and what they
    need beside them into ``archive``; how many files were written."""
    sessions = {folder.rpartition("/")[2] for folder in archived}
    wanted = [version for version in _first_versions(s3, settings)
              if version["Key"].startswith(SHARED) or version["Key"].rpartition("/")[0] in archived
              or (version["Key"].startswith("writeups/") and version["Key"].split("/")[1] in sessions)]
    for version in wanted:
        download(s3, settings, version["Key"], version["VersionId"], archive / version["Key"], None)
    for folder, archived_ns in archived.items():
        opened = archive / folder / "session-open.json"
        if opened.exists():
            os.utime(opened, ns=(archived_ns, archived_ns))
    return len(wanted)


def _first_versions(s3: Any, settings: StoreSettings) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=settings.bucket):
            for version in page.get("Versions", []):
                known = first.get(version["Key"])
                if known is None or version["LastModified"] < known["LastModified"]:
                    first[version["Key"]] = version
    except bucket.store_errors() as exc:
        raise bucket.failure(settings, exc) from exc
    return [first[key] for key in sorted(first) if not key.startswith("audit/")]

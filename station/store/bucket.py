"""The central store's bucket, through the S3 API (Ceph's RADOS Gateway, or any S3 store with
Object Lock), reached with boto3: making and checking the bucket, putting one locked object and
reading it back. Nothing here knows the catalogue.

Credentials come from boto3's own chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or a
credentials file readable by the service only); they are never printed. Every request with a
body carries Content-MD5, which the gateway checks; boto3's newer checksums are sent only where
an operation requires one (``when_required``: this gateway does not check
``x-amz-checksum-sha256``, and older ones refuse their chunked form). The store's word on a body
is never taken: an object is read back and hashed here.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from bodycam_errors import BodycamError

CHUNK = 1024 * 1024
SHA256_METADATA = "sha256"        # x-amz-meta-sha256: the seal's SHA-256 of the object's bytes
COMPLIANCE = "COMPLIANCE"
CONNECTIONS = 16                  # a push's files and parts under way at once, and a few more
# What GetObjectRetention answers for a version without a lock (AWS's word, and Ceph's gateway's).
UNLOCKED = ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError")


class StoreError(BodycamError, OSError):
    """The central store cannot be reached, or refused or garbled what was sent."""


class NotAsSealed(StoreError):
    """A file's bytes, in the archive or as read back from the store, are not its sealed ones:
    that file is not stored; the push goes on with the others."""


@dataclass(frozen=True)
class StoreSettings:
    """Where the central store is: the ``[store]`` section of the station's configuration."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    long_term_years: int = 30
    keep_local_days: int | None = None      # None: the local copy is kept for ever
    multipart_bytes: int = 64 * 1024**2     # a file this large or larger goes in parts …
    part_bytes: int = 16 * 1024**2          # … of this size (S3's least is 5 MiB)
    abort_uploads_days: int = 7             # the lifecycle aborts an upload left incomplete this long


@dataclass(frozen=True)
class Stored:
    """One object as read back: its version, SHA-256 of the bytes read and its lock."""

    key: str
    version_id: str
    sha256: str
    size: int
    retain_until: datetime
    mode: str


def client(settings: StoreSettings) -> Any:
    """An S3 client for the store, with boto3's own credential chain read afresh (a session of
    its own: boto3's default one keeps the first credentials it found for the process's life);
    short timeouts and few retries, so an unreachable store is said at once (the push is
    resumed later)."""
    import boto3
    from botocore.config import Config

    config = Config(region_name=settings.region, signature_version="s3v4", connect_timeout=5, read_timeout=60,
                    max_pool_connections=CONNECTIONS, retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": "path", "payload_signing_enabled": False},
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    s3 = boto3.session.Session().client("s3", endpoint_url=settings.endpoint, config=config)
    s3.meta.events.register("before-sign.s3", _content_md5)
    return s3


def _content_md5(request: Any, **_: Any) -> None:
    """Content-MD5 on every request with a body (a lock's retention, a lifecycle rule …), which
    boto3 would otherwise checksum with CRC32 alone; an object's PUT brings its own."""
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes) and body and "Content-MD5" not in request.headers:
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def failure(settings: StoreSettings, exc: Exception) -> StoreError:
    """``exc`` from boto3 as one sentence naming the store (never its credentials)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return StoreError(f"no credentials for the central store {settings.endpoint}: set AWS_ACCESS_KEY_ID "
                          f"and AWS_SECRET_ACCESS_KEY, or a credentials file, for the station's service")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return StoreError(f"the central store {settings.endpoint} refused it: "
                          f"{error.get('Code', '?')} {error.get('Message', '')}".rstrip())
    if isinstance(exc, EndpointConnectionError):
        return StoreError(f"the central store {settings.endpoint} cannot be reached")
    return StoreError(f"the central store {settings.endpoint} failed: {type(exc).__name__}: {exc}")


def store_errors() -> tuple[type[Exception], ...]:
    """What boto3 raises when the store refuses, is unreachable or cuts a transfer."""
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


def ensure_bucket(s3: Any, settings: StoreSettings) -> str:
    """Make the bucket with Object Lock (and so versioning) on, or check an existing one has
    both; returns what was done, in a sentence. An unlocked existing bucket is refused."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=settings.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=settings.bucket, ObjectLockEnabledForBucket=True)
        _check_locked(s3, settings.bucket)
        return f"bucket {settings.bucket} made on {settings.endpoint}, Object Lock and versioning on"
    _check_locked(s3, settings.bucket)
    return f"bucket {settings.bucket} on {settings.endpoint} has Object Lock and versioning on"


def _check_locked(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError:
        lock = {}
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if lock.get("ObjectLockEnabled") != "Enabled" or versioning != "Enabled":
        raise StoreError(f"bucket {bucket} exists without Object Lock (it cannot be turned on afterwards): "
                         f"name a new bucket in [store] bucket and run 'bodycam-station store init'")


def digests(path: Path) -> tuple[str, str, int]:
    """SHA-256 (hex), MD5 (base64, for Content-MD5) and size of the file at ``path``, one pass."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), base64.b64encode(md5.digest()).decode(), size


def put_locked(s3: Any, bucket: str, key: str, path: Path, sha256: str, md5: str,
               retain_until: datetime) -> str:
    """Put the file at ``path`` as ``key`` with COMPLIANCE retention until ``retain_until``;
    returns the new version's id."""
    with open(path, "rb") as body:
        answer = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5,
                               Metadata={SHA256_METADATA: sha256}, ObjectLockMode=COMPLIANCE,
                               ObjectLockRetainUntilDate=retain_until)
    return answer["VersionId"]


def read_back(s3: Any, bucket: str, key: str, version_id: str) -> Stored:
    """The version as the store gives it back: its bytes hashed here, its lock as it reports it."""
    return Stored(key, version_id, *hashed(s3, bucket, key, version_id), *retention(s3, bucket, key, version_id))


def hashed(s3: Any, bucket: str, key: str, version_id: str) -> tuple[str, int]:
    """The version's bytes as the store gives them back: their SHA-256 taken here, and size."""
    return _hash_stream(s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"])


def retention(s3: Any, bucket: str, key: str, version_id: str) -> tuple[datetime, str]:
    """The version's lock as the store reports it: retain-until (UTC) and mode."""
    lock = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version_id)["Retention"]
    return lock["RetainUntilDate"].astimezone(timezone.utc), lock["Mode"]


def _hash_stream(body: BinaryIO) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    for chunk in iter(lambda: body.read(CHUNK), b""):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def versions(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Every version of exactly ``key``, newest first, with the SHA-256 its metadata names."""
    found = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    exact = [v for v in found if v["Key"] == key]
    for version in exact:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        version["sha256"] = head.get("Metadata", {}).get(SHA256_METADATA)
    return exact


def lock_at_least(s3: Any, bucket: str, key: str, version_id: str, retain_until: datetime) -> None:
    """Lock the version in COMPLIANCE mode until ``retain_until`` unless it is locked as late
    already: a lock is only ever moved later (the store refuses earlier). A version without a
    lock (a multipart upload's, whose lock headers this gateway ignores) is locked now."""
    from botocore.exceptions import ClientError

    try:
        lock = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version_id)["Retention"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in UNLOCKED:
            raise
        lock = None
    if lock is None or lock["RetainUntilDate"] < retain_until:
        s3.put_object_retention(Bucket=bucket, Key=key, VersionId=version_id,
                                Retention={"Mode": COMPLIANCE, "RetainUntilDate": retain_until})


def legal_hold(s3: Any, bucket: str, key: str, on: bool) -> int:
    """Set (or clear) the S3 legal hold on every version of exactly ``key``; how many versions."""
    found = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key]
    for version in found:
        s3.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version["VersionId"],
                                 LegalHold={"Status": "ON" if on else "OFF"})
    return len(found)


def delete_versions(s3: Any, bucket: str, key: str) -> int:
    """Delete every version (and delete marker) of exactly ``key``; how many. The store refuses
    a version still locked or held, and that refusal is raised as it comes."""
    answer = s3.list_object_versions(Bucket=bucket, Prefix=key)
    found = [v for v in answer.get("Versions", []) + answer.get("DeleteMarkers", []) if v["Key"] == key]
    for version in found:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    return len(found)

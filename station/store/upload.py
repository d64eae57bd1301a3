"""Sending one file to the bucket: one PUT below the multipart threshold, else a multipart upload
that a kill -9 does not lose: the next push lists the parts the store already holds for the
key, checks each against the file's own bytes (its MD5, which is the part's ETag) and sends
only the rest, so the key gets one version. An upload whose parts do not match the file, and
every other upload left on the same key, is aborted; the bucket's lifecycle rule
(:func:`abort_forgotten_uploads`) aborts those no push comes back for.

The lock is not set here: this gateway ignores the lock headers of CreateMultipartUpload (they
are sent anyway, for the stores that honour them), so the caller sets the version's retention
with PutObjectRetention once the upload is complete and reads it back with GetObjectRetention.
CompleteMultipartUpload's answer is not trusted for the version either (its ETag comes back
empty here): HeadObject names the version that holds the seal's SHA-256.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from station.store import bucket
from station.store.bucket import COMPLIANCE, SHA256_METADATA, StoreError

LIFECYCLE_RULE = "bodycam-abort-incomplete-uploads"


@dataclass(frozen=True)
class Part:
    number: int
    offset: int
    size: int


def parts(size: int, part_bytes: int) -> list[Part]:
    """The parts a file of ``size`` bytes is cut into: numbered from 1, each ``part_bytes`` but the last."""
    return [Part(n + 1, offset, min(part_bytes, size - offset)) for n, offset in enumerate(range(0, size, part_bytes))]


def send(s3: Any, settings: bucket.StoreSettings, key: str, path: Path, sha256: str, md5: str, size: int,
         retain_until: datetime) -> str:
    """Put the file at ``path`` as ``key``; the new version's id. A file of at least
    ``settings.multipart_bytes`` goes in parts, resuming an upload a killed push left."""
    if size < settings.multipart_bytes:
        return bucket.put_locked(s3, settings.bucket, key, path, sha256, md5, retain_until)
    return _multipart(s3, settings, key, path, sha256, parts(size, settings.part_bytes), retain_until)


def _multipart(s3: Any, settings: bucket.StoreSettings, key: str, path: Path, sha256: str, cut: list[Part],
               retain_until: datetime) -> str:
    upload_id, held = _resumable(s3, settings.bucket, key, path, cut)
    if upload_id is None:
        upload_id = s3.create_multipart_upload(Bucket=settings.bucket, Key=key, Metadata={SHA256_METADATA: sha256},
                                               ObjectLockMode=COMPLIANCE,
                                               ObjectLockRetainUntilDate=retain_until)["UploadId"]
    etags = dict(held)
    with open(path, "rb") as stream:
        for part in cut:
            if part.number in etags:
                continue
            stream.seek(part.offset)
            data = stream.read(part.size)
            md5 = hashlib.md5(data, usedforsecurity=False).digest()
            answer = s3.upload_part(Bucket=settings.bucket, Key=key, UploadId=upload_id, PartNumber=part.number,
                                    Body=data, ContentMD5=base64.b64encode(md5).decode())
            etags[part.number] = answer["ETag"]
    s3.complete_multipart_upload(Bucket=settings.bucket, Key=key, UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": number, "ETag": etags[number]} for number in sorted(etags)]})
    head = s3.head_object(Bucket=settings.bucket, Key=key)
    if head.get("Metadata", {}).get(SHA256_METADATA) != sha256 or head["ContentLength"] != sum(p.size for p in cut):
        raise StoreError(f"{key}: the store's newest version after the multipart upload is not the one sent")
    return head["VersionId"]


def _resumable(s3: Any, bucket_name: str, key: str, path: Path, cut: list[Part]) -> tuple[str | None, dict[int, str]]:
    """The upload on ``key`` a killed push left, whose parts all match the file (and their
    ETags), or None; every other upload on the key is aborted."""
    best: tuple[str | None, dict[int, str]] = (None, {})
    for upload in _uploads(s3, bucket_name, key):
        held = _matching_parts(s3, bucket_name, key, upload, path, cut)
        if held is not None and (best[0] is None or len(held) > len(best[1])):
            if best[0] is not None:
                s3.abort_multipart_upload(Bucket=bucket_name, Key=key, UploadId=best[0])
            best = (upload, held)
        else:
            s3.abort_multipart_upload(Bucket=bucket_name, Key=key, UploadId=upload)
    return best


def _uploads(s3: Any, bucket_name: str, key: str) -> list[str]:
    found = s3.list_multipart_uploads(Bucket=bucket_name, Prefix=key).get("Uploads", [])
    return [upload["UploadId"] for upload in found if upload["Key"] == key]


def _matching_parts(s3: Any, bucket_name: str, key: str, upload_id: str, path: Path,
                    cut: list[Part]) -> dict[int, str] | None:
    """The upload's parts by number with their ETags, if each is the file's bytes where it
    belongs; None if one is not (another file's, or cut at another part size)."""
    expected = {part.number: part for part in cut}
    held: dict[int, str] = {}
    marker = 0
    with open(path, "rb") as stream:
        while True:
            answer = s3.list_parts(Bucket=bucket_name, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            for listed in answer.get("Parts", []):
                part = expected.get(listed["PartNumber"])
                if part is None or listed["Size"] != part.size:
                    return None
                stream.seek(part.offset)
                if listed["ETag"].strip('"') != hashlib.md5(stream.read(part.size), usedforsecurity=False).hexdigest():
                    return None
                held[part.number] = listed["ETag"]
            if not answer.get("IsTruncated"):
                return held
            marker = answer["NextPartNumberMarker"]


def abort_forgotten_uploads(s3: Any, bucket_name: str, days: int) -> str:
    """Make the bucket's lifecycle abort multipart uploads left incomplete ``days`` after they
    began (beside the bucket's other rules), and read the rule back; one sentence."""
    from botocore.exceptions import ClientError

    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    ours = {"ID": LIFECYCLE_RULE, "Status": "Enabled", "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days}}
    rules = [rule for rule in rules if rule.get("ID") != LIFECYCLE_RULE] + [ours]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket_name, LifecycleConfiguration={"Rules": rules})
    if forgotten_uploads_days(s3, bucket_name) != days:
        raise StoreError(f"bucket {bucket_name} did not keep the lifecycle rule aborting incomplete uploads")
    return f"incomplete multipart uploads are aborted {days} day(s) after they began"


def forgotten_uploads_days(s3: Any, bucket_name: str) -> int | None:
    """After how many days the bucket's lifecycle aborts an incomplete upload (None: never)."""
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"]
    for rule in rules:
        if rule.get("ID") == LIFECYCLE_RULE and rule.get("Status") == "Enabled":
            return rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
    return None

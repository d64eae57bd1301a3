"""Sending a file to the bucket: one PUT below the multipart threshold, else a multipart upload,
several parts at once (:class:`Sender`), that a kill -9 does not lose: the next push lists the
parts the store already holds for the key, checks each against the file's own bytes (its MD5,
which is the part's ETag) and sends only the rest, so the key gets one version. The file's
SHA-256 is taken as its parts are read and checked against the seal before the upload is
completed (a file that does not match is aborted, never a version). An upload whose parts do not match the file, and
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
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from station.store import bucket
from station.store.bucket import COMPLIANCE, SHA256_METADATA, NotAsSealed, StoreError

LIFECYCLE_RULE = "bodycam-abort-incomplete-uploads"
PARTS_AT_ONCE = 4          # parts read and in flight at once, across the files of a push


@dataclass(frozen=True)
class Part:
    number: int
    offset: int
    size: int


def parts(size: int, part_bytes: int) -> list[Part]:
    """The parts a file of ``size`` bytes is cut into: numbered from 1, each ``part_bytes`` but the last."""
    return [Part(n + 1, offset, min(part_bytes, size - offset)) for n, offset in enumerate(range(0, size, part_bytes))]


class Sender:
    """Sends files to the bucket, a multipart upload's parts several at once: the parts are read
    in order by the file's thread (the file's SHA-256 taken over them all) and handed to a pool
    of ``PARTS_AT_ONCE`` threads, each taking its part's MD5 for its Content-MD5; at most
    ``PARTS_AT_ONCE`` parts read but not yet sent are held in memory. One Sender is shared by
    the threads of a push."""

    def __init__(self, s3: Any, settings: bucket.StoreSettings) -> None:
        self.s3, self.settings = s3, settings
        self._pool = ThreadPoolExecutor(PARTS_AT_ONCE, thread_name_prefix="store-part")
        self._room = threading.BoundedSemaphore(PARTS_AT_ONCE)

    def close(self) -> None:
        self._pool.shutdown()

    def send(self, key: str, path: Path, sha256: str, retain_until: datetime) -> tuple[str, int]:
        """Put the file at ``path`` as ``key`` if its bytes are the seal's ``sha256``; the new
        version's id and its size. A file of at least ``settings.multipart_bytes`` goes in
        parts, resuming an upload a killed push left; a smaller one in one PUT, hashed first."""
        size = path.stat().st_size
        if size < self.settings.multipart_bytes:
            sha, md5, size = bucket.digests(path)
            _check_seal(key, sha, sha256)
            return bucket.put_locked(self.s3, self.settings.bucket, key, path, sha256, md5, retain_until), size
        return self._multipart(key, path, sha256, parts(size, self.settings.part_bytes), retain_until), size

    def _multipart(self, key: str, path: Path, sha256: str, cut: list[Part], retain_until: datetime) -> str:
        s3, bucket_name = self.s3, self.settings.bucket
        upload_id, held = _resumable(s3, bucket_name, key, path, cut)
        if upload_id is None:
            upload_id = s3.create_multipart_upload(Bucket=bucket_name, Key=key, Metadata={SHA256_METADATA: sha256},
                                                   ObjectLockMode=COMPLIANCE,
                                                   ObjectLockRetainUntilDate=retain_until)["UploadId"]
        sha, sending = self._send_parts(key, upload_id, path, cut, held)
        etags = dict(held)
        for number, future in sending.items():
            etags[number] = future.result()          # the first part the store refused or lost is raised
        if sha != sha256:
            s3.abort_multipart_upload(Bucket=bucket_name, Key=key, UploadId=upload_id)
            _check_seal(key, sha, sha256)
        s3.complete_multipart_upload(Bucket=bucket_name, Key=key, UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": number, "ETag": etags[number]} for number in sorted(etags)]})
        head = s3.head_object(Bucket=bucket_name, Key=key)
        if head.get("Metadata", {}).get(SHA256_METADATA) != sha256 or head["ContentLength"] != sum(p.size for p in cut):
            raise StoreError(f"{key}: the store's newest version after the multipart upload is not the one sent")
        return head["VersionId"]

    def _send_parts(self, key: str, upload_id: str, path: Path, cut: list[Part],
                    held: dict[int, str]) -> tuple[str, dict[int, Future[str]]]:
        """Every part the upload does not hold yet handed to the pool (none more once one has
        failed); the file's SHA-256, and each part's answer to come, once all are answered."""
        sha, sending = hashlib.sha256(), {}
        try:
            with open(path, "rb") as stream:
                for part in cut:
                    if any(future.done() and future.exception() for future in sending.values()):
                        break
                    self._room.acquire()
                    try:
                        stream.seek(part.offset)
                        data = stream.read(part.size)
                        sha.update(data)
                    except BaseException:
                        self._room.release()
                        raise
                    if part.number in held:
                        self._room.release()
                        continue
                    future = self._pool.submit(self._part, key, upload_id, part.number, data)
                    future.add_done_callback(lambda _: self._room.release())
                    sending[part.number] = future
        finally:
            wait(sending.values())
        return sha.hexdigest(), sending

    def _part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        return self.s3.upload_part(Bucket=self.settings.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                   Body=data, ContentMD5=md5)["ETag"]


def _check_seal(key: str, sha256: str, sealed: str) -> None:
    if sha256 != sealed:
        raise NotAsSealed(f"{key} does not match its seal (SHA-256 {sha256}, sealed {sealed}): "
                         f"it is not sent; run 'bodycam-station verify'")


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

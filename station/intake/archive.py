"""The dock's archive: every item checked against the device's seals before it is accepted.

An item ``<session>/<file>`` is received as a resumable partial copy (``sync.store``) and,
when complete, verified against what the archive already holds of that session and device;
only then is it linked read-only into
``<root>/YYYY/MM/DD/<unit number>/<device serial>/<police number>/<session>/<file>`` (the
date of the session-open record's ``started_wall``, UTC) and may the dock receipt it.
Anything that does not verify raises ``VerifyError``: no receipt, so the device keeps it.
Each accepted item is filed in the catalogue (``station.catalogue.catalogue``) before it is linked, and
the catalogue's chain of archived records is what a new record is checked against.

The device's own records come first: ``device/chain-head.json``, its signed chain head, is
the first item of every docking, and ``device/identity-NNNNNN.json`` its identity records
(filed at ``<root>/chain/<key id>/``). With a :class:`station.intake.witness.Witness` the head and
every record are checked against what this station took of the device before; a docking that
rewinds or forks the chain is refused for release: the rest of what the device offers is
archived as received under ``<root>/refused/<key id>/`` and nothing is receipted.

The device's event log comes as ``events/events-NNNNNN.jsonl``. Its lines are not signed and
name no device, so each file is filed under the key of the device that authenticated the
pull (the dock tells the sink in :meth:`ArchiveSink.peer`), at ``<root>/events/<key id>/``, and only
if it carries on the hash chain of that device's event files archived so far.
"""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from evidence import EvidenceError
from evidence.eventlog import Verification, log_files
from evidence.files import sha256_file, sync_directory
from evidence.keys import key_id
from evidence.paths import DEVICE_ITEMS, EVENTS, ArchiveDir
from evidence.records import CHAIN_HEAD, INDEX_SUFFIX, MANIFEST_SUFFIX, SESSION_OPEN, SignedRecord, parse
from station.catalogue.catalogue import SESSION_FILE, Catalogue, CatalogueError, station_id
from sync import VerifyError
from sync.messages import Item
from sync.store import FilePartial

if TYPE_CHECKING:
    from station.intake.witness import Witness

log = logging.getLogger(__name__)
SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")      # a session id, serial or number as a folder
EVENT_FILE = re.compile(r"events-(\d{6})\.jsonl")
DEVICE_FILE = re.compile(rf"{re.escape(CHAIN_HEAD)}|identity-\d{{6}}\.json")
HEAD_ITEM = f"{DEVICE_ITEMS}/{CHAIN_HEAD}"


class ArchiveSink:
    """``sync.store.Sink`` for the dock. ``trusted_device_keys`` None accepts any validly signed
    device; ``progress(files, bytes)`` hears of every write and every accepted file.
    ``device_key`` is the device that authenticated the pull (the dock calls :meth:`peer`):
    without it event files are refused. Each accepted file is filed in ``catalogue``."""

    def __init__(self, root: Path, trusted_device_keys: set[bytes] | None, catalogue: Catalogue, *,
                 progress: Callable[[int, int], None] | None = None, sync_every: int = 4 << 20,
                 device_key: bytes | None = None, witness: "Witness | None" = None) -> None:
        self.root = Path(root)
        self.witness = witness
        self.refused = ""               # why this docking is refused for release ("" while it is not)
        self.head_checked = False
        self.folders = ArchiveDir(self.root)
        self.trusted = trusted_device_keys
        self.device_key = device_key
        self.progress = progress or (lambda files, nbytes: None)
        self.sync_every = sync_every
        self.files = self.bytes = 0
        self.folders.partial.mkdir(parents=True, exist_ok=True)
        self.station = station_id(self.root)
        self.catalogue = catalogue
        # The folders this pull added a file to, each with the SHA-256 (hex) of the files it added
        # as they arrived: what the stored verdicts take instead of reading the files again.
        self.sessions_filed: dict[Path, dict[str, str]] = {}

    def resume(self, item: Item) -> "_Checked | None":
        session, name = _split(item.id)
        if not self.refused and self.witness is not None and not self.head_checked and item.id != HEAD_ITEM:
            self._refuse("the device offered no signed chain head before its other items")
        if self.refused:
            return self._refused_copy(item)
        if session == DEVICE_ITEMS:
            return self._device_item(item, name)
        if session == EVENTS:
            final, check = self._event_folder(item) / name, self._check_events
        else:
            folder = self._folder(session)
            if folder is None and name != SESSION_OPEN:
                raise VerifyError(f"{item.id}: its session-open record is not archived yet")
            final, check = folder / name if folder else None, self.check
        if final is not None and final.exists():
            if final.stat().st_size == item.size and sha256_file(final).digest() == item.sha256:
                return None                  # archived already: the dock just receipts it again
            raise VerifyError(f"{item.id} is archived already with different contents")
        return _Checked(self, item, final, check)

    def peer(self, device_key: bytes) -> None:
        """A session lost to the link is opened again in the same pull: what was decided of the
        device's head holds for the whole pull."""
        if device_key != self.device_key:
            self.refused, self.head_checked = "", False
        self.device_key = device_key
        self.catalogue.docked(self.station, key_id(device_key))

    def _device_item(self, item: Item, name: str) -> "_Checked | None":
        if self.device_key is None:
            raise VerifyError(f"{item.id}: no authenticated device to file it under")
        folder = self.folders.chain(key_id(self.device_key))
        if name == CHAIN_HEAD:
            final = folder / f"head-{item.sha256.hex()[:16]}.json"
            if final.exists() and sha256_file(final).digest() == item.sha256:
                self._check_head(final)             # the same head as last time: checked again all the same
                return None
            return _Checked(self, item, final, lambda partial: self._check_head(partial.path))
        final = folder / name
        if final.exists():
            if sha256_file(final).digest() == item.sha256:
                return None
            raise VerifyError(f"{item.id} is archived already with different contents")
        return _Checked(self, item, final, self._check_identity)

    def _check_head(self, path: Path) -> None:
        head = self._record(path, HEAD_ITEM)
        if head.body["type"] != "chain-head" or head.public_key != self.device_key:
            raise VerifyError(f"{HEAD_ITEM} is not a chain head signed by the device that docked")
        problem = self.witness.check_head(head) if self.witness is not None else ""
        if problem:
            self._refuse(problem)
            raise VerifyError(f"{HEAD_ITEM}: {problem}")
        self.head_checked = True

    def _check_identity(self, partial: "_Checked") -> None:
        record = self._record(partial.path, partial.item.id)
        if record.body["type"] != "identity" or record.public_key != self.device_key:
            raise VerifyError(f"{partial.item.id} is not an identity record signed by the device that docked")
        self._witnessed(record, partial)

    def _witnessed(self, record: SignedRecord, partial: "_Checked") -> None:
        """Check ``record`` against what the station took of its device: refuse the docking if it
        does not fit; else the station remembers it once the item is archived."""
        if self.witness is None:
            return
        problem = self.witness.check_record(record)
        if problem:
            self._refuse(problem)
            self._keep_refused(partial)
        partial.record = record

    def _refuse(self, reason: str) -> None:
        self.refused = reason
        device = key_id(self.device_key) if self.device_key else "unknown"
        log.warning("docking of device key %s refused for release: %s; what it offers is archived under "
                    "refused/ and not receipted", device, reason)
        if self.witness is not None:
            self.witness.refuse(device, self._serial(), reason)

    def _serial(self) -> str:
        heads = sorted(self.folders.chain(key_id(self.device_key)).glob("head-*.json")) if self.device_key else []
        for path in heads:
            try:
                return parse(path.read_bytes()).body["device"]
            except EvidenceError:
                continue
        return "unknown"

    def _refused_copy(self, item: Item) -> "_Checked":
        final = self.folders.refused(key_id(self.device_key) if self.device_key else "unknown") / item.id
        if final.exists() and sha256_file(final).digest() == item.sha256:
            raise VerifyError(f"{item.id} is archived under refused/ and not receipted: {self.refused}")
        return _Checked(self, item, final, self._keep_refused)

    def _keep_refused(self, partial: "_Checked") -> None:
        """Archive the item as received, apart, and raise: no receipt, so the device frees nothing."""
        final = self.folders.refused(key_id(self.device_key) if self.device_key else "unknown") / partial.item.id
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(partial.path, 0o444)
            os.link(partial.path, final)
            sync_directory(final.parent)
        raise VerifyError(f"{partial.item.id} is archived under refused/ and not receipted: {self.refused}")

    def _event_folder(self, item: Item) -> Path:
        if self.device_key is None:
            raise VerifyError(f"{item.id}: no authenticated device to file it under")
        if self.trusted is not None and self.device_key not in self.trusted:
            raise VerifyError(f"device key {key_id(self.device_key)} is not enrolled on this dock")
        return self.folders.events / key_id(self.device_key)

    def _folder(self, session: str) -> Path | None:
        folder = self.catalogue.folder(self.station, session)
        return None if folder is None else self.root / folder

    def _file(self, partial: "_Checked", record: SignedRecord | None) -> None:
        """File the accepted item in the catalogue, before it is linked: a crash between the two
        leaves an entry whose file the next pull brings (filing it again changes nothing)."""
        folder = partial.final.parent
        try:
            self.catalogue.take(self.station, folder.relative_to(self.root).as_posix(), partial.name, record,
                                partial.path.stat().st_mtime_ns)
        except CatalogueError as exc:
            raise VerifyError(f"{partial.item.id}: {exc}") from exc
        self.sessions_filed.setdefault(folder, {})

    def _record(self, path: Path, what: str) -> SignedRecord:
        try:
            return parse(path.read_bytes())
        except FileNotFoundError:
            raise VerifyError(f"{what} is not archived yet") from None
        except EvidenceError as exc:
            raise VerifyError(f"{what}: {exc}") from exc

    def check(self, partial: "_Checked") -> None:
        """Raise VerifyError unless the complete item fits the seals and chain archived so far."""
        name, kind = partial.name, SESSION_FILE.fullmatch(partial.name)
        if name == SESSION_OPEN:
            opened = self._record(partial.path, name)
            if opened.body.get("type") != "session-open" or opened.body.get("session") != partial.session:
                raise VerifyError(f"{partial.item.id} is not the open record of session {partial.session}")
            if self.trusted is not None and opened.public_key not in self.trusted:
                raise VerifyError(f"device key {key_id(opened.public_key)} is not enrolled on this dock")
            self._witnessed(opened, partial)
            self._check_chain(opened)
            partial.final = self._place(opened) / name
            self._file(partial, opened)
            return
        folder = partial.final.parent
        opened = self._record(folder / SESSION_OPEN, f"the open record of {partial.session}")
        if kind.group(2) is None:            # the close record
            closed = self._same_source(self._record(partial.path, name), opened, "session-close")
            manifests = sorted(folder.glob("seg-*.mp4" + MANIFEST_SUFFIX))
            last = self._record(manifests[-1], manifests[-1].name) if manifests else None
            if closed.body["prev"] != (last or opened).hash or closed.body["segments"] != len(manifests):
                raise VerifyError(f"{partial.item.id}: closes after {closed.body['segments']} segments, "
                                  f"{len(manifests)} archived: records missing between")
            self._witnessed(closed, partial)
            self._check_chain(closed)
            self._file(partial, closed)
            return
        number, video = int(kind.group(2)), f"seg-{kind.group(2)}.mp4"
        if kind.group(3) == MANIFEST_SUFFIX:
            manifest = self._same_source(self._record(partial.path, name), opened, "segment")
            self._witnessed(manifest, partial)
            before = (opened if number == 1
                      else self._record(folder / f"seg-{number - 1:06d}.mp4{MANIFEST_SUFFIX}", f"segment {number - 1}"))
            if manifest.body["segment"] != number or manifest.body["file"]["name"] != video:
                raise VerifyError(f"{partial.item.id} seals {manifest.body['file']['name']}: renamed")
            if manifest.body["prev"] != before.hash:
                raise VerifyError(f"{partial.item.id} does not follow the record before it: records missing between")
            self._file(partial, manifest)
            return
        sealed = self._record(folder / (video + MANIFEST_SUFFIX), f"the manifest of {video}").body
        # Exactly what was sealed: a recovered video comes as its sealed prefix (evidence.receipts).
        # The received bytes hash to item.sha256 (checked by commit), so the file is not read again.
        expected = sealed["index"] if kind.group(3) == INDEX_SUFFIX else sealed["file"]
        if partial.offset != expected["size"] or partial.item.sha256.hex() != expected["sha256"]:
            raise VerifyError(f"{partial.item.id} differs from what its manifest sealed")
        self._file(partial, None)

    def _check_events(self, partial: "_Checked") -> None:
        """Raise VerifyError unless the event file comes after every one archived of this device
        and carries on the hash chain: from the last line archived when it is the next file
        (from the start for the log's first file); after a gap -- the files between went to
        another dock -- its own lines must chain and its first ``seq`` must come later."""
        number, held = _event_number(partial.name), log_files(partial.final.parent)
        last = _event_number(held[-1].name) if held else 0
        if number < last:
            raise VerifyError(f"{partial.item.id} comes before {held[-1].name}, the device's last event file "
                              f"archived: out of order")
        archived = _chain_after(held, number)
        chain = archived if number == last + 1 else Verification(seq=None, prev=None)
        chain.check(partial.name, partial.path.read_bytes())
        if chain.problems:
            raise VerifyError(f"{partial.item.id} breaks the event log's hash chain (a line changed, removed, "
                              f"inserted or reordered): {chain.problems[0]}")
        if chain is not archived:
            first = chain.records[0]["seq"] if chain.records else None
            if first is not None and archived.seq is not None and first <= archived.seq:
                raise VerifyError(f"{partial.item.id} starts at event {first}, not after event {archived.seq} "
                                  f"archived already: events replayed")
            log.warning("%s: event files %d..%d of this device are not in this archive (taken by another dock)",
                        partial.item.id, last + 1, number - 1)

    def _same_source(self, record: SignedRecord, opened: SignedRecord, kind: str) -> SignedRecord:
        body = record.body
        if body.get("type") != kind:
            raise VerifyError(f"a {body.get('type')} record stands in a {kind} record's place")
        if record.public_key != opened.public_key or body.get("session") != opened.body["session"]:
            raise VerifyError(f"the {kind} record belongs to another device or session")
        return record

    def _check_chain(self, record: SignedRecord) -> None:
        """Against the device's session records archived so far: no seq used twice, and the
        archived neighbours (the close before an open, the open after a close) link up.
        A gap stays possible (marked sessions come first); ``bodycam verify`` shows one that stays."""
        body = record.body
        for line in self.catalogue.neighbours(body["key_id"], body["seq"]):
            if line["seq"] == body["seq"] and line["hash"] != record.hash:
                raise VerifyError(f"record {body['seq']} of device {body['device']} is archived already "
                                  f"as another record (a replay or a fork)")
            if (line["seq"] == body["seq"] - 1 and line["hash"] != body["prev"]) or \
                    (line["seq"] == body["seq"] + 1 and line["prev"] != record.hash):
                raise VerifyError(f"record {body['seq']} of device {body['device']} does not link to record "
                                  f"{line['seq']} archived already")

    def _place(self, opened: SignedRecord) -> Path:
        body = opened.body
        parts = [body["unit"]["number"], body["device"], body["officer"]["police_number"], body["session"]]
        if not all(isinstance(part, str) and SAFE.fullmatch(part) for part in parts):
            raise VerifyError(f"the open record of {body['session']!r} names an unsafe folder: {parts}")
        return self.root.joinpath(time.strftime("%Y/%m/%d", time.gmtime(body["started_wall"] // 10**9)), *parts)


class _Checked(FilePartial):
    """A partial copy that is verified by ``check`` before it becomes final."""

    def __init__(self, sink: ArchiveSink, item: Item, final: Path | None,
                 check: Callable[["_Checked"], None]) -> None:
        # Named by the device too: bays receiving the same bytes from two devices at once
        # (an empty index, say) must not share one copy.
        owner = f"{key_id(sink.device_key)}-" if sink.device_key else ""
        super().__init__(item, sink.folders.partial / f"{owner}{item.sha256.hex()}", final, sink.sync_every)
        self.sink, self.check = sink, check
        self.session, _, self.name = item.id.partition("/")
        self.record: SignedRecord | None = None      # the chain record it holds, for the witness

    def write(self, data: bytes) -> None:
        super().write(data)
        self.sink.bytes += len(data)
        self.sink.progress(self.sink.files, self.sink.bytes)

    def commit(self) -> None:
        self.close()
        try:
            if self.offset != self.item.size or self._digest.digest() != self.item.sha256:
                raise VerifyError(f"{self.item.id!r}: SHA-256 of the received bytes does not match")
            self.check(self)
        except (VerifyError, KeyError, TypeError, ValueError) as exc:   # a malformed record body too
            self.path.unlink()
            raise exc if isinstance(exc, VerifyError) else VerifyError(f"{self.item.id}: {exc!r}") from exc
        super().commit()
        if self.final.parent in self.sink.sessions_filed:
            self.sink.sessions_filed[self.final.parent][self.name] = self.item.sha256.hex()
        if self.record is not None and self.sink.witness is not None:
            self.sink.witness.saw(self.record, self.item.id)
        if self.name == SESSION_OPEN or self.session == EVENTS:   # folders made for it must survive a power cut
            for folder in self.final.parent.parents:
                sync_directory(folder)
                if folder == self.sink.root:
                    break
        self.sink.files += 1
        self.sink.progress(self.sink.files, self.sink.bytes)


def _split(item_id: str) -> tuple[str, str]:
    session, _, name = item_id.partition("/")
    pattern = {EVENTS: EVENT_FILE, DEVICE_ITEMS: DEVICE_FILE}.get(session, SESSION_FILE)
    if not SAFE.fullmatch(session) or not pattern.fullmatch(name):
        raise VerifyError(f"item id {item_id!r} is not <session>/<evidence file>, {DEVICE_ITEMS}/<chain head or "
                          f"identity record> or {EVENTS}/events-NNNNNN.jsonl")
    return session, name


def _event_number(name: str) -> int:
    return int(EVENT_FILE.fullmatch(name).group(1))


def _chain_after(held: list[Path], number: int) -> Verification:
    """Where event file ``number`` must chain to: the last complete line of the files archived
    before it (checked already), else the log's start for file 1, else not known."""
    for path in reversed(held):
        end = Verification(seq=None, prev=None).check(path.name, path.read_bytes())
        if end.seq is not None:
            return Verification(seq=end.seq, prev=end.prev)
    first = _event_number(held[0].name) if held else number
    return Verification() if first == 1 else Verification(seq=None, prev=None)

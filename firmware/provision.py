"""The device's identity and key: created by ``bodycam provision``, read by everything that records.

``<data_dir>/device/device.key`` is the Ed25519 private key (mode 0600, never printed,
never replaced); ``device.pub`` its public half, for verifiers. Who carries the device is a
signed ``identity`` record in the device's chain, ``device/identity/identity-NNNNNN.json``
(docs/evidence-format.md): the first is written at provisioning, a new one at each
re-assignment to another officer or unit; none is ever edited, and the product serial
never changes. At every start the records are checked against their signatures, the
device's key and the configuration's rules; anything else refuses to record. The
configuration's ``[device]``, ``[officer]`` and ``[unit]`` keys are the values a device is
provisioned with when nothing else is given; once provisioned, the records are what count.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evidence import EvidenceError
from evidence.chain import ChainState, ChainWriter, sessions_left_open
from evidence.files import atomic_write
from evidence.keys import FileSigner, key_id, public_pem
from evidence.paths import DataDir
from evidence.records import IDENTITY_GLOB, read_record
from firmware.config import SCHEMA, Config, ConfigError
from firmware.context import DeviceContext
from firmware.eventlog import EventLog
from firmware.version import __version__
from firmware.writer import writing

# identity record key -> (config section, config key): one rule for each, in firmware.config.
FIELDS = {
    "device": ("device", "serial"),
    "police_number": ("officer", "police_number"),
    "officer": ("officer", "name"),
    "unit_number": ("unit", "number"),
    "unit": ("unit", "name"),
}


class ProvisionError(ConfigError):
    """An identity value is refused, or the device's identity cannot change that way."""


def refuse_cut_sessions(chain: ChainWriter, identity: dict[str, str]) -> None:
    """For a caller that cannot seal footage: a session a power cut left open refuses the change."""
    left_open = sessions_left_open(chain.folders)
    if left_open:
        raise ProvisionError(f"provision: session {left_open[0].name} was left open by a power cut; start the "
                             f"device once to seal it before the identity changes.")


# Seals and closes what a power cut left open (capture.sealing.close_cut_sessions), so that
# the identity record follows the records of every session before it.
CloseCutSessions = Callable[[ChainWriter, dict[str, str]], object]


def provision(context: DeviceContext, values: dict[str, str],
              close_cut_sessions: CloseCutSessions = refuse_cut_sessions) -> tuple[FileSigner, dict[str, str]]:
    """Create the key if there is none and sign the identity into the chain; return both.

    ``values`` uses the identity's keys (see FIELDS). A provisioned device given another
    officer or unit gets a new identity record (a re-assignment); the same values add
    nothing; a different product serial is refused.
    """
    _check_rules(values)
    folder = context.data_dir
    with writing(folder):
        old = load_identity(folder) if has_identity(folder) else None
        signer = FileSigner(folder.key) if folder.key.exists() else FileSigner.generate(folder.key)
        if old and old["device"] != values["device"]:
            raise ProvisionError(f"provision: this device's serial is {old['device']}; it cannot become "
                                 f"{values['device']}.")
        identity = {**values, "firmware": __version__, "key_id": signer.key_id, "public_key": signer.public_key.hex()}
        atomic_write(folder.public_key, public_pem(signer.public_key).encode())
        if old is None or any(old[name] != values[name] for name in FIELDS):
            _sign_identity(context, signer, identity, "re-assignment" if old else "provisioned",
                           close_cut_sessions)
    return signer, identity


def _sign_identity(context: DeviceContext, signer: FileSigner, identity: dict[str, str], reason: str,
                   close_cut_sessions: CloseCutSessions) -> None:
    chain = ChainWriter(context.data_dir, signer, identity["device"])
    log_chain_head(context.events, chain.state)
    if chain.state.newest is not None and chain.state.newest.body["device"] != identity["device"]:
        raise ProvisionError(f"provision: this device recorded as {chain.state.newest.body['device']}; "
                             f"its serial cannot become {identity['device']}.")
    close_cut_sessions(chain, identity)  # a session a power cut left open is closed before the identity changes
    chain.record_identity(identity, reason)


def log_chain_head(events: EventLog, chain: ChainState) -> list[str]:
    """Log what was wrong with the chain head found at start, if anything; returns it as a note."""
    if not chain.found:
        return []
    note = f"{chain.found}: rebuilt from the records on the device, record {chain.seq} is the head"
    events.append("chain_head_rebuilt", {"found": chain.found, "seq": chain.seq, "head": chain.head})
    return [note]


def _check_rules(values: dict[str, str]) -> None:
    for name, value in values.items():
        section, key = FIELDS[name]
        rule = SCHEMA[section][key]
        if not isinstance(value, str) or not rule.check(value):
            raise ProvisionError(f"provision: {name.replace('_', ' ')} must be {rule.must}, got {value!r}.")


def _identity_paths(data_dir: DataDir) -> list[Path]:
    folder = data_dir.identity
    return sorted(folder.glob(IDENTITY_GLOB)) if folder.is_dir() else []


def has_identity(data_dir: DataDir) -> bool:
    """Whether the device holds a signed identity record (valid or not)."""
    return bool(_identity_paths(data_dir))


def load_identity(data_dir: DataDir) -> dict[str, str] | None:
    """The identity of the newest signed identity record, checked against the signatures, the
    device's key and the rules; None if the device was never provisioned. Raises
    ProvisionError (one sentence) for anything edited, missing or signed by another key."""
    paths = _identity_paths(data_dir)
    if not paths:
        if data_dir.key.exists():
            raise ProvisionError(f"the device has a key but no signed identity record in {data_dir.identity}; "
                                 f"run 'bodycam provision' to sign one.")
        return None
    device_key = FileSigner(data_dir.key).public_key
    serial = None
    for path in paths:
        try:
            record = read_record(path)
        except EvidenceError as exc:
            raise ProvisionError(f"the identity record {path} was changed or damaged ({exc}); refusing to record.") \
                from exc
        body = record.body
        if record.public_key != device_key or body["type"] != "identity":
            raise ProvisionError(f"the identity record {path} is not signed by this device's key "
                                 f"{key_id(device_key)}; refusing to record.")
        if serial is not None and body["device"] != serial:
            raise ProvisionError(f"the identity record {path} names serial {body['device']}, but this device is "
                                 f"{serial}; the serial never changes: refusing to record.")
        serial = body["device"]
    identity = {"device": body["device"], "police_number": body["officer"]["police_number"],
                "officer": body["officer"]["name"], "unit_number": body["unit"]["number"], "unit": body["unit"]["name"]}
    try:
        _check_rules(identity)
    except ProvisionError as exc:
        raise ProvisionError(f"the identity record {paths[-1]} breaks the rules ({exc}); refusing to record.") \
            from exc
    if data_dir.public_key.exists() and data_dir.public_key.read_text() != public_pem(device_key):
        raise ProvisionError(f"{data_dir.public_key} does not hold this device's public key; refusing to record.")
    return {**identity, "firmware": __version__, "key_id": key_id(device_key), "public_key": device_key.hex()}


def from_config(config: Config) -> dict[str, str]:
    return {name: config[section][key] for name, (section, key) in FIELDS.items()}


def ensure_provisioned(context: DeviceContext,
                       close_cut_sessions: CloseCutSessions) -> tuple[FileSigner, dict[str, str], bool]:
    """The device's key and identity; a device started for the first time is provisioned from the config.

    Returns whether it was provisioned just now, so that the caller can say so.
    """
    identity = load_identity(context.data_dir)
    if identity is None:
        signer, identity = provision(context, from_config(context.config), close_cut_sessions)
        return signer, identity, True
    return FileSigner(context.data_dir.key), identity, False

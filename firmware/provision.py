"""The device's identity and key: created by ``bodycam provision``, read by everything that records.

``<data_dir>/device/device.key`` is the Ed25519 private key (mode 0600, never printed,
never replaced); ``device.pub`` its public half, for verifiers; ``identity.json`` the
identity record: product serial, police number, officer name, unit number and unit name.
The configuration's ``[device]``, ``[officer]`` and ``[unit]`` keys are the values a device
is provisioned with when nothing else is given; once provisioned, the record is what counts.
"""
from __future__ import annotations

import json
from pathlib import Path

from evidence.files import atomic_write
from evidence.keys import FileSigner, public_pem
from evidence.paths import DataDir
from firmware.config import SCHEMA, Config, ConfigError
from firmware.version import __version__

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


def provision(data_dir: Path, values: dict[str, str]) -> tuple[FileSigner, dict[str, str]]:
    """Create the key if there is none and write the identity record; return both.

    ``values`` uses the identity record's keys (see FIELDS). The product serial of a
    provisioned device never changes: a different one is refused.
    """
    for name, value in values.items():
        section, key = FIELDS[name]
        rule = SCHEMA[section][key]
        if not isinstance(value, str) or not rule.check(value):
            raise ProvisionError(f"provision: {name.replace('_', ' ')} must be {rule.must}, got {value!r}.")
    folder = DataDir(data_dir)
    key_path = folder.key
    old = load_identity(data_dir)
    if old and old["device"] != values["device"]:
        raise ProvisionError(f"provision: this device's serial is {old['device']}; it cannot become "
                             f"{values['device']}.")
    signer = FileSigner(key_path) if key_path.exists() else FileSigner.generate(key_path)
    identity = {**values, "firmware": __version__, "key_id": signer.key_id, "public_key": signer.public_key.hex()}
    atomic_write(folder.public_key, public_pem(signer.public_key).encode())
    atomic_write(folder.identity, json.dumps(identity, ensure_ascii=False, indent=1).encode())
    return signer, identity


def load_identity(data_dir: Path) -> dict[str, str] | None:
    path = DataDir(data_dir).identity
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProvisionError(f"the identity record {path} cannot be read ({exc}); run 'bodycam provision'.") from exc


def from_config(config: Config) -> dict[str, str]:
    return {name: config[section][key] for name, (section, key) in FIELDS.items()}


def ensure_provisioned(config: Config) -> tuple[FileSigner, dict[str, str], bool]:
    """The device's key and identity; a device started for the first time is provisioned from the config.

    Returns whether it was provisioned just now, so that the caller can say so.
    """
    data_dir = Path(config["recording"]["data_dir"])
    identity = load_identity(data_dir)
    if identity is None:
        signer, identity = provision(data_dir, from_config(config))
        return signer, identity, True
    return FileSigner(DataDir(data_dir).key), {**identity, "firmware": __version__}, False

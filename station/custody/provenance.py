"""C2PA manifests for exported videos, as sidecars: the originals stay byte for byte.

The station is its own certificate authority (Ed25519, made with ``cryptography``): a
self-signed CA certificate (``station-ca.pem``, the trust anchor a court is given) and a
one-year signing certificate under it, renewed when it runs out. Each video of an export
gets ``<video>.c2pa``: a C2PA manifest store, not embedded, whose hard binding (the
``c2pa.hash.bmff`` assertion) hashes the untouched original but for the boxes C2PA leaves out
by default (``ftyp``, ``mfra``, top-level ``uuid``, ``free``, ``skip``; the device's seal covers
every byte), signed with the station's signing key. The device-signed segment is the manifest's ingredient, and the
device's own signed seal of it is carried whole in the ``cn.bodycam.evidence.seal`` assertion.
"""
from __future__ import annotations

import datetime
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bodycam_errors import BodycamError
from evidence.files import atomic_write
from evidence.paths import ArchiveDir

SEAL_ASSERTION = "cn.bodycam.evidence.seal"
CA_YEARS, SIGNER_DAYS, RENEW_DAYS = 20, 365, 30


class ProvenanceError(BodycamError, ValueError):
    """A C2PA manifest cannot be made or read."""


@dataclass(frozen=True)
class StationCA:
    """The CA certificate (the trust anchor), and the signing certificate and key under it."""

    ca_pem: bytes
    signer_pem: bytes
    signer_key_pem: bytes

    @property
    def chain(self) -> bytes:
        return self.signer_pem + self.ca_pem


def _name(common_name: str, station: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bodycam station"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, station)])


def _pem_key(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign, crl_sign=not sign,
                         encipher_only=False, decipher_only=False)


def station_ca(archive: Path, station: str = "dock") -> StationCA:
    """The station's CA and a valid signing certificate: made the first time, the signing
    certificate renewed within ``RENEW_DAYS`` of its end. The CA key never leaves ``dock/``."""
    folder, now = ArchiveDir(archive), datetime.datetime.now(datetime.UTC)
    if not folder.ca_key.exists():
        key = Ed25519PrivateKey.generate()
        subject = _name("bodycam station CA", station)
        certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(minutes=5))
                       .not_valid_after(now + datetime.timedelta(days=365 * CA_YEARS))
                       .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                       .add_extension(_usage(sign=False), critical=True)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                       .sign(key, None))
        atomic_write(folder.ca_key, _pem_key(key), mode=0o600)
        atomic_write(folder.ca_certificate, certificate.public_bytes(serialization.Encoding.PEM))
    ca_key = serialization.load_pem_private_key(folder.ca_key.read_bytes(), password=None)
    ca_pem = folder.ca_certificate.read_bytes()
    if _needs_signer(folder, now):
        _new_signer(folder, ca_key, x509.load_pem_x509_certificate(ca_pem), now, station)
    return StationCA(ca_pem, folder.c2pa_certificate.read_bytes(), folder.c2pa_key.read_bytes())


def _needs_signer(folder: ArchiveDir, now: datetime.datetime) -> bool:
    if not (folder.c2pa_key.exists() and folder.c2pa_certificate.exists()):
        return True
    certificate = x509.load_pem_x509_certificate(folder.c2pa_certificate.read_bytes())
    return certificate.not_valid_after_utc - now < datetime.timedelta(days=RENEW_DAYS)


def _new_signer(folder: ArchiveDir, ca_key: Any, ca: x509.Certificate, now: datetime.datetime, station: str) -> None:
    key = Ed25519PrivateKey.generate()
    certificate = (x509.CertificateBuilder().subject_name(_name("bodycam station export signer", station))
                   .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=SIGNER_DAYS))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(_usage(sign=True), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False)
                   .sign(ca_key, None))
    atomic_write(folder.c2pa_key, _pem_key(key), mode=0o600)
    atomic_write(folder.c2pa_certificate, certificate.public_bytes(serialization.Encoding.PEM))


def sign_sidecar(video: Path, seal: bytes, ca: StationCA, about: dict[str, Any]) -> bytes:
    """The C2PA manifest store for ``video`` (never changed): ``seal`` is the device's stored
    segment record, ``about`` what this export is (request number, destination)."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "bodycam-station"}],
        "title": video.name, "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.opened", "parameters": {"ingredientIds": ["device-segment"]}},
                {"action": "c2pa.published", "parameters": {"description": json.dumps(about, ensure_ascii=False)}}]}},
            {"label": SEAL_ASSERTION, "data": json.loads(seal)},
        ],
    }
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ED25519, ca.chain,
                                                           ca.signer_key_pem, None))
        with signer, c2pa.Builder(manifest) as builder:
            builder.set_no_embed()
            with open(video, "rb") as original:
                builder.add_ingredient({"title": video.name, "relationship": "parentOf", "label": "device-segment"},
                                       "video/mp4", original)
            # The library writes a copy of the asset besides the manifest: to a scratch file, thrown away.
            with open(video, "rb") as original, tempfile.TemporaryFile() as scratch:
                return builder.sign(signer, "video/mp4", original, scratch)
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"cannot make the C2PA manifest of {video.name}: {exc}") from exc


@dataclass(frozen=True)
class Validation:
    state: str                  # Trusted, Valid (but not by the anchor given) or Invalid
    failures: list[str]
    manifest: dict[str, Any]

    @property
    def trusted(self) -> bool:
        return self.state == "Trusted" and not self.failures


def validate_sidecar(video: Path, sidecar: bytes, ca_pem: bytes) -> Validation:
    """Read ``sidecar`` back with the C2PA library against ``video`` and the station CA as the only anchor."""
    import c2pa

    settings = c2pa.Settings.from_dict({"verify": {"verify_trust": True},
                                        "trust": {"trust_anchors": ca_pem.decode()}})
    try:
        with c2pa.Context(settings) as context, open(video, "rb") as data, \
                c2pa.Reader("video/mp4", data, sidecar, context=context) as reader:
            results = reader.get_validation_results() or {}
            failures = [item["code"] for item in results.get("activeManifest", {}).get("failure", [])]
            return Validation(reader.get_validation_state() or "Invalid", failures, reader.get_active_manifest() or {})
    except c2pa.C2paError as exc:
        return Validation("Invalid", [str(exc)], {})


def trusted_sidecar_check(video: Path, sidecar: Path, ca_pem: bytes) -> str:
    """One line for the verification report."""
    result = validate_sidecar(video, sidecar.read_bytes(), ca_pem)
    return f"{video.name}: C2PA {result.state}" + (f" ({', '.join(result.failures)})" if result.failures else "")


"""C2PA content credentials signed with an instance-local certificate chain (c2pa-python).

Each instance makes its own P-256 root CA and an end-entity signing certificate under it. c2pa-rs
rejects a self-signed end-entity certificate, so the chain has two certificates. Verifiers that
trust the instance's root (``verify(..., trust_anchor_pem=root)``) report ``Trusted``; others report
``Valid`` with ``signingCredential.untrusted``: tamper-evident, but not on the public C2PA trust list.

Sign last: any re-encode after signing drops the manifest.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generation.errors import ProvenanceError
from generation.images import TRAINED_ALGORITHMIC_MEDIA

GENERATION_ASSERTION = "org.fediserver.generation"
# c2pa-rs embeds a thumbnail in the manifest by default: +549 KB on a 1024x1024 PNG. We publish our
# own thumbnail, so the manifest stays about 3 KB.
_SIGN_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}
_ROOT_FILE, _CERT_FILE, _KEY_FILE = "c2pa-root.pem", "c2pa-signer.pem", "c2pa-signer.key"


@dataclass(frozen=True)
class InstanceCertificates:
    """PEM-encoded root CA certificate, signing certificate (issued by the root) and signing key."""

    root_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def save(self, directory: Path) -> None:
        """Write the three PEM files; the private key is created with mode 0600."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _ROOT_FILE).write_bytes(self.root_pem)
        (directory / _CERT_FILE).write_bytes(self.cert_pem)
        fd = os.open(directory / _KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as key_file:
            key_file.write(self.key_pem)

    @classmethod
    def load(cls, directory: Path) -> InstanceCertificates:
        """Read the files written by :meth:`save`."""
        return cls(
            root_pem=(directory / _ROOT_FILE).read_bytes(),
            cert_pem=(directory / _CERT_FILE).read_bytes(),
            key_pem=(directory / _KEY_FILE).read_bytes(),
        )


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def create_instance_certificates(
    instance: str,
    *,
    now: dt.datetime | None = None,
    root_days: int = 3650,
    cert_days: int = 825,
) -> InstanceCertificates:
    """Make a fresh root CA and a C2PA signing certificate for the instance named ``instance``.

    The signing certificate has the profile c2pa-rs requires: not a CA, digitalSignature (critical),
    EKU emailProtection, subject and authority key identifiers.
    """
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{instance} content credentials root", instance)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=root_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{instance} image generator", instance))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=min(cert_days, root_days)))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return InstanceCertificates(
        root_pem=root.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def manifest_definition(
    title: str, parameters: dict[str, Any], software: dict[str, str], generator: str = "fediserver"
) -> dict[str, Any]:
    """A manifest declaring a ``c2pa.created`` action by a trained model, with the parameters."""
    return {
        "claim_generator_info": [{"name": generator, "version": software.get("fediserver", "unknown")}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {
                                "name": software.get("pipeline", "diffusers"),
                                "version": software.get("diffusers", "unknown"),
                            },
                        }
                    ]
                },
            },
            {"label": GENERATION_ASSERTION, "data": parameters},
        ],
    }


class ContentSigner:
    """Signs image bytes with the instance's certificate chain; reusable, not thread-safe."""

    def __init__(self, certificates: InstanceCertificates) -> None:
        self.certificates = certificates
        try:
            self._signer = c2pa.Signer.from_info(
                c2pa.C2paSignerInfo(
                    c2pa.C2paSigningAlg.ES256,
                    certificates.cert_pem + certificates.root_pem,
                    certificates.key_pem,
                    None,  # no timestamp authority: signing stays offline
                )
            )
            self._context = c2pa.Context(c2pa.Settings.from_json(json.dumps(_SIGN_SETTINGS)))
        except c2pa.C2paError as exc:
            raise ProvenanceError(f"cannot create the C2PA signer: {exc}") from exc

    def sign(self, data: bytes, mime: str, manifest: dict[str, Any]) -> bytes:
        """Return ``data`` with an embedded, signed C2PA manifest."""
        out = io.BytesIO()
        try:
            builder = c2pa.Builder.from_json(json.dumps(manifest), self._context)
            builder.sign(self._signer, mime, io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            raise ProvenanceError(f"C2PA signing of {mime} failed: {exc}") from exc
        return out.getvalue()


@dataclass(frozen=True)
class ManifestReport:
    """What a verifier found: ``state`` is ``Trusted``, ``Valid`` or ``Invalid``."""

    state: str
    failures: tuple[str, ...]
    manifest: dict[str, Any]

    def assertion(self, label: str) -> dict[str, Any] | None:
        """The data of the active manifest's assertion ``label``, or None."""
        for item in self.manifest.get("assertions", []):
            if item.get("label") == label:
                data = item.get("data")
                return data if isinstance(data, dict) else None
        return None


def verify(data: bytes, mime: str, trust_anchor_pem: bytes | None = None) -> ManifestReport | None:
    """Validate the manifest in ``data``; None when there is none.

    With ``trust_anchor_pem`` (a root certificate), a chain to that root makes the state ``Trusted``.
    """
    settings: dict[str, Any] = {}
    if trust_anchor_pem is not None:
        settings = {"verify": {"verify_trust": True}, "trust": {"user_anchors": trust_anchor_pem.decode()}}
    try:
        context = c2pa.Context(c2pa.Settings.from_json(json.dumps(settings)))
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
        if reader is None:
            return None
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
        manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"cannot read the C2PA manifest: {exc}") from exc
    failures = tuple(str(f.get("code")) for f in results.get("activeManifest", {}).get("failure", []))
    return ManifestReport(state=str(state), failures=failures, manifest=dict(manifest))

"""C2PA signing with the instance-local chain, and verification against our root (no torch)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from PIL import Image

from generation import images
from generation.errors import ProvenanceError
from generation.output import finish
from generation.presets import resolve_request
from generation.provenance import (
    GENERATION_ASSERTION,
    ContentSigner,
    InstanceCertificates,
    create_instance_certificates,
    verify,
)
from generation.types import GenerationResult

SOFTWARE = {"fediserver": "0.1.0", "diffusers": "0.42.1", "pipeline": "StableDiffusionPipeline"}


@pytest.fixture(scope="module")
def signed(signer: ContentSigner) -> GenerationResult:
    image = Image.new("RGB", (64, 64), (10, 120, 200))
    return finish(image, resolve_request("a blue square", seed=9, model="tiny"), signer=signer, software=SOFTWARE)


@pytest.mark.parametrize(("attr", "mime"), [("png", "image/png"), ("webp", "image/webp")])
def test_c2pa__trusted_against_our_root(
    signed: GenerationResult, certificates: InstanceCertificates, attr: str, mime: str
) -> None:
    report = verify(getattr(signed, attr), mime, certificates.root_pem)
    assert report is not None
    assert (report.state, report.failures) == ("Trusted", ())
    assert report.assertion(GENERATION_ASSERTION) == signed.request.parameters()
    actions = report.assertion("c2pa.actions.v2")
    assert actions is not None
    assert actions["actions"][0]["digitalSourceType"] == images.TRAINED_ALGORITHMIC_MEDIA


def test_c2pa__xmp_and_parameters_survive_signing(signed: GenerationResult) -> None:
    assert signed.signed
    assert images.read_digital_source_type(signed.png) == images.TRAINED_ALGORITHMIC_MEDIA
    assert images.read_digital_source_type(signed.webp) == images.TRAINED_ALGORITHMIC_MEDIA
    assert images.read_parameters(signed.png) == signed.request.parameters()


def test_c2pa__only_valid_against_another_root(signed: GenerationResult) -> None:
    stranger = create_instance_certificates("other.example")
    report = verify(signed.png, "image/png", stranger.root_pem)
    assert report is not None
    assert report.state == "Valid"
    assert report.failures == ("signingCredential.untrusted",)
    no_anchor = verify(signed.png, "image/png")
    assert no_anchor is not None
    assert no_anchor.state == "Valid"


def test_c2pa__tampered_pixels_are_invalid(signed: GenerationResult, certificates: InstanceCertificates) -> None:
    data = bytearray(signed.png)
    pixels_at = data.rfind(b"IDAT") + 8
    data[pixels_at] ^= 0x01
    report = verify(bytes(data), "image/png", certificates.root_pem)
    assert report is not None
    assert report.state == "Invalid"
    assert "assertion.dataHash.mismatch" in report.failures


def test_c2pa__re_encoding_drops_the_manifest(signed: GenerationResult) -> None:
    import io

    with Image.open(io.BytesIO(signed.png)) as image:
        out = io.BytesIO()
        image.save(out, "PNG")
    assert verify(out.getvalue(), "image/png") is None


def test_c2pa__manifest_is_small(signed: GenerationResult) -> None:
    unsigned = finish(Image.new("RGB", (64, 64), (10, 120, 200)), signed.request, signer=None, software=SOFTWARE)
    assert 0 < len(signed.png) - len(unsigned.png) < 8_000  # no embedded thumbnail


def test_certificates__chain_profile(certificates: InstanceCertificates) -> None:
    root = x509.load_pem_x509_certificate(certificates.root_pem)
    cert = x509.load_pem_x509_certificate(certificates.cert_pem)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert cert.issuer == root.subject
    cert.verify_directly_issued_by(root)


def test_certificates__save_and_load(certificates: InstanceCertificates, tmp_path: Path) -> None:
    certificates.save(tmp_path / "c2pa")
    assert InstanceCertificates.load(tmp_path / "c2pa") == certificates
    key_mode = stat.S_IMODE((tmp_path / "c2pa" / "c2pa-signer.key").stat().st_mode)
    assert key_mode == 0o600


def test_signer__self_signed_leaf_is_rejected(certificates: InstanceCertificates) -> None:
    # c2pa-rs needs a chain: the root's own certificate cannot sign as an end entity.
    bogus = InstanceCertificates(certificates.root_pem, certificates.root_pem, certificates.key_pem)
    with pytest.raises(ProvenanceError):
        ContentSigner(bogus).sign(images.encode_png(Image.new("RGB", (8, 8)), "x"), "image/png", {"title": "t"})

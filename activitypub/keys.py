"""Key loading, generation and the ActivityPub `publicKey` block.

Mastodon publishes RSA keys as SPKI PEM in `publicKey.publicKeyPem` (security v1); RFC 9421 Appendix B
also uses PKCS#1 (`RSA PUBLIC KEY`) and SEC1 (`EC PRIVATE KEY`) PEMs, which load here too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .errors import KeyLoadError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

MIN_RSA_BITS = 2048


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode("ascii") if isinstance(pem, str) else pem


def load_private_key(pem: str | bytes) -> PrivateKey:
    """Load an unencrypted PEM private key (PKCS#1, PKCS#8 or SEC1) of a supported type."""
    data = _as_bytes(pem)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"cannot load private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyLoadError(f"unsupported private key type {type(key).__name__}")
    return key


def load_public_key(pem: str | bytes) -> PublicKey:
    """Load a PEM public key (SPKI or PKCS#1 `RSA PUBLIC KEY`) of a supported type."""
    data = _as_bytes(pem)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"cannot load public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise KeyLoadError(f"unsupported public key type {type(key).__name__}")
    return key


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """Generate an RSA key for actor signatures; Mastodon expects at least 2048 bits."""
    if bits < MIN_RSA_BITS:
        raise KeyLoadError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def generate_ed25519_key() -> ed25519.Ed25519PrivateKey:
    """Generate an Ed25519 key (RFC 9421 `ed25519`, FEP-8b32 proofs)."""
    return ed25519.Ed25519PrivateKey.generate()


def private_key_pem(key: PrivateKey) -> str:
    """Serialise a private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_pem(key: PublicKey | PrivateKey) -> str:
    """Serialise the public half as SPKI PEM, the form Mastodon's `publicKeyPem` carries."""
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def public_key_block(actor_id: str, key_id: str, pem: str) -> dict[str, Any]:
    """The actor's `publicKey` object (security v1): `{id, owner, publicKeyPem}`."""
    return {"id": key_id, "owner": actor_id, "publicKeyPem": pem}


def key_owner_guess(key_id: str) -> str:
    """The document to fetch for a keyId: the URL without its fragment (`…/actor#main-key` → `…/actor`).

    GoToSocial keyIds have no fragment (`…/main-key`); the caller must then read the key document's `owner`.
    """
    return urldefrag(key_id).url

"""Password hashing: argon2id (RFC 9106) for new hashes; older scrypt hashes still verify.

``needs_rehash`` tells a login to store a fresh argon2id hash once the password is known to be right.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# RFC 9106's second recommended option (64 MiB would be heavy on a small box beside the GPU worker).
_HASHER = PasswordHasher(time_cost=3, memory_cost=19_456, parallelism=1)


def hash_password(password: str) -> str:
    """An argon2id PHC string with a fresh salt."""
    return _HASHER.hash(password)


def verify_password(password: str, encoded: str) -> bool:
    if encoded.startswith("$argon2"):
        try:
            return _HASHER.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False
    return _verify_scrypt(password, encoded)


def needs_rehash(encoded: str) -> bool:
    return not encoded.startswith("$argon2") or _HASHER.check_needs_rehash(encoded)


def _verify_scrypt(password: str, encoded: str) -> bool:
    """``scrypt$N$r$p$salt$hash``, as instances made before argon2id stored them."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def generate_password() -> str:
    return secrets.token_urlsafe(15)

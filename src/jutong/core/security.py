"""Passwords (argon2), API key tokens and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

API_KEY_PREFIX = "jt_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_key() -> tuple[str, str, str]:
    """Return (token shown once, lookup id, stored hash).

    The token is ``jt_<id>_<secret>``; the id finds the row, the hash of the whole token proves it.
    API keys are long random secrets, so one fast keyed-free SHA-256 is enough (no guessing to slow down).
    """
    key_id = secrets.token_hex(6)
    token = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return token, key_id, hash_api_key(token)


def hash_api_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_api_key_id(token: str) -> str | None:
    if not token.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, _secret = token[len(API_KEY_PREFIX) :].partition("_")
    return key_id if sep and key_id else None


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))

"""Compact HS256 JSON Web Tokens (RFC 7519), signed and verified with the stdlib (pure).

Only what ofca needs: HS256, ``exp``/``iat``, no other algorithm is ever accepted (so a
token cannot downgrade itself to ``alg: none``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec

__all__ = ["InvalidToken", "decode_jwt", "encode_jwt", "looks_like_jwt"]

_HEADER = {"alg": "HS256", "typ": "JWT"}
_encoder = msgspec.json.Encoder()
_claims_decoder = msgspec.json.Decoder(dict[str, Any])
MAX_TOKEN_LENGTH = 4096


class InvalidToken(ValueError):
    """The token is malformed, wrongly signed or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("bad base64") from exc


def _sign(signing_input: bytes, key: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_LENGTH


def encode_jwt(claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_b64(_encoder.encode(_HEADER))}.{_b64(_encoder.encode(claims))}"
    signature = _sign(signing_input.encode("ascii"), key)
    return f"{signing_input}.{_b64(signature)}"


def decode_jwt(token: str, key: bytes, *, now: float, leeway: float = 30.0) -> dict[str, Any]:
    """The verified claims of ``token``; raises :class:`InvalidToken`."""
    if not looks_like_jwt(token):
        raise InvalidToken("not a JWT")
    header_part, claims_part, signature_part = token.split(".")
    expected = _sign(f"{header_part}.{claims_part}".encode("ascii", "replace"), key)
    if not hmac.compare_digest(expected, _unb64(signature_part)):
        raise InvalidToken("bad signature")
    try:
        header = _claims_decoder.decode(_unb64(header_part))
        claims = _claims_decoder.decode(_unb64(claims_part))
    except msgspec.DecodeError as exc:
        raise InvalidToken("bad JSON") from exc
    if header.get("alg") != "HS256":
        raise InvalidToken("unsupported algorithm")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + leeway < now:
        raise InvalidToken("expired")
    return claims

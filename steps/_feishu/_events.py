"""Event delivery as Feishu does it: AES-256-CBC encryption and the ``X-Lark-Signature`` header.

The gateway verifies and decrypts through lark-oapi's dispatcher; these functions are the sending
side, for ``video-insight feishu send-event`` (a deployer's smoke test), the tests and the bench.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["encrypt_event", "sign_event", "signed_delivery"]


def encrypt_event(plaintext: bytes, encrypt_key: str) -> str:
    """``plaintext`` encrypted as Feishu does: key SHA-256(encrypt_key), random IV first, PKCS7, base64."""
    from Crypto.Cipher import AES  # pycryptodome, which lark-oapi needs anyway

    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    iv = secrets.token_bytes(AES.block_size)
    pad = AES.block_size - len(plaintext) % AES.block_size
    data = AES.new(key, AES.MODE_CBC, iv).encrypt(plaintext + bytes([pad]) * pad)
    return base64.b64encode(iv + data).decode("ascii")


def sign_event(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """The ``X-Lark-Signature`` of ``body``: sha256 hex of timestamp + nonce + encrypt key + body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def signed_delivery(
    event: Mapping[str, Any], encrypt_key: str = "", *, now: float | None = None
) -> tuple[dict[str, str], bytes]:
    """The headers and body Feishu would POST for ``event``: encrypted and signed when a key is set."""
    plaintext = json.dumps(event, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if not encrypt_key:
        return headers, plaintext
    body = json.dumps({"encrypt": encrypt_event(plaintext, encrypt_key)}).encode("ascii")
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(8)
    headers.update(
        {
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": sign_event(timestamp, nonce, encrypt_key, body),
        }
    )
    return headers, body

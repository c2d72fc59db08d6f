"""A fake KMS (2016-01-20 API, ``GetSecretValue`` only) on loopback for the real SDK to talk to.

The SDK signs with Alibaba Cloud's V3 signature (``Authorization: ACS3-HMAC-SHA256 Credential=…,
SignedHeaders=…,Signature=…`` over a canonical request); this server recomputes it from what it
received with its one key pair, as the service does, and answers errors in the service's shape
(``Code``, ``Message``, ``RequestId``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = ["FakeKms"]


AUTH = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=(?P<ak>[^,]+),"
    r"SignedHeaders=(?P<signed>[^,]+),Signature=(?P<sig>[0-9a-f]+)$"
)


def v3_signature(
    method: str, path: str, headers: dict[str, str], body: bytes, signed: str, secret: str
) -> str:
    """The ACS3-HMAC-SHA256 signature of a request, from its parts as received."""
    query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    canonical_query = "&".join(f"{k}={quote(query[k], safe='~')}" for k in sorted(query))
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    names = signed.split(";")
    canonical_headers = "".join(f"{name}:{lower.get(name, '')}\n" for name in names)
    canonical = "\n".join(
        [
            method,
            urlsplit(path).path or "/",
            canonical_query,
            canonical_headers,
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class FakeKms:
    """``with FakeKms("id", "secret", {"name": "{...}"}) as kms:`` then ``kms.endpoint``; ``kms.calls``."""

    def __init__(self, key_id: str, key_secret: str, secrets: dict[str, str]) -> None:
        self.key_id, self.key_secret, self.secrets = key_id, key_secret, secrets
        self.calls: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = dict(self.headers.items())
                params = {**dict(parse_qsl(urlsplit(self.path).query)), **dict(parse_qsl(raw.decode()))}
                fake.calls.append({**params, **{k.lower(): v for k, v in headers.items()}})
                status, body = fake.answer(self.command, self.path, headers, raw, params)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-kms", daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, params: dict[str, str]
    ) -> tuple[int, dict[str, object]]:
        request_id = str(uuid.uuid4())
        lower = {k.lower(): v for k, v in headers.items()}
        auth = AUTH.match(lower.get("authorization", ""))
        if not auth or auth["ak"] != self.key_id:
            return 404, _error(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", request_id
            )
        if auth["sig"] != v3_signature(method, path, headers, raw, auth["signed"], self.key_secret):
            return 400, _error("SignatureDoesNotMatch", "The request signature does not conform.", request_id)
        if lower.get("x-acs-action") != "GetSecretValue" or lower.get("x-acs-version") != "2016-01-20":
            return 400, _error("InvalidAction", "unsupported action", request_id)
        name = params.get("SecretName", "")
        if name not in self.secrets:
            return 404, _error("Forbidden.ResourceNotFound", "The resource is not found.", request_id)
        return 200, {
            "RequestId": request_id,
            "SecretName": name,
            "SecretData": self.secrets[name],
            "SecretDataType": "text",
            "VersionId": "v1",
            "VersionStages": {"VersionStage": ["ACSCurrent"]},
        }

    def __enter__(self) -> FakeKms:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _error(code: str, message: str, request_id: str) -> dict[str, object]:
    return {"Code": code, "Message": message, "RequestId": request_id}

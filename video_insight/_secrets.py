"""Secrets from a KMS secret (Secrets Manager) instead of the functions' plain environment.

With ``VI_KMS_SECRET_NAME`` set, the process reads that secret once at start-up with the
``ALIBABA_CLOUD_*`` keys of its environment (in Function Compute: the function role's STS
credentials), else the standard Alibaba Cloud credential chain, and
fills the secret settings it holds. The secret's value is a JSON object, for example
``{"FEISHU_APP_SECRET": "…", "FEISHU_VERIFICATION_TOKEN": "…", "FEISHU_ENCRYPT_KEY": "…",
"VI_LLM_API_KEY": "…"}``. A variable already set in the environment wins (a local override).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["SECRET_KEYS", "SecretStoreError", "with_kms_secrets"]

# The settings a KMS secret may provide: secrets only, so it can never redirect the workspace or a URL.
SECRET_KEYS = frozenset(
    {"FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN", "FEISHU_ENCRYPT_KEY", "VI_LLM_API_KEY"}
)


class SecretStoreError(Exception):
    """The KMS secret could not be read or does not hold what it should (one line, Chinese first)."""


def with_kms_secrets(env: Mapping[str, str], client: Any | None = None) -> dict[str, str]:
    """``env`` plus the settings held by the KMS secret ``VI_KMS_SECRET_NAME`` (a copy; unchanged without it).

    ``client`` is a ``alibabacloud_kms20160120`` client; by default one is built for ``VI_KMS_REGION``
    (``VI_KMS_ENDPOINT`` points it elsewhere, e.g. ``http://127.0.0.1:PORT`` in tests).
    """
    merged = dict(env)
    name = env.get("VI_KMS_SECRET_NAME", "").strip()
    if not name:
        return merged
    from alibabacloud_kms20160120 import models

    kms = client if client is not None else _client(env)
    with _map_kms_errors(name):
        response = kms.get_secret_value(models.GetSecretValueRequest(secret_name=name))
    for key, value in _parse(name, response.body.secret_data, response.body.secret_data_type).items():
        if not env.get(key):
            merged[key] = value
    return merged


def _credentials(env: Mapping[str, str]) -> Any:
    """The keys in ``env`` (in FC: the function role's STS keys, set at instance start), else the chain.

    Read from ``env`` rather than left to the SDK, whose environment provider reads the variables once,
    when it is first imported.
    """
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig

    key_id, key_secret, token = (
        env.get(f"ALIBABA_CLOUD_{name}", "")
        for name in ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SECURITY_TOKEN")
    )
    if not (key_id and key_secret):
        return CredentialClient()  # the CLI profile, an ECS RAM role, OIDC, …
    kind = "sts" if token else "access_key"
    return CredentialClient(
        CredentialConfig(
            type=kind, access_key_id=key_id, access_key_secret=key_secret, security_token=token or None
        )
    )


def _client(env: Mapping[str, str]) -> Any:
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi.models import Config

    region = env.get("VI_KMS_REGION", "").strip()
    if not region:
        raise SecretStoreError("设置了 VI_KMS_SECRET_NAME 但没有 VI_KMS_REGION (the secret's region)")
    config = Config(credential=_credentials(env), region_id=region, read_timeout=5000, connect_timeout=3000)
    endpoint = env.get("VI_KMS_ENDPOINT", "").strip()
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        config.endpoint, config.protocol = parts.netloc, parts.scheme
    return Client(config)


@contextlib.contextmanager
def _map_kms_errors(name: str) -> Iterator[None]:
    """Any KMS, credential or network failure → one :class:`SecretStoreError` line."""
    from alibabacloud_credentials.exceptions import CredentialException
    from darabonba.exceptions import RetryError, ValidateException
    from Tea.exceptions import TeaException

    prefix = f"读取 KMS 凭据 {name} 失败 (could not read the KMS secret)"
    try:
        yield
    except TeaException as exc:  # the service's answer (code + message), or a transport failure
        code = getattr(exc, "code", None) or type(exc).__name__
        message = getattr(exc, "message", None) or str(exc)
        raise SecretStoreError(f"{prefix}: {code}: {message}") from exc
    except (CredentialException, RetryError, ValidateException, OSError) as exc:
        raise SecretStoreError(f"{prefix}: {exc}") from exc


def _parse(name: str, data: str | None, data_type: str | None) -> dict[str, str]:
    """The secret's JSON object, checked: only :data:`SECRET_KEYS`, only non-empty strings."""
    if data_type not in (None, "text"):
        raise SecretStoreError(
            f"KMS 凭据 {name} 是二进制凭据；需要文本 JSON (a text secret holding a JSON object)"
        )
    try:
        values = json.loads(data or "")
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict) or not values:
        raise SecretStoreError(f"KMS 凭据 {name} 的值不是 JSON 对象 (the secret value must be a JSON object)")
    unknown = sorted(set(values) - SECRET_KEYS)
    if unknown:
        raise SecretStoreError(
            f"KMS 凭据 {name} 含有不支持的键 {', '.join(unknown)}；可用: {', '.join(sorted(SECRET_KEYS))}"
        )
    empty = sorted(key for key, value in values.items() if not isinstance(value, str) or not value)
    if empty:
        raise SecretStoreError(f"KMS 凭据 {name} 中这些键的值不是非空字符串: {', '.join(empty)}")
    return values

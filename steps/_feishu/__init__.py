"""Feishu (Lark) open platform: the lark-oapi client, chat messages and cards, event security.

Everything that talks to Feishu goes through :class:`FeishuClient` (built from ``Settings``:
``FEISHU_APP_ID``, ``FEISHU_APP_SECRET``, ``FEISHU_DOMAIN``), so errors, token refresh and retries
are handled in one place.
"""

from __future__ import annotations

from ._client import (
    RATE_LIMIT_CODES,
    TOKEN_CODES,
    TOKEN_PATH,
    FeishuClient,
    check_response,
    map_feishu_errors,
)
from ._messages import MAX_CARD_BYTES, patch_card, reply_message, send_message, upload_file

__all__ = [
    "MAX_CARD_BYTES",
    "RATE_LIMIT_CODES",
    "TOKEN_CODES",
    "TOKEN_PATH",
    "FeishuClient",
    "check_response",
    "map_feishu_errors",
    "patch_card",
    "reply_message",
    "send_message",
    "upload_file",
]

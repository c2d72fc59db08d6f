"""Feishu (Lark) open platform: the lark-oapi client, chat messages, the progress card, event delivery.

Everything that talks to Feishu goes through :class:`FeishuClient` (built from ``Settings``:
``FEISHU_APP_ID``, ``FEISHU_APP_SECRET``, ``FEISHU_DOMAIN``), so errors, token refresh and retries
are handled in one place. The progress card is one renderer of the progress model
(:func:`progress_card`); :class:`CardReporter` sends it from every step.
"""

from __future__ import annotations

from ._card import HELP_TEXT, SHOWN_FAILURES, message_card, progress_card
from ._client import (
    RATE_LIMIT_CODES,
    TOKEN_CODES,
    TOKEN_PATH,
    FeishuClient,
    check_response,
    map_feishu_errors,
)
from ._events import encrypt_event, sign_event, signed_delivery
from ._files import FetchedFile, download_resource
from ._messages import MAX_CARD_BYTES, patch_card, reply_message, send_message, upload_file
from ._reporter import (
    BINDING_FILE,
    CardBinding,
    CardReporter,
    card_reporter,
    final_card,
    load_binding,
    save_binding,
)

__all__ = [
    "BINDING_FILE",
    "HELP_TEXT",
    "MAX_CARD_BYTES",
    "RATE_LIMIT_CODES",
    "SHOWN_FAILURES",
    "TOKEN_CODES",
    "TOKEN_PATH",
    "CardBinding",
    "CardReporter",
    "FeishuClient",
    "FetchedFile",
    "card_reporter",
    "check_response",
    "download_resource",
    "encrypt_event",
    "final_card",
    "load_binding",
    "map_feishu_errors",
    "message_card",
    "patch_card",
    "progress_card",
    "reply_message",
    "save_binding",
    "send_message",
    "sign_event",
    "signed_delivery",
    "upload_file",
]

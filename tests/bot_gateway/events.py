"""Feishu webhook bodies as Feishu sends them (schema 2.0), for the gateway's tests and the bench."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

__all__ = ["card_action", "message_event", "url_verification"]


def message_event(
    message_id: str,
    text: str = "",
    *,
    token: str,
    event_id: str | None = None,
    chat_id: str = "oc_chat",
    chat_type: str = "p2p",
    open_id: str = "ou_alice",
    message_type: str = "text",
    content: dict[str, Any] | None = None,
    mentioned: bool = False,
) -> dict[str, Any]:
    """An ``im.message.receive_v1`` event for message ``message_id``."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_type": message_type,
        "content": json.dumps(content if content is not None else {"text": text}, ensure_ascii=False),
        "create_time": str(int(time.time() * 1000)),
    }
    if mentioned:
        message["mentions"] = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "视频分析"}]
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id or secrets.token_hex(16),
            "event_type": "im.message.receive_v1",
            "create_time": str(int(time.time() * 1000)),
            "token": token,
            "app_id": "cli_test",
            "tenant_key": "tenant",
        },
        "event": {"sender": {"sender_id": {"open_id": open_id}, "sender_type": "user"}, "message": message},
    }


def card_action(
    task_id: str, action: str, *, token: str, open_id: str, message_id: str = "om_card"
) -> dict[str, Any]:
    """A ``card.action.trigger`` callback: ``open_id`` pressed the ``action`` button of ``task_id``'s card."""
    return {
        "schema": "2.0",
        "header": {
            "event_id": secrets.token_hex(16),
            "event_type": "card.action.trigger",
            "create_time": str(int(time.time() * 1000)),
            "token": token,
            "app_id": "cli_test",
            "tenant_key": "tenant",
        },
        "event": {
            "operator": {"open_id": open_id},
            "token": "c-token",
            "action": {"tag": "button", "value": {"action": action, "task_id": task_id}},
            "context": {"open_message_id": message_id, "open_chat_id": "oc_chat"},
        },
    }


def url_verification(token: str, challenge: str = "ch-123") -> dict[str, Any]:
    return {"challenge": challenge, "token": token, "type": "url_verification"}

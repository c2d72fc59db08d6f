"""Chat messages through the SDK: text and cards sent or replied, cards patched in place, files sent.

Every function takes a :class:`FeishuClient` and returns plain values (message ids, file keys);
faults arrive as this project's errors (see :mod:`._client`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._client import FeishuClient

__all__ = [
    "MAX_CARD_BYTES",
    "patch_card",
    "reply_message",
    "send_message",
    "upload_file",
]

MAX_CARD_BYTES = 30 * 1024  # Feishu refuses a card (or a PATCH body) larger than this


def _content(msg_type: str, content: Mapping[str, Any] | str) -> str:
    if msg_type == "text" and isinstance(content, str):
        return json.dumps({"text": content}, ensure_ascii=False)
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def send_message(
    feishu: FeishuClient,
    receive_id: str,
    content: Mapping[str, Any] | str,
    *,
    msg_type: str = "interactive",
    receive_id_type: str = "chat_id",
    uuid: str | None = None,
) -> str:
    """Send a message to a chat (or a user, with ``receive_id_type="open_id"``); returns its id.

    ``content`` is the card (``interactive``), the text (``text``), or the content object of another
    type (``{"file_key": …}`` for ``file``). ``uuid`` makes the send idempotent for an hour.
    """
    from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody

    body = CreateMessageRequestBody.builder().receive_id(receive_id).msg_type(msg_type)
    body = body.content(_content(msg_type, content))
    if uuid:
        body = body.uuid(uuid)
    request = (
        CreateMessageRequest.builder().receive_id_type(receive_id_type).request_body(body.build()).build()
    )
    resp = feishu.call("发送消息", lambda lark: lark.im.v1.message.create(request))
    return str(resp.data.message_id)


def reply_message(
    feishu: FeishuClient,
    message_id: str,
    content: Mapping[str, Any] | str,
    *,
    msg_type: str = "interactive",
    uuid: str | None = None,
) -> str:
    """Reply to message ``message_id`` in its chat; returns the reply's message id."""
    from lark_oapi.api.im.v1 import ReplyMessageRequest, ReplyMessageRequestBody

    body = ReplyMessageRequestBody.builder().msg_type(msg_type).content(_content(msg_type, content))
    if uuid:
        body = body.uuid(uuid)
    request = ReplyMessageRequest.builder().message_id(message_id).request_body(body.build()).build()
    resp = feishu.call("回复消息", lambda lark: lark.im.v1.message.reply(request))
    return str(resp.data.message_id)


def patch_card(feishu: FeishuClient, message_id: str, card: Mapping[str, Any]) -> None:
    """Replace the card of message ``message_id`` (sent with ``config.update_multi: true``)."""
    from lark_oapi.api.im.v1 import PatchMessageRequest, PatchMessageRequestBody

    body = PatchMessageRequestBody.builder().content(_content("interactive", card)).build()
    request = PatchMessageRequest.builder().message_id(message_id).request_body(body).build()
    feishu.call("更新卡片", lambda lark: lark.im.v1.message.patch(request))


def upload_file(
    feishu: FeishuClient, path: Path, *, file_type: str = "stream", name: str | None = None
) -> str:
    """Upload ``path`` for a chat (``file_type``: ``xls``, ``pdf``, ``mp4``, ``stream`` …); its file key."""
    from lark_oapi.api.im.v1 import CreateFileRequest, CreateFileRequestBody

    def send(lark: Any) -> Any:  # the file is opened per attempt: a retry sends it whole again
        with path.open("rb") as fh:
            body = CreateFileRequestBody.builder().file_type(file_type).file_name(name or path.name).file(fh)
            return lark.im.v1.file.create(CreateFileRequest.builder().request_body(body.build()).build())

    resp = feishu.call("上传文件", send)
    return str(resp.data.file_key)

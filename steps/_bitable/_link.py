"""Bitable links: ``…/base/<app_token>?table=<table_id>&view=<view_id>`` or a wiki page holding a Base.

    parse_bitable_link("https://x.feishu.cn/base/bascnAbc?table=tblXyz&view=vewQ")
    → BitableLink(token="bascnAbc", wiki=False, table_id="tblXyz", view_id="vewQ")

A wiki link (``…/wiki/<node_token>``) names a wiki node; the wiki node API turns it into the Base's
app token (:func:`steps._bitable.resolve_app_token`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ..errors import InvalidRequest

__all__ = ["BitableLink", "is_bitable_link", "parse_bitable_link"]

_HOSTS = (".feishu.cn", ".larksuite.com", ".larkoffice.com", ".feishu-pre.cn")
_PATH = re.compile(r"^/(base|wiki)/([A-Za-z0-9]{8,64})/?$")
_ID = re.compile(r"^[A-Za-z0-9]{3,64}$")


@dataclass(frozen=True)
class BitableLink:
    """A table in a Base: the Base's app token (or a wiki node token), the table and the view."""

    token: str
    wiki: bool = False  # ``token`` is a wiki node token, not an app token
    table_id: str | None = None
    view_id: str | None = None


def _feishu_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host.endswith(suffix) or host == suffix[1:] for suffix in _HOSTS)


def is_bitable_link(url: str) -> bool:
    """Whether ``url`` is a Feishu/Lark Base or wiki link (what :func:`parse_bitable_link` accepts)."""
    try:
        parse_bitable_link(url)
    except InvalidRequest:
        return False
    return True


def parse_bitable_link(url: str) -> BitableLink:
    """The Base, table and view a link names; ``InvalidRequest`` (in Chinese) when it names none."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = urlsplit("")
    match = _PATH.match(parts.path)
    if parts.scheme != "https" or not _feishu_host(parts.hostname or "") or match is None:
        raise InvalidRequest(
            f"不是飞书多维表格链接：{text[:200]}（应形如 https://xxx.feishu.cn/base/<app_token>?table=tbl…，"
            "或指向多维表格的知识库链接 https://xxx.feishu.cn/wiki/<token>）"
        )
    query = parse_qs(parts.query)
    table = query["table"][0] if query.get("table") else None
    view = query["view"][0] if query.get("view") else None
    for name, value in (("table", table), ("view", view)):
        if value is not None and not _ID.match(value):
            raise InvalidRequest(f"多维表格链接里的 {name}={value[:80]} 不是有效的 id")
    return BitableLink(match.group(2), match.group(1) == "wiki", table, view)

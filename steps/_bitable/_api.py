"""The Bitable, drive media, wiki and permission calls, through :class:`~steps._feishu.FeishuClient`.

:class:`BitableApi` adds what Bitable writes need on top of the client's own retries: backoff on the
codes Bitable answers when it is busy (99991400 rate limit, 1254290 too many requests, 1254291 write
conflict, 1254607 data not ready, 1255040 timeout) and on 5xx, and a message that says how to share
a table when the app may not read it. Every method returns plain values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._logging import get_logger
from ..errors import FeishuError, RateLimited

if TYPE_CHECKING:  # the Feishu package imports the progress model, which imports the publisher registry
    from .._feishu import FeishuClient

__all__ = [
    "MAX_BATCH",
    "MAX_SINGLE_UPLOAD",
    "PERMISSION_CODES",
    "RETRY_CODES",
    "SHARE_HINT",
    "TIME_ZONE",
    "BitableApi",
    "NotShared",
    "client_token",
]

MAX_BATCH = 500  # records per batch_create
TIME_ZONE = "Asia/Shanghai"  # of the Bases we create (dates display in it)
MAX_PAGE = 500  # records or fields per page
MAX_SINGLE_UPLOAD = 20 * 1024 * 1024  # upload_all's limit; larger files go in parts
RETRY_CODES = frozenset({99991400, 1254290, 1254291, 1254607, 1255040})
PERMISSION_CODES = frozenset({1254302, 91403, 1061004, 131006, 1063002})
SHARE_HINT = (
    "请在多维表格右上角「…」→「更多」→「添加文档应用」里添加本应用（或把表格所在的知识库/文件夹分享给它），"
    "再发一次链接"
)
R = TypeVar("R")
log = get_logger(__name__)


class NotShared(FeishuError):
    """The app may not read or write this Base: it was not shared with the app."""

    code = "FeishuError"


class BitableApi:
    """Bitable and drive calls for one app.

    Args:
        feishu: the client (credentials, domain, token, and the one retry loop every call goes through).
        retries: further attempts after a busy code, a rate limit or a 5xx.
        backoff_s: the first pause; doubles each attempt, at most 20 s.
    """

    def __init__(
        self,
        feishu: FeishuClient,
        *,
        retries: int = 6,
        backoff_s: float = 1.0,
    ) -> None:
        self.feishu = feishu
        self.retries = retries
        self.backoff_s = backoff_s

    def call(self, what: str, send: Callable[[Any], R]) -> R:
        """``feishu.call``, whose one retry loop also retries :data:`RETRY_CODES` (with this API's
        retries and backoff); a busy code that outlasts them becomes :class:`RateLimited`, a refused
        share :class:`NotShared`."""
        try:
            return self.feishu.call(
                what,
                send,
                retry_codes=RETRY_CODES,
                retries=self.retries,
                backoff_s=self.backoff_s,
                max_wait_s=20.0,
            )
        except NotShared:
            raise
        except FeishuError as exc:
            if exc.feishu_code in RETRY_CODES:
                raise RateLimited(f"{exc.message}（重试 {self.retries} 次后仍然繁忙）") from exc
            if exc.feishu_code in PERMISSION_CODES:
                raise NotShared(
                    f"{exc.message}。应用没有这个多维表格的权限：{SHARE_HINT}", exc.feishu_code
                ) from exc
            raise

    # -- reading ---------------------------------------------------------------------------------
    def wiki_node(self, token: str) -> dict[str, Any]:
        """The wiki node ``token`` (``obj_type``, ``obj_token``, ``title``)."""
        from lark_oapi.api.wiki.v2 import GetNodeSpaceRequest

        request = GetNodeSpaceRequest.builder().token(token).obj_type("wiki").build()
        resp = self.call("读取知识库节点", lambda lark: lark.wiki.v2.space.get_node(request))
        node = resp.data.node
        return {"obj_type": node.obj_type, "obj_token": node.obj_token, "title": node.title or ""}

    def table_name(self, app_token: str, table_id: str) -> str:
        """The name of table ``table_id`` in the Base (empty when it is not listed)."""
        from lark_oapi.api.bitable.v1 import ListAppTableRequest

        token: str | None = None
        while True:
            builder = ListAppTableRequest.builder().app_token(app_token).page_size(100)
            request = (builder.page_token(token) if token else builder).build()
            resp = self.call(
                "读取数据表列表", _sender(lambda lark, r: lark.bitable.v1.app_table.list(r), request)
            )
            for item in resp.data.items or []:
                if item.table_id == table_id:
                    return str(item.name or "")
            if not resp.data.has_more:
                return ""
            token = resp.data.page_token

    def fields(self, app_token: str, table_id: str) -> list[dict[str, Any]]:
        """Every field of the table: ``field_name``, ``type``, ``property`` (as plain dicts)."""
        from lark_oapi.api.bitable.v1 import ListAppTableFieldRequest

        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            builder = (
                ListAppTableFieldRequest.builder().app_token(app_token).table_id(table_id).page_size(100)
            )
            request = (builder.page_token(token) if token else builder).build()
            resp = self.call(
                "读取多维表格字段", _sender(lambda lark, r: lark.bitable.v1.app_table_field.list(r), request)
            )
            out += [_plain(item) for item in resp.data.items or []]
            if not resp.data.has_more:
                return out
            token = resp.data.page_token

    def records(self, app_token: str, table_id: str, view_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record of the table (in the view's order when a view is given), page by page."""
        from lark_oapi.api.bitable.v1 import SearchAppTableRecordRequest, SearchAppTableRecordRequestBody

        body = SearchAppTableRecordRequestBody.builder()
        body = (body.view_id(view_id) if view_id else body).build()
        token: str | None = None
        while True:
            builder = (
                SearchAppTableRecordRequest.builder()
                .app_token(app_token)
                .table_id(table_id)
                .page_size(MAX_PAGE)
                .request_body(body)
            )
            request = (builder.page_token(token) if token else builder).build()
            resp = self.call(
                "读取多维表格记录",
                _sender(lambda lark, r: lark.bitable.v1.app_table_record.search(r), request),
            )
            for item in resp.data.items or []:
                yield {"record_id": item.record_id, "fields": dict(item.fields or {})}
            if not resp.data.has_more:
                return
            token = resp.data.page_token

    def media_download(self, file_token: str) -> tuple[str, dict[str, str]]:
        """The URL and headers to stream a drive file (an attachment) yourself (the SDK buffers it)."""
        url = f"{self.feishu.domain}/open-apis/drive/v1/medias/{file_token}/download"
        return url, {"Authorization": f"Bearer {self.feishu.tenant_token()}"}

    # -- writing ---------------------------------------------------------------------------------
    def create_app(self, name: str, folder_token: str = "") -> dict[str, str]:
        """A new Base: ``app_token``, ``url``, ``default_table_id``."""
        from lark_oapi.api.bitable.v1 import CreateAppRequest, ReqApp

        app = {
            "name": name[:100],
            "time_zone": TIME_ZONE,
            **({"folder_token": folder_token} if folder_token else {}),
        }
        request = CreateAppRequest.builder().request_body(ReqApp(app)).build()
        resp = self.call("创建多维表格", lambda lark: lark.bitable.v1.app.create(request))
        made = resp.data.app
        return {
            "app_token": made.app_token,
            "url": made.url or "",
            "default_table_id": made.default_table_id or "",
        }

    def create_table(self, app_token: str, name: str, fields: Sequence[Mapping[str, Any]]) -> str:
        """A new table with ``fields`` (the first is the primary field); its table id."""
        from lark_oapi.api.bitable.v1 import CreateAppTableRequest, CreateAppTableRequestBody

        body = CreateAppTableRequestBody(
            {"table": {"name": name, "default_view_name": "表格", "fields": list(fields)}}
        )
        request = CreateAppTableRequest.builder().app_token(app_token).request_body(body).build()
        resp = self.call(f"创建数据表 {name}", lambda lark: lark.bitable.v1.app_table.create(request))
        return str(resp.data.table_id)

    def delete_table(self, app_token: str, table_id: str) -> None:
        from lark_oapi.api.bitable.v1 import DeleteAppTableRequest

        request = DeleteAppTableRequest.builder().app_token(app_token).table_id(table_id).build()
        self.call("删除默认数据表", lambda lark: lark.bitable.v1.app_table.delete(request))

    def add_records(
        self, app_token: str, table_id: str, rows: Sequence[Mapping[str, Any]], client_token: str
    ) -> list[str]:
        """Write ≤ 500 rows in one request, idempotent by ``client_token`` (a UUID); their record ids."""
        from lark_oapi.api.bitable.v1 import (
            BatchCreateAppTableRecordRequest,
            BatchCreateAppTableRecordRequestBody,
        )

        if len(rows) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} records per batch, got {len(rows)}")
        body = BatchCreateAppTableRecordRequestBody({"records": [{"fields": dict(r)} for r in rows]})
        request = (
            BatchCreateAppTableRecordRequest.builder()
            .app_token(app_token)
            .table_id(table_id)
            .client_token(client_token)
            .request_body(body)
            .build()
        )
        resp = self.call(
            "写入多维表格记录", lambda lark: lark.bitable.v1.app_table_record.batch_create(request)
        )
        return [str(r.record_id) for r in resp.data.records or []]

    def upload(self, app_token: str, path: Path, parent_type: str = "bitable_image") -> str:
        """Upload ``path`` into the Base (attachments); its file token. Over 20 MB: in parts."""
        size = path.stat().st_size
        if size > MAX_SINGLE_UPLOAD:
            return self._upload_parts(app_token, path, parent_type, size)
        from lark_oapi.api.drive.v1 import UploadAllMediaRequest, UploadAllMediaRequestBody

        def send(lark: Any) -> Any:
            with open(path, "rb") as fh:
                body = UploadAllMediaRequestBody(
                    {
                        "file_name": path.name,
                        "parent_type": parent_type,
                        "parent_node": app_token,
                        "size": size,
                    }
                )
                body.file = fh
                request = UploadAllMediaRequest.builder().request_body(body).build()
                return lark.drive.v1.media.upload_all(request)

        return str(self.call(f"上传附件 {path.name}", send).data.file_token)

    def _upload_parts(self, app_token: str, path: Path, parent_type: str, size: int) -> str:
        from lark_oapi.api.drive.v1 import (
            UploadFinishMediaRequest,
            UploadFinishMediaRequestBody,
            UploadPartMediaRequest,
            UploadPartMediaRequestBody,
            UploadPrepareMediaRequest,
        )
        from lark_oapi.api.drive.v1.model.media_upload_info import MediaUploadInfo

        info = MediaUploadInfo(
            {"file_name": path.name, "parent_type": parent_type, "parent_node": app_token, "size": size}
        )
        prepare = UploadPrepareMediaRequest.builder().request_body(info).build()
        plan = self.call(
            f"准备分片上传 {path.name}", lambda lark: lark.drive.v1.media.upload_prepare(prepare)
        ).data
        block = int(plan.block_size)
        with open(path, "rb") as fh:
            for seq in range(int(plan.block_num)):
                data = fh.read(block)

                def send(lark: Any, seq: int = seq, data: bytes = data) -> Any:
                    import io

                    body = UploadPartMediaRequestBody(
                        {
                            "upload_id": plan.upload_id,
                            "seq": seq,
                            "size": len(data),
                            "checksum": _adler32(data),
                        }
                    )
                    body.file = io.BytesIO(data)
                    return lark.drive.v1.media.upload_part(
                        UploadPartMediaRequest.builder().request_body(body).build()
                    )

                self.call(f"分片上传 {path.name}", send)
        finish = (
            UploadFinishMediaRequest.builder()
            .request_body(
                UploadFinishMediaRequestBody({"upload_id": plan.upload_id, "block_num": int(plan.block_num)})
            )
            .build()
        )
        done = self.call(f"完成分片上传 {path.name}", lambda lark: lark.drive.v1.media.upload_finish(finish))
        return str(done.data.file_token)

    def grant_full_access(self, app_token: str, open_id: str) -> None:
        """Give ``open_id`` full access to the Base (no notification)."""
        from lark_oapi.api.drive.v1 import BaseMember, CreatePermissionMemberRequest

        member = BaseMember({"member_type": "openid", "member_id": open_id, "perm": "full_access"})
        request = (
            CreatePermissionMemberRequest.builder()
            .token(app_token)
            .type("bitable")
            .request_body(member)
            .build()
        )
        self.call("给发起人添加权限", lambda lark: lark.drive.v1.permission_member.create(request))

    def transfer_owner(self, app_token: str, open_id: str) -> None:
        """Make ``open_id`` the Base's owner; the app keeps full access (Feishu's defaults)."""
        from lark_oapi.api.drive.v1 import Owner, TransferOwnerPermissionMemberRequest

        owner = Owner({"member_type": "openid", "member_id": open_id})
        request = (
            TransferOwnerPermissionMemberRequest.builder()
            .token(app_token)
            .type("bitable")
            .request_body(owner)
            .build()
        )
        self.call("转移多维表格所有权", lambda lark: lark.drive.v1.permission_member.transfer_owner(request))


def _sender(send: Callable[[Any, Any], Any], request: Any) -> Callable[[Any], Any]:
    """``send`` bound to ``request`` (a loop's request, bound now rather than when called)."""
    return lambda lark: send(lark, request)


def _adler32(data: bytes) -> str:
    import zlib

    return str(zlib.adler32(data))


def _plain(model: Any) -> Any:
    """An SDK model as plain JSON values (``None`` attributes left out)."""
    if isinstance(model, list):
        return [_plain(x) for x in model]
    if isinstance(model, dict):
        return {k: _plain(v) for k, v in model.items()}
    if hasattr(model, "__dict__"):
        return {k: _plain(v) for k, v in vars(model).items() if v is not None and not k.startswith("_")}
    return model


def client_token(*parts: str) -> str:
    """A UUID (Feishu's ``client_token`` format) derived from ``parts``: the same parts, the same token."""
    import uuid

    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))

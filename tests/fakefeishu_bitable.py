"""Bitable, drive media, wiki and permission routes for the fake Feishu (``tests/fakefeishu.py``).

    with FakeFeishu() as fake:
        base = install_bitable(fake)                       # a FakeBitable holding the state
        app, table, view = base.add_table("投放素材", fields, rows, shared=True)

It enforces what the real service enforces and our code depends on:

- access: a Base the app created (or one a user shared with it) is readable and writable; any other
  answers 1254302 (Bitable), 1061004 (drive media) or 131006 (wiki), HTTP 403;
- records: at most 500 per ``batch_create`` (1254104); ``client_token`` must be a UUID, and a token
  seen before on that table returns the first answer and writes nothing; one writer per table (a
  write while another is in progress answers 1254291; :attr:`FakeBitable.release` holds writes open); cells
  are checked against their field's type, and a select option not yet listed is added, as Feishu does;
- reading: fields and records paginated (``page_size`` ≤ 500), records in the view's order;
- media: ``upload_all`` takes at most 20 MB (1061043); larger files go through upload_prepare / part /
  finish in 4 MB blocks; downloads stream the bytes;
- permissions: members added with their perm, ownership transferred (the old owner keeps
  ``old_owner_perm``, full_access by default). Booleans in query strings may be ``True``/``False``
  (the Python SDK's spelling) or ``true``/``false``.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from tests.fakefeishu import FakeFeishu, FakeRequest, fail, ok

__all__ = [
    "MAX_BATCH",
    "MAX_SINGLE_UPLOAD",
    "App",
    "FakeBitable",
    "Media",
    "Table",
    "install_bitable",
]

MAX_BATCH = 500
MAX_PAGE = 500
MAX_SINGLE_UPLOAD = 20 * 1024 * 1024
BLOCK_SIZE = 4 * 1024 * 1024
FIELD_TYPES = {1, 2, 3, 4, 5, 7, 11, 13, 15, 17, 18, 20, 22}
PRIMARY_TYPES = {1, 2, 5, 13, 15, 20, 22}
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids):04d}{secrets.token_hex(5)}"


def _denied(code: int, what: str) -> Response:
    return fail(code, f"Permission denied: the app has no access to this {what}", 403)


@dataclass
class Table:
    table_id: str
    name: str
    fields: list[dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, list[str] | None] = field(default_factory=dict)  # view → record order (None: as added)
    tokens: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # client_token → answer
    writer: threading.Lock = field(default_factory=threading.Lock)

    def field_named(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.fields if f["field_name"] == name), None)

    def rows(self) -> list[dict[str, Any]]:
        """The records' fields, in the order they were added."""
        return [r["fields"] for r in self.records]


@dataclass
class App:
    app_token: str
    name: str
    folder_token: str = ""
    owner: tuple[str, str] = ("app", "")  # (member type, id); ("app", "") for the app itself
    shared: bool = True  # whether the app may read and write it
    by_app: bool = False  # created by the app (through the API), not set up by a test
    members: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, id) → perm
    tables: dict[str, Table] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://fake.feishu.cn/base/{self.app_token}"


@dataclass
class Media:
    name: str
    parent_type: str
    parent_node: str
    data: bytes


@dataclass
class _Upload:
    name: str
    parent_type: str
    parent_node: str
    size: int
    parts: dict[int, bytes] = field(default_factory=dict)


class FakeBitable:
    """The state behind the routes: Bases, media, wiki nodes. Tests read it directly."""

    def __init__(self, fake: FakeFeishu) -> None:
        self.fake = fake
        self.apps: dict[str, App] = {}
        self.media: dict[str, Media] = {}
        self.wiki: dict[str, tuple[str, str, str]] = {}  # wiki token → (obj type, obj token, title)
        self.uploads: dict[str, _Upload] = {}
        # A test may hold writes open to overlap two of them: ``writing`` is set once a write holds its
        # table, which then waits for ``release`` (set by default: writes do not wait).
        self.writing = threading.Event()
        self.release = threading.Event()
        self.release.set()

    # -- what tests set up ---------------------------------------------------------------------
    def add_table(
        self,
        name: str,
        fields: list[dict[str, Any]],
        rows: list[dict[str, Any]],
        *,
        shared: bool = True,
        view_order: list[int] | None = None,
    ) -> tuple[str, str, str]:
        """A user's Base holding one table of ``rows``; ``(app_token, table_id, view_id)``.

        ``view_order`` lists row indexes in the order the view shows them (default: as added).
        """
        app = App(_id("bascn"), name, owner=("openid", "ou_table_owner"), shared=shared)
        table = Table(_id("tbl"), name, [{**f, "field_id": _id("fld")} for f in fields])
        table.records = [{"record_id": _id("rec"), "fields": dict(r)} for r in rows]
        view = _id("vew")
        order = None if view_order is None else [table.records[i]["record_id"] for i in view_order]
        table.views[view] = order
        app.tables[table.table_id] = table
        with self.fake.lock:
            self.apps[app.app_token] = app
        return app.app_token, table.table_id, view

    def add_media(self, app_token: str, data: bytes, name: str = "video.mp4") -> str:
        """A file attached in ``app_token``'s table; its file token."""
        token = _id("box")
        with self.fake.lock:
            self.media[token] = Media(name, "bitable_file", app_token, data)
        return token

    def add_wiki_node(self, app_token: str, title: str = "投放素材") -> str:
        """A wiki node holding the Base ``app_token``; its wiki token."""
        token = _id("wikcn")
        with self.fake.lock:
            self.wiki[token] = ("bitable", app_token, title)
        return token

    def created(self) -> list[App]:
        """The Bases the app created, oldest first."""
        with self.fake.lock:
            return [a for a in self.apps.values() if a.by_app]

    def table(self, app_token: str, name: str) -> Table:
        """The table called ``name`` in ``app_token``."""
        return next(t for t in self.apps[app_token].tables.values() if t.name == name)

    # -- helpers for the routes --------------------------------------------------------------------
    def app(self, token: str) -> App | None:
        with self.fake.lock:
            app = self.apps.get(token)
        return app if app is not None and app.shared else None

    def exists(self, token: str) -> bool:
        with self.fake.lock:
            return token in self.apps


_installed: weakref.WeakKeyDictionary[FakeFeishu, FakeBitable] = weakref.WeakKeyDictionary()


def install_bitable(fake: FakeFeishu) -> FakeBitable:
    """Register the Bitable, drive media, wiki and permission routes on ``fake``; returns their state.

    Installing twice returns the state of the first installation.
    """
    if fake in _installed:
        return _installed[fake]
    state = _installed[fake] = FakeBitable(fake)
    base = "/open-apis/bitable/v1/apps"
    table = f"{base}/:app_token/tables/:table_id"
    routes: list[tuple[str, str, Any]] = [
        ("POST", base, _create_app),
        ("POST", f"{base}/:app_token/tables", _create_table),
        ("GET", f"{base}/:app_token/tables", _list_tables),
        ("DELETE", table, _delete_table),
        ("GET", f"{table}/fields", _list_fields),
        ("POST", f"{table}/records/search", _search_records),
        ("POST", f"{table}/records/batch_create", _batch_create),
        ("POST", "/open-apis/drive/v1/medias/upload_all", _upload_all),
        ("POST", "/open-apis/drive/v1/medias/upload_prepare", _upload_prepare),
        ("POST", "/open-apis/drive/v1/medias/upload_part", _upload_part),
        ("POST", "/open-apis/drive/v1/medias/upload_finish", _upload_finish),
        ("GET", "/open-apis/drive/v1/medias/:file_token/download", _download),
        ("GET", "/open-apis/wiki/v2/spaces/get_node", _get_node),
        ("POST", "/open-apis/drive/v1/permissions/:token/members", _add_member),
        ("POST", "/open-apis/drive/v1/permissions/:token/members/transfer_owner", _transfer_owner),
    ]
    for method, template, handler in routes:
        fake.add_route(method, template, lambda f, r, h=handler: h(state, r))
    return state


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.lower() == "true"


# -- Bases and tables ------------------------------------------------------------------------------
def _create_app(state: FakeBitable, req: FakeRequest) -> Response:
    body = req.json() or {}
    name = str(body.get("name") or "")
    if not name or len(name) > 255:
        return fail(1254001, "WrongRequestBody: name")
    app = App(_id("bascn"), name, folder_token=str(body.get("folder_token") or ""), by_app=True)
    default = Table(_id("tbl"), "数据表", [{"field_id": _id("fld"), "field_name": "多行文本", "type": 1}])
    default.views[_id("vew")] = None
    app.tables[default.table_id] = default
    with state.fake.lock:
        state.apps[app.app_token] = app
    data = {"app_token": app.app_token, "name": name, "folder_token": app.folder_token, "url": app.url}
    return ok({"app": {**data, "default_table_id": default.table_id, "time_zone": "Asia/Shanghai"}})


def _check_fields(fields: Any) -> str | None:
    if not isinstance(fields, list) or not fields:
        return "a table needs at least one field"
    names = [f.get("field_name") for f in fields if isinstance(f, dict)]
    if len(names) != len(fields) or not all(isinstance(n, str) and n for n in names):
        return "every field needs a field_name"
    if len(set(names)) != len(names):
        return "field names must be unique"
    for f in fields:
        if f.get("type") not in FIELD_TYPES:
            return f"field {f['field_name']}: unsupported type {f.get('type')}"
        options = ((f.get("property") or {}).get("options")) or []
        if f["type"] in (3, 4) and not all(isinstance(o, dict) and o.get("name") for o in options):
            return f"field {f['field_name']}: options need names"
    if fields[0]["type"] not in PRIMARY_TYPES:
        return f"field {fields[0]['field_name']}: type {fields[0]['type']} cannot be the primary field"
    return None


def _create_table(state: FakeBitable, req: FakeRequest) -> Response:
    app = state.app(req.params["app_token"])
    if app is None:
        return (
            _denied(1254302, "Base")
            if state.exists(req.params["app_token"])
            else fail(1254040, "AppNotFound")
        )
    spec = (req.json() or {}).get("table") or {}
    name = str(spec.get("name") or "")
    problem = _check_fields(spec.get("fields")) if name else "the table needs a name"
    if problem:
        return fail(1254001, f"WrongRequestBody: {problem}")
    with state.fake.lock:
        if any(t.name == name for t in app.tables.values()):
            return fail(1254013, "TableNameDuplicated")
        fields = [{**f, "field_id": _id("fld")} for f in spec["fields"]]
        new = Table(_id("tbl"), name, fields)
        view = _id("vew")
        new.views[view] = None
        app.tables[new.table_id] = new
    return ok(
        {"table_id": new.table_id, "default_view_id": view, "field_id_list": [f["field_id"] for f in fields]}
    )


def _table(state: FakeBitable, req: FakeRequest) -> Table | Response:
    token = req.params["app_token"]
    app = state.app(token)
    if app is None:
        return _denied(1254302, "Base") if state.exists(token) else fail(1254040, "AppNotFound", 404)
    found = app.tables.get(req.params["table_id"])
    return found if found is not None else fail(1254041, "TableIdNotFound", 404)


def _delete_table(state: FakeBitable, req: FakeRequest) -> Response:
    found = _table(state, req)
    if isinstance(found, Response):
        return found
    app = state.apps[req.params["app_token"]]
    with state.fake.lock:
        if len(app.tables) == 1:
            return fail(1254043, "the last table of a Base cannot be deleted")
        del app.tables[found.table_id]
    return ok()


def _page(req: FakeRequest, items: list[Any]) -> dict[str, Any] | Response:
    try:
        size = int(req.call.query.get("page_size") or 20)
        start = int(req.call.query.get("page_token") or 0)
    except ValueError:
        return fail(1254001, "WrongRequestBody: page_size / page_token")
    if not 1 <= size <= MAX_PAGE:
        return fail(1254001, f"WrongRequestBody: page_size must be 1..{MAX_PAGE}")
    chunk = items[start : start + size]
    more = start + size < len(items)
    return {
        "items": chunk,
        "has_more": more,
        "page_token": str(start + size) if more else "",
        "total": len(items),
    }


def _list_tables(state: FakeBitable, req: FakeRequest) -> Response:
    token = req.params["app_token"]
    app = state.app(token)
    if app is None:
        return _denied(1254302, "Base") if state.exists(token) else fail(1254040, "AppNotFound", 404)
    items = [{"table_id": t.table_id, "name": t.name, "revision": 1} for t in app.tables.values()]
    page = _page(req, items)
    return page if isinstance(page, Response) else ok(page)


def _list_fields(state: FakeBitable, req: FakeRequest) -> Response:
    found = _table(state, req)
    if isinstance(found, Response):
        return found
    page = _page(req, [dict(f) for f in found.fields])
    return page if isinstance(page, Response) else ok(page)


def _search_records(state: FakeBitable, req: FakeRequest) -> Response:
    found = _table(state, req)
    if isinstance(found, Response):
        return found
    body = req.json() or {}
    view = body.get("view_id")
    with state.fake.lock:
        records = list(found.records)
        if view:
            if view not in found.views:
                return fail(1254002, "ViewIdNotFound")
            order = found.views[view]
            if order is not None:
                by_id = {r["record_id"]: r for r in records}
                records = [by_id[i] for i in order if i in by_id]
    page = _page(req, [{"record_id": r["record_id"], "fields": dict(r["fields"])} for r in records])
    return page if isinstance(page, Response) else ok(page)


def _cell_problem(spec: dict[str, Any], value: Any, media: dict[str, Media], app_token: str) -> str | None:
    kind = spec["type"]
    if kind == 1 and not isinstance(value, str):
        return "TextFieldConvFail"
    if kind == 2 and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "NumberFieldConvFail"
    if kind == 3 and not isinstance(value, str):
        return "SingleSelectFieldConvFail"
    if kind == 4 and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return "MultiSelectFieldConvFail"
    if kind == 5 and (isinstance(value, bool) or not isinstance(value, int)):
        return "DatetimeFieldConvFail"
    if kind == 15 and not (
        isinstance(value, dict) and str(value.get("link", "")).startswith(("http://", "https://"))
    ):
        return "URLFieldConvFail"
    if kind == 17:
        if not isinstance(value, list) or not all(isinstance(v, dict) and "file_token" in v for v in value):
            return "AttachFieldConvFail"
        for item in value:
            got = media.get(item["file_token"])
            if got is None or got.parent_node != app_token:
                return "AttachFieldConvFail: unknown file_token"
    return None


def _add_options(spec: dict[str, Any], value: Any) -> None:
    if spec["type"] not in (3, 4):
        return
    options = spec.setdefault("property", {}).setdefault("options", [])
    for name in [value] if isinstance(value, str) else value:
        if all(o["name"] != name for o in options):
            options.append({"name": name, "id": _id("opt")})


def _batch_create(state: FakeBitable, req: FakeRequest) -> Response:
    found = _table(state, req)
    if isinstance(found, Response):
        return found
    token = req.call.query.get("client_token")
    if token is not None:
        try:
            uuid.UUID(token)
        except ValueError:
            return fail(99992402, "field validation failed: client_token must be a UUID")
    records = (req.json() or {}).get("records")
    if not isinstance(records, list) or not records:
        return fail(1254001, "WrongRequestBody: records")
    if len(records) > MAX_BATCH:
        return fail(1254104, f"RecordAddOnceExceedLimit: at most {MAX_BATCH} records per request")
    if not found.writer.acquire(blocking=False):
        return fail(1254291, "Write conflict: another request is writing to this table")
    try:
        state.writing.set()
        state.release.wait(timeout=30)
        with state.fake.lock:
            if token is not None and token in found.tokens:
                return ok({"records": found.tokens[token]})
            for record in records:
                for name, value in (record.get("fields") or {}).items():
                    spec = found.field_named(name)
                    if spec is None:
                        return fail(1254045, f"FieldNameNotFound: {name}")
                    problem = _cell_problem(spec, value, state.media, req.params["app_token"])
                    if problem:
                        return fail(1254060, f"{problem}: {name}")
            made = []
            for record in records:
                fields = dict(record.get("fields") or {})
                for name, value in fields.items():
                    _add_options(found.field_named(name) or {}, value)
                made.append({"record_id": _id("rec"), "fields": fields})
            found.records.extend(made)
            if token is not None:
                found.tokens[token] = made
        return ok({"records": made})
    finally:
        found.writer.release()


# -- drive media -----------------------------------------------------------------------------------
def _upload_target(state: FakeBitable, parent_type: str, parent_node: str) -> Response | None:
    if parent_type not in ("bitable_image", "bitable_file"):
        return fail(1061002, "params error: parent_type")
    if state.app(parent_node) is None:
        return _denied(1061004, "Base")
    return None


def _upload_all(state: FakeBitable, req: FakeRequest) -> Response:
    form, files = req.form, req.files
    if "file" not in files:
        return fail(1061002, "params error: file")
    data = files["file"][1]
    if not form.get("size", "").isdigit() or int(form["size"]) != len(data):
        return fail(1061002, "params error: size does not match the file")
    if len(data) > MAX_SINGLE_UPLOAD:
        return fail(1061043, "file size exceeds the 20 MB limit of upload_all: use the multipart upload")
    problem = _upload_target(state, form.get("parent_type", ""), form.get("parent_node", ""))
    if problem is not None:
        return problem
    token = _id("box")
    with state.fake.lock:
        state.media[token] = Media(form.get("file_name", ""), form["parent_type"], form["parent_node"], data)
    return ok({"file_token": token})


def _upload_prepare(state: FakeBitable, req: FakeRequest) -> Response:
    body = req.json() or {}
    size = body.get("size")
    if not isinstance(size, int) or size <= 0:
        return fail(1061002, "params error: size")
    problem = _upload_target(state, str(body.get("parent_type", "")), str(body.get("parent_node", "")))
    if problem is not None:
        return problem
    upload_id = _id("upl")
    with state.fake.lock:
        state.uploads[upload_id] = _Upload(
            str(body.get("file_name", "")), body["parent_type"], body["parent_node"], size
        )
    return ok({"upload_id": upload_id, "block_size": BLOCK_SIZE, "block_num": -(-size // BLOCK_SIZE)})


def _upload_part(state: FakeBitable, req: FakeRequest) -> Response:
    form = req.form
    upload = state.uploads.get(form.get("upload_id", ""))
    if upload is None or "file" not in req.files:
        return fail(1061002, "params error: upload_id / file")
    data = req.files["file"][1]
    seq = int(form.get("seq", "-1"))
    blocks = -(-upload.size // BLOCK_SIZE)
    expected = min(BLOCK_SIZE, upload.size - seq * BLOCK_SIZE) if 0 <= seq < blocks else -1
    if len(data) != expected or int(form.get("size", "-1")) != len(data):
        return fail(1061002, f"params error: block {seq} must be {expected} bytes")
    with state.fake.lock:
        upload.parts[seq] = data
    return ok()


def _upload_finish(state: FakeBitable, req: FakeRequest) -> Response:
    body = req.json() or {}
    with state.fake.lock:
        upload = state.uploads.pop(str(body.get("upload_id", "")), None)
    if upload is None:
        return fail(1061002, "params error: upload_id")
    data = b"".join(upload.parts[i] for i in sorted(upload.parts))
    if len(data) != upload.size or body.get("block_num") != len(upload.parts):
        return fail(1061002, "params error: blocks missing")
    token = _id("box")
    with state.fake.lock:
        state.media[token] = Media(upload.name, upload.parent_type, upload.parent_node, data)
    return ok({"file_token": token})


def _download(state: FakeBitable, req: FakeRequest) -> Response:
    with state.fake.lock:
        media = state.media.get(req.params["file_token"])
    if media is None:
        return fail(1061007, "file has been deleted or does not exist", 404)
    if state.app(media.parent_node) is None:
        return _denied(1061004, "file")
    headers = {"Content-Disposition": f'attachment; filename="{media.name}"'}
    return Response(media.data, media_type="video/mp4", headers=headers)


# -- wiki ------------------------------------------------------------------------------------------
def _get_node(state: FakeBitable, req: FakeRequest) -> Response:
    token = req.call.query.get("token", "")
    with state.fake.lock:
        node = state.wiki.get(token)
    if node is None:
        return fail(131005, "not found: wiki node", 404)
    obj_type, obj_token, title = node
    if state.app(obj_token) is None:
        return _denied(131006, "wiki node")
    data = {"node_token": token, "obj_token": obj_token, "obj_type": obj_type, "title": title}
    return ok({"node": {**data, "space_id": "7000000000000000001", "node_type": "origin"}})


# -- permissions -----------------------------------------------------------------------------------
def _permission_app(state: FakeBitable, req: FakeRequest) -> App | Response:
    if req.call.query.get("type") != "bitable":
        return fail(1063001, "invalid parameter: type")
    app = state.app(req.params["token"])
    if app is None:
        return _denied(1063002, "Base")
    perm = "full_access" if app.owner == ("app", "") else app.members.get(("app", ""))
    if perm != "full_access":
        return _denied(1063002, "Base (full_access needed)")
    return app


def _add_member(state: FakeBitable, req: FakeRequest) -> Response:
    app = _permission_app(state, req)
    if isinstance(app, Response):
        return app
    body = req.json() or {}
    member_type, member_id, perm = body.get("member_type"), body.get("member_id"), body.get("perm")
    if member_type not in ("openid", "userid", "unionid", "email", "openchat") or not member_id:
        return fail(1063001, "invalid parameter: member_type / member_id")
    if perm not in ("view", "edit", "full_access"):
        return fail(1063001, "invalid parameter: perm")
    with state.fake.lock:
        app.members[(member_type, member_id)] = perm
    return ok({"member": {"member_type": member_type, "member_id": member_id, "perm": perm}})


def _transfer_owner(state: FakeBitable, req: FakeRequest) -> Response:
    app = _permission_app(state, req)
    if isinstance(app, Response):
        return app
    if app.owner != ("app", ""):
        return _denied(1063002, "Base (only the owner can transfer it)")
    body = req.json() or {}
    member_type, member_id = body.get("member_type"), body.get("member_id")
    if member_type not in ("openid", "userid", "unionid", "email") or not member_id:
        return fail(1063001, "invalid parameter: member_type / member_id")
    query = req.call.query
    with state.fake.lock:
        app.owner = (member_type, member_id)
        app.members.pop((member_type, member_id), None)
        if not _flag(query.get("remove_old_owner"), False):
            app.members[("app", "")] = query.get("old_owner_perm") or "full_access"
    return ok()


def dump(app: App) -> str:
    """The Base as JSON text (for failure messages)."""
    tables = {t.name: {"fields": t.fields, "rows": t.rows()} for t in app.tables.values()}
    return json.dumps({"name": app.name, "owner": app.owner, "tables": tables}, ensure_ascii=False, indent=1)

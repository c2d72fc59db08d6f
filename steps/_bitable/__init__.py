"""Feishu Bitable (多维表格): read a team's video table as a batch, write a task's results into a new Base.

In: :func:`parse_bitable_link` and :func:`read_bitable_source` turn a Base or wiki link into video
sources (found by column name) and the rows that cannot be used, each with its reason.
Out: :class:`BitablePublisher` (the ``bitable`` output of the publisher registry) writes the tables
``视频分析`` and ``分镜`` with the workbook's columns. Calls go through :class:`BitableApi`.
"""

from __future__ import annotations

from ._api import (
    MAX_BATCH,
    MAX_SINGLE_UPLOAD,
    RETRY_CODES,
    SHARE_HINT,
    BitableApi,
    NotShared,
    client_token,
)
from ._link import BitableLink, is_bitable_link, parse_bitable_link
from ._publish import STATE_FILE, BitablePublisher, field_spec, publish_bitable
from ._source import (
    BitableSource,
    ColumnMap,
    SourceRow,
    detect_columns,
    read_bitable_source,
    rows_from_records,
)

__all__ = [
    "MAX_BATCH",
    "MAX_SINGLE_UPLOAD",
    "RETRY_CODES",
    "SHARE_HINT",
    "STATE_FILE",
    "BitableApi",
    "BitableLink",
    "BitablePublisher",
    "BitableSource",
    "ColumnMap",
    "NotShared",
    "SourceRow",
    "client_token",
    "detect_columns",
    "field_spec",
    "is_bitable_link",
    "parse_bitable_link",
    "publish_bitable",
    "read_bitable_source",
    "rows_from_records",
]

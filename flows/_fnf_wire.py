"""CloudFlow's wire format (API ``fnf`` 2019-03-15), shared by the CloudFlow client and the local endpoint.

- RPC signature v1 (HMAC-SHA1): every parameter but ``Signature`` (query and form body together),
  keys and values percent-encoded with only ``A-Za-z0-9-_.~`` left as is, sorted by key, joined
  ``k=v`` with ``&``; string to sign ``METHOD&%2F&`` + the encoded join; key ``secret + "&"``.
- Times are ISO 8601 UTC with milliseconds (``2026-11-27T08:01:02.345Z``).
- History events travel as ``{EventId, Type, StepName, Time, EventDetail, ScheduleEventId}`` with
  ``EventDetail`` a JSON string. The embedded engine's names become CloudFlow's (``StateEntered`` →
  ``StepEntered``); everything else about an event (path, input, output, error) rides in
  ``EventDetail``, so :func:`event_from_cloud` gives back the engine's own event.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

__all__ = [
    "API_VERSION",
    "event_from_cloud",
    "event_to_cloud",
    "format_time",
    "parse_time",
    "percent_encode",
    "rpc_signature",
]

API_VERSION = "2019-03-15"

# The embedded engine's event types → CloudFlow's (types not listed keep their name).
_TO_CLOUD = {
    "StateEntered": "StepEntered",
    "StateExited": "StepExited",
    "StateFailed": "StepFailed",
    "StateRetried": "StepRetried",
}
_FROM_CLOUD = {cloud: ours for ours, cloud in _TO_CLOUD.items()}
_OWN_KEYS = ("id", "ts", "type", "state")


def percent_encode(text: str) -> str:
    """RFC 3986 encoding as the RPC signature wants it: only ``A-Za-z0-9-_.~`` are left as is."""
    return quote(text, safe="~", encoding="utf-8")


def rpc_signature(params: Mapping[str, str], method: str, secret: str) -> str:
    """The ``Signature`` of a request with ``params`` (``Signature`` itself is left out)."""
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)
    to_sign = f"{method.upper()}&%2F&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def format_time(ts: float | None) -> str | None:
    """Unix time → CloudFlow's ``2026-11-27T08:01:02.345Z`` (None stays None)."""
    if ts is None:
        return None
    when = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_time(text: str | None) -> float | None:
    """CloudFlow's ISO 8601 time → Unix time; None or an empty string → None."""
    if not text:
        return None
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def event_to_cloud(event: Mapping[str, Any]) -> dict[str, Any]:
    """One engine history event as GetExecutionHistory returns it."""
    kind = str(event.get("type", ""))
    detail = {k: v for k, v in event.items() if k not in _OWN_KEYS}
    return {
        "EventId": int(event.get("id", 0)),
        "Type": _TO_CLOUD.get(kind, kind),
        "StepName": str(event.get("state", "")),
        "Time": format_time(event.get("ts")),
        "EventDetail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
        "ScheduleEventId": 0,
    }


def event_from_cloud(event: Mapping[str, Any]) -> dict[str, Any]:
    """A GetExecutionHistory event as the engine records it (``{id, ts, type, state, path, ...}``)."""
    kind = str(event.get("Type") or "")
    try:
        detail: Any = json.loads(event.get("EventDetail") or "{}")
    except ValueError:
        detail = {"detail": event.get("EventDetail")}
    out: dict[str, Any] = {
        "id": int(event.get("EventId") or 0),
        "ts": parse_time(event.get("Time")),
        "type": _FROM_CLOUD.get(kind, kind),
        "state": str(event.get("StepName") or ""),
    }
    if isinstance(detail, dict):
        out.update({k: v for k, v in detail.items() if k not in _OWN_KEYS})
    else:
        out["detail"] = detail
    out.setdefault("path", out["state"])
    return out

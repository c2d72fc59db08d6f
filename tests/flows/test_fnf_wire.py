"""CloudFlow's wire format: the RPC signature (checked against the SDK's own) and history events."""

from __future__ import annotations

import pytest
from alibabacloud_tea_openapi.utils import Utils

from flows._fnf_wire import event_from_cloud, event_to_cloud, format_time, parse_time, rpc_signature


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signature_is_the_sdks(method: str) -> None:
    params = {
        "Action": "StartExecution",
        "Version": "2019-03-15",
        "AccessKeyId": "local-cloudflow",
        "Timestamp": "2026-11-27T08:01:02Z",
        "SignatureNonce": "b1f6*~ /+=",
        "Input": '{"task_id":"t1","request":{"title":"双十二 素材","videos":[{"url":"https://a.test/x.mp4?a=1&b=2"}]}}',
        "Empty": "",
    }
    ours = rpc_signature(params, method, "s3cr3t/+=")
    assert ours == Utils.get_rpcsignature(dict(params), method, "s3cr3t/+=")
    assert rpc_signature({**params, "Signature": ours}, method, "s3cr3t/+=") == ours  # Signature is left out
    assert rpc_signature(params, method, "other") != ours


def test_times_round_trip_at_millisecond_precision() -> None:
    assert format_time(1764230462.3456) == "2025-11-27T08:01:02.345Z"
    assert parse_time("2025-11-27T08:01:02.345Z") == pytest.approx(1764230462.345)
    assert parse_time("2025-11-27T08:01:02Z") == 1764230462.0
    assert format_time(None) is None and parse_time("") is None


def test_history_events_take_cloudflow_names_and_come_back_whole() -> None:
    ours = {
        "id": 7,
        "ts": 1764230462.5,
        "type": "StateFailed",
        "state": "视频理解",
        "path": "Videos/3/视频理解",
        "error": {"Code": "DownloadFailed", "Detail": "404"},
        "caught": True,
        "next": "VideoFailed",
    }
    cloud = event_to_cloud(ours)
    assert cloud["Type"] == "StepFailed" and cloud["StepName"] == "视频理解" and cloud["EventId"] == 7
    assert cloud["Time"] == "2025-11-27T08:01:02.500Z" and isinstance(cloud["EventDetail"], str)
    assert event_from_cloud(cloud) == ours
    assert (
        event_to_cloud({"id": 1, "ts": 1.0, "type": "ExecutionStarted", "state": ""})["Type"]
        == "ExecutionStarted"
    )
    # An event from the real service, without our path: the step name stands in for it.
    real = {
        "EventId": 3,
        "Type": "StepEntered",
        "StepName": "Fetch",
        "Time": "2025-11-27T08:01:02Z",
        "EventDetail": "",
    }
    assert event_from_cloud(real) == {
        "id": 3,
        "ts": 1764230462.0,
        "type": "StateEntered",
        "state": "Fetch",
        "path": "Fetch",
    }

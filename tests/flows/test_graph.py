"""The flow graph: well-formed SVG, every state drawn, coloured by execution stats, HTML opens in Chromium."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows._graph import STATUS_COLOURS, render_graph, state_status
from flows._validate import load_flow
from tests.browser import chromium

REAL_FLOW = Path(__file__).resolve().parents[2] / "flows" / "video_insight.yaml"
NS = {"svg": "http://www.w3.org/2000/svg"}

STATS = {  # keyed as flows.state_stats keys them: the state's place in the definition
    "Prepare": {"succeeded": 1},
    "Videos": {"succeeded": 1},
    "Videos/Item": {"succeeded": 10},
    "Videos/Fetch": {"succeeded": 9, "caught": 1},
    "Videos/Media": {"succeeded": 9},
    "Videos/Understand/Branch0/Transcribe": {"succeeded": 9},
    "Videos/Understand/Branch1/Shots": {"failed": 2},
    "Videos/Understand": {"succeeded": 7, "caught": 2},
    "Videos/Analyze": {"succeeded": 7},
    "Videos/VideoFailed": {"succeeded": 3},
    "Publish": {"running": 1},
    "Shots": {"succeeded": 5},  # a bare name is not the nested Shots state: it must not colour it
}


@pytest.fixture(scope="module")
def real_flow() -> dict[str, Any]:
    return load_flow(REAL_FLOW)


def state_names(body: Mapping[str, Any]) -> Iterator[str]:
    for st in body["States"]:
        yield st["Name"]
        if st["Type"] == "Map":
            yield from state_names(st["Processor"])
        for branch in st.get("Branches", []) if st["Type"] == "Parallel" else []:
            yield from state_names(branch)


def groups(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.attrib["data-state"]: g for g in root.iterfind(".//svg:g[@data-state]", NS)}


def box(g: ET.Element) -> tuple[float, float, float, float]:
    r = g.find("svg:rect", NS)
    assert r is not None
    x, y, w, h = (float(r.attrib[k]) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def test_real_flow_without_stats_draws_every_state_grey(real_flow: dict[str, Any]) -> None:
    svg = render_graph(real_flow)
    drawn = groups(svg)
    assert set(drawn) == set(state_names(real_flow))
    assert {g.attrib["data-status"] for g in drawn.values()} == {"notrun"}
    fill = STATUS_COLOURS["notrun"][0]
    assert all(g.find("svg:rect", NS).attrib["fill"] == fill for g in drawn.values())  # type: ignore[union-attr]
    texts = {t.text for t in ET.fromstring(svg).iterfind(".//svg:text", NS)}
    assert set(state_names(real_flow)) <= texts


def test_real_flow_with_stats_is_coloured_and_counted(real_flow: dict[str, Any]) -> None:
    drawn = groups(render_graph(real_flow, STATS))
    status = {name: g.attrib["data-status"] for name, g in drawn.items()}
    assert status["Shots"] == "failed"
    assert drawn["Shots"].find("svg:rect", NS).attrib["fill"] == "#fee2e2"  # type: ignore[union-attr]
    assert status["Fetch"] == status["Understand"] == "partial"
    assert status["Analyze"] == "succeeded" and status["Publish"] == "running"
    assert status["Finish"] == status["Abort"] == status["Failed"] == "notrun"
    fetch_text = " ".join(t.text or "" for t in drawn["Fetch"].iterfind("svg:text", NS))
    assert "✓9" in fetch_text and "↪1" in fetch_text
    assert "✗2" in " ".join(t.text or "" for t in drawn["Shots"].iterfind("svg:text", NS))


def test_edges_next_and_dashed_catch(real_flow: dict[str, Any]) -> None:
    root = ET.fromstring(render_graph(real_flow))
    paths = list(root.iterfind(".//svg:path[@class]", NS))
    catches = [p for p in paths if p.attrib["class"] == "edge catch"]
    n_catch = sum(len(s.get("Catch", [])) for s in _all_states(real_flow))
    n_next = sum(1 for s in _all_states(real_flow) if "Next" in s)
    assert len(catches) == n_catch == 9
    assert len([p for p in paths if p.attrib["class"] == "edge"]) == n_next
    assert {"Prepare → Abort", "Summarize → Publish", "OCR → NoScreenText"} <= {
        p.findtext("svg:title", namespaces=NS, default="").split(" (")[0] for p in catches
    }


def _all_states(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for st in body["States"]:
        yield st
        inner = (
            [st["Processor"]]
            if st["Type"] == "Map"
            else st.get("Branches", [])
            if st["Type"] == "Parallel"
            else []
        )
        for b in inner:
            yield from _all_states(b)


def test_boxes_never_overlap_and_fit_the_canvas(real_flow: dict[str, Any]) -> None:
    svg = render_graph(real_flow, STATS)
    root = ET.fromstring(svg)
    width, height = float(root.attrib["width"]), float(root.attrib["height"])
    boxes = {name: box(g) for name, g in groups(svg).items()}
    for x1, y1, x2, y2 in boxes.values():
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        disjoint = ba[2] <= bb[0] or bb[2] <= ba[0] or ba[3] <= bb[1] or bb[3] <= ba[1]
        nested = _inside(ba, bb) or _inside(bb, ba)
        assert disjoint or nested, f"{a} and {b} overlap"
    assert _inside(boxes["Fetch"], boxes["Videos"]) and _inside(boxes["Shots"], boxes["Understand"])
    assert boxes["Prepare"][3] < boxes["Videos"][1] < boxes["Videos"][3] < boxes["Publish"][1]


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


CHOICE_LOOP = yaml.safe_load(
    """
Type: StateMachine
Name: loop <&> "quoted"
SpecVersion: v1
StartAt: Check
States:
  - Type: Choice
    Name: Check
    Description: 'n < 3 & "ready"'
    Branches:
      - Condition: $Input.n < 3 && $Input.s == "a&b"
        Next: Again
    Default: Done
  - Type: Pass
    Name: Again
    Next: Check
  - Type: Succeed
    Name: Done
"""
)


def test_choice_labels_back_edges_and_escaping() -> None:
    svg = render_graph(CHOICE_LOOP, {"Check": {"succeeded": 3}, "Again": {"succeeded": 2}})
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iterfind(".//svg:text", NS)]
    assert 'loop <&> "quoted"' in texts
    assert any(t.startswith("$Input.n < 3") and t.endswith("…") for t in texts) and "default" in texts
    titles = [t.text or "" for t in root.iterfind(".//svg:title", NS)]
    assert any('n < 3 & "ready"' in t for t in titles)
    assert _edges_clear_of_boxes(svg) == 3


def _edges_clear_of_boxes(svg: str) -> int:
    """Assert no edge runs through a box other than its ends and their enclosing groups; count edges."""
    root = ET.fromstring(svg)
    boxes = {name: box(g) for name, g in groups(svg).items()}
    edges = list(root.iterfind(".//svg:path[@class]", NS))
    for path in edges:
        src, dst = path.findtext("svg:title", "", NS).split(" (")[0].split(" → ")
        pts = [tuple(map(float, p[1:].split(","))) for p in path.attrib["d"].split()]
        for name, (x1, y1, x2, y2) in boxes.items():
            if name in (src, dst) or _inside(boxes[src], (x1, y1, x2, y2)):
                continue
            for (ax, ay), (bx, by) in itertools.pairwise(pts):
                hits_x = min(ax, bx) < x2 and max(ax, bx) > x1
                hits_y = min(ay, by) < y2 and max(ay, by) > y1
                assert not (hits_x and hits_y), f"edge {src} → {dst} crosses {name}"
    return len(edges)


def test_real_flow_edges_are_clear_of_boxes(real_flow: dict[str, Any]) -> None:
    assert _edges_clear_of_boxes(render_graph(real_flow, STATS)) > 10


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (None, "notrun"),
        ({"succeeded": 0}, "notrun"),
        ({"succeeded": 4}, "succeeded"),
        ({"failed": 1}, "failed"),
        ({"succeeded": 3, "failed": 1}, "partial"),
        ({"caught": 2}, "partial"),
        ({"succeeded": 3, "failed": 1, "running": 1}, "running"),
    ],
)
def test_state_status(counts: dict[str, int] | None, expected: str) -> None:
    assert state_status(counts) == expected


def test_unknown_format_is_an_error(real_flow: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="use 'svg' or 'html'"):
        render_graph(real_flow, fmt="png")  # type: ignore[arg-type]


@pytest.mark.slow
def test_html_renders_offline_in_headless_chromium(real_flow: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "graph.html"
    page.write_text(render_graph(real_flow, STATS, "html", title="video-insight · run-1"), encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert "<svg" in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert all(label in text for _, _, label in STATUS_COLOURS.values())
    shot = tmp_path / "graph.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri(), profile=tmp_path / "profile")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000

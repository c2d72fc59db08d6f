"""Draw a flow as a top-down SVG (or a self-contained HTML page), coloured by an execution's state stats.

Pure Python, no graphviz: each scope (the flow, a Map's Processor, a Parallel branch) is laid out in
layers by longest path from its ``StartAt``; Map and Parallel states are drawn as groups holding their
inner scopes. Edges: ``Next`` solid, Choice branches labelled, ``Catch`` dashed; an edge that skips a
layer or goes back up runs in a lane on the right so it never crosses a box.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._transitions import transitions

__all__ = ["STATUS_COLOURS", "render_graph", "state_status"]

Stats = Mapping[str, Mapping[str, int]]

# status → (fill, stroke, legend text)
STATUS_COLOURS: dict[str, tuple[str, str, str]] = {
    "succeeded": ("#dcfce7", "#16a34a", "all succeeded"),
    "partial": ("#fef3c7", "#d97706", "some failed or caught"),
    "failed": ("#fee2e2", "#dc2626", "failed"),
    "running": ("#dbeafe", "#2563eb", "running"),
    "notrun": ("#f3f4f6", "#9ca3af", "not run"),
}
_MARKS = (("succeeded", "✓"), ("failed", "✗"), ("caught", "↪"), ("running", "▶"))
_FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', 'DejaVu Sans', sans-serif"
NODE_H, NODE_MIN_W, HGAP, VGAP, MARGIN, LANE = 46, 150, 28, 38, 16, 14
HEADER, PAD = 30, 12


def state_status(counts: Mapping[str, int] | None) -> str:
    """``succeeded``, ``failed``, ``partial`` (some failed or caught), ``running`` or ``notrun``."""
    c = counts or {}
    ok, bad, caught, running = (int(c.get(k, 0)) for k in ("succeeded", "failed", "caught", "running"))
    if running:
        return "running"
    if bad and not ok and not caught:
        return "failed"
    if bad or caught:
        return "partial"
    return "succeeded" if ok else "notrun"


def _counts_text(counts: Mapping[str, int] | None) -> str:
    c = counts or {}
    return " ".join(f"{mark}{c[k]}" for k, mark in _MARKS if c.get(k))


def _text_w(text: str, size: float) -> float:
    return sum(size * (1.0 if ord(ch) > 0x2E80 else 0.6) for ch in text)


@dataclass
class _Edge:
    src: str
    dst: str
    kind: Literal["next", "choice", "catch"]
    label: str = ""


@dataclass
class _Node:
    name: str
    kind: str
    state: Mapping[str, Any]
    key: str  # the state's place in the definition, as stats name it: Videos/Understand/Branch1/Shots
    w: float = NODE_MIN_W
    h: float = NODE_H
    x: float = 0.0
    y: float = 0.0
    inner: list[_Scope] = field(default_factory=list)
    inner_labels: list[str] = field(default_factory=list)


@dataclass
class _Scope:
    nodes: dict[str, _Node]
    layers: list[list[str]]
    layer_of: dict[str, int]
    edges: list[_Edge]
    lanes: int = 0
    w: float = 0.0
    h: float = 0.0
    x: float = 0.0
    y: float = 0.0


def _edges(states: list[Mapping[str, Any]], names: set[str]) -> list[_Edge]:
    out: list[_Edge] = []
    for st in states:
        for t in transitions(st):
            kind = "choice" if t.kind == "default" else t.kind
            out.append(_Edge(str(st.get("Name")), t.target, kind, t.label))
    return [e for e in out if e.src in names and e.dst in names]


def _layers(order: list[str], start: str, edges: list[_Edge]) -> dict[str, int]:
    """Longest-path layering over the edges that are not back edges of a DFS from ``start``."""
    succ: dict[str, list[str]] = {n: [] for n in order}
    for e in edges:
        succ[e.src].append(e.dst)
    post: list[str] = []
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    forward: set[tuple[str, str]] = set()
    for root in [start, *order] if start in succ else order:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                post.append(node)
                stack.pop()
            elif state.get(nxt) != 1:
                forward.add((node, nxt))
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(succ[nxt])))
    layer = dict.fromkeys(order, 0)
    for node in reversed(post):
        for nxt in succ[node]:
            if (node, nxt) in forward:
                layer[nxt] = max(layer[nxt], layer[node] + 1)
    return layer


def _measure(body: Mapping[str, Any], stats: Stats, prefix: str = "") -> _Scope:
    states = [
        s for s in body.get("States") or [] if isinstance(s, Mapping) and isinstance(s.get("Name"), str)
    ]
    nodes: dict[str, _Node] = {}
    for st in states:
        nodes.setdefault(st["Name"], _measure_node(st, stats, prefix))
    edges = _edges(states, set(nodes))
    layer_of = _layers(list(nodes), str(body.get("StartAt")), edges)
    layers: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for name in nodes:
        layers[layer_of[name]].append(name)
    scope = _Scope(nodes, layers, layer_of, edges)
    scope.lanes = sum(1 for e in edges if layer_of[e.dst] != layer_of[e.src] + 1)
    rows = [
        (sum(nodes[n].w for n in row) + HGAP * (len(row) - 1), max(nodes[n].h for n in row)) for row in layers
    ]
    scope.w = max((w for w, _ in rows), default=NODE_MIN_W) + 2 * MARGIN + scope.lanes * LANE
    scope.h = sum(h for _, h in rows) + VGAP * max(len(rows) - 1, 0) + 2 * MARGIN
    return scope


def _measure_node(st: Mapping[str, Any], stats: Stats, prefix: str) -> _Node:
    kind, name = str(st.get("Type", "?")), st["Name"]
    key = f"{prefix}/{name}" if prefix else name
    node = _Node(name, kind, st, key)
    line2 = f"{kind}  {_counts_text(stats.get(key))}"
    node.w = max(NODE_MIN_W, _text_w(name, 13) + 28, _text_w(line2, 11) + 28)
    if kind == "Map" and isinstance(st.get("Processor"), Mapping):
        node.inner, node.inner_labels = [_measure(st["Processor"], stats, key)], ["Processor"]
    elif kind == "Parallel":
        branches = [b for b in st.get("Branches") or [] if isinstance(b, Mapping)]
        node.inner = [_measure(b, stats, f"{key}/Branch{i}") for i, b in enumerate(branches)]
        node.inner_labels = [f"Branch{i}" for i in range(len(branches))]
    if node.inner:
        inner_w = sum(s.w for s in node.inner) + PAD * (len(node.inner) + 1)
        node.w = max(node.w + 40, inner_w)
        node.h = HEADER + max(s.h for s in node.inner) + PAD + 14
    return node


def _place(scope: _Scope, x: float, y: float) -> None:
    scope.x, scope.y = x, y
    content_w = scope.w - 2 * MARGIN - scope.lanes * LANE
    cy = y + MARGIN
    for row in scope.layers:
        row_w = sum(scope.nodes[n].w for n in row) + HGAP * (len(row) - 1)
        cx = x + MARGIN + (content_w - row_w) / 2
        for name in row:
            node = scope.nodes[name]
            node.x, node.y = cx, cy
            cx += node.w + HGAP
            if node.inner:
                inner_w = sum(s.w for s in node.inner) + PAD * (len(node.inner) - 1)
                ix = node.x + (node.w - inner_w) / 2
                for sub in node.inner:
                    _place(sub, ix, node.y + HEADER + 14)
                    ix += sub.w + PAD
        cy += max(scope.nodes[n].h for n in row) + VGAP


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _draw_scope(scope: _Scope, stats: Stats, out: list[str]) -> None:
    lane_x0 = scope.x + scope.w - MARGIN - scope.lanes * LANE + LANE / 2
    lane = 0
    for e in scope.edges:
        a, b = scope.nodes[e.src], scope.nodes[e.dst]
        if scope.layer_of[e.dst] == scope.layer_of[e.src] + 1:
            sx, sy, dx, dy = a.x + a.w / 2, a.y + a.h, b.x + b.w / 2, b.y
            mid = b.y - VGAP / 2
            pts = [(sx, sy), (sx, mid), (dx, mid), (dx, dy)]
        else:
            pts = _lane_route(scope, a, b, lane_x0 + lane * LANE)
            lane += 1
        _draw_edge(e, pts, out, b)
    for node in scope.nodes.values():
        _draw_node(node, stats, out)


def _lane_route(scope: _Scope, a: _Node, b: _Node, lx: float) -> list[tuple[float, float]]:
    """A path from ``a`` to ``b`` through the vertical lane at ``lx``, clear of every other box.

    A box that is the rightmost of its row is left/entered from its right side; otherwise the path
    drops below (or comes from above) the row through the gap between rows.
    """
    pts: list[tuple[float, float]] = []
    src_row, dst_row = scope.layers[scope.layer_of[a.name]], scope.layers[scope.layer_of[b.name]]
    if src_row[-1] == a.name:
        pts.append((a.x + a.w, a.y + min(a.h / 2, NODE_H / 2) + 6))
    else:
        below = max(scope.nodes[n].y + scope.nodes[n].h for n in src_row) + VGAP / 2 - 5
        pts += [(a.x + a.w / 2 + 8, a.y + a.h), (a.x + a.w / 2 + 8, below)]
    pts.append((lx, pts[-1][1]))
    if dst_row[-1] == b.name:
        dy = b.y + min(b.h / 2, NODE_H / 2) - 6
        pts += [(lx, dy), (b.x + b.w, dy)]
    else:
        above = b.y - VGAP / 2 + 5
        pts += [(lx, above), (b.x + b.w / 2 + 8, above), (b.x + b.w / 2 + 8, b.y)]
    return pts


def _draw_edge(e: _Edge, pts: list[tuple[float, float]], out: list[str], dst: _Node) -> None:
    d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(pts))
    cls = {"next": "edge", "choice": "edge choice", "catch": "edge catch"}[e.kind]
    tip = f"{e.src} → {e.dst}" + (f" ({e.kind}: {e.label})" if e.label else "")
    out.append(
        f'<path class="{cls}" d="{d}" marker-end="url(#arrow-{e.kind})"><title>{_esc(tip)}</title></path>'
    )
    if e.kind == "choice" and e.label:
        room = max(int((dst.w - 16) / 6), 8)  # the label sits just above the target box
        label = e.label if len(e.label) <= room else e.label[: room - 1] + "…"
        x, y = pts[-1]
        out.append(f'<text class="elabel" x="{x + 5:.1f}" y="{y - 5:.1f}">{_esc(label)}</text>')


def _draw_node(node: _Node, stats: Stats, out: list[str]) -> None:
    counts = stats.get(node.key)
    status = state_status(counts)
    fill, stroke, _ = STATUS_COLOURS[status]
    tip = [f"{node.name} ({node.kind}) — {STATUS_COLOURS[status][2]}"]
    if counts:
        tip.append(", ".join(f"{k} {v}" for k, v in counts.items()))
    if node.state.get("Description"):
        tip.append(str(node.state["Description"]))
    attrs = f'data-state="{_esc(node.name)}" data-key="{_esc(node.key)}" data-status="{status}"'
    out.append(f'<g class="state {node.kind.lower()}" {attrs}><title>{_esc(chr(10).join(tip))}</title>')
    line2 = f"{node.kind}  {_counts_text(counts)}".rstrip()
    if node.inner:
        out.append(
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="10" '
            f'fill="{fill}" fill-opacity="0.45" stroke="{stroke}" stroke-width="2"/>'
        )
        out.append(f'<text class="name" x="{node.x + 12:.1f}" y="{node.y + 20:.1f}">{_esc(node.name)}</text>')
        out.append(
            f'<text class="sub" x="{node.x + node.w - 12:.1f}" y="{node.y + 20:.1f}" text-anchor="end">'
            f"{_esc(line2)}</text>"
        )
        for sub, label in zip(node.inner, node.inner_labels, strict=True):
            box = f'x="{sub.x:.1f}" y="{sub.y:.1f}" width="{sub.w:.1f}" height="{sub.h:.1f}"'
            out.append(f'<rect class="scope" {box} rx="6"/>')
            out.append(
                f'<text class="scopelabel" x="{sub.x + 6:.1f}" y="{sub.y - 4:.1f}">{_esc(label)}</text>'
            )
        out.append("</g>")
        for sub in node.inner:
            _draw_scope(sub, stats, out)
        return
    cx = node.x + node.w / 2
    out.append(
        f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="8" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
    )
    out.append(
        f'<text class="name" x="{cx:.1f}" y="{node.y + 19:.1f}" text-anchor="middle">{_esc(node.name)}</text>'
    )
    out.append(
        f'<text class="sub" x="{cx:.1f}" y="{node.y + 36:.1f}" text-anchor="middle">{_esc(line2)}</text></g>'
    )


_STYLE = f"""
text {{ font-family: {_FONT}; fill: #111827; }}
.name {{ font-size: 13px; font-weight: 600; }}
.sub {{ font-size: 11px; fill: #374151; }}
.title {{ font-size: 15px; font-weight: 600; }}
.elabel {{ font-size: 10px; fill: #4b5563; }}
.scopelabel {{ font-size: 10px; fill: #6b7280; }}
.scope {{ fill: #ffffff; fill-opacity: 0.7; stroke: #9ca3af; stroke-dasharray: 4 3; }}
.edge {{ fill: none; stroke: #4b5563; stroke-width: 1.5; }}
.edge.choice {{ stroke: #7c3aed; }}
.edge.catch {{ stroke: #b91c1c; stroke-dasharray: 6 4; stroke-width: 1.2; }}
"""


def _marker(kind: str, colour: str) -> str:
    return (
        f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )


def _svg(spec: Mapping[str, Any], stats: Stats, title: str | None) -> str:
    scope = _measure(spec, stats)
    top = 34
    _place(scope, 0, top)
    width, height = max(scope.w, _text_w(title or "", 15) + 32), scope.h + top
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_esc(title or "flow")}">',
        f"<style>{_STYLE}</style>",
        "<defs>",
        _marker("next", "#4b5563"),
        _marker("choice", "#7c3aed"),
        _marker("catch", "#b91c1c"),
        "</defs>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text class="title" x="{MARGIN}" y="22">{_esc(title or spec.get("Name", "flow"))}</text>',
    ]
    _draw_scope(scope, stats, out)
    out.append("</svg>")
    return "\n".join(out)


def _html(svg: str, stats: Stats, title: str) -> str:
    legend = "".join(
        f'<li><span class="sw" style="background:{fill};border-color:{stroke}"></span>{_esc(text)}</li>'
        for fill, stroke, text in STATUS_COLOURS.values()
    )
    marks = " · ".join(f"{m} {k}" for k, m in _MARKS)
    rows = "".join(
        f"<tr><td>{_esc(name)}</td>"
        + "".join(f"<td>{int(c.get(k, 0))}</td>" for k, _ in _MARKS)
        + f"<td>{_esc(STATUS_COLOURS[state_status(c)][2])}</td></tr>"
        for name, c in stats.items()
    )
    table = (
        "<table><thead><tr><th>state</th>"
        + "".join(f"<th>{k}</th>" for k, _ in _MARKS)
        + f"<th>status</th></tr></thead><tbody>{rows}</tbody></table>"
        if stats
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>
body {{ font-family: {_FONT}; margin: 24px; color: #111827; }}
ul.legend {{ list-style: none; padding: 0; display: flex; gap: 18px; flex-wrap: wrap; }}
.sw {{ display: inline-block; width: 14px; height: 14px; border: 2px solid; border-radius: 3px;
       margin-right: 6px; vertical-align: -3px; }}
.lines {{ color: #4b5563; font-size: 13px; }}
table {{ border-collapse: collapse; margin-top: 16px; font-size: 13px; }}
td, th {{ border: 1px solid #e5e7eb; padding: 3px 10px; text-align: right; }}
td:first-child, th:first-child, td:last-child, th:last-child {{ text-align: left; }}
</style></head><body>
<h1>{_esc(title)}</h1>
<ul class="legend">{legend}</ul>
<p class="lines">Counts: {_esc(marks)} (summed over Map iterations). Arrows: solid = Next,
purple = Choice branch, dashed red = Catch.</p>
{svg}
{table}
</body></html>
"""


def render_graph(
    spec: Mapping[str, Any],
    stats: Stats | None = None,
    fmt: Literal["svg", "html"] = "svg",
    *,
    title: str | None = None,
) -> str:
    """Draw ``spec`` as SVG or a self-contained HTML page.

    Args:
        spec: a flow definition (as loaded by ``load_flow``; validate it first).
        stats: ``{state key: {"succeeded": n, "failed": n, "running": n, "caught": n}}`` of one
            execution (:func:`flows.state_stats`; a key is the state's place in the definition,
            ``Videos/Understand/Branch1/Shots``); states missing from it are drawn grey (not run).
        fmt: ``"svg"`` or ``"html"`` (the SVG inline, with a legend and a table of the counts).
        title: the heading; defaults to the flow's ``Name``.
    """
    if fmt not in ("svg", "html"):
        raise ValueError(f"unknown graph format {fmt!r}; use 'svg' or 'html'")
    stats = stats or {}
    heading = title or str(spec.get("Name", "flow"))
    svg = _svg(spec, stats, heading)
    return svg if fmt == "svg" else _html(svg, stats, heading)

"""``report.html``: one self-contained page (inline CSS, relative images under ``media/``, no CDN).

Every piece of user text (names, links, transcripts, analysis) goes through :func:`html.escape`;
links are only made clickable for http(s) URLs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from .._ai.summary import BatchSummary, Claim, fmt_ratio, usage_text
from .._artifacts import Metrics, ScreenTextLine, VideoResult
from .._logging import get_logger
from .._workspace import atomic_write_bytes
from ._format import (
    METRIC_LABELS,
    error_text,
    fmt_metric,
    fmt_time,
    plain,
    shot_speech,
    status_label,
    transcript_text_or_reason,
)
from ._style import CSS, SCRIPT
from .collect import Results

__all__ = ["render_html", "section_id", "write_html"]

log = get_logger(__name__)
_MARK = {"overlay": "【花字】", "subtitle": ""}  # how a line's kind shows in the list of on-screen text


def e(text: object) -> str:
    """Escape ``text`` for element content and quoted attributes."""
    return html.escape(str(text), quote=True)


def section_id(video: VideoResult) -> str:
    """The anchor of a video's section, escaped: a re-rendered results.json may hold any id."""
    return e(f"v-{quote(video.video_id, safe='')}")


def _src(rel: str) -> str:
    return e(quote(rel, safe="/"))


def write_html(results: Results, out_dir: Path, name: str = "report.html") -> Path:
    """Write the report for ``results`` into ``out_dir``."""
    path = out_dir / name
    data = render_html(results).encode("utf-8")
    atomic_write_bytes(path, data)
    log.info("publish.html_written", path=str(path), bytes=len(data))
    return path


def render_html(results: Results) -> str:
    """The whole page as a string."""
    body = [
        _header(results),
        '<main class="wrap">',
        _insights(results),
        _summary(results),
        _failures(results),
    ]
    body += [_video(v) for v in results.videos]
    body.append(f"<footer>video-insight · {e(results.task_id)}</footer></main>")
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(results.title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )


def _when(label: str, iso: str) -> str:
    return f'{label} <time data-iso="{e(iso)}">{e(iso[:16].replace("T", " "))} UTC</time>'


def _header(results: Results) -> str:
    c = results.counts
    stats = [("视频总数", c.total), ("成功", c.ok), ("失败", c.failed)]
    ok_ratio = f"{c.ok / c.total * 100:.0f}%" if c.total else "–"
    cards = "".join(f'<div class="stat"><b>{n}</b><span>{label}</span></div>' for label, n in stats)
    cards += f'<div class="stat"><b>{ok_ratio}</b><span>成功率</span></div>'
    meta = " · ".join(
        [
            f"任务 {e(results.task_id)}",
            _when("创建于", results.created_at.isoformat()),
            _when("完成于", results.finished_at.isoformat()),
        ]
    )
    return (
        f'<header class="top"><div class="wrap"><h1>{e(results.title)}</h1>'
        f'<p class="meta">{meta}</p><div class="cards">{cards}</div></div></header>'
    )


def _claims(title: str, claims: list[Claim], names: dict[str, str], ids: dict[str, str]) -> str:
    items = []
    for claim in claims:
        links = "".join(
            f'<a class="cite" href="#{ids[i]}">{e(names[i])}</a>' for i in claim.video_ids if i in ids
        )
        items.append(f'<li>{e(claim.text)}<span class="cites">{links}</span></li>')
    return f'<h3>{title}</h3><ol class="claims">{"".join(items)}</ol>' if items else ""


def _rankings(summary: BatchSummary, ids: dict[str, str]) -> str:
    rows = []
    for r in summary.numbers.rankings:
        order = "越高越好" if r.higher_is_better else "越低越好"
        ranked = " › ".join(
            f'<a href="#{ids.get(x.video_id, "")}">{e(x.name)}</a> <b>{fmt_ratio(r.metric, x.value)}</b>'
            for x in r.ranked
        )
        batch = fmt_ratio(r.metric, r.batch_value)
        label = f"<th>{e(r.label)}<br><small>{order}</small></th>"
        rows.append(f'<tr>{label}<td>{ranked}</td><td class="num">{batch}</td></tr>')
    if not rows:
        return '<p class="empty">这一批没有投放数据，没有排名。</p>'
    head = "<tr><th>指标</th><th>从好到差</th><th>整批</th></tr>"
    return f'<div class="table-wrap"><table class="ranks">{head}{"".join(rows)}</table></div>'


def _traits(summary: BatchSummary) -> str:
    numbers = summary.numbers
    if not numbers.traits:
        return ""
    best = "、".join(v.name for v in numbers.strong)
    rows = "".join(
        f"<tr><th>{e(t.label)}</th><td>{e(t.strong)}</td><td>{e(t.rest)}</td></tr>" for t in numbers.traits
    )
    head = f"<tr><th>特征</th><th>表现最好的（{e(best)}）</th><th>其余</th></tr>"
    return f'<h3>表现最好的素材有什么不同</h3><div class="table-wrap"><table>{head}{rows}</table></div>'


def _insights(results: Results) -> str:
    """The first section: the batch summary (the model's prose, the code's numbers)."""
    summary = results.summary
    if summary is None:
        return ""
    names = {v.video_id: v.name for v in results.videos}
    ids = {v.video_id: section_id(v) for v in results.videos}
    parts = ['<section class="panel insights" id="insights"><h2>批次总结</h2>']
    if summary.prose is not None:
        parts.append(f'<p class="headline">{e(summary.prose.headline)}</p>')
        parts.append(_claims("发现", summary.prose.findings, names, ids))
        parts.append(_claims("建议", summary.prose.suggestions, names, ids))
    else:
        parts.append(f'<p class="note">AI 总结：{e(summary.status.message or "没有生成")}</p>')
    parts += ["<h3>投放数据排名</h3>", _rankings(summary, ids), _traits(summary)]
    if summary.numbers.without_performance:
        missing = "、".join(e(v.name) for v in summary.numbers.without_performance)
        parts.append(f'<p class="note">没有投放数据（不参与排名）：{missing}</p>')
    cost = usage_text(results.analysis_usage)
    if cost:
        parts.append(f'<p class="note">{e(cost)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _summary(results: Results) -> str:
    heads = ["视频", "状态", "时长", "分辨率", "镜头数", "平均镜头", "语速", "开头 3 秒"]
    rows = []
    for v in results.videos:
        m = v.metrics or Metrics()
        res = f"{v.width}×{v.height}" if v.width and v.height else ""
        hook = m.hook_text or (error_text(v) if v.status == "failed" else "")
        hook_cls = ' class="reason"' if v.status == "failed" else ""
        rows.append(
            f'<tr><td><a href="#{section_id(v)}">{e(v.name)}</a></td><td>{_badge(v)}</td>'
            f'<td class="num">{fmt_time(v.duration_s)}</td><td class="num">{res}</td>'
            f'<td class="num">{fmt_metric("shot_count", m)}</td>'
            f'<td class="num">{fmt_metric("avg_shot_s", m)}</td>'
            f'<td class="num">{e(fmt_metric("speech_rate", m))}</td><td{hook_cls}>{e(hook)}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in heads)
    table = f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
    return f'<section class="panel" id="summary"><h2>总览</h2>{table}</table></div></section>'


def _failures(results: Results) -> str:
    failed = [v for v in results.videos if v.status == "failed"]
    if not failed:
        return ""
    items = "".join(
        f'<li><a href="#{section_id(v)}">{e(v.name)}</a> — {e(error_text(v))}</li>' for v in failed
    )
    return (
        f'<section class="panel" id="failed"><h2>失败的视频（{len(failed)}）</h2>'
        f'<ul class="failures">{items}</ul></section>'
    )


def _badge(v: VideoResult) -> str:
    return f'<span class="badge {v.status}">{status_label(v)}</span>'


def _video(v: VideoResult) -> str:
    source = (
        f'<a href="{e(v.source)}" rel="noopener noreferrer">{e(v.source)}</a>'
        if v.source.startswith(("http://", "https://"))
        else e(v.source)
    )
    parts = [
        f'<section class="panel video {v.status}" id="{section_id(v)}">',
        '<a class="back" href="#summary">↑ 总览</a>',
        f'<div class="video-head"><h2>{e(v.name)}</h2>{_badge(v)}</div>',
        f'<p class="source">{source}</p>',
    ]
    if v.error is not None:
        parts.append(f'<div class="error-box">失败原因：{e(error_text(v))}</div>')
    if v.contact_sheet or v.metrics or v.duration_s is not None:
        parts.append(f'<div class="overview">{_contact_sheet(v)}{_facts(v)}</div>')
    parts += [_shots(v), _screenshots(v), _transcript(v), _screen_text(v), _analysis(v), "</section>"]
    return "".join(parts)


def _contact_sheet(v: VideoResult) -> str:
    if not v.contact_sheet:
        return '<div class="sheet"><p class="empty">没有九宫格</p></div>'
    return (
        f'<figure class="sheet" style="margin:0"><img src="{_src(v.contact_sheet)}" '
        f'alt="{e(v.name)} 九宫格"></figure>'
    )


def _facts(v: VideoResult) -> str:
    rows: list[tuple[str, str]] = []
    if v.duration_s is not None:
        rows.append(("时长", fmt_time(v.duration_s)))
    if v.width and v.height:
        rows.append(("分辨率", f"{v.width}×{v.height}"))
    if v.fps:
        rows.append(("帧率", f"{v.fps:g} fps"))
    if v.has_audio is not None:
        rows.append(("音轨", "有" if v.has_audio else "无"))
    m = v.metrics
    if m is not None:
        for key, label in METRIC_LABELS.items():
            if key != "duration_s" and getattr(m, key) is not None:
                rows.append((label, fmt_metric(key, m)))
    tiles = "".join(
        f'<div class="tile{" wide" if len(val) > 12 else ""}"><span>{e(k)}</span><b>{e(val)}</b></div>'
        for k, val in rows
    )
    return f'<div><h3 style="margin-top:0">指标</h3><div class="tiles">{tiles}</div></div>'


def _strip_class(v: VideoResult) -> str:
    """Vertical videos (9:16, the usual short-video format) get taller, narrower thumbnails."""
    return "strip tall" if v.width and v.height and v.height > v.width else "strip"


def _shots(v: VideoResult) -> str:
    if not v.shots:
        return ""
    figures = []
    for shot in v.shots:
        said = shot_speech(shot, v.transcript)
        said_html = f'<span class="said">{e(said)}</span>' if said else ""
        figures.append(
            f'<figure><img src="{_src(shot.keyframe)}" alt="镜头 {shot.index}">'
            f"<figcaption><b>#{shot.index}</b> {fmt_time(shot.start_s)} – {fmt_time(shot.end_s)}"
            f" · {shot.end_s - shot.start_s:.2f}s{said_html}{_on_screen(shot.on_screen_text)}"
            "</figcaption></figure>"
        )
    return f'<h3>分镜（{len(v.shots)}）</h3><div class="{_strip_class(v)}">{"".join(figures)}</div>'


def _on_screen(lines: Sequence[ScreenTextLine]) -> str:
    """A picture's on-screen text in its caption: headlines (花字) marked, subtitles plain."""
    if not lines:
        return ""
    items = "".join(
        f'<span class="{"overlay" if x.kind == "overlay" else "subtitle"}">{e(x.text)}</span>' for x in lines
    )
    return f'<span class="screen-text" title="画面文字">{items}</span>'


def _screen_text(v: VideoResult) -> str:
    """The video's distinct on-screen lines in order of first appearance, and the OCR subtitle file."""
    if not v.screen_text:
        return ""
    items = "".join(
        f"<li><time>{fmt_time(x.time_s)}</time><span>{_MARK[x.kind]}{e(x.text)}</span></li>"
        for x in v.screen_text
    )
    files = (
        f'<p class="files"><a href="{_src(v.subtitles_ocr)}">画面字幕 .srt</a></p>' if v.subtitles_ocr else ""
    )
    return f'<h3>画面文字（{len(v.screen_text)} 行）</h3><ol class="transcript">{items}</ol>{files}'


def _screenshots(v: VideoResult) -> str:
    if not v.screenshots:
        return ""
    figures = "".join(
        f'<figure><img src="{_src(s.path)}" alt="截图 {fmt_time(s.time_s)}">'
        f"<figcaption><b>{fmt_time(s.time_s)}</b>{_on_screen(s.on_screen_text)}</figcaption></figure>"
        for s in v.screenshots
    )
    return f'<h3>截图（{len(v.screenshots)}）</h3><div class="{_strip_class(v)}">{figures}</div>'


def _transcript(v: VideoResult) -> str:
    t = v.transcript
    if t is None:
        if v.has_audio is False:
            return '<h3>文案</h3><p class="empty">视频没有音轨，无文案。</p>'
        return ""
    items = "".join(
        f"<li><time>{fmt_time(s.start_s)} – {fmt_time(s.end_s)}</time><span>{e(s.text)}</span></li>"
        for s in t.segments
    )
    empty = f'<p class="empty">{e(transcript_text_or_reason(t))}</p>'
    body = f'<ol class="transcript">{items}</ol>' if items else empty
    lang = f" · 语言 {e(t.language)}" if t.language else ""
    if t.language and t.language_probability is not None:
        lang += f"（置信度 {t.language_probability:.0%}）"
    note = f'<p class="note">{e(t.note)}</p>' if t.note else ""
    files = f'<p class="files"><a href="{_src(t.srt)}">字幕 .srt</a><a href="{_src(t.vtt)}">字幕 .vtt</a></p>'
    return (
        f'<h3>文案（{len(t.segments)} 段）</h3><p class="note">引擎 {e(t.engine)} {e(t.model)}{lang}</p>'
        f"{note}{body}{files}"
    )


def _analysis(v: VideoResult) -> str:
    if not v.analysis:
        return ""
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(plain(val))}</dd>" for k, val in v.analysis.items())
    status = v.analysis_status
    notes = []
    if status is not None and status.state != "ok" and status.message:
        notes.append(f'<p class="note">{e(status.message)}</p>')
    if status is not None and status.notes:
        notes.append('<ul class="ai-notes">' + "".join(f"<li>{e(n)}</li>" for n in status.notes) + "</ul>")
    cost = usage_text(v.analysis_usage)
    if cost:
        notes.append(f'<p class="note">{e(cost)}</p>')
    return f'<h3>AI 分析</h3><dl class="kv">{items}</dl>{"".join(notes)}'

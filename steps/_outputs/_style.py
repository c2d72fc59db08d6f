"""The stylesheet and the small script inlined into ``report.html`` (no CDN, works offline)."""

from __future__ import annotations

__all__ = ["CSS", "SCRIPT"]

CSS = """
:root{--bg:#f4f6fa;--card:#fff;--ink:#1d2433;--muted:#667085;--line:#e4e7ec;--accent:#2f6fed;
--ok:#12805c;--ok-bg:#e7f6ef;--bad:#c0392b;--bad-bg:#fdecea;--radius:12px}
*{box-sizing:border-box}
html{scroll-behavior:smooth}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.55;
font:15px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI","PingFang SC","Hiragino Sans GB",
"Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.wrap{max-width:1240px;margin:0 auto;padding:28px 20px 64px}
.top{background:linear-gradient(135deg,#1f3a5f,#2f6fed);color:#fff}
.top .wrap{padding-bottom:28px}
.top h1{margin:0 0 6px;font-size:26px;font-weight:650;letter-spacing:.2px}
.top .meta{margin:0;opacity:.85;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:14px;margin-top:22px}
.stat{background:rgba(255,255,255,.12);border-radius:var(--radius);padding:14px 18px}
.stat b{display:block;font-size:28px;line-height:1.2}.stat span{font-size:13px;opacity:.85}
.panel{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);
padding:20px 22px;margin-top:22px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
h2{margin:0 0 14px;font-size:19px}h3{margin:22px 0 10px;font-size:15px;color:var(--muted);
font-weight:600;text-transform:none}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;min-width:760px;font-size:14px}
th,td{padding:9px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f8fafc;color:var(--muted);font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover{background:#f8fafc}
.badge{display:inline-block;padding:1px 10px;border-radius:999px;font-size:12px;font-weight:600;
white-space:nowrap}
.badge.ok{background:var(--ok-bg);color:var(--ok)}.badge.failed{background:var(--bad-bg);color:var(--bad)}
.reason{color:var(--bad);font-size:13px}
.failures li{margin:6px 0}.failures code{background:var(--bad-bg);color:var(--bad);border-radius:4px;
padding:0 5px;font-size:12px}
.video-head{display:flex;flex-wrap:wrap;align-items:center;gap:10px 14px;margin-bottom:6px}
.video-head h2{margin:0;word-break:break-word}
.source{color:var(--muted);font-size:13px;word-break:break-all;margin:0 0 12px}
.error-box{background:var(--bad-bg);color:var(--bad);border-radius:8px;padding:10px 14px;margin:8px 0}
.overview{display:grid;grid-template-columns:minmax(0,1.25fr) minmax(280px,1fr);gap:24px;align-items:start}
@media (max-width:860px){.overview{grid-template-columns:1fr}}
.sheet img{width:100%;height:auto;max-height:640px;object-fit:contain;background:#eef1f5;
border-radius:8px;border:1px solid var(--line);display:block}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:0;font-size:14px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums;white-space:pre-wrap;
word-break:break-word}
.strip{display:grid;grid-auto-flow:column;grid-auto-columns:172px;gap:12px;overflow-x:auto;
padding-bottom:8px;scroll-snap-type:x proximity}
.strip figure{margin:0;scroll-snap-align:start;background:#f8fafc;border:1px solid var(--line);
border-radius:8px;overflow:hidden}
.strip img{width:100%;aspect-ratio:16/9;object-fit:cover;display:block;background:#dde3ea}
.strip.tall{grid-auto-columns:132px}.strip.tall img{aspect-ratio:9/16}
.strip figcaption{padding:6px 8px;font-size:12px;color:var(--muted)}
.strip figcaption b{color:var(--ink);font-weight:600}
.strip .said{display:block;color:var(--ink);margin-top:3px;display:-webkit-box;-webkit-line-clamp:3;
-webkit-box-orient:vertical;overflow:hidden}
.strip .screen-text{display:block;margin-top:3px}
.strip .screen-text span{display:block;color:var(--ink)}
.strip .screen-text .overlay{font-weight:700}
.strip .screen-text .overlay::before{content:"花字 ";color:var(--muted);font-weight:400}
ol.transcript{list-style:none;margin:0;padding:0;max-height:360px;overflow-y:auto;
border:1px solid var(--line);border-radius:8px}
ol.transcript li{display:grid;grid-template-columns:128px 1fr;gap:10px;padding:7px 12px;
border-bottom:1px solid var(--line)}
ol.transcript li:last-child{border-bottom:0}
ol.transcript time{color:var(--muted);font-size:12px;font-variant-numeric:tabular-nums;padding-top:2px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(128px,1fr));gap:10px}
.tile{background:#f8fafc;border:1px solid var(--line);border-radius:8px;padding:8px 12px;min-width:0}
.tile span{display:block;color:var(--muted);font-size:12px}
.tile b{display:block;font-size:17px;font-weight:600;font-variant-numeric:tabular-nums;
overflow-wrap:anywhere}
.tile.wide{grid-column:1/-1}.tile.wide b{font-size:14px;font-weight:500}
.note{color:var(--muted);font-size:13px;margin:6px 0}
.files a{margin-right:12px;font-size:13px}
img.broken{outline:2px dashed var(--bad);min-height:60px}
.empty{color:var(--muted);font-style:italic}
.insights .headline{font-size:18px;font-weight:600;margin:0 0 8px}
ol.claims{margin:0;padding-left:22px}ol.claims li{margin:6px 0}
.cites a{display:inline-block;margin-left:8px;padding:0 8px;border-radius:999px;background:#eef3fe;
font-size:12px}
table.ranks td b{font-weight:600;font-variant-numeric:tabular-nums}
ul.ai-notes{margin:6px 0;padding-left:20px;color:var(--muted);font-size:13px}
.back{float:right;font-size:13px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:36px}
@media print{.top{background:#1f3a5f}.panel{break-inside:avoid}}
"""

# Marks images that failed to load (visible outline, count on <body data-broken-images>) and shows
# timestamps in the reader's local time zone.
SCRIPT = """
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  document.querySelectorAll("time[data-iso]").forEach(function (el) {
    var d = new Date(el.getAttribute("data-iso"));
    if (!isNaN(d)) {
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
        " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
    }
  });
  window.addEventListener("load", function () {
    var broken = 0;
    document.querySelectorAll("img").forEach(function (img) {
      if (!img.complete || img.naturalWidth === 0) { img.classList.add("broken"); broken += 1; }
    });
    document.body.setAttribute("data-broken-images", String(broken));
    document.body.setAttribute("data-images", String(document.images.length));
  });
})();
"""

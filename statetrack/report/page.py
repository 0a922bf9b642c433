"""The HTML page of a report: a title line with the main verdict, a table of contents, the sections in order.

One file, inline CSS and SVG, no script and no external resource, laid out for a laptop screen (tables scroll
horizontally inside their section instead of widening the page).
"""
from __future__ import annotations

import html

from statetrack import __version__

from .build import Report

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#12355b;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:21px}
header p{margin:4px 0 0;font-size:14px;opacity:.92}
nav{padding:8px 28px;background:#e9eef4;font-size:14px}
nav a{margin-right:14px;color:#12355b}
main{max-width:1180px;padding:8px 28px 40px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;margin:16px 0;padding:6px 18px 14px;
        overflow-x:auto}
h2{font-size:18px;margin:10px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13.5px}
th,td{border:1px solid #d4dae1;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}
table.verdicts td:last-child{max-width:520px;font-size:12.5px}
.eggboxes{display:flex;flex-wrap:wrap;gap:14px}
.dclass{border:1px solid #ccd;padding:4px 6px;border-radius:4px}
.dhead{font-size:12.5px;color:#333;margin-bottom:3px}
table.eggbox td{min-width:26px;text-align:center;font-family:ui-monospace,monospace;font-size:12px}
table.eggbox td.group{background:#ffe7b3}
.v-constructible{color:#11663a;font-weight:600}
.v-impossible,.v-impossible-unless-TC0NC1{color:#a3121f;font-weight:600}
.v-open{color:#8a6100;font-weight:600}
figure{margin:8px 0}
figcaption{font-size:13px;color:#444}
svg text{font-family:system-ui,sans-serif}
svg .state{font-size:12px}
svg .edge-label{font-size:11px;fill:#24476b}
svg .axis,svg .legend{font-size:11.5px;fill:#333}
footer{font-size:12px;color:#666;padding:0 28px 20px}
"""


def render_html(report: Report) -> str:
    """The whole page as one string."""
    esc = html.escape
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.heading)}</a>' for s in report.sections)
    body = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.heading)}</h2>{s.body}</section>'
                   for s in report.sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{esc(report.title)}</h1><p>{esc(report.summary)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main>"
            f"<footer>statetrack {esc(__version__)}, {esc(report.kind)} report. Verdicts cite the theorems of "
            "Grazzi et al. (ICLR 2025) and the works named in each row.</footer></body></html>\n")


__all__ = ["render_html"]

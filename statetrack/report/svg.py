"""Small inline-SVG figures for the HTML report: a DFA drawing, points on the unit circle, line charts.

Everything here returns an ``<svg>`` string with no external reference (no fonts, scripts or images to fetch), so a
report is one self-contained file. Coordinates are in SVG user units; every text is escaped.
"""
from __future__ import annotations

import html
import math
from typing import Iterable, Sequence

#: colours for series / layers, chosen to stay distinguishable in print and for common colour-vision deficiencies
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg(width: float, height: float, body: Iterable[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
            + "".join(body) + "</svg>")


_ARROW = ('<defs><marker id="{id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
          'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>')


def dfa_svg(states: Sequence[str], start: int, accepting: Sequence[bool], edges: dict[tuple[int, int], list[str]],
            positions: dict[int, tuple[float, float]] | None = None, title: str = "minimal DFA",
            marker_id: str = "dfa-arrow") -> str:
    """A DFA drawing: circles for states (double for accepting), an arrow into the start state, one arrow per
    (source, target) pair labelled with its symbols, loops above their state.

    ``edges[(p, q)]`` lists the symbols leading from state ``p`` to ``q``; ``positions`` maps a state to a point of
    the unit square (a circle layout when omitted).
    """
    n = len(states)
    if positions is None:
        positions = {i: (0.5 + 0.42 * math.cos(2 * math.pi * i / max(n, 1) - math.pi / 2),
                         0.5 + 0.42 * math.sin(2 * math.pi * i / max(n, 1) - math.pi / 2)) for i in range(n)}
    r = 18.0 if n <= 16 else 12.0
    size = max(320.0, min(900.0, 110.0 * math.sqrt(max(n, 1)) + 160))
    pad = 60.0
    pt = {i: (pad + x * (size - 2 * pad), pad + y * (size - 2 * pad)) for i, (x, y) in positions.items()}
    body = [_ARROW.format(id=marker_id)]
    arrow = f'marker-end="url(#{marker_id})"'
    for (p, q), syms in sorted(edges.items()):
        label = _esc(",".join(syms) if len(syms) <= 6 else ",".join(syms[:5]) + ",…")
        (x1, y1), (x2, y2) = pt[p], pt[q]
        if p == q:  # a loop on the side away from the drawing's centre
            ang = math.atan2(y1 - size / 2, x1 - size / 2) if (x1, y1) != (size / 2, size / 2) else -math.pi / 2
            ux, uy, vx, vy = math.cos(ang), math.sin(ang), -math.sin(ang), math.cos(ang)
            ax, ay = x1 + ux * r + vx * 8, y1 + uy * r + vy * 8
            bx, by = x1 + ux * r - vx * 8, y1 + uy * r - vy * 8
            c1 = (x1 + ux * (r + 40) + vx * 28, y1 + uy * (r + 40) + vy * 28)
            c2 = (x1 + ux * (r + 40) - vx * 28, y1 + uy * (r + 40) - vy * 28)
            lx, ly = x1 + ux * (r + 38), y1 + uy * (r + 38) + 4
            body.append(f'<path d="M{ax:.1f},{ay:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} '
                        f'{bx:.1f},{by:.1f}"'
                        f' fill="none" stroke="#333" {arrow}/><text x="{lx:.1f}" y="{ly:.1f}" class="edge-label" '
                        f'text-anchor="middle">{label}</text>')
            continue
        dx, dy = x2 - x1, y2 - y1
        dist = math.hypot(dx, dy) or 1.0
        ux, uy = dx / dist, dy / dist
        bend = 0.18 * dist if (q, p) in edges else 0.0  # two-way pairs curve apart
        mx, my = (x1 + x2) / 2 - uy * bend, (y1 + y2) / 2 + ux * bend
        sx, sy = x1 + ux * r, y1 + uy * r
        ex, ey = x2 - ux * r, y2 - uy * r
        body.append(f'<path d="M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}" fill="none" stroke="#333" '
                    f'{arrow}/><text x="{mx:.1f}" y="{my - 4:.1f}" class="edge-label" text-anchor="middle">'
                    f'{label}</text>')
    for i, name in enumerate(states):
        x, y = pt[i]
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="#fff" stroke="#333" stroke-width="1.5"/>')
        if accepting[i]:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r - 4}" fill="none" stroke="#333"/>')
        body.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" class="state">{_esc(name)}</text>')
    sx, sy = pt[start]
    body.append(f'<path d="M{sx - r - 34:.1f},{sy:.1f} L{sx - r:.1f},{sy:.1f}" stroke="#333" {arrow}/>')
    return _svg(size, size, body, title)


def unit_circle_svg(groups: Sequence[tuple[str, Sequence[complex]]], title: str = "eigenvalues") -> str:
    """Points of the complex plane with the unit circle: ``groups`` is ``[(legend label, eigenvalues), ...]``, one
    colour per group. Points outside the unit disc (never for GH products with beta in [0, 2]) are drawn in red."""
    size, pad = 360.0, 40.0
    scale = (size - 2 * pad) / 2.4  # the plot spans [-1.2, 1.2]
    cx = cy = size / 2

    def to_px(z: complex) -> tuple[float, float]:
        return cx + scale * z.real, cy - scale * z.imag

    body = [f'<circle cx="{cx}" cy="{cy}" r="{scale:.1f}" fill="none" stroke="#888" stroke-dasharray="4 3"/>',
            f'<line x1="{pad / 2}" y1="{cy}" x2="{size - pad / 2}" y2="{cy}" stroke="#bbb"/>',
            f'<line x1="{cx}" y1="{pad / 2}" x2="{cx}" y2="{size - pad / 2}" stroke="#bbb"/>',
            f'<text x="{cx + scale + 3:.1f}" y="{cy - 4}" class="axis">1</text>',
            f'<text x="{cx - scale - 16:.1f}" y="{cy - 4}" class="axis">-1</text>',
            f'<text x="{cx + 4}" y="{cy - scale - 4:.1f}" class="axis">i</text>']
    legend = []
    for g, (label, values) in enumerate(groups):
        colour = PALETTE[g % len(PALETTE)]
        for z in values:
            x, y = to_px(complex(z))
            fill = "#e41a1c" if abs(z) > 1 + 1e-6 else colour
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{fill}" fill-opacity="0.75"/>')
        legend.append((label, colour))
    height = size + 18 * len(legend)
    for k, (label, colour) in enumerate(legend):
        y = size + 12 + 18 * k
        body.append(f'<circle cx="20" cy="{y - 4}" r="5" fill="{colour}"/><text x="32" y="{y}" class="legend">'
                    f'{_esc(label)}</text>')
    return _svg(size, height, body, title)


def line_chart_svg(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], x_label: str, y_label: str,
                   y_range: tuple[float, float] | None = None, shade: tuple[float, float] | None = None,
                   shade_label: str = "", title: str = "chart", log_x: bool = False) -> str:
    """A line chart of ``series = [(label, xs, ys), ...]`` with axes, ticks and a legend; ``shade = (x0, x1)``
    shades an x-interval (the training lengths). Non-finite y values are skipped."""
    width, left, right, top, bottom = 620.0, 60.0, 20.0, 20.0, 50.0
    height = 320.0 + 18 * len(series)  # the legend sits under the x-axis label
    xs_all = [x for _, xs, _ in series for x in xs]
    ys_all = [y for _, _, ys in series for y in ys if math.isfinite(y)]
    if not xs_all or not ys_all:
        return _svg(width, 60, ['<text x="10" y="30">no data</text>'], title)
    fx = (lambda v: math.log10(max(v, 1e-12))) if log_x else (lambda v: float(v))
    x0, x1 = min(map(fx, xs_all)), max(map(fx, xs_all))
    if shade:
        x0, x1 = min(x0, fx(shade[0])), max(x1, fx(shade[1]))
    y0, y1 = y_range if y_range else (min(ys_all), max(ys_all))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (fx(x) - x0) / (x1 - x0) * (width - left - right),
                top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom - 18 * len(series)))

    base = height - bottom - 18 * len(series)  # y of the x-axis
    body = []
    if shade:
        a, _ = px(shade[0], y1)
        b, _ = px(shade[1], y1)
        body.append(f'<rect x="{a:.1f}" y="{top}" width="{max(b - a, 1):.1f}" height="{base - top}" '
                    f'fill="#e6f0fa"/><text x="{a + 4:.1f}" y="{top + 14}" class="legend">{_esc(shade_label)}</text>')
    body.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" '
                f'stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#333"/>')
    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        _, yp = px(0 if not log_x else 1, yv)
        body.append(f'<line x1="{left - 4}" y1="{yp:.1f}" x2="{width - right}" y2="{yp:.1f}" stroke="#eee"/>'
                    f'<text x="{left - 8}" y="{yp + 4:.1f}" text-anchor="end" class="axis">{yv:.3g}</text>')
        xv_f = x0 + (x1 - x0) * k / 4
        xv = 10 ** xv_f if log_x else xv_f
        xp, _ = px(xv, y0)
        body.append(f'<text x="{xp:.1f}" y="{base + 16}" text-anchor="middle" class="axis">'
                    f'{xv:.3g}</text>')
    body.append(f'<text x="{(left + width - right) / 2:.1f}" y="{base + 36}" text-anchor="middle" class="axis">'
                f'{_esc(x_label)}</text><text x="14" y="{(top + base) / 2:.1f}" text-anchor="middle" '
                f'class="axis" transform="rotate(-90 14 {(top + base) / 2:.1f})">{_esc(y_label)}</text>')
    for s, (label, xs, ys) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        pts = [px(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
        if pts:
            d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(pts))
            body.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        ly = base + 56 + 18 * s
        body.append(f'<line x1="{left}" y1="{ly - 4}" x2="{left + 20}" y2="{ly - 4}" stroke="{colour}" '
                    f'stroke-width="2"/><text x="{left + 26}" y="{ly}" class="legend">{_esc(label)}</text>')
    return _svg(width, height, body, title)


__all__ = ["dfa_svg", "unit_circle_svg", "line_chart_svg", "PALETTE"]

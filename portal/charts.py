"""Small charts drawn on the server as inline SVG: no script, no outside host, and a person
with a screen reader gets each bar's value from its <title> (pages give the table too)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 480, 140, 24


def bars(
    points: Sequence[tuple[str, float]],
    label: str,
    unit: str = "",
    top: float | None = None,
    bad: Sequence[bool] | None = None,
) -> Markup:
    """A bar chart of (label, value) points, left to right; `top` fixes the scale (e.g. 100 for
    percentages), `bad` marks bars to draw in the warning colour."""
    if not points:
        return Markup("")
    highest = top if top is not None else max(value for _, value in points) or 1
    step = (WIDTH - 2 * PAD) / len(points)
    width = max(step * 0.7, 1)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" '
        f'y2="{HEIGHT - PAD}"/>',
    ]
    for n, (name, value) in enumerate(points):
        tall = (HEIGHT - 2 * PAD) * (max(value, 0) / highest if highest else 0)
        x = PAD + n * step + (step - width) / 2
        y = HEIGHT - PAD - tall
        kind = "bar bad" if bad and bad[n] else "bar"
        shown = f"{value:g}{unit}"
        parts.append(
            f'<rect class="{kind}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{tall:.1f}"><title>{escape(name)}: {escape(shown)}</title></rect>'
        )
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 6}">{escape(first)}</text>')
    if len(points) > 1:
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" text-anchor="end">{escape(last)}</text>'
        )
    parts.append(f'<text x="{PAD}" y="{PAD - 8}">{escape(f"{highest:g}{unit}")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

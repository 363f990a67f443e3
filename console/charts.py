"""Server-rendered SVG charts: geometry computed here, drawn by `console/_bar_chart.html`.

A chart is plain data (rectangles with a label each), so it needs no JavaScript, prints,
and reads the same to a screen reader through the table rendered beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: The statuses a send goes through, in stacking order, with their chart colours.
STATUS_COLOURS = {
    "queued": "#94a3b8",
    "sending": "#64748b",
    "sent": "#60a5fa",
    "delivered": "#2563eb",
    "read": "#15803d",
    "undelivered": "#f59e0b",
    "failed": "#dc2626",
}

WIDTH = 640
HEIGHT = 180
LEFT = 36
BOTTOM = 22
TOP = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass
class StackedChart:
    title: str
    days: list[date]
    # per day, per status: how many
    counts: dict[date, dict[str, int]]
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)
    day_labels: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    total: int = 0

    @property
    def legend(self) -> list[tuple[str, str]]:
        used = {status for row in self.counts.values() for status, n in row.items() if n}
        return [(s, c) for s, c in STATUS_COLOURS.items() if s in used]

    @property
    def rows(self) -> list[tuple[date, list[int], int]]:
        """Per day: the count of each legend status and the total (for the table)."""
        statuses = [status for status, _ in self.legend]
        out = []
        for day in self.days:
            row = self.counts.get(day, {})
            values = [row.get(s, 0) for s in statuses]
            if sum(values):
                out.append((day, values, sum(values)))
        return out


def stacked_bars(title: str, days: list[date], counts: dict[date, dict[str, int]]) -> StackedChart:
    """Bars per day, stacked by status, scaled to the busiest day."""
    chart = StackedChart(title=title, days=days, counts=counts)
    peak = max((sum(row.values()) for row in counts.values()), default=0)
    chart.total = sum(sum(row.values()) for row in counts.values())
    scale_top = _nice_ceiling(peak)
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    for index, day in enumerate(days):
        x = LEFT + index * slot + slot * 0.15
        y: float = HEIGHT - BOTTOM
        for status, colour in STATUS_COLOURS.items():
            n = counts.get(day, {}).get(status, 0)
            if not n:
                continue
            height = plot_height * n / scale_top
            y -= height
            chart.bars.append(
                Bar(
                    x=round(x, 1),
                    y=round(y, 1),
                    width=round(slot * 0.7, 1),
                    height=round(height, 1),
                    colour=colour,
                    label=f"{day:%b %d}: {n} {status}",
                )
            )
        if (len(days) - 1 - index) % 7 == 0:  # weekly, ending today
            chart.day_labels.append((round(x + slot * 0.35, 1), f"{day:%b %d}"))
    for step in range(0, 5):
        value = scale_top * step // 4
        chart.ticks.append((round(HEIGHT - BOTTOM - plot_height * step / 4, 1), value))
    return chart


def _nice_ceiling(value: int) -> int:
    """Four times the smallest step of 1, 2 or 5 × 10ⁿ that reaches ``value`` (at least 4)."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if step * 4 >= value:
                return step * 4
        magnitude *= 10

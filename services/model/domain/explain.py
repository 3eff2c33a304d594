"""Turn a recommendation's score parts into whole percentages and a one-line reason.

"because: 45% reggaeton, 30% indie, 25% recent plays" must always add up to 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

OTHER = "other"


def explain_percentages(parts: Mapping[str, float], max_items: int = 3) -> list[tuple[str, int]]:
    """The `max_items` largest parts (ties by name) and "other" for the rest, as integer
    percentages by largest remainder that sum to exactly 100; empty when nothing is positive."""
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    if any(value < 0 or math.isnan(value) for value in parts.values()):
        raise ValueError("score parts must be non-negative numbers")
    positive = sorted(
        ((name, value) for name, value in parts.items() if value > 0),
        key=lambda part: (-part[1], part[0]),
    )
    total = math.fsum(value for _, value in positive)
    if total <= 0 or math.isinf(total):
        return []
    shown = positive[:max_items]
    hidden = positive[max_items:]
    if hidden:
        shown = [*shown, (OTHER, math.fsum(value for _, value in hidden))]
    exact = [100.0 * value / total for _, value in shown]
    floors = [math.floor(share) for share in exact]
    missing = 100 - sum(floors)
    by_remainder = sorted(range(len(shown)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:missing]:
        floors[i] += 1
    return [(name, percent) for (name, _), percent in zip(shown, floors, strict=True)]


def because_line(parts: Mapping[str, float], max_items: int = 3) -> str:
    """A one-line reason such as "because: 45% reggaeton, 30% indie, 25% recent plays"."""
    percentages = explain_percentages(parts, max_items)
    if not percentages:
        return "because: no signal yet"
    # a part rounding to 0% says nothing to the listener (the full breakdown keeps it);
    # tag parts read as the tag alone ("45% reggaeton")
    return "because: " + ", ".join(
        f"{percent}% {name.removeprefix('tag ')}" for name, percent in percentages if percent > 0
    )

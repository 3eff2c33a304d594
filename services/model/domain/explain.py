"""Turn a recommendation's score parts into whole percentages and a one-line reason.

"because: 45% reggaeton, 30% indie, 25% recent plays" must always add up to 100. The line shows
the largest parts until they carry BECAUSE_COVER of the score (at most BECAUSE_ITEMS of them)
and says what it leaves out: "because: 52% similar to Deftones, 30% alternative metal and 4
smaller reasons (18%)".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from services.model.domain.scoring import LISTENERS_PREFIX, OTHER_SEEDS, SEED_PREFIX, TAG_PREFIX

OTHER = "other"
BECAUSE_ITEMS = 5
BECAUSE_COVER = 0.9


def explain_percentages(parts: Mapping[str, float], max_items: int = 3) -> list[tuple[str, int]]:
    """The `max_items` largest parts (ties by name) and "other" for the rest, as integer
    percentages by largest remainder that sum to exactly 100; empty when nothing is positive."""
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    positive = _positive_parts(parts)
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


@dataclass(frozen=True)
class BecauseReasons:
    """What the because line says: the reasons it names with their percentages, and how many
    parts it leaves out and their percentage (all of them sum to 100)."""

    shown: list[tuple[str, int]]
    left_out: int
    left_out_percent: int


def because_reasons(
    parts: Mapping[str, float], max_items: int = BECAUSE_ITEMS, cover: float = BECAUSE_COVER
) -> BecauseReasons:
    """The largest parts one by one until they carry `cover` of the score (at most
    `max_items`); then, if they do not, the listener's remaining artists as one reason and
    their remaining tags as another ("similar to Proem, Plaid and 9 more of your artists",
    "electronica, ambient and 4 more of your tags": each of them is named in the full
    breakdown); the rest is counted. Reasons that round to 0% are counted in the rest too."""
    positive = _positive_parts(parts)
    total = math.fsum(value for _, value in positive)
    if total <= 0 or math.isinf(total):
        return BecauseReasons([], 0, 0)
    count, carried = 0, 0.0
    while count < min(max_items, len(positive)) and carried < cover * total:
        carried += positive[count][1]
        count += 1
    reasons = dict(positive[:count])
    rest = positive[count:]
    members: dict[str, list[tuple[str, float]]] = {}
    if carried < cover * total:
        for prefix, plural in GROUPS:
            group = [
                (label, value)
                for label, value in rest
                if label.startswith(prefix) and label != OTHER_SEEDS
            ]
            if len(group) > 1:
                label = _group_label(prefix, plural, [name for name, _ in group])
                reasons[label] = math.fsum(value for _, value in group)
                members[label] = group
        grouped = {name for group in members.values() for name, _ in group}
        rest = [(label, value) for label, value in rest if label not in grouped]
    sized = {**reasons, _LEFT_OUT: math.fsum(value for _, value in rest)}
    percentages = explain_percentages(sized, max_items=len(sized))
    shown = [(name, pct) for name, pct in percentages if name != _LEFT_OUT and pct > 0]
    hidden = [name for name, pct in percentages if name != _LEFT_OUT and pct == 0]
    left_out = len(rest) + sum(len(members.get(name, [(name, 0.0)])) for name in hidden)
    return BecauseReasons(shown, left_out, 100 - sum(pct for _, pct in shown))


GROUPS = (
    (SEED_PREFIX, "of your artists"),
    (LISTENERS_PREFIX, "of your artists"),
    (TAG_PREFIX, "of your tags"),
)
_LEFT_OUT = "\0left out"  # a label no part can have


def _group_label(prefix: str, plural: str, labels: list[str]) -> str:
    """ "similar to A, B and 3 more of your artists" (the two largest, then how many more), or
    "similar to A and B"; tags without their prefix ("idm, ambient and 2 more of your tags")."""
    names = [label.removeprefix(prefix) for label in labels]
    if len(names) == 2:
        named = f"{names[0]} and {names[1]}"
    else:
        named = f"{names[0]}, {names[1]} and {len(names) - 2} more {plural}"
    return named if prefix == TAG_PREFIX else f"{prefix}{named}"


def because_line(
    parts: Mapping[str, float], max_items: int = BECAUSE_ITEMS, cover: float = BECAUSE_COVER
) -> str:
    """A one-line reason such as "because: 45% reggaeton, 30% indie, 25% recent plays", or
    "because: 60% reggaeton, 25% indie and 3 smaller reasons (15%)"."""
    reasons = because_reasons(parts, max_items, cover)
    if not reasons.shown:
        return "because: no signal yet"
    # tag parts read as the tag alone ("45% reggaeton")
    line = "because: " + ", ".join(
        f"{percent}% {name.removeprefix('tag ')}" for name, percent in reasons.shown
    )
    if reasons.left_out:
        plural = "s" if reasons.left_out > 1 else ""
        percent = f"{reasons.left_out_percent}%" if reasons.left_out_percent else "under 1%"
        line += f" and {reasons.left_out} smaller reason{plural} ({percent})"
    return line


def _positive_parts(parts: Mapping[str, float]) -> list[tuple[str, float]]:
    """The positive parts, largest first, ties by name; negative or NaN parts are an error."""
    if any(value < 0 or math.isnan(value) for value in parts.values()):
        raise ValueError("score parts must be non-negative numbers")
    return sorted(
        ((name, value) for name, value in parts.items() if value > 0),
        key=lambda part: (-part[1], part[0]),
    )

"""From a score's named parts to what the listener reads: "because: 45% reggaeton, 30% ...".

A part is named when it names something the listener knows: one of their artists, a tag, their
history, popularity; the catch-alls (CATCH_ALLS: "similar to other artists", "other tags", the
liked-artist model's name, "listeners like you", "other") name nothing. `named_shares` is the
measure of EVALUATION.md C (explanation specificity) on one item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.model.domain.explain import (
    OTHER,
    because_line,
    because_reasons,
    explain_percentages,
)
from services.model.domain.habits import habit_kind
from services.model.domain.scoring import (
    CO_LISTENING,
    LIKED_MODEL,
    LISTENERS_PREFIX,
    OTHER_SEEDS,
    OTHER_TAGS,
)

CATCH_ALLS = frozenset({OTHER_SEEDS, OTHER_TAGS, LIKED_MODEL, CO_LISTENING, OTHER})


def part_kind(label: str) -> str:
    """tag, seed_artist, recency, context, popularity, liked_model, co_listening, history or
    other, from a part's label."""
    if label.startswith("tag ") or label == "other tags":
        return "tag"
    if label.startswith("similar to "):
        return "seed_artist"
    if label == "popularity":
        return "popularity"
    if label == LIKED_MODEL:
        return "liked_model"
    if label == CO_LISTENING or label.startswith(LISTENERS_PREFIX):
        return "co_listening"
    if label.startswith(("loved: ", "silent for ")):
        return "history"
    if habit := habit_kind(label):
        return habit
    return "other"


def named_shares(parts: Mapping[str, float]) -> tuple[float, float]:
    """The share of the score (0..1) the named parts carry in the full breakdown, and the
    share the because line names (what it leaves out does not count); (0, 0) without a score."""
    total = sum(value for value in parts.values() if value > 0)
    if total <= 0:
        return 0.0, 0.0
    in_parts = sum(value for label, value in parts.items() if value > 0 and is_named(label))
    in_line = sum(percent for label, percent in because_reasons(parts).shown if is_named(label))
    return in_parts / total, in_line / 100.0


def is_named(label: str) -> bool:
    return label not in CATCH_ALLS


def explain(parts: Mapping[str, float]) -> tuple[str, list[dict[str, Any]]]:
    """The `because` line (explain.because_line) and the full breakdown, every part with its
    kind, share and percent; each sums to 100 when the score is positive."""
    total = sum(value for value in parts.values() if value > 0)
    because = because_line(parts)
    shown = explain_percentages(parts, max_items=max(1, len(parts)))
    breakdown = [
        {
            "label": label,
            "kind": part_kind(label),
            "share": (parts.get(label, 0.0) / total) if total > 0 else 0.0,
            "percent": pct,
        }
        for label, pct in shown
    ]
    return because, breakdown


_REASON = re.compile(r"(\d+)% (.+?)(?=, \d+% |$)")
_LEFT_OUT_TAIL = re.compile(r" and \d+ smaller reasons? \((?:\d+%|under 1%)\)$")


def line_named_share(because: str) -> float:
    """The share (0..1) of the score that a because line as the listener reads it names,
    read back from its text ("because: 45% reggaeton, 30% other tags and 2 smaller reasons
    (25%)" names 45%): what a client that only has the line measures; equal to
    `named_shares(parts)[1]` for the line `because_line(parts)` makes."""
    body = _LEFT_OUT_TAIL.sub("", because.removeprefix("because: "))
    return (
        sum(int(percent) for percent, text in _REASON.findall(body) if _line_text_named(text))
        / 100.0
    )


def _line_text_named(text: str) -> bool:
    # the line writes tags without their prefix, so a tag called "other" would read as the
    # catch-all: catch-alls are matched on the text the line writes for them
    return text not in CATCH_ALLS

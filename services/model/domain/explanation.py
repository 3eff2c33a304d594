"""From a score's named parts to what the listener reads: "because: 45% reggaeton, 30% ..."."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.model.domain.explain import because_line, explain_percentages
from services.model.domain.scoring import CO_LISTENING, LIKED_MODEL


def part_kind(label: str) -> str:
    """tag, seed_artist, popularity, liked_model, co_listening, history or other, from a
    part's label."""
    if label.startswith("tag ") or label == "other tags":
        return "tag"
    if label.startswith("similar to "):
        return "seed_artist"
    if label == "popularity":
        return "popularity"
    if label == LIKED_MODEL:
        return "liked_model"
    if label == CO_LISTENING:
        return "co_listening"
    if label.startswith(("loved: ", "silent for ")):
        return "history"
    return "other"


def explain(parts: Mapping[str, float], max_items: int = 3) -> tuple[str, list[dict[str, Any]]]:
    """The `because` line (the `max_items` largest parts and "other") and the full breakdown,
    every part with its kind, share and percent; each sums to 100 when the score is positive."""
    total = sum(value for value in parts.values() if value > 0)
    because = because_line(parts, max_items)
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

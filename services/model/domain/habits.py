"""Seeds named by how the listener plays them: recency and context as reasons.

Features serves, per artist, its listens in the last 30 days of the listener's listening and
the hour band that is the artist's own (services/features/domain/contexts.py,
`artist_habits`). A seed the listener has been playing lately (at least RECENT_MIN_LISTENS
listens in those 30 days, and at least RECENT_MIN_SHARE of all its listens) carries its part
of a candidate's score as "like your recent plays: A, B"; a seed that is not recent but has an
hour band of its own as "like what you play at night: C". A recent seed is named by recency
even when it also has a band: its strength in the score comes from the recency weight. The
parts are only regrouped: each seed's value is moved whole into its group, so the parts
still sum to the score and keep the exact decomposition; seeds without a habit stay "similar
to <seed>", and the catch-all of the smallest seeds stays as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from services.model.domain.scoring import OTHER_SEEDS, SEED_PREFIX

RECENT = "recent"
RECENT_MIN_LISTENS = 3
RECENT_MIN_SHARE = 0.25
RECENT_PREFIX = "like your recent plays: "
BAND_PREFIXES = {
    "night": "like what you play at night: ",
    "morning": "like what you play in the morning: ",
    "afternoon": "like what you play in the afternoon: ",
    "evening": "like what you play in the evening: ",
}
HABIT_PREFIXES = {RECENT: RECENT_PREFIX, **BAND_PREFIXES}


def seed_habit(listens: int, recent_listens: int, hour_band: str) -> str:
    """RECENT, an hour band, or "" (the rule in the module docstring)."""
    if recent_listens >= RECENT_MIN_LISTENS and recent_listens >= RECENT_MIN_SHARE * listens:
        return RECENT
    return hour_band if hour_band in BAND_PREFIXES else ""


def seed_habits(rows: Sequence[tuple[str, int, int, str]]) -> dict[str, str]:
    """(name, listens, recent listens, hour band) rows, as features serves them -> artist key
    (lower case) -> its habit, for the artists that have one; one artist spelled two ways
    adds its listens up and keeps the band of its most listened spelling."""
    merged: dict[str, tuple[int, int, str, int]] = {}
    for name, listens, recent, band in rows:
        key = name.lower()
        total, recent_total, kept_band, kept_listens = merged.get(key, (0, 0, "", -1))
        if listens > kept_listens:
            kept_band, kept_listens = band, listens
        merged[key] = (total + listens, recent_total + recent, kept_band, kept_listens)
    habits = {
        key: seed_habit(listens, recent, band) for key, (listens, recent, band, _) in merged.items()
    }
    return {key: habit for key, habit in habits.items() if habit}


def grouped_by_habit(
    parts: Mapping[str, float], habits: Mapping[str, str], names: Mapping[str, str]
) -> dict[str, float]:
    """`parts` with every "similar to <seed>" whose seed (key) has a habit moved into that
    habit's part, named by its seeds largest first as `names` spells them (two named, then
    how many more)."""
    grouped: dict[str, float] = {}
    members: dict[str, list[tuple[float, str]]] = {}
    for label, value in parts.items():
        habit = habits.get(label.removeprefix(SEED_PREFIX), "")
        if label.startswith(SEED_PREFIX) and label != OTHER_SEEDS and habit in HABIT_PREFIXES:
            members.setdefault(HABIT_PREFIXES[habit], []).append((value, label))
        else:
            grouped[label] = value
    for prefix, seeds in members.items():
        seeds.sort(key=lambda pair: (-pair[0], pair[1]))
        spelled = [
            names.get(key, key) for key in (label.removeprefix(SEED_PREFIX) for _, label in seeds)
        ]
        grouped[prefix + _listing(spelled)] = math.fsum(value for value, _ in seeds)
    return grouped


def _listing(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def habit_kind(label: str) -> str:
    """ "recency", "context" or "" for a part's label."""
    if label.startswith(RECENT_PREFIX):
        return "recency"
    if label.startswith(tuple(BAND_PREFIXES.values())):
        return "context"
    return ""

"""The listener steering their recommendations: "more" or "less" of a taste, a familiarity dial
from deep cuts to popular (Last.fm playcounts), and a genre filter per request ("only
latin"). Applied when a set is served, to the whole stored set (100 artists), so a change shows
at once and holds for every later set.

Method. Each item's score is multiplied by its taste's factor (`MORE` 3x, `LESS` 0.2x) and by
its popularity factor: with the dial at d in [0, 1] (0.5 = as the model ranks) and the
artist's popularity percentile p among the artists of its set (by the Last.fm playcount of
its top tracks, which enrich fetches for every artist of every set soon after it is made),
the factor is (p + 0.05)^k towards popular (d > 0.5) or (1 - p + 0.05)^k towards deep cuts,
k = `DIAL_STRENGTH` x |d - 0.5| / 0.5. An artist whose tracks are not fetched yet counts as
the median. The percentile is within the set, not among every artist Full-Circle knows: the
dial reorders the listener's own recommendations from their least to their most popular, it
needs no scan of the whole catalog per request, and it is known for the whole set, not only
for the artists some set happened to fetch. The genre filter keeps the items whose top tags
hold the genre as a word sequence ("latin" matches "latin pop" and "latin", not
"platinum")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from scipy.stats import rankdata

from fullcircle.tags import canonical_tag

MORE, LESS = "more", "less"
TASTE_FACTORS = {MORE: 3.0, LESS: 0.2}
DIAL_STRENGTH = 6.0
NEUTRAL_DIAL = 0.5
UNKNOWN_POPULARITY = 0.5


class SteeringError(ValueError):
    """A steering request the listener can fix: the message says what to pass."""


@dataclass(frozen=True)
class Steering:
    """A listener's standing steering: taste name -> more/less, and the familiarity dial
    (None: as the model ranks)."""

    tastes: Mapping[str, str] = field(default_factory=dict)
    familiarity: float | None = None

    def describe(self) -> str:
        parts = [f"{way} {taste}" for taste, way in sorted(self.tastes.items())]
        if self.familiarity is not None:
            parts.append(f"familiarity {self.familiarity:.2f} (0 deep cuts, 1 popular)")
        return ", ".join(parts) or "as the model ranks"


class Steerable(Protocol):
    """A recommended artist as stored: its score, top tags and taste's name."""

    @property
    def artist(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def top_tags(self) -> list[str]: ...
    @property
    def taste(self) -> str: ...


S = TypeVar("S", bound=Steerable)


def steered(
    steering: Steering, *, tastes: Mapping[str, str], familiarity: float | None
) -> Steering:
    """`steering` with the request's changes: a taste set to "more"/"less" (or "" to stop
    steering it), the dial set (or None to leave it; a negative value clears it)."""
    changed = dict(steering.tastes)
    for taste, way in tastes.items():
        if way not in (MORE, LESS, ""):
            raise SteeringError(f"steer {taste!r} with more, less or nothing, not {way!r}")
        if way:
            changed[taste] = way
        else:
            changed.pop(taste, None)
    dial = steering.familiarity
    if familiarity is not None:
        if familiarity < 0:
            dial = None
        elif familiarity > 1:
            raise SteeringError(
                f"familiarity runs from 0 (deep cuts) to 1 (popular), not {familiarity}; "
                "0.5 is as the model ranks, a negative value clears it"
            )
        else:
            dial = familiarity
    return Steering(changed, dial)


def check_tastes(names: Sequence[str], known: Sequence[str]) -> None:
    """Every name is one of the listener's tastes, or SteeringError listing theirs."""
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SteeringError(
            f"{', '.join(repr(n[:64]) for n in unknown)}: not a taste of yours; yours are "
            f"{', '.join(known) or 'none yet (import a history first)'}"
        )


def percentiles(values: Mapping[str, float]) -> dict[str, float]:
    """Each key's percentile among `values`, 0 (the smallest) to 1 (the largest), ties at their
    mean rank; a lone value is the median (0.5)."""
    if len(values) < 2:
        return dict.fromkeys(values, 0.5)
    ranks = rankdata(list(values.values()), method="average")
    return {key: (rank - 1.0) / (len(values) - 1) for key, rank in zip(values, ranks, strict=True)}


def popularity_factor(percentile: float, dial: float | None) -> float:
    if dial is None or dial == NEUTRAL_DIAL:
        return 1.0
    strength = DIAL_STRENGTH * abs(dial - NEUTRAL_DIAL) / NEUTRAL_DIAL
    toward = percentile if dial > NEUTRAL_DIAL else 1.0 - percentile
    return float((toward + 0.05) ** strength)


def genre_matches(genre: str, tags: Sequence[str]) -> bool:
    wanted = canonical_tag(genre).split()
    if not wanted:
        return True
    for tag in tags:
        words = canonical_tag(tag).split()
        for start in range(len(words) - len(wanted) + 1):
            if words[start : start + len(wanted)] == wanted:
                return True
    return False


def steer(
    items: Sequence[S],
    steering: Steering,
    popularity: Mapping[str, float],
    genre: str = "",
) -> list[S]:
    """The items re-scored by the steering, best first, only those of `genre` if given.
    `popularity`: artist key (lower case) -> percentile 0..1."""
    kept = [item for item in items if not genre or genre_matches(genre, item.top_tags)]
    if not steering.tastes and steering.familiarity is None:
        return kept

    def weighed(item: S) -> float:
        taste = TASTE_FACTORS.get(steering.tastes.get(item.taste, ""), 1.0)
        seen = popularity.get(item.artist.lower(), UNKNOWN_POPULARITY)
        return item.score * taste * popularity_factor(seen, steering.familiarity)

    order = sorted(range(len(kept)), key=lambda i: (-weighed(kept[i]), i))
    return [kept[i] for i in order]

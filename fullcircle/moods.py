"""The mood vocabulary: canonical tags (and prompt words) placed on three axes, so an artist's
tags or a listener's "high energy morning music" become one comparable `MoodVector`.

Axes, each from -1 to 1 (0 is neutral or unknown):
- energy: calm (-1: sleep, ambient, classical) to intense (+1: aggressive, metal, drum and bass).
  It is also the calm-vs-intense axis; a separate one would only repeat it.
- valence: sad or dark (-1: depressing, sad, dark) to happy or bright (+1: happy, party, fun).
- acoustic: electronic (-1: techno, synthpop) to acoustic (+1: acoustic, folk, classical);
  prompts like "acoustic morning" or "no synths" need it and energy does not say it.

Mood tags (`energetic`, `chill`, `melancholic`, ...) speak with full strength. Genre tags carry
a weak default (strength 0.35: metal and drum and bass high energy, ambient and classical low)
so they place an artist no one tagged with a mood, yet yield to mood tags when both exist. An
entry leaves an axis it has no opinion on as None; it then does not pull that axis to 0.

`mood_vector` averages the entries of an artist's tags weighted by tag weight x strength, axis
by axis; its confidence is the share of the tag weight the vocabulary covered. A mood is
*known* (`MoodVector.known`) from `KNOWN_CONFIDENCE` on: a tenth of the tag weight on words the
vocabulary places; below it the mood is unknown, shown as unknown and never as a neutral middle.
Features estimates more artists' moods from related tags and similar artists under the same rule
(`services/features/domain/moods.py`).
`mood_from_words` reads a free-text prompt with the same vocabulary plus `PROMPT_PHRASES`
(`high energy`, `workout`, `morning`, `rainy`, ...); "not"/"no" before a phrase inverts its
main axis only ("not sad" asks for brighter, not for louder).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fullcircle.tags import canonical_tag

GENRE_STRENGTH = 0.35
KNOWN_CONFIDENCE = 0.1
_WORD = re.compile(r"[\w&'-]+")


@dataclass(frozen=True, slots=True)
class MoodPoint:
    """Where one tag or phrase sits on each axis (None: no opinion) and how loudly it says so."""

    energy: float | None = None
    valence: float | None = None
    acoustic: float | None = None
    strength: float = 1.0


@dataclass(frozen=True, slots=True)
class MoodVector:
    """A mood on the three axes (-1..1) and the confidence (0..1) it deserves."""

    energy: float = 0.0
    valence: float = 0.0
    acoustic: float = 0.0
    confidence: float = 0.0

    @property
    def known(self) -> bool:
        """Whether there is enough evidence to show this mood (module docstring)."""
        return self.confidence >= KNOWN_CONFIDENCE


def _genre(
    energy: float | None, valence: float | None = None, acoustic: float | None = None
) -> MoodPoint:
    return MoodPoint(energy, valence, acoustic, GENRE_STRENGTH)


MOOD_VOCABULARY: dict[str, MoodPoint] = {
    # energy and intensity
    "energetic": MoodPoint(0.9, 0.3),
    "upbeat": MoodPoint(0.7, 0.6),
    "party": MoodPoint(0.8, 0.7, -0.3),
    "aggressive": MoodPoint(1.0, -0.5),
    "angry": MoodPoint(0.9, -0.7),
    "intense": MoodPoint(0.9, -0.1),
    "epic": MoodPoint(0.7, 0.2),
    "powerful": MoodPoint(0.7, 0.1),
    "heavy": MoodPoint(0.8, -0.3),
    "fast": MoodPoint(0.8),
    "workout": MoodPoint(0.9, 0.4),
    "groovy": MoodPoint(0.5, 0.6),
    "catchy": MoodPoint(0.4, 0.6),
    # brightness
    "happy": MoodPoint(0.5, 0.9),
    "fun": MoodPoint(0.6, 0.8),
    "feel good": MoodPoint(0.5, 0.9),
    "uplifting": MoodPoint(0.5, 0.8),
    "summer": MoodPoint(0.5, 0.7),
    "sexy": MoodPoint(0.2, 0.5),
    "sensual": MoodPoint(-0.2, 0.5),
    "romantic": MoodPoint(-0.3, 0.5),
    "love songs": MoodPoint(-0.2, 0.4),
    "sweet": MoodPoint(-0.2, 0.6),
    "cute": MoodPoint(0.1, 0.7),
    "beautiful": MoodPoint(-0.3, 0.4),
    "smooth": MoodPoint(-0.4, 0.4),
    "nostalgic": MoodPoint(-0.2, 0.0),
    # calm
    "chill": MoodPoint(-0.6, 0.3),
    "mellow": MoodPoint(-0.6, 0.1),
    "calm": MoodPoint(-0.8, 0.2),
    "relaxing": MoodPoint(-0.8, 0.3),
    "peaceful": MoodPoint(-0.8, 0.4),
    "soft": MoodPoint(-0.6, 0.2),
    "slow": MoodPoint(-0.7),
    "sleep": MoodPoint(-1.0, 0.1),
    "dreamy": MoodPoint(-0.5, 0.2),
    "ethereal": MoodPoint(-0.5, 0.1),
    "atmospheric": MoodPoint(-0.4, -0.1),
    # darkness
    "sad": MoodPoint(-0.5, -0.9),
    "melancholic": MoodPoint(-0.4, -0.7),
    "depressing": MoodPoint(-0.5, -1.0),
    "emotional": MoodPoint(0.0, -0.4),
    "dark": MoodPoint(0.1, -0.7),
    "haunting": MoodPoint(-0.3, -0.6),
    # texture
    "acoustic": MoodPoint(-0.3, None, 1.0),
    # genres, weak defaults
    "metal": _genre(0.9, -0.3, -0.1),
    "heavy metal": _genre(0.9, -0.2),
    "death metal": _genre(1.0, -0.6),
    "black metal": _genre(1.0, -0.7),
    "thrash metal": _genre(1.0, -0.4),
    "metalcore": _genre(1.0, -0.4),
    "hardcore": _genre(1.0, -0.4),
    "punk": _genre(0.9, 0.1, 0.2),
    "punk rock": _genre(0.9, 0.2, 0.2),
    "hard rock": _genre(0.8, 0.1, 0.2),
    "rock": _genre(0.5, 0.1, 0.3),
    "alternative": _genre(0.3, -0.1),
    "indie": _genre(0.1, 0.1, 0.3),
    "pop": _genre(0.4, 0.6, -0.2),
    "dance": _genre(0.8, 0.6, -0.7),
    "disco": _genre(0.7, 0.8, -0.3),
    "house": _genre(0.7, 0.4, -0.9),
    "techno": _genre(0.8, -0.1, -1.0),
    "trance": _genre(0.8, 0.3, -1.0),
    "drum and bass": _genre(0.95, 0.0, -1.0),
    "dubstep": _genre(0.9, -0.3, -1.0),
    "edm": _genre(0.9, 0.5, -1.0),
    "electronic": _genre(0.3, None, -0.9),
    "electronica": _genre(0.0, None, -0.8),
    "synthpop": _genre(0.5, 0.4, -0.9),
    "electropop": _genre(0.6, 0.5, -0.9),
    "idm": _genre(0.1, -0.2, -1.0),
    "hip hop": _genre(0.5, 0.0, -0.4),
    "rap": _genre(0.6, 0.0, -0.4),
    "trap": _genre(0.7, -0.2, -0.7),
    "rnb": _genre(0.1, 0.3, -0.3),
    "soul": _genre(0.1, 0.3, 0.3),
    "funk": _genre(0.6, 0.6, 0.1),
    "reggae": _genre(0.0, 0.5, 0.3),
    "ska": _genre(0.7, 0.7, 0.4),
    "jazz": _genre(-0.2, 0.2, 0.8),
    "blues": _genre(-0.1, -0.3, 0.7),
    "folk": _genre(-0.4, 0.0, 0.9),
    "country": _genre(0.0, 0.3, 0.7),
    "singer songwriter": _genre(-0.4, -0.1, 0.8),
    "classical": _genre(-0.6, 0.1, 1.0),
    "soundtrack": _genre(-0.2),
    "ambient": _genre(-0.9, 0.0, -0.5),
    "new age": _genre(-0.8, 0.3),
    "chillout": _genre(-0.7, 0.3, -0.4),
    "downtempo": _genre(-0.6, 0.0, -0.6),
    "trip hop": _genre(-0.4, -0.3, -0.5),
    "lounge": _genre(-0.6, 0.4),
    "easy listening": _genre(-0.6, 0.4),
    "shoegaze": _genre(0.0, -0.2, -0.2),
    "dream pop": _genre(-0.4, 0.1, -0.3),
    "post rock": _genre(-0.1, -0.2, 0.2),
    "emo": _genre(0.5, -0.6),
    "gothic": _genre(0.1, -0.6),
    "darkwave": _genre(0.1, -0.6, -0.8),
    "industrial": _genre(0.8, -0.6, -0.8),
    "grunge": _genre(0.7, -0.4, 0.2),
    "bossa nova": _genre(-0.5, 0.4, 0.9),
    "bollywood": _genre(0.4, 0.5),
    "k pop": _genre(0.6, 0.6, -0.5),
    "latin": _genre(0.5, 0.6),
    "reggaeton": _genre(0.7, 0.6, -0.6),
    "gospel": _genre(0.2, 0.6, 0.5),
    "sufi": _genre(-0.2, 0.2, 0.8),
    "qawwali": _genre(0.2, 0.3, 0.9),
}

# Words people use in prompts that are not Last.fm tags (canonical spelling).
PROMPT_PHRASES: dict[str, MoodPoint] = {
    "high energy": MoodPoint(0.9),
    "low energy": MoodPoint(-0.8),
    "energetic": MoodPoint(0.9),
    "energizing": MoodPoint(0.8, 0.3),
    "hype": MoodPoint(0.9, 0.4),
    "pumped": MoodPoint(0.9, 0.4),
    "pump up": MoodPoint(0.9, 0.4),
    "loud": MoodPoint(0.7),
    "gym": MoodPoint(0.9, 0.3),
    "running": MoodPoint(0.8, 0.3),
    "run": MoodPoint(0.8, 0.3),
    "dancing": MoodPoint(0.8, 0.6, -0.4),
    "morning": MoodPoint(0.3, 0.4),
    "wake up": MoodPoint(0.5, 0.4),
    "road trip": MoodPoint(0.5, 0.6),
    "driving": MoodPoint(0.5, 0.3),
    "sunny": MoodPoint(0.4, 0.7),
    "cheerful": MoodPoint(0.5, 0.8),
    "feel good": MoodPoint(0.5, 0.9),
    "good vibes": MoodPoint(0.4, 0.8),
    "evening": MoodPoint(-0.3, 0.1),
    "late night": MoodPoint(-0.4, -0.1),
    "night": MoodPoint(-0.3),
    "quiet": MoodPoint(-0.8),
    "gentle": MoodPoint(-0.7, 0.3),
    "sleepy": MoodPoint(-1.0),
    "study": MoodPoint(-0.5),
    "studying": MoodPoint(-0.5),
    "focus": MoodPoint(-0.4),
    "reading": MoodPoint(-0.6),
    "dinner": MoodPoint(-0.4, 0.4),
    "rainy": MoodPoint(-0.4, -0.3),
    "rain": MoodPoint(-0.4, -0.3),
    "gloomy": MoodPoint(-0.3, -0.7),
    "heartbreak": MoodPoint(-0.4, -0.8),
    "breakup": MoodPoint(-0.3, -0.8),
    "cry": MoodPoint(-0.5, -0.9),
    "crying": MoodPoint(-0.5, -0.9),
    "electronic": MoodPoint(None, None, -0.9),
    "synths": MoodPoint(None, None, -0.8),
    "unplugged": MoodPoint(-0.3, None, 1.0),
}
_NEGATIONS = frozenset({"not", "no", "non"})
_LONGEST_PHRASE = 3
# Words that carry no mood; they do not count against a prompt's confidence.
_FILLER = frozenset(
    {
        "a",
        "an",
        "and",
        "the",
        "some",
        "music",
        "songs",
        "song",
        "tracks",
        "playlist",
        "for",
        "to",
        "of",
        "with",
        "me",
        "my",
        "i",
        "something",
        "play",
        "give",
        "want",
        "like",
        "in",
        "on",
        "at",
        "vibes",
        "mood",
        "very",
        "really",
        "more",
        "bit",
    }
)


def _weighted_mean(points: Sequence[tuple[MoodPoint, float]]) -> MoodVector:
    axes = {}
    for axis in ("energy", "valence", "acoustic"):
        pulls = [
            (value, weight * point.strength)
            for point, weight in points
            if (value := getattr(point, axis)) is not None
        ]
        total = sum(weight for _value, weight in pulls)
        axes[axis] = sum(value * weight for value, weight in pulls) / total if total else 0.0
    return MoodVector(axes["energy"], axes["valence"], axes["acoustic"])


def mood_point(tag: str) -> MoodPoint | None:
    """The vocabulary's entry for a tag in any spelling, or None when it has none."""
    return MOOD_VOCABULARY.get(canonical_tag(tag))


def mood_vector(tags: Sequence[tuple[str, float]]) -> MoodVector:
    """The mood of weighted tags (Last.fm weights, 0-100); all-zero weights count equally.

    Confidence is the share of the tag weight the vocabulary covered."""
    if not tags:
        return MoodVector()
    equal = all(weight <= 0 for _tag, weight in tags)
    weighted = [(tag, 1.0 if equal else max(float(weight), 0.0)) for tag, weight in tags]
    total = sum(weight for _tag, weight in weighted)
    covered = [
        (point, weight) for tag, weight in weighted if (point := mood_point(tag)) is not None
    ]
    if not covered or total <= 0:
        return MoodVector()
    mean = _weighted_mean(covered)
    confidence = sum(weight for _point, weight in covered) / total
    return MoodVector(mean.energy, mean.valence, mean.acoustic, round(confidence, 6))


def _negated(point: MoodPoint) -> MoodPoint:
    """ "not sad" asks for the opposite of sad's main axis only, not for energy."""
    axes = {"energy": point.energy, "valence": point.valence, "acoustic": point.acoustic}
    main = max(axes, key=lambda axis: abs(axes[axis] or 0.0))
    value = axes[main]
    flipped = {axis: (-value if axis == main and value is not None else None) for axis in axes}
    return MoodPoint(**flipped, strength=point.strength)


def mood_from_words(words: str | Iterable[str]) -> MoodVector:
    """The mood a prompt asks for ("high energy morning music" -> energy and valence up).

    Phrases of up to three words are matched longest first against the prompt phrases and
    the tag vocabulary; confidence is the share of non-filler words that were understood."""
    text = words if isinstance(words, str) else " ".join(words)
    tokens = [token.casefold() for token in _WORD.findall(text)]
    points: list[tuple[MoodPoint, float]] = []
    understood = meaningful = 0
    index = 0
    while index < len(tokens):
        negate = tokens[index] in _NEGATIONS
        start = index + 1 if negate else index
        for size in range(_LONGEST_PHRASE, 0, -1):
            phrase = canonical_tag(" ".join(tokens[start : start + size]))
            point = PROMPT_PHRASES.get(phrase) or MOOD_VOCABULARY.get(phrase)
            if start + size <= len(tokens) and point is not None:
                points.append((_negated(point) if negate else point, 1.0))
                understood += size
                meaningful += size
                index = start + size
                break
        else:
            if tokens[index] not in _FILLER and not negate:
                meaningful += 1
            index += 1
    if not points:
        return MoodVector()
    mean = _weighted_mean(points)
    confidence = understood / meaningful if meaningful else 0.0
    return MoodVector(mean.energy, mean.valence, mean.acoustic, round(confidence, 6))

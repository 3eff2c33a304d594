"""Clean Last.fm tags: one canonical spelling per tag (the kernel's `canonical_tag`), personal
junk dropped, and each tag classed as genre, mood, era, place or other (see `clean_artist_tags`).

Decisions a reader may look for:
- Junk is what says something about the tagger, not the music: `seen live`, `favorites`,
  `awesome`, `love`, `albums i own`, `check out`, bare years (`2010`) and numbers, the
  artist's own name, long personal phrases. `beautiful` is kept: it is a mood.
- Genre + place: `bollywood`, `k pop`, `j rock`, `britpop`, `mpb`, `brazilian rock`, ... are
  genres whose `place` field names the place they imply (`indian`, `korean`, ...).
- A tag the tables do not know is a genre when its last word is a genre word (`stoner rock`,
  `deathcore`), junk when it carries digits or reads like a sentence, otherwise `other`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fullcircle.tags import canonical_tag, tag_spelling

_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"^[\d\s.,:/<>]+$")
_NOT_ALNUM = re.compile(r"[\W_]+")


class TagKind(StrEnum):
    """What a tag says about the music."""

    GENRE = "genre"
    MOOD = "mood"
    ERA = "era"
    PLACE = "place"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CleanTag:
    """A canonical tag with its Last.fm weight (0-100) and its kind; `place` is the place a
    place tag or a regional genre (bollywood -> indian) stands for."""

    tag: str
    weight: int
    kind: TagKind
    place: str | None = None


JUNK: frozenset[str] = frozenset(
    {
        "seen live",
        "favorites",
        "favourites",
        "favorite",
        "favourite",
        "faves",
        "fav",
        "favs",
        "awesome",
        "amazing",
        "love",
        "love it",
        "love at first listen",
        "cool",
        "good",
        "great",
        "best",
        "the best",
        "perfect",
        "genius",
        "brilliant",
        "fantastic",
        "nice",
        "legend",
        "masterpiece",
        "albums i own",
        "check out",
        "to check out",
        "check",
        "spotify",
        "guilty pleasure",
        "guilty pleasures",
        "under 2000 listeners",
        "xxx",
        "other",
        "misc",
        "unknown",
    }
)
# Substrings and words that mark a personal note rather than a description of the music.
_JUNK_PARTS = ("seen live", "favo", "albums i own", "check out", "listen")
_JUNK_WORDS = frozenset({"my", "i", "me", "im", "ive", "fav", "favs", "faves", "own"})

ERAS = ("50s", "60s", "70s", "80s", "90s", "2000s", "2010s", "2020s")

PLACES: frozenset[str] = frozenset(
    {
        "british",
        "english",
        "england",
        "scottish",
        "irish",
        "welsh",
        "american",
        "canadian",
        "australian",
        "latin",
        "spanish",
        "mexican",
        "brazilian",
        "argentinian",
        "french",
        "german",
        "italian",
        "swedish",
        "norwegian",
        "finnish",
        "danish",
        "icelandic",
        "dutch",
        "polish",
        "russian",
        "turkish",
        "greek",
        "korean",
        "japanese",
        "chinese",
        "indian",
        "pakistani",
        "punjabi",
        "arabic",
        "african",
        "asian",
        "european",
    }
)

# Genres that name a place; the value is the place they imply.
REGIONAL_GENRES: dict[str, str] = {
    "bollywood": "indian",
    "bhangra": "indian",
    "desi": "indian",
    "indian classical": "indian",
    "qawwali": "pakistani",
    "k pop": "korean",
    "k rock": "korean",
    "j pop": "japanese",
    "j rock": "japanese",
    "visual kei": "japanese",
    "anime": "japanese",
    "britpop": "british",
    "nwobhm": "british",
    "mpb": "brazilian",
    "bossa nova": "brazilian",
    "samba": "brazilian",
    "sertanejo": "brazilian",
    "reggaeton": "latin",
    "salsa": "latin",
    "bachata": "latin",
    "cumbia": "latin",
    "flamenco": "spanish",
    "chanson": "french",
    "celtic": "irish",
    "krautrock": "german",
    "afrobeat": "african",
    "afrobeats": "african",
}

GENRES: frozenset[str] = frozenset(
    {
        "rock",
        "pop",
        "alternative",
        "indie",
        "electronic",
        "electronica",
        "dance",
        "metal",
        "punk",
        "jazz",
        "blues",
        "soul",
        "funk",
        "disco",
        "folk",
        "country",
        "classical",
        "hip hop",
        "rap",
        "rnb",
        "reggae",
        "ska",
        "dub",
        "ambient",
        "experimental",
        "industrial",
        "new wave",
        "synthpop",
        "electropop",
        "singer songwriter",
        "soundtrack",
        "score",
        "trip hop",
        "downtempo",
        "chillout",
        "lounge",
        "idm",
        "ebm",
        "electro",
        "house",
        "techno",
        "trance",
        "dubstep",
        "drum and bass",
        "jungle",
        "breakbeat",
        "garage",
        "uk garage",
        "grime",
        "trap",
        "drill",
        "edm",
        "emo",
        "screamo",
        "grunge",
        "shoegaze",
        "dream pop",
        "post rock",
        "post punk",
        "new age",
        "world",
        "world music",
        "latin pop",
        "gospel",
        "christian",
        "opera",
        "swing",
        "big band",
        "bluegrass",
        "americana",
        "rockabilly",
        "rock and roll",
        "psychedelic",
        "progressive",
        "gothic",
        "goth",
        "darkwave",
        "noise",
        "drone",
        "lo fi",
        "chiptune",
        "8 bit",
        "2 step",
        "vaporwave",
        "synthwave",
        "new romantic",
        "glam",
        "oldies",
        "easy listening",
        "instrumental hip hop",
        "neo soul",
        "motown",
        "musical",
        "musicals",
        "video game music",
        "disney",
        "sufi",
        "ghazal",
        *REGIONAL_GENRES,
    }
)
# A tag whose last word is one of these is a genre (`stoner rock`, `melodic death metal`).
_GENRE_WORDS = frozenset(
    {
        "rock",
        "pop",
        "metal",
        "punk",
        "jazz",
        "blues",
        "soul",
        "funk",
        "folk",
        "country",
        "hop",
        "rap",
        "house",
        "techno",
        "trance",
        "wave",
        "step",
        "core",
        "gaze",
        "kei",
        "disco",
        "electro",
        "ambient",
        "industrial",
        "reggae",
        "ska",
        "dub",
        "grunge",
        "indie",
        "classical",
        "gospel",
        "bass",
        "garage",
        "swing",
        "beat",
        "beats",
        "music",
        "emo",
        "goth",
        "noise",
        "drone",
        "opera",
        "electronica",
        "edm",
        "idm",
        "ebm",
        "rnb",
    }
)
_GENRE_SUFFIXES = ("core", "step", "gaze", "wave", "punk", "metal", "pop", "rock")

MOODS: frozenset[str] = frozenset(
    {
        "energetic",
        "upbeat",
        "party",
        "aggressive",
        "angry",
        "intense",
        "epic",
        "powerful",
        "heavy",
        "fast",
        "catchy",
        "fun",
        "happy",
        "feel good",
        "uplifting",
        "summer",
        "sexy",
        "sensual",
        "romantic",
        "love songs",
        "sweet",
        "cute",
        "beautiful",
        "chill",
        "mellow",
        "calm",
        "relaxing",
        "soft",
        "slow",
        "dreamy",
        "ethereal",
        "atmospheric",
        "peaceful",
        "sleep",
        "sad",
        "melancholic",
        "depressing",
        "emotional",
        "dark",
        "haunting",
        "nostalgic",
        "acoustic",
        "groovy",
        "smooth",
        "workout",
    }
)


def _name_key(name: str) -> str:
    return _NOT_ALNUM.sub("", tag_spelling(name).removeprefix("the "))


def is_junk(tag: str, artist_names: Iterable[str] = ()) -> bool:
    """True for a canonical tag that describes the tagger, not the music (see the module)."""
    if len(tag) < 2 or tag in JUNK or _NUMBER.match(tag):
        return True
    if _name_key(tag) in {_name_key(name) for name in artist_names if name.strip()}:
        return True
    if tag in ERAS or tag in GENRES or tag in MOODS or tag in PLACES:
        return False
    words = tag.split()
    if any(part in tag for part in _JUNK_PARTS) or _JUNK_WORDS.intersection(words):
        return True
    if _DIGIT.search(tag):
        return True
    return len(words) >= 4 and not _is_genre_shaped(words)


def _is_genre_shaped(words: Sequence[str]) -> bool:
    last = words[-1]
    return last in _GENRE_WORDS or (len(words) == 1 and last.endswith(_GENRE_SUFFIXES))


def classify_tag(tag: str) -> tuple[TagKind, str | None]:
    """The kind of a canonical, non-junk tag, and the place it names or implies."""
    if tag in ERAS:
        return TagKind.ERA, None
    if tag in PLACES:
        return TagKind.PLACE, tag
    if tag in REGIONAL_GENRES:
        return TagKind.GENRE, REGIONAL_GENRES[tag]
    if tag in MOODS:
        return TagKind.MOOD, None
    words = tag.split()
    if tag in GENRES or _is_genre_shaped(words):
        # "brazilian rock", "latin pop": the leading word says where the genre comes from.
        place = canonical_tag(words[0]) if len(words) > 1 else None
        return TagKind.GENRE, place if place in PLACES else None
    return TagKind.OTHER, None


def clean_tags(raw: Iterable[tuple[str, int]], names: Iterable[str] = ()) -> list[CleanTag]:
    """Canonicalise, drop junk (including `names`, e.g. the artist's), merge spellings that
    meet keeping the highest weight, and class each tag; heaviest first."""
    own_names = [name for name in names if name]
    weights: dict[str, int] = {}
    for spelling, weight in raw:
        tag = canonical_tag(spelling)
        if is_junk(tag, own_names):
            continue
        weights[tag] = max(weights.get(tag, weight), weight)
    cleaned = [CleanTag(tag, weight, *classify_tag(tag)) for tag, weight in weights.items()]
    return sorted(cleaned, key=lambda clean: (-clean.weight, clean.tag))


def clean_artist_tags(artist_name: str, raw: Sequence[tuple[str, int]]) -> list[CleanTag]:
    """An artist's tags cleaned (see `clean_tags`); a tag that is the artist's name is junk."""
    return clean_tags(raw, names=(artist_name,))

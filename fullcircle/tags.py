"""The one spelling a tag is stored and looked up under (`canonical_tag`): enrich stores Last.fm
tags in it, the model and features read prompts and tags in it. Cleaning (junk, kinds) is
enrich's own: services/enrich/domain/tags.py.

Spelling: case, accents' composed form, spaces, hyphens, underscores, apostrophes and "&" are
normalised, then a small synonym table merges true synonyms (`hiphop` -> `hip hop`,
`r&b`/`rhythm and blues` -> `rnb`, `uk` -> `british`, `eighties`/`1980s` -> `80s`).
`electronic` (the umbrella) and `electronica` (the album-oriented 90s/00s scene) stay apart;
so do `chill` (a mood) and `chillout` (a genre of lounge and downtempo).
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[\s_\-]+")
_APOSTROPHES = re.compile(r"['’‘`´]")
_PUNCTUATION = re.compile(r"[^\w\s<>]+")
_DECADE = re.compile(r"^(?:19)?([5-9]0)s$|^(?:20)?(00|10|20)s$")

SYNONYMS: dict[str, str] = {
    "hiphop": "hip hop",
    "hip hop music": "hip hop",
    "r and b": "rnb",
    "r n b": "rnb",
    "randb": "rnb",
    "rhythm and blues": "rnb",
    "rhythm n blues": "rnb",
    "drum n bass": "drum and bass",
    "drum bass": "drum and bass",
    "drumnbass": "drum and bass",
    "dnb": "drum and bass",
    "d and b": "drum and bass",
    "rock n roll": "rock and roll",
    "rocknroll": "rock and roll",
    "synth pop": "synthpop",
    "electro pop": "electropop",
    "dreampop": "dream pop",
    "postrock": "post rock",
    "postpunk": "post punk",
    "triphop": "trip hop",
    "numetal": "nu metal",
    "jpop": "j pop",
    "jrock": "j rock",
    "kpop": "k pop",
    "krock": "k rock",
    "singersongwriter": "singer songwriter",
    "chill out": "chillout",
    "female vocalist": "female vocalists",
    "female vocals": "female vocalists",
    "female vocal": "female vocalists",
    "male vocalist": "male vocalists",
    "male vocals": "male vocalists",
    "relax": "relaxing",
    "relaxed": "relaxing",
    "melancholy": "melancholic",
    "energy": "energetic",
    "uk": "british",
    "united kingdom": "british",
    "great britain": "british",
    "usa": "american",
    "us": "american",
    "america": "american",
    "united states": "american",
    "brasil": "brazilian",
    "brazil": "brazilian",
    "brasileiro": "brazilian",
    "korea": "korean",
    "south korean": "korean",
    "japan": "japanese",
    "india": "indian",
    "pakistan": "pakistani",
    "spain": "spanish",
    "espanol": "spanish",
    "español": "spanish",
    "france": "french",
    "germany": "german",
    "deutsch": "german",
    "sweden": "swedish",
    "latino": "latin",
    "latina": "latin",
    "filmi": "bollywood",
    "hindi film": "bollywood",
    "fifties": "50s",
    "sixties": "60s",
    "seventies": "70s",
    "eighties": "80s",
    "nineties": "90s",
    "noughties": "2000s",
}


def tag_spelling(text: str) -> str:
    """Normalised text before synonyms: composed, case-folded, "&" as "and", no apostrophes
    or punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    text = _PUNCTUATION.sub(" ", _APOSTROPHES.sub("", text))
    return _SPACES.sub(" ", text).strip()


def canonical_tag(tag: str) -> str:
    """The one spelling a tag is stored under: lower case, single spaces, hyphens and
    underscores as spaces, no apostrophes, "&" as "and", then decades and synonyms."""
    text = tag_spelling(tag)
    decade = _DECADE.match(text)
    if decade:
        short = decade.group(1) or decade.group(2)
        return f"{short}s" if decade.group(1) else f"20{short}s"
    return SYNONYMS.get(text, text)

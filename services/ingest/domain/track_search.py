"""Finding a track's Spotify URI from its artist and title (Spotify's `/search?type=track`).

The query is Spotify's field filter, `track:"<title>" artist:"<artist>"`, the title without
its version notes (quotes inside a name are dropped: the filter has no escape). An answer is
a match when one of the track's artists is the artist and its title is the title, both
compared as keys: case-folded,
accents removed, "&" read as "and", punctuation and spacing ignored, and for the title a
trailing version note dropped ("Song - Remastered 2011", "Song (Live)"), since Last.fm and
Spotify spell those differently. The first match in Spotify's order wins; no match is a miss,
cached like a hit (`SEARCH_MISS_DAYS`) so a track Spotify lacks is not asked for on every
export.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

SEARCH_LIMIT = 10  # answers read per search
SEARCH_MISS_DAYS = 30  # a miss is asked again after this long
MAX_SEARCHES_PER_WRITE = 50  # the rest wait for the next export (Spotify's rate limits)

_VERSION_NOTE = re.compile(r"\s+(?:-\s+.*|\((?:[^()]*)\)|\[(?:[^\[\]]*)\])$")
_NOT_WORD = re.compile(r"[\W_]+")


def name_key(name: str) -> str:
    """A name as it is compared: case-folded, no accents, & as "and", no punctuation."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().replace("&", " and "))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_WORD.sub(" ", plain).strip()


def bare_title(title: str) -> str:
    """The title without its trailing version notes ("- Remastered 2011", "(Live)")."""
    stripped = title.strip()
    while True:
        shorter = _VERSION_NOTE.sub("", stripped)
        if shorter == stripped or not shorter:
            return stripped
        stripped = shorter


def title_key(title: str) -> str:
    return name_key(bare_title(title))


def search_query(artist: str, title: str) -> str:
    """The search for a track: its bare title and its artist, each as a field filter."""

    def field(value: str) -> str:
        return " ".join(value.replace('"', " ").split())

    return f'track:"{field(bare_title(title))}" artist:"{field(artist)}"'


def best_match(items: Iterable[Mapping[str, Any] | None], artist: str, title: str) -> str | None:
    """The URI of the first answer whose artist and title are the wanted ones (keys above)."""
    want_artist, want_title = name_key(artist), title_key(title)
    for item in items:
        if not item or not isinstance(item.get("uri"), str):
            continue
        artists = {name_key(str(a.get("name", ""))) for a in item.get("artists") or ()}
        if want_artist in artists and title_key(str(item.get("name", ""))) == want_title:
            return str(item["uri"])
    return None

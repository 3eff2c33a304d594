"""The generated demo catalog: invented artists in realistic genre clusters, Last.fm-like.

Deterministic from a seed; written in the local Last.fm server's catalog JSON format (each
artist also carries a ``cluster`` key the loader ignores and the demo history uses).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CATALOG_FORMAT = "fullcircle-lastfm-catalog"
CATALOG_VERSION = 1


@dataclass(frozen=True, slots=True)
class GenreCluster:
    """A scene of artists: its Last.fm tags, moods, energy, track lengths and naming style."""

    key: str
    genre_tags: tuple[str, ...]
    mood_tags: tuple[str, ...]
    energy: float
    mean_duration_s: int
    syllables: tuple[str, ...]
    title_words: tuple[str, ...]
    neighbours: tuple[str, ...]
    name_patterns: tuple[str, ...] = ("{w}", "{w} {w}", "{w}")


_ENGLISH_WORDS = (
    "Midnight",
    "Gold",
    "Neon",
    "Echo",
    "River",
    "Fire",
    "Ghost",
    "Summer",
    "Static",
    "Glass",
    "Heart",
    "City",
    "Lights",
    "Paper",
    "Storm",
    "Velvet",
    "Silver",
    "Road",
    "Dream",
    "Signal",
    "Shadow",
    "Ocean",
    "Wild",
    "Honey",
    "Electric",
    "Broken",
    "Blue",
    "Falling",
    "Slow",
    "Home",
)
_SPANISH_WORDS = (
    "Noche",
    "Fuego",
    "Corazón",
    "Luna",
    "Calle",
    "Perreo",
    "Sol",
    "Baila",
    "Mar",
    "Cielo",
    "Loca",
    "Veneno",
    "Ritmo",
    "Sueño",
    "Ciudad",
    "Flores",
    "Tiempo",
    "Amor",
    "Oro",
    "Lento",
)

GENRE_CLUSTERS: tuple[GenreCluster, ...] = (
    GenreCluster(
        "uk_rap",
        ("grime", "uk rap", "hip-hop", "uk drill", "british"),
        ("energetic", "dark", "aggressive", "party"),
        0.85,
        185,
        ("ka", "zo", "dre", "ty", "mi", "ko", "shy", "lo", "ve", "dee", "rex", "jay"),
        (*_ENGLISH_WORDS, "Ends", "Mandem", "Roadman", "Pressure", "Link Up", "Badman"),
        ("afrobeats", "techno_house", "reggaeton"),
        ("{w}", "Lil {w}", "{w} {w}", "{W}"),
    ),
    GenreCluster(
        "reggaeton",
        ("reggaeton", "latin urban", "latin", "dembow", "urbano latino"),
        ("party", "energetic", "sexy", "upbeat"),
        0.85,
        200,
        ("ra", "el", "jo", "mi", "bad", "ny", "co", "lu", "ga", "via", "rro", "zé"),
        _SPANISH_WORDS,
        ("latin_indie", "afrobeats", "kpop"),
        ("{w}", "{w} {w}", "El {w}"),
    ),
    GenreCluster(
        "latin_indie",
        ("latin indie", "indie", "rock en espanol", "alternative", "spanish"),
        ("melancholic", "chill", "dreamy", "upbeat"),
        0.5,
        220,
        ("ma", "ri", "sol", "ca", "ve", "na", "lo", "ta", "bel", "da", "ni", "ro"),
        _SPANISH_WORDS,
        ("reggaeton", "indie_pop"),
        ("Los {w}", "{w} {w}", "{w}"),
    ),
    GenreCluster(
        "alt_rock",
        ("alternative rock", "rock", "grunge", "post-punk", "90s"),
        ("energetic", "melancholic", "dark", "angry"),
        0.7,
        230,
        ("sto", "ne", "black", "wo", "ver", "ash", "ton", "cro", "mar", "field", "gre", "vil"),
        _ENGLISH_WORDS,
        ("metal", "indie_pop"),
        ("The {w}", "{w} {w}", "The {w} {w}"),
    ),
    GenreCluster(
        "indie_pop",
        ("indie pop", "indie", "dream pop", "synthpop", "bedroom pop"),
        ("upbeat", "chill", "dreamy", "happy"),
        0.55,
        205,
        ("lu", "ma", "bel", "la", "wen", "pi", "sky", "fa", "mo", "ly", "ro", "sie"),
        _ENGLISH_WORDS,
        ("alt_rock", "latin_indie", "kpop"),
        ("{w}", "{w} {w}", "The {w}"),
    ),
    GenreCluster(
        "jazz",
        ("jazz", "bebop", "smooth jazz", "jazz fusion", "instrumental"),
        ("chill", "relaxing", "mellow", "late night"),
        0.3,
        330,
        ("col", "ter", "dex", "mon", "ray", "bur", "ell", "hay", "ning", "wes", "ar", "thur"),
        (*_ENGLISH_WORDS, "Blues", "Bossa", "Swing", "Reverie", "Interlude", "Standard"),
        ("classical", "ambient"),
        ("{w} {w}", "{w} {w} Trio", "{w} {w} Quartet"),
    ),
    GenreCluster(
        "techno_house",
        ("techno", "house", "electronic", "deep house", "minimal techno"),
        ("energetic", "dark", "party", "hypnotic"),
        0.8,
        390,
        ("kr", "ax", "on", "vex", "tek", "ra", "mod", "zy", "lux", "pha", "sen", "dro"),
        (*_ENGLISH_WORDS, "Pulse", "Warehouse", "Acid", "Circuit", "Groove", "Machine"),
        ("ambient", "uk_rap"),
        ("{W}", "DJ {w}", "{w} {w}"),
    ),
    GenreCluster(
        "kpop",
        ("k-pop", "korean", "dance pop", "pop", "k-rnb"),
        ("upbeat", "energetic", "happy", "party"),
        0.8,
        200,
        ("min", "ji", "seo", "hyun", "ae", "yo", "na", "ri", "soo", "eun", "jin", "ha"),
        (*_ENGLISH_WORDS, "Butterfly", "Candy", "Starlight", "Rollercoaster", "Peach", "Crush"),
        ("indie_pop", "reggaeton"),
        ("{W}", "{w}{w}", "{W}"),
    ),
    GenreCluster(
        "bollywood",
        ("bollywood", "hindi", "indian", "filmi", "desi"),
        ("romantic", "upbeat", "melancholic", "party"),
        0.6,
        260,
        ("ar", "ji", "shre", "ya", "ku", "mar", "sun", "dhi", "ra", "vi", "pri", "tam"),
        (
            "Dil",
            "Pyaar",
            "Raat",
            "Saath",
            "Ishq",
            "Zindagi",
            "Sapna",
            "Tera",
            "Mera",
            "Chand",
            "Baarish",
            "Khwaab",
            "Safar",
            "Jaan",
            "Dhadkan",
            "Rang",
        ),
        ("kpop", "afrobeats"),
        ("{w} {w}", "{w}"),
    ),
    GenreCluster(
        "classical",
        ("classical", "romantic era", "baroque", "orchestral", "piano"),
        ("calm", "melancholic", "relaxing", "epic"),
        0.15,
        420,
        ("vo", "ro", "sen", "hei", "dal", "wit", "mann", "ska", "ber", "lio", "ga", "nov"),
        (
            "Nocturne",
            "Sonata",
            "Prelude",
            "Étude",
            "Adagio",
            "Symphony",
            "Concerto",
            "Fugue",
            "Serenade",
            "Rhapsody",
            "Variations",
            "Requiem",
        ),
        ("ambient", "jazz"),
        ("{w} {w}", "{w} {w} Ensemble", "{w} Orchestra"),
    ),
    GenreCluster(
        "metal",
        ("metal", "heavy metal", "thrash metal", "death metal", "metalcore"),
        ("aggressive", "dark", "energetic", "angry"),
        0.95,
        280,
        ("grim", "thor", "vul", "kra", "mor", "dath", "sk", "rag", "nar", "goth", "ul", "ax"),
        (*_ENGLISH_WORDS, "Abyss", "Iron", "Serpent", "Throne", "Oblivion", "Wrath"),
        ("alt_rock",),
        ("{W}", "{w} {w}", "{W} of {W}"),
    ),
    GenreCluster(
        "ambient",
        ("ambient", "electronic", "drone", "downtempo", "chillout"),
        ("chill", "calm", "dreamy", "atmospheric"),
        0.1,
        360,
        ("ae", "lo", "sy", "mir", "no", "hal", "ve", "ith", "sol", "um", "ra", "ne"),
        (*_ENGLISH_WORDS, "Drift", "Haze", "Tide", "Stillness", "Aurora", "Horizon"),
        ("classical", "techno_house", "jazz"),
        ("{W}", "{w} {w}", "{W}"),
    ),
    GenreCluster(
        "afrobeats",
        ("afrobeats", "afropop", "nigerian", "afroswing", "dancehall"),
        ("party", "upbeat", "sexy", "energetic"),
        0.8,
        195,
        ("wi", "zo", "da", "ke", "bu", "na", "ye", "mi", "to", "la", "fe", "ji"),
        (*_ENGLISH_WORDS, "Jollof", "Vibes", "Gbese", "Omo", "Lagos", "Sweet"),
        ("uk_rap", "reggaeton", "bollywood"),
        ("{w}", "{w} {w}", "{W}"),
    ),
)

_COMMON_TAGS = (
    "seen live",
    "favorites",
    "female vocalists",
    "male vocalists",
    "under 2000 listeners",
)
_TITLE_PATTERNS = ("{a}", "{a} {b}", "{a} ({b})", "{a} & {b}", "No {a}", "{a} {b}")


def _invent_word(rnd: random.Random, syllables: tuple[str, ...]) -> str:
    return "".join(rnd.choice(syllables) for _ in range(rnd.randint(2, 3))).capitalize()


def _invent_artist_name(rnd: random.Random, cluster: GenreCluster, taken: set[str]) -> str:
    for _attempt in range(50):
        name = rnd.choice(cluster.name_patterns)
        while "{w}" in name:
            name = name.replace("{w}", _invent_word(rnd, cluster.syllables), 1)
        while "{W}" in name:
            word = _invent_word(rnd, cluster.syllables)
            name = name.replace("{W}", word.upper() if len(word) <= 5 else word, 1)
        if name.casefold() not in taken:
            taken.add(name.casefold())
            return name
    name = f"{_invent_word(rnd, cluster.syllables)} {len(taken)}"
    taken.add(name.casefold())
    return name


def _title(rnd: random.Random, words: tuple[str, ...]) -> str:
    first, second = rnd.sample(words, 2)
    return rnd.choice(_TITLE_PATTERNS).format(a=first, b=second)


def _decaying_weights(rnd: random.Random, count: int) -> list[int]:
    """Last.fm-like tag weights: the top tag 100, the rest decaying with some noise."""
    decay = rnd.uniform(0.35, 0.8)
    weights = [100] + [
        max(1, int(100 * math.exp(-i * decay) * rnd.uniform(0.8, 1.0))) for i in range(1, count)
    ]
    return sorted(weights, reverse=True)


def _artist_tags(rnd: random.Random, cluster: GenreCluster, listeners: int) -> list[list[Any]]:
    names = [
        cluster.genre_tags[0],
        *rnd.sample(cluster.genre_tags[1:], rnd.randint(1, 3)),
        *rnd.sample(cluster.mood_tags, rnd.randint(1, 2)),
    ]
    if rnd.random() < 0.35:
        names.append(rnd.choice(_COMMON_TAGS[:4]))
    if listeners < 2000:
        names.append(_COMMON_TAGS[4])
    return [[n, w] for n, w in zip(names, _decaying_weights(rnd, len(names)), strict=True)]


def _tracks(
    rnd: random.Random, cluster: GenreCluster, artist_tags: list[list[Any]]
) -> list[dict[str, Any]]:
    n_tracks = rnd.randint(8, 15)
    albums = [_title(rnd, cluster.title_words) for _ in range(rnd.randint(1, 3))]
    titles: list[str] = []
    while len(titles) < n_tracks:
        title = _title(rnd, cluster.title_words)
        if title not in titles:
            titles.append(title)
    primary_genre = artist_tags[0][0]
    tracks = []
    for index, title in enumerate(titles):
        duration_s = rnd.gauss(cluster.mean_duration_s, cluster.mean_duration_s * 0.22)
        tracks.append(
            {
                "name": title,
                "duration_ms": int(min(max(duration_s, 75), 1500) * 1000),
                "album": albums[index * len(albums) // n_tracks],
                "tags": [
                    [primary_genre, 100],
                    [rnd.choice(cluster.mood_tags), rnd.randint(30, 90)],
                ],
            }
        )
    return tracks


def _similar_artists(
    rnd: random.Random,
    names: list[str],
    cluster_of: list[int],
    members: dict[int, list[int]],
    neighbour_ids: dict[int, list[int]],
    tag_sets: list[set[str]],
) -> list[list[list[Any]]]:
    """Mostly in-cluster similar artists (match from shared tags), a few cross-cluster links."""
    similar_lists: list[list[list[Any]]] = []
    for artist, cluster in enumerate(cluster_of):
        own = [other for other in members[cluster] if other != artist]
        inside = rnd.sample(own, min(len(own), rnd.randint(15, 30)))
        outside_pool = [o for c in neighbour_ids[cluster] for o in members[c]] or own
        outside = rnd.sample(outside_pool, min(len(outside_pool), rnd.randint(1, 4)))
        scored: dict[int, float] = {}
        for other in inside:
            union = tag_sets[artist] | tag_sets[other]
            shared = len(tag_sets[artist] & tag_sets[other]) / len(union)
            scored[other] = (0.3 + 0.7 * shared) * rnd.uniform(0.5, 1.0)
        for other in outside:
            scored.setdefault(other, rnd.uniform(0.03, 0.25))
        if not scored:
            similar_lists.append([])
            continue
        top = max(scored.values())
        ranked = sorted(scored.items(), key=lambda pair: (-pair[1], names[pair[0]]))
        similar_lists.append([[names[o], round(m / top, 4)] for o, m in ranked])
    return similar_lists


def generate_demo_catalog(seed: int = 7, n_artists: int = 3000) -> dict[str, Any]:
    """A deterministic demo catalog of ``n_artists`` invented artists across genre clusters."""
    rng = np.random.default_rng(seed)
    n_clusters = len(GENRE_CLUSTERS)
    cluster_of = np.sort(rng.permutation(np.arange(n_artists) % n_clusters))
    # Long-tailed popularity: a Zipf-like curve over a random ranking of all artists.
    rank = rng.permutation(n_artists)
    listeners = (2_500_000 * (rank + 1.0) ** -0.9 + rng.integers(40, 400, size=n_artists)).astype(
        np.int64
    )
    plays_per_listener = np.exp(rng.normal(2.8, 0.6, size=n_artists))
    playcounts = (listeners * plays_per_listener).astype(np.int64)

    rnd = random.Random(seed)
    taken: set[str] = set()
    names: list[str] = []
    tags: list[list[list[Any]]] = []
    tracks: list[list[dict[str, Any]]] = []
    for artist, cluster_index in enumerate(cluster_of.tolist()):
        cluster = GENRE_CLUSTERS[cluster_index]
        names.append(_invent_artist_name(rnd, cluster, taken))
        artist_tags = _artist_tags(rnd, cluster, int(listeners[artist]))
        tags.append(artist_tags)
        tracks.append(_tracks(rnd, cluster, artist_tags))

    key_index = {cluster.key: i for i, cluster in enumerate(GENRE_CLUSTERS)}
    members = {c: np.flatnonzero(cluster_of == c).tolist() for c in range(n_clusters)}
    neighbour_ids = {
        c: [key_index[k] for k in GENRE_CLUSTERS[c].neighbours if len(members[key_index[k]])]
        for c in range(n_clusters)
    }
    tag_sets = [{tag for tag, _w in artist_tags} for artist_tags in tags]
    similar = _similar_artists(rnd, names, cluster_of.tolist(), members, neighbour_ids, tag_sets)

    artists = [
        {
            "name": names[a],
            "mbid": "",
            "listeners": int(listeners[a]),
            "playcount": int(playcounts[a]),
            "tags": tags[a],
            "similar": similar[a],
            "tracks": tracks[a],
            "cluster": GENRE_CLUSTERS[int(cluster_of[a])].key,
        }
        for a in range(n_artists)
    ]
    return {"format": CATALOG_FORMAT, "version": CATALOG_VERSION, "seed": seed, "artists": artists}


def write_demo_catalog(path: Path | str, seed: int = 7, n_artists: int = 3000) -> dict[str, Any]:
    """Generate the demo catalog and write it as JSON; returns the catalog written."""
    catalog = generate_demo_catalog(seed=seed, n_artists=n_artists)
    Path(path).write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    return catalog


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m tools.demo.catalog PATH")
    write_demo_catalog(sys.argv[1])

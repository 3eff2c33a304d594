"""What the pages show, as plain data made from the gateway's messages: explanation bars,
links to play a track, tastes with their shares, and the rows the charts draw. Pure
functions; the templates only lay them out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from fullcircle.v1 import common_pb2, gateway_pb2

OTHER_TASTE = "other"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Bar:
    label: str
    kind: str
    percent: int


@dataclass(frozen=True)
class Track:
    name: str
    url: str
    yours: bool


@dataclass(frozen=True)
class Card:
    artist: str
    because: str
    bars: list[Bar]
    tracks: list[Track]
    tags: list[str]
    similar_to: list[str]
    taste: str
    artist_url: str


def spotify_search_url(*words: str) -> str:
    return "https://open.spotify.com/search/" + quote(" ".join(w for w in words if w), safe="")


def track_url(track_uri: str, artist: str, name: str) -> str:
    """The track on Spotify: its own page when its URI is known, else a search for it."""
    prefix = "spotify:track:"
    if track_uri.startswith(prefix) and track_uri[len(prefix) :].isalnum():
        return f"https://open.spotify.com/track/{track_uri[len(prefix) :]}"
    return spotify_search_url(artist, name)


def bars(parts: Iterable[common_pb2.ExplanationPart]) -> list[Bar]:
    """The named parts of a score, widest first; their percents sum to 100."""
    return sorted(
        (Bar(part.label, part.kind, part.percent) for part in parts if part.percent > 0),
        key=lambda bar: -bar.percent,
    )


def card(item: common_pb2.Recommendation) -> Card:
    return Card(
        artist=item.artist,
        because=item.because,
        bars=bars(item.parts),
        tracks=[
            Track(t.name, track_url(t.track_uri, item.artist, t.name), t.source == "your_plays")
            for t in item.tracks
        ],
        tags=list(item.top_tags[:5]),
        similar_to=list(item.similar_to[:5]),
        taste=item.taste,
        artist_url=spotify_search_url(item.artist),
    )


def taste_names(profile: common_pb2.TasteProfile) -> dict[int, str]:
    """Cluster id -> the name the listener reads (0 is the unplaced "other"); names made
    unique, since two tastes may carry the same top tags."""
    names: dict[int, str] = {0: OTHER_TASTE}
    seen = Counter[str]()
    for cluster in profile.clusters:
        if cluster.cluster_id == 0:
            continue
        name = cluster.name or f"taste {cluster.cluster_id}"
        seen[name] += 1
        names[cluster.cluster_id] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return names


def _name(names: Mapping[int, str], cluster_id: int) -> str:
    return names.get(cluster_id, f"taste {cluster_id}")


def evolution_rows(profile: common_pb2.TasteProfile) -> list[dict[str, object]]:
    """One row per month and taste (share of that month's listens, 0 where it was not
    played), so each taste is one unbroken band of the stream graph."""
    names = taste_names(profile)
    ids = sorted({cid for month in profile.evolution for cid in month.cluster_shares})
    return [
        {
            "month": month.month,
            "taste": _name(names, cid),
            "listens": round(month.listens * month.cluster_shares.get(cid, 0.0), 2),
        }
        for month in profile.evolution
        for cid in ids
    ]


def clock_rows(profile: common_pb2.TasteProfile) -> list[dict[str, object]]:
    """One row per hour of the week (the listener's zone): its listens and the taste most of
    them were ("" when none), with that taste's share in percent; the heatmap colours a cell
    by that taste and shades it by the listens. Empty before the profile has a clock."""
    names = taste_names(profile)
    rows: list[dict[str, object]] = []
    for hour in profile.clock:
        leading = max(
            hour.cluster_shares.items(), key=lambda item: (item[1], -item[0]), default=None
        )
        rows.append(
            {
                "day": WEEKDAYS[hour.weekday],
                "hour": hour.hour,
                "listens": hour.listens,
                "taste": _name(names, leading[0]) if leading else "",
                "share": round(100 * leading[1]) if leading else 0,
            }
        )
    return rows if any(row["listens"] for row in rows) else []


def contexts_by_kind(
    profile: common_pb2.TasteProfile,
) -> dict[str, list[common_pb2.ContextProfile]]:
    grouped: dict[str, list[common_pb2.ContextProfile]] = defaultdict(list)
    for context in profile.contexts:
        grouped[context.kind].append(context)
    return dict(grouped)


def import_percent(progress: gateway_pb2.ImportProgress) -> int:
    """How far an import has come, 0..100 (100 only once it is done)."""
    if progress.stage == "done":
        return 100
    if progress.stage == "storing" and progress.plays_read:
        return min(99, int(100 * progress.plays_stored / progress.plays_read))
    return {"queued": 0, "parsing": 5}.get(progress.stage, 0)

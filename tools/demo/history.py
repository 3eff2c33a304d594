"""A synthetic listener's Spotify Extended Streaming History, generated from the demo catalog.

Taste spans several genre clusters that rise and fade over the years, favourites go dormant
(and come back), mornings are energetic and nights chill; rows use Spotify's 23-key schema.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tools.demo.catalog import GENRE_CLUSTERS

EXPORT_FOLDER = "Spotify Extended Streaming History"
ROWS_PER_EXPORT_FILE = 16_000
DEFAULT_END = datetime(2025, 12, 1, tzinfo=UTC)
SKIP_SHARE = 0.25
PODCAST_SHARE = 0.006
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PODCAST_SHOWS = (
    ("The Midnight Crate", ("Digging for B-sides", "Sampling 101", "Vinyl Week")),
    ("Tempo Talks", ("Why 174 BPM", "The Drop", "Club Culture Then and Now")),
    ("Liner Notes Daily", ("Album of the Week", "Producers Roundtable", "Debut Records")),
)
_PLATFORMS = np.array(["android", "windows", "ios", "web_player"])
_PLATFORM_SHARE = np.array([0.62, 0.22, 0.1, 0.06])
_SESSION_STARTS = np.array(["clickrow", "playbtn", "appload", "remote"])
_SESSION_START_SHARE = np.array([0.55, 0.2, 0.15, 0.1])


def spotify_uri(kind: str, *parts: str) -> str:
    """A deterministic Spotify-style URI: ``spotify:<kind>:`` + 22 base62 characters."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).digest()
    number = int.from_bytes(digest[:16], "big")
    chars = []
    for _ in range(22):
        number, remainder = divmod(number, 62)
        chars.append(_BASE62[remainder])
    return f"spotify:{kind}:{''.join(chars)}"


def _cluster_of(artist: dict[str, Any]) -> str:
    return str(artist.get("cluster") or (artist["tags"][0][0] if artist["tags"] else "unknown"))


def _pick_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (rows x options) weight matrix."""
    cumulative = np.cumsum(weights, axis=1)
    draws = rng.random(len(weights)) * cumulative[:, -1]
    picks = (cumulative < draws[:, None]).sum(axis=1)
    return np.minimum(picks, weights.shape[1] - 1)


def generate_demo_history(
    catalog: dict[str, Any],
    seed: int = 11,
    n_plays: int = 140_000,
    years: int = 6,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rows of a Spotify Extended Streaming History for one synthetic listener, sorted by ts.

    ``end`` defaults to a fixed date so the same seed always gives the same history.
    """
    rng = np.random.default_rng(seed)
    artists = catalog["artists"]
    end_s = int((end or DEFAULT_END).timestamp()) // 86400 * 86400
    span_s = int(years * 365.25) * 86400  # whole days, so session hours stay clock hours
    start_s = end_s - span_s

    # Taste: 6 clusters, each with a bump in time (centres spread over the years) plus a core.
    cluster_keys = sorted({_cluster_of(a) for a in artists})
    lively = [key for key in cluster_keys if _cluster_energy(key) >= 0.6]
    calm = [key for key in cluster_keys if _cluster_energy(key) < 0.6]
    taste = [lively[int(i)] for i in rng.choice(len(lively), min(3, len(lively)), replace=False)]
    taste += [calm[int(i)] for i in rng.choice(len(calm), min(3, len(calm)), replace=False)]
    taste = [taste[int(i)] for i in rng.permutation(len(taste))]
    n_taste = len(taste)
    centres = np.linspace(0.02, 0.98, n_taste)
    widths = rng.uniform(0.12, 0.22, n_taste)
    core = rng.uniform(0.05, 0.12, n_taste)
    energy = np.array([_cluster_energy(key) for key in taste])

    by_cluster: dict[str, list[int]] = {key: [] for key in taste}
    for index, artist in enumerate(artists):
        key = _cluster_of(artist)
        if key in by_cluster:
            by_cluster[key].append(index)

    n_podcasts = int(n_plays * PODCAST_SHARE)
    n_music = n_plays - n_podcasts

    # Sessions: start times with morning and evening peaks, lengths ~ geometric.
    n_sessions = n_music // 8 + 50
    lengths = rng.geometric(1 / 11, size=n_sessions)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), n_music)) + 1]
    lengths[-1] -= int(lengths.sum()) - n_music
    n_sessions = len(lengths)
    days = np.sort(rng.integers(0, span_s // 86400 - 1, size=n_sessions))
    hours = _session_hours(rng, n_sessions)
    session_start = start_s + days * 86400 + (hours * 3600).astype(np.int64)
    session_t = (session_start - start_s) / span_s

    drift = np.exp(-0.5 * ((session_t[:, None] - centres[None, :]) / widths[None, :]) ** 2)
    drift = drift + core[None, :]
    night = (hours >= 21) | (hours < 5)
    morning = (hours >= 6) & (hours < 11)
    mood_fit = np.ones((n_sessions, n_taste))
    mood_fit[morning] = (0.2 + 1.6 * energy[None, :]) ** 2
    mood_fit[night] = (1.8 - 1.6 * energy[None, :]) ** 2
    session_weights = drift * mood_fit
    session_cluster = _pick_rows(rng, session_weights)

    play_session = np.repeat(np.arange(n_sessions), lengths)
    play_cluster = session_cluster[play_session]
    wander = rng.random(n_music) < 0.2
    play_cluster[wander] = _pick_rows(rng, session_weights[play_session[wander]])
    play_t = session_t[play_session]

    play_artist = np.empty(n_music, dtype=np.int64)
    for c, key in enumerate(taste):
        mask = play_cluster == c
        play_artist[mask] = _pick_favourites(rng, artists, by_cluster[key], play_t[mask])

    n_tracks = np.array([len(artists[a]["tracks"]) for a in range(len(artists))])
    play_track = (rng.random(n_music) ** 1.8 * n_tracks[play_artist]).astype(np.int64)
    durations_ms = np.array(
        [
            artists[a]["tracks"][t]["duration_ms"]
            for a, t in zip(play_artist, play_track, strict=True)
        ]
    )

    skipped = rng.random(n_music) < SKIP_SHARE
    finished = ~skipped & (rng.random(n_music) < 0.8)
    ms_played = np.where(
        skipped,
        rng.integers(400, 30_000, size=n_music),
        np.where(finished, durations_ms, (durations_ms * rng.uniform(0.2, 0.95, n_music))),
    ).astype(np.int64)
    ms_played = np.maximum(np.minimum(ms_played, durations_ms), 400)

    # Spotify's ts is when the stream ended: session start + everything played so far.
    played_s = ms_played // 1000 + rng.integers(0, 3, size=n_music)
    cumulative = np.cumsum(played_s)
    session_offset = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    before_session = np.concatenate([[0], cumulative])[session_offset]
    ts_s = session_start[play_session] + cumulative - before_session[play_session]

    first_in_session = np.zeros(n_music, dtype=bool)
    first_in_session[session_offset] = True
    reason_end = np.where(skipped, "fwdbtn", np.where(finished, "trackdone", "endplay"))
    previous_end = np.concatenate([["trackdone"], reason_end[:-1]])
    reason_start = np.where(
        first_in_session,
        rng.choice(_SESSION_STARTS, size=n_music, p=_SESSION_START_SHARE),
        np.where(previous_end == "fwdbtn", "fwdbtn", "trackdone"),
    )
    platform = rng.choice(_PLATFORMS, size=n_sessions, p=_PLATFORM_SHARE)[play_session]
    shuffle = (rng.random(n_sessions) < 0.45)[play_session]
    offline = rng.random(n_music) < 0.03
    abroad = (rng.random(n_sessions) < 0.04)[play_session]

    rows = _track_rows(
        artists,
        play_artist,
        play_track,
        ts_s,
        ms_played,
        skipped,
        reason_start,
        reason_end,
        platform,
        shuffle,
        offline,
        abroad,
    )
    rows.extend(_podcast_rows(rng, n_podcasts, start_s, span_s))
    rows.sort(key=lambda row: row["ts"])
    return rows


def _cluster_energy(key: str) -> float:
    return next((c.energy for c in GENRE_CLUSTERS if c.key == key), 0.5)


def _session_hours(rng: np.random.Generator, n_sessions: int) -> np.ndarray:
    """Hours of day (float) with a commute/morning peak, a lunch bump and a long evening."""
    peaks = rng.choice(3, size=n_sessions, p=[0.3, 0.2, 0.5])
    centre = np.array([8.0, 13.0, 21.0])[peaks]
    spread = np.array([1.2, 1.5, 2.2])[peaks]
    return np.mod(rng.normal(centre, spread), 24.0)


def _pick_favourites(
    rng: np.random.Generator, artists: list[dict[str, Any]], members: list[int], t: np.ndarray
) -> np.ndarray:
    """Artists within one cluster: a set of favourites, each loved during its own windows."""
    if not members or not len(t):
        return np.zeros(len(t), dtype=np.int64)
    listeners = np.array([artists[a]["listeners"] for a in members], dtype=np.float64)
    n_fav = min(len(members), int(rng.integers(25, 60)))
    favourites = rng.choice(
        len(members), size=n_fav, replace=False, p=np.sqrt(listeners) / np.sqrt(listeners).sum()
    )
    base = rng.pareto(1.2, n_fav) + 0.2
    window_start = rng.uniform(-0.1, 0.9, n_fav)
    window_end = window_start + rng.uniform(0.1, 0.5, n_fav)
    # A third of favourites come back later: rediscovered after going dormant.
    comeback = rng.random(n_fav) < 0.33
    comeback_start = window_end + rng.uniform(0.15, 0.4, n_fav)
    comeback_end = comeback_start + rng.uniform(0.05, 0.2, n_fav)
    active = (t[:, None] >= window_start) & (t[:, None] <= window_end)
    active |= comeback & (t[:, None] >= comeback_start) & (t[:, None] <= comeback_end)
    weights = base[None, :] * (0.02 + active)
    picks = _pick_rows(rng, weights)
    return np.asarray(members, dtype=np.int64)[favourites[picks]]


def _iso(ts_s: np.ndarray) -> list[str]:
    stamps = np.datetime_as_string(ts_s.astype("datetime64[s]"), unit="s")
    return [f"{stamp}Z" for stamp in stamps.tolist()]


def _track_rows(
    artists: list[dict[str, Any]],
    play_artist: np.ndarray,
    play_track: np.ndarray,
    ts_s: np.ndarray,
    ms_played: np.ndarray,
    skipped: np.ndarray,
    reason_start: np.ndarray,
    reason_end: np.ndarray,
    platform: np.ndarray,
    shuffle: np.ndarray,
    offline: np.ndarray,
    abroad: np.ndarray,
) -> list[dict[str, Any]]:
    ts_s = _unique_per_track(ts_s, play_artist, play_track)
    uris: dict[tuple[int, int], str] = {}
    rows = []
    for a, t, ts, ts_text, ms, skip, r_start, r_end, plat, shuf, off, away in zip(
        play_artist.tolist(),
        play_track.tolist(),
        ts_s.tolist(),
        _iso(ts_s),
        ms_played.tolist(),
        skipped.tolist(),
        reason_start.tolist(),
        reason_end.tolist(),
        platform.tolist(),
        shuffle.tolist(),
        offline.tolist(),
        abroad.tolist(),
        strict=True,
    ):
        artist = artists[a]
        track = artist["tracks"][t]
        uri = uris.get((a, t))
        if uri is None:
            uri = uris.setdefault((a, t), spotify_uri("track", artist["name"], track["name"]))
        rows.append(
            {
                "ts": ts_text,
                "platform": plat,
                "ms_played": ms,
                "conn_country": "ES" if away else "GB",
                "ip_addr": None,
                "master_metadata_track_name": track["name"],
                "master_metadata_album_artist_name": artist["name"],
                "master_metadata_album_album_name": track.get("album") or track["name"],
                "spotify_track_uri": uri,
                "episode_name": None,
                "episode_show_name": None,
                "spotify_episode_uri": None,
                "audiobook_title": None,
                "audiobook_uri": None,
                "audiobook_chapter_uri": None,
                "audiobook_chapter_title": None,
                "reason_start": r_start,
                "reason_end": r_end,
                "shuffle": shuf,
                "skipped": skip,
                "offline": off,
                "offline_timestamp": ts - ms // 1000,
                "incognito_mode": False,
            }
        )
    return rows


def _unique_per_track(
    ts_s: np.ndarray, play_artist: np.ndarray, play_track: np.ndarray
) -> np.ndarray:
    """Nudge timestamps by whole seconds until no track has two plays at the same second."""
    ts_s = ts_s.copy()
    track_id = play_artist * 100 + play_track
    while True:
        order = np.lexsort((ts_s, track_id))
        same = (np.diff(track_id[order]) == 0) & (np.diff(ts_s[order]) == 0)
        if not same.any():
            return ts_s
        ts_s[order[1:][same]] += 1


def _podcast_rows(
    rng: np.random.Generator, n_rows: int, start_s: int, span_s: int
) -> list[dict[str, Any]]:
    ts_s = start_s + rng.integers(0, span_s, size=n_rows)
    rows = []
    for ts_text, pick, minutes in zip(
        _iso(ts_s),
        rng.integers(0, 9, size=n_rows).tolist(),
        rng.integers(3, 55, size=n_rows).tolist(),
        strict=True,
    ):
        show, episodes = _PODCAST_SHOWS[pick // 3]
        episode = episodes[pick % 3]
        rows.append(
            {
                "ts": ts_text,
                "platform": "android",
                "ms_played": minutes * 60_000,
                "conn_country": "GB",
                "ip_addr": None,
                "master_metadata_track_name": None,
                "master_metadata_album_artist_name": None,
                "master_metadata_album_album_name": None,
                "spotify_track_uri": None,
                "episode_name": episode,
                "episode_show_name": show,
                "spotify_episode_uri": spotify_uri("episode", show, episode),
                "audiobook_title": None,
                "audiobook_uri": None,
                "audiobook_chapter_uri": None,
                "audiobook_chapter_title": None,
                "reason_start": "clickrow",
                "reason_end": "endplay",
                "shuffle": False,
                "skipped": False,
                "offline": False,
                "offline_timestamp": None,
                "incognito_mode": False,
            }
        )
    return rows


def _export_file_name(rows: list[dict[str, Any]], index: int) -> str:
    first, last = rows[0]["ts"][:4], rows[-1]["ts"][:4]
    years = first if first == last else f"{first}-{last}"
    return f"{EXPORT_FOLDER}/Streaming_History_Audio_{years}_{index}.json"


def write_export_zip(rows: list[dict[str, Any]], path: Path | str) -> list[str]:
    """Write rows as Spotify delivers them: one folder of JSON arrays of <= 16,000 rows.

    Returns the names of the files written inside the zip.
    """
    names = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as export:
        for index, first in enumerate(range(0, len(rows), ROWS_PER_EXPORT_FILE)):
            chunk = rows[first : first + ROWS_PER_EXPORT_FILE]
            name = _export_file_name(chunk, index)
            # One row per line: readable like Spotify's pretty-printed files, C-encoder fast.
            body = ",\n  ".join(json.dumps(row, ensure_ascii=False) for row in chunk)
            export.writestr(name, f"[\n  {body}\n]")
            names.append(name)
    return names

"""Mood and context playlists from a prompt.

Prompt grammar (words in any order, case-insensitive; everything else is read for mood):
- a time of day: `morning`, `afternoon`, `evening`, `night` (the listener's own hour bands:
  tracks of the tastes they play then are favoured);
- familiarity: `new`, `fresh`, `discover` -> recommended artists only; `familiar`, `favourite(s)`,
  `my` -> the listener's own tracks only; neither -> mostly their own, some new;
- a length: `N songs` / `N tracks`, up to three words between (`20 chill new songs`; 1 to 100,
  default 25);
- mood and energy: any words the mood vocabulary knows (`fullcircle/moods.py`): "high energy",
  "chill", "sad", "upbeat", "not dark", genre words...

A track scores by how close its mood (track tags, else its artist's, else the estimate features
made from related tags and similar artists) is to the prompt's on the axes the prompt speaks of,
times how much the listener plays its taste in the asked context, times how much they play it at
all (familiar) or its recommendation score (new).

A mood is known under the kernel's rule (`MoodVector.known`). When a prompt asks a mood, a track
whose mood is unknown is not given a made-up middle fit (0.5 would rank it above every poor fit
and below every good one for no reason the listener could read): the tracks that fit
(`mood_fit` >= `FITS`) come first, then the tracks of unknown mood by context and listens (or
score) alone (their item's score has no mood factor), then the known misfits; each says which it
is ("mood fit 82%", "mood unknown").

Every row is a track. A recommended artist enters through one of its tracks
(`track_for_prompt`): the listener's own plays of it when they have some (with the Spotify URI
their history holds), else its Last.fm top tracks as enrich fetched them for the artists of the
listener's sets: the one whose own track tags fit the prompt best where those are known, else
the most played. An artist with no known track yet (enrich has not fetched its top tracks, or
Last.fm has none) is left out, never listed bare, and the playlist says how many were
(`playlist_of_tracks`, `left_out_note`): the model does not call Last.fm itself (enrich owns
it), and the tracks come within a minute of a new set, so asking again lists them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fullcircle.moods import MoodVector, mood_from_words

HOUR_BANDS = ("night", "morning", "afternoon", "evening")
NEW_WORDS = frozenset({"new", "fresh", "discover", "discovery", "unheard"})
FAMILIAR_WORDS = frozenset({"familiar", "favourite", "favourites", "favorite", "favorites", "my"})
_LENGTH = re.compile(r"\b(\d{1,3})\b(?:[\s,]+[a-z]+){0,3}?[\s,]+(?:songs?|tracks?)\b")
DEFAULT_LENGTH = 25
NEW_SHARE = 0.3  # of a mixed playlist
FITS = 0.5  # a mood fit from here on is a fit; below it, a known misfit
LASTFM_TOP_TRACKS = "lastfm_top_tracks"  # where a track comes from: the artist's top tracks
YOUR_PLAYS = "your_plays"  # or the listener's own plays


@dataclass(frozen=True)
class PlaylistPrompt:
    mood: MoodVector
    hour_band: str | None
    familiarity: str  # familiar, new, mixed
    length: int


@dataclass(frozen=True)
class TrackChoice:
    """A candidate: the listener's track (familiar) or a recommended artist (new) through one
    of its tracks (`track` empty: none known yet; such a candidate is left out)."""

    artist: str
    track: str
    track_uri: str
    familiar: bool
    weight: float  # listens (familiar) or recommendation score (new)
    mood: MoodVector
    taste: int | None
    source: str = YOUR_PLAYS  # LASTFM_TOP_TRACKS or YOUR_PLAYS
    mbid: str = ""  # MusicBrainz recording id, as Last.fm gives a top track's


@dataclass(frozen=True)
class ArtistTrack:
    """A track a recommended artist can enter a playlist through."""

    name: str
    track_uri: str
    plays: float  # its Last.fm playcount (LASTFM_TOP_TRACKS) or the listener's listens
    mood: MoodVector  # from its own track tags; unknown (confidence 0) without them
    source: str
    mbid: str = ""


@dataclass(frozen=True)
class PlaylistItem:
    choice: TrackChoice
    score: float
    reason: str


@dataclass(frozen=True)
class MadePlaylist:
    items: list[PlaylistItem]
    left_out: list[str]  # recommended artists it would list, left out for want of a track


def read_prompt(prompt: str) -> PlaylistPrompt:
    """The prompt's mood, context, familiarity and length (see the module docstring)."""
    text = prompt.lower()
    words = set(re.findall(r"[a-z']+", text))
    length_match = _LENGTH.search(text)
    length = int(length_match.group(1)) if length_match else DEFAULT_LENGTH
    hour_band = next((band for band in HOUR_BANDS if band in words), None)
    if words & NEW_WORDS and not words & FAMILIAR_WORDS:
        familiarity = "new"
    elif words & FAMILIAR_WORDS and not words & NEW_WORDS:
        familiarity = "familiar"
    else:
        familiarity = "mixed"
    return PlaylistPrompt(mood_from_words(text), hour_band, familiarity, max(1, min(100, length)))


def mood_fit(track: MoodVector, wanted: MoodVector) -> float | None:
    """1 for a perfect match on the axes the prompt speaks of, down to 0 (1 when the prompt
    asks no mood); None when the prompt asks one and the track's mood is unknown."""
    if wanted.confidence <= 0:
        return 1.0
    if not track.known:
        return None
    distance = math.sqrt(
        (
            (track.energy - wanted.energy) ** 2
            + (track.valence - wanted.valence) ** 2
            + (track.acoustic - wanted.acoustic) ** 2
        )
        / 3
    )
    return max(0.0, 1.0 - distance / 2.0) * (0.5 + 0.5 * track.confidence)


def mood_rank(fit: float | None) -> int:
    """0 for a fit, 1 for an unknown mood, 2 for a known misfit (the module docstring)."""
    if fit is None:
        return 1
    return 0 if fit >= FITS else 2


def known_mood(tags: MoodVector, estimated: MoodVector | None) -> MoodVector:
    """The mood a track is judged by: its tags' when known, else features' estimate."""
    if tags.known or estimated is None:
        return tags
    return estimated


def track_for_prompt(tracks: Sequence[ArtistTrack], wanted: MoodVector) -> ArtistTrack | None:
    """The track a recommended artist enters a playlist through (the module docstring): the
    listener's own plays of it first; among them or its Last.fm top tracks, the best fit where
    track tags are known (fits, then tracks of unknown mood, then known misfits, as the
    playlist ranks), the most played within each; None without any track."""
    own = [track for track in tracks if track.source == YOUR_PLAYS]
    candidates = own or list(tracks)

    def ranked(track: ArtistTrack) -> tuple[int, float, float, str]:
        fit = mood_fit(track.mood, wanted)
        return (mood_rank(fit), -(fit or 0.0), -track.plays, track.name)

    return min(candidates, key=ranked, default=None)


def recommended_choice(
    artist: str,
    score: float,
    taste: int | None,
    artist_mood: MoodVector,
    tracks: Sequence[ArtistTrack],
    wanted: MoodVector,
) -> TrackChoice:
    """A recommended artist as a candidate, through `track_for_prompt`'s track, judged by that
    track's mood where its tags give one, else the artist's (`track` empty: none known)."""
    track = track_for_prompt(tracks, wanted)
    if track is None:
        return TrackChoice(artist, "", "", False, score, artist_mood, taste, LASTFM_TOP_TRACKS)
    mood = track.mood if track.mood.known else artist_mood
    return TrackChoice(
        artist, track.name, track.track_uri, False, score, mood, taste, track.source, track.mbid
    )


def playlist_of_tracks(
    prompt: PlaylistPrompt,
    choices: Sequence[TrackChoice],
    context_shares: Mapping[int, float],
) -> MadePlaylist:
    """`build_playlist` over the candidates that have a track, and the recommended artists
    without one that it would have listed had their tracks been known (best first)."""
    items = build_playlist(prompt, [choice for choice in choices if choice.track], context_shares)
    wanted = build_playlist(prompt, choices, context_shares)
    left_out = [item.choice.artist for item in wanted if not item.choice.track]
    return MadePlaylist(items, list(dict.fromkeys(left_out)))


def left_out_note(left_out: Sequence[str]) -> str:
    """What the listener reads of the artists left out ("" when none was)."""
    if not left_out:
        return ""
    artists = "1 artist" if len(left_out) == 1 else f"{len(left_out)} artists"
    return (
        f"{artists} left out: no track known yet (their Last.fm top tracks are fetched"
        " soon after a new set; ask again in a minute)"
    )


def build_playlist(
    prompt: PlaylistPrompt,
    choices: Sequence[TrackChoice],
    context_shares: Mapping[int, float],
) -> list[PlaylistItem]:
    """The prompt's playlist: best fitting familiar tracks and new artists, one per artist
    as far as the candidates allow, no track twice."""
    scored = []
    for choice in choices:
        fit = mood_fit(choice.mood, prompt.mood)
        context = 0.5 + context_shares.get(choice.taste, 0.0) if choice.taste is not None else 0.5
        strength = math.log1p(choice.weight) if choice.familiar else 1.0 + choice.weight
        scored.append(((1.0 if fit is None else fit) * context * strength, fit, choice))
    scored.sort(key=lambda item: (mood_rank(item[1]), -item[0], item[2].artist, item[2].track))
    wanted_new = {"new": prompt.length, "familiar": 0}.get(
        prompt.familiarity, round(prompt.length * NEW_SHARE)
    )
    quotas = {True: prompt.length - wanted_new, False: wanted_new}
    picked: list[PlaylistItem] = []
    artists: set[str] = set()
    taken: set[int] = set()
    # a track listed once: a recommended artist the listener has plays of enters through
    # one of them, which is also among their own tracks
    tracks: set[tuple[str, str]] = set()
    # first one track per artist within the familiar/new split, then repeats, then any kind
    for repeat_artists, keep_split in ((False, True), (True, True), (True, False)):
        for index, (score, fit, choice) in enumerate(scored):
            if len(picked) == prompt.length:
                return picked
            if index in taken or (keep_split and quotas[choice.familiar] <= 0):
                continue
            if choice.artist.lower() in artists and not repeat_artists:
                continue
            track = (choice.artist.lower(), choice.track.lower())
            if choice.track and track in tracks:
                continue
            taken.add(index)
            tracks.add(track)
            quotas[choice.familiar] -= 1
            artists.add(choice.artist.lower())
            origin = "one of yours" if choice.familiar else "new to you"
            reason = ", ".join(filter(None, (origin, mood_words(choice.mood, prompt.mood, fit))))
            picked.append(PlaylistItem(choice, score, reason))
    return picked


def mood_words(track: MoodVector, wanted: MoodVector, fit: float | None) -> str:
    """How the track's mood meets the prompt, in words: a fit only where both are known."""
    if wanted.confidence <= 0:
        return ""
    if fit is None or not track.known:
        return "mood unknown"
    return f"mood fit {fit:.0%}"


def rerank_by_prompt(
    scores: Sequence[float],
    moods: Sequence[MoodVector],
    tastes: Sequence[int | None],
    prompt: PlaylistPrompt,
    context_shares: Mapping[int, float],
) -> list[int]:
    """Positions of a recommendation list, best first: fits, unknown moods, misfits (the
    module docstring), each by its score weighed by how well the artist's mood fits the prompt
    and how much its taste is played in the asked context."""

    def ranked(i: int) -> tuple[int, float, int]:
        taste = tastes[i]
        context = context_shares.get(taste, 0.0) if taste is not None else 0.0
        fit = mood_fit(moods[i], prompt.mood)
        weighed = scores[i] * (0.25 + (1.0 if fit is None else fit)) * (0.5 + context)
        return (mood_rank(fit), -weighed, i)

    return sorted(range(len(scores)), key=ranked)

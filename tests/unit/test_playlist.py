"""Playlists from prompts: the grammar, and tracks chosen by mood, context and familiarity."""

from __future__ import annotations

from fullcircle.moods import mood_vector
from fullcircle.v1 import common_pb2
from services.model.domain.playlist import (
    LASTFM_TOP_TRACKS,
    YOUR_PLAYS,
    ArtistTrack,
    TrackChoice,
    build_playlist,
    known_mood,
    left_out_note,
    playlist_of_tracks,
    read_prompt,
    recommended_choice,
    rerank_by_prompt,
    track_for_prompt,
)
from tools.cli.app import context_mood_words, mood_coverage_words, prompt_mood_words


def choice(artist: str, tags: list[tuple[str, float]], familiar: bool = True, taste: int = 1):  # type: ignore[no-untyped-def]
    return TrackChoice(artist, f"{artist} song", "", familiar, 10.0, mood_vector(tags), taste)


def test_the_prompt_grammar() -> None:
    morning = read_prompt("High energy morning music")
    assert morning.hour_band == "morning" and morning.familiarity == "mixed"
    assert morning.mood.energy > 0.3 and morning.length == 25
    calm = read_prompt("12 songs, chill and new, for the night")
    assert (calm.hour_band, calm.familiarity, calm.length) == ("night", "new", 12)
    assert calm.mood.energy < 0
    assert read_prompt("my favourites").familiarity == "familiar"


def test_energetic_tracks_win_an_energetic_prompt_and_the_split_holds() -> None:
    loud = [choice(f"Loud {i}", [("energetic", 100), ("metal", 80)]) for i in range(5)]
    soft = [choice(f"Soft {i}", [("ambient", 100), ("calm", 90)]) for i in range(5)]
    new = [choice(f"New {i}", [("party", 100)], familiar=False) for i in range(5)]
    prompt = read_prompt("10 songs high energy")
    picked = build_playlist(prompt, [*soft, *loud, *new], {})
    assert len(picked) == 10
    familiar = [item.choice.artist for item in picked if item.choice.familiar]
    assert set(familiar[:5]) == {f"Loud {i}" for i in range(5)}
    assert sum(1 for item in picked if not item.choice.familiar) == 3  # 30% new
    only_new = build_playlist(read_prompt("5 new songs"), [*loud, *new], {})
    assert all(not item.choice.familiar for item in only_new)


def test_the_context_favours_the_tastes_played_then() -> None:
    morning_taste = [choice(f"A{i}", [("rock", 100)], taste=1) for i in range(3)]
    night_taste = [choice(f"B{i}", [("rock", 100)], taste=2) for i in range(3)]
    picked = build_playlist(
        read_prompt("3 songs morning"), [*night_taste, *morning_taste], {1: 0.9, 2: 0.1}
    )
    assert {item.choice.taste for item in picked} == {1}


def test_a_prompt_reranks_recommendations_by_mood_and_context() -> None:
    from services.model.domain.playlist import rerank_by_prompt

    moods = [mood_vector([("ambient", 100), ("calm", 90)]), mood_vector([("energetic", 100)])]
    calm_first = rerank_by_prompt([1.0, 1.0], moods, [None, None], read_prompt("chill"), {})
    loud_first = rerank_by_prompt([1.0, 1.0], moods, [None, None], read_prompt("high energy"), {})
    assert (calm_first, loud_first) == ([0, 1], [1, 0])
    by_context = rerank_by_prompt(
        [1.0, 1.0], [moods[0], moods[0]], [1, 2], read_prompt("night"), {1: 0.1, 2: 0.9}
    )
    assert by_context == [1, 0]


def test_a_track_of_unknown_mood_says_so_and_never_shows_a_fit_number() -> None:
    known = choice("Known", [("energetic", 100), ("metal", 80)])
    unknown = choice("Untagged", [])  # no tags: no mood estimate
    assert unknown.mood.confidence == 0
    reasons = {
        item.choice.artist: item.reason
        for item in build_playlist(read_prompt("2 songs high energy"), [known, unknown], {})
    }
    assert reasons["Untagged"] == "one of yours, mood unknown"
    assert reasons["Known"].startswith("one of yours, mood fit ")
    assert reasons["Known"] != "one of yours, mood fit 50%"
    # a prompt without a mood judges none: no fit, known or not
    plain = build_playlist(read_prompt("2 songs"), [known, unknown], {})
    assert {item.reason for item in plain} == {"one of yours"}


def test_an_unknown_mood_ranks_between_fits_and_misfits_not_as_a_middle_score() -> None:
    calm = choice("Calm", [("calm", 100), ("ambient", 80)])
    loud = choice("Loud", [("aggressive", 100), ("death metal", 80)])
    # an unknown mood played far more than the others: a 0.5 fit times its listens would
    # put it first; it is not judged, so fits still come first and misfits after it
    unknown = TrackChoice("Untagged", "Untagged song", "", True, 10_000.0, mood_vector([]), 1)
    prompt = read_prompt("3 songs chill")
    playlist = build_playlist(prompt, [loud, unknown, calm], {})
    assert [item.choice.artist for item in playlist] == ["Calm", "Untagged", "Loud"]
    assert [item.reason for item in playlist] == [
        playlist[0].reason,
        "one of yours, mood unknown",
        playlist[2].reason,
    ]
    assert playlist[0].reason.startswith("one of yours, mood fit ")
    moods = [loud.mood, unknown.mood, calm.mood]
    assert rerank_by_prompt([1.0, 100.0, 1.0], moods, [None] * 3, prompt, {}) == [2, 1, 0]


def test_a_track_without_mood_tags_is_judged_by_the_estimate_features_made() -> None:
    untagged = mood_vector([])
    estimated = mood_vector([("calm", 100)])
    assert known_mood(untagged, None) == untagged
    assert known_mood(untagged, estimated) == estimated
    tagged = mood_vector([("energetic", 100)])
    assert known_mood(tagged, estimated) == tagged  # its own tags win
    track = TrackChoice("Quiet One", "Hush", "", True, 10.0, known_mood(untagged, estimated), 1)
    (item,) = build_playlist(read_prompt("1 song chill"), [track], {})
    assert item.reason.startswith("one of yours, mood fit ")


def test_the_cli_says_mood_unknown_and_no_mood_asked_instead_of_zeros() -> None:
    unknown = common_pb2.ContextProfile(kind="hour_band", context="night", listens=40)
    assert context_mood_words(unknown) == "mood unknown"
    known = common_pb2.ContextProfile(
        kind="hour_band", context="night", listens=40, mood_coverage=0.5, energy=-0.42
    )
    assert context_mood_words(known) == "energy -0.4, valence +0.0 (50% of listens known)"
    assert prompt_mood_words(common_pb2.Playlist(prompt="20 songs")) == "no mood asked"
    asked = common_pb2.Playlist(prompt="chill", energy=-0.6, valence=0.3, mood_confidence=1.0)
    assert prompt_mood_words(asked) == "energy -0.6, valence +0.3"
    coverage = common_pb2.MoodCoverage(listens=1_200, before=0.12, after=0.16)
    assert mood_coverage_words(coverage).startswith("moods known for 16% of 1,200 listens (12%")


def top_track(name: str, plays: float, tags: list[tuple[str, float]] | None = None) -> ArtistTrack:
    return ArtistTrack(name, "", plays, mood_vector(tags or []), LASTFM_TOP_TRACKS)


def test_a_recommended_artist_enters_through_its_best_fitting_else_most_played_track() -> None:
    loud = mood_vector([("energetic", 100), ("metal", 80)])
    tracks = [
        top_track("Hit", 9_000),
        top_track("Ballad", 5_000, [("calm", 100), ("ambient", 90)]),
        top_track("Banger", 1_000, [("energetic", 100), ("party", 90)]),
    ]
    energetic = read_prompt("high energy").mood
    assert track_for_prompt(tracks, energetic) == tracks[2]  # the fit, though least played
    # a known misfit ranks after a track of unknown mood
    assert track_for_prompt(tracks[:2], energetic) == tracks[0]
    assert track_for_prompt(tracks, read_prompt("chill").mood) == tracks[1]
    # no mood asked, or no track tags known: the most played
    assert track_for_prompt(tracks, read_prompt("20 songs").mood) == tracks[0]
    untagged = [top_track("B side", 10), top_track("Single", 700)]
    assert track_for_prompt(untagged, energetic) == untagged[1]
    assert track_for_prompt([], energetic) is None
    # the listener's own plays of the artist come first, with their Spotify URI
    own = ArtistTrack(
        "Mine", "spotify:track:6rqhFgbbKwnb9MLmUQDhG6", 3, mood_vector([]), YOUR_PLAYS
    )
    picked = recommended_choice("Band", 0.9, None, loud, [*tracks, own], energetic)
    assert (picked.track, picked.track_uri, picked.source) == (own.name, own.track_uri, YOUR_PLAYS)
    assert picked.mood == loud  # its track has no tags: judged by the artist's mood
    by_track = recommended_choice("Band", 0.9, None, mood_vector([]), tracks, energetic)
    assert (by_track.track, by_track.mood) == ("Banger", tracks[2].mood)


def test_every_row_is_a_track_and_the_artists_without_one_are_counted() -> None:
    energetic = [("energetic", 100), ("party", 90)]
    mine = [choice(f"Mine {i}", energetic) for i in range(8)]
    prompt = read_prompt("10 songs high energy")
    artist_mood = mood_vector(energetic)
    with_tracks = [
        recommended_choice(
            f"New {i}", 1.0, 1, artist_mood, [top_track(f"Top {i}", 100)], prompt.mood
        )
        for i in range(2)
    ]
    bare = [recommended_choice(f"Bare {i}", 2.0, 1, artist_mood, [], prompt.mood) for i in range(4)]
    assert all(not choice.track for choice in bare)
    made = playlist_of_tracks(prompt, [*mine, *with_tracks, *bare], {})
    assert len(made.items) == 10 and all(item.choice.track for item in made.items)
    # three new places (30%): the bare artists scored higher, so they would have taken them
    assert made.left_out == ["Bare 0", "Bare 1", "Bare 2"]
    new = [item.choice for item in made.items if not item.choice.familiar]
    assert {choice.track for choice in new} == {"Top 0", "Top 1"}
    assert {choice.source for choice in new} == {LASTFM_TOP_TRACKS}
    assert left_out_note(made.left_out).startswith("3 artists left out: no track known yet")
    assert left_out_note(["Bare 0"]).startswith("1 artist left out")
    assert left_out_note([]) == ""
    # none of the tracks known and no plays of one's own: an empty playlist, all left out
    empty = playlist_of_tracks(read_prompt("5 new songs"), bare, {})
    assert (empty.items, len(empty.left_out)) == ([], 4)


def test_a_track_is_listed_once_even_as_a_recommended_artists_own_play() -> None:
    mood = mood_vector([("energetic", 100)])
    mine = TrackChoice("Band", "Song", "spotify:track:1", True, 50.0, mood, 1)
    own = ArtistTrack("Song", "spotify:track:1", 50.0, mood_vector([]), YOUR_PLAYS)
    recommended = recommended_choice("Band", 1.0, 1, mood, [own], mood)
    other = TrackChoice("Other", "Tune", "", True, 5.0, mood, 1)
    made = playlist_of_tracks(read_prompt("3 songs"), [mine, recommended, other], {})
    assert sorted((item.choice.artist, item.choice.track) for item in made.items) == [
        ("Band", "Song"),
        ("Other", "Tune"),
    ]

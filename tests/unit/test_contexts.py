"""Context profiles and taste evolution: when, where and in what mood each taste is played."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from fullcircle.v1 import common_pb2
from services.features.domain.clusters import TasteCluster, cluster_tastes
from services.features.domain.contexts import (
    ArtistHabit,
    ContextProfile,
    artist_habits,
    context_profiles,
    taste_evolution,
)
from services.features.domain.details import taste_details
from services.features.domain.moods import vocabulary_moods
from services.features.domain.taste import PlayColumns
from services.features.servicer import _context_mood
from services.ingest.domain.exports import read_export_path

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SANABIL_ZIP = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
EFRROWINI = SHARED_DATA / "spotify-history-efrrowini"


def taste(cluster_id: int, *artists: str) -> TasteCluster:
    return TasteCluster(cluster_id, artists[0], artists, 0, 0, 0.0, 0.0, "steady", None, {})


TASTES = [taste(1, "Nils Frahm", "Ólafur Arnalds"), taste(2, "Daft Punk")]


def history(rows: list[tuple[str, str, int]]) -> PlayColumns:
    """(artist, UTC time 'YYYY-MM-DD HH:MM', ms played) rows."""
    return PlayColumns(
        artist=[r[0] for r in rows],
        ended_at_s=np.array(
            [datetime.fromisoformat(r[1]).replace(tzinfo=UTC).timestamp() for r in rows]
        ),
        ms_played=np.array([r[2] for r in rows], dtype=np.int64),
        skipped=np.zeros(len(rows), dtype=bool),
    )


# 2024-03-01 is a Friday. Karachi is UTC+5 all year.
TINY = history(
    [
        ("Nils Frahm", "2024-03-01 02:00", 200_000),  # Fri 07:00 local: morning, weekday
        ("Ólafur Arnalds", "2024-03-01 03:00", 200_000),  # Fri 08:00: morning, weekday
        ("Daft Punk", "2024-03-01 16:00", 200_000),  # Fri 21:00: evening, weekday
        ("Daft Punk", "2024-03-01 20:30", 200_000),  # Sat 01:30: night, weekend
        ("Nils Frahm", "2024-03-02 20:30", 10_000),  # a skip: ignored
        ("Daft Punk", "2024-05-03 09:00", 200_000),  # Fri 14:00 in May: afternoon, weekday
    ]
)


def by_context(profiles: list[ContextProfile]) -> dict[tuple[str, str], ContextProfile]:
    return {(p.kind, p.context): p for p in profiles}


def test_hour_bands_and_weekends_are_in_the_listeners_time_zone() -> None:
    profiles = by_context(
        context_profiles(
            TINY,
            TASTES,
            time_zone="Asia/Karachi",
            platforms=["ios", "ios", None, "ios", "ios", "web"],
        )
    )
    assert set(profiles) == {
        ("hour_band", "night"),
        ("hour_band", "morning"),
        ("hour_band", "afternoon"),
        ("hour_band", "evening"),
        ("day_type", "weekday"),
        ("day_type", "weekend"),
        ("platform", "ios"),
        ("platform", "unknown"),
        ("platform", "web"),
    }
    assert profiles[("hour_band", "morning")].cluster_shares == {1: 1.0}
    assert profiles[("hour_band", "night")].cluster_shares == {2: 1.0}
    assert profiles[("day_type", "weekday")].listens == 4
    assert profiles[("day_type", "weekday")].cluster_shares == {1: 0.5, 2: 0.5}
    assert profiles[("day_type", "weekend")].top_artists == ("Daft Punk",)
    assert profiles[("platform", "ios")].listens == 3


def test_in_utc_the_same_plays_fall_in_other_bands() -> None:
    profiles = by_context(context_profiles(TINY, TASTES))
    assert profiles[("hour_band", "night")].listens == 2  # 02:00 and 03:00 UTC
    assert ("day_type", "weekend") not in profiles


def test_mean_mood_per_context_counts_only_artists_with_a_mood() -> None:
    moods = {"Nils Frahm": (-0.8, 0.2, 0.9), "Ólafur Arnalds": (-0.6, 0.0, 0.7)}
    profiles = by_context(
        context_profiles(TINY, TASTES, time_zone="Asia/Karachi", artist_moods=moods)
    )
    morning = profiles[("hour_band", "morning")].mood
    assert morning is not None
    assert (morning.energy, morning.valence, morning.acoustic) == pytest.approx((-0.7, 0.1, 0.8))
    assert morning.coverage == 1.0
    assert profiles[("hour_band", "night")].mood is None
    weekday = profiles[("day_type", "weekday")].mood
    assert weekday is not None and weekday.coverage == pytest.approx(0.5)


def test_evolution_has_every_month_even_silent_ones() -> None:
    months = taste_evolution(
        TINY, TASTES, datetime(2024, 6, 15, tzinfo=UTC), time_zone="Asia/Karachi"
    )
    assert [m.month for m in months] == [date(2024, m, 1) for m in (3, 4, 5, 6)]
    assert [m.listens for m in months] == [4, 0, 1, 0]
    assert months[0].cluster_shares == {1: 0.5, 2: 0.5}
    assert months[1].cluster_shares == {} and months[1].top_artists == ()
    assert months[2].top_artists == ("Daft Punk",)


@pytest.mark.parametrize(
    "export",
    [
        pytest.param(SANABIL_ZIP, id="sanabil"),
        pytest.param(EFRROWINI, id="efrrowini"),
    ],
)
def test_real_histories_give_whole_distributions_and_contiguous_months(export: Path) -> None:
    if not export.exists():
        pytest.skip(f"{export} absent")
    plays = [p for p in read_export_path(export).plays if p.artist_name]
    columns = PlayColumns(
        artist=[p.artist_name or "" for p in plays],
        ended_at_s=np.array([p.ended_at.timestamp() for p in plays]),
        ms_played=np.array([p.ms_played for p in plays], dtype=np.int64),
        skipped=np.array([bool(p.skipped) for p in plays]),
    )
    as_of = max(p.ended_at for p in plays)
    tastes = cluster_tastes(columns, as_of)
    profiles = context_profiles(
        columns, tastes, platforms=[p.platform for p in plays], time_zone="Asia/Karachi"
    )
    listens = int((columns.ms_played >= 30_000).sum())
    for kind in ("hour_band", "day_type", "platform"):
        assert sum(p.listens for p in profiles if p.kind == kind) == listens
    for profile in profiles:
        assert sum(profile.cluster_shares.values()) == pytest.approx(1.0)
    months = taste_evolution(columns, tastes, as_of)
    assert months[0].listens > 0 and months[-1].month == date(as_of.year, as_of.month, 1)
    for before, after in itertools.pairwise(months):
        assert (after.month.year * 12 + after.month.month) - (
            before.month.year * 12 + before.month.month
        ) == 1
    assert sum(m.listens for m in months) == listens
    for month in months:
        if month.listens:
            assert sum(month.cluster_shares.values()) == pytest.approx(1.0)


# Tags as enrich stores them (Last.fm top tags, 0-100); "seen live" carries no mood.
ARTIST_TAGS = {
    "Nils Frahm": {"ambient": 100.0, "piano": 70.0, "calm": 60.0},
    "Ólafur Arnalds": {"ambient": 100.0, "melancholic": 80.0, "classical": 40.0},
    "Daft Punk": {"electronic": 100.0, "house": 90.0, "dance": 80.0, "energetic": 40.0},
    "The Unplaced": {"seen live": 100.0},
}


def artist_moods_from_tags(
    artist_tags: dict[str, dict[str, float]],
) -> dict[str, tuple[float, float, float]]:
    return {artist: mood.axes for artist, mood in vocabulary_moods(artist_tags).items()}


def test_artist_moods_come_from_tags_the_vocabulary_knows() -> None:
    moods = artist_moods_from_tags(ARTIST_TAGS)
    assert set(moods) == {"Nils Frahm", "Ólafur Arnalds", "Daft Punk"}
    assert moods["Nils Frahm"][0] < -1 / 3 < 1 / 3 < moods["Daft Punk"][0]
    assert moods["Ólafur Arnalds"][1] < 0  # melancholic pulls valence down
    assert moods["Daft Punk"][2] < 0  # electronic, not acoustic


def test_contexts_are_distributions_over_energy_and_valence_bands() -> None:
    profiles = by_context(
        context_profiles(
            TINY, TASTES, time_zone="Asia/Karachi", artist_moods=artist_moods_from_tags(ARTIST_TAGS)
        )
    )
    morning = profiles[("hour_band", "morning")].mood
    assert morning is not None
    assert morning.energy_shares == {"calm": 1.0, "moderate": 0.0, "intense": 0.0}
    evening = profiles[("hour_band", "evening")].mood
    assert evening is not None
    assert evening.energy_shares == {"calm": 0.0, "moderate": 0.0, "intense": 1.0}
    weekday = profiles[("day_type", "weekday")].mood  # two calm morning, two Daft Punk listens
    assert weekday is not None and weekday.coverage == 1.0
    assert weekday.energy_shares == {"calm": 0.5, "moderate": 0.0, "intense": 0.5}
    assert sum(weekday.valence_shares.values()) == pytest.approx(1.0)
    moods = artist_moods_from_tags(ARTIST_TAGS)
    listened = ("Nils Frahm", "Ólafur Arnalds", "Daft Punk", "Daft Punk")
    assert weekday.energy == pytest.approx(np.mean([moods[a][0] for a in listened]))


def test_band_edges_belong_to_the_lower_band() -> None:
    moods = {"Nils Frahm": (-1 / 3, 1 / 3, 0.0), "Ólafur Arnalds": (1 / 3, -1 / 3, 0.0)}
    profiles = by_context(
        context_profiles(TINY, TASTES, time_zone="Asia/Karachi", artist_moods=moods)
    )
    morning = profiles[("hour_band", "morning")].mood
    assert morning is not None
    assert morning.energy_shares == {"calm": 0.5, "moderate": 0.5, "intense": 0.0}
    assert morning.valence_shares == {"dark": 0.5, "neutral": 0.5, "bright": 0.0}


def test_stored_contexts_carry_their_mood_into_get_taste_profile() -> None:
    details = taste_details(
        TINY, ["ios"] * len(TINY.artist), datetime(2024, 6, 1, tzinfo=UTC), ARTIST_TAGS
    )
    assert json.loads(json.dumps(details)) == details
    stored = {(c["kind"], c["context"]): c for c in details["contexts"]}
    # In UTC the two calm listens of Friday 02:00 and 03:00 are the night's.
    assert stored[("hour_band", "night")]["mood"]["energy_shares"]["calm"] == 1.0
    message = common_pb2.ContextProfile(
        kind="hour_band",
        context="night",
        **_context_mood(stored[("hour_band", "night")]["mood"]),
    )
    assert message.mood_coverage == 1.0 and message.energy < 0
    assert dict(message.energy_shares) == {"calm": 1.0, "moderate": 0.0, "intense": 0.0}
    untagged = taste_details(TINY, ["ios"] * len(TINY.artist), datetime(2024, 6, 1, tzinfo=UTC), {})
    assert all("mood" not in c for c in untagged["contexts"])
    assert common_pb2.ContextProfile(**_context_mood(None)).mood_coverage == 0.0


def test_an_artists_own_hour_band_and_recent_listens_are_in_the_listeners_zone() -> None:
    # São Paulo is UTC-3 all year (no daylight saving since 2019): 01:30 UTC is 22:30 there.
    burial = [("Burial", f"2024-03-{day:02d} 01:30", 200_000) for day in range(1, 7)]
    # The listener's usual hours: mornings (12:00 UTC = 09:00 local), some evenings.
    usual = [("Nils Frahm", f"2024-03-{day:02d} 12:00", 200_000) for day in range(1, 21)]
    usual += [("Daft Punk", f"2024-0{month}-10 12:00", 200_000) for month in (1, 2)]
    usual += [("Daft Punk", "2024-03-20 22:00", 200_000)]  # 19:00 local: evening
    habits = artist_habits(history(burial + usual), "America/Sao_Paulo")
    assert habits["Burial"] == ArtistHabit(recent_listens=6, hour_band="evening")
    # mornings are when the listener plays most (22 of 29): no artist's own band
    assert habits["Nils Frahm"] == ArtistHabit(recent_listens=20, hour_band="")
    # 2 of Daft Punk's 3 listens are older than the last 30 days, and 3 are too few for a band
    assert habits["Daft Punk"] == ArtistHabit(recent_listens=1, hour_band="")
    # In UTC, Burial's plays fall at night instead.
    assert artist_habits(history(burial + usual))["Burial"].hour_band == "night"


def test_a_band_the_listener_always_plays_in_is_no_artists_own() -> None:
    # Every listen is in the evening: no artist is an "evening" artist more than the listener.
    rows = [
        (artist, f"2024-03-{day:02d} 19:00", 200_000)
        for artist in ("Burial", "Nils Frahm")
        for day in range(1, 11)
    ]
    habits = artist_habits(history(rows))
    assert {habit.hour_band for habit in habits.values()} == {""}
    assert artist_habits(history([("Burial", "2024-03-01 19:00", 1_000)])) == {}

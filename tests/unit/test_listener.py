"""The listener as of time t on a real export (efrrowini): only the plays before t count, the
view at a cutoff is the view of the plays before it, and one listen threshold decides the
stats, the tastes, the contexts and the evolution alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from services.features.domain.listener import ListenRules, listener_as_of
from services.features.domain.taste import PlayColumns, skip_flags
from services.ingest.domain.exports import read_export_path

EFRROWINI = Path(__file__).resolve().parents[2].parent / "shared/data/spotify-history-efrrowini"
CUTOFF = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def history() -> tuple[PlayColumns, list[str | None]]:
    plays = [p for p in read_export_path(EFRROWINI).plays if p.artist_name]
    columns = PlayColumns(
        artist=[p.artist_name or "" for p in plays],
        ended_at_s=np.array([p.ended_at.timestamp() for p in plays]),
        ms_played=np.array([p.ms_played for p in plays], dtype=np.int64),
        skipped=skip_flags([p.skipped for p in plays], [p.reason_end for p in plays]),
    )
    return columns, [p.platform for p in plays]


def _first(plays: PlayColumns, n: int) -> PlayColumns:
    return PlayColumns(
        list(plays.artist[:n]), plays.ended_at_s[:n], plays.ms_played[:n], plays.skipped[:n]
    )


def test_the_listener_at_a_cutoff_is_the_listener_of_the_plays_before_it(
    history: tuple[PlayColumns, list[str | None]],
) -> None:
    plays, platforms = history
    before = int((plays.ended_at_s < CUTOFF.timestamp()).sum())
    assert 0 < before < len(plays.artist)
    tags = {artist: {"indie": 100.0, artist[:1].lower(): 50.0} for artist in set(plays.artist)}
    rules = ListenRules()
    at_cutoff = listener_as_of(plays, CUTOFF, tags, rules, platforms=platforms)
    past_only = listener_as_of(
        _first(plays, before), CUTOFF, tags, rules, platforms=platforms[:before]
    )
    assert at_cutoff == past_only
    assert at_cutoff.details is not None and at_cutoff.details["clusters"]
    later = {s.artist for s in listener_as_of(plays, datetime.now(UTC), tags, rules).stats}
    assert {s.artist for s in at_cutoff.stats} < later


def test_a_play_ending_at_the_cutoff_is_not_before_it() -> None:
    plays = PlayColumns(
        ["Early", "At the cutoff"],
        np.array([CUTOFF.timestamp() - 60, CUTOFF.timestamp()]),
        np.array([200_000, 200_000], dtype=np.int64),
        np.zeros(2, dtype=bool),
    )
    listener = listener_as_of(plays, CUTOFF, {}, ListenRules())
    assert [s.artist for s in listener.stats] == ["Early"]


def test_one_listen_threshold_decides_stats_tastes_contexts_and_evolution(
    history: tuple[PlayColumns, list[str | None]],
) -> None:
    plays, platforms = history
    as_of = datetime(2026, 6, 1, tzinfo=UTC)
    for min_listen_ms in (30_000, 120_000):
        listener = listener_as_of(
            plays, as_of, {}, ListenRules(min_listen_ms=min_listen_ms), platforms=platforms
        )
        assert listener.details is not None
        is_listen = plays.ms_played >= min_listen_ms
        listened = set(np.asarray(plays.artist, dtype=object)[is_listen])
        assert sum(s.listens for s in listener.stats) == is_listen.sum()
        assert sum(c["size"] for c in listener.details["clusters"]) == len(listened)
        for kind in ("hour_band", "day_type", "platform"):
            contexts = [c for c in listener.details["contexts"] if c["kind"] == kind]
            assert sum(c["listens"] for c in contexts) == is_listen.sum(), kind
        assert sum(m["listens"] for m in listener.details["evolution"]) == is_listen.sum()
    assert (plays.ms_played >= 30_000).sum() > (plays.ms_played >= 120_000).sum()


def test_a_play_ended_by_the_forward_button_is_a_skip_flagged_or_not() -> None:
    flags = skip_flags(
        [True, False, None, None, False], ["trackdone", "fwdbtn", "fwdbtn", None, None]
    )
    assert flags.tolist() == [True, True, True, False, False]

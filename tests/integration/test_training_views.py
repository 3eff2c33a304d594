"""The listener as of a cutoff on a real PostgreSQL, from a real export (sanabil, 22,671 plays)
stored through ingest: the training view features' Tastes serves the model is the profile
features serves, computed from only the plays before the cutoff; features' listen threshold and
skip rule (with the forward button) decide it; the model's training view is that one."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from fullcircle.bus import Bus
from fullcircle.settings import FullCircleSettings
from fullcircle.v1 import features_pb2, features_pb2_grpc
from services.features.app import ProfileBuilder
from services.features.domain.listener import ListenRules
from services.features.settings import FeaturesSettings
from services.ingest.adapters import store as ingest_store
from services.ingest.domain.announce import import_report
from services.ingest.domain.exports import ParsedExport, read_export_path
from services.model.adapters import learning_store
from services.model.adapters import store as model_store
from services.model.adapters.learning_store import PoolLimits
from services.model.adapters.tastes import TastesClient

pytestmark = pytest.mark.integration

TAGS = ("pop", "rock", "hip hop", "punjabi", "indie", "sufi", "lofi", "ghazal", "k-pop", "rnb")


async def store_plays(pool: Any, user_id: uuid.UUID, export: ParsedExport) -> None:
    import_id = uuid.uuid4()
    await ingest_store.start_import(pool, import_id, user_id, "my_spotify_data.zip")

    async def on_chunk(stored: int) -> None:
        pass

    await ingest_store.store_export(
        pool,
        user_id,
        import_id,
        lambda _hand: export,
        chunk_rows=5_000,
        report_of=import_report,
        on_chunk=on_chunk,
    )


async def tag_artists(pool: Any, artists: set[str]) -> None:
    """Last.fm-like tags in enrich's table: two or three of TAGS per artist, fixed by its name."""
    rows = []
    for artist in sorted(artists):
        digest = hashlib.sha256(artist.lower().encode()).digest()
        for rank, byte in enumerate(digest[: 2 + digest[3] % 2]):
            rows.append((artist.lower(), TAGS[byte % len(TAGS)], 100 - 35 * rank))
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO enrich.artists (artist_key, name, status) VALUES (%s, %s, 'ok')"
            " ON CONFLICT DO NOTHING",
            [(artist.lower(), artist) for artist in sorted(artists)],
        )
        await cur.executemany(
            "INSERT INTO enrich.artist_tags (artist_key, tag, weight) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            rows,
        )


async def training_view(
    address: str, user_id: uuid.UUID, cutoff: datetime, **limits: int
) -> features_pb2.TrainingView:
    async with grpc.aio.insecure_channel(address) as channel:
        view: features_pb2.TrainingView = await features_pb2_grpc.TastesStub(
            channel
        ).GetTrainingView(
            features_pb2.TrainingViewRequest(
                user_id=str(user_id), cutoff=cutoff.isoformat(), **limits
            ),
            timeout=30,
        )
    return view


async def sql_counts(
    pool: Any, user_id: uuid.UUID, cutoff: datetime, min_listen_ms: int
) -> dict[str, tuple[int, int, int]]:
    """Artist -> (plays, listens, skips) before the cutoff, straight from ingest's rows: a skip
    is flagged, ended by the forward button, or shorter than the threshold."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT artist_name, count(*), count(*) FILTER (WHERE ms_played >= %(listen)s),
                      count(*) FILTER (WHERE skipped IS TRUE OR reason_end = 'fwdbtn'
                                       OR ms_played < %(listen)s)
               FROM ingest.plays WHERE user_id = %(user)s AND ended_at < %(cutoff)s
                 AND artist_name IS NOT NULL GROUP BY artist_name""",
            {"listen": min_listen_ms, "user": user_id, "cutoff": cutoff},
        )
        rows = await cur.fetchall()
    return {name: (int(plays), int(listens), int(skips)) for name, plays, listens, skips in rows}


@pytest.fixture(scope="module")
def sanabil(shared_data: Path) -> ParsedExport:
    return read_export_path(shared_data / "spotify-history-sanabil/my_spotify_data.zip")


async def test_a_training_view_is_the_served_view_of_the_plays_before_its_cutoff(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, sanabil: ParsedExport
) -> None:
    cutoff = sanabil.plays[int(len(sanabil.plays) * 0.7)].ended_at
    before = [play for play in sanabil.plays if play.ended_at < cutoff]
    listener, past_only = uuid.uuid4(), uuid.uuid4()
    await store_plays(pool, listener, sanabil)
    await store_plays(
        pool,
        past_only,
        ParsedExport(sanabil.format, before, sanabil.files, sanabil.ignored_files),
    )
    await tag_artists(pool, {play.artist_name for play in sanabil.plays if play.artist_name})
    features_settings = FeaturesSettings(
        database_url=settings.database_url, redis_url=settings.redis_url
    )
    # features serving the listener who has only the plays before the cutoff, at the cutoff
    bus = Bus(settings, "features")
    await bus.start()
    try:
        builder = ProfileBuilder(
            SimpleNamespace(pool=pool, bus=bus),  # type: ignore[arg-type]
            features_settings,
            clock=lambda: cutoff,
        )
        await builder.refresh(past_only, cutoff, "plays")
    finally:
        await bus.stop()
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name, plays, listens, skips, ms_played, decayed_weight, endorsement,"
            " first_listen, last_listen FROM features.artist_stats WHERE user_id = %s",
            (past_only,),
        )
        served = {row[0]: row[1:] for row in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT tag, weight FROM features.tag_profile WHERE user_id = %s"
            " ORDER BY weight DESC, tag",
            (past_only,),
        )
        served_tags = await cur.fetchall()

    address = await tastes_server(features_settings.listen_rules())
    view = await training_view(address, listener, cutoff)

    assert view.artists == len(view.artist_stats) == len(served) > 300
    # both weighed the artists with the listener's own fitted recency model, and say so
    async with grpc.aio.insecure_channel(address) as channel:
        profile = await features_pb2_grpc.TastesStub(channel).GetTasteProfile(
            features_pb2.TasteProfileRequest(user_id=str(past_only)), timeout=10
        )
    assert view.recency_fitted and profile.recency_fitted
    assert view.recency == profile.recency and view.recency.startswith("fitted to your history")
    assert all(0 <= s.decayed_weight <= 1 for s in view.artist_stats)
    assert [s.decayed_weight for s in view.artist_stats] == sorted(
        (s.decayed_weight for s in view.artist_stats), reverse=True
    )
    for stat in view.artist_stats:
        plays, listens, skips, ms_played, weight, endorsement, first, last = served[stat.artist]
        assert (stat.plays, stat.listens, stat.skips, stat.ms_played) == (
            plays,
            listens,
            skips,
            ms_played,
        ), stat.artist
        assert stat.decayed_weight == pytest.approx(weight, rel=1e-9, abs=1e-12)
        assert stat.endorsement == pytest.approx(endorsement, rel=1e-9, abs=1e-12)
        assert stat.first_listen == (first.isoformat() if first else "")
        assert stat.last_listen == (last.isoformat() if last else "")
    assert [tag.tag for tag in view.top_tags] == [tag for tag, _ in served_tags]
    assert [tag.weight for tag in view.top_tags] == pytest.approx(
        [weight for _, weight in served_tags], rel=1e-9
    )
    # and both are features' definitions over ingest's rows, forward button included: sanabil
    # has plays ended by it that Spotify did not flag as skipped
    counts = await sql_counts(pool, listener, cutoff, features_settings.min_listen_ms)
    assert {s.artist: (s.plays, s.listens, s.skips) for s in view.artist_stats} == counts
    assert any(p.reason_end == "fwdbtn" and not p.skipped and p.ms_played >= 30_000 for p in before)
    # the served profile carries the listens per track the model picks the listener's own
    # tracks by (playlists, rediscovery), under the same threshold
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name, track_name, listens FROM features.track_stats WHERE user_id = %s",
            (past_only,),
        )
        served_tracks = {(artist, track): n for artist, track, n in await cur.fetchall()}
        cur = await conn.execute(
            """SELECT artist_name, track_name, count(*) FROM ingest.plays
               WHERE user_id = %s AND ms_played >= %s AND artist_name IS NOT NULL
                 AND track_name IS NOT NULL GROUP BY 1, 2""",
            (past_only, features_settings.min_listen_ms),
        )
        expected_tracks = {(artist, track): n for artist, track, n in await cur.fetchall()}
    assert served_tracks == expected_tracks and len(served_tracks) > 1_000
    top = max(expected_tracks, key=lambda key: expected_tracks[key])
    own = await model_store.own_top_tracks(pool, past_only, [top[0].upper()], 1)
    assert [track.name for track in own[top[0].lower()]] == [top[1]]


async def test_the_listen_threshold_setting_decides_the_models_training_view(
    pool: Any, tastes_server: Any, sanabil: ParsedExport
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, sanabil)
    cutoff = sanabil.plays[int(len(sanabil.plays) * 0.5)].ended_at
    limits = PoolLimits(
        seed_artists=50, candidate_tags=5, co_listening_neighbours=5, co_listening_candidates=0
    )
    views = {}
    for min_listen_ms in (30_000, 120_000):
        rules = FeaturesSettings(min_listen_ms=min_listen_ms).listen_rules()
        tastes = TastesClient(await tastes_server(rules), deadline_s=30)
        try:
            past = await learning_store.load_as_of(pool, tastes, listener, cutoff, limits)
        finally:
            await tastes.close()
        histories = {h.artist: (h.plays, h.listens, h.skips) for h in past.view.histories}
        expected: dict[str, tuple[int, int, int]] = {}
        for name, (plays, listens, skips) in (
            await sql_counts(pool, listener, cutoff, min_listen_ms)
        ).items():
            key = name.lower()
            old = expected.get(key, (0, 0, 0))
            expected[key] = (old[0] + plays, old[1] + listens, old[2] + skips)
        assert histories == expected
        views[min_listen_ms] = past.view
    short, long = views[30_000], views[120_000]
    assert sum(h.listens for h in long.histories) < sum(h.listens for h in short.histories)
    assert sum(h.skips for h in long.histories) > sum(h.skips for h in short.histories)
    assert long.scoring.known_artists != short.scoring.known_artists


async def test_a_training_view_names_a_bad_cutoff_and_caps_its_artists(
    pool: Any, tastes_server: Any, sanabil: ParsedExport
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, sanabil)
    await tag_artists(pool, {play.artist_name for play in sanabil.plays if play.artist_name})
    address = await tastes_server(ListenRules())
    cutoff = sanabil.plays[-1].ended_at
    capped = await training_view(address, listener, cutoff, max_artists=10, max_tags=3)
    full = await training_view(address, listener, cutoff)
    assert len(capped.artist_stats) == 10 and capped.artists == full.artists > 10
    assert list(capped.artist_stats) == list(full.artist_stats[:10])
    assert list(capped.top_tags) == list(full.top_tags[:3]) and len(full.top_tags) > 3
    with pytest.raises(grpc.aio.AioRpcError) as naive:
        await training_view(address, listener, cutoff.replace(tzinfo=None))
    assert naive.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UTC offset" in (naive.value.details() or "")
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as nobody:
            await features_pb2_grpc.TastesStub(channel).GetTasteProfile(
                features_pb2.TasteProfileRequest(user_id=str(uuid.uuid4())), timeout=10
            )
    assert nobody.value.code() == grpc.StatusCode.NOT_FOUND

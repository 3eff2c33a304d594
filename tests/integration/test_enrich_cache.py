"""Enrich on real PostgreSQL and Redis against the local Last.fm server: every artist fetched
once, a second run makes no call, a run killed half-way resumes without repeating anything
it had stored, recommended artists' top tracks are cached the same way, and each kind of
enrichment announces its own fact (the listener's artists, candidates, tracks)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from fullcircle.bus import Bus, decode_entry
from fullcircle.events import (
    ARTISTS_ENRICHED,
    CANDIDATES_ENRICHED,
    TRACKS_ENRICHED,
    ArtistsEnriched,
    CandidatesEnriched,
    PlaysIngested,
    ProfilesUpdated,
    RecommendationsUpdated,
    TracksEnriched,
)
from fullcircle.settings import FullCircleSettings
from services.enrich.app import Enriched, Enricher
from services.enrich.lastfm_local import Catalog, CatalogArtist, CatalogTrack, start_lastfm_server
from services.enrich.lastfm_local.server import FaultPlan, LocalLastfmServer
from services.enrich.settings import EnrichSettings

pytestmark = pytest.mark.integration

ARTISTS = [f"Enrich Test Artist {n}" for n in range(90)]
SEED = "Candidate Seed"
CANDIDATES = [f"Candidate {n}" for n in range(5)]


@pytest.fixture(scope="module")
def lastfm() -> Iterator[LocalLastfmServer]:
    artists = [
        CatalogArtist(
            name,
            "",
            100 + n,
            1000 + n,
            (("Hip-Hop", 100), ("chill", 40 + n)),
            tuple((other, 0.5) for other in ARTISTS[:5] if other != name),
            (CatalogTrack(f"Song {n} A", 200_000), CatalogTrack(f"Song {n} B", 180_000)),
        )
        for n, name in enumerate(ARTISTS)
    ]
    artists.append(
        CatalogArtist(
            SEED, "", 50, 500, (("jazz", 100),), tuple((name, 0.8) for name in CANDIDATES), ()
        )
    )
    artists.extend(
        CatalogArtist(name, "", 10, 100, (("jazz", 90),), ((SEED, 0.8),), ()) for name in CANDIDATES
    )
    with start_lastfm_server(Catalog(tuple(artists))) as server:
        yield server


async def _enricher(settings: FullCircleSettings, lastfm: LocalLastfmServer, pool, **tuning):  # type: ignore[no-untyped-def]
    bus = Bus(settings, "enrich")
    await bus.start()
    enrich_settings = EnrichSettings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        lastfm_api_key="test-key",
        lastfm_api_root=lastfm.url,
        lastfm_rate_limit=200.0,
        lastfm_concurrency=4,
        **tuning,
    )
    return Enricher(SimpleNamespace(pool=pool, bus=bus), enrich_settings), bus


async def _ignore(enriched: Enriched) -> None:
    """An announcement nobody listens to (the fetching is what these tests look at)."""


async def _stored(pool, names: list[str]) -> int:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM enrich.artists WHERE artist_key = ANY(%s)",
            ([name.lower() for name in names],),
        )
        row = await cur.fetchone()
    return int(row[0])


async def test_each_artist_is_fetched_once_and_a_second_run_makes_no_call(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    names = ARTISTS[:10]
    enricher, bus = await _enricher(settings, lastfm, pool)
    try:
        lastfm.reset()
        await enricher.enrich(
            uuid.uuid4(), [*names, names[0].upper()], with_similar=True, on_chunk=_ignore
        )
        first = lastfm.stats()["calls_per_method"]
        assert first == {"artist.gettoptags": 10, "artist.getsimilar": 10, "artist.getinfo": 10}
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT tag, kind FROM enrich.artist_tags"
                " WHERE artist_key = %s ORDER BY weight DESC",
                (names[0].lower(),),
            )
            assert await cur.fetchall() == [("hip hop", "genre"), ("chill", "mood")]
        lastfm.reset()
        await enricher.enrich(uuid.uuid4(), names, with_similar=True, on_chunk=_ignore)
        assert lastfm.stats()["total_calls"] == 0
        await enricher.enrich(
            uuid.uuid4(), ["Nobody Knows This Artist"], with_similar=True, on_chunk=_ignore
        )
        await enricher.enrich(
            uuid.uuid4(), ["Nobody Knows This Artist"], with_similar=True, on_chunk=_ignore
        )
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptags": 1}
    finally:
        await bus.stop()


async def test_a_killed_run_resumes_without_fetching_again_what_it_stored(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    names = ARTISTS[10:40]
    enricher, bus = await _enricher(settings, lastfm, pool)
    try:
        lastfm.reset()
        lastfm.set_faults(FaultPlan(delay_s=0.05))
        run = asyncio.create_task(
            enricher.enrich(uuid.uuid4(), names, with_similar=True, on_chunk=_ignore)
        )
        while await _stored(pool, names) < 8:
            await asyncio.sleep(0.02)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await asyncio.sleep(0.5)  # requests already on the wire finish; their answers are lost
        stored_before = await _stored(pool, names)
        assert 8 <= stored_before < len(names)
        lastfm.reset()
        await enricher.enrich(uuid.uuid4(), names, with_similar=True, on_chunk=_ignore)
        calls = lastfm.stats()["calls_per_method"]
        missing = len(names) - stored_before
        assert calls["artist.gettoptags"] == missing
        assert calls["artist.getsimilar"] == missing
        assert await _stored(pool, names) == len(names)
    finally:
        await bus.stop()


async def _announcements(bus: Bus, user_id: uuid.UUID) -> list[ArtistsEnriched]:
    entries = await bus.redis.xrange(ARTISTS_ENRICHED)
    events = [decode_entry(fields, ArtistsEnriched) for _, fields in entries]
    return [event for event in events if event.user_id == user_id]


async def test_top_tracks_are_fetched_once_per_artist_and_never_retag_anyone(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    names = ARTISTS[:6]
    enricher, bus = await _enricher(settings, lastfm, pool)
    listener = uuid.uuid4()
    try:
        lastfm.reset()
        fetched = await enricher.fetch_top_tracks(listener, [*names, names[0].upper()])
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptracks": 6}
        assert fetched == {name.lower(): 2 for name in names}
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT track, rank FROM enrich.artist_top_tracks WHERE artist_key = %s"
                " ORDER BY rank",
                (names[2].lower(),),
            )
            assert await cur.fetchall() == [("Song 2 A", 1), ("Song 2 B", 2)]
        # tracks change no taste: features must not recompute for them (tracks.enriched tells
        # the gateway instead, see on_recommendations_updated)
        assert await _announcements(bus, listener) == []

        lastfm.reset()
        assert await enricher.fetch_top_tracks(listener, names) == {}
        unknown = ["Nobody Plays This Artist"]
        assert await enricher.fetch_top_tracks(listener, unknown) == {unknown[0].lower(): None}
        assert await enricher.fetch_top_tracks(listener, unknown) == {}
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptracks": 1}
        assert await _announcements(bus, listener) == []
    finally:
        await bus.stop()


async def _events(bus: Bus, stream: str, event_type, user_id: uuid.UUID) -> list:  # type: ignore[no-untyped-def]
    entries = await bus.redis.xrange(stream)
    events = [decode_entry(fields, event_type) for _, fields in entries]
    return [event for event in events if event.user_id == user_id]


async def test_the_listeners_artists_and_their_candidates_are_announced_apart(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    enricher, bus = await _enricher(settings, lastfm, pool)
    listener = uuid.uuid4()
    try:
        await enricher.on_plays_ingested(
            PlaysIngested(user_id=listener, source="extended", new_plays=3, artists=[SEED])
        )
        (own,) = await _announcements(bus, listener)
        assert (own.artists, own.tagged) == (1, 1)
        await enricher.on_profile_updated(
            ProfilesUpdated(
                user_id=listener, profile_version=7, listens=3, artists=1, top_artists=[SEED]
            )
        )
        (candidates,) = await _events(bus, CANDIDATES_ENRICHED, CandidatesEnriched, listener)
        assert (candidates.profile_version, candidates.artists) == (7, len(CANDIDATES))
        # features consumes artists.enriched only: candidates never recompute the profile
        assert len(await _announcements(bus, listener)) == 1
    finally:
        await bus.stop()


async def test_the_listeners_artists_are_announced_a_chunk_at_a_time_heaviest_first(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    """At Last.fm's 5 calls a second a batch of 500 artists takes minutes: features hears of
    the first (most played) artists after `announce_first`, not after the whole batch."""
    enricher, bus = await _enricher(settings, lastfm, pool, announce_first=3, announce_every=4)
    listener = uuid.uuid4()
    names = [f"Chunked Artist {n}" for n in range(10)]  # not on Last.fm: one call each
    try:
        lastfm.reset()
        await enricher.on_plays_ingested(
            PlaysIngested(user_id=listener, source="extended", new_plays=10, artists=names)
        )
        announced = await _announcements(bus, listener)
        assert [event.artists for event in announced] == [3, 4, 3]
        assert [event.not_found for event in announced] == [3, 4, 3]
        assert [event.api_calls for event in announced] == [3, 4, 3]
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptags": 10}
    finally:
        await bus.stop()


async def test_the_profiles_most_listened_tracks_get_their_tags_once(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    enricher, bus = await _enricher(settings, lastfm, pool)
    listener = uuid.uuid4()
    profile = ProfilesUpdated(
        user_id=listener,
        profile_version=1,
        listens=3,
        artists=1,
        top_tracks=[(ARTISTS[30], "Song 30 A"), (ARTISTS[30], "Song 30 B")],
    )
    try:
        lastfm.reset()
        await enricher.on_profile_updated(profile)
        await enricher.on_profile_updated(profile.model_copy(update={"profile_version": 2}))
        assert lastfm.stats()["calls_per_method"].get("track.gettoptags") == 2
    finally:
        await bus.stop()


async def test_a_new_set_gets_its_named_artists_top_tracks_and_one_tracks_enriched(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    names = ARTISTS[20:24]
    enricher, bus = await _enricher(settings, lastfm, pool)
    listener = uuid.uuid4()
    announced = RecommendationsUpdated(
        user_id=listener, set_id=uuid.uuid4(), model_version="m", items=4, top_artists=names
    )
    try:
        lastfm.reset()
        await enricher.on_recommendations_updated(announced)
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptracks": 4}
        (tracks,) = await _events(bus, TRACKS_ENRICHED, TracksEnriched, listener)
        assert (tracks.set_id, tracks.artists, tracks.with_tracks) == (announced.set_id, 4, 4)
        await enricher.on_recommendations_updated(announced)  # redelivered: all cached
        assert len(await _events(bus, TRACKS_ENRICHED, TracksEnriched, listener)) == 1
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptracks": 4}
    finally:
        await bus.stop()


async def test_a_whole_set_is_fetched_a_page_at_a_time_best_first(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    """Every artist of a set gets its tracks (and so its popularity), the first page first:
    the set's answer is refreshed after each page, not once after all of them."""
    names = ARTISTS[40:85]
    enricher, bus = await _enricher(settings, lastfm, pool)
    listener = uuid.uuid4()
    announced = RecommendationsUpdated(
        user_id=listener, set_id=uuid.uuid4(), model_version="m", items=45, top_artists=names
    )
    try:
        lastfm.reset()
        await enricher.on_recommendations_updated(announced)
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptracks": 45}
        pages = await _events(bus, TRACKS_ENRICHED, TracksEnriched, listener)
        assert [page.artists for page in pages] == [20, 20, 5]
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT artist_key FROM enrich.top_track_fetches WHERE artist_key = ANY(%s)"
                " ORDER BY fetched_at, artist_key",
                ([name.lower() for name in names],),
            )
            fetched = [row[0] for row in await cur.fetchall()]
        first_page = {name.lower() for name in names[:20]}
        assert set(fetched[:20]) == first_page, "the first page was not fetched first"
    finally:
        await bus.stop()


async def test_two_listeners_sets_naming_one_artist_at_once_both_hear_of_its_tracks(
    settings: FullCircleSettings, pool, lastfm: LocalLastfmServer
) -> None:
    """Listeners of one taste get sets naming the same artists at once: one handler fetches an
    artist's tracks, the other waits on its claim and finds them stored; both sets' answers
    were made before the tracks came, so both get `tracks.enriched`."""
    names = ARTISTS[24:27]
    enricher, bus = await _enricher(settings, lastfm, pool)
    sets = [
        RecommendationsUpdated(
            user_id=uuid.uuid4(), set_id=uuid.uuid4(), model_version="m", items=3, top_artists=names
        )
        for _ in range(2)
    ]
    try:
        lastfm.reset()
        lastfm.set_faults(FaultPlan(delay_s=0.1))  # the second set arrives mid-fetch
        await asyncio.gather(*(enricher.on_recommendations_updated(event) for event in sets))
        assert lastfm.stats()["calls_per_method"] == {"artist.gettoptracks": 3}
        for event in sets:
            (tracks,) = await _events(bus, TRACKS_ENRICHED, TracksEnriched, event.user_id)
            assert (tracks.set_id, tracks.artists, tracks.with_tracks) == (event.set_id, 3, 3)
    finally:
        lastfm.reset()
        await bus.stop()

"""Mood coverage through the service path: features reads what enrich stored around a real
history (tags and similar artists from the HetRec catalog, as the local Last.fm server answers
them), stores coverage before and after estimating moods, serves it in the taste profile, and
the model's playlists judge the estimated artists by features' estimate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from fullcircle.moods import mood_vector
from fullcircle.v1 import features_pb2, features_pb2_grpc
from services.enrich.domain.tags import clean_artist_tags
from services.enrich.lastfm_local.catalog import Catalog, catalog_from_hetrec
from services.features.adapters import store
from services.features.app import ProfileBuilder
from services.features.domain.listener import listener_as_of
from services.features.domain.moods import needing_neighbours
from services.ingest.domain.exports import ParsedExport, read_export_path
from services.model.adapters import store as model_store
from services.model.domain.playlist import known_mood
from tests.integration.test_training_views import store_plays

pytestmark = pytest.mark.integration
NEIGHBOURS = 20


@pytest.fixture(scope="module")
def efrrowini(shared_data: Path) -> ParsedExport:
    return read_export_path(shared_data / "spotify-history-efrrowini")


@pytest.fixture(scope="module")
def catalog(shared_data: Path) -> Catalog:
    return catalog_from_hetrec(shared_data / "hetrec2011-lastfm-2k")


async def enrich_from_catalog(pool: Any, catalog: Catalog, artists: set[str]) -> None:
    """What enrich stores for the listener's artists (tags and similar artists) and for their
    similar artists (tags, as it tags candidates), from the catalog's answers."""
    tagged: dict[str, tuple[str, list[tuple[str, int, str]]]] = {}
    similar: list[tuple[str, str, str, float]] = []

    def tag(name: str) -> None:
        found = catalog.artist(name)
        if found is None or name.lower() in tagged:
            return
        cleaned = clean_artist_tags(name, [(str(t), int(w)) for t, w in found.top_tags])
        tagged[name.lower()] = (name, [(c.tag, c.weight, c.kind.value) for c in cleaned])

    for name in sorted(artists):
        tag(name)
        found = catalog.artist(name)
        for other, match in found.similar_artists[:NEIGHBOURS] if found else ():
            similar.append((name.lower(), other.lower(), other, match))
            tag(other)
    async with pool.connection() as conn, conn.cursor() as cur:
        # what other tests of this database stored for these artists is replaced (cascades
        # to their tags and similar artists): the catalog's answers alone
        replaced = sorted(set(tagged) | {name.lower() for name in artists})
        await cur.execute("DELETE FROM enrich.artists WHERE artist_key = ANY(%s)", (replaced,))
        await cur.executemany(
            "INSERT INTO enrich.artists (artist_key, name, status) VALUES (%s, %s, 'ok')"
            " ON CONFLICT DO NOTHING",
            [(key, name) for key, (name, _tags) in tagged.items()],
        )
        await cur.executemany(
            "INSERT INTO enrich.artist_tags (artist_key, tag, weight, kind) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [(key, t, w, kind) for key, (_name, tags) in tagged.items() for t, w, kind in tags],
        )
        await cur.executemany(
            "INSERT INTO enrich.similar_artists (artist_key, similar_key, similar_name, match)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [row for row in similar if row[0] in tagged],
        )


async def test_the_profile_reports_and_raises_mood_coverage_and_playlists_use_it(
    pool: Any,
    migrated_database: str,
    profile_builder: ProfileBuilder,
    tastes_server: Any,
    efrrowini: ParsedExport,
    catalog: Catalog,
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, efrrowini)
    await enrich_from_catalog(
        pool, catalog, {play.artist_name for play in efrrowini.plays if play.artist_name}
    )
    await profile_builder.refresh(listener, datetime.now(UTC), "plays")
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT moods FROM features.taste_details WHERE user_id = %s", (listener,)
        )
        (stored,) = await cur.fetchone()
    coverage = stored["coverage"]
    assert 0 < coverage["before"] < coverage["after"] <= 1
    assert stored["estimated"]

    # the same numbers as the domain code gives in-process on what the stores hold
    plays, platforms = await store.load_plays(pool, listener)
    artists = sorted(set(plays.artist))
    tags = await store.load_artist_tags(pool, artists)
    with psycopg.connect(migrated_database) as conn:
        knowledge = store.read_mood_knowledge(conn, needing_neighbours(artists, tags))
    details = listener_as_of(
        plays,
        datetime.now(UTC),
        tags,
        profile_builder.settings.listen_rules(),
        platforms=platforms,
        time_zone="Europe/London",  # coverage counts listens whatever their hour
        mood_knowledge=knowledge,
    ).details
    assert details is not None
    assert details["moods"]["coverage"] == pytest.approx(coverage)

    address = await tastes_server(profile_builder.settings.listen_rules(), profile_builder)
    async with grpc.aio.insecure_channel(address) as channel:
        profile = await features_pb2_grpc.TastesStub(channel).GetTasteProfile(
            features_pb2.TasteProfileRequest(user_id=str(listener)), timeout=10
        )
    assert profile.HasField("mood_coverage")
    assert profile.mood_coverage.listens == coverage["listens"]
    assert (profile.mood_coverage.before, profile.mood_coverage.after) == pytest.approx(
        (coverage["before"], coverage["after"])
    )

    # a playlist judges a track of an estimated artist by features' estimate
    inputs = await model_store.load_playlist_inputs(pool, listener, None, own_tracks=5_000)
    estimated = [row for row in inputs.choices if row.artist.lower() in stored["estimated"]]
    assert estimated
    for row in estimated:
        assert not mood_vector(row.tags).known
        assert row.estimated_mood is not None
        assert known_mood(mood_vector(row.tags), row.estimated_mood).known

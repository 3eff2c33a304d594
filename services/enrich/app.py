"""Enrich's entry layer: new plays -> the listener's artists tagged with their similar artists
(`artists.enriched`: their profile changes); a new profile -> its candidates tagged
(`candidates.enriched`: the set may change, the profile does not); a new recommendation set ->
the top tracks of the artists the event names (`tracks.enriched`: the answer for that set
changed).

Top tracks are fetched for the artists that end up recommended, not for every candidate: a set
holds at most 100 artists and successive sets share most of them, while the candidates run to
hundreds per profile. The set's top artists travel in `recommendations.updated`, so enrich calls
no service. The set is announced once, without those tracks; the model attaches tracks when it
answers, so `tracks.enriched` makes the gateway drop its cached answers for the set. Tracks that
Last.fm does not have (error 6) are cached too and announce nothing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from fullcircle.events import (
    ArtistsEnriched,
    CandidatesEnriched,
    PlaysIngested,
    ProfilesUpdated,
    RecommendationsUpdated,
    TracksEnriched,
)
from fullcircle.ratelimit import shared_rate_limit
from fullcircle.service import ServiceRuntime
from services.enrich.adapters import store
from services.enrich.adapters.claims import FetchClaims
from services.enrich.adapters.lastfm import LastfmClient, call_spacing_s
from services.enrich.adapters.request_count import LastfmRequestCounter
from services.enrich.settings import EnrichSettings

log = logging.getLogger(__name__)

# Recommended artists whose top tracks are fetched before the set's answer is refreshed: the
# page GetRecommendations answers by default.
TOP_TRACKS_PAGE = 20


def announce_chunks(names: list[str], first: int, every: int) -> list[list[str]]:
    """`names` cut into the pieces announced one by one: `first`, then `every` at a time."""
    if not names:
        return []
    return [names[:first]] + [
        names[start : start + every] for start in range(first, len(names), every)
    ]


@dataclass(frozen=True)
class Enriched:
    """What one round of fetching stored."""

    artists: int
    tagged: int
    not_found: int
    api_calls: int


class Enricher:
    def __init__(self, runtime: ServiceRuntime, settings: EnrichSettings) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings
        self.ttl = timedelta(days=settings.cache_ttl_days)
        key = settings.lastfm_api_key.get_secret_value() if settings.lastfm_api_key else ""
        rate = settings.lastfm_rate_limit
        self.requests = LastfmRequestCounter(settings.redis_url)
        self.client = LastfmClient(
            key,
            settings.lastfm_api_root,
            rate,
            settings.lastfm_retries,
            limit=shared_rate_limit(
                settings.redis_url, lastfm_limit_key(key), rate, spacing_s=call_spacing_s(rate)
            ),
            workers=settings.lastfm_concurrency,
            on_request=self.requests.count,
        )
        self.slots = asyncio.Semaphore(settings.lastfm_concurrency)
        self.claims = FetchClaims(settings.redis_url, settings.fetch_claim_ms)

    async def on_plays_ingested(self, event: PlaysIngested) -> None:
        """The listener's own artists: what features builds their profile from. Announced a
        chunk at a time (the event's artists come most-played first), so at Last.fm's 5 calls
        a second the first profile with tags, and the first set, come after the first
        `announce_first` artists instead of after the whole batch."""

        async def announce(enriched: Enriched) -> None:
            await self.bus.publish(
                ArtistsEnriched(
                    user_id=event.user_id,
                    artists=enriched.artists,
                    tagged=enriched.tagged,
                    not_found=enriched.not_found,
                    api_calls=enriched.api_calls,
                )
            )

        await self.enrich(event.user_id, event.artists, with_similar=True, on_chunk=announce)

    async def on_profile_updated(self, event: ProfilesUpdated) -> None:
        """Candidate expansion: the similar artists of the listener's top artists and the top
        artists of their top tags get tagged too, within the per-update budget."""
        top_tags = event.top_tags[: self.settings.candidate_tags]
        fresh = await store.cached_tags(self.pool, top_tags, self.ttl)
        for tag in top_tags:
            if tag not in fresh:
                await store.save_tag_artists(
                    self.pool, await asyncio.to_thread(self.client.tag_top_artists, tag)
                )
        budget = self.settings.candidate_budget
        similar = await store.candidate_names(self.pool, event.top_artists, budget, self.ttl)
        by_tag = await store.tag_candidate_names(self.pool, top_tags, budget, self.ttl)
        candidates = list(dict.fromkeys([*similar[: budget - budget // 4], *by_tag]))[:budget]

        async def announce(enriched: Enriched) -> None:
            # a fact for the model, not for features: candidates are not the listener's artists
            await self.bus.publish(
                CandidatesEnriched(
                    user_id=event.user_id,
                    profile_version=event.profile_version,
                    artists=enriched.artists,
                    tagged=enriched.tagged,
                    not_found=enriched.not_found,
                    api_calls=enriched.api_calls,
                )
            )

        await self.enrich(event.user_id, candidates, with_similar=False, on_chunk=announce)
        # the listener's most listened-to tracks (features' listens), for mood playlists
        await self.enrich_tracks(event.top_tracks)

    async def on_recommendations_updated(self, event: RecommendationsUpdated) -> None:
        """Top tracks of the set's artists (named in the event, best first) that had none
        cached, a page of `TOP_TRACKS_PAGE` at a time; `tracks.enriched` after each page some
        of whose artists have tracks now, so caches drop the set's answer (the gateway may have
        answered for the set before they came) and the first page shows without waiting for
        the rest."""
        artists = event.top_artists[: self.settings.top_tracks_artists]
        for start in range(0, len(artists), TOP_TRACKS_PAGE):
            came = await self.fetch_top_tracks(
                event.user_id, artists[start : start + TOP_TRACKS_PAGE]
            )
            with_tracks = sum(1 for count in came.values() if count)
            if with_tracks:
                await self.bus.publish(
                    TracksEnriched(
                        user_id=event.user_id,
                        set_id=event.set_id,
                        artists=len(came),
                        with_tracks=with_tracks,
                        not_found=sum(1 for count in came.values() if count is None),
                    )
                )

    async def fetch_top_tracks(self, user_id: UUID, artists: list[str]) -> dict[str, int | None]:
        """artist.getTopTracks for the artists whose cached answer is missing or stale; how many
        tracks each of them has now (None: not on Last.fm), whoever fetched them: this handler,
        or another handler or replica that held the artist's claim first (sets of listeners
        with one taste name the same artists at once)."""
        unique = {name.lower(): name for name in artists if name.strip()}
        fresh = await store.cached_top_tracks(self.pool, list(unique.values()), self.ttl)
        todo = [name for key, name in unique.items() if key not in fresh]
        if not todo:
            return {}
        fetched = await asyncio.gather(*(self._fetch_top_tracks(name) for name in todo))
        came = await store.top_track_counts(self.pool, todo)
        log.info(
            "top tracks of %d recommended artists for %s (%d fetched here, %d with tracks,"
            " %d not on Last.fm)",
            len(came),
            user_id,
            sum(fetched),
            sum(1 for count in came.values() if count),
            sum(1 for count in came.values() if count is None),
        )
        return came

    async def _fetch_top_tracks(self, name: str) -> bool:
        """False when another handler or replica stored them meanwhile."""
        async with self.claims.claimed("top-tracks:" + name.lower()):
            if await store.cached_top_tracks(self.pool, [name], self.ttl):
                return False
            async with self.slots:
                top = await asyncio.to_thread(
                    self.client.artist_top_tracks, name, self.settings.top_tracks_limit
                )
            await store.save_top_tracks(self.pool, top)
        return True

    async def enrich_tracks(self, tracks: list[tuple[str, str]]) -> None:
        """Track top tags of the listener's most listened-to tracks, once each."""
        fresh = await store.cached_tracks(self.pool, tracks, self.ttl)
        for artist, track in tracks:
            key = store.track_key(artist, track)
            if key in fresh:
                continue
            # claimed, and the cache read again under the claim: a batch still being worked
            # on past the bus's claim idle time is delivered again, to this replica or
            # another, and the two deliveries run side by side
            async with self.claims.claimed("track-tags:" + key):
                if key not in await store.cached_tracks(self.pool, [(artist, track)], self.ttl):
                    tags = await asyncio.to_thread(self.client.track_top_tags, artist, track)
                    await store.save_track_tags(self.pool, tags)

    async def enrich(
        self,
        user_id: UUID,
        names: list[str],
        *,
        with_similar: bool,
        on_chunk: Callable[[Enriched], Awaitable[None]],
    ) -> None:
        """Fetch what the cache lacks, in the order given, storing each answer as it arrives;
        `on_chunk` after the first `announce_first` artists fetched and then every
        `announce_every` (nothing when the cache had everything)."""
        unique = {name.lower(): name for name in names if name.strip()}
        cached = await store.cached_keys(
            self.pool, list(unique), need_similar=with_similar, ttl=self.ttl
        )
        todo = [name for key, name in unique.items() if key not in cached]
        similar_limit = self.settings.lastfm_similar_limit if with_similar else None
        for chunk in announce_chunks(
            todo, self.settings.announce_first, self.settings.announce_every
        ):
            calls_before = self.client.calls
            results = await asyncio.gather(*(self._fetch(name, similar_limit) for name in chunk))
            enriched = Enriched(
                artists=len(results),
                tagged=sum(1 for found in results if found),
                not_found=sum(1 for found in results if found is False),
                api_calls=self.client.calls - calls_before,
            )
            log.info(
                "enriched %d %s for %s (%d not on Last.fm)",
                enriched.artists,
                "artists" if with_similar else "candidates",
                user_id,
                enriched.not_found,
            )
            await on_chunk(enriched)

    async def _fetch(self, name: str, similar_limit: int | None) -> bool | None:
        """Fetch and store one artist; None when another handler, of this replica or another,
        stored what is needed meanwhile (the listener's artists and candidates often overlap,
        and replicas handle overlapping batches). The Redis claim serialises them all: a
        handler of this process waits for it as one of another replica does."""
        key = name.lower()
        need_similar = similar_limit is not None
        async with self.claims.claimed(key):
            # Read again under the claim: whoever held it before stored the answer (seen once
            # in CI: one artist fetched twice after enrich was killed mid-tagging).
            if await store.cached_keys(self.pool, [key], need_similar=need_similar, ttl=self.ttl):
                return None
            async with self.slots:
                if similar_limit is not None and await store.cached_keys(
                    self.pool, [key], need_similar=False, ttl=self.ttl
                ):
                    # Tagged already as someone's candidate: only the similar artists and the
                    # popularity are missing.
                    similar = await asyncio.to_thread(
                        self.client.similar_artists, name, similar_limit
                    )
                    info = await asyncio.to_thread(self.client.artist_info, name)
                    await store.save_similar(self.pool, name, similar, info)
                    return similar.found
                knowledge = await asyncio.to_thread(
                    self.client.artist, name, similar_limit, with_info=need_similar
                )
                await store.save_artist(self.pool, knowledge)
                return knowledge.found


def lastfm_limit_key(api_key: str) -> str:
    """The Redis key of one Last.fm API key's shared rate (a digest: the key stays secret)."""
    return "lastfm:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


async def setup(runtime: ServiceRuntime) -> None:
    enricher = Enricher(runtime, EnrichSettings())
    runtime.bus.consume(PlaysIngested, enricher.on_plays_ingested)
    runtime.bus.consume(ProfilesUpdated, enricher.on_profile_updated)
    runtime.bus.consume(RecommendationsUpdated, enricher.on_recommendations_updated)
    runtime.on_stop(enricher.claims.close)
    runtime.on_stop(lambda: asyncio.to_thread(enricher.requests.close))

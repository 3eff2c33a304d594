"""Enrich's entry layer: new plays -> the listener's artists tagged with similar artists;
a new profile -> its candidates tagged; then `artists.enriched`."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from uuid import UUID

from fullcircle.events import ArtistsEnriched, PlaysIngested, ProfilesUpdated
from fullcircle.service import ServiceRuntime
from services.enrich.adapters import store
from services.enrich.adapters.lastfm import LastfmClient
from services.enrich.settings import EnrichSettings

log = logging.getLogger(__name__)


class Enricher:
    def __init__(self, runtime: ServiceRuntime, settings: EnrichSettings) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings
        self.ttl = timedelta(days=settings.cache_ttl_days)
        key = settings.lastfm_api_key.get_secret_value() if settings.lastfm_api_key else ""
        self.client = LastfmClient(
            key,
            settings.lastfm_api_root,
            settings.lastfm_rate_limit,
            settings.lastfm_retries,
            workers=settings.lastfm_concurrency,
        )
        self.slots = asyncio.Semaphore(settings.lastfm_concurrency)
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    async def on_plays_ingested(self, event: PlaysIngested) -> None:
        await self.enrich(event.user_id, event.artists, with_similar=True)
        await self.enrich_tracks(event.top_tracks)

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
        await self.enrich(event.user_id, candidates, with_similar=False)

    async def enrich_tracks(self, tracks: list[tuple[str, str]]) -> None:
        """Track top tags of the listener's most listened-to tracks, once each."""
        fresh = await store.cached_tracks(self.pool, tracks, self.ttl)
        for artist, track in tracks:
            if store.track_key(artist, track) not in fresh:
                tags = await asyncio.to_thread(self.client.track_top_tags, artist, track)
                await store.save_track_tags(self.pool, tags)

    async def enrich(self, user_id: UUID, names: list[str], *, with_similar: bool) -> None:
        """Fetch what the cache lacks, store each answer as it arrives, announce what is new."""
        unique = {name.lower(): name for name in names if name.strip()}
        cached = await store.cached_keys(
            self.pool, list(unique), need_similar=with_similar, ttl=self.ttl
        )
        todo = [name for key, name in unique.items() if key not in cached]
        if not todo:
            return
        calls_before = self.client.calls
        similar_limit = self.settings.lastfm_similar_limit if with_similar else None
        results = await asyncio.gather(*(self._fetch(name, similar_limit) for name in todo))
        await self.bus.publish(
            ArtistsEnriched(
                user_id=user_id,
                artists=len(results),
                tagged=sum(1 for found in results if found),
                not_found=sum(1 for found in results if found is False),
                api_calls=self.client.calls - calls_before,
            )
        )
        log.info(
            "enriched %d artists for %s (%d not on Last.fm)",
            len(results),
            user_id,
            sum(1 for found in results if found is False),
        )

    async def _fetch(self, name: str, similar_limit: int | None) -> bool | None:
        """Fetch and store one artist; None when another handler of this process stored
        what is needed meanwhile (the listener's artists and candidates often overlap)."""
        key = name.lower()
        while (running := self._in_flight.get(key)) is not None:
            await asyncio.shield(running)
            cached = await store.cached_keys(
                self.pool, [key], need_similar=similar_limit is not None, ttl=self.ttl
            )
            if key in cached:
                return None
        done = asyncio.get_running_loop().create_future()
        self._in_flight[key] = done
        try:
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
                    self.client.artist, name, similar_limit, with_info=similar_limit is not None
                )
                await store.save_artist(self.pool, knowledge)
                return knowledge.found
        finally:
            del self._in_flight[key]
            done.set_result(None)


async def setup(runtime: ServiceRuntime) -> None:
    enricher = Enricher(runtime, EnrichSettings())
    runtime.bus.consume(PlaysIngested, enricher.on_plays_ingested)
    runtime.bus.consume(ProfilesUpdated, enricher.on_profile_updated)

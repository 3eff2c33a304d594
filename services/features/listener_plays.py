"""What a listener's taste is computed with besides their plays: their time zone and the
exclusions in force. The served profile (app.py) and the training views (servicer.py) both ask
here, and the recompute worker applies them (adapters/worker.py), so both hold for both."""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from services.features.adapters import store
from services.features.domain.exclusions import Exclusion
from services.features.domain.time_zones import ZoneChoice, choose_time_zone


async def listener_zone(pool: AsyncConnectionPool, user_id: UUID) -> ZoneChoice:
    """The zone the listener's contexts are read in: theirs, else their country's."""
    return choose_time_zone(
        await store.load_time_zone(pool, user_id), await store.plays_by_country(pool, user_id)
    )


async def taste_rules(
    pool: AsyncConnectionPool, user_id: UUID
) -> tuple[ZoneChoice, list[Exclusion]]:
    """The listener's zone and the exclusions in force."""
    exclusions = [stored.exclusion for stored in await store.load_exclusions(pool, user_id)]
    return await listener_zone(pool, user_id), exclusions

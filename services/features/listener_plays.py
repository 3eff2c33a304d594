"""The plays a listener's taste is learned from, as of now or a training cutoff: their stored
plays without the ones they excluded, read in their time zone. The served profile (app.py) and
the training views (servicer.py) both start here, so an exclusion holds for both."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from services.features.adapters import store
from services.features.domain.exclusions import excluded_plays, keep_plays
from services.features.domain.taste import PlayColumns
from services.features.domain.time_zones import ZoneChoice, choose_time_zone


async def listener_zone(pool: AsyncConnectionPool, user_id: UUID) -> ZoneChoice:
    """The zone the listener's contexts are read in: theirs, else their country's."""
    return choose_time_zone(
        await store.load_time_zone(pool, user_id), await store.plays_by_country(pool, user_id)
    )


async def taste_plays(
    pool: AsyncConnectionPool, user_id: UUID, zone: ZoneChoice, before: datetime | None = None
) -> tuple[PlayColumns, list[str | None]]:
    """The listener's plays (ended before `before`, if given) and their platforms, the
    excluded ones left out."""
    plays, platforms = await store.load_plays(pool, user_id, before=before)
    rules = [stored.exclusion for stored in await store.load_exclusions(pool, user_id)]
    if not rules:
        return plays, platforms
    left_out = excluded_plays(plays, platforms, rules, zone.time_zone)
    return keep_plays(plays, platforms, ~left_out)

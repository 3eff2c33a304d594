"""The listener's long recompute, in a worker process: the worker reads the plays and tags
itself (a blocking connection of its own) and computes `listener_as_of` there.

On the service's event loop a 1M-play history held the loop for seconds: psycopg builds a
million rows in Python, the columns are built from them, and the pandas and numpy steps of
`listener_as_of` keep the GIL through most of their work, so a thread would not free the loop
either. In a process neither the reading nor the computing stops the health checks and the
gRPC calls; only the result (stats per artist, not plays) comes back. The same functions run
as before, on the same rows, so the profile is the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg

from fullcircle.processes import ProcessPool
from services.features.adapters import store
from services.features.domain.exclusions import Exclusion, excluded_plays, keep_plays
from services.features.domain.listener import Listener, ListenRules, listener_as_of
from services.features.domain.moods import needing_neighbours


class ListenerWorkers:
    """The kernel's worker pool (fullcircle/processes.py: spawned, started on first use, dead
    and stuck workers replaced, none outliving the service) computing listeners for one
    database. A recompute that fails (its worker died or gave no answer in `job_timeout_s`)
    raises, so the bus delivers its message again."""

    def __init__(self, database_url: str, workers: int = 1, job_timeout_s: float = 900.0) -> None:
        self.database_url = database_url
        self.pool = ProcessPool(workers, job_timeout_s, role="recompute")

    async def listener(
        self,
        user_id: UUID,
        as_of: datetime,
        rules: ListenRules,
        *,
        before: datetime | None = None,
        with_details: bool = False,
        time_zone: str = "UTC",
        exclusions: Sequence[Exclusion] = (),
    ) -> tuple[Listener, int]:
        """The listener as of `as_of` from their plays (those before `before` when given)
        without the `exclusions`, and their artists' tags, with tastes (named by genres),
        contexts in `time_zone`, evolution and tracks when `with_details`; and how many plays
        it was computed from."""
        return await self.pool.run(
            compute_listener,
            self.database_url,
            user_id,
            as_of,
            rules,
            before,
            with_details,
            time_zone,
            tuple(exclusions),
        )

    async def matching(self, user_id: UUID, rule: Exclusion, time_zone: str) -> int:
        """How many of the listener's plays `rule` would exclude (a whole history is read and
        matched, so in a worker too)."""
        return await self.pool.run(count_excluded, self.database_url, user_id, rule, time_zone)

    def close(self) -> None:
        self.pool.close()


def count_excluded(database_url: str, user_id: UUID, rule: Exclusion, time_zone: str) -> int:
    """In the worker: the listener's plays `rule` matches (see `ListenerWorkers.matching`)."""
    with psycopg.connect(database_url) as conn:
        plays, platforms = store.read_plays(conn, user_id, None)
    return int(excluded_plays(plays, platforms, [rule], time_zone).sum())


def compute_listener(
    database_url: str,
    user_id: UUID,
    as_of: datetime,
    rules: ListenRules,
    before: datetime | None,
    with_details: bool,
    time_zone: str = "UTC",
    exclusions: Sequence[Exclusion] = (),
) -> tuple[Listener, int]:
    """In the worker: read, leave the excluded plays out, then compute (see
    `ListenerWorkers.listener`)."""
    with psycopg.connect(database_url) as conn:
        plays, platforms = store.read_plays(conn, user_id, before)
        if exclusions:
            left_out = excluded_plays(plays, platforms, exclusions, time_zone)
            plays, platforms = keep_plays(plays, platforms, ~left_out)
        artists = sorted(set(plays.artist))
        artist_tags = store.read_artist_tags(conn, artists)
        genres = store.read_genre_tags(conn, artists) if with_details else None
        moods = (
            store.read_mood_knowledge(conn, needing_neighbours(artists, artist_tags))
            if with_details
            else None
        )
    listener = listener_as_of(
        plays,
        as_of,
        artist_tags,
        rules,
        platforms=platforms if with_details else None,
        time_zone=time_zone,
        genres=genres,
        mood_knowledge=moods,
    )
    return listener, len(plays.artist)

"""The listener's long recompute, in a worker process: the worker reads the plays and tags
itself (a blocking connection of its own) and computes `listener_as_of` there.

On the service's event loop a 1M-play history held the loop for seconds: psycopg builds a
million rows in Python, the columns are built from them, and the pandas and numpy steps of
`listener_as_of` keep the GIL through most of their work, so a thread would not free the loop
either. In a process neither the reading nor the computing stops the health checks and the
gRPC calls; only the result (stats per artist, not plays) comes back. The same functions run
as before, on the same rows, so the profile is the same."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from uuid import UUID

import psycopg

from services.features.adapters import store
from services.features.domain.exclusions import Exclusion, excluded_plays, keep_plays
from services.features.domain.listener import Listener, ListenRules, listener_as_of
from services.features.domain.moods import needing_neighbours

log = logging.getLogger(__name__)


class ListenerWorkers:
    """A pool of `workers` processes (started on first use, spawned: a fork of a process
    running gRPC and asyncio is not safe) computing listeners for one database."""

    def __init__(self, database_url: str, workers: int = 1) -> None:
        self.database_url = database_url
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

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
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor,
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
        except BrokenProcessPool:
            # a worker died (out of memory, killed): a fresh pool for the next message, and
            # this one fails so the bus delivers it again
            log.warning("a recompute worker died; starting a new one")
            self._executor = None
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


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

"""Live sync of linked Spotify accounts: on each listener's schedule and on request.

Every sync fetches `recently-played` after the stored cursor (spotipy, in a worker thread),
stores what is new, moves the cursor, and announces the new plays like an import does. A grant
Spotify refuses marks the account "relink required" instead of retrying forever.

Spotify rotates refresh tokens, so two replicas syncing one account at once would both refresh
the same token and the loser would find it revoked: a sync first leases its account in
PostgreSQL (`FOR UPDATE SKIP LOCKED`), and a crashed replica's lease runs out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fullcircle.bus import Bus, consumer_name
from fullcircle.events import SyncRequested
from services.ingest.adapters import spotify_accounts, store
from services.ingest.adapters.spotify import (
    PLAYLIST_SCOPE,
    SpotifyAuth,
    SpotifyEndpoints,
    SpotifyError,
    SpotifyNotFound,
    SpotifyNotLinked,
    SpotifyRelinkRequired,
    SpotifyUnavailable,
    SpotifyWebClient,
    StoredTokens,
    WrittenPlaylist,
)
from services.ingest.domain.announce import plays_ingested_batches, rejected_summary
from services.ingest.domain.sync import (
    SyncBatch,
    next_sync_at,
    next_sync_times,
    plausible_batch,
)
from services.ingest.domain.token_box import TokenBox, TokenSet
from services.ingest.domain.track_search import (
    MAX_SEARCHES_PER_WRITE,
    SEARCH_MISS_DAYS,
    name_key,
    title_key,
)
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

# How long a playlist write waits for a running sync of the same account to let go of it.
WRITE_LEASE_WAIT_S = 20.0

RETRY_AFTER_FAILURE = timedelta(minutes=15)


def spotify_parts(settings: IngestSettings) -> tuple[SpotifyAuth, TokenBox] | None:
    """The auth client and token box, or None when live sync is not configured."""
    secret = settings.spotify_token_secret
    if not settings.spotify_client_id or secret is None or not secret.get_secret_value():
        return None
    endpoints = SpotifyEndpoints(settings.spotify_accounts_url, settings.spotify_api_url)
    auth = SpotifyAuth(
        settings.spotify_client_id, settings.spotify_redirect_uri, endpoints=endpoints
    )
    return auth, TokenBox(secret.get_secret_value())


class SpotifySync:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: Bus,
        settings: IngestSettings,
        auth: SpotifyAuth,
        token_box: TokenBox,
    ) -> None:
        self.pool, self.bus, self.settings = pool, bus, settings
        self.auth, self.token_box = auth, token_box
        self.client = SpotifyWebClient(
            endpoints=SpotifyEndpoints(settings.spotify_accounts_url, settings.spotify_api_url)
        )
        self.holder = consumer_name("ingest")
        self.lease = timedelta(seconds=settings.spotify_lease_s)
        self._running: set[UUID] = set()

    async def on_sync_requested(self, request: SyncRequested) -> None:
        await self.sync(request.user_id)

    async def run_schedule(self, stopping: asyncio.Event) -> None:
        """Sync every account whose next scheduled time has come, until the service stops."""
        while not stopping.is_set():
            try:
                await self.sync_due()
            except Exception:
                log.exception("scheduled Spotify sync failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.spotify_poll_s)

    async def sync_due(self) -> int:
        """Sync the due accounts this replica can claim, one lease at a time; how many."""
        synced = 0
        while account := await spotify_accounts.claim_due_account(
            self.pool, self.holder, self.lease
        ):
            await self._leased(account)
            synced += 1
        return synced

    async def sync(self, user_id: UUID) -> SyncBatch | None:
        """One sync of one listener; None when they have no usable link or a sync of theirs
        is running (here or on another replica)."""
        if user_id in self._running:
            return None
        account = await spotify_accounts.claim_account(self.pool, user_id, self.holder, self.lease)
        return None if account is None else await self._leased(account)

    async def _leased(self, account: spotify_accounts.SpotifyAccount) -> SyncBatch | None:
        self._running.add(account.user_id)
        try:
            return await self._sync(account)
        finally:
            self._running.discard(account.user_id)
            await spotify_accounts.release(self.pool, account.user_id, self.holder)

    def _tokens(self, account: spotify_accounts.SpotifyAccount) -> StoredTokens:
        """The account's tokens, each refreshed set stored before the work goes on (Spotify
        rotates refresh tokens); used in a worker thread, so it stores through the loop."""
        user_id = account.user_id
        loop = asyncio.get_running_loop()

        def persist(tokens: TokenSet) -> None:
            sealed = self.token_box.seal(tokens)
            asyncio.run_coroutine_threadsafe(
                spotify_accounts.save_tokens(self.pool, user_id, sealed), loop
            ).result(timeout=30)

        return StoredTokens(
            self.auth,
            self.token_box.open(account.sealed_tokens),
            persist,
            user_name=account.user_name,
        )

    async def write_playlist(
        self,
        user_id: UUID,
        key: str,
        name: str,
        description: str,
        entries: list[tuple[str, str, str]],
    ) -> tuple[WrittenPlaylist, list[str], int]:
        """Write the listener's playlist for `key` (SpotifyWebClient.write_playlist) under
        their account's lease, replacing the one written for `key` before in place. Entries
        are (artist, title, URI); one without a URI is looked up (`_resolved`). Returns the
        playlist, each entry's URI ("" for one left out) and how many searches were made.

        Raises SpotifyNotLinked, SpotifyRelinkRequired (a link from before playlist access
        was asked for, or a revoked grant), SpotifyForbidden, SpotifyUnavailable (also while a sync
        of theirs holds the account longer than WRITE_LEASE_WAIT_S)."""
        status = await spotify_accounts.link_status(self.pool, user_id)
        if status is None:
            raise SpotifyNotLinked(
                "no Spotify account is linked: link one with `fullcircle spotify link` (or on "
                "the web app's Settings page), then export again"
            )
        if status != "linked":
            raise SpotifyRelinkRequired("the last sync found the grant revoked")
        account = None
        deadline = asyncio.get_running_loop().time() + WRITE_LEASE_WAIT_S
        while account is None:
            account = await spotify_accounts.claim_account(
                self.pool, user_id, self.holder, self.lease
            )
            if account is None:
                if asyncio.get_running_loop().time() > deadline:
                    raise SpotifyUnavailable(
                        "a sync of your Spotify account is running; try again in a minute"
                    )
                await asyncio.sleep(0.5)
        try:
            tokens = self._tokens(account)
            if PLAYLIST_SCOPE not in tokens.tokens.scope.split():
                raise SpotifyRelinkRequired(
                    "this link was made before Full-Circle asked to write playlists",
                    account.user_name,
                )
            uris, searched = await self._resolved(tokens, entries, account.user_name)
            if not any(uris):
                raise SpotifyNotFound(
                    f"Spotify's search found none of the playlist's {len(entries)} tracks"
                )
            existing = await spotify_accounts.written_playlist(self.pool, user_id, key)
            written = await asyncio.to_thread(
                self.client.write_playlist,
                tokens,
                name,
                description,
                [uri for uri in uris if uri],
                playlist_id=existing,
                user_name=account.user_name,
            )
            await spotify_accounts.save_written_playlist(
                self.pool, user_id, key, written.playlist_id, written.items
            )
            log.info(
                "spotify playlist of %s %s: %d items",
                account.user_name,
                "made" if written.created else "replaced in place",
                written.items,
            )
            return written, uris, searched
        finally:
            await spotify_accounts.release(self.pool, user_id, self.holder)

    async def _resolved(
        self, tokens: StoredTokens, entries: list[tuple[str, str, str]], user_name: str
    ) -> tuple[list[str], int]:
        """Each entry's URI: its own, else the cached answer of an earlier search, else
        Spotify's search (at most MAX_SEARCHES_PER_WRITE a write; every answer cached)."""
        keys = [(name_key(artist), title_key(title)) for artist, title, _ in entries]
        wanted = [key for key, (_, _, uri) in zip(keys, entries, strict=True) if not uri]
        cached = await spotify_accounts.searched_tracks(self.pool, wanted, SEARCH_MISS_DAYS)
        ask: dict[tuple[str, str], tuple[str, str]] = {}
        for key, (artist, title, uri) in zip(keys, entries, strict=True):
            if not uri and key not in cached and key not in ask and all(key):
                ask[key] = (artist, title)
        asked = dict(list(ask.items())[:MAX_SEARCHES_PER_WRITE])
        if asked:
            found = await asyncio.to_thread(
                self.client.search_tracks, tokens, list(asked.values()), user_name=user_name
            )
            answers = {key: found[pair] for key, pair in asked.items()}
            await spotify_accounts.save_searched_tracks(self.pool, answers)
            cached = {**cached, **answers}
        uris = [
            uri or cached.get(key) or "" for key, (_, _, uri) in zip(keys, entries, strict=True)
        ]
        return uris, len(asked)

    async def _sync(self, account: spotify_accounts.SpotifyAccount) -> SyncBatch | None:
        user_id = account.user_id
        provider = self._tokens(account)
        now = datetime.now(UTC)
        next_sync = next_sync_at(
            account.sync_cron, account.time_zone, now, self.settings.spotify_min_sync_interval_s
        )
        try:
            batch = await asyncio.to_thread(
                self.client.fetch_since,
                provider,
                account.cursor_ms,
                user_name=account.user_name,
            )
        except SpotifyRelinkRequired as exc:
            await spotify_accounts.record_failure(
                self.pool, user_id, str(exc), next_sync, relink_required=True
            )
            log.warning("Spotify sync of %s needs a re-link", account.user_name)
            return None
        except (SpotifyUnavailable, SpotifyError) as exc:
            await spotify_accounts.record_failure(
                self.pool,
                user_id,
                str(exc),
                min(next_sync, now + RETRY_AFTER_FAILURE),
                relink_required=False,
            )
            log.warning("Spotify sync of %s failed: %s", account.user_name, exc)
            return None
        batch = plausible_batch(batch, now)
        deltas = await store.store_synced_plays(self.pool, user_id, batch.plays)
        await spotify_accounts.record_sync(
            self.pool,
            user_id,
            cursor_ms=batch.cursor_ms,
            plays=sum(delta.new_plays for delta in deltas),
            possible_gap=batch.possible_gap,
            next_sync_at=next_sync,
        )
        log.info(
            "Spotify sync of %s: %d plays read, %d new%s",
            account.user_name,
            len(batch.plays),
            sum(delta.new_plays for delta in deltas),
            f", {rejected_summary(batch.rejected)}" if batch.rejected else "",
        )
        if batch.possible_gap:
            log.warning(
                "possible gap for %s: more than 50 plays since the last sync; import the "
                "export to fill it",
                account.user_name,
            )
        for event in plays_ingested_batches(
            user_id, None, "api", deltas, self.settings.artists_per_event
        ):
            await self.bus.publish(event)
        return batch


async def save_link(
    conn: AsyncConnection,
    token_box: TokenBox,
    user_id: UUID,
    user_name: str,
    tokens: TokenSet,
    time_zone: str,
    sync_cron: str,
) -> datetime:
    """Keep a new link (tokens sealed); returns when its first scheduled sync will run."""
    next_sync = next_sync_times(sync_cron, time_zone, datetime.now(UTC), 1)[0]
    await spotify_accounts.link_account(
        conn, user_id, user_name, token_box.seal(tokens), time_zone, sync_cron, next_sync
    )
    return next_sync

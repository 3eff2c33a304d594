"""Bus wiring over Redis Streams with FastStream: one broker factory, consumer groups created at
id 0, a claimer that retries pending messages, a heartbeat that keeps live work claimed, dead
letters after N deliveries (never trimmed), capped streams, the topology enforced.

Delivery is at-least-once, so every handler must be idempotent. A handler that raises leaves its
message pending (FastStream's REJECT on Redis does not XACK); the claimer of the same group takes
it again once it has been idle for `bus_claim_idle_ms`, and after `bus_max_deliveries` deliveries
it is moved to `<stream>.dlq` with the error and acknowledged, so it never blocks what follows.
While a handler runs, its consumer re-claims its own message every third of the idle time
(XCLAIM ... JUSTID resets the idle time and leaves the delivery count alone), so work that takes
longer than the idle time is not handed to the claimer and run a second time. A handler still
running after `bus_slow_handler_s` logs where it waits (the chain of awaits down to the line),
again each period, so a stalled pipeline says which call stalls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage
from faststream.redis.message import bDATA_KEY
from faststream.redis.parser.binary import BinaryMessageFormatV1
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fullcircle.events import CONSUMER_GROUPS, TOPOLOGY, Event, Topology, dead_letter_stream
from fullcircle.periodic import every
from fullcircle.settings import FullCircleSettings

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
EventHandler = Callable[[E], Awaitable[None]]

POLL_MS = 200
HEARTBEATS_PER_IDLE = 3

# The stream whose handler is running in this task: what it publishes is checked against it.
_handling: contextvars.ContextVar[str | None] = contextvars.ContextVar("handling", default=None)


class TopologyError(RuntimeError):
    """A service consumed or published a stream the topology (fullcircle/events.py) does not
    give it: a wiring bug, raised where it happens rather than drawn as a loop later."""


def consumer_name(service: str) -> str:
    """`<service>-<host>-<pid>`: unique per replica, stable for the life of the process."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


def redis_retry() -> Retry:
    """Reconnect with backoff when Redis drops a connection or restarts: up to 10 tries over
    about 10 s. FastStream's default is none, so after a Redis restart each pooled connection
    failed its first command ("Connection closed by server") and the publish with it."""
    return Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=10)


RETRIED_ERRORS = [RedisConnectionError, RedisTimeoutError]


def make_broker(settings: FullCircleSettings, middlewares: Sequence[Any] = ()) -> RedisBroker:
    """The one broker factory; nothing connects until the broker is started."""
    return RedisBroker(
        settings.redis_url,
        logger=logging.getLogger("fullcircle.bus"),
        middlewares=tuple(middlewares),
        retry=redis_retry(),
        retry_on_error=RETRIED_ERRORS,
    )


def make_redis(settings: FullCircleSettings) -> Redis:
    """A plain Redis client (XPENDING, XRANGE, the cache) that reconnects like the broker."""
    return Redis.from_url(
        settings.redis_url, retry=redis_retry(), retry_on_error=list(RETRIED_ERRORS)
    )


async def ensure_consumer_groups(redis: Redis, streams: dict[str, tuple[str, ...]]) -> None:
    """Create every consumer group at id 0 (creating the stream too), so no backlog is missed.

    Called by every service at start, before it publishes or consumes: whichever service starts
    first, the groups exist before the first event is written. Recreates groups Redis lost."""
    for stream, groups in streams.items():
        for group in groups:
            try:
                await redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise


class Bus:
    """A service's view of the bus: publish events, consume streams with retry and dead letters."""

    def __init__(
        self,
        settings: FullCircleSettings,
        service: str,
        middlewares: Sequence[Any] = (),
        topology: Topology = TOPOLOGY,
    ) -> None:
        self.settings = settings
        self.service = service
        self.topology = topology
        self.groups = topology.consumer_groups()
        self.broker = make_broker(settings, middlewares)
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("the bus is not started")
        return self._redis

    async def start(self) -> None:
        self._redis = make_redis(self.settings)
        await ensure_consumer_groups(self._redis, self.groups)
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def recover(self) -> int:
        """Recreate consumer groups Redis lost (restarted without its data) and restart the
        subscribers that stopped on NOGROUP; returns how many were restarted. Postgres is the
        source of truth: what Redis lost is re-published with `fullcircle replay`."""
        await ensure_consumer_groups(self.redis, self.groups)
        stopped = [sub for sub in self.broker.subscribers if not sub.running]
        for subscriber in stopped:
            await subscriber.start()
        if stopped:
            log.warning(
                "%s: restarted %d bus subscribers after Redis lost its groups",
                self.service,
                len(stopped),
            )
        return len(stopped)

    async def publish(self, event: Event) -> None:
        """Append `event` to its stream, capped at `bus_stream_maxlen` entries. A pipeline
        service publishes only the streams it produces, and a handler only those the topology
        lets it (tools such as replay re-publish facts on their producers' behalf)."""
        self._check_publish(event.stream)
        await self.broker.publish(
            event.model_dump(mode="json"),
            stream=event.stream,
            maxlen=self.settings.bus_stream_maxlen,
        )

    def _check_publish(self, stream: str) -> None:
        producer = self.topology.producers.get(stream)
        if producer is None:
            raise TopologyError(f"{stream} is not a stream of the topology")
        if self.service in self.topology.producers.values() and producer != self.service:
            raise TopologyError(f"{self.service} publishes {stream}, produced by {producer}")
        consumed = _handling.get()
        if consumed is not None and stream not in self.topology.publishes(self.service, consumed):
            raise TopologyError(
                f"{self.service}'s handler of {consumed} publishes {stream}, which the "
                "topology does not declare"
            )

    def consume(
        self,
        event_type: type[E],
        handler: EventHandler[E],
        on_give_up: Callable[[E, str], Awaitable[None]] | None = None,
        workers: int = 1,
    ) -> None:
        """Handle `event_type` in this service's consumer group, with a claimer for retries.

        `on_give_up(event, error)` runs when the event is moved to the dead letters, so the
        service can tell whoever waits for it (an import that will not finish, say). With
        `workers` > 1 that many messages are handled at once (in order of arrival otherwise)."""
        stream = event_type.stream
        if self.service not in self.groups.get(stream, ()):
            raise TopologyError(f"{self.service} is not a consumer of {stream} in the topology")
        consumer = consumer_name(self.service)

        def on_message_of(owner: str) -> Callable[[dict[str, Any], RedisStreamMessage], Any]:
            async def on_message(body: dict[str, Any], msg: RedisStreamMessage) -> None:
                try:
                    event = event_type.model_validate(body)
                except ValidationError as exc:
                    await self._dead_letter(stream, msg, f"invalid {event_type.__name__}: {exc}")
                    return
                try:
                    async with self._claim_kept(stream, owner, msg):
                        token = _handling.set(stream)
                        try:
                            await self._watched(stream, owner, msg, handler(event))
                        finally:
                            _handling.reset(token)
                except Exception as exc:
                    deliveries = await self._deliveries(stream, msg)
                    if deliveries >= self.settings.bus_max_deliveries:
                        await self._dead_letter(stream, msg, _describe(exc))
                        if on_give_up is not None:
                            token = _handling.set(stream)
                            try:
                                await on_give_up(event, _describe(exc))
                            finally:
                                _handling.reset(token)
                        return
                    log.warning(
                        "%s failed on %s (delivery %d of %d), will retry: %s",
                        self.service,
                        stream,
                        deliveries,
                        self.settings.bus_max_deliveries,
                        exc,
                    )
                    raise

            return on_message

        main = StreamSub(
            stream,
            group=self.service,
            consumer=consumer,
            polling_interval=POLL_MS,
            maxlen=self.settings.bus_stream_maxlen,
            # Read no more than can be handled at once: a message read is pending, and one
            # waiting behind a long handler would idle out and be run a second time by the
            # claimer (FastStream reads every new message at once without a count).
            max_records=workers,
        )
        claimer = StreamSub(
            stream,
            group=self.service,
            consumer=f"{consumer}-claimer",
            min_idle_time=self.settings.bus_claim_idle_ms,
            polling_interval=POLL_MS * 5,
        )
        self.broker.subscriber(stream=main, max_workers=workers)(on_message_of(consumer))
        self.broker.subscriber(stream=claimer, max_workers=workers)(
            on_message_of(f"{consumer}-claimer")
        )

    async def _watched(
        self, stream: str, owner: str, msg: RedisStreamMessage, work: Awaitable[None]
    ) -> None:
        """Await the handler's work; while it runs past `bus_slow_handler_s`, log where it
        waits each period (a stall otherwise shows only as a message that stays pending)."""
        task = asyncio.ensure_future(work)
        period_s = self.settings.bus_slow_handler_s
        started = asyncio.get_running_loop().time()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=period_s)
                if done:
                    return task.result()
                log.warning(
                    "%s: still handling %s of %s after %.1f s, waiting at %s",
                    owner,
                    _text(msg.raw_message["message_ids"][0]),
                    stream,
                    asyncio.get_running_loop().time() - started,
                    awaiting(task),
                )
        except asyncio.CancelledError:
            task.cancel()
            raise

    @contextlib.asynccontextmanager
    async def _claim_kept(
        self, stream: str, owner: str, msg: RedisStreamMessage
    ) -> AsyncIterator[None]:
        """Re-claim the message for `owner` while the body runs, so its idle time never
        reaches `bus_claim_idle_ms`; stop when the body returns or raises (a failed message
        then idles out and the claimer retries it)."""
        message_id = msg.raw_message["message_ids"][0]
        interval_s = self.settings.bus_claim_idle_ms / 1000 / HEARTBEATS_PER_IDLE

        async def beat() -> None:
            try:
                await self.redis.xclaim(stream, self.service, owner, 0, [message_id], justid=True)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("%s: heartbeat of %s on %s failed: %s", owner, message_id, stream, exc)

        async with every(interval_s, beat, f"heartbeat of {_text(message_id)} on {stream}"):
            yield

    async def _deliveries(self, stream: str, msg: RedisStreamMessage) -> int:
        message_id = msg.raw_message["message_ids"][0]
        pending = await self.redis.xpending_range(
            stream, self.service, min=message_id, max=message_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _dead_letter(self, stream: str, msg: RedisStreamMessage, error: str) -> None:
        message_id = msg.raw_message["message_ids"][0]
        fields: dict[Any, Any] = {
            bDATA_KEY: msg.raw_message["data"].get(bDATA_KEY, b""),
            b"stream": stream,
            b"message_id": message_id,
            b"group": self.service,
            b"error": error[-4000:],
            b"failed_at": datetime.now(UTC).isoformat(),
        }
        dlq = dead_letter_stream(stream)
        await self.redis.xadd(dlq, fields)  # never trimmed: a dead letter waits for a person
        await self.redis.xack(stream, self.service, message_id)
        log.error(
            "%s: message %s of %s moved to dead letters: %s",
            self.service,
            message_id,
            stream,
            error.splitlines()[0] if error else "",
        )
        held = await self.redis.xlen(dlq)
        if held > self.settings.bus_dead_letter_alert:
            log.error(
                "%s holds %d dead letters (alert above %d): list them with `fullcircle dlq "
                "list`, then replay or drop them",
                dlq,
                held,
                self.settings.bus_dead_letter_alert,
            )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def awaiting(task: asyncio.Future[Any]) -> str:
    """Where a pending task waits: each coroutine of its chain of awaits (file:line function),
    outermost first, then what the innermost awaits (a future, a sleep)."""
    steps: list[str] = []
    current: Any = getattr(task, "get_coro", lambda: None)()
    while current is not None:
        frame = next(
            (
                getattr(current, name)
                for name in ("cr_frame", "gi_frame", "ag_frame")
                if getattr(current, name, None) is not None
            ),
            None,
        )
        if frame is None:
            steps.append(type(current).__name__)
            break
        steps.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        current = next(
            (
                getattr(current, name)
                for name in ("cr_await", "gi_yieldfrom", "ag_await")
                if getattr(current, name, None) is not None
            ),
            None,
        )
    return " -> ".join(steps) or "(nothing)"


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def decode_entry(fields: dict[bytes, bytes], event_type: type[E]) -> E:
    """Turn a raw stream entry (as XREAD returns it) back into its event."""
    body, _headers = BinaryMessageFormatV1.parse(fields[bDATA_KEY])
    return event_type.model_validate_json(body)


@dataclass(frozen=True)
class DeadLetter:
    """A message that kept failing, as it sits in `<stream>.dlq`."""

    dlq_stream: str
    entry_id: str
    stream: str
    group: str
    error: str
    failed_at: str
    body: bytes

    @property
    def ref(self) -> str:
        """How the CLI names it: `<stream>.dlq/<entry id>`."""
        return f"{self.dlq_stream}/{self.entry_id}"


def _dead_letter_from(dlq_stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    def text(name: bytes) -> str:
        return fields.get(name, b"").decode(errors="replace")

    body, _headers = BinaryMessageFormatV1.parse(fields.get(bDATA_KEY, b""))
    return DeadLetter(
        dlq_stream,
        entry_id.decode(),
        text(b"stream"),
        text(b"group"),
        text(b"error"),
        text(b"failed_at"),
        body,
    )


async def list_dead_letters(redis: Redis, limit: int = 100) -> list[DeadLetter]:
    """The dead letters of every stream, oldest first."""
    found: list[DeadLetter] = []
    for stream in CONSUMER_GROUPS:
        dlq = dead_letter_stream(stream)
        for entry_id, fields in await redis.xrange(dlq, count=limit):
            found.append(_dead_letter_from(dlq, entry_id, fields))
    return found[:limit]


async def get_dead_letter(redis: Redis, ref: str) -> DeadLetter | None:
    dlq, _, entry_id = ref.rpartition("/")
    entries = await redis.xrange(dlq, min=entry_id, max=entry_id)
    return _dead_letter_from(dlq, *entries[0]) if entries else None


async def replay_dead_letter(redis: Redis, ref: str, maxlen: int) -> str:
    """Append the message to its stream again (every group reads it anew) and drop the dead
    letter; returns the new entry id. Handlers are idempotent, so a replay is safe."""
    dlq, _, entry_id = ref.rpartition("/")
    entries = await redis.xrange(dlq, min=entry_id, max=entry_id)
    if not entries:
        raise KeyError(ref)
    fields = entries[0][1]
    stream = fields[b"stream"].decode()
    new_id = await redis.xadd(stream, {bDATA_KEY: fields[bDATA_KEY]}, maxlen=maxlen)
    await redis.xdel(dlq, entry_id)
    return str(new_id.decode() if isinstance(new_id, bytes) else new_id)


async def drop_dead_letter(redis: Redis, ref: str) -> bool:
    dlq, _, entry_id = ref.rpartition("/")
    return bool(await redis.xdel(dlq, entry_id))

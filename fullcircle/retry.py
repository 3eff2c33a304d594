"""One retry policy for calls to outside APIs (Last.fm, Spotify): tenacity, with exponential
backoff plus random jitter, so replicas that failed together do not all retry together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import StopBaseT
from tenacity.wait import WaitBaseT, wait_base

log = logging.getLogger(__name__)

OnRetry = Callable[[BaseException, float], None]


def jittered_backoff(base_s: float, cap_s: float = 60.0) -> wait_base:
    """base, 2 x base, 4 x base ... (at most `cap_s`) after each failed attempt, plus up to one
    `base_s` of random jitter."""
    return wait_exponential(multiplier=base_s, max=cap_s) + wait_random(0, base_s)


def retrying(
    *,
    retry_on: Callable[[BaseException], bool],
    attempts: int | None = None,
    stop: StopBaseT | None = None,
    wait: WaitBaseT,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: OnRetry | None = None,
) -> Retrying:
    """A tenacity `Retrying` that retries the exceptions `retry_on` accepts, stops after
    `attempts` (or when `stop` says) and then re-raises the last exception itself, logging
    each retry as "`what`: <error>; retry N in S s". `on_retry` hears of each retry first."""
    if stop is None:
        if attempts is None:
            raise ValueError("retrying needs `attempts` or `stop`")
        stop = stop_after_attempt(attempts)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait_s = state.upcoming_sleep
        if error is not None and on_retry is not None:
            on_retry(error, wait_s)
        log.warning("%s: %s; retry %d in %.2fs", what, error, state.attempt_number, wait_s)

    return Retrying(
        retry=retry_if_exception(retry_on),
        stop=stop,
        wait=wait,
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )

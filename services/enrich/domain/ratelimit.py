"""A token bucket shared by every thread of a process that calls one API key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class TokenBucket:
    """At most `rate` acquisitions per second on average and `burst` at once.

    With burst 1 the calls are spaced 1/rate apart when they actually go out (not only in
    their reserved slots), so no 1-second window holds more than `rate` calls."""

    def __init__(
        self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()
        self._grant_lock = threading.Lock()
        self._last_grant = float("-inf")

    def reserve(self) -> float:
        """Take a token; returns how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> None:
        """Block until the caller may make one call."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)
        if self.burst == 1:
            self._space_out()

    def _space_out(self) -> None:
        """Keep the calls themselves 1/rate apart: a thread that overslept its slot would
        otherwise go out right before the next thread's, two calls in one slot's time."""
        with self._grant_lock:
            gap = self._last_grant + 1.0 / self.rate - self._clock()
            if gap > 0:
                time.sleep(gap)
            self._last_grant = self._clock()


def max_calls_in_window(call_times: Iterable[float], window_s: float = 1.0) -> int:
    """The most calls any `window_s`-long window [t, t + window_s) holds."""
    times = sorted(call_times)
    most = first = 0
    for last, moment in enumerate(times):
        while moment - times[first] >= window_s:
            first += 1
        most = max(most, last - first + 1)
    return most

"""Web app page times on a running stack: the *Now* and *Your taste* pages, each requested
`--repeat` times one after another, next to the gateway call each page makes
(GetRecommendations, GetTasteProfile) made as often from this process in the same run.

For each page: the server's time until the response started (its Server-Timing header), the
time to first byte and the whole response as this client saw them, p50 / p95; for each call its
p50 / p95; then the ratio of the page's p95 to its call's p95 (target: within 2x, and under
150 ms). The listener is a user of the stack's CLI (`make demo` leaves "demo" with the
generated 140,000-play history); the bench signs in with a one-time link, as a browser would.

python -m bench web_pages [--user demo] [--repeat 50] [--data-dir .fullcircle]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from redis.asyncio import Redis

from fullcircle.client import FullCircleClient
from services.web.adapters.sessions import SessionStore
from tools.stack.local import LocalStack, default_data_dir

# The gateway allows 50 calls a second per key (KEY_RATE_LIMIT); requests are spaced to stay
# under it (the pause is not part of any time measured).
PACE_S = 0.03


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    }


async def _page_times(web: httpx.AsyncClient, path: str, repeat: int) -> dict[str, object]:
    server, first_byte, whole = [], [], []
    for _ in range(repeat):
        started = time.perf_counter()
        async with web.stream("GET", path) as response:
            first_byte.append(time.perf_counter() - started)
            await response.aread()
        whole.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        timing = re.search(r"app;dur=([\d.]+)", response.headers.get("server-timing", ""))
        assert timing, "no Server-Timing header"
        server.append(float(timing.group(1)) / 1000)
        await asyncio.sleep(PACE_S)
    return {
        "server": _percentiles(server),
        "first_byte": _percentiles(first_byte),
        "whole": _percentiles(whole),
        "bytes": len(response.content),
    }


async def _call_times(call: Callable[[], Awaitable[object]], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(PACE_S)
    return _percentiles(samples)


async def measure(data_dir: Path, user: str, repeat: int) -> dict[str, object]:
    state = LocalStack(data_dir).running()
    if state is None:
        raise SystemExit(f"no stack running in {data_dir}: `make demo` or `fullcircle up`")
    api_key = json.loads((data_dir / "credentials.json").read_text())[user]
    redis = Redis.from_url(state.redis_url)
    link = await SessionStore(redis, 3600, 600).create_link(api_key)
    await redis.aclose()
    results: dict[str, object] = {"user": user, "repeat": repeat}
    async with (
        httpx.AsyncClient(base_url=state.web_url, timeout=60) as web,
        FullCircleClient(state.gateway_address, api_key) as client,
    ):
        signed_in = await web.get(f"/signin/link/{link}")
        assert signed_in.status_code == 303, signed_in.text[:300]
        profile = await client.taste_profile()
        results["plays"] = profile.plays
        for path, call in (
            ("/now", lambda: client.recommendations(20)),
            ("/taste", client.taste_profile),
        ):
            await web.get(path)  # warm: the charts' first render, the channel
            page = await _page_times(web, path, repeat)
            rpc = await _call_times(call, repeat)
            page["grpc"] = rpc
            server_p95 = page["server"]["p95_ms"]  # type: ignore[index]
            page["server_p95_over_grpc_p95"] = round(server_p95 / max(rpc["p95_ms"], 0.1), 2)
            results[path] = page
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web_pages")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.data_dir, args.user, args.repeat))
    print(json.dumps(results, indent=2))
    return 0

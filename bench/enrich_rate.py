"""Enrich at Last.fm's rate limit: the sanabil export's artists fetched from the local server
(HetRec catalog) on the adapter's thread pool, while top tracks of recommended artists are
fetched through the same client (as enrich's handlers share it); prints achieved rate,
busiest second, cache.

Short run (~20 s):  python -m bench enrich_rate                     (200 artists at 20/s)
Full run (~10 min): python -m bench enrich_rate --artists 0 --rate 5  (all 905, production rate)
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from fullcircle.ratelimit import max_calls_in_window
from services.enrich.adapters.lastfm import ArtistKnowledge, LastfmClient
from services.enrich.lastfm_local import Catalog, LocalLastfmServer, catalog_from_hetrec
from services.ingest.domain.exports import read_export_path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HETREC = SHARED_DATA / "hetrec2011-lastfm-2k"
SANABIL_EXPORT = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"


class StampedServer(LocalLastfmServer):
    """The local server, also noting when each API call arrived (server-side clock)."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.arrivals: list[float] = []
        self._arrivals_lock = threading.Lock()

    def _record_call(self, method: str, names: tuple[str, ...] = ()) -> tuple[float, int | None]:
        with self._arrivals_lock:
            self.arrivals.append(time.monotonic())
        return super()._record_call(method, names)


def export_artists(path: Path, limit: int) -> list[str]:
    """Distinct artist names of an export in order of first play (all when `limit` is 0)."""
    plays = read_export_path(path).plays
    names = list(dict.fromkeys(p.artist_name for p in plays if p.artist_name))
    return names[:limit] if limit else names


def cached_fetch(
    client: LastfmClient,
    cache: dict[str, ArtistKnowledge],
    names: list[str],
    similar_limit: int | None,
) -> None:
    """Fetch what the in-memory cache lacks, as enrich does with its Postgres cache."""
    missing = [name for name in names if name.lower() not in cache]
    for knowledge in client.artists(missing, similar_limit):
        cache[knowledge.name.lower()] = knowledge


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench enrich_rate", description=__doc__)
    parser.add_argument("--artists", type=int, default=200, help="0 = every artist")
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second (prod: 5)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--similar-limit", type=int, default=50, help="0 = tags only")
    parser.add_argument(
        "--top-tracks", type=int, default=20, help="artist.getTopTracks calls made meanwhile"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    catalog = catalog_from_hetrec(HETREC)
    names = export_artists(SANABIL_EXPORT, args.artists)
    print(
        f"catalog: {len(catalog)} HetRec artists; export: {len(names)} artists "
        f"(loaded in {time.perf_counter() - started:.1f}s)"
    )
    server = StampedServer(catalog)
    server.start()
    try:
        client = LastfmClient("bench-key", server.url, args.rate, retries=4, workers=args.workers)
        cache: dict[str, ArtistKnowledge] = {}
        similar_limit = args.similar_limit or None
        recommended = [artist.name for artist in catalog.artists[: args.top_tracks]]
        top_tracks = threading.Thread(
            target=lambda: [client.artist_top_tracks(name) for name in recommended]
        )
        started = time.perf_counter()
        top_tracks.start()
        cached_fetch(client, cache, names, similar_limit)
        top_tracks.join()
        elapsed = time.perf_counter() - started
        calls = client.calls
        found = sum(1 for knowledge in cache.values() if knowledge.found)
        cached_fetch(client, cache, names, similar_limit)
        second_run_calls = client.calls - calls
    finally:
        server.stop()

    achieved = calls / elapsed if elapsed else 0.0
    floor = (calls - 1) / args.rate if calls else 0.0
    busiest = max_calls_in_window(server.arrivals[:calls], 1.0)
    print(
        f"artists fetched:            {len(names)} ({found} on Last.fm, {len(names) - found} not)"
    )
    print(
        f"calls made:                 {calls} (server counted {len(server.arrivals[:calls])};"
        f" {len(recommended)} of them artist.getTopTracks)"
    )
    print(
        f"achieved rate:              {achieved:.2f} calls/s vs limit {args.rate:g}"
        f" (ratio {achieved / args.rate:.3f})"
    )
    print(f"max calls in any 1 s:       {busiest} (limit {args.rate:g}, server-side clock)")
    print(
        f"total time:                 {elapsed:.2f} s vs physical floor {floor:.2f} s"
        f" ((calls - 1) / rate; ratio {elapsed / floor if floor else 0:.3f})"
    )
    print(f"calls on a second run:      {second_run_calls} (in-memory cache of the results)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the local Last.fm-compatible server until SIGTERM or Ctrl-C.

python -m services.enrich.lastfm_local --catalog PATH | --hetrec DIR [--host H] [--port P]
    [--port-file F]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from services.enrich.lastfm_local.catalog import Catalog, catalog_from_hetrec, load_catalog_json
from services.enrich.lastfm_local.server import LocalLastfmServer

logger = logging.getLogger("services.enrich.lastfm_local")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.enrich.lastfm_local",
        description="Serve a Last.fm-compatible API (ws.audioscrobbler.com/2.0/) locally.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--catalog", type=Path, help="catalog JSON (e.g. the generated demo)")
    source.add_argument("--hetrec", type=Path, help="hetrec2011-lastfm-2k dataset folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    return parser.parse_args(argv)


def _load_catalog(args: argparse.Namespace) -> Catalog:
    if args.catalog is not None:
        return load_catalog_json(args.catalog)
    return catalog_from_hetrec(args.hetrec)


def main(argv: list[str] | None = None) -> int:
    """Load the catalog, serve it, and exit cleanly on SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = _parse_args(argv)
    started = time.perf_counter()
    try:
        catalog = _load_catalog(args)
    except (OSError, ValueError) as error:
        print(f"cannot load the catalog: {error}", file=sys.stderr)
        return 2
    server = LocalLastfmServer(catalog, host=args.host, port=args.port)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run off the serving thread.
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.port_file is not None:
        args.port_file.write_text(f"{server.port}\n", encoding="utf-8")
    logger.info(
        "local Last.fm serving %d artists at %s (catalog loaded in %.1fs)",
        len(catalog),
        server.url,
        time.perf_counter() - started,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

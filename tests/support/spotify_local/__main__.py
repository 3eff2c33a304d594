"""Run the local Spotify Accounts + Web API server until SIGTERM or Ctrl-C.

python -m tests.support.spotify_local [--host H] [--port P] [--port-file F] [--client-id ID]
    [--listener NAME --recorded RESPONSE.json ...]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from tests.support.spotify_local.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_LISTENER,
    LocalSpotifyServer,
    ScriptedPlay,
    recorded_plays,
)

logger = logging.getLogger("tests.support.spotify_local")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.spotify_local",
        description="Serve Spotify's Accounts service and Web API (recently played) locally.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the app's client id")
    parser.add_argument("--listener", default=DEFAULT_LISTENER, help="who /authorize logs in")
    parser.add_argument(
        "--recorded",
        type=Path,
        action="append",
        default=[],
        help="a recorded recently-played response whose plays start the listener's history",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; exit 2 when a recorded response cannot be read."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = _parse_args(argv)
    history: list[ScriptedPlay] = []
    try:
        for path in args.recorded:
            history.extend(recorded_plays(path))
    except (OSError, ValueError, KeyError) as error:
        print(f"cannot read a recorded recently-played response: {error}", file=sys.stderr)
        return 2
    server = LocalSpotifyServer(
        client_id=args.client_id,
        host=args.host,
        port=args.port,
        plays={args.listener: history},
        login_as=args.listener,
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run off the serving thread.
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.port_file is not None:
        args.port_file.write_text(f"{server.port}\n", encoding="utf-8")
    logger.info(
        "local Spotify serving %d plays for %s at %s", len(history), args.listener, server.url
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m fullcircle.health HOST:PORT`: exit 0 when that service answers SERVING."""

from __future__ import annotations

import asyncio
import sys

from fullcircle.grpc_server import check_health


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fullcircle.health HOST:PORT")
    sys.exit(0 if asyncio.run(check_health(sys.argv[1])) else 1)


if __name__ == "__main__":
    main()

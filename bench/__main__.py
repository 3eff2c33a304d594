"""Run a benchmark by name: `python -m bench enrich_rate [--artists N] [--rate R]`."""

from __future__ import annotations

import importlib
import sys

BENCHES = (
    "enrich_rate",
    "ingest_import",
    "ingest_memory",
    "ingest_e2e",
    "grpc_load",
    "features_recompute",
    "model_train",
    "model_serve_training",
    "crash_all",
    "soak",
    "real_rate",
    "training_view",
    "upload_memory",
    "web_pages",
    "explanations",
    "ingest_sources",
)


def main(argv: list[str]) -> int:
    """Run the named bench with the remaining arguments; list the benches otherwise."""
    if not argv or argv[0] not in BENCHES:
        print(f"usage: python -m bench {{{','.join(BENCHES)}}} [options]", file=sys.stderr)
        return 2
    bench = importlib.import_module(f"bench.{argv[0]}")
    code: int = bench.main(argv[1:])
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The `fullcircle` CLI run as a process, the way a user runs it, against a stack's data folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_cli(
    data_dir: Path, *args: str, env: Mapping[str, str], timeout_s: float = 180.0
) -> subprocess.CompletedProcess[str]:
    """`fullcircle ARGS --data-dir DATA_DIR` in `env`, wide enough that no line wraps."""
    return subprocess.run(
        [sys.executable, "-m", "tools.cli.app", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**env, "COLUMNS": "200"},
    )

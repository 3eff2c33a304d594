"""The model's training processes: a server killed outright (SIGKILL, as the crash drills do)
leaves no training process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from services.model.training import TrainingPool

    async def main() -> None:
        pool = TrainingPool(1)
        print(await pool.run(os.getpid), flush=True)
        time.sleep(600)

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


def alive(pid: int) -> bool:
    """Running (an exited process nobody has reaped yet, a zombie, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


def test_a_killed_server_leaves_no_training_process(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert worker != server.pid and alive(worker)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    for _ in range(200):  # the worker notices within a second or so; this only bounds the wait
        if not alive(worker):
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError(f"training process {worker} outlived its server")

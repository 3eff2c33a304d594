"""The model's training processes: a server killed outright (SIGKILL, as the crash drills do)
leaves no training process behind; a job that never answers is given up, its process killed,
and the next job runs on a new pool."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fullcircle.processes import JobTimeout
from services.model.training import TrainingPool

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
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1]
    except FileNotFoundError:  # reaped between the signal and the read
        return False
    return not state.startswith("Z")


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


async def test_a_job_that_never_answers_is_given_up_and_the_next_runs_on_a_new_pool() -> None:
    pool = TrainingPool(1, job_timeout_s=3.0)
    try:
        stuck = await pool.run(os.getpid)
        with pytest.raises(JobTimeout):
            await pool.run(time.sleep, 600)
        for _ in range(100):  # killed at once; this only bounds the wait for the kernel
            if not alive(stuck):
                break
            await asyncio.sleep(0.05)
        assert not alive(stuck), "the stuck training process was left running"
        fresh = await pool.run(os.getpid)
        assert fresh != stuck and alive(fresh)
    finally:
        await pool.stop()

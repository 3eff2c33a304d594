"""Worker processes for a service's CPU-bound work (the model's training, features' recompute):
the work runs there, never on the service's event loop, so its GIL cannot stall the gRPC
server, the health checks or the bus handlers.

One pool per service, of `processes` spawned interpreters (no copy of the server's event loop,
sockets or pools: a fork of a process running gRPC and asyncio is not safe); jobs are
module-level functions of plain data. What can go wrong, and what happens:
- A worker dies (killed, out of memory): the pool breaks; the job raises BrokenProcessPool (its
  message is retried by the bus) and a new pool takes the next job.
- A job gives no answer in `job_timeout_s` (a stuck worker, a pool that never started one):
  the pool's processes are killed, a new pool takes the next job, and the job raises
  JobTimeout, so one stuck process never holds a listener's work, and all that is queued
  behind it, forever.
- The service dies, even by SIGKILL: its workers notice within PARENT_CHECK_SECONDS and exit
  (a pool's workers otherwise live on as orphans).
Workers may run at a lower CPU priority (`niceness`): background work then yields the cores
to the serving process on a machine where they compete."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.process
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)

Result = TypeVar("Result")

PARENT_CHECK_SECONDS = 1.0


class JobTimeout(TimeoutError):
    """A job ran past the pool's deadline; the pool was replaced (its message is retried by the
    bus on a fresh process)."""


class ProcessPool:
    """`processes` spawned workers at `niceness`; see the module docstring."""

    def __init__(
        self,
        processes: int,
        job_timeout_s: float = 600.0,
        niceness: int = 0,
        role: str = "worker",
    ) -> None:
        self.processes = processes
        self.job_timeout_s = job_timeout_s
        self.niceness = niceness
        self.role = role
        self._executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.niceness,),
        )

    async def run(self, job: Callable[..., Result], *args: object) -> Result:
        """`job(*args)` in a worker process."""
        executor = self._executor
        started = time.monotonic()
        try:
            return await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(executor, job, *args),
                self.job_timeout_s,
            )
        except BrokenProcessPool:
            if executor is self._executor:
                log.warning("a %s process died: starting a new pool", self.role)
                self._replace(executor)
            raise
        except TimeoutError:
            workers = _workers(executor)
            log.error(
                "%s job %s gave no answer in %.0f s (workers alive: %s): killing the pool",
                self.role,
                getattr(job, "__name__", job),
                time.monotonic() - started,
                {pid: process.is_alive() for pid, process in workers.items()} or "none",
            )
            if executor is self._executor:
                self._replace(executor)
            for process in workers.values():
                process.kill()
            raise JobTimeout(
                f"{self.role} job gave no answer in {self.job_timeout_s:.0f} s; retried on a "
                "new pool"
            ) from None

    def _replace(self, executor: ProcessPoolExecutor) -> None:
        self._executor = self._new()
        executor.shutdown(wait=False, cancel_futures=True)

    async def stop(self) -> None:
        """Finish the job under way, drop the queued ones (their messages are retried)."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    def close(self) -> None:
        """Drop the queued jobs and let the workers go without waiting for them."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _workers(executor: ProcessPoolExecutor) -> dict[int, multiprocessing.process.BaseProcess]:
    """The pool's worker processes (the executor keeps them in `_processes`; no public API)."""
    return dict(getattr(executor, "_processes", None) or {})


def _start_worker(niceness: int) -> None:
    if niceness:
        os.nice(niceness)
    parent = os.getppid()

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="exit-with-server", daemon=True).start()

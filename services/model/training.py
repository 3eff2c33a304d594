"""The processes that train models: CPU-bound work (forests, weight search, the final ranking)
runs here, never on the serving process's event loop, so its GIL cannot stall the Recommender
gRPC server or the bus handlers while a model trains."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# Training is background work: on a machine where it and the server compete for the cores, the
# scheduler gives the serving process the CPU first.
TRAINING_NICENESS = 10
PARENT_CHECK_SECONDS = 1.0


class TrainingPool:
    """A process pool made once per service: jobs are module-level functions of plain data.
    'spawn' starts clean interpreters (no copy of the server's event loop, sockets or pool);
    a worker that dies (killed, out of memory) breaks the pool, which is made anew for the
    next job while the failed one raises (its message is retried by the bus). Workers run at a
    lower CPU priority than the server, and end when the server dies, even by SIGKILL (a
    pool's workers otherwise live on as orphans)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: Executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )

    async def run(self, job: Callable[..., Result], *args: object) -> Result:
        """`job(*args)` in a training process."""
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, job, *args)
        except BrokenProcessPool:
            if executor is self._executor:
                log.warning("a training process died: starting a new pool")
                self._executor = self._new()
                executor.shutdown(wait=False)
            raise

    async def stop(self) -> None:
        """Finish the job under way, drop the queued ones (their messages are retried)."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


def _start_worker() -> None:
    os.nice(TRAINING_NICENESS)
    parent = os.getppid()

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="exit-with-server", daemon=True).start()

"""The processes that train models: CPU-bound work (forests, weight search, the final ranking)
runs here, never on the serving process's event loop, so its GIL cannot stall the Recommender
gRPC server or the bus handlers while a model trains. The kernel's worker pool
(fullcircle/processes.py: dead and stuck workers replaced, no orphans), at a lower priority."""

from __future__ import annotations

from fullcircle.processes import ProcessPool

# Training is background work: on a machine where it and the server compete for the cores, the
# scheduler gives the serving process the CPU first.
TRAINING_NICENESS = 10


class TrainingPool(ProcessPool):
    def __init__(self, processes: int, job_timeout_s: float = 600.0) -> None:
        super().__init__(processes, job_timeout_s, niceness=TRAINING_NICENESS, role="training")

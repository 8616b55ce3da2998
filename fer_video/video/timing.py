"""Wall-clock time per pipeline stage, summed over a run (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Adds up the seconds spent in each named stage; stages running in parallel threads
    (analysis and encoding) each count their own time, so the sum can exceed the wall time."""

    def __init__(self) -> None:
        self._totals: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._totals[name] += seconds

    def as_dict(self) -> dict[str, float]:
        """Seconds per stage, rounded to milliseconds."""
        with self._lock:
            return {name: round(seconds, 3) for name, seconds in self._totals.items()}

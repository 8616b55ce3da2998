"""Turns for long jobs (video analyses): a few run at once, a bounded number wait in line, and
the next one is refused with a message saying so.

Gradio's own queue would do the first two, but its page shows a bare "Error" when the queue is
full (Gradio 6.31); a refusal raised here reaches the page as a one-line message, and a job
waiting its turn can tell the page how many are ahead of it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ServerBusy(RuntimeError):
    """Too many jobs are running or waiting already."""


class JobGate:
    """At most ``running`` jobs at once, at most ``waiting`` more in line (first come, first
    served); :meth:`turn` refuses any more with :class:`ServerBusy`."""

    def __init__(self, running: int, waiting: int) -> None:
        if running < 1 or waiting < 0:
            raise ValueError(f"need running >= 1 and waiting >= 0, got {running} and {waiting}")
        self.running, self.waiting = running, waiting
        self._active = 0
        self._line: deque[object] = deque()
        self._changed = threading.Condition()

    @contextmanager
    def turn(self, on_wait: Callable[[int], None] | None = None) -> Iterator[None]:
        """Wait for this job's turn, then run the ``with`` body; ``on_wait(ahead)`` hears how many
        jobs are ahead (running or earlier in line) whenever that changes while waiting."""
        ticket = object()
        with self._changed:
            if self._active + len(self._line) >= self.running + self.waiting:
                raise ServerBusy(
                    f"The server is busy ({self._active} running, {len(self._line)} waiting: its limit). "
                    "Please try again in a few minutes."
                )
            self._line.append(ticket)
        try:
            self._wait_for(ticket, on_wait)
        except BaseException:
            with self._changed:
                self._line.remove(ticket)
                self._changed.notify_all()
            raise
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def _wait_for(self, ticket: object, on_wait: Callable[[int], None] | None) -> None:
        told = None
        while True:
            with self._changed:
                if self._line[0] is ticket and self._active < self.running:
                    self._line.popleft()
                    self._active += 1
                    return
                ahead = self._active + self._line.index(ticket)
                if ahead == told or on_wait is None:
                    self._changed.wait()
                    continue
            on_wait(ahead)  # outside the lock: it may take its time
            told = ahead

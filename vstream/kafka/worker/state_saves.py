"""When the worker saves its streams' states, and which chunks it may then ack.

A live camera's chunks (parts of GOPs) come five a second and the worker's batches as often,
while faust commits offsets once a second; saving every batch's states wrote ~1.9 MB of
changelog a second per camera. So states are saved at most every `STATE_SAVE_INTERVAL_S`, and a
batch's chunks are acked only once a save covers them: a crash replays the chunks after the last
save from the saved states, which makes the same rows. A batch that failed midway leaves the
states in memory ahead of the store: from then on nothing is saved or acked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Container, Iterable

from vstream.kafka.worker.stream_state import StreamState

#: seconds between saves of the streams' states (see the module docstring)
STATE_SAVE_INTERVAL_S = 1.0


class PendingSaves:
    """The states moved on since the last save, and the events (faust's) of those batches."""

    def __init__(self, interval_s: float = STATE_SAVE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._states: dict[str, StreamState] = {}
        self._events: list = []
        # never saved: due at once, whatever the clock (monotonic time starts near 0 at boot)
        self._saved_at = -math.inf
        self.failed = False

    def add(self, states: Iterable[StreamState], events: list) -> None:
        """A batch is done: its states moved on, its events wait for a save."""
        self._states.update((state.stream_id, state) for state in states)
        self._events += events

    def due(self) -> bool:
        """Whether events wait and the last save is `interval_s` old."""
        return bool(self._events) and time.monotonic() - self._saved_at >= self.interval_s

    def save(self, assigned: Container[int], put: Callable[[StreamState], None]) -> list:
        """Save (`put`) the waiting states of partitions still `assigned` (a revoked one's new
        owner replays from what the changelog held); return the events they cover, to ack.
        Between batches only; nothing after a failed batch."""
        if self.failed:
            return []
        for state in self._states.values():
            if state.partition in assigned:
                put(state)
        self._states.clear()
        self._saved_at = time.monotonic()
        return self.finished()

    def finished(self) -> list:
        """The streams were finished (their rows hold every chunk): the events to ack, with no
        state left to save."""
        self._states.clear()
        done, self._events = self._events, []
        return done

    def forget(self, gone: Container[int]) -> None:
        """Partitions `gone` were revoked: their waiting states and events are dropped (neither
        saved nor acked: the new owner replays them)."""
        self._states = {k: s for k, s in self._states.items() if s.partition not in gone}
        self._events = [e for e in self._events if e.message.partition not in gone]

"""Keeping the synth inside real time when the CPU cannot keep up.

:class:`LoadGovernor` watches the render load of every block (render time / audio
time). When blocks keep taking longer than ``high`` of their own duration, it lowers the
polyphony limit by one voice (the synth fades the oldest voice out); when the load has
stayed below ``low`` for a while, it gives a voice back, up to the configured limit.
Owned by the render thread.
"""

from __future__ import annotations


class LoadGovernor:
    def __init__(self, voices: int, high: float = 0.9, low: float = 0.6, patience: int = 3,
                 recover: int = 64):
        self.max_voices = voices
        self.limit = voices  # the polyphony allowed now
        self.high, self.low = high, low
        self.patience, self.recover = patience, recover
        self._over = 0  # consecutive blocks over `high`
        self._under = 0  # consecutive blocks under `low`
        self.shed = 0  # voices taken away, in all

    def update(self, load: float, sounding: int) -> int:
        """Feed one block's load; returns the new polyphony limit."""
        if load > self.high:
            self._over += 1
            self._under = 0
            if self._over >= self.patience and self.limit > 1:
                self.limit = max(1, min(self.limit, sounding) - 1)
                self.shed += 1
                self._over = 0
        else:
            self._over = 0
            self._under = self._under + 1 if load < self.low else 0
            if self._under >= self.recover and self.limit < self.max_voices:
                self.limit += 1
                self._under = 0
        return self.limit

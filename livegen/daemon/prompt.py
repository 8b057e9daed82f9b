"""Tokens for a phrase while it is being played (incremental priming).

:class:`LiveEncoder` turns the player's note messages, as they arrive, into the
phrase model's tokens (livegen.core.tokens), so the generator thread can feed the
LSTM note by note and a phrase's end never waits for the whole prompt.

It writes with :class:`livegen.core.tokens.EventWriter`, the tokenizer
``encode_notes`` is built on, so it gives exactly the tokens ``encode_notes``
gives for the whole phrase (tested with chords, overlaps and notes shorter than
a tick): events are held back until time moves past their tick, then written in
the offline order (note-offs first, then note-ons by pitch), and a note-off in
its note-on's tick moves to the next tick, as offline. So a chord played in any order primes the model the way the
training data was written; the cost is that a tick's events reach the LSTM with
the next event (or at the phrase's end).

Owned by the generator thread.
"""

from __future__ import annotations

from livegen.core import tokens as tk

_OFF, _ON = tk.OFF_EVENT, tk.ON_EVENT


class LiveEncoder:
    def __init__(self, origin_beat: float):
        self.origin = origin_beat  # tick 0: the phrase's first note-on
        self.tokens: list[int] = []  # everything emitted (the prompt, for the copy guard)
        self._writer = tk.EventWriter()
        self._held = [0] * tk.NUM_PITCHES  # notes on per pitch as messages arrive (orphan offs)
        self._on_tick = [-1] * tk.NUM_PITCHES  # tick of each pitch's latest note-on message
        self._pending: list[tuple[int, int, int, int]] = []  # (tick, kind, pitch, velocity)
        self._last_tick = 0

    def _tick(self, beat: float) -> int:
        return max(round((beat - self.origin) * tk.TICKS_PER_BEAT), self._last_tick)

    def feed(self, time: float, on: bool, pitch: int, velocity: int) -> list[int]:
        """Tokens ready after one note message at ``time`` beats (velocity 0 is an off)."""
        if not 0 <= pitch < tk.NUM_PITCHES:
            return []
        tick = self._tick(time)
        out = self._flush(before=tick)
        self._last_tick = tick
        if on and velocity > 0:
            self._held[pitch] += 1
            self._on_tick[pitch] = tick
            self._pending.append((tick, _ON, pitch, min(127, velocity)))
        elif self._held[pitch] > 0:
            self._held[pitch] -= 1
            if self._on_tick[pitch] == tick:
                tick += 1  # shorter than a tick: held for one, as encode_notes does
            self._pending.append((tick, _OFF, pitch, 0))
        return self._emit(out)

    def advance_to(self, beat: float) -> list[int]:
        """Everything held back, then time shifts up to ``beat`` (the gap to the response)."""
        out = self._flush(before=None)
        tick = round((beat - self.origin) * tk.TICKS_PER_BEAT)
        out += self._writer.advance_to(tick)
        self._last_tick = max(self._last_tick, tick)
        return self._emit(out)

    def close_all(self, beat: float) -> list[int]:
        """Note-offs at ``beat`` for keys still held (the phrase was cut), then everything held back."""
        tick = self._tick(beat)
        for pitch in range(tk.NUM_PITCHES):
            for _ in range(self._held[pitch]):
                self._pending.append((tick + 1 if self._on_tick[pitch] == tick else tick, _OFF, pitch, 0))
            self._held[pitch] = 0
        return self._emit(self._flush(before=None))

    def _emit(self, out: list[int]) -> list[int]:
        self.tokens.extend(out)
        return out

    def _flush(self, before: int | None) -> list[int]:
        """Tokens for the held-back events at ticks before ``before`` (None: all), in encode_notes' order."""
        if not self._pending:
            return []
        if before is None:
            ready, self._pending = sorted(self._pending), []
        else:
            ready = sorted(e for e in self._pending if e[0] < before)
            self._pending = [e for e in self._pending if e[0] >= before]
        return self._writer.write(ready)

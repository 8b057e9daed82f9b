"""Tokens for a phrase while it is being played (incremental priming).

:class:`LiveEncoder` turns the player's note messages, as they arrive, into
the phrase model's tokens (livegen.core.tokens), so the generator thread can
feed the LSTM note by note and a phrase's end never waits for the whole
prompt. For a phrase whose events come in time order it gives the tokens
``encode_notes`` gives for the whole phrase (tested); where the live stream
differs (a note-on and its note-off in one tick, events in one tick in
another order) it keeps the order of arrival.

Owned by the generator thread.
"""

from __future__ import annotations

from livegen.core import tokens as tk


class LiveEncoder:
    def __init__(self, origin_beat: float):
        self.origin = origin_beat  # tick 0: the phrase's first note-on
        self.tick = 0  # ticks encoded so far
        self._velocity_bin = -1
        self._sounding: set[int] = set()
        self.tokens: list[int] = []  # everything emitted, for the copy guard and key

    def _emit(self, out: list[int]) -> list[int]:
        self.tokens.extend(out)
        return out

    def _shift_to(self, beat: float, out: list[int]) -> None:
        tick = round((beat - self.origin) * tk.TICKS_PER_BEAT)
        if tick > self.tick:
            out.extend(tk.time_shift_tokens(tick - self.tick))
            self.tick = tick

    def feed(self, time: float, on: bool, pitch: int, velocity: int) -> list[int]:
        """Tokens for one note message at ``time`` beats (note-on with velocity 0 is an off)."""
        out: list[int] = []
        if not 0 <= pitch < tk.NUM_PITCHES:
            return out
        if on and velocity > 0:
            self._shift_to(time, out)
            if pitch in self._sounding:
                out.append(tk.NOTE_OFF + pitch)
            b = tk.velocity_bin(min(127, velocity))
            if b != self._velocity_bin:
                out.append(tk.VELOCITY + b)
                self._velocity_bin = b
            out.append(tk.NOTE_ON + pitch)
            self._sounding.add(pitch)
        elif pitch in self._sounding:
            self._shift_to(time, out)
            if out == [] and self._last_is_on(pitch):
                # an off in the same tick as its on: hold the note one tick, as encode_notes does
                out.append(tk.TIME_SHIFT)
                self.tick += 1
            out.append(tk.NOTE_OFF + pitch)
            self._sounding.discard(pitch)
        return self._emit(out)

    def _last_is_on(self, pitch: int) -> bool:
        return bool(self.tokens) and self.tokens[-1] == tk.NOTE_ON + pitch

    def advance_to(self, beat: float) -> list[int]:
        """Time shifts up to ``beat`` (the gap from the phrase's end to the response)."""
        out: list[int] = []
        self._shift_to(beat, out)
        return self._emit(out)

    def close_all(self, beat: float) -> list[int]:
        """Note-offs for keys still held (the phrase was cut while they sounded)."""
        out: list[int] = []
        if self._sounding:
            self._shift_to(beat, out)
            out += [tk.NOTE_OFF + p for p in sorted(self._sounding)]
            self._sounding.clear()
        return self._emit(out)

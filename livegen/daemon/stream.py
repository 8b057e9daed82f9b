"""Sampling a response beat by beat, so its first notes are scheduled before the rest exists.

:func:`livegen.core.sampling.stream_tokens` draws exactly the tokens
:func:`livegen.core.sampling.generate` draws (generate is built on it), but yields them in
chunks as soon as each chunk's time has been covered. :class:`StreamDecoder` turns tokens into note
messages as they come, as :func:`livegen.core.tokens.decode_tokens` would (a note
shorter than a tick is held one tick; notes left open close at the end).

The generator thread schedules each chunk as it is ready: the choice of the bar
line then depends on the time to the first beat, not on the response's length.
"""

from __future__ import annotations

from livegen.core import tokens as tk


class StreamDecoder:
    """Tokens -> (tick, message) events and finished notes, incrementally."""

    def __init__(self, channel: int, velocity: int = 80):
        self.channel = channel
        self.tick = 0
        self.velocity = tk.quantize_velocity(velocity)
        self._sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start tick, velocity)
        self.notes: list[tk.Note] = []  # finished, in ticks/24 = beats from the response's start

    def _close(self, pitch: int, tick: int, events: list) -> None:
        start, vel = self._sounding.pop(pitch)
        end = max(tick, start + 1)
        self.notes.append(tk.Note(start / tk.TICKS_PER_BEAT, end / tk.TICKS_PER_BEAT, pitch, vel))
        events.append((end, bytes((0x80 | self.channel, pitch, 0))))

    def feed(self, tokens) -> list[tuple[int, bytes]]:
        """(tick, message) events for these tokens (note-offs may fall after the last tick)."""
        events: list[tuple[int, bytes]] = []
        for tok in tokens:
            tok = int(tok)
            if tk.is_time_shift(tok):
                self.tick += tk.shift_ticks(tok)
            elif tk.is_note_on(tok):
                pitch = tok - tk.NOTE_ON
                if pitch in self._sounding:
                    self._close(pitch, self.tick, events)
                self._sounding[pitch] = (self.tick, self.velocity)
                events.append((self.tick, bytes((0x90 | self.channel, pitch, max(1, min(127, self.velocity))))))
            elif tk.is_note_off(tok):
                pitch = tok - tk.NOTE_OFF
                if pitch in self._sounding:
                    self._close(pitch, self.tick, events)
            elif tk.VELOCITY <= tok < tk.TIME_SHIFT:
                self.velocity = tk.bin_velocity(tok - tk.VELOCITY)
        return events

    def close(self) -> list[tuple[int, bytes]]:
        """Note-offs for notes still open, at the current tick (the response's end)."""
        events: list[tuple[int, bytes]] = []
        for pitch in list(self._sounding):
            self._close(pitch, self.tick, events)
        return events

    def sorted_notes(self) -> list[tk.Note]:
        return sorted(self.notes, key=lambda n: (n.start, n.pitch, n.end))

"""Sampling a response beat by beat, so its first notes are scheduled before the rest exists.

:func:`livegen.core.sampling.stream_tokens` draws exactly the tokens
:func:`livegen.core.sampling.generate` draws (generate is built on it), but yields them in
chunks as soon as each chunk's time has been covered. :class:`StreamDecoder` turns tokens into note
messages as they come: it is :class:`livegen.core.tokens.TokenReader`, the decoder
:func:`livegen.core.tokens.decode_tokens` is built on, with MIDI bytes (a note shorter
than a tick is held one tick; notes left open close at the end).

The generator thread schedules each chunk as it is ready: the choice of the bar
line then depends on the time to the first beat, not on the response's length.
"""

from __future__ import annotations

from livegen.core import tokens as tk


class StreamDecoder:
    """Tokens -> (tick, message) events and finished notes, incrementally: the MIDI bytes
    of :class:`livegen.core.tokens.TokenReader`'s events on one channel."""

    def __init__(self, channel: int, velocity: int = 80):
        self.channel = channel
        self.reader = tk.TokenReader(velocity=velocity)

    @property
    def notes(self) -> list[tk.Note]:
        return self.reader.notes  # finished, in beats from the response's start

    def _midi(self, events) -> list[tuple[int, bytes]]:
        ch = self.channel
        return [(tick, bytes((0x90 | ch, pitch, max(1, min(127, vel)))) if on else bytes((0x80 | ch, pitch, 0)))
                for tick, on, pitch, vel in events]

    def feed(self, tokens) -> list[tuple[int, bytes]]:
        """(tick, message) events for these tokens (note-offs may fall after the last tick)."""
        return self._midi(self.reader.feed(tokens))

    def close(self) -> list[tuple[int, bytes]]:
        """Note-offs for notes still open, at the current tick (the response's end)."""
        return self._midi(self.reader.close())

    def sorted_notes(self) -> list[tk.Note]:
        return self.reader.sorted_notes()

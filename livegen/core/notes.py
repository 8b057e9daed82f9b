"""Notes: their names, and open-note bookkeeping so that every note livegen starts is also ended.

:class:`OpenNotes` counts the note-ons sent per (channel, pitch) and when each
started. Whatever happens (stop, panic, an interrupted response, a note held
too long), :meth:`OpenNotes.closing_messages` gives the note-offs that end
every open note, plus All Notes Off on each channel that was used.

Owned by the thread that sends to one output (the MIDI sender, the synth).
"""

from __future__ import annotations

ALL_NOTES_OFF = 123
ALL_SOUND_OFF = 120
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def pitch_name(pitch: int) -> str:
    """A MIDI pitch as a name with its octave: 60 is C4."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def note_on_off(msg: bytes) -> tuple[str, int, int] | None:
    """('on' | 'off', channel, pitch) for a note message, else None (note-on at velocity 0 is off)."""
    if len(msg) < 3:
        return None
    kind = msg[0] & 0xF0
    if kind == 0x90 and msg[2] > 0:
        return "on", msg[0] & 0x0F, msg[1]
    if kind == 0x80 or kind == 0x90:
        return "off", msg[0] & 0x0F, msg[1]
    return None


def is_note_on(msg: bytes) -> bool:
    """Whether ``msg`` starts a note (a note-on at velocity > 0), on any channel."""
    note = note_on_off(msg)
    return note is not None and note[0] == "on"


def left_sounding(messages) -> dict[tuple[int, int], int]:
    """(channel, pitch) -> count of notes a stream of (time, message) leaves sounding.

    An off ends one note of its pitch; All Notes Off ends every note of its channel.
    Empty: every note that started was ended.
    """
    sounding: dict[tuple[int, int], int] = {}
    for _, m in messages:
        note = note_on_off(m)
        if note and note[0] == "on":
            sounding[note[1], note[2]] = sounding.get((note[1], note[2]), 0) + 1
        elif note and sounding.get((note[1], note[2])):
            sounding[note[1], note[2]] -= 1
        elif len(m) > 2 and m[0] & 0xF0 == 0xB0 and m[1] == ALL_NOTES_OFF:
            sounding = {k: v for k, v in sounding.items() if k[0] != m[0] & 0x0F}
    return {k: v for k, v in sounding.items() if v}


class OpenNotes:
    def __init__(self) -> None:
        self._open: dict[tuple[int, int], list[int]] = {}  # (channel, pitch) -> start times (ns)
        self._channels: set[int] = set()

    def __len__(self) -> int:
        return sum(len(v) for v in self._open.values())

    def track(self, msg: bytes, now_ns: int = 0) -> None:
        """Record a message that was sent."""
        note = note_on_off(msg)
        if note is None:
            return
        kind, channel, pitch = note
        key = (channel, pitch)
        if kind == "on":
            self._open.setdefault(key, []).append(now_ns)
            self._channels.add(channel)
        elif key in self._open:
            # MIDI has no note identity: an off ends the oldest note of that pitch
            starts = self._open[key]
            starts.pop(0)
            if not starts:
                del self._open[key]

    def is_open(self, channel: int, pitch: int) -> bool:
        return (channel, pitch) in self._open

    def held_longer_than(self, max_ns: int, now_ns: int) -> list[bytes]:
        """Note-offs for notes held longer than ``max_ns`` (send them, then ``track`` them)."""
        return [bytes((0x80 | ch, pitch, 0)) for (ch, pitch), starts in self._open.items()
                if now_ns - starts[0] > max_ns]

    def closing_messages(self) -> list[bytes]:
        """Note-offs for every open note (once per note-on), then All Notes Off per used channel.

        Clears the record: after sending these, nothing is open.
        """
        out = [bytes((0x80 | ch, pitch, 0)) for (ch, pitch), starts in sorted(self._open.items())
               for _ in starts]
        out += [bytes((0xB0 | ch, ALL_NOTES_OFF, 0)) for ch in sorted(self._channels)]
        self._open.clear()
        self._channels.clear()
        return out

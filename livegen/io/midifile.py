"""MIDI files <-> plain notes in beats (``livegen.core.tokens.Note``).

Reading (mido parses the bytes, including running status):

- time is in beats (ticks / ticks per beat), so tempo changes do not move notes
  on the grid; the tempo map is returned as (beat, bpm) pairs for writing back;
- all tracks and channels are merged in time order (file order within a tick);
- note-on with velocity 0 is a note-off; a note-on of a sounding pitch on the
  same channel ends the sounding note first (counted);
- the drum channel (10, index 9) is left out unless ``drums=True`` (counted),
  since pitches there are instruments, not notes;
- sysex, meta and controller messages are skipped and counted;
- a truncated, garbage or unsupported file raises :class:`DataError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from livegen.core.tokens import Note, NoteMessage, TokenStats, notes_from_messages
from livegen.errors import DataError
from livegen.fileio import atomic_path

DRUM_CHANNEL = 9


@dataclass
class MidiContent:
    notes: list[Note]
    stats: TokenStats
    ticks_per_beat: int
    tempos: list[tuple[float, float]] = field(default_factory=list)  # (beat, bpm), in order
    length_beats: float = 0.0


def _count(stats: TokenStats, key: str) -> None:
    stats.extra[key] = stats.extra.get(key, 0) + 1


def read_midi(path: str | Path, *, drums: bool = False) -> MidiContent:
    """Read a standard MIDI file. Raises DataError for anything unreadable."""
    import mido

    path = Path(path)
    try:
        mid = mido.MidiFile(str(path))  # mido raises many kinds for bad bytes
    except FileNotFoundError as err:
        raise DataError(f"{path}: no such file") from err
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        what = str(err) or type(err).__name__
        if isinstance(err, EOFError):
            what = "file ends in the middle of a track (truncated)"
        raise DataError(f"{path}: not a readable MIDI file: {what}") from err
    ppq = mid.ticks_per_beat
    if not isinstance(ppq, int) or ppq <= 0 or ppq >= 0x8000:
        raise DataError(f"{path}: SMPTE time division is not supported (need ticks per beat)")
    if mid.type == 2:
        raise DataError(f"{path}: MIDI file type 2 (independent sequences) is not supported")

    stats = TokenStats()
    timed = []  # (tick, track, index, message)
    for ti, track in enumerate(mid.tracks):
        tick = 0
        for mi, msg in enumerate(track):
            tick += msg.time
            timed.append((tick, ti, mi, msg))
    timed.sort(key=lambda x: (x[0], x[1], x[2]))  # type 1: tracks play together

    messages: list[NoteMessage] = []
    tempos: list[tuple[float, float]] = []
    last_tick = 0
    for tick, _ti, _mi, msg in timed:
        last_tick = max(last_tick, tick)
        beat = tick / ppq
        if msg.type in ("note_on", "note_off"):
            if msg.channel == DRUM_CHANNEL and not drums:
                if msg.type == "note_on" and msg.velocity > 0:
                    _count(stats, "drum_notes")
                continue
            messages.append(NoteMessage(beat, msg.type == "note_on", msg.note,
                                        msg.velocity if msg.type == "note_on" else 0, msg.channel))
        elif msg.type == "set_tempo":
            tempos.append((beat, round(mido.tempo2bpm(msg.tempo), 3)))
        elif msg.type == "sysex":
            _count(stats, "sysex")
        elif msg.is_meta:
            _count(stats, "meta")
        else:
            _count(stats, msg.type)  # control_change, program_change, pitchwheel, ...
    notes = notes_from_messages(messages, stats, end_time=last_tick / ppq)
    stats.notes_in = len(notes)
    return MidiContent(notes, stats, ppq, tempos, last_tick / ppq)


def read_notes(path: str | Path, *, drums: bool = False) -> tuple[list[Note], TokenStats]:
    content = read_midi(path, drums=drums)
    return content.notes, content.stats


def write_notes(path: str | Path, notes: Sequence[Note], *, ticks_per_beat: int = 480,
                tempos: Sequence[tuple[float, float]] = ((0.0, 120.0),), channel: int = 0,
                program: int | None = None) -> None:
    """Write notes (beats) as a type-0 MIDI file on one channel.

    At one tick note-offs come before note-ons, so a repeated pitch is not cut.
    """
    import mido

    if not 0 <= channel <= 15:
        raise ValueError(f"channel must be in range 0..15, got {channel}")
    events = []  # (tick, order, message)
    for beat, bpm in tempos:
        events.append((round(beat * ticks_per_beat), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    if program is not None:
        events.append((0, 1, mido.Message("program_change", program=program, channel=channel)))
    for n in notes:
        on = round(n.start * ticks_per_beat)
        off = max(on + 1, round(n.end * ticks_per_beat))
        events.append((on, 3, mido.Message("note_on", note=n.pitch, velocity=n.velocity, channel=channel)))
        events.append((off, 2, mido.Message("note_off", note=n.pitch, velocity=0, channel=channel)))
    events.sort(key=lambda e: (e[0], e[1], e[2].bytes() if not e[2].is_meta else []))
    track = mido.MidiTrack()
    now = 0
    for tick, _order, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(track)
    try:
        with atomic_path(path) as tmp:
            mid.save(str(tmp))
    except OSError as err:
        raise DataError(f"{path}: cannot write MIDI file: {err.strerror or err}") from err

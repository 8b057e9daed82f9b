"""Writing what was played live (timestamped raw MIDI) as a type-1 MIDI file."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from livegen.errors import DataError


def write_tracks(path: str | Path, tracks: Sequence[tuple[str, Sequence[tuple[float, bytes]]]], *,
                 bpm: float, ticks_per_beat: int = 480) -> None:
    """``tracks``: (name, [(beat, raw channel message), ...]); one track each, tempo ``bpm``.

    Messages before beat 0 are moved to beat 0; non-channel messages are left out.
    """
    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
                            mido.MetaMessage("end_of_track", time=0)])
    mid.tracks.append(tempo)
    for name, events in tracks:
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        now = 0
        for beat, raw in sorted(events, key=lambda e: e[0]):
            if not raw or not 0x80 <= raw[0] < 0xF0:
                continue
            tick = max(0, round(beat * ticks_per_beat))
            try:
                msg = mido.Message.from_bytes(list(raw))
            except ValueError:
                continue
            track.append(msg.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    try:
        mid.save(str(path))
    except OSError as err:
        raise DataError(f"{path}: cannot write MIDI file: {err.strerror or err}") from err

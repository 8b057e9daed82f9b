"""Rendering a MIDI file through the synth, offline: ``livegen render``."""

from __future__ import annotations


import numpy as np

from livegen.core.tokens import Note
from livegen.synth.synth import Synth


def seconds_at(beat: float, tempos: list[tuple[float, float]], default_bpm: float = 120.0) -> float:
    """Seconds from beat 0 to ``beat`` under a tempo map of (beat, bpm) changes."""
    changes = sorted(t for t in tempos if t[0] <= beat) or [(0.0, default_bpm)]
    if changes[0][0] > 0:
        changes.insert(0, (0.0, default_bpm))
    seconds = 0.0
    for (b0, bpm), nxt in zip(changes, changes[1:] + [(beat, 0.0)]):
        seconds += (min(nxt[0], beat) - b0) * 60.0 / bpm
    return seconds


def note_events(notes: list[Note], tempos, sample_rate: int, frame: int) -> list[tuple[int, bytes]]:
    """(sample, message) for every note-on and note-off, on the synth's frame grid, in order.

    A note-off sorts before a note-on at the same sample, so a repeated pitch restarts.
    """
    events = []
    for n in notes:
        start = round(seconds_at(n.start, tempos) * sample_rate / frame) * frame
        end = max(start + frame, round(seconds_at(n.end, tempos) * sample_rate / frame) * frame)
        events.append((start, 1, bytes([0x90, n.pitch, max(1, min(127, n.velocity))])))
        events.append((end, 0, bytes([0x80, n.pitch, 0])))
    return [(t, m) for t, _, m in sorted(events, key=lambda e: (e[0], e[1]))]


def render_events(synth: Synth, events: list[tuple[int, bytes]], tail_s: float = 1.0,
                  block: int = 256, progress=None) -> np.ndarray:
    """Render events (sample, message) from sample 0 until the last note has rung out.
    ``progress(done, total)`` (samples) is called after every block when given."""
    out, pos, i = [], 0, 0
    end = (events[-1][0] if events else 0) + int(tail_s * synth.sample_rate)
    while pos < end or synth.active_voices:
        if progress is not None:
            progress(pos, end)
        while i < len(events) and events[i][0] <= pos:
            synth.handle(events[i][1])
            i += 1
        nxt = events[i][0] if i < len(events) else pos + block
        n = max(synth.frame, min(block, nxt - pos))
        out.append(synth.render(n))
        pos += n
        if pos > end + int(synth.release_max_s * synth.sample_rate) + block:
            break
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def render_note(synth: Synth, pitch: int, velocity: int, hold_s: float, total_s: float,
                channel: int = 0) -> np.ndarray:
    """One note from silence: key held ``hold_s`` seconds, ``total_s`` seconds of audio."""
    n_hold = max(1, int(round(hold_s * synth.sample_rate)))
    n_total = max(n_hold, int(round(total_s * synth.sample_rate)))
    synth.handle(bytes([0x90 | channel, pitch, velocity]))
    a = synth.render(n_hold)
    synth.handle(bytes([0x80 | channel, pitch, 0]))
    return np.concatenate([a, synth.render(n_total - n_hold)])

"""A generated performance for ``livegen bench soak`` (and its test): what a busy player and
DAW send for a while. Not a subcommand: the soak's helper, beside it.

:func:`performance` yields ``(seconds, message)`` in time order, seeded: a running MIDI
clock (Start, then 24 ticks per beat at a slowly drifting tempo), phrases of notes and
chords with pauses long enough to be answered, controller sweeps (timbre morph and
temperature), program changes, and now and then a burst of a hundred notes in a tenth of
a second. Every note-on it sends gets its note-off, so a note left sounding on livegen's
output is livegen's.
"""

from __future__ import annotations

import heapq
import random
from typing import Iterator

from livegen.core.notes import note_on_off

SCALE = (0, 2, 4, 5, 7, 9, 11)


def performance(seconds: float, seed: int = 0, bpm: float = 120.0, morph_cc: int = 1,
                temperature_cc: int = 20, channel: int = 0) -> Iterator[tuple[float, bytes]]:
    rng = random.Random(seed)
    events: list[tuple[float, int, bytes]] = []
    order = 0

    def at(t: float, msg) -> None:
        nonlocal order
        note = note_on_off(bytes(msg))
        if note and note[0] == "off":
            t = min(t, seconds)  # a note-off is never lost to the end of the performance
        if 0 <= t <= seconds:
            heapq.heappush(events, (t, order, bytes(msg)))
            order += 1

    # the clock: Start, then ticks at a tempo drifting by up to 10%
    at(0.0, [0xFA])
    t, tempo = 0.0, bpm
    while t < seconds:
        at(t, [0xF8])
        tempo = min(bpm * 1.1, max(bpm * 0.9, tempo + rng.uniform(-0.05, 0.05)))
        t += 60.0 / tempo / 24
    # sections of playing, each followed by a pause to be answered in
    t = 1.0
    on, off = 0x90 | channel, 0x80 | channel
    while t < seconds - 1.0:
        root = 48 + rng.randrange(12)
        kind = rng.random()
        if kind < 0.12:  # a burst
            for k in range(100):
                p = 36 + rng.randrange(60)
                at(t + k * 0.001, [on, p, 1 + rng.randrange(127)])
                at(t + k * 0.001 + 0.0005, [off, p, 0])
            t += 0.2
        else:
            for _ in range(rng.randint(4, 12)):
                chord = rng.choice((1, 1, 1, 2, 3))
                length = rng.uniform(0.08, 0.6)
                for c in range(chord):
                    p = root + SCALE[rng.randrange(7)] + 12 * rng.randrange(2) + (c * 4 if chord > 1 else 0)
                    at(t, [on, min(p, 127), 40 + rng.randrange(87)])
                    at(t + length, [off, min(p, 127), 0])
                t += length * rng.uniform(0.6, 1.2)
        if rng.random() < 0.5:  # sweep the timbre morph across the phrase and its answer
            for k in range(100):
                at(t - 1.0 + k * 0.03, [0xB0 | channel, morph_cc, round(127 * abs(1 - k / 50))])
        if rng.random() < 0.3:
            at(t, [0xC0 | channel, rng.randrange(8)])
        if rng.random() < 0.3:
            at(t, [0xB0 | channel, temperature_cc, rng.randrange(128)])
        t += rng.uniform(2.5, 5.0)  # silence: the phrase ends and livegen answers
    while events:
        t, _, msg = heapq.heappop(events)
        yield t, msg

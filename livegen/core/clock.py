"""Musical time: a map between the monotonic clock (ns) and beats.

:class:`BeatClock` runs from the configured tempo, or follows the DAW's MIDI
clock (0xF8, 24 per quarter note; Start, Stop, Continue, Song Position) when
one arrives, and falls back to its last tempo when the ticks stop.

The control thread owns the clock and is the only one that calls its ``on_*``
methods. Other threads read :attr:`BeatClock.state`, an immutable
:class:`ClockState` replaced whole on every change, so a reader never sees a
half-updated map.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

TICKS_PER_BEAT = 24
NS = 1_000_000_000
# a MIDI clock's tempo is kept within what jam.tempo_bpm allows: ticks bunched by a busy
# driver, a flood or a stalled sequencer never make livegen play at 2 million or 2 bpm
MIN_BPM, MAX_BPM = 20.0, 400.0


@dataclass(frozen=True)
class ClockState:
    anchor_ns: int  # a moment ...
    anchor_beat: float  # ... and the beat position at that moment
    bpm: float
    running: bool  # False while the DAW is stopped: time does not advance beats
    source: str  # "internal" or "midi"

    def beat_at(self, t_ns: int) -> float:
        if not self.running:
            return self.anchor_beat
        return self.anchor_beat + (t_ns - self.anchor_ns) * self.bpm / (60 * NS)

    def time_at(self, beat: float) -> int:
        """When ``beat`` happens (a stopped clock extrapolates at its last tempo)."""
        return self.anchor_ns + round((beat - self.anchor_beat) * 60 * NS / self.bpm)

    def beat_ns(self) -> float:
        return 60 * NS / self.bpm


def next_bar(beat: float, beats_per_bar: int) -> float:
    """The first bar line at or after ``beat`` (a hair past a bar line counts as that bar)."""
    return math.ceil(beat / beats_per_bar - 1e-9) * beats_per_bar


class BeatClock:
    def __init__(self, bpm: float, now_ns: int, follow_midi: bool = True,
                 timeout_beats: float = 2.0):
        self.follow_midi = follow_midi
        self.timeout_beats = timeout_beats  # ticks missing this long: back to internal time
        self.state = ClockState(now_ns, 0.0, bpm, True, "internal")
        self._ticks = 0  # position of the next MIDI clock tick, in ticks (Start: 0; Song Position)
        self._last_tick_ns: int | None = None
        self._intervals: deque[int] = deque(maxlen=TICKS_PER_BEAT)
        self._midi_running = False

    # -- configured tempo -------------------------------------------------------------
    def set_bpm(self, bpm: float, now_ns: int) -> None:
        """Change tempo at ``now_ns`` keeping the beat position continuous."""
        s = self.state
        self.state = ClockState(now_ns, s.beat_at(now_ns), bpm, s.running, s.source)

    # -- MIDI clock -----------------------------------------------------------------
    def on_message(self, status: int, now_ns: int, data: bytes = b"") -> None:
        """Feed a system real-time or Song Position message received at ``now_ns``."""
        if not self.follow_midi:
            return
        if status == 0xF8:
            self._on_tick(now_ns)
        elif status == 0xFA:  # Start: from the top
            self._ticks = 0
            self._start(now_ns, 0.0)
        elif status == 0xFB:  # Continue: from where we stopped (or Song Position)
            self._start(now_ns, self._ticks / TICKS_PER_BEAT)
        elif status == 0xFC:  # Stop
            self._midi_running = False
            s = self.state
            self.state = ClockState(now_ns, s.beat_at(now_ns), s.bpm, False, "midi")
        elif status == 0xF2 and len(data) >= 2:  # Song Position: 14 bits of sixteenth notes
            sixteenths = data[0] | (data[1] << 7)
            self._ticks = sixteenths * (TICKS_PER_BEAT // 4)
            if not self._midi_running:
                s = self.state
                self.state = ClockState(now_ns, self._ticks / TICKS_PER_BEAT, s.bpm, s.running, s.source)

    def _start(self, now_ns: int, beat: float) -> None:
        self._midi_running = True
        self._last_tick_ns = None
        self.state = ClockState(now_ns, beat, self.state.bpm, True, "midi")

    def _on_tick(self, now_ns: int) -> None:
        if self._last_tick_ns is not None:
            interval = now_ns - self._last_tick_ns
            if 0 < interval < NS:  # 1 s per tick is 2.5 bpm: anything slower is a pause
                self._intervals.append(interval)
        self._last_tick_ns = now_ns
        position = self._ticks / TICKS_PER_BEAT  # the first tick after Start is beat 0
        if self._midi_running:
            self._ticks += 1
        if len(self._intervals) < 2:
            return
        bpm = 60 * NS / (sum(self._intervals) / len(self._intervals) * TICKS_PER_BEAT)
        bpm = min(MAX_BPM, max(MIN_BPM, bpm))
        s = self.state
        if self._midi_running:
            # the tick says where we are; follow it smoothly (a small phase correction
            # per tick absorbs arrival jitter without drifting), or jump if far off
            predicted = s.beat_at(now_ns)
            error = position - predicted
            beat = position if abs(error) > 0.5 else predicted + 0.25 * error
            self.state = ClockState(now_ns, beat, bpm, True, "midi")
        else:  # ticks without Start (or after Stop): take the tempo, keep the position
            self.state = ClockState(now_ns, s.beat_at(now_ns), bpm, s.running, "midi")

    def check_timeout(self, now_ns: int) -> None:
        """Ticks stopped arriving while running: keep going at the last tempo, on our own."""
        s = self.state
        if (s.source == "midi" and s.running and self._last_tick_ns is not None
                and now_ns - self._last_tick_ns > self.timeout_beats * s.beat_ns()):
            self._midi_running = False
            self.state = ClockState(now_ns, s.beat_at(now_ns), s.bpm, True, "internal")

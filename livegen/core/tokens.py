"""The phrase model's vocabulary: notes in beats <-> token ids.

Pure logic (numpy and the standard library only), so the daemon can tokenize
live input and the tests need no MIDI library.

The scheme is Performance RNN's (Oore et al. 2018) on a tempo-relative grid:

====================  =====  =============================================
token                 count  meaning
====================  =====  =============================================
PAD                   1      padding; never produced by the encoder
BOS                   1      start of a piece
NOTE_ON p             128    pitch p starts, at the current velocity
NOTE_OFF p            128    pitch p ends
VELOCITY b            16     later note-ons have velocity bin b
TIME_SHIFT k          96     time moves on by k ticks (k = 1..96)
====================  =====  =============================================

A tick is 1/24 of a beat (MIDI clock resolution): 32nd notes are 3 ticks and
triplet eighths 8. A gap longer than 4 beats is several time shifts. At one
tick the events sort note-offs first, then velocity and note-ons by pitch.

What the vocabulary cannot hold is dropped or changed on purpose and counted
in :class:`TokenStats`: notes shorter than a tick after rounding are held for
one tick, a note-on of a pitch already sounding ends the sounding note first,
and a decoded note left open is closed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

TICKS_PER_BEAT = 24
NUM_PITCHES = 128
NUM_VELOCITY_BINS = 16
MAX_SHIFT_TICKS = 96

PAD = 0
BOS = 1
NOTE_ON = 2
NOTE_OFF = NOTE_ON + NUM_PITCHES
VELOCITY = NOTE_OFF + NUM_PITCHES
TIME_SHIFT = VELOCITY + NUM_VELOCITY_BINS  # TIME_SHIFT + k - 1 is a shift of k ticks
VOCAB_SIZE = TIME_SHIFT + MAX_SHIFT_TICKS

#: The vocabulary's description, stored in checkpoints and ONNX files so that a
#: model is never run with a vocabulary it was not trained on.
VOCAB_SPEC = {
    "scheme": "performance-rnn-beats",
    "version": 1,
    "ticks_per_beat": TICKS_PER_BEAT,
    "num_pitches": NUM_PITCHES,
    "num_velocity_bins": NUM_VELOCITY_BINS,
    "max_shift_ticks": MAX_SHIFT_TICKS,
    "offsets": {"pad": PAD, "bos": BOS, "note_on": NOTE_ON, "note_off": NOTE_OFF,
                "velocity": VELOCITY, "time_shift": TIME_SHIFT},
    "size": VOCAB_SIZE,
}


@dataclass(frozen=True)
class Note:
    """A note in beats (quarter notes from the start of the phrase or file)."""

    start: float
    end: float
    pitch: int  # 0..127
    velocity: int  # 1..127


@dataclass(frozen=True)
class NoteMessage:
    """One note-on or note-off as the daemon or a MIDI file sees it.

    ``velocity`` 0 on a note-on means note-off, as in MIDI.
    """

    time: float  # beats
    on: bool
    pitch: int
    velocity: int = 0
    channel: int = 0


@dataclass
class TokenStats:
    """What the vocabulary could not hold, counted (never a crash)."""

    notes_in: int = 0
    notes_lengthened: int = 0  # shorter than one tick after rounding
    notes_retriggered: int = 0  # a note-on of a pitch already sounding
    notes_merged: int = 0  # a second note-on of a pitch at the same tick (unison)
    notes_unterminated: int = 0  # note-on without note-off (closed at the end)
    orphan_note_offs: int = 0  # note-off with no sounding note
    out_of_range: int = 0  # pitch or velocity outside 0..127
    invalid_tokens: int = 0  # ids outside the vocabulary, or PAD, in decoding
    extra: dict = field(default_factory=dict)

    def dropped(self) -> int:
        return self.orphan_note_offs + self.out_of_range + self.invalid_tokens

    def add(self, other: "TokenStats") -> None:
        for k, v in vars(other).items():
            if k == "extra":
                for ek, ev in v.items():
                    self.extra[ek] = self.extra.get(ek, 0) + ev
            else:
                setattr(self, k, getattr(self, k) + v)


# -- velocity bins --------------------------------------------------------------


def velocity_bin(velocity: int) -> int:
    """MIDI velocity 1..127 -> bin 0..15 (equal widths, 8 velocities each)."""
    v = min(127, max(1, int(velocity)))
    return (v - 1) * NUM_VELOCITY_BINS // 127


def bin_velocity(b: int) -> int:
    """Bin -> the velocity in its middle: the value decoding gives back."""
    lo = -(-(b * 127) // NUM_VELOCITY_BINS) + 1  # smallest v with velocity_bin(v) == b
    hi = -(-((b + 1) * 127) // NUM_VELOCITY_BINS)  # largest
    return (lo + hi) // 2


def quantize_velocity(velocity: int) -> int:
    """What a velocity comes back as after a round trip."""
    return bin_velocity(velocity_bin(velocity))


# -- token kinds --------------------------------------------------------------


def is_note_on(tok: int) -> bool:
    return NOTE_ON <= tok < NOTE_OFF


def is_note_off(tok: int) -> bool:
    return NOTE_OFF <= tok < VELOCITY


def is_time_shift(tok: int) -> bool:
    return TIME_SHIFT <= tok < VOCAB_SIZE


def shift_ticks(tok: int) -> int:
    """Ticks a token moves time on by (0 if it is not a time shift)."""
    return tok - TIME_SHIFT + 1 if TIME_SHIFT <= tok < VOCAB_SIZE else 0


def token_name(tok: int) -> str:
    if tok == PAD:
        return "PAD"
    if tok == BOS:
        return "BOS"
    if is_note_on(tok):
        return f"ON{tok - NOTE_ON}"
    if is_note_off(tok):
        return f"OFF{tok - NOTE_OFF}"
    if VELOCITY <= tok < TIME_SHIFT:
        return f"VEL{tok - VELOCITY}"
    if is_time_shift(tok):
        return f"T{shift_ticks(tok)}"
    return f"?{tok}"


def time_shift_tokens(ticks: int) -> list[int]:
    """Tokens for a gap of ``ticks`` (several when longer than the largest shift)."""
    out = []
    while ticks > 0:
        k = min(ticks, MAX_SHIFT_TICKS)
        out.append(TIME_SHIFT + k - 1)
        ticks -= k
    return out


# -- messages -> notes -----------------------------------------------------------


def notes_from_messages(messages: Iterable[NoteMessage], stats: TokenStats | None = None,
                        end_time: float | None = None) -> list[Note]:
    """Pair note-ons with note-offs, per (channel, pitch).

    A note-on with velocity 0 is a note-off. A second note-on of a sounding
    pitch ends the first note there (counted as retriggered), unless both
    start together: a unison doubling is one note, ended by the first
    note-off (counted as merged; the second note-off is absorbed). A note-off with
    nothing sounding is counted and ignored. Notes still sounding at the end
    close at ``end_time`` (default: the last message's time), counted.
    Messages must be in time order.
    """
    stats = stats if stats is not None else TokenStats()
    sounding: dict[tuple[int, int], tuple[float, int]] = {}
    doubled: dict[tuple[int, int], int] = {}  # unison note-ons merged, whose note-offs are still to come
    notes: list[Note] = []
    last = 0.0
    for m in messages:
        last = max(last, m.time)
        if not 0 <= m.pitch < NUM_PITCHES:
            stats.out_of_range += 1
            continue
        key = (m.channel, m.pitch)
        if m.on and m.velocity > 0:
            if m.velocity > 127:
                stats.out_of_range += 1
                continue
            if key in sounding and sounding[key][0] == m.time:
                doubled[key] = doubled.get(key, 0) + 1  # unison doubling: one note
                stats.notes_merged += 1
                continue
            if key in sounding:
                start, vel = sounding.pop(key)
                notes.append(Note(start, m.time, m.pitch, vel))
                stats.notes_retriggered += 1
            sounding[key] = (m.time, m.velocity)
        else:
            if key not in sounding:
                if doubled.get(key):
                    doubled[key] -= 1  # the note-off of a merged doubling
                else:
                    stats.orphan_note_offs += 1
                continue
            start, vel = sounding.pop(key)
            notes.append(Note(start, m.time, m.pitch, vel))
    close = last if end_time is None else max(end_time, last)
    for (_ch, pitch), (start, vel) in sounding.items():
        notes.append(Note(start, close, pitch, vel))
        stats.notes_unterminated += 1
    notes.sort(key=lambda n: (n.start, n.pitch, n.end))
    return notes


# -- notes -> tokens --------------------------------------------------------------

# Kinds of EventWriter's events; at one tick note-offs sort first, then note-ons.
OFF_EVENT, ON_EVENT = 0, 1
_OFF, _ON = OFF_EVENT, ON_EVENT


class EventWriter:
    """Note events -> tokens: livegen's one tokenizer. ``write`` takes events
    ``(tick, kind, pitch, velocity)`` (kind ``OFF_EVENT`` or ``ON_EVENT``) sorted, at ticks not
    before those written already, and returns their tokens; its state carries over, so
    a phrase can be written as it is played (livegen.daemon.prompt) or at once
    (:func:`encode_notes`), with the same tokens.

    Overlaps of one pitch on the grid: a note-on of a sounding pitch ends it first
    (retriggered); two note-ons of a pitch at one tick are one note held to the later
    end (merged); a note-off of a pitch that has since been retriggered is dropped so it
    does not cut the later note short.
    """

    def __init__(self, stats: TokenStats | None = None):
        self.stats = stats if stats is not None else TokenStats()
        self.now = 0  # ticks written
        self._bin = -1  # current velocity bin
        self._depth = [0] * NUM_PITCHES  # notes sounding per pitch
        self._onset = [-1] * NUM_PITCHES  # tick of each pitch's latest note-on

    def advance_to(self, tick: int) -> list[int]:
        """Time shifts up to ``tick`` (none if it is not later)."""
        out = time_shift_tokens(tick - self.now)
        self.now = max(self.now, tick)
        return out

    def write(self, events: Iterable[tuple[int, int, int, int]]) -> list[int]:
        out: list[int] = []
        depth, onset = self._depth, self._onset
        for tick, kind, pitch, vel in events:
            if kind == _OFF:
                depth[pitch] -= 1
                if depth[pitch] != 0:
                    continue  # a later note of this pitch is still sounding
            out.extend(time_shift_tokens(tick - self.now))
            self.now = max(self.now, tick)
            if kind == _ON:
                if depth[pitch] > 0 and onset[pitch] == tick:
                    depth[pitch] += 1  # unison doubling: one note, held to the later end
                    self.stats.notes_merged += 1
                    continue
                if depth[pitch] > 0:
                    out.append(NOTE_OFF + pitch)
                    self.stats.notes_retriggered += 1
                depth[pitch] += 1
                onset[pitch] = tick
                b = velocity_bin(vel)
                if b != self._bin:
                    out.append(VELOCITY + b)
                    self._bin = b
                out.append(NOTE_ON + pitch)
            else:
                out.append(NOTE_OFF + pitch)
        return out


def encode_notes(notes: Sequence[Note], *, origin: float = 0.0, bos: bool = False,
                 stats: TokenStats | None = None) -> list[int]:
    """Notes (beats) -> token ids. Time starts at ``origin`` (a leading shift
    is emitted when the first note starts later). Trailing time after the last
    note-off is not encoded."""
    stats = stats if stats is not None else TokenStats()
    events: list[tuple[int, int, int, int]] = []  # (tick, kind, pitch, velocity)
    for n in notes:
        stats.notes_in += 1
        if not 0 <= n.pitch < NUM_PITCHES or not 1 <= n.velocity <= 127:
            stats.out_of_range += 1
            continue
        on = round((n.start - origin) * TICKS_PER_BEAT)
        off = round((n.end - origin) * TICKS_PER_BEAT)
        if on < 0:
            stats.out_of_range += 1
            continue
        if off <= on:
            off = on + 1
            stats.notes_lengthened += 1
        events.append((on, _ON, n.pitch, n.velocity))
        events.append((off, _OFF, n.pitch, 0))
    events.sort()
    return ([BOS] if bos else []) + EventWriter(stats).write(events)


# -- tokens -> notes --------------------------------------------------------------


class TokenReader:
    """Token ids -> note events and notes: livegen's one decoder. ``feed`` returns the
    events ``(tick, on, pitch, velocity)`` of the tokens it is given (a note-off may lie
    after the last tick: a note shorter than a tick is held for one); finished notes
    collect in ``notes`` (ticks from the start, as Note in beats from ``origin``).
    Robust to any sequence a sampler may produce: what it cannot hold is counted in
    ``stats``."""

    def __init__(self, *, origin: float = 0.0, velocity: int = 80, stats: TokenStats | None = None):
        self.origin = origin
        self.stats = stats if stats is not None else TokenStats()
        self.tick = 0
        self.velocity = quantize_velocity(velocity)  # until the first velocity token
        self._sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start tick, velocity)
        self.notes: list[Note] = []

    def _close(self, pitch: int, tick: int, events: list) -> None:
        start, vel = self._sounding.pop(pitch)
        end = max(tick, start + 1)
        self.notes.append(Note(self.origin + start / TICKS_PER_BEAT, self.origin + end / TICKS_PER_BEAT, pitch, vel))
        events.append((end, False, pitch, 0))

    def feed(self, tokens: Iterable[int]) -> list[tuple[int, bool, int, int]]:
        events: list[tuple[int, bool, int, int]] = []
        for tok in tokens:
            tok = int(tok)
            if tok == BOS:
                continue
            if is_time_shift(tok):
                self.tick += shift_ticks(tok)
            elif is_note_on(tok):
                pitch = tok - NOTE_ON
                if pitch in self._sounding:
                    self._close(pitch, self.tick, events)
                    self.stats.notes_retriggered += 1
                self._sounding[pitch] = (self.tick, self.velocity)
                events.append((self.tick, True, pitch, self.velocity))
            elif is_note_off(tok):
                pitch = tok - NOTE_OFF
                if pitch in self._sounding:
                    self._close(pitch, self.tick, events)
                else:
                    self.stats.orphan_note_offs += 1
            elif VELOCITY <= tok < TIME_SHIFT:
                self.velocity = bin_velocity(tok - VELOCITY)
            else:
                self.stats.invalid_tokens += 1
        return events

    def close(self) -> list[tuple[int, bool, int, int]]:
        """Note-offs for the notes still open, at the current tick (closed at the end)."""
        events: list[tuple[int, bool, int, int]] = []
        for pitch in list(self._sounding):
            self._close(pitch, self.tick, events)
            self.stats.notes_unterminated += 1
        return events

    def sorted_notes(self) -> list[Note]:
        return sorted(self.notes, key=lambda n: (n.start, n.pitch, n.end))


def decode_tokens(tokens: Iterable[int], *, origin: float = 0.0, velocity: int = 80,
                  stats: TokenStats | None = None) -> list[Note]:
    """Token ids -> notes (beats from ``origin``). ``velocity`` is used until
    the first velocity token. Notes left open close at the end."""
    reader = TokenReader(origin=origin, velocity=velocity, stats=stats)
    reader.feed(tokens)
    reader.close()
    return reader.sorted_notes()


def encode_phrase(notes: Sequence[Note], length_beats: float) -> list[int]:
    """A prompt: BOS, the notes' tokens (beats from 0), then time shifts up to ``length_beats``."""
    toks = encode_notes(notes, bos=True)
    return toks + time_shift_tokens(round(length_beats * TICKS_PER_BEAT) - tokens_duration_ticks(toks))


def tokens_duration_ticks(tokens: Iterable[int]) -> int:
    """Total time the tokens move on by, in ticks."""
    return sum(shift_ticks(int(t)) for t in tokens)


# -- arrays (training) --------------------------------------------------------------


def encode_arrays(start: np.ndarray, end: np.ndarray, pitch: np.ndarray, velocity: np.ndarray,
                  *, bos: bool = True, stats: TokenStats | None = None) -> np.ndarray:
    """Parallel note arrays (as cached for training) -> int16 token ids."""
    notes = [Note(float(s), float(e), int(p), int(v)) for s, e, p, v in zip(start, end, pitch, velocity)]
    return np.asarray(encode_notes(notes, bos=bos, stats=stats), dtype=np.int16)


def transpose_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray | None:
    """Shift every note token by ``semitones``; None if a pitch leaves 0..127."""
    tokens = np.asarray(tokens)
    on = (tokens >= NOTE_ON) & (tokens < NOTE_OFF)
    off = (tokens >= NOTE_OFF) & (tokens < VELOCITY)
    pitches = np.where(on, tokens - NOTE_ON, np.where(off, tokens - NOTE_OFF, 0))
    notes = on | off
    if notes.any():
        lo, hi = pitches[notes].min(), pitches[notes].max()
        if lo + semitones < 0 or hi + semitones >= NUM_PITCHES:
            return None
    return np.where(notes, tokens + semitones, tokens).astype(tokens.dtype)

"""What the phrase model is steered by: texture, register and note density.

The phrase LSTM is given a small vector of *controls* with every token, in the
manner of Performance RNN's note-density and pitch conditioning (Oore et al.
2018). Every control is measured from the notes themselves, so training needs
no labels:

==========  ====================================================================
control     what it measures (over a span of notes)
==========  ====================================================================
texture     notes sounding at each onset, averaged over the onsets (1 = one
            line; a four-part chorale is about 3.5). A note that ends within
            :data:`LEGATO_TICKS` after an onset does not count there: a
            player's legato overlap is still one line.
centre      mean pitch of the note-ons (MIDI note number)
spread      standard deviation of those pitches, in semitones
density     onsets per beat, where an onset is a tick with note-ons (a chord
            is one onset)
==========  ====================================================================

In training (:func:`stream_controls`) the controls at a token describe the
:data:`HORIZON_BEATS` that *follow* it, so they say what is coming and the
model learns to play that. At run time they are measured from the player's
phrase (:func:`phrase_controls`; "follow the phrase") or set by the player
(config.toml, MIDI CC) and given with every token of the response. While the
phrase is still being played the prime gets the controls of the phrase so far
(:class:`RunningControls`).

Velocity is not a control: the music21 scores carry no dynamics (every note
has velocity 80), so the model could learn nothing from it.

Pure numpy and the standard library; the same functions serve training,
evaluation, ``livegen continue`` and the daemon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from livegen.core import tokens as tk

NAMES = ("texture", "centre", "spread", "density")
NUM_CONTROLS = len(NAMES)
HORIZON_BEATS = 8.0
LEGATO_TICKS = 3  # 1/8 beat
_BIG = 1 << 40  # tick offset between pieces of a stream, so no window spans two


@dataclass(frozen=True)
class PhraseControls:
    """Measured (or requested) texture, register and density."""

    texture: float = 1.0  # notes sounding per onset, >= 1
    centre: float = 64.0  # mean pitch, MIDI note number
    spread: float = 5.0  # pitch standard deviation, semitones
    density: float = 2.0  # onsets per beat

    def vector(self) -> np.ndarray:
        """The (NUM_CONTROLS,) float32 input the model is given (each scaled to about -2..3)."""
        return normalize(np.array([[self.texture, self.centre, self.spread, self.density]]))[0]

    def with_(self, **changes) -> "PhraseControls":
        return replace(self, **changes)

    def __str__(self) -> str:
        return (f"texture {self.texture:.2f}, centre {self.centre:.1f}, spread {self.spread:.1f}, "
                f"density {self.density:.2f}/beat")


#: What the model is given before anything is known (the BOS of a phrase).
UNKNOWN = PhraseControls()


def normalize(raw: np.ndarray) -> np.ndarray:
    """(N, 4) raw (texture, centre, spread, density) -> the model's (N, 4) float32 inputs."""
    raw = np.asarray(raw, np.float64)
    out = np.empty(raw.shape, np.float32)
    out[:, 0] = (np.clip(raw[:, 0], 1.0, 6.0) - 1.0) / 2.0
    out[:, 1] = (np.clip(raw[:, 1], 0.0, 127.0) - 60.0) / 12.0
    out[:, 2] = np.clip(raw[:, 2], 0.0, 24.0) / 6.0
    out[:, 3] = np.log2(np.clip(raw[:, 3], 1 / 16, 16.0)) / 2.0
    return out


def transposed(vectors: np.ndarray, semitones: int) -> np.ndarray:
    """Normalized controls of a stream transposed by ``semitones`` (only the centre moves)."""
    out = np.array(vectors, np.float32, copy=True)
    out[..., 1] += semitones / 12.0
    return out


# -- measuring ------------------------------------------------------------------------


@dataclass
class _Onsets:
    """The onsets of a token list: one row per tick with note-ons."""

    pos: np.ndarray  # token index of the onset's first note-on
    tick: np.ndarray  # global tick (pieces apart by _BIG)
    sounding: np.ndarray  # notes sounding at it (legato overlaps not counted)
    count: np.ndarray  # note-ons
    psum: np.ndarray  # sum of their pitches
    p2sum: np.ndarray  # sum of squared pitches


def _note_table(tokens: np.ndarray):
    """Per token: global tick; per note: start, end (global ticks), pitch, note-on index."""
    tokens = np.asarray(tokens, np.int64)
    shift = np.where((tokens >= tk.TIME_SHIFT) & (tokens < tk.VOCAB_SIZE), tokens - tk.TIME_SHIFT + 1, 0)
    piece = np.cumsum(tokens == tk.BOS)
    ticks = np.cumsum(shift)
    # tick 0 of each piece at its BOS
    bos_at = np.flatnonzero(tokens == tk.BOS)
    base = np.zeros(len(tokens), np.int64)
    if len(bos_at):
        base_per_piece = np.concatenate([[0], ticks[bos_at]])
        base = base_per_piece[piece]
    gtick = ticks - base + piece * _BIG
    starts, ends, pitches, where = [], [], [], []
    open_: dict[int, tuple[int, int]] = {}
    last_piece = 0
    for i in np.flatnonzero(((tokens >= tk.NOTE_ON) & (tokens < tk.VELOCITY)) | (tokens == tk.BOS)):
        t = int(tokens[i])
        if t == tk.BOS or piece[i] != last_piece:
            for p, (s, j) in open_.items():  # closed at the piece's end
                starts.append(s), ends.append(int(gtick[i - 1]) if i else s), pitches.append(p), where.append(j)
            open_.clear()
            last_piece = piece[i]
            if t == tk.BOS:
                continue
        g = int(gtick[i])
        if t < tk.NOTE_OFF:
            p = t - tk.NOTE_ON
            if p in open_:
                s, j = open_.pop(p)
                starts.append(s), ends.append(g), pitches.append(p), where.append(j)
            open_[p] = (g, int(i))
        else:
            p = t - tk.NOTE_OFF
            if p in open_:
                s, j = open_.pop(p)
                starts.append(s), ends.append(g), pitches.append(p), where.append(j)
    for p, (s, j) in open_.items():
        starts.append(s), ends.append(int(gtick[-1])), pitches.append(p), where.append(j)
    order = np.argsort(np.asarray(where, np.int64), kind="stable")
    arr = lambda x: np.asarray(x, np.int64)[order]
    return gtick, arr(starts), arr(ends), arr(pitches), arr(where)


def _onsets(tokens: np.ndarray) -> tuple[np.ndarray, _Onsets]:
    gtick, start, end, pitch, where = _note_table(tokens)
    end = np.maximum(end, start + 1)
    if len(start) == 0:
        z = np.zeros(0, np.int64)
        return gtick, _Onsets(z, z, z, z, z, z)
    new = np.concatenate([[True], start[1:] != start[:-1]])  # notes sorted by token index: ticks ascend
    group = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    tick = start[first]
    count = np.bincount(group)
    psum = np.bincount(group, weights=pitch).astype(np.int64)
    p2sum = np.bincount(group, weights=pitch * pitch).astype(np.int64)
    s_sorted, e_sorted = np.sort(start), np.sort(end)
    sounding = np.searchsorted(s_sorted, tick, "right") - np.searchsorted(e_sorted, tick + LEGATO_TICKS, "right")
    sounding = np.maximum(sounding, 1)
    return gtick, _Onsets(where[first], tick, sounding, count, psum, p2sum)


def _stats(o: _Onsets, lo: np.ndarray, hi: np.ndarray, span_beats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) raw controls over onsets lo..hi-1 (prefix sums), and the onset counts."""
    cum = lambda a: np.concatenate([[0], np.cumsum(a)])
    cs, cc, cp, cp2 = cum(o.sounding), cum(o.count), cum(o.psum), cum(o.p2sum)
    n = hi - lo
    notes = cc[hi] - cc[lo]
    safe_n, safe_notes = np.maximum(n, 1), np.maximum(notes, 1)
    centre = (cp[hi] - cp[lo]) / safe_notes
    var = (cp2[hi] - cp2[lo]) / safe_notes - centre ** 2
    raw = np.stack([(cs[hi] - cs[lo]) / safe_n, centre, np.sqrt(np.maximum(var, 0.0)),
                    n / np.maximum(span_beats, 1.0)], axis=1)
    return raw, n


def stream_controls(tokens: np.ndarray, horizon_beats: float = HORIZON_BEATS) -> np.ndarray:
    """(N, 4) normalized controls for every token of a training stream (pieces start with BOS):
    the notes that follow the token, up to ``horizon_beats`` later in its piece. Where none
    follow (a piece's end, a long rest) texture and register are those of the horizon before,
    and the density is 0."""
    tokens = np.asarray(tokens, np.int64)
    gtick, o = _onsets(tokens)
    h = round(horizon_beats * tk.TICKS_PER_BEAT)
    idx = np.arange(len(tokens))
    lo = np.searchsorted(o.pos, idx, "right")  # onsets after this token
    hi = np.searchsorted(o.tick, gtick + h, "left")
    piece = np.cumsum(tokens == tk.BOS)
    piece_end = np.zeros(piece.max() + 1 if len(piece) else 1, np.int64)
    np.maximum.at(piece_end, piece, gtick)
    span = np.minimum(h, piece_end[piece] - gtick) / tk.TICKS_PER_BEAT
    raw, n = _stats(o, lo, np.maximum(hi, lo), span)
    empty = n == 0
    if empty.any():  # look back instead (texture, register only)
        back_lo = np.searchsorted(o.tick, gtick[empty] - h, "right")
        back_raw, back_n = _stats(o, np.minimum(back_lo, lo[empty]), lo[empty], np.full(empty.sum(), 1.0))
        fill = np.where(back_n[:, None] > 0, back_raw, [[UNKNOWN.texture, UNKNOWN.centre, UNKNOWN.spread, 0]])
        fill[:, 3] = 0.0
        raw[empty] = fill
    return normalize(raw)


def measure(tokens, span_beats: float | None = None) -> PhraseControls | None:
    """The controls of every note in a token list (a phrase); density over ``span_beats``
    (default: the time the tokens cover). None without a note."""
    tokens = np.asarray(list(tokens), np.int64)
    if len(tokens) == 0:
        return None
    gtick, o = _onsets(tokens)
    if len(o.tick) == 0:
        return None
    if span_beats is None:
        span_beats = tk.tokens_duration_ticks(tokens) / tk.TICKS_PER_BEAT
    raw, _ = _stats(o, np.array([0]), np.array([len(o.tick)]), np.array([float(span_beats)]))
    r = raw[0]
    return PhraseControls(float(r[0]), float(r[1]), float(r[2]), float(r[3]))


def phrase_controls(notes, beats: float) -> PhraseControls | None:
    """The controls of a phrase's notes (beats from its start) over ``beats``; None without notes."""
    origin = min((n.start for n in notes), default=0.0)
    return measure(tk.encode_notes(sorted(notes, key=lambda n: n.start), origin=min(origin, 0.0)), beats)


class RunningControls:
    """The controls of a phrase so far, for priming while it is played: measured again
    whenever time moves on (a time-shift token), else the last value. Owned by one thread."""

    def __init__(self):
        self.tokens: list[int] = []
        self._vec = UNKNOWN.vector()

    def feed(self, token: int) -> np.ndarray:
        """The control vector to give the model with ``token``."""
        token = int(token)
        if tk.is_time_shift(token) and self.tokens:
            got = measure(self.tokens)
            if got is not None:
                self._vec = got.vector()
        self.tokens.append(token)
        return self._vec


# -- steering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Steering:
    """What the player asked for (config.toml ``[jam]``, MIDI CC): each control is followed
    from the phrase when 0, else set to the value; ``safety_net`` bounds the notes sounding
    at once and the register by the target (livegen.core.sampling.Limits)."""

    texture: float = 0.0  # notes per onset, 1..6; 0 = follow
    centre: float = 0.0  # MIDI note 1..127; 0 = follow
    spread: float = 0.0  # semitones 0.5..24; 0 = follow
    density: float = 0.0  # onsets per beat 0.125..16; 0 = follow
    safety_net: bool = True

    def target(self, measured: PhraseControls | None) -> PhraseControls:
        """The controls to answer with: the measured ones (``UNKNOWN`` without notes), overridden."""
        base = measured if measured is not None else UNKNOWN
        return PhraseControls(self.texture or base.texture, self.centre or base.centre, self.spread or base.spread,
                        self.density or base.density)

    def with_(self, **changes) -> "Steering":
        return replace(self, **changes)


FOLLOW = Steering()


def cc_texture(value: int) -> float:
    """A texture switch on one controller: 0 follows, 1..42 one line, 43..85 two voices, 86..127 chords."""
    return 0.0 if value <= 0 else 1.0 if value < 43 else 2.0 if value < 86 else 3.5


def cc_register(value: int) -> float:
    """The register centre knob: 0 follows, else the MIDI note number itself."""
    return float(max(0, min(127, value)))


def cc_density(value: int) -> float:
    """The density knob: 0 follows, 1..127 -> 0.25..8 onsets per beat (log scale)."""
    return 0.0 if value <= 0 else 0.25 * 2.0 ** (5.0 * (value - 1) / 126.0)


# -- the sampler's safety net ------------------------------------------------------------


#: The safety net's density ceiling, times the target density.
DENSITY_MARGIN = 1.3


def polyphony_cap(texture: float) -> int:
    """Most notes allowed to sound at once for a texture (1 for a line up to 1.3)."""
    return max(1, int(texture + 0.7))


def register_window(c: PhraseControls) -> tuple[int, int]:
    """Lowest and highest pitch allowed around the centre: at least a fifth either side,
    wider with the spread."""
    half = max(7.0, 2.0 * c.spread + 2.0)
    lo = int(math.floor(c.centre - half))
    hi = int(math.ceil(c.centre + half))
    return max(0, lo), min(tk.NUM_PITCHES - 1, hi)


def texture_class(texture: float) -> str:
    """'one line', 'two voices' or 'chords' (three or more): how evaluation groups prompts."""
    return "one line" if texture < 1.25 else "two voices" if texture < 2.25 else "chords"


TEXTURE_CLASSES = ("one line", "two voices", "chords")

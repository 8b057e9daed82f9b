"""Sampling the phrase model: temperature, top-p, a key constraint and an
anti-copy guard, driven through any ``step`` function (torch in training and
evaluation, ONNX Runtime in the daemon).

Pure numpy; called on the generation thread. The model is reached only
through ``step(token, state) -> (logits, state)`` with ``logits`` a (V,)
float array, so priming can happen incrementally while the player plays and
:func:`generate` picks up from the last logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from livegen.core import controls as ctl
from livegen.core import tokens as tk
from livegen.core.notes import PITCH_CLASSES as _NAMES
from livegen.errors import ConfigError

StepFn = Callable[[int, Any], tuple[np.ndarray, Any]]
#: ``step(token, state, controls)``: a model given the controls' vector with the token
ControlledStep = Callable[[int, Any, np.ndarray], tuple[np.ndarray, Any]]

# Krumhansl-Kessler key profiles (major, minor), tonic first.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Scale degrees counted as "in key": major scale; natural minor plus the leading tone.
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)
FIRST_NOTE_TRIES = 16
_TIME_SHIFTS = np.zeros(tk.VOCAB_SIZE, bool)
_TIME_SHIFTS[tk.TIME_SHIFT:] = True
_NOTE_ONS = np.zeros(tk.VOCAB_SIZE, bool)
_NOTE_ONS[tk.NOTE_ON:tk.NOTE_OFF] = True


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    minor: bool
    correlation: float  # of the pitch-class histogram with the key's profile

    @property
    def pitch_classes(self) -> frozenset[int]:
        scale = _MINOR_SCALE if self.minor else _MAJOR_SCALE
        return frozenset((self.tonic + d) % 12 for d in scale)

    def __str__(self) -> str:
        return f"{_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"


def estimate_key(notes: Sequence[tk.Note]) -> Key | None:
    """Krumhansl-Schmuckler: the key whose profile best correlates with the
    duration-weighted pitch-class histogram. None without notes."""
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += max(n.end - n.start, 1.0 / tk.TICKS_PER_BEAT)
    if not hist.any():
        return None
    best = None
    for minor, profile in ((False, _MAJOR), (True, _MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1]) if hist.std() > 0 else 0.0
            if best is None or r > best.correlation:
                best = Key(tonic, minor, r)
    return best


def out_of_key_mask(key: Key | None) -> np.ndarray:
    """(VOCAB_SIZE,) bool: True for the note-on tokens of pitches outside ``key``."""
    mask = np.zeros(tk.VOCAB_SIZE, bool)
    if key is not None:
        pcs = key.pitch_classes
        for p in range(tk.NUM_PITCHES):
            if p % 12 not in pcs:
                mask[tk.NOTE_ON + p] = True
    return mask


@dataclass(frozen=True)
class SamplingOptions:
    """How tokens are drawn. Defaults are the ones the evaluation reports."""

    temperature: float = 1.0  # > 0; below 1 is safer and more repetitive
    top_p: float = 0.95  # nucleus: keep the fewest tokens whose probability sums to this (0 < p <= 1)
    key_penalty: float = 3.0  # nats taken from out-of-key note-ons; 0 = off, inf = forbidden
    no_copy: int = 8  # forbid a run of this many tokens copied from the prompt; 0 = off
    max_tokens_per_beat: int = 64  # safety stop for a model that never moves time on
    # no time passes before the first note-on: the answer's first note falls on its bar line
    # (livegen's promise, unless the player's own phrase began off the beat); a model that
    # insists on a rest gets it after FIRST_NOTE_TRIES tokens without a note
    first_note_at_start: bool = False

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in range (0, 1], got {self.top_p}")
        if not self.key_penalty >= 0:
            raise ConfigError(f"key_penalty must be >= 0, got {self.key_penalty}")
        if self.no_copy < 0 or self.no_copy == 1:
            raise ConfigError(f"no_copy must be 0 (off) or at least 2, got {self.no_copy}")
        if self.max_tokens_per_beat < 1:
            raise ConfigError(f"max_tokens_per_beat must be at least 1, got {self.max_tokens_per_beat}")


@dataclass(frozen=True)
class Limits:
    """The safety net under the model's choice, from the controls (see
    :func:`livegen.core.controls.polyphony_cap` and ``register_window``): never more than
    ``max_sounding`` notes at once (a note-on beyond them ends the oldest note first, as a
    legato line does; when every sounding note began at this very tick, note-ons wait),
    no note-on outside ``low..high``, and no new onset while the answer has had more than
    ``max_density`` onsets per beat (over its time so far plus one beat; the notes of a
    chord already begun may follow)."""

    max_sounding: int = tk.NUM_PITCHES
    low: int = 0
    high: int = tk.NUM_PITCHES - 1
    max_density: float = float("inf")  # onsets per beat, counted from the answer's start plus one beat

    @classmethod
    def of(cls, controls: ctl.PhraseControls) -> "Limits":
        low, high = ctl.register_window(controls)
        return cls(ctl.polyphony_cap(controls.texture), low, high, ctl.DENSITY_MARGIN * controls.density)

    def outside(self) -> np.ndarray:
        """(VOCAB_SIZE,) bool: the note-ons of pitches outside the register window."""
        mask = np.zeros(tk.VOCAB_SIZE, bool)
        mask[tk.NOTE_ON:tk.NOTE_ON + self.low] = True
        mask[tk.NOTE_ON + self.high + 1:tk.NOTE_OFF] = True
        return mask


class CopyGuard:
    """Bans the token that would complete a run of ``n`` tokens of the
    continuation equal to a run in the prompt."""

    def __init__(self, prompt: Sequence[int], n: int):
        self.n = n
        self.next: dict[tuple[int, ...], set[int]] = {}
        if n >= 2:
            p = [int(t) for t in prompt]
            for i in range(len(p) - n + 1):
                self.next.setdefault(tuple(p[i:i + n - 1]), set()).add(p[i + n - 1])

    def banned(self, continuation: Sequence[int]) -> set[int]:
        if self.n < 2 or len(continuation) < self.n - 1:
            return set()
        return self.next.get(tuple(int(t) for t in continuation[len(continuation) - self.n + 1:]), set())


def sample_token(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                 top_p: float = 1.0, penalty: np.ndarray | None = None,
                 banned: Iterable[int] = (), forbidden: np.ndarray | None = None) -> int:
    """One token from (V,) logits. ``penalty`` (V,) is subtracted first;
    banned tokens, and those where the (V,) bool ``forbidden`` is True, get
    probability 0 unless nothing else is left.

    Top-p keeps the fewest most likely tokens whose probability reaches
    ``top_p``. One uniform draw from ``rng`` per call (about 20-40 us).
    """
    z = np.array(logits, np.float64)
    if penalty is not None:
        z -= penalty
    if temperature != 1.0:
        z /= temperature
    z[tk.PAD] = -np.inf  # never generated
    z[tk.BOS] = -np.inf
    banned = list(banned)
    if banned or forbidden is not None:
        keep = z.copy()
        z[banned] = -np.inf
        if forbidden is not None:
            z[forbidden] = -np.inf
        if not np.isfinite(z).any():
            z = keep
    p = np.exp(z - z.max())
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        cut = int(np.searchsorted(cum, top_p * cum[-1])) + 1  # fewest tokens reaching top_p
        i = int(np.searchsorted(cum[:cut], rng.random() * cum[cut - 1], side="right"))
        return int(order[min(i, cut - 1)])
    cum = np.cumsum(p)
    i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
    return min(i, len(p) - 1)


def prime(step: StepFn, state: Any, tokens: Sequence[int]) -> tuple[np.ndarray | None, Any]:
    """Feed tokens one by one; returns the logits after the last one."""
    logits = None
    for t in tokens:
        logits, state = step(int(t), state)
    return logits, state


class _Voices:
    """The notes an answer has sounding, as the decoder will play them: a note ended in the
    tick it began is held for that tick."""

    def __init__(self):
        self.sounding: dict[int, None] = {}  # pitch -> None, in onset order
        self._began: set[int] = set()  # note-ons at this tick
        self._ending: set[int] = set()  # ended at the tick they began

    def update(self, tok: int) -> None:
        if tk.is_time_shift(tok):
            for p in self._ending:
                self.sounding.pop(p, None)
            self._ending.clear()
            self._began.clear()
        elif tk.is_note_on(tok):
            pitch = tok - tk.NOTE_ON
            self.sounding.pop(pitch, None)
            self.sounding[pitch] = None
            self._began.add(pitch)
        elif tk.is_note_off(tok):
            pitch = tok - tk.NOTE_OFF
            if pitch in self._began:
                self._ending.add(pitch)
            else:
                self.sounding.pop(pitch, None)

    def oldest_releasable(self) -> int | None:
        """The longest-sounding pitch a note-off now would end at once (None: all began at this tick)."""
        return next((p for p in self.sounding if p not in self._began), None)


def stream_tokens(step: StepFn, state: Any, logits: np.ndarray, *, ticks: int, rng: np.random.Generator,
                  options: SamplingOptions = SamplingOptions(), prompt: Sequence[int] = (),
                  key: Key | None = None, limits: Limits | None = None,
                  chunk_ticks: int = tk.TICKS_PER_BEAT):
    """Sample as :func:`generate` does, yielding the new tokens each time ``chunk_ticks``
    more of time is covered (and at the end); the generator returns the final state.

    The daemon schedules each chunk as soon as it exists, so the first beat of a response
    is ready long before the last.
    """
    penalty = None
    if key is not None and options.key_penalty > 0:
        penalty = np.where(out_of_key_mask(key), options.key_penalty, 0.0)
    guard = CopyGuard(prompt, options.no_copy)
    outside = limits.outside() if limits is not None else None
    full = outside | _NOTE_ONS if outside is not None else None  # while max_sounding notes sound
    voices = _Voices()
    onsets, onset_tick = 0, -1  # ticks with note-ons so far, and the latest
    budget = max(1, options.max_tokens_per_beat * max(1, ticks) // tk.TICKS_PER_BEAT)
    out: list[int] = []
    sent = 0
    now = 0
    next_yield = chunk_ticks
    while now < ticks and len(out) < budget:
        at_cap = limits is not None and len(voices.sounding) >= limits.max_sounding
        release = voices.oldest_releasable() if at_cap else None
        busy = (limits is not None and onset_tick != now
                and onsets + 1 > limits.max_density * (now / tk.TICKS_PER_BEAT + 1))
        forbid = None if limits is None else full if (at_cap and release is None) or busy else outside
        if options.first_note_at_start and onsets == 0 and len(out) < FIRST_NOTE_TRIES:
            forbid = _TIME_SHIFTS if forbid is None else forbid | _TIME_SHIFTS
        tok = sample_token(logits, rng, options.temperature, options.top_p, penalty, guard.banned(out), forbid)
        if at_cap and tk.is_note_on(tok) and tok - tk.NOTE_ON not in voices.sounding:
            # one note more than the texture allows: the oldest ends first, as in a legato line
            off = tk.NOTE_OFF + release
            voices.update(off)
            out.append(off)
            logits, state = step(off, state)
        k = tk.shift_ticks(tok)
        if k and now + k >= ticks:
            out.extend(tk.time_shift_tokens(ticks - now))
            break
        now += k
        if tk.is_note_on(tok) and onset_tick != now:
            onsets += 1
            onset_tick = now
        voices.update(tok)
        out.append(tok)
        logits, state = step(tok, state)
        if now >= next_yield:
            yield out[sent:]
            sent = len(out)
            next_yield = (now // chunk_ticks + 1) * chunk_ticks
    if len(out) > sent:
        yield out[sent:]
    return state


def generate(step: StepFn, state: Any, logits: np.ndarray, *, ticks: int, rng: np.random.Generator,
             options: SamplingOptions = SamplingOptions(), prompt: Sequence[int] = (),
             key: Key | None = None, limits: Limits | None = None) -> tuple[list[int], Any]:
    """Sample tokens until ``ticks`` of time have passed (the last shift is
    cut to land exactly there) or the token budget is spent.

    ``logits`` are the model's output after priming on ``prompt``; ``key``
    (for example ``estimate_key`` of the prompt's notes) steers note-ons by
    ``options.key_penalty``; ``prompt`` feeds the copy guard; ``limits`` bound
    the notes sounding at once and their register.
    Returns (tokens, state after feeding every returned token but the last).
    """
    out: list[int] = []
    chunks = stream_tokens(step, state, logits, ticks=ticks, rng=rng, options=options, prompt=prompt,
                           key=key, limits=limits, chunk_ticks=max(ticks, 1))
    while True:
        try:
            out.extend(next(chunks))
        except StopIteration as done:
            return out, done.value


def prime_controlled(step: ControlledStep, state: Any, tokens: Sequence[int],
                     running: ctl.RunningControls) -> tuple[np.ndarray | None, Any]:
    """Feed a phrase's tokens with the controls of the phrase so far (``running``, fed
    along): how the daemon primes while the player plays."""
    logits = None
    for t in tokens:
        logits, state = step(int(t), state, running.feed(t))
    return logits, state


def answer_setup(prompt_tokens: Sequence[int], prompt_beats: float | None,
                 steering: ctl.Steering) -> tuple[ctl.PhraseControls, Limits | None]:
    """The controls an answer is sampled with (the phrase's, measured over ``prompt_beats``,
    overridden by ``steering``) and the safety net they set."""
    target = steering.target(ctl.measure(prompt_tokens, prompt_beats))
    return target, Limits.of(target) if steering.safety_net else None


def gap_start(tokens: Sequence[int]) -> int:
    """Where the trailing time shifts of a prompt begin (the gap to the answer)."""
    i = len(tokens)
    while i > 0 and tk.is_time_shift(int(tokens[i - 1])):
        i -= 1
    return i


def continue_phrase(step: ControlledStep, state: Any, prompt_tokens: Sequence[int], *, beats: float,
                    rng: np.random.Generator, options: SamplingOptions = SamplingOptions(),
                    key: Key | None = None, steering: ctl.Steering = ctl.FOLLOW,
                    prompt_beats: float | None = None) -> list[int]:
    """Prime on ``prompt_tokens`` (from a fresh state) and continue for ``beats``, as the
    daemon does: the phrase is primed with the controls of the phrase so far; the gap after
    its last note and the answer get the phrase's controls (measured over ``prompt_beats``,
    default the time its tokens cover) as ``steering`` overrides them, with its safety net.
    ``step(token, state, controls)``."""
    if len(prompt_tokens) == 0:
        prompt_tokens = [tk.BOS]
    split = gap_start(prompt_tokens)
    logits, state = prime_controlled(step, state, prompt_tokens[:split], ctl.RunningControls())
    target, limits = answer_setup(prompt_tokens, prompt_beats, steering)
    vec = target.vector()
    fixed = lambda t, s: step(t, s, vec)
    if split < len(prompt_tokens):
        logits, state = prime(fixed, state, prompt_tokens[split:])
    toks, _ = generate(fixed, state, logits, ticks=round(beats * tk.TICKS_PER_BEAT),
                       rng=rng, options=options, prompt=prompt_tokens, key=key, limits=limits)
    return toks

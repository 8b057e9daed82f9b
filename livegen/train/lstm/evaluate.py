"""Held-out evaluation of the phrase model against baselines.

1. Likelihood: NLL per token (nats) and perplexity on the held-out stream, for
   the LSTM, a unigram and Kneser-Ney n-grams fitted on the training stream,
   all scoring exactly the same tokens (see :func:`likelihoods`).
2. Continuations: prompts of ``prompt_beats`` taken from held-out pieces are
   continued for ``continue_beats`` by each model (and compared with what the
   piece really plays next). Per continuation: the share of its notes in the
   prompt's estimated key, its note density and pitch range relative to the
   prompt's, and whether it copies a run of ``copy_run`` prompt tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from livegen.core import controls as ctl
from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.train.lstm.baselines import KneserNey, Unigram
from livegen.train.lstm.corpus import PieceNotes
from livegen.train.lstm.model import PhraseLSTM


# -- likelihood ---------------------------------------------------------------------


def segments_of(stream: np.ndarray, segments: int) -> list[np.ndarray]:
    n = len(stream) // segments
    if n < 2:
        raise ValueError(f"held-out stream of {len(stream)} tokens is too short for {segments} segments")
    return [stream[i * n:(i + 1) * n] for i in range(segments)]


def lstm_token_logprobs(model: PhraseLSTM, parts: list[np.ndarray], controls: list[np.ndarray] | None = None,
                        chunk: int = 512) -> np.ndarray:
    """log p of tokens 1.. of every part (same length), state carried along."""
    model.eval()
    x = torch.from_numpy(np.stack(parts).astype(np.int64))  # (B, N)
    c = torch.from_numpy(np.stack(controls).astype(np.float32)) if controls is not None and model.dims.controls \
        else None
    out = []
    state = None
    with torch.no_grad():
        for i in range(0, x.shape[1] - 1, chunk):
            inp = x[:, i:min(i + chunk, x.shape[1] - 1)]
            tgt = x[:, i + 1:i + 1 + inp.shape[1]]
            logits, state = model(inp, state, controls=None if c is None else c[:, i:i + inp.shape[1]])
            lp = torch.log_softmax(logits, -1).gather(-1, tgt[..., None])[..., 0]
            out.append(lp.numpy())
    return np.concatenate(out, axis=1).reshape(-1)


@dataclass
class Likelihood:
    name: str
    nll: float  # nats per token
    by_texture: dict = field(default_factory=dict)  # texture class -> nats per token

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)


def window_classes(controls: np.ndarray) -> np.ndarray:
    """(W,) texture class index (livegen.core.controls.TEXTURE_CLASSES) of windows of
    controls made by ``fixed_windows``: by their mean texture."""
    tex = controls[:, :, 0].astype(np.float64).mean(1) * 2.0 + 1.0
    return np.digitize(tex, [1.25, 2.25])


def likelihoods(model: PhraseLSTM | None, train_stream: np.ndarray, held_stream: np.ndarray, *,
                orders=(3, 5, 7), window: int = 256, max_tokens: int | None = None,
                ngrams: dict | None = None, carried_segments: int = 16,
                held_controls: np.ndarray | None = None) -> list[Likelihood]:
    """NLL per token of each model on the same held-out tokens.

    The held-out stream is cut into consecutive windows of ``window + 1``
    tokens (overlapping by one); every model scores tokens 1.. of each window
    from that window alone: the LSTM from a zero state, the n-grams with their
    context cut at the window's start. This is how the model is used: primed
    afresh on a phrase of a few hundred tokens. With ``carried_segments`` the
    LSTM is also scored carrying its state through that many long segments
    (a row of its own). ``ngrams`` (order -> fitted KneserNey) may be passed
    in to be reused. With ``held_controls`` (the held-out stream's controls) the
    LSTM is given them, and each row also holds its NLL per texture class.
    """
    held = held_stream[:max_tokens] if max_tokens else held_stream
    from livegen.train.lstm.dataset import fixed_windows
    from livegen.train.lstm.train import window_nll

    windows = fixed_windows(held, window)
    if len(windows) == 0:
        raise ValueError(f"held-out stream of {len(held)} tokens is shorter than one window of {window + 1}")
    cts = None
    if held_controls is not None:
        cts = fixed_windows(held_controls[:len(held)], window, dtype=np.float32)
    classes = window_classes(cts) if cts is not None else None

    def row(name: str, per_window: np.ndarray) -> Likelihood:
        per = {}
        if classes is not None:
            per = {c: float(per_window[classes == k].mean()) for k, c in enumerate(ctl.TEXTURE_CLASSES)
                   if (classes == k).any()}
        return Likelihood(name, float(per_window.mean()), per)

    uni = Unigram(train_stream)
    results = [row("unigram (add-one)", np.array([-uni.token_logprobs(w).mean() for w in windows]))]
    for order in orders:
        kn = (ngrams or {}).get(order) or KneserNey(train_stream, order)
        if ngrams is not None:
            ngrams[order] = kn
        results.append(row(f"{order}-gram (interpolated Kneser-Ney)",
                           np.array([-kn.token_logprobs(w).mean() for w in windows])))
    if model is not None:
        results.append(row("LSTM", window_nll(model, windows, cts)))
        if carried_segments:
            parts = segments_of(held, carried_segments)
            cparts = segments_of(held_controls[:len(held)], carried_segments) if held_controls is not None else None
            results.append(Likelihood(f"LSTM, state carried through {carried_segments} segments of "
                                      f"{len(parts[0])} tokens",
                                      float(-lstm_token_logprobs(model, parts, cparts).mean())))
    return results


# -- continuations -------------------------------------------------------------------


@dataclass
class Prompt:
    piece: str
    prompt: list[tk.Note]  # beats from 0
    truth: list[tk.Note]  # what the piece plays next, beats from 0
    tokens: list[int]  # BOS + the prompt's tokens + a shift to the prompt's end
    controls: ctl.PhraseControls  # the prompt's, over prompt_beats

    @property
    def texture(self) -> str:
        return ctl.texture_class(self.controls.texture)


def window_notes(p: PieceNotes, start: float, length: float) -> list[tk.Note]:
    """Notes starting in [start, start + length), cut at the end, shifted to 0."""
    sel = (p.start >= start) & (p.start < start + length)
    return [tk.Note(float(s - start), float(min(e, start + length) - start), int(q), int(v))
            for s, e, q, v in zip(p.start[sel], p.end[sel], p.pitch[sel], p.velocity[sel])]


def make_prompts(pieces: list[PieceNotes], per_texture: int, prompt_beats: float, continue_beats: float,
                 seed: int = 0, min_notes: int = 4) -> list[Prompt]:
    """Up to ``per_texture`` prompts of each texture class (one line, two voices, chords),
    from different pieces (round robin), at bar-line multiples of 4 beats, with at least
    ``min_notes`` in prompt and truth."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pieces))
    prompts: list[Prompt] = []
    have = {c: 0 for c in ctl.TEXTURE_CLASSES}
    for rounds in range(4):
        for i in order:
            if all(n >= per_texture for n in have.values()):
                return prompts
            p = pieces[i]
            if len(p.start) == 0:
                continue
            last = float(p.start.max()) - prompt_beats - continue_beats
            if last < 0:
                continue
            start = 4.0 * int(rng.integers(0, int(last // 4) + 1))
            prompt = window_notes(p, start, prompt_beats)
            truth = window_notes(p, start + prompt_beats, continue_beats)
            if len(prompt) < min_notes or len(truth) < min_notes:
                continue
            toks = tk.encode_phrase(prompt, prompt_beats)
            pr = Prompt(p.name, prompt, truth, toks, ctl.measure(toks, prompt_beats))
            if have[pr.texture] < per_texture:
                have[pr.texture] += 1
                prompts.append(pr)
    return prompts


def note_runs(notes: list[tk.Note], run: int) -> set[tuple]:
    """Every run of ``run`` consecutive notes (by onset, then pitch) as pitches and the ticks
    between their onsets: what a copy of the prompt repeats, wherever it is played."""
    ns = sorted(notes, key=lambda n: (n.start, n.pitch))
    key = [(n.pitch, round((n.start - ns[i - 1].start) * tk.TICKS_PER_BEAT) if i else 0) for i, n in enumerate(ns)]
    return {tuple([key[i][0]] + [k for k in key[i + 1:i + run]]) for i in range(len(key) - run + 1)}


def copies_prompt(prompt: list[tk.Note], answer: list[tk.Note], run: int = 8) -> bool:
    """True if the answer plays ``run`` consecutive prompt notes again (pitches and rhythm)."""
    return bool(note_runs(prompt, run) & note_runs(answer, run))


def _median_pitch(notes: list[tk.Note]) -> float:
    return float(np.median([n.pitch for n in notes]))


@dataclass
class AnswerStats:
    """How answers relate to their prompts, over a set of prompts."""

    name: str
    texture: str  # the prompts' texture class, or "all"
    count: int
    polyphony: float  # median over answers of notes sounding per onset (controls.measure)
    register_offset: float  # median over answers of |median pitch - the prompt's|, semitones
    density_in_range: float  # share of answers with onsets per beat 0.67..1.5 x the prompt's
    density_ratio: float  # median of that ratio
    in_key: float  # share of answer notes in the prompt's key (pooled)
    copy_share: float  # share of answers playing 8+ consecutive prompt notes again
    empty_share: float  # share of answers without a note


def answer_stats(name: str, texture: str, prompts: list[Prompt], answers: list[list[tk.Note]],
                 answer_beats: float, copy_run: int = 8) -> AnswerStats:
    poly, offset, ratio, copies, empty, inside, total = [], [], [], 0, 0, 0, 0
    for pr, notes in zip(prompts, answers):
        if not notes:
            empty += 1
            continue
        got = ctl.phrase_controls(notes, answer_beats)
        poly.append(got.texture)
        offset.append(abs(_median_pitch(notes) - _median_pitch(pr.prompt)))
        ratio.append(got.density / pr.controls.density)
        key = sampling.estimate_key(pr.prompt)
        inside += sum(n.pitch % 12 in key.pitch_classes for n in notes)
        total += len(notes)
        copies += copies_prompt(pr.prompt, notes, copy_run)
    n = max(1, len(prompts))
    med = lambda xs: float(np.median(xs)) if xs else float("nan")
    ratio_a = np.array(ratio)
    in_range = float(((ratio_a >= 0.67) & (ratio_a <= 1.5)).sum() / n)
    return AnswerStats(name, texture, len(prompts), med(poly), med(offset), in_range, med(ratio),
                       inside / total if total else float("nan"), copies / n, empty / n)


#: The issue's targets for answers to held-out prompts (livegen issue 12).
TARGETS = {
    "polyphony": ("median answer polyphony for one-line prompts", "<=", 1.2),
    "register_offset": ("median |answer median pitch - prompt's| (semitones)", "<=", 4.0),
    "density_in_range": ("share of answers with density 0.67..1.5 x the prompt's", ">=", 0.8),
    "in_key": ("share of answer notes in the prompt's key", ">=", 0.95),
    "copy_share": ("share of answers copying 8+ prompt notes", "<=", 0.05),
}


def check_targets(one_line: AnswerStats, every: AnswerStats) -> list[tuple[str, float, str, float, bool]]:
    """(what, value, op, target, met) for each target: polyphony on one-line prompts, the rest on all."""
    out = []
    for field_, (what, op, target) in TARGETS.items():
        value = getattr(one_line if field_ == "polyphony" else every, field_)
        met = value <= target if op == "<=" else value >= target
        out.append((what, value, op, target, bool(met)))
    return out


def lstm_step_fn(model: PhraseLSTM):
    """A sampling step ``step(token, state, controls)`` over the torch model (batch 1)."""
    model.eval()

    def step(token: int, state, controls=None):
        c = None
        if model.dims.controls:
            c = torch.from_numpy(np.asarray(controls, np.float32).reshape(1, 1, -1))
        with torch.no_grad():
            logits, state = model(torch.tensor([[token]]), state, controls=c)
        return logits[0, 0].double().numpy(), state

    return step


def uncontrolled(step):
    """A step without controls (an n-gram) as a ``step(token, state, controls)``."""
    return lambda token, state, controls=None: step(token, state)


def continue_all(step_factory, prompts: list[Prompt], beats: float, options: sampling.SamplingOptions,
                 seed: int, steering: ctl.Steering = ctl.FOLLOW,
                 prompt_beats: float | None = None) -> tuple[list[list[tk.Note]], list[list[int]]]:
    """Continue every prompt as the daemon does (sampling.continue_phrase); the key is
    estimated from the prompt's notes."""
    notes, toks = [], []
    for i, pr in enumerate(prompts):
        rng = np.random.default_rng([seed, i])
        step, state = step_factory()
        key = sampling.estimate_key(pr.prompt) if options.key_penalty > 0 else None
        cont = sampling.continue_phrase(step, state, pr.tokens, beats=beats, rng=rng, options=options, key=key,
                                        steering=steering, prompt_beats=prompt_beats)
        toks.append(cont)
        notes.append(tk.decode_tokens(cont))
    return notes, toks

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
from dataclasses import dataclass

import numpy as np
import torch

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


def lstm_token_logprobs(model: PhraseLSTM, parts: list[np.ndarray], chunk: int = 512) -> np.ndarray:
    """log p of tokens 1.. of every part (same length), state carried along."""
    model.eval()
    x = torch.from_numpy(np.stack(parts).astype(np.int64))  # (B, N)
    out = []
    state = None
    with torch.no_grad():
        for i in range(0, x.shape[1] - 1, chunk):
            inp = x[:, i:min(i + chunk, x.shape[1] - 1)]
            tgt = x[:, i + 1:i + 1 + inp.shape[1]]
            logits, state = model(inp, state)  # (B, T, V)
            lp = torch.log_softmax(logits, -1).gather(-1, tgt[..., None])[..., 0]
            out.append(lp.numpy())
    return np.concatenate(out, axis=1).reshape(-1)


@dataclass
class Likelihood:
    name: str
    nll: float  # nats per token

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)


def likelihoods(model: PhraseLSTM | None, train_stream: np.ndarray, held_stream: np.ndarray, *,
                orders=(3, 5, 7), window: int = 256, max_tokens: int | None = None,
                ngrams: dict | None = None, carried_segments: int = 16) -> list[Likelihood]:
    """NLL per token of each model on the same held-out tokens.

    The held-out stream is cut into consecutive windows of ``window + 1``
    tokens (overlapping by one); every model scores tokens 1.. of each window
    from that window alone: the LSTM from a zero state, the n-grams with their
    context cut at the window's start. This is how the model is used: primed
    afresh on a phrase of a few hundred tokens. With ``carried_segments`` the
    LSTM is also scored carrying its state through that many long segments
    (a row of its own). ``ngrams`` (order -> fitted KneserNey) may be passed
    in to be reused.
    """
    held = held_stream[:max_tokens] if max_tokens else held_stream
    from livegen.train.lstm.dataset import fixed_windows

    windows = fixed_windows(held, window)
    if len(windows) == 0:
        raise ValueError(f"held-out stream of {len(held)} tokens is shorter than one window of {window + 1}")
    uni = Unigram(train_stream)
    results = [Likelihood("unigram (add-one)", float(-uni.token_logprobs(windows.reshape(-1))[
        np.arange(windows.size - 1) % windows.shape[1] != windows.shape[1] - 1].mean()))]
    for order in orders:
        kn = (ngrams or {}).get(order) or KneserNey(train_stream, order)
        if ngrams is not None:
            ngrams[order] = kn
        lp = np.concatenate([kn.token_logprobs(w) for w in windows])
        results.append(Likelihood(f"{order}-gram (interpolated Kneser-Ney)", float(-lp.mean())))
    if model is not None:
        from livegen.train.lstm.train import nll_per_token

        results.append(Likelihood("LSTM", nll_per_token(model, windows)))
        if carried_segments:
            parts = segments_of(held, carried_segments)
            results.append(Likelihood(f"LSTM, state carried through {carried_segments} segments of "
                                      f"{len(parts[0])} tokens", float(-lstm_token_logprobs(model, parts).mean())))
    return results


# -- continuations -------------------------------------------------------------------


@dataclass
class Prompt:
    piece: str
    prompt: list[tk.Note]  # beats from 0
    truth: list[tk.Note]  # what the piece plays next, beats from 0
    tokens: list[int]  # BOS + the prompt's tokens + a shift to the prompt's end


def window_notes(p: PieceNotes, start: float, length: float) -> list[tk.Note]:
    """Notes starting in [start, start + length), cut at the end, shifted to 0."""
    sel = (p.start >= start) & (p.start < start + length)
    return [tk.Note(float(s - start), float(min(e, start + length) - start), int(q), int(v))
            for s, e, q, v in zip(p.start[sel], p.end[sel], p.pitch[sel], p.velocity[sel])]


def make_prompts(pieces: list[PieceNotes], count: int, prompt_beats: float, continue_beats: float,
                 seed: int = 0, min_notes: int = 4) -> list[Prompt]:
    """Up to ``count`` prompts from different pieces (round robin), at bar-line
    multiples of 4 beats, with at least ``min_notes`` in prompt and truth."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pieces))
    prompts: list[Prompt] = []
    for rounds in range(4):
        for i in order:
            if len(prompts) >= count:
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
            toks = tk.encode_notes(prompt, bos=True)
            toks += tk.time_shift_tokens(round(prompt_beats * tk.TICKS_PER_BEAT) - tk.tokens_duration_ticks(toks))
            prompts.append(Prompt(p.name, prompt, truth, toks))
    return prompts


def copies_prompt(prompt: list[int], continuation: list[int], run: int) -> bool:
    """True if the continuation holds a run of ``run`` consecutive tokens found in the prompt."""
    if len(continuation) < run:
        return False
    grams = {tuple(prompt[i:i + run]) for i in range(len(prompt) - run + 1)}
    return any(tuple(continuation[i:i + run]) in grams for i in range(len(continuation) - run + 1))


@dataclass
class ContinuationStats:
    name: str
    in_key: float  # share of continuation notes in the prompt's key (pooled over notes)
    density_ratio: float  # median over prompts of (notes per beat) / prompt's
    range_ratio: float  # median over prompts of pitch range (semitones + 1) / prompt's
    copy_share: float  # share of continuations copying a run of copy_run prompt tokens
    empty_share: float  # share of continuations without any note
    count: int


def _pitch_range(notes: list[tk.Note]) -> int:
    return max(n.pitch for n in notes) - min(n.pitch for n in notes) + 1


def score_continuations(name: str, prompts: list[Prompt], conts: list[list[tk.Note]],
                        cont_tokens: list[list[int]] | None, prompt_beats: float, continue_beats: float,
                        copy_run: int = 8) -> ContinuationStats:
    inside = total = 0
    dens, ranges, copies, empty = [], [], 0, 0
    for pr, notes, toks in zip(prompts, conts, cont_tokens or [None] * len(prompts)):
        key = sampling.estimate_key(pr.prompt)
        if not notes:
            empty += 1
            continue
        pcs = key.pitch_classes
        inside += sum(n.pitch % 12 in pcs for n in notes)
        total += len(notes)
        dens.append((len(notes) / continue_beats) / (len(pr.prompt) / prompt_beats))
        ranges.append(_pitch_range(notes) / _pitch_range(pr.prompt))
        if toks is not None and copies_prompt(pr.tokens, toks, copy_run):
            copies += 1
    n = len(prompts)
    return ContinuationStats(name, inside / total if total else float("nan"),
                             float(np.median(dens)) if dens else float("nan"),
                             float(np.median(ranges)) if ranges else float("nan"),
                             copies / n if cont_tokens is not None else float("nan"), empty / n, n)


def lstm_step_fn(model: PhraseLSTM):
    """A sampling step function over the torch model (batch 1)."""
    model.eval()

    def step(token: int, state):
        with torch.no_grad():
            logits, state = model(torch.tensor([[token]]), state)
        return logits[0, 0].double().numpy(), state

    return step


def continue_all(step_factory, prompts: list[Prompt], beats: float, options: sampling.SamplingOptions,
                 seed: int) -> tuple[list[list[tk.Note]], list[list[int]]]:
    """Continue every prompt; the key is estimated from the prompt's notes."""
    notes, toks = [], []
    for i, pr in enumerate(prompts):
        rng = np.random.default_rng([seed, i])
        step, state = step_factory()
        key = sampling.estimate_key(pr.prompt) if options.key_penalty > 0 else None
        cont = sampling.continue_phrase(step, state, pr.tokens, beats=beats, rng=rng, options=options, key=key)
        toks.append(cont)
        notes.append(tk.decode_tokens(cont))
    return notes, toks

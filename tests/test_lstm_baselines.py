"""The evaluation's baselines: add-one unigram and interpolated Kneser-Ney n-grams."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.core import tokens as tk
from livegen.train.lstm.baselines import KneserNey, Unigram


def markov_stream(n: int, seed: int) -> np.ndarray:
    """A random walk over 20 tokens: each step moves 0, 1 or 2 on, so the true
    conditional entropy is log 3 given one token of context."""
    rng = np.random.default_rng(seed)
    return (np.cumsum(rng.integers(0, 3, n)) % 20 + tk.NOTE_ON).astype(np.int16)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_distributions_sum_to_one_for_seen_and_unseen_contexts(order):
    kn = KneserNey(markov_stream(20000, 0), order)
    rng = np.random.default_rng(1)
    contexts = [[], [tk.NOTE_ON + 3], [tk.NOTE_ON + 3, tk.NOTE_ON + 4, tk.NOTE_ON + 5, tk.NOTE_ON + 6],
                rng.integers(0, tk.VOCAB_SIZE, 6).tolist()]
    for ctx in contexts:
        p = np.exp(kn.logits(ctx))
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        assert (p > 0).all()


def test_stream_scores_equal_the_step_distributions():
    train, held = markov_stream(20000, 0), markov_stream(300, 1)
    kn = KneserNey(train, 4)
    lp = kn.token_logprobs(held)
    for i in (1, 2, 3, 50, 299):
        assert lp[i - 1] == pytest.approx(kn.logits(held[:i])[held[i]], rel=1e-12)


def test_kneser_ney_learns_the_chain_and_beats_the_unigram():
    train, held = markov_stream(100000, 0), markov_stream(5000, 1)
    uni = -Unigram(train).token_logprobs(held).mean()
    tri = -KneserNey(train, 3).token_logprobs(held).mean()
    assert uni == pytest.approx(np.log(20), abs=0.05)
    assert tri == pytest.approx(np.log(3), abs=0.02)


def test_unigram_gives_unseen_tokens_a_little_mass():
    lp = Unigram(markov_stream(1000, 0)).logits(None)
    assert np.exp(lp).sum() == pytest.approx(1.0)
    assert lp[tk.NOTE_OFF + 100] < lp[tk.NOTE_ON + 1]
    assert np.isfinite(lp).all()


def test_order_outside_the_packed_range_is_refused():
    with pytest.raises(ValueError, match="order must be in range 1..7"):
        KneserNey(markov_stream(100, 0), 8)

"""Baselines for the phrase model, fitted on the same training tokens.

- :class:`Unigram`: token frequencies with add-one smoothing.
- :class:`KneserNey`: an interpolated Kneser-Ney n-gram model (Chen & Goodman
  1999) with one discount per order, D = n1 / (n1 + 2 n2), interpolated down
  to the uniform distribution so that no token has probability 0.

n-grams are packed into int64 keys (9 bits per token, so up to 7-grams) and
counted with numpy; scoring a stream is vectorized. No torch here.
"""

from __future__ import annotations

import numpy as np

from livegen.core import tokens as tk

_BITS = 9
assert tk.VOCAB_SIZE <= 1 << _BITS


def _keys(stream: np.ndarray, k: int) -> np.ndarray:
    """Packed k-grams at every position: (len - k + 1,) int64."""
    s = np.asarray(stream, np.int64)
    n = len(s) - k + 1
    if n <= 0:
        return np.zeros(0, np.int64)
    key = np.zeros(n, np.int64)
    for j in range(k):
        key = (key << _BITS) | s[j:j + n]
    return key


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), values.dtype)
    i = np.searchsorted(sorted_keys, query)
    i = np.minimum(i, len(sorted_keys) - 1)
    return np.where(sorted_keys[i] == query, values[i], 0)


class Unigram:
    def __init__(self, stream: np.ndarray, vocab_size: int = tk.VOCAB_SIZE):
        counts = np.bincount(np.asarray(stream, np.int64), minlength=vocab_size).astype(np.float64)
        self.logp = np.log((counts + 1) / (counts.sum() + vocab_size))

    def token_logprobs(self, stream: np.ndarray) -> np.ndarray:
        """log p of tokens 1.. of the stream: (len - 1,)."""
        return self.logp[np.asarray(stream[1:], np.int64)]

    def logits(self, context) -> np.ndarray:
        return self.logp.copy()


class _Order:
    """Counts of one order k: k-grams (h, w) and their contexts h."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, k: int):
        self.k = k
        self.keys, self.counts = keys, counts.astype(np.float64)
        ctx = keys >> _BITS
        self.ctx_keys, first, inverse = np.unique(ctx, return_index=True, return_inverse=True)
        self.ctx_total = np.bincount(inverse, weights=self.counts)
        self.ctx_types = np.bincount(inverse).astype(np.float64)
        n1, n2 = float((counts == 1).sum()), float((counts == 2).sum())
        self.discount = n1 / (n1 + 2 * n2) if n1 > 0 else 0.5


class KneserNey:
    def __init__(self, stream: np.ndarray, order: int = 5, vocab_size: int = tk.VOCAB_SIZE):
        if not 1 <= order <= 7:
            raise ValueError(f"order must be in range 1..7, got {order}")
        self.order, self.vocab_size = order, vocab_size
        self.levels: list[_Order] = []
        higher_unique = None
        for k in range(order, 0, -1):
            if k == order:  # raw counts at the highest order
                keys, counts = np.unique(_keys(stream, k), return_counts=True)
            else:  # continuation counts: distinct left extensions of each k-gram
                suffix = higher_unique & ((1 << (_BITS * k)) - 1)
                keys, counts = np.unique(suffix, return_counts=True)
            self.levels.insert(0, _Order(keys, counts, k))
            higher_unique = keys
        # self.levels[k - 1] holds order k

    def _prob(self, ctx: np.ndarray, ctx_len: np.ndarray, w: np.ndarray) -> np.ndarray:
        """p(w | last ctx_len tokens of ctx) for parallel queries.

        ctx: packed context keys holding up to order-1 tokens (most recent in
        the low bits); ctx_len: how many of them are valid.
        """
        p = np.full(len(w), 1.0 / self.vocab_size)
        for k in range(1, self.order + 1):
            lvl = self.levels[k - 1]
            h = ctx & ((1 << (_BITS * (k - 1))) - 1)
            usable = ctx_len >= k - 1
            total = _lookup(lvl.ctx_keys, lvl.ctx_total, h)
            types = _lookup(lvl.ctx_keys, lvl.ctx_types, h)
            c = _lookup(lvl.keys, lvl.counts, (h << _BITS) | w)
            seen = usable & (total > 0)
            safe = np.where(seen, total, 1.0)
            mixed = np.maximum(c - lvl.discount, 0) / safe + lvl.discount * types / safe * p
            p = np.where(seen, mixed, p)
        return p

    def token_logprobs(self, stream: np.ndarray) -> np.ndarray:
        """log p of tokens 1.. of the stream, each given up to order-1 tokens before it."""
        s = np.asarray(stream, np.int64)
        n = len(s)
        ctx = np.zeros(n, np.int64)  # ctx[i]: packed tokens before position i
        ctx_len = np.zeros(n, np.int64)
        for j in range(1, self.order):
            shifted = np.zeros(n, np.int64)
            shifted[j:] = s[:n - j]
            ctx |= shifted << (_BITS * (j - 1))
            ctx_len += np.arange(n) >= j
        return np.log(self._prob(ctx[1:], ctx_len[1:], s[1:]))

    def logits(self, context) -> np.ndarray:
        """Log-probabilities of every token after ``context`` (a token sequence)."""
        last = [int(t) for t in context][-(self.order - 1):] if self.order > 1 else []
        key = 0
        for j, t in enumerate(reversed(last)):
            key |= t << (_BITS * j)
        w = np.arange(self.vocab_size, dtype=np.int64)
        p = self._prob(np.full(self.vocab_size, key, np.int64), np.full(self.vocab_size, len(last)), w)
        return np.log(p)

    def step_fn(self):
        """A ``livegen.core.sampling`` step function; the state is the context list."""
        def step(token: int, state):
            state = (list(state) + [int(token)])[-(self.order - 1):] if self.order > 1 else []
            return self.logits(state), state
        return step

"""Streamed sampling and decoding equal the whole-response functions they stand in for."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.core import sampling
from livegen.core import tokens as tk
from livegen.core.sampling import stream_tokens
from livegen.daemon.stream import StreamDecoder


class RandomModel:
    """Logits from a hash of the state and the token: deterministic, any token possible."""

    def step(self, token, state, controls=None):
        rng = np.random.default_rng(hash((state, token)) % 2**32)
        logits = rng.normal(0, 3, tk.VOCAB_SIZE).astype(np.float32)
        logits[tk.TIME_SHIFT:] += 1.0  # some time moves on
        return logits, (state * 31 + token) % 1_000_003


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 200), st.sampled_from([1, 7, 24, 96]),
       st.floats(0.3, 2.0), st.booleans())
def test_streamed_tokens_equal_sampling_generate(seed, ticks, chunk, temperature, keyed):
    m = RandomModel()
    prompt = tk.encode_notes([tk.Note(0, 0.5, 60, 90), tk.Note(0.5, 1, 64, 90)], bos=True)
    logits, state = sampling.prime(m.step, 0, prompt)
    key = sampling.estimate_key([tk.Note(0, 1, 60, 90), tk.Note(1, 2, 64, 90)]) if keyed else None
    opts = sampling.SamplingOptions(temperature=temperature)
    want, _ = sampling.generate(m.step, state, logits, ticks=ticks, rng=np.random.default_rng(seed),
                                options=opts, prompt=prompt, key=key)
    chunks = list(stream_tokens(m.step, state, logits, ticks=ticks, rng=np.random.default_rng(seed),
                                options=opts, prompt=prompt, key=key, chunk_ticks=chunk))
    assert [t for c in chunks for t in c] == want
    # every chunk but the last ends at or past a chunk boundary
    covered = np.cumsum([tk.tokens_duration_ticks(c) for c in chunks])
    assert all(c >= (i + 1) * chunk or i == len(chunks) - 1 for i, c in enumerate(covered))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(tk.NOTE_ON + 58, tk.NOTE_ON + 64), st.integers(tk.NOTE_OFF + 58, tk.NOTE_OFF + 64),
                          st.integers(tk.VELOCITY, tk.TIME_SHIFT - 1), st.integers(tk.TIME_SHIFT, tk.TIME_SHIFT + 30)),
                max_size=60), st.integers(1, 10))
def test_streamed_decoding_equals_decode_tokens(tokens, cut):
    dec = StreamDecoder(channel=3)
    events = []
    for i in range(0, len(tokens), cut):
        events += dec.feed(tokens[i:i + cut])
    events += dec.close()
    assert dec.sorted_notes() == tk.decode_tokens(tokens)
    ons = sorted((t, m[1]) for t, m in events if m[0] == 0x93)
    offs = sorted((t, m[1]) for t, m in events if m[0] == 0x83)
    assert ons == sorted((round(n.start * 24), n.pitch) for n in dec.notes)
    assert offs == sorted((round(n.end * 24), n.pitch) for n in dec.notes)

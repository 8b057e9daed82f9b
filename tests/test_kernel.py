"""The compiled decoder kernel: streaming equals the offline pass, threads change nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dataclasses import fields

from livegen.engine.kernel import DecoderState, DecoderWeights, KernelDecoder
from tests.decoder_reference import full_logits, random_weights

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


def inputs(rng, w, V, N):
    F = N // w.frame
    cond = (rng.standard_normal((V, F, w.dims["L"], 2 * w.dims["G"])) * 0.3).astype(np.float32)
    exc = rng.standard_normal((V, N, max(w.dims["E"], 1)))[:, :, :w.dims["E"]].astype(np.float32)
    return cond, exc


@pytest.mark.parametrize("dims", [
    dict(),
    dict(R=16, G=8, S=16, H=16, E=8, Q=256, dilations=(1, 2, 4, 8, 16, 32, 1, 2), frame=8),
    dict(R=4, G=2, S=4, H=4, E=0, Q=16, dilations=(1,), frame=1, exc_in=False),
])
@pytest.mark.parametrize("fixed_shape", [True, False])
def test_streamed_blocks_equal_the_offline_pass(dims, fixed_shape):
    rng = np.random.default_rng(1)
    E = dims.get("E", 4)
    w = random_weights(rng, **{**dims, "E": E})
    V, N, blocks = 3, 8 * w.frame, 4
    dec = KernelDecoder(w, threads=2, fixed_shape=fixed_shape)
    state = DecoderState.zeros(w, V, first_class=w.dims["Q"] // 2)
    classes, logits, conds, excs = [], [], [], []
    for _ in range(blocks):
        cond, exc = inputs(rng, w, V, N)
        lg = np.zeros((V, N, w.dims["Q"]), np.float32)
        u = rng.random((V, N)).astype(np.float32)
        classes.append(dec.render(state, cond, exc, u, np.full(V, 0.9, np.float32), logits=lg))
        logits.append(lg), conds.append(cond), excs.append(exc)
    classes, logits = np.concatenate(classes, 1), np.concatenate(logits, 1)
    for v in range(V):
        fed = np.concatenate([[w.dims["Q"] // 2], classes[v, :-1]])  # each step sees the last draw
        ref = full_logits(w, fed, np.concatenate([c[v] for c in conds]),
                          np.concatenate([e[v] for e in excs]))
        np.testing.assert_allclose(logits[v], ref, rtol=1e-4, atol=1e-4)
    assert np.array_equal(state.pos, np.full(V, N * blocks))
    dec.close()


def test_sampling_follows_the_uniforms_and_temperature_zero_is_argmax():
    rng = np.random.default_rng(2)
    w = random_weights(rng)
    V, N = 4, 16
    cond, exc = inputs(rng, w, V, N)
    u = rng.random((V, N)).astype(np.float32)
    runs = []
    for threads in (1, 2):
        dec = KernelDecoder(w, threads=threads)
        state = DecoderState.zeros(w, V, 0)
        lg = np.zeros((V, N, w.dims["Q"]), np.float32)
        runs.append((dec.render(state, cond, exc, u, np.array([0, 0, 1, 1], np.float32), lg), lg))
    assert np.array_equal(runs[0][0], runs[1][0])  # threads change nothing
    classes, lg = runs[0]
    assert np.array_equal(classes[:2], lg[:2].argmax(-1))
    p = np.exp(lg[2:] - lg[2:].max(-1, keepdims=True))
    cdf = np.cumsum(p / p.sum(-1, keepdims=True), -1)
    expected = (cdf <= u[2:, :, None]).sum(-1)
    assert np.mean(expected == classes[2:]) > 0.95  # float rounding may flip a boundary case


def test_bad_block_size_and_bad_shapes_are_refused():
    rng = np.random.default_rng(3)
    w = random_weights(rng)
    dec = KernelDecoder(w, threads=1)
    with pytest.raises(ValueError, match="multiple of the frame"):
        dec.render(DecoderState.zeros(w, 1, 0), *inputs(rng, w, 1, 4), np.zeros((1, 3), np.float32),
                   np.ones(1, np.float32))
    kwargs = {f.name: getattr(w, f.name) for f in fields(w)}
    kwargs["w_res"] = w.w_res[:, :1]
    with pytest.raises(ValueError, match="w_res has shape"):
        DecoderWeights(**kwargs)


def test_rendering_some_voices_leaves_the_others_alone():
    rng = np.random.default_rng(4)
    w = random_weights(rng)
    dec = KernelDecoder(w, threads=2)
    V, N = 4, 2 * w.frame
    both = DecoderState.zeros(w, V, 1)
    cond, exc = inputs(rng, w, 2, N)
    u = rng.random((2, N)).astype(np.float32)
    temp = np.ones(2, np.float32)
    got = dec.render(both, cond, exc, u, temp, voices=np.array([3, 1]))
    assert list(both.pos) == [0, N, 0, N] and not both.hist[[0, 2]].any()
    alone = DecoderState.zeros(w, 1, 1)
    solo = dec.render(alone, cond[:1], exc[:1], u[:1], temp[:1])
    assert np.array_equal(solo[0], got[0]) and np.array_equal(alone.hist[0], both.hist[3])


def test_the_kernel_leaves_the_process_floating_point_mode_alone():
    """A -ffast-math library can switch the whole process to flush denormals to zero; ours
    does that only inside its own call and restores the caller's mode."""
    rng = np.random.default_rng(6)
    w = random_weights(rng)
    dec = KernelDecoder(w, threads=1)
    dec.render(DecoderState.zeros(w, 1, 0), *inputs(rng, w, 1, w.frame),
               rng.random((1, w.frame)).astype(np.float32), np.ones(1, np.float32))
    tiny = np.array([1e-39], np.float32)  # a denormal
    assert (tiny * np.float32(1.0))[0] != 0.0

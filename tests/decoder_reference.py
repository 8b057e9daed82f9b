"""A plain numpy decoder step, written from the kernel's definition (kernel.c's header)."""

from __future__ import annotations

import numpy as np

from livegen.engine.kernel import DecoderWeights


def random_weights(rng, R=8, G=4, S=12, H=10, E=4, Q=32, dilations=(1, 2, 4, 1, 3),
                   frame=4, scale=0.4, exc_in=True) -> DecoderWeights:
    L = len(dilations)
    r = lambda *shape: (rng.standard_normal(shape) * scale).astype(np.float32)  # noqa: E731
    return DecoderWeights(dilations=np.array(dilations), emb=r(Q, R), w_past=r(L, R, 2 * G),
                          w_cur=r(L, R, 2 * G), w_res=r(L, G, R), w_skip=r(L, G, S), b_skip=r(S),
                          w_h1=r(S, H), b_h1=r(H), w_out=r(H, Q) * 3, b_out=r(Q),
                          w_exc_in=r(E, R) if exc_in else None, w_exc=r(L, E, 2 * G), frame=frame)


def full_logits(w: DecoderWeights, classes_in: np.ndarray, cond: np.ndarray, exc: np.ndarray):
    """Teacher-forced logits over a whole sequence, computed layer by layer (offline).

    classes_in (T,) the input class at each step; cond (T/frame, L, 2G); exc (T, E).
    """
    T = len(classes_in)
    G = w.dims["G"]
    h = w.emb[classes_in].astype(np.float64)
    if w.w_exc_in is not None:
        h = h + exc @ w.w_exc_in
    skip = np.broadcast_to(w.b_skip.astype(np.float64), (T, w.dims["S"])).copy()
    frame_of = np.arange(T) // w.frame
    for l, d in enumerate(w.dilations):
        past = np.zeros_like(h)
        past[d:] = h[:-d] if d < T else 0
        a = cond[frame_of, l] + past @ w.w_past[l] + h @ w.w_cur[l]
        if w.w_exc is not None:
            a = a + exc @ w.w_exc[l]
        g = np.tanh(a[:, :G]) / (1 + np.exp(-a[:, G:]))
        skip += g @ w.w_skip[l]
        h = h + g @ w.w_res[l]
    y = np.maximum(skip, 0)
    y = np.maximum(y @ w.w_h1 + w.b_h1, 0)
    return y @ w.w_out + w.b_out

"""Export a phrase-LSTM checkpoint as a single-step ONNX graph, and verify it.

    python -m export.lstm CHECKPOINT OUT.onnx [--steps 400]

The graph takes one token per batch row and the state of every layer, and
gives the logits and the new state (the state is explicit, so the daemon can
prime incrementally and keep snapshots):

    token  (B,) int64        logits (B, V) float32
    h_in   (L, B, H) float   h_out  (L, B, H)
    c_in   (L, B, H) float   c_out  (L, B, H)

``B`` is a dynamic axis. Metadata: kind ``livegen.lstm``, format_version
``1``, ``dims`` and ``vocab`` (JSON), read back by ``livegen.engine.lstm``.

Verification (exit status 1 on any mismatch): ``onnx.checker``; ONNX Runtime
against torch on random tokens and random states at batch 1 and 8; and
``--steps`` tokens streamed one at a time through ONNX Runtime, at batch 1 and
8, against torch's full forward over the same sequences. The sequences are
sampled from the model itself, so they look like the tokens it will see.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livegen.fileio import atomic_path

KIND = "livegen.lstm"
FORMAT_VERSION = "1"
TOLERANCE = 2e-4  # max |logit difference|; float32 through 4 layers and a few hundred steps


class SingleStep(nn.Module):
    """The phrase model with one token per call and the state passed in and out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, token, h_in, c_in):  # (B,), (L, B, H), (L, B, H)
        logits, (h, c) = self.model(token[:, None], (h_in, c_in))  # (B, 1, V)
        return logits[:, 0], h, c


def export(model, path: Path, blob: dict) -> None:
    import onnx

    step = SingleStep(model).eval()
    d = model.dims
    example = (torch.zeros(2, dtype=torch.long), torch.zeros(d.layers, 2, d.hidden), torch.zeros(d.layers, 2, d.hidden))
    with atomic_path(path) as tmp:  # a failed or interrupted export leaves the old file
        torch.onnx.export(
            step, example, str(tmp), input_names=["token", "h_in", "c_in"],
            output_names=["logits", "h_out", "c_out"],
            dynamic_axes={"token": {0: "batch"}, "h_in": {1: "batch"}, "c_in": {1: "batch"},
                          "logits": {0: "batch"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}},
            opset_version=17, dynamo=False)
        proto = onnx.load(str(tmp))
        meta = {"kind": KIND, "format_version": FORMAT_VERSION, "dims": json.dumps(blob["dims"]),
                "vocab": json.dumps(blob["vocab"]), "step": str(blob.get("step", "")),
                "source": "livegen phrase LSTM (export/lstm.py)"}
        del proto.metadata_props[:]
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def sample_sequences(model, batch: int, steps: int, seed: int) -> np.ndarray:
    """(batch, steps) tokens drawn from the model itself (temperature 1)."""
    from livegen.core import tokens as tk

    g = torch.Generator().manual_seed(seed)
    tok = torch.full((batch, 1), tk.BOS, dtype=torch.long)
    out, state = [], None
    with torch.no_grad():
        for _ in range(steps):
            out.append(tok)
            logits, state = model(tok, state)
            logits[..., tk.PAD] = -1e9
            logits[..., tk.BOS] = -1e9
            tok = torch.multinomial(torch.softmax(logits[:, -1], -1), 1, generator=g)
    return torch.cat(out, 1).numpy()


def verify(model, path: Path, steps: int, log=print) -> bool:
    """True if ONNX Runtime matches torch everywhere (see the module doc)."""
    sess = _session(path)
    d = model.dims
    ok = True
    g = torch.Generator().manual_seed(0)
    for batch in (1, 8):
        tok = torch.randint(0, d.vocab_size, (batch,), generator=g)
        h = torch.randn(d.layers, batch, d.hidden, generator=g) * 0.5
        c = torch.randn(d.layers, batch, d.hidden, generator=g)
        with torch.no_grad():
            want = SingleStep(model)(tok, h, c)
        got = sess.run(None, {"token": tok.numpy(), "h_in": h.numpy(), "c_in": c.numpy()})
        err = max(float(np.abs(g_ - w.numpy()).max()) for g_, w in zip(got, want))
        ok &= err <= TOLERANCE
        log(f"random token and state, batch {batch}: max |difference| {err:.2e}")
    for batch in (1, 8):
        seqs = sample_sequences(model, batch, steps, seed=batch)
        with torch.no_grad():
            full, _ = model(torch.from_numpy(seqs))  # (B, T, V)
        h = np.zeros((d.layers, batch, d.hidden), np.float32)
        c = np.zeros_like(h)
        err = 0.0
        for t in range(steps):
            logits, h, c = sess.run(None, {"token": seqs[:, t].astype(np.int64), "h_in": h, "c_in": c})
            err = max(err, float(np.abs(logits - full[:, t].numpy()).max()))
        ok &= err <= TOLERANCE
        log(f"{steps} streamed steps of sampled tokens, batch {batch}: max |difference| from the full forward {err:.2e}")
    return ok


def time_step(path: Path, repeats: int = 2000) -> tuple[float, float]:
    """(median, best) ms per single-token step at batch 1, ONNX Runtime on 1 CPU thread."""
    import onnx

    sess = _session(path)
    dims = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["dims"])
    h = np.zeros((dims["layers"], 1, dims["hidden"]), np.float32)
    c = np.zeros_like(h)
    tok = np.array([1], np.int64)
    for _ in range(100):
        sess.run(None, {"token": tok, "h_in": h, "c_in": c})
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats // 5):
            _, h, c = sess.run(None, {"token": tok, "h_in": h, "c_in": c})
        runs.append((time.perf_counter() - t0) / (repeats // 5) * 1e3)
    return float(np.median(runs)), float(min(runs))


def main(argv=None) -> int:
    from livegen.errors import LivegenError
    from livegen.train.lstm.model import load_checkpoint

    parser = argparse.ArgumentParser(prog="python -m export.lstm", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=400, help="streamed steps to verify (default 400)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        model, blob = load_checkpoint(args.checkpoint)
    except LivegenError as err:
        print(f"export.lstm: error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(model, args.out, blob)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): dims {blob['dims']}")
    if not verify(model, args.out, args.steps):
        print(f"export.lstm: error: ONNX Runtime differs from torch by more than {TOLERANCE}", file=sys.stderr)
        return 1
    median, best = time_step(args.out)
    print(f"ONNX Runtime, 1 thread, batch 1: {median:.3f} ms per step (median of 5 runs; best {best:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

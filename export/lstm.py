"""Export a phrase-LSTM checkpoint as a single-step ONNX graph, and verify it.

    python -m export.lstm CHECKPOINT OUT.onnx [--steps 400]

The graph takes one token per batch row, its controls (livegen.core.controls:
texture, register, density) and the state of every layer, and gives the logits
and the new state (the state is explicit, so the daemon can prime
incrementally and keep snapshots):

    token     (B,) int64        logits (B, V) float32
    controls  (B, C) float      (only when the model has C > 0 controls)
    h_in      (L, B, H) float   h_out  (L, B, H)
    c_in      (L, B, H) float   c_out  (L, B, H)

``B`` is a dynamic axis. Metadata: kind ``livegen.lstm``, format_version
``2``, ``dims``, ``vocab`` and ``controls`` (JSON), read back by
``livegen.engine.lstm``.

The file is written and verified in a temporary folder next to OUT and moved
into place only when the verification passed, so a bad export never replaces a
working model.

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

from livegen.engine.lstm import FORMAT_VERSION, KIND, OUTPUTS, input_names
from livegen.fileio import atomic_path

TOLERANCE = 2e-4  # max |logit difference|; float32 through 4 layers and a few hundred steps


class SingleStep(nn.Module):
    """The phrase model with one token per call and the state passed in and out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, token, *rest):  # (B,), [(B, C)], (L, B, H), (L, B, H)
        *controls, h_in, c_in = rest
        c = controls[0][:, None] if controls else None
        logits, (h, c) = self.model(token[:, None], (h_in, c_in), controls=c)  # (B, 1, V)
        return logits[:, 0], h, c


def feeds(dims, token, controls, h, c) -> dict:
    """The ONNX inputs by name (``controls`` is left out for a model without them)."""
    out = {"token": token, "h_in": h, "c_in": c}
    if dims.controls:
        out["controls"] = controls
    return out


def export(model, path: Path, blob: dict) -> None:
    """Write the single-step graph of ``model`` to ``path`` (atomically)."""
    import onnx

    from livegen.core import controls as ctl

    step = SingleStep(model).eval()
    d = model.dims
    example = (torch.zeros(2, dtype=torch.long), *([torch.zeros(2, d.controls)] if d.controls else []),
               torch.zeros(d.layers, 2, d.hidden), torch.zeros(d.layers, 2, d.hidden))
    with atomic_path(path) as tmp:  # a failed or interrupted export leaves the old file
        torch.onnx.export(
            step, example, str(tmp), input_names=list(input_names(bool(d.controls))),
            output_names=list(OUTPUTS),
            dynamic_axes={"token": {0: "batch"}, "controls": {0: "batch"}, "h_in": {1: "batch"},
                          "c_in": {1: "batch"}, "logits": {0: "batch"}, "h_out": {1: "batch"},
                          "c_out": {1: "batch"}} if d.controls else
                         {"token": {0: "batch"}, "h_in": {1: "batch"}, "c_in": {1: "batch"},
                          "logits": {0: "batch"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}},
            opset_version=17, dynamo=False)
        proto = onnx.load(str(tmp))
        controls = {"names": list(ctl.NAMES), "horizon_beats": ctl.HORIZON_BEATS} if d.controls else {"names": []}
        meta = {"kind": KIND, "format_version": str(FORMAT_VERSION), "dims": json.dumps(blob["dims"]),
                "vocab": json.dumps(blob["vocab"]), "controls": json.dumps(controls),
                "step": str(blob.get("step", "")), "source": "livegen phrase LSTM (export/lstm.py)"}
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


def random_controls(dims, batch: int, steps: int, seed: int) -> torch.Tensor:
    """(batch, steps, C) controls in the range the model was trained on, changing now and then."""
    g = torch.Generator().manual_seed(seed + 1000)
    base = torch.rand(batch, max(1, steps // 50 + 1), max(1, dims.controls), generator=g) * 2 - 0.5
    return base.repeat_interleave(50, dim=1)[:, :steps, :dims.controls]


def sample_sequences(model, batch: int, steps: int, seed: int, controls: torch.Tensor) -> np.ndarray:
    """(batch, steps) tokens drawn from the model itself (temperature 1) under ``controls``."""
    from livegen.core import tokens as tk

    g = torch.Generator().manual_seed(seed)
    tok = torch.full((batch, 1), tk.BOS, dtype=torch.long)
    out, state = [], None
    with torch.no_grad():
        for t in range(steps):
            out.append(tok)
            logits, state = model(tok, state, controls=controls[:, t:t + 1] if model.dims.controls else None)
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
        ctl = random_controls(d, batch, 1, batch)[:, 0]
        h = torch.randn(d.layers, batch, d.hidden, generator=g) * 0.5
        c = torch.randn(d.layers, batch, d.hidden, generator=g)
        with torch.no_grad():
            want = SingleStep(model)(tok, *([ctl] if d.controls else []), h, c)
        got = sess.run(None, feeds(d, tok.numpy(), ctl.numpy(), h.numpy(), c.numpy()))
        err = max(float(np.abs(g_ - w.numpy()).max()) for g_, w in zip(got, want))
        ok &= err <= TOLERANCE
        log(f"random token and state, batch {batch}: max |difference| {err:.2e}")
    for batch in (1, 8):
        cts = random_controls(d, batch, steps, seed=batch)
        seqs = sample_sequences(model, batch, steps, seed=batch, controls=cts)
        with torch.no_grad():
            full, _ = model(torch.from_numpy(seqs), controls=cts if d.controls else None)  # (B, T, V)
        h = np.zeros((d.layers, batch, d.hidden), np.float32)
        c = np.zeros_like(h)
        err = 0.0
        for t in range(steps):
            logits, h, c = sess.run(None, feeds(d, seqs[:, t].astype(np.int64), cts[:, t].numpy(), h, c))
            err = max(err, float(np.abs(logits - full[:, t].numpy()).max()))
        ok &= err <= TOLERANCE
        log(f"{steps} streamed steps of sampled tokens, batch {batch}: max |difference| from the full forward {err:.2e}")
    return ok


def time_step(path: Path, repeats: int = 2000) -> tuple[float, float]:
    """(median, best) ms per single-token step at batch 1, ONNX Runtime on 1 CPU thread."""
    import onnx

    from livegen.train.lstm.settings import ModelDims

    sess = _session(path)
    d = ModelDims(**json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["dims"]))
    h = np.zeros((d.layers, 1, d.hidden), np.float32)
    c = np.zeros_like(h)
    tok = np.array([1], np.int64)
    ctl = np.zeros((1, d.controls), np.float32)
    for _ in range(100):
        sess.run(None, feeds(d, tok, ctl, h, c))
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats // 5):
            _, h, c = sess.run(None, feeds(d, tok, ctl, h, c))
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
    import shutil
    import tempfile

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=args.out.parent) as tmp:
        trial = Path(tmp) / args.out.name
        export(model, trial, blob)
        print(f"exported {args.out.name} ({trial.stat().st_size / 1e6:.2f} MB): dims {blob['dims']}")
        if not verify(model, trial, args.steps):
            print(f"export.lstm: error: ONNX Runtime differs from torch by more than {TOLERANCE}; "
                  f"{args.out} was left as it was", file=sys.stderr)
            return 1
        median, best = time_step(trial)
        shutil.move(trial, args.out)  # same folder: a rename
    print(f"verified; wrote {args.out}")
    print(f"ONNX Runtime, 1 thread, batch 1: {median:.3f} ms per step (median of 5 runs; best {best:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

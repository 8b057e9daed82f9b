"""Export a trained timbre model checkpoint to the ONNX files the synth runs.

    python -m export.timbre CHECKPOINT OUTDIR [--presets PRESETS.json]

writes into OUTDIR:

- ``encoder.onnx``: ``mel`` (B, enc_frames, n_mels) -> ``z`` (B, Z);
- ``decoder_step.onnx``: one frame for V voices: ``cond`` (V, Z + note features) and ``past``
  (V, L, C) each layer's input d_l frames ago -> ``amp`` (V, 1), ``dist`` (V, K), ``dev`` (V,)
  cents, ``noise`` (V, N), ``cur`` (V, L, C) each layer's input now;
- ``decoder.npz``: the decoder's weights for the synth's native kernel (with the same metadata);
- ``presets.json`` (copied from --presets, or the checkpoint's presets) if there are any.

Every file carries metadata (kind, format_version, dims). The files are written into a
temporary folder and checked there (onnx.checker; ONNX Runtime against torch at batch 1 and 8;
several hundred streamed frames through the ring buffer equal to torch's whole-sequence forward
pass); only if every check passes do they replace the files in OUTDIR. Exit status 1 on a
mismatch, with the old files left in place.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livegen.engine.timbre import (FORMAT_VERSION, KINDS, WEIGHTS_FILE, TimbreEngine, load_presets, save_decoder_weights,
                                   save_presets)
from livegen.train.timbre.model import controls

TOLERANCE = 1e-4  # max abs difference, ONNX Runtime vs torch
KERNEL_TOLERANCE = 1e-4  # max abs difference over the peak, native kernel vs reference synth
FILES = ("encoder.onnx", "decoder_step.onnx", "decoder.npz", "presets.json")


class DecoderStep(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, cond, past):
        raw, cur = self.decoder.step(cond, past)
        amp, dist, dev, noise = controls(raw, self.decoder.dims)
        return amp, dist, dev, noise, cur


def metadata(dims, kind: str) -> dict[str, str]:
    return {"kind": KINDS[kind], "format_version": str(FORMAT_VERSION), "dims": json.dumps(dims.to_dict())}


def _export(module, args, path: Path, inputs, outputs, dynamic, meta) -> None:
    import onnx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False, do_constant_folding=True)
    model = onnx.load(str(path))
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path))


def export(model, outdir: Path) -> None:
    """Write encoder.onnx and decoder_step.onnx into ``outdir`` (no checks: see :func:`verify`)."""
    outdir = Path(outdir)
    d = model.dims
    model.eval()
    outdir.mkdir(parents=True, exist_ok=True)
    L, C = len(d.dilations), d.channels
    _export(model.encoder, (torch.zeros(1, d.enc_frames, d.n_mels),), outdir / "encoder.onnx",
            ["mel"], ["z"], {"mel": {0: "batch"}, "z": {0: "batch"}}, metadata(d, "encoder"))
    _export(DecoderStep(model.decoder), (torch.zeros(2, d.cond_dim), torch.zeros(2, L, C)),
            outdir / "decoder_step.onnx", ["cond", "past"], ["amp", "dist", "dev", "noise", "cur"],
            {k: {0: "voices"} for k in ("cond", "past", "amp", "dist", "dev", "noise", "cur")},
            metadata(d, "decoder_step"))
    state = {k: v.detach().cpu().numpy() for k, v in model.decoder.state_dict().items()}
    save_decoder_weights(outdir / WEIGHTS_FILE, state, d.to_dict(), metadata(d, "decoder_step"))


@torch.no_grad()
def verify(model, outdir: Path, frames: int = 300, seed: int = 0) -> list[str]:
    """Differences beyond TOLERANCE between the files in ``outdir`` and the torch model."""
    d = model.dims
    files = TimbreEngine.load(outdir, provider="cpu")
    g = torch.Generator().manual_seed(seed)
    bad = []

    def check(name, got, want):
        err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
        print(f"{name}: max |difference| {err:.2e}")
        if not err <= TOLERANCE:
            bad.append(f"{name}: {err:.2e} > {TOLERANCE}")

    for B in (1, 8):
        mel = torch.randn(B, d.enc_frames, d.n_mels, generator=g)
        check(f"encoder, batch {B}", files.encode(mel.numpy()), model.encoder(mel).numpy())
    # streamed frames through the ring buffer vs the whole-sequence forward
    for V in (1, 8):
        cond = torch.randn(V, frames, d.cond_dim, generator=g) * 0.5
        want = [t.numpy() for t in controls(model.decoder(cond), d)]
        ring, voices = files.new_ring(V), np.arange(V)
        got = [files.step(ring, voices, cond[:, f].numpy()) for f in range(frames)]
        for k, name in enumerate(("amp", "dist", "dev", "noise")):
            check(f"{frames} streamed frames, {V} voices: {name}",
                  np.stack([x[k] for x in got], axis=1), want[k])
    bad += verify_kernel(files)
    return bad


def verify_kernel(files, seconds: float = 1.0) -> list[str]:
    """The native kernel's synth against the reference (ONNX Runtime and numpy) on a chord with
    a release, at the model's rate: differences beyond KERNEL_TOLERANCE of the peak."""
    from livegen.synth.offline import render_events
    from livegen.synth.synth import Synth
    sr = files.sample_rate
    events = [(0, bytes([0x90, 48, 100])), (0, bytes([0x90, 64, 70])), (int(0.3 * sr), bytes([0x90, 71, 110])),
              (int(seconds * sr), bytes([0x80, 48, 0])), (int(seconds * sr), bytes([0x80, 64, 0])),
              (int(seconds * sr), bytes([0x80, 71, 0]))]
    if not files.presets:  # a neutral code on every channel
        files = dataclasses.replace(files, presets={"zero": np.zeros(files.dims["z_dim"], np.float32)})
    audio = [render_events(Synth(files, voices=4, seed=1, release_max_s=0.3, kernel=e), events)
             for e in ("reference", "native")]
    n = min(len(a) for a in audio)
    peak = max(float(np.abs(audio[0]).max()), 1e-9)
    err = float(np.abs(audio[0][:n] - audio[1][:n]).max()) / peak
    print(f"native kernel vs reference, {n} samples: max |difference| {err:.2e} of the peak")
    return [] if err <= KERNEL_TOLERANCE else [f"native kernel: {err:.2e} > {KERNEL_TOLERANCE} of the peak"]


def main(argv: list[str] | None = None) -> int:
    from livegen.errors import LivegenError
    from livegen.train.timbre.model import load_checkpoint

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("outdir", type=Path)
    p.add_argument("--presets", type=Path, default=None, help="presets.json to ship with the files")
    a = p.parse_args(argv)
    try:
        model, ck = load_checkpoint(a.checkpoint)
        presets = load_presets(a.presets, model.dims.z_dim) if a.presets else \
            {k: np.asarray(v, np.float32) for k, v in (ck.get("presets") or {}).items()}
    except LivegenError as err:
        print(f"export.timbre: {err}", file=sys.stderr)
        return 1
    a.outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=a.outdir, prefix=".export-") as td:
        tmp = Path(td)
        export(model, tmp)
        if presets:
            save_presets(tmp / "presets.json", presets)
        bad = verify(model, tmp)
        if bad:
            print("export.timbre: the exported files differ from the checkpoint; "
                  f"{a.outdir} is unchanged:\n  " + "\n  ".join(bad), file=sys.stderr)
            return 1
        for name in FILES:
            if (tmp / name).exists():
                shutil.move(str(tmp / name), str(a.outdir / name))
    print(f"wrote {', '.join(n for n in FILES if (a.outdir / n).exists())} to {a.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

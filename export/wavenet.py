"""Export a trained WaveNet autoencoder checkpoint to the ONNX files the synth runs.

    python -m export.wavenet CHECKPOINT OUTDIR [--presets PRESETS.json]

writes into OUTDIR:

- ``encoder.onnx``: mu-law audio (B, T) in [-1, 1] -> z frames (B, T // pool, Z);
- ``conditioning.onnx``: frame features (B, F, C) -> per-layer gate biases (B, F, L, 2G);
- ``decoder_step.onnx``: one sample for B voices. Inputs ``x_prev`` (B,) the previous
  sample's mu-law value in [-1, 1], ``exc`` (B, E) the excitation, ``bias`` (B, L, 2G) the
  frame's biases, ``past`` (B, L, R) each layer's input d_l samples ago; outputs ``logits``
  (B, 256) and ``cur`` (B, L, R) each layer's input now. The caller keeps one ring buffer
  per voice (sum of dilations x R): it gathers ``past`` before the step and writes ``cur``
  after it, so a step never copies the history;
- ``presets.json`` (copied or built from the checkpoint's presets) if there are any.

Every file carries metadata (kind, format_version, dims, dilations, sample rate, mu-law
levels). The script then checks the files (onnx.checker; ONNX Runtime against torch on
random and real-shaped inputs at batch 1 and 8; several hundred streamed steps equal to
the torch full forward pass) and exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livegen import fileio
from livegen.core import dsp
from livegen.engine.wavenet_files import FORMAT_VERSION, KINDS
from livegen.fileio import atomic_path

TOLERANCE = 1e-4  # max abs difference of logits, ONNX Runtime vs torch


class DecoderStep(nn.Module):
    """The decoder's single step, with its weights named as the kernel reads them."""

    def __init__(self, decoder):
        super().__init__()
        d = decoder.dims
        self.R, self.G, self.L = d.residual, d.gate, len(d.dilations)
        self.w_in = nn.Parameter(decoder.w_in.detach().clone())
        self.b_in = nn.Parameter(decoder.b_in.detach().clone())
        self.gate = nn.ParameterList(nn.Parameter(decoder.w_gate[l].detach().clone())
                                     for l in range(self.L))
        self.res = nn.ParameterList(nn.Parameter(decoder.w_res[l].detach().clone())
                                    for l in range(self.L - 1))
        for name in ("w_skip", "b_skip", "w_h1", "b_h1", "w_h2", "b_h2"):
            setattr(self, name, nn.Parameter(getattr(decoder, name).detach().clone()))

    def forward(self, x_prev, exc, bias, past):
        G = self.G
        h = torch.cat([x_prev[:, None], exc], dim=-1) @ self.w_in + self.b_in  # (B, R)
        curs, outs = [], []
        for l in range(self.L):
            curs.append(h)
            a = torch.cat([past[:, l], h, exc], dim=-1) @ self.gate[l] + bias[:, l]  # (B, 2G)
            o = torch.tanh(a[:, :G]) * torch.sigmoid(a[:, G:])
            outs.append(o)
            if l < self.L - 1:
                h = h + o @ self.res[l]
        s = torch.relu(torch.cat(outs, dim=-1) @ self.w_skip + self.b_skip)
        logits = torch.relu(s @ self.w_h1 + self.b_h1) @ self.w_h2 + self.b_h2
        return logits, torch.stack(curs, dim=1)


class Conditioning(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, cond):
        return self.decoder.cond_bias(cond)


class EncoderZ(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, audio):
        return self.encoder(audio)


def metadata(dims, kind: str) -> dict[str, str]:
    return {"kind": KINDS[kind], "format_version": str(FORMAT_VERSION),
            "dims": json.dumps(dims.to_dict()), "dilations": json.dumps(list(dims.dilations)),
            "sample_rate": str(dims.sample_rate), "mu_levels": str(dims.n_classes),
            "frame": str(dims.frame), "n_harmonics": str(dims.n_harmonics)}


def _export(module, args, path: Path, inputs, outputs, dynamic, meta, keep_names=False) -> None:
    """torch.onnx.export plus metadata and onnx.checker.

    keep_names: every parameter stays an initializer of its own name (the compiled kernel
    reads them by name); otherwise the exporter merges initializers of equal value.
    """
    import onnx
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(tmp), input_names=inputs, output_names=outputs,
                              dynamic_axes=dynamic, opset_version=17, dynamo=False,
                              do_constant_folding=True, keep_initializers_as_inputs=keep_names)
        model = onnx.load(str(tmp))
        for key, value in meta.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp))


def export(model, outdir: Path) -> list[Path]:
    """Write the three ONNX files for ``model`` (a WaveNetAutoencoder) into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    d = model.dims
    L, G2, R, E, C = len(d.dilations), 2 * d.gate, d.residual, d.exc_dim, d.cond_dim
    B = 2
    paths = []
    with torch.no_grad():
        p = outdir / "decoder_step.onnx"
        _export(DecoderStep(model.decoder), (torch.zeros(B), torch.zeros(B, E), torch.zeros(B, L, G2),
                                             torch.zeros(B, L, R)),
                p, ["x_prev", "exc", "bias", "past"], ["logits", "cur"],
                {n: {0: "voices"} for n in ("x_prev", "exc", "bias", "past", "logits", "cur")},
                metadata(d, "decoder_step"), keep_names=True)
        paths.append(p)
        p = outdir / "conditioning.onnx"
        _export(Conditioning(model.decoder), (torch.zeros(B, 3, C),), p, ["cond"], ["bias"],
                {"cond": {0: "voices", 1: "frames"}, "bias": {0: "voices", 1: "frames"}},
                metadata(d, "conditioning"))
        paths.append(p)
        p = outdir / "encoder.onnx"
        _export(EncoderZ(model.encoder), (torch.zeros(B, 2 * d.enc_pool),), p, ["audio"], ["z"],
                {"audio": {0: "batch", 1: "samples"}, "z": {0: "batch", 1: "frames"}},
                metadata(d, "encoder"))
        paths.append(p)
    return paths


def verify(model, outdir: Path, steps: int = 300, seed: int = 0) -> list[str]:
    """Check the exported files against torch; returns the problems found (empty: all good)."""
    from livegen.engine.wavenet_files import WaveNetFiles

    rng = np.random.default_rng(seed)
    files = WaveNetFiles.load(outdir, provider="cpu")
    d = model.dims
    L, G2, R, E, C = len(d.dilations), 2 * d.gate, d.residual, d.exc_dim, d.cond_dim
    problems = []

    def check(name, got, want, tol=TOLERANCE):
        err = float(np.max(np.abs(got - want)))
        if not err <= tol:
            problems.append(f"{name}: max abs difference {err:.2e} > {tol:.0e}")

    step = DecoderStep(model.decoder).eval()
    with torch.no_grad():
        for B in (1, 8):  # random inputs, dynamic batch
            args = [rng.uniform(-1, 1, B), rng.standard_normal((B, E)), rng.standard_normal((B, L, G2)),
                    rng.standard_normal((B, L, R))]
            args = [a.astype(np.float32) for a in args]
            want = [t.numpy() for t in step(*map(torch.from_numpy, args))]
            got = files.decoder.run(None, dict(zip(("x_prev", "exc", "bias", "past"), args)))
            check(f"decoder_step B={B} logits", got[0], want[0])
            check(f"decoder_step B={B} cur", got[1], want[1])
            cond = rng.standard_normal((B, 5, C)).astype(np.float32)
            check(f"conditioning B={B}", files.conditioning.run(None, {"cond": cond})[0],
                  model.decoder.cond_bias(torch.from_numpy(cond)).numpy())
            audio = rng.uniform(-0.5, 0.5, (B, 2 * d.enc_pool)).astype(np.float32)
            check(f"encoder B={B}", files.encoder.run(None, {"audio": audio})[0],
                  model.encoder(torch.from_numpy(audio)).numpy(), tol=1e-3)
        # several hundred streamed steps through ONNX Runtime == the torch full forward pass,
        # on a note-shaped input: a real excitation and frame features of a held note
        T = -(-steps // d.frame) * d.frame
        B = 2
        f0s = [dsp.midi_to_hz(60), dsp.midi_to_hz(67)]
        exc = np.stack([dsp.Excitation(f, d.n_harmonics).block(T) for f in f0s])  # (B, T, E)
        z = rng.standard_normal((B, d.z_dim)).astype(np.float32) * 0.5
        cond = np.stack([dsp.note_frame_features(z[b], f0s[b], 100, T, T // 2) for b in range(B)])
        x = (np.sin(np.arange(T) / 7.0)[None, :] * np.array([[0.3], [0.6]])).astype(np.float32)
        x_prev = np.concatenate([np.zeros((B, 1), np.float32), x[:, :-1]], axis=1)
        want = model.decoder(torch.from_numpy(x_prev), torch.from_numpy(exc),
                             torch.from_numpy(cond)).numpy()
        bias = files.conditioning.run(None, {"cond": cond})[0]  # (B, F, L, 2G)
        ring = files.new_history(B)
        got = np.empty_like(want)
        for t in range(T):
            past = files.gather_past(ring, t)
            logits, cur = files.decoder.run(None, {"x_prev": x_prev[:, t], "exc": exc[:, t],
                                                   "bias": bias[:, t // d.frame], "past": past})
            files.write_cur(ring, t, cur)
            got[:, t] = logits
        check(f"{T} streamed steps vs the full forward pass", got, want)
    return problems


def main(argv: list[str] | None = None) -> int:
    from livegen.errors import LivegenError
    from livegen.train.wavenet.model import load_checkpoint

    parser = argparse.ArgumentParser(prog="python -m export.wavenet", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--presets", type=Path, help="presets.json to ship beside the files")
    parser.add_argument("--steps", type=int, default=300, help="streamed steps to verify")
    args = parser.parse_args(argv)
    try:
        model, ck = load_checkpoint(args.checkpoint)
        paths = export(model, args.outdir)
        problems = verify(model, args.outdir, args.steps)
    except LivegenError as err:
        print(f"export.wavenet: error: {err}", file=sys.stderr)
        return 2
    if args.presets:
        fileio.write_bytes(args.outdir / "presets.json", args.presets.read_bytes())
    elif ck.get("presets"):
        fileio.write_text(args.outdir / "presets.json", json.dumps(ck["presets"], indent=1))
    for p in paths:
        print(f"wrote {p} ({p.stat().st_size / 1024:.0f} KiB)")
    if problems:
        print("verification FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"verified: ONNX Runtime matches torch within {TOLERANCE:g} (batch 1 and 8, "
          f"{args.steps} streamed steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

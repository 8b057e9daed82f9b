"""Training loop: teacher forcing on random windows, periodic held-out evaluation, resumable.

Run as a module for background training:
    nohup python -m livegen.train.wavenet.train --out runs/wavenet > runs/wavenet/log 2>&1 &
(``livegen train wavenet`` runs the same function.)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from livegen.core import dsp
from livegen.core.pitch import cents, note_pitch
from livegen.train.wavenet import data as wdata
from livegen.train.wavenet.batches import Batch, WindowSampler
from livegen.train.wavenet.generate import render_notes
from livegen.train.wavenet.model import Dims, WaveNetAutoencoder, load_checkpoint, save_checkpoint
from livegen.train.wavenet.options import TrainOptions, build_parser, options_from_args


def to_tensors(b: Batch):
    return (torch.from_numpy(b.enc_audio), torch.from_numpy(b.x_prev), torch.from_numpy(b.exc),
            torch.from_numpy(b.note_cond), torch.from_numpy(b.target), torch.from_numpy(b.mask))


def batch_loss(model, b: Batch) -> torch.Tensor:
    enc, xp, exc, nc, tgt, mask = to_tensors(b)
    logits, _ = model(enc, xp, exc, nc)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
    m = mask.reshape(-1)
    return (ce * m).sum() / m.sum()


def lr_at(step: int, o: TrainOptions) -> float:
    if step < o.decay_start or o.steps <= o.decay_start:
        return o.lr
    frac = min(1.0, (step - o.decay_start) / (o.steps - o.decay_start))
    return o.lr * (o.lr_final / o.lr) ** frac


@torch.no_grad()
def clip_z(model, ns: wdata.NoteSet, i: int, enc_window: int = 2048) -> np.ndarray:
    """Timbre code of clip i: mean z over its (non-overlapping) encoder windows."""
    x = ns.clip(i)
    n = max(1, len(x) // enc_window)
    segs = [x[k * enc_window:(k + 1) * enc_window] for k in range(n)]
    segs = [np.pad(s, (0, enc_window - len(s))) for s in segs]
    u = dsp.mu_law_to_unit(dsp.mu_law_encode(np.stack(segs)))
    return model.encoder.note_z(torch.from_numpy(u)).mean(0).numpy()


def pitch_check(model, ns, clips, seed: int = 0, seconds: float = 0.5, hold_s: float = 0.35,
                temperature: float = 0.9) -> dict:
    """Generate one note per clip (its own z, its nominal pitch) and measure its pitch (YIN)."""
    sr = ns.sample_rate
    notes = [(clip_z(model, ns, int(i)), dsp.midi_to_hz(float(ns.pitch[i])), float(ns.velocity[i]))
             for i in clips]
    audio = render_notes(model.decoder, notes, int(seconds * sr), int(hold_s * sr),
                         temperature=temperature, seed=seed)
    out = {"n": len(notes)}
    for key, kw in (("blind", {}), ("windowed", None)):
        errs = []
        for a, (_, f0, _) in zip(audio, notes):
            k = kw if kw is not None else {"fmin": f0 / math.sqrt(2), "fmax": f0 * math.sqrt(2)}
            errs.append(cents(note_pitch(a, sr, 0.08, hold_s, **k), f0))
        errs = np.asarray(errs)
        ok = np.isfinite(errs) & (np.abs(errs) <= 50)
        prefix = "" if key == "blind" else "windowed_"
        out[prefix + "in_tune"] = float(ok.mean())
        out[prefix + "median_abs_cents"] = float(np.nanmedian(np.abs(errs))) if np.isfinite(errs).any() else None
    return out


def train(o: TrainOptions, progress: bool = True) -> Path:
    torch.set_num_threads(o.threads)
    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    if o.data:
        ns = wdata.NoteSet.load(Path(o.data))
    else:
        ns, _ = wdata.load_or_render(wdata.RenderSpec(), progress=progress)
    train_clips = np.nonzero(~ns.heldout)[0]
    valid_clips = np.nonzero(ns.heldout)[0]
    if len(valid_clips) == 0:
        valid_clips = train_clips[:: max(1, len(train_clips) // 16)]

    last = out / "last.pt"
    if last.exists():
        model, ck = load_checkpoint(last)
        step = int(ck["step"])
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
        opt.load_state_dict(ck["optimizer"])
        best = float(ck.get("best_valid", math.inf))
        print(f"resumed from {last} at step {step}", flush=True)
    else:
        dims = Dims(residual=o.residual, gate=o.gate, skip=o.skip, n_harmonics=o.n_harmonics)
        torch.manual_seed(o.seed)
        model = WaveNetAutoencoder(dims)
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
        step, best = 0, math.inf
    dims = model.dims
    print(f"decoder MACs/sample {dims.decoder_macs_per_sample()['total']:.0f}, receptive field "
          f"{dims.receptive_field}, train clips {len(train_clips)}, held-out clips {len(valid_clips)}",
          flush=True)

    sampler = WindowSampler(ns, train_clips, o.window, o.context, dims.n_harmonics,
                            max_shift_semitones=o.max_shift, seed=o.seed * 1000 + step,
                            input_noise=o.input_noise)
    vrng = np.random.default_rng(1234)
    vsampler = WindowSampler(ns, valid_clips, o.window, o.context, dims.n_harmonics, seed=1)
    valid_batches = [vsampler.sample(o.batch, rng=vrng, shift=False) for _ in range(2)]
    trng = np.random.default_rng(4321)
    tr_valid = [sampler.sample(o.batch, rng=trng, shift=False) for _ in range(2)]
    prng = np.random.default_rng(7)
    pitch_clips = prng.choice(valid_clips, size=min(o.pitch_notes, len(valid_clips)), replace=False)
    pitch_train = prng.choice(train_clips, size=min(max(1, o.pitch_notes // 2), len(train_clips)), replace=False)

    log = open(out / "log.jsonl", "a")
    from tqdm import tqdm
    bar = tqdm(total=o.steps, initial=step, desc="train wavenet", mininterval=30, disable=not progress)
    t0, run_loss = time.time(), []
    while step < o.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, o)
        model.train()
        loss = batch_loss(model, sampler.sample(o.batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        run_loss.append(loss.item())
        bar.update(1)
        if step % 50 == 0:
            rec = {"step": step, "loss": float(np.mean(run_loss)), "lr": lr_at(step, o),
                   "sec": time.time() - t0}
            run_loss = []
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{rec['loss']:.3f}")
        if step % o.eval_every == 0 or step == o.steps:
            model.eval()
            with torch.no_grad():
                vl = float(np.mean([float(batch_loss(model, b)) for b in valid_batches]))
                tl = float(np.mean([float(batch_loss(model, b)) for b in tr_valid]))
            te = time.time()
            secs = o.pitch_seconds
            ph = pitch_check(model, ns, pitch_clips, seed=step, seconds=secs, hold_s=0.7 * secs)
            pt = pitch_check(model, ns, pitch_train, seed=step + 1, seconds=secs, hold_s=0.7 * secs)
            rec = {"step": step, "valid_loss": vl, "train_eval_loss": tl, "heldout_in_tune": ph["in_tune"],
                   "heldout_median_cents": ph["median_abs_cents"], "trained_in_tune": pt["in_tune"],
                   "trained_median_cents": pt["median_abs_cents"],
                   "heldout_in_tune_windowed": ph["windowed_in_tune"], "trained_in_tune_windowed": pt["windowed_in_tune"],
                   "eval_sec": time.time() - te}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            if vl < best:
                best = vl
                save_checkpoint(out / "best.pt", model, step=step, valid_loss=vl, options=vars(o),
                                names=ns.names)
        if step % o.ckpt_every == 0 or step == o.steps:
            save_checkpoint(last, model, step=step, optimizer=opt.state_dict(), best_valid=best,
                            options=vars(o), names=ns.names)
    bar.close()
    return out / "best.pt"


if __name__ == "__main__":
    train(options_from_args(build_parser().parse_args()))

"""Training loop of the timbre model: multi-resolution STFT loss on note crops, resumable.

Run as a module for background training:
    nohup python -m livegen.train.wavenet.train --out RUN > RUN.log 2>&1 &
(``livegen train wavenet`` runs the same function.) Each step draws its global batch from a
generator seeded by (seed, step) (:meth:`NoteBatcher.draw`), so a resumed run draws what an
uninterrupted one would have.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from livegen.train.pitch import cents, note_pitch
from livegen.train.wavenet import data as wdata
from livegen.train.wavenet.batches import Batch, NoteBatcher
from livegen.train.wavenet.model import (Dims, SpectralLoss, Synthesis, TimbreModel, controls,
                                         load_checkpoint, save_checkpoint)
from livegen.train.wavenet.options import TrainOptions, build_parser, options_from_args


def lr_at(step: int, o: TrainOptions) -> float:
    if step < o.decay_start or o.steps <= o.decay_start:
        return o.lr
    frac = min(1.0, (step - o.decay_start) / (o.steps - o.decay_start))
    return o.lr * (o.lr_final / o.lr) ** frac


def conditioning(z: torch.Tensor, note: torch.Tensor) -> torch.Tensor:
    """z (B, Z) and note features (B, F, N) -> the decoder's input (B, F, Z + N)."""
    return torch.cat([z[:, None, :].expand(-1, note.shape[1], -1), note], dim=-1)


def batch_audio(model: TimbreModel, synth: Synthesis, b: Batch, z_noise: float = 0.0,
                gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rendered crops (B, T), the codes z (B, Z) they were rendered with, the raw controls)."""
    z = model.encoder(torch.from_numpy(b.mel))
    zn = z + z_noise * torch.randn(z.shape, generator=gen) if z_noise > 0 else z
    raw = model.decoder(conditioning(zn, torch.from_numpy(b.note)))
    return synth.render(raw, torch.from_numpy(b.f0), torch.from_numpy(b.c0), b.target.shape[1] // synth.hop,
                        torch.from_numpy(b.uniforms)), z, raw


@torch.no_grad()
def render_clip_notes(model: TimbreModel, ns: wdata.NoteSet, batcher: NoteBatcher, clips,
                      seconds: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """Render each clip's note (its own instrument's z from another note, nominal pitch)."""
    d, synth = model.dims, Synthesis(model.dims)
    n = int(seconds / d.frame_s)
    rng = np.random.default_rng(seed)
    out = []
    for i in clips:
        mel = batcher.mel(int(i))[None]
        f0 = np.asarray([wdata.hnsynth.midi_to_hz(float(ns.pitch[i]))], np.float32)
        hold = min(float(ns.hold[i]) / ns.sample_rate, 0.7 * seconds)
        t_on = np.arange(n)[None] * d.frame_s
        t_off = np.where(t_on < hold, -1.0, t_on - hold)
        note = wdata.hnsynth.note_features(f0, ns.velocity[[i]], t_on, t_off)
        raw = model.decoder(conditioning(model.encoder(torch.from_numpy(mel)), torch.from_numpy(note)))
        u = torch.from_numpy(rng.random((1, n + 1, synth.hop + 1), dtype=np.float32))
        out.append(synth.render(raw, torch.from_numpy(f0), torch.zeros(1, dtype=torch.int64), n, u)[0].numpy())
    return out


def in_tune_rate(model, ns, batcher, clips, seed: int) -> dict:
    audio = render_clip_notes(model, ns, batcher, clips, seed=seed)
    errs = []
    for a, i in zip(audio, clips):
        f0 = wdata.hnsynth.midi_to_hz(float(ns.pitch[i]))
        errs.append(cents(note_pitch(a, ns.sample_rate, 0.08, 0.6, fmin=f0 / 1.5, fmax=f0 * 1.5), f0))
    errs = np.asarray(errs)
    ok = np.isfinite(errs) & (np.abs(errs) <= 50)
    return {"in_tune": float(ok.mean()),
            "median_abs_cents": float(np.nanmedian(np.abs(errs))) if np.isfinite(errs).any() else None}


def dims_from(o: TrainOptions, sample_rate: int) -> Dims:
    return Dims(sample_rate=sample_rate, channels=o.channels,
                dilations=tuple(2 ** i for i in range(o.layers)), n_harmonics=o.n_harmonics,
                noise_bands=o.noise_bands, z_dim=o.z_dim)


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
        torch.manual_seed(o.seed)
        model = TimbreModel(dims_from(o, ns.sample_rate))
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
        step, best, ck = 0, math.inf, {}
    # which instrument a code z comes from, read back by a linear layer (training only): a
    # cross-entropy on it makes z carry the instrument from the first steps, so the decoder
    # learns to use z instead of rendering the average instrument
    id_head = torch.nn.Linear(model.dims.z_dim, len(ns.names))
    id_opt = torch.optim.Adam(id_head.parameters(), lr=o.lr)
    if "id_head" in ck:
        id_head.load_state_dict(ck["id_head"])
        id_opt.load_state_dict(ck["id_optimizer"])
    d = model.dims
    synth, loss_fn = Synthesis(d), SpectralLoss()
    n_params = sum(p.numel() for p in model.decoder.parameters())
    print(f"single process, cpu, {o.threads} threads; decoder {n_params} parameters, "
          f"{d.macs_per_frame()} MACs/frame, receptive field {d.receptive_field} frames; "
          f"train clips {len(train_clips)}, held-out clips {len(valid_clips)}", flush=True)

    batcher = NoteBatcher(ns, train_clips, d, o.crop_frames, o.onset_share, o.max_shift, o.seed)
    vbatcher = NoteBatcher(ns, valid_clips, d, o.crop_frames, o.onset_share, 0.0, o.seed + 1)
    valid_batches = [vbatcher.draw(o.batch, 10_000 + k, shift=False) for k in range(3)]
    prng = np.random.default_rng(7)
    pitch_clips = prng.choice(valid_clips, size=min(o.pitch_notes, len(valid_clips)), replace=False)

    log = open(out / "log.jsonl", "a")
    t0, run_loss, t_start = time.time(), [], time.time()
    while step < o.steps:
        if o.minutes and time.time() - t_start > 60 * o.minutes:
            print(f"stopping after {o.minutes} minutes at step {step}", flush=True)
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, o)
        model.train()
        for g in id_opt.param_groups:
            g["lr"] = lr_at(step, o)
        b = batcher.draw(o.batch, step)
        gen = torch.Generator().manual_seed(o.seed * 1_000_003 + step)  # z noise: a function of the step
        y, z, raw = batch_audio(model, synth, b, o.z_noise, gen)
        spectral = loss_fn(y, torch.from_numpy(b.target))
        ident = torch.nn.functional.cross_entropy(id_head(z), torch.from_numpy(ns.instrument[b.clips]))
        # the pitch deviation is free to make vibrato or an attack's bend, but pays for drifting:
        # a spectral loss's gradient in frequency is weak and noisy, and the notes are in tune
        dev = controls(raw, d)[2] / d.max_dev_cents
        loss = spectral + o.id_weight * ident + o.dev_weight * (dev ** 2).mean()
        opt.zero_grad(set_to_none=True)
        id_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        id_opt.step()
        step += 1
        run_loss.append((spectral.item(), ident.item()))
        if step % 25 == 0:
            rec = {"step": step, "loss": float(np.mean([r[0] for r in run_loss])),
                   "id_loss": float(np.mean([r[1] for r in run_loss])), "lr": lr_at(step, o),
                   "sec": round(time.time() - t0, 1)}
            run_loss = []
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if progress:
                print(json.dumps(rec), flush=True)
        if step % o.eval_every == 0 or step == o.steps:
            model.eval()
            with torch.no_grad():
                vl = float(np.mean([float(loss_fn(batch_audio(model, synth, vb)[0], torch.from_numpy(vb.target)))
                                    for vb in valid_batches]))
            te = time.time()
            pt = in_tune_rate(model, ns, vbatcher, pitch_clips, seed=step)
            rec = {"step": step, "valid_loss": vl, "heldout_in_tune": pt["in_tune"],
                   "heldout_median_cents": pt["median_abs_cents"], "eval_sec": round(time.time() - te, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            if vl < best:
                best = vl
                save_checkpoint(out / "best.pt", model, step=step, valid_loss=vl, options=vars(o),
                                names=ns.names)
        if step % o.ckpt_every == 0 or step == o.steps:
            save_checkpoint(last, model, step=step, optimizer=opt.state_dict(), best_valid=best,
                            options=vars(o), names=ns.names, id_head=id_head.state_dict(),
                            id_optimizer=id_opt.state_dict())
    save_checkpoint(last, model, step=step, optimizer=opt.state_dict(), best_valid=best,
                    options=vars(o), names=ns.names, id_head=id_head.state_dict(),
                    id_optimizer=id_opt.state_dict())
    log.close()
    return out / "best.pt"


if __name__ == "__main__":
    train(options_from_args(build_parser().parse_args()))

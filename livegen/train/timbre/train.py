"""Training loop of the timbre model: multi-resolution STFT loss on note crops, resumable.

Run as a module for background training:
    nohup python -m livegen.train.timbre.train --out RUN > RUN.log 2>&1 &
(``livegen train timbre`` runs the same function.) Each step draws its global batch from a
generator seeded by (seed, step) (:meth:`NoteBatcher.draw`), so a resumed run draws what an
uninterrupted one would have.

Under torchrun (``livegen.train.distributed``) every rank draws that same global batch (and the
same z noise) and trains on its equal share of the rows, DDP averages the gradients of the
model and of the instrument read-out, so the result equals one process on the same batch.
Rank 0 alone evaluates and writes the run folder.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from livegen.train import distributed
from livegen.train.distributed import Dist
from livegen.train.pitch import cents, note_pitch
from livegen.train.timbre import data as wdata
from livegen.train.timbre.batches import Batch, NoteBatcher
from livegen.train.timbre.model import (Dims, SpectralLoss, Synthesis, TimbreModel, controls,
                                         model_from_checkpoint, read_checkpoint, save_checkpoint)
from livegen.train.timbre.options import TrainOptions


def lr_at(step: int, o: TrainOptions) -> float:
    if step < o.decay_start or o.steps <= o.decay_start:
        return o.lr
    frac = min(1.0, (step - o.decay_start) / (o.steps - o.decay_start))
    return o.lr * (o.lr_final / o.lr) ** frac


def conditioning(z: torch.Tensor, note: torch.Tensor) -> torch.Tensor:
    """z (B, Z) and note features (B, F, N) -> the decoder's input (B, F, Z + N)."""
    return torch.cat([z[:, None, :].expand(-1, note.shape[1], -1), note], dim=-1)


class TimbreTable(torch.nn.Module):
    """One timbre code per training instrument, learned with the decoder (training only; the
    shipped presets are its rows). Codes are bounded like the encoder's: tanh."""

    def __init__(self, n: int, z_dim: int):
        super().__init__()
        self.weight = torch.nn.Parameter(0.5 * torch.randn(n, z_dim))

    def forward(self, instrument: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.weight[instrument])


def batch_audio(model: TimbreModel, synth: Synthesis, b: Batch, z: torch.Tensor,
                z_noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The crops rendered with codes z (B, Z): (audio (B, T), raw controls); ``z_noise`` (B, Z)
    is added to z first (training)."""
    dev = z.device
    zn = z + z_noise.to(dev) if z_noise is not None else z
    raw = model.decoder(conditioning(zn, torch.from_numpy(b.note).to(dev)))
    return synth.render(raw, torch.from_numpy(b.f0).to(dev), torch.from_numpy(b.c0).to(dev),
                        b.target.shape[1] // synth.hop, torch.from_numpy(b.uniforms).to(dev)), raw


def encode(model: TimbreModel, b: Batch) -> torch.Tensor:
    """The encoder's codes (B, Z) of the batch's other notes."""
    return model.encoder(torch.from_numpy(b.mel).to(next(model.parameters()).device))


class TrainStep(torch.nn.Module):
    """A training step's forward in one module, so that DDP averages the gradients of all it
    trains: the model and the instruments' codes."""

    def __init__(self, model: TimbreModel, table: TimbreTable, synth: Synthesis):
        super().__init__()
        self.model, self.table, self.synth = model, table, synth

    def forward(self, b: Batch, instrument: torch.Tensor, z_noise: torch.Tensor | None):
        """-> (rendered crops, raw controls, the codes z they were rendered with, the encoder's codes)."""
        z = self.table(instrument)
        y, raw = batch_audio(self.model, self.synth, b, z, z_noise)
        return y, raw, z, encode(self.model, b)


@torch.no_grad()
def render_clip_notes(model: TimbreModel, ns: wdata.NoteSet, batcher: NoteBatcher, clips,
                      seconds: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """Render each clip's note (its own instrument's z from another note, nominal pitch)."""
    dev = next(model.parameters()).device
    d, synth = model.dims, Synthesis(model.dims, device=dev)
    n = int(seconds / d.frame_s)
    rng = np.random.default_rng(seed)
    out = []
    for i in clips:
        mel = batcher.mel(int(i))[None]
        f0 = np.asarray([wdata.hnsynth.midi_to_hz(float(ns.pitch[i]))], np.float32)
        hold = min(float(ns.hold[i]) / ns.sample_rate, 0.7 * seconds)
        t_on, t_off = wdata.hnsynth.note_times(n, d.frame_s, hold)
        note = wdata.hnsynth.note_features(f0, ns.velocity[[i]], t_on, t_off)
        raw = model.decoder(conditioning(model.encoder(torch.from_numpy(mel).to(dev)),
                                         torch.from_numpy(note).to(dev)))
        u = torch.from_numpy(rng.random((1, n + 1, synth.hop + 1), dtype=np.float32)).to(dev)
        out.append(synth.render(raw, torch.from_numpy(f0).to(dev), torch.zeros(1, dtype=torch.int64, device=dev),
                                n, u)[0].cpu().numpy())
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


@torch.no_grad()
def presets_of(table: TimbreTable, names: list[str]) -> dict[str, list[float]]:
    """The learned codes as presets (the 8 shipped instruments first)."""
    from livegen.train.timbre.presets import preset_order
    z = table(torch.arange(len(names), device=table.weight.device)).cpu().numpy()
    return {n: [float(v) for v in z[names.index(n)]] for n in preset_order(names)}


def dims_from(o: TrainOptions, sample_rate: int) -> Dims:
    return Dims(sample_rate=sample_rate, channels=o.channels,
                dilations=tuple(2 ** i for i in range(o.layers)), n_harmonics=o.n_harmonics,
                noise_bands=o.noise_bands, z_dim=o.z_dim)


def train(o: TrainOptions, progress: bool = True, dist: Dist | None = None) -> Path:
    """Train (or resume from OUT/last.pt) and return the path of the best checkpoint.

    ``dist``: this process's place in a torchrun run (default: one process on the CPU).
    """
    dist = dist or distributed.one_process()
    say = distributed.log_stream(dist, sys.stdout)  # rank 0 prints, the others are quiet
    rows = distributed.rank_slice(o.batch, dist)  # this rank's rows of every global batch
    print(distributed.header(dist), file=say, flush=True)  # the log's first line
    print(f"global batch: {o.batch} notes per step"
          + (f", {rows.stop - rows.start} per process" if dist.world_size > 1 else ""), file=say, flush=True)
    torch.set_num_threads(o.threads)
    out = Path(o.out)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    with distributed.main_first(dist):  # rank 0 renders the default note set once, the others read it
        if o.data:
            ns = wdata.NoteSet.load(Path(o.data))
        else:
            ns, _ = wdata.load_or_render(wdata.RenderSpec(), progress=progress and dist.is_main)
    train_clips = np.nonzero(~ns.heldout)[0]
    valid_clips = np.nonzero(ns.heldout)[0]
    if len(valid_clips) == 0:
        valid_clips = train_clips[:: max(1, len(train_clips) // 16)]

    last = out / "last.pt"
    # rank 0 reads the checkpoint and hands it to the others (no shared disk needed)
    ck = distributed.object_from_main(read_checkpoint(last) if dist.is_main and last.exists() else None, dist)
    if ck is not None:
        model = model_from_checkpoint(ck, last).to(dist.device)
        step = int(ck["step"])
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
        opt.load_state_dict(ck["optimizer"])
        best = float(ck.get("best_valid", math.inf))
        print(f"resumed from {last} at step {step}", file=say, flush=True)
    else:
        torch.manual_seed(o.seed)
        model = TimbreModel(dims_from(o, ns.sample_rate)).to(dist.device)
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
        step, best, ck = 0, math.inf, {}
    # the decoder is conditioned on a learned code per instrument (a strong, clean signal from
    # the first step); the encoder learns to reach that code from another note of the instrument
    # (so a user's own sound lands in the same space), without pulling the codes toward itself
    table = TimbreTable(len(ns.names), model.dims.z_dim).to(dist.device)
    table_opt = torch.optim.Adam(table.parameters(), lr=o.lr)
    if "z_table" in ck:
        table.load_state_dict(ck["z_table"])
        table_opt.load_state_dict(ck["z_table_optimizer"])
    d = model.dims
    synth, loss_fn = Synthesis(d, device=dist.device), SpectralLoss()
    stepper = distributed.wrap(TrainStep(model, table, synth), dist)  # train through this
    instrument = torch.from_numpy(ns.instrument).to(dist.device)
    n_params = sum(p.numel() for p in model.decoder.parameters())
    print(f"{o.threads} threads per process; decoder {n_params} parameters, "
          f"{d.macs_per_frame()} MACs/frame, receptive field {d.receptive_field} frames; "
          f"train clips {len(train_clips)}, held-out clips {len(valid_clips)}", file=say, flush=True)

    batcher = NoteBatcher(ns, train_clips, d, o.crop_frames, o.onset_share, o.max_shift, o.seed)
    vbatcher = NoteBatcher(ns, valid_clips, d, o.crop_frames, o.onset_share, 0.0, o.seed + 1)
    if dist.is_main:  # rank 0 alone evaluates
        valid_batches = [vbatcher.draw(o.batch, 10_000 + k, shift=False) for k in range(3)]
        prng = np.random.default_rng(7)
        pitch_clips = prng.choice(valid_clips, size=min(o.pitch_notes, len(valid_clips)), replace=False)
        log = open(out / "log.jsonl", "a")
    options = {**vars(o), "world_size": dist.world_size}

    def checkpoint() -> None:
        if dist.is_main:
            save_checkpoint(last, model, step=step, optimizer=opt.state_dict(), best_valid=best,
                            options=options, names=ns.names, z_table=table.state_dict(),
                            z_table_optimizer=table_opt.state_dict(), presets=presets_of(table, ns.names))

    t0, run_loss, t_start = time.time(), [], time.time()
    while step < o.steps:
        if o.minutes and distributed.from_main(time.time() - t_start, dist) > 60 * o.minutes:  # all ranks agree
            print(f"stopping after {o.minutes} minutes at step {step}", file=say, flush=True)
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, o)
        stepper.train()
        for g in table_opt.param_groups:
            g["lr"] = lr_at(step, o)
        b = batcher.draw(o.batch, step).rows(rows)  # the step's global batch, this rank's rows
        gen = torch.Generator().manual_seed(o.seed * 1_000_003 + step)  # z noise: a function of the step
        noise = o.z_noise * torch.randn((o.batch, d.z_dim), generator=gen)[rows] if o.z_noise > 0 else None
        y, raw, z, enc = stepper(b, instrument[torch.from_numpy(b.clips).to(dist.device)], noise)
        spectral = loss_fn(y, torch.from_numpy(b.target).to(dist.device))
        ident = ((enc - z.detach()) ** 2).sum(-1).mean()
        # the pitch deviation is free to make vibrato or an attack's bend, but pays for drifting:
        # a spectral loss's gradient in frequency is weak and noisy, and the notes are in tune
        dev = controls(raw, d)[2] / d.max_dev_cents
        loss = spectral + o.id_weight * ident + o.dev_weight * (dev ** 2).mean()
        opt.zero_grad(set_to_none=True)
        table_opt.zero_grad(set_to_none=True)
        loss.backward()  # under DDP: the gradients averaged over the ranks
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        table_opt.step()
        step += 1
        run_loss.append((spectral.item(), ident.item()))
        if step % 25 == 0:
            spec_sum, id_sum = distributed.sum_over_ranks([sum(r[0] for r in run_loss), sum(r[1] for r in run_loss)],
                                                          dist)
            n = len(run_loss) * dist.world_size
            rec = {"step": step, "loss": spec_sum / n, "encoder_loss": id_sum / n, "lr": lr_at(step, o),
                   "sec": round(time.time() - t0, 1)}
            run_loss = []
            if dist.is_main:
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if progress:
                print(json.dumps(rec), file=say, flush=True)
        if dist.is_main and (step % o.eval_every == 0 or step == o.steps):
            model.eval()
            with torch.no_grad():
                target = [torch.from_numpy(vb.target).to(dist.device) for vb in valid_batches]
                codes = [instrument[torch.from_numpy(vb.clips).to(dist.device)] for vb in valid_batches]
                vl = float(np.mean([float(loss_fn(batch_audio(model, synth, vb, table(c))[0], t))
                                    for vb, c, t in zip(valid_batches, codes, target)]))
                # held-out pitches rendered with the encoder's code of another note instead
                ve = float(np.mean([float(loss_fn(batch_audio(model, synth, vb, encode(model, vb))[0], t))
                                    for vb, t in zip(valid_batches, target)]))
            te = time.time()
            pt = in_tune_rate(model, ns, vbatcher, pitch_clips, seed=step)
            rec = {"step": step, "valid_loss": vl, "valid_loss_encoded": ve, "heldout_in_tune": pt["in_tune"],
                   "heldout_median_cents": pt["median_abs_cents"], "eval_sec": round(time.time() - te, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), file=say, flush=True)
            if vl < best:
                best = vl
                save_checkpoint(out / "best.pt", model, step=step, valid_loss=vl, options=options,
                                names=ns.names, presets=presets_of(table, ns.names))
        if step % o.ckpt_every == 0 or step == o.steps:
            checkpoint()
    checkpoint()
    if dist.is_main:
        log.close()
    return out / "best.pt"


if __name__ == "__main__":  # the same options and torchrun set-up as livegen train timbre
    from livegen.train.timbre import cli_train

    sys.exit(cli_train.main())

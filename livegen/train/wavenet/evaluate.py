"""Evaluation on held-out notes: pitch accuracy, right- vs wrong-preset log-mel distance, sine baseline.

Every generated note is rendered the way the synth renders it: an oscillator
at the nominal f0 of the target (not the measured f0 of the real clip), the
preset's z, the clip's velocity and hold time, zero history at note-on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

dsp = None  # replaced by the new evaluation
from livegen.train.pitch import cents, note_pitch


@dataclass
class EvalOptions:
    temperature: float = 0.8  # the synth's default (config synth.temperature)
    seed: int = 0
    velocity: int = 85
    pitches_per_set: int = 6  # held-out pitches (and as many trained ones) per instrument
    max_seconds: float = 2.0
    tolerance_cents: float = 50.0


def pitch_of(x: np.ndarray, f0_target: float, hold_s: float, sr: int) -> dict:
    """Median YIN pitch over [0.08 s, hold]: blind (60-1400 Hz) and within +-6 semitones of the target."""
    end = max(0.2, min(hold_s, 1.0))
    blind = note_pitch(x, sr, 0.08, end)
    windowed = note_pitch(x, sr, 0.08, end, fmin=f0_target / math.sqrt(2), fmax=f0_target * math.sqrt(2))
    return {"blind": cents(blind, f0_target), "windowed": cents(windowed, f0_target)}


def choose_clips(ns, heldout: bool, velocity: int, per_instrument: int) -> list[int]:
    out = []
    for k in range(len(ns.names)):
        m = (ns.instrument == k) & (ns.heldout == heldout) & (ns.velocity == velocity)
        idx = np.nonzero(m)[0]
        if len(idx) == 0:
            idx = np.nonzero((ns.instrument == k) & (ns.heldout == heldout))[0]
        if len(idx) == 0:
            continue
        pitches = np.unique(ns.pitch[idx])
        if heldout is False:  # trained pitches: spread over the range
            pass
        take = pitches[np.linspace(0, len(pitches) - 1, min(per_instrument, len(pitches))).round().astype(int)]
        for p in take:
            out.append(int(idx[ns.pitch[idx] == p][0]))
    return out


def sine_like(x_real: np.ndarray, f0: float, sr: int, hop: int = 256) -> np.ndarray:
    """A sine at f0 with the real note's RMS envelope (the baseline)."""
    n = len(x_real)
    frames = -(-n // hop)
    pad = np.pad(x_real, (0, frames * hop - n)).reshape(frames, hop)
    rms = np.sqrt((pad ** 2).mean(1) + 1e-12)
    env = np.interp(np.arange(n), np.arange(frames) * hop + hop / 2, rms)
    return (math.sqrt(2) * env * np.sin(2 * np.pi * f0 / sr * np.arange(n))).astype(np.float32)


def evaluate(model, ns, presets: dict[str, np.ndarray], o: EvalOptions, progress: bool = True) -> dict:
    from livegen.train.wavenet.generate import generate, note_inputs

    sr = ns.sample_rate
    names = [n for n in ns.names if n in presets]
    held = [i for i in choose_clips(ns, True, o.velocity, o.pitches_per_set) if ns.names[ns.instrument[i]] in presets]
    trained = [i for i in choose_clips(ns, False, o.velocity, o.pitches_per_set)
               if ns.names[ns.instrument[i]] in presets]
    max_len = int(o.max_seconds * sr)
    # jobs: (clip, preset name)
    jobs = [(i, name) for i in held for name in names] + [(i, ns.names[ns.instrument[i]]) for i in trained]
    excs, conds, lens = [], [], []
    for i, name in jobs:
        n = min(len(ns.clip(i)), max_len)
        hold = min(int(ns.hold[i]), n)
        e, c = note_inputs(presets[name], dsp.midi_to_hz(float(ns.pitch[i])), float(ns.velocity[i]),
                           max_len, hold, model.dims.n_harmonics)
        excs.append(e)
        conds.append(c)
        lens.append(n)
    q = generate(model.decoder, np.stack(excs), np.stack(conds), temperature=o.temperature, seed=o.seed)
    audio = dsp.mu_law_decode(q)
    gen = {job: audio[k, :lens[k]] for k, job in enumerate(jobs)}

    def real(i):
        return ns.clip(i)[:min(len(ns.clip(i)), max_len)]

    res = {"temperature": o.temperature, "seed": o.seed, "velocity": o.velocity,
           "n_heldout_notes": len(held), "n_trained_notes": len(trained), "instruments": names}

    def pitch_table(clips, source):
        rows = []
        for i in clips:
            f0 = dsp.midi_to_hz(float(ns.pitch[i]))
            rows.append(pitch_of(source(i), f0, ns.hold[i] / sr, sr))
        out = {}
        for key in ("blind", "windowed"):
            c = np.asarray([r[key] for r in rows], float)
            ok = np.isfinite(c) & (np.abs(c) <= o.tolerance_cents)
            out[key] = {"in_tune": float(ok.mean()) if len(c) else float("nan"), "n": int(len(c)),
                        "n_in_tune": int(ok.sum()),
                        "median_abs_cents": float(np.nanmedian(np.abs(c))) if np.isfinite(c).any() else None}
        return out

    res["pitch"] = {
        "real_heldout": pitch_table(held, real),
        "real_trained": pitch_table(trained, real),
        "generated_heldout": pitch_table(held, lambda i: gen[(i, ns.names[ns.instrument[i]])]),
        "generated_trained": pitch_table(trained, lambda i: gen[(i, ns.names[ns.instrument[i]])]),
        "sine_heldout": pitch_table(held, lambda i: sine_like(real(i), dsp.midi_to_hz(float(ns.pitch[i])), sr)),
    }
    # log-mel distances on held-out notes
    K = len(names)
    dist = np.zeros((K, K))  # [true instrument, preset used] mean over notes
    count = np.zeros((K, K))
    sine_d, real_other = [], []
    for i in held:
        a = names.index(ns.names[ns.instrument[i]])
        x = real(i)
        for b, name in enumerate(names):
            dist[a, b] += dsp.log_mel_distance(gen[(i, name)], x, sr)
            count[a, b] += 1
        sine_d.append(dsp.log_mel_distance(sine_like(x, dsp.midi_to_hz(float(ns.pitch[i])), sr), x, sr))
        # a different real instrument at the same pitch and velocity (reference level)
        m = np.nonzero((ns.pitch == ns.pitch[i]) & (ns.velocity == ns.velocity[i])
                       & (ns.instrument != ns.instrument[i]))[0]
        if len(m):
            real_other.append(np.mean([dsp.log_mel_distance(real(int(j)), x, sr) for j in m]))
    dist = dist / np.maximum(count, 1)
    right = np.diag(dist)
    pairs = [(a, b) for a in range(K) for b in range(K) if a != b]
    closer = [dist[a, a] < dist[a, b] for a, b in pairs]
    res["log_mel"] = {
        "matrix_db": [[round(float(v), 3) for v in row] for row in dist],
        "right_preset_db": float(right.mean()),
        "wrong_preset_db": float(np.mean([dist[a, b] for a, b in pairs])) if pairs else None,
        "pairs_right_closer": int(sum(closer)), "pairs": len(pairs),
        "sine_db": float(np.mean(sine_d)),
        "other_real_instrument_db": float(np.mean(real_other)) if real_other else None,
    }
    res["teacher_forced"] = preset_nll(model, ns, presets, names, o.seed)
    res["_audio"] = {"gen": gen, "held": held, "trained": trained, "names": names}
    return res


def preset_nll(model, ns, presets, names, seed: int = 0, windows_per_instrument: int = 6) -> dict:
    """Teacher-forced loss (nats/sample) on held-out-pitch windows of instrument a with preset b.

    A check of timbre control that sampling noise cannot mask: the right preset should give
    the lower loss. Returns the matrix and the share of (a, b != a) pairs where it does.
    """
    import torch
    import torch.nn.functional as F

    from livegen.train.wavenet.batches import WindowSampler

    rng = np.random.default_rng(seed + 99)
    K = len(names)
    loss = np.zeros((K, K))
    for a, name in enumerate(names):
        clips = np.nonzero(ns.heldout & (ns.instrument == ns.names.index(name)))[0]
        if len(clips) == 0:
            continue
        s = WindowSampler(ns, clips, 2560, 512, model.dims.n_harmonics, seed=seed)
        b = s.sample(windows_per_instrument, rng=rng, shift=False)
        mask = torch.from_numpy(b.mask)
        for k, pname in enumerate(names):
            z = torch.from_numpy(np.repeat(np.asarray(presets[pname], np.float32)[None], len(b.clip), 0))
            with torch.no_grad():
                lg = model.decoder(torch.from_numpy(b.x_prev), torch.from_numpy(b.exc),
                                   model.full_cond(z, torch.from_numpy(b.note_cond)))
                ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), torch.from_numpy(b.target).reshape(-1),
                                     reduction="none").reshape(mask.shape)
            loss[a, k] = float((ce * mask).sum() / mask.sum())
    pairs = [(a, b) for a in range(K) for b in range(K) if a != b]
    return {"matrix_nats": [[round(float(v), 4) for v in row] for row in loss],
            "right_nats": float(np.mean(np.diag(loss))),
            "wrong_nats": float(np.mean([loss[a, b] for a, b in pairs])) if pairs else None,
            "pairs_right_lower": int(sum(loss[a, a] < loss[a, b] for a, b in pairs)), "pairs": len(pairs),
            "windows_per_instrument": windows_per_instrument}


def results_markdown(res: dict) -> str:
    p, lm = res["pitch"], res["log_mel"]
    lines = [f"temperature {res['temperature']}, seed {res['seed']}, velocity {res['velocity']}; "
             f"{res['n_heldout_notes']} held-out notes, {res['n_trained_notes']} trained-pitch notes",
             "", "| notes | estimator | within 50 cents | median abs cents |", "|---|---|---|---|"]
    for key, label in (("real_heldout", "real clips, held-out pitches"),
                       ("real_trained", "real clips, trained pitches"),
                       ("generated_heldout", "generated, held-out pitches"),
                       ("generated_trained", "generated, trained pitches"),
                       ("sine_heldout", "sine, held-out pitches")):
        for est in ("blind", "windowed"):
            r = p[key][est]
            med = "-" if r["median_abs_cents"] is None else f"{r['median_abs_cents']:.1f}"
            lines.append(f"| {label} | {est} | {r['n_in_tune']}/{r['n']} ({100 * r['in_tune']:.0f}%) | {med} |")
    other = lm["other_real_instrument_db"]
    other = "-" if other is None else f"{other:.2f}"
    lines += ["", "| log-mel L1 distance to the real held-out note (dB) | value |", "|---|---|",
              f"| generated, right preset | {lm['right_preset_db']:.2f} |",
              f"| generated, wrong preset (mean over the other presets) | {lm['wrong_preset_db']:.2f} |",
              f"| instrument pairs where the right preset is closer | {lm['pairs_right_closer']}/{lm['pairs']} |",
              f"| sine at the right pitch with the real RMS envelope | {lm['sine_db']:.2f} |",
              f"| another real instrument, same pitch and velocity | {other} |"]
    tf = res.get("teacher_forced")
    if tf:
        lines += ["", "| teacher-forced loss on held-out-pitch windows (nats/sample) | value |", "|---|---|",
                  f"| right preset | {tf['right_nats']:.3f} |",
                  f"| wrong preset (mean over the other presets) | {tf['wrong_nats']:.3f} |",
                  f"| instrument pairs where the right preset gives the lower loss | "
                  f"{tf['pairs_right_lower']}/{tf['pairs']} |"]
    return "\n".join(lines) + "\n"

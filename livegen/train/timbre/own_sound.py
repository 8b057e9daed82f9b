"""``livegen train timbre --audio DIR``: fine-tune the shipped decoder on a user's own
recordings of one instrument (DDSP-VST style: the notes found by a pitch tracker, their
loudness and pitch as the decoder's note input, one learned code), then write a model folder
whose presets are the shipped ones and the new sound, and measure it on a held-out part of the
recordings against ``livegen encode`` alone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from livegen import fileio
from livegen.core import spectral
from livegen.train.timbre import data as wdata
from livegen.train.timbre.options import TrainOptions

# A few minutes of audio on two cores: these replace the training defaults the user left alone.
AUDIO_DEFAULTS = dict(steps=400, decay_start=200, lr=1e-4, lr_final=2e-5, eval_every=100, measured_f0=True,
                      release_share=0.15, onset_share=0.4)


def audio_options(o: TrainOptions, given: set[str], data: Path, init: Path) -> TrainOptions:
    """The options of a fine-tune on a user's notes: ``AUDIO_DEFAULTS`` for every option not
    ``given`` on the command line, the notes, and the checkpoint it starts from."""
    return replace(o, **{k: v for k, v in AUDIO_DEFAULTS.items() if k not in given},
                   data=str(data), init=o.init or str(init))


def notes_of(audio: Path, name: str, sample_rate: int) -> tuple[wdata.NoteSet, Path]:
    ns = wdata.load_recordings(audio, name, sample_rate)
    path = wdata.cache_dir() / f"audio-{name}.npz"
    ns.save(path)
    return ns, path


def write_model(run: Path, init: Path, out: Path, name: str) -> Path:
    """The fine-tuned model folder ``out``: weights of RUN/last.pt, the shipped presets with
    ``name`` (the learned code) added, exported for the synth (by the exporter's own command:
    export/ is the layer above training)."""
    import subprocess
    import sys

    from livegen.engine.timbre import save_presets
    from livegen.train.timbre.model import load_checkpoint, read_checkpoint, save_checkpoint

    model, ck = load_checkpoint(run / "last.pt")
    presets = {**read_checkpoint(init).get("presets", {}), **ck["presets"]}
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", model, step=ck.get("step"), options=ck.get("options"),
                    names=ck.get("names"), presets=presets)
    save_presets(out / "presets.json", presets)
    done = subprocess.run([sys.executable, "-m", "export.timbre", str(out / "model.pt"), str(out),
                           "--presets", str(out / "presets.json")], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"exporting {out} failed: {done.stderr.strip()}")
    return out


def heldout_distances(model_dir: Path, shipped_dir: Path, ns: wdata.NoteSet, name: str,
                      refine_steps: int = 16) -> dict:
    """The MR-STFT distance of the held-out notes to their re-synthesis: by the fine-tuned model
    with the learned code, and by the shipped model with ``livegen encode``'s code of the
    training notes (encoder and ``refine_steps`` of its refinement)."""
    from livegen.engine.timbre import TimbreEngine
    from livegen.synth.encoding import encode_audio, refine
    from livegen.synth.offline import render_note
    from livegen.synth.synth import Synth

    sr = ns.sample_rate
    held, trained = np.nonzero(ns.heldout)[0], np.nonzero(~ns.heldout)[0]
    gap = np.zeros(int(0.2 * sr), np.float32)
    x = np.concatenate([np.concatenate([ns.clip(i), gap]) for i in trained])
    shipped = TimbreEngine.load(shipped_dir)
    z = encode_audio(shipped, x, sr)
    z, _, _ = refine(shipped, x, sr, z, list(shipped.presets.values()), steps=refine_steps)
    tuned = TimbreEngine.load(model_dir)

    def distance(engine, code) -> float:
        out = []
        for i in held:
            synth = Synth(engine, sample_rate=sr, voices=1, seed=0)
            synth.set_channel_z(0, np.asarray(code, np.float32))
            real = ns.clip(i)
            y = render_note(synth, int(round(ns.pitch[i])), int(ns.velocity[i]), ns.hold[i] / sr, len(real) / sr)
            out.append(spectral.distance(y, real))
        return float(np.mean(out))

    return {"heldout_notes": len(held), "fine_tuned": distance(tuned, tuned.presets[name]),
            "encode_alone": distance(shipped, z)}


def run(o: TrainOptions, audio: Path, name: str, shipped_dir: Path, given: set[str], progress: bool, dist) -> int:
    from livegen.train.timbre.model import read_checkpoint
    from livegen.train.timbre.train import train

    init = Path(o.init) if o.init else shipped_dir / "model.pt"
    sr = int(read_checkpoint(init)["dims"]["sample_rate"])
    ns, path = notes_of(audio, name, sr)
    print(f"{len(ns)} notes of {name} in {audio} ({int(ns.heldout.sum())} held out), "
          f"{len(ns.audio) / sr:.0f} s: {path}")
    o = audio_options(o, given, path, init)
    train(o, progress=progress, dist=dist)
    if not dist.is_main:
        return 0
    folder = write_model(Path(o.out), init, Path(o.out) / "model", name)
    res = heldout_distances(folder, shipped_dir, ns, name)
    fileio.write_text(folder / "heldout.json", json.dumps(res, indent=1))
    print(f"held-out notes ({res['heldout_notes']}), MR-STFT distance: fine-tuned {res['fine_tuned']:.3f}, "
          f"livegen encode alone {res['encode_alone']:.3f}")
    print(f"model folder with preset {name!r}: {folder} (play it: livegen --set models.timbre={folder} ...)")
    return 0

"""The timbre model's run-time engine: its two ONNX graphs and the presets, checked on load.

A model folder (``models.timbre`` in config.toml) holds ``encoder.onnx`` and
``decoder_step.onnx`` (written by ``python -m export.timbre``) and ``presets.json`` (timbre
name -> z). Each ONNX file says what it is in its metadata; a file of another kind or format
version is refused, naming the file and what it is.

- ``encoder.onnx``: ``mel`` (B, enc_frames, n_mels) log-mel frames of a note
  (:func:`livegen.synth.encoding.encoder_input`) -> ``z`` (B, Z).
- ``decoder.npz``: the decoder's weights, which the synth's native kernel runs
  (:mod:`livegen.synth.native`); ``decoder_step.onnx`` is the same decoder for ONNX Runtime,
  the reference the kernel is tested against.
- ``decoder_step.onnx``: one frame for V voices. ``cond`` (V, Z + note features), ``past``
  (V, L, C) each layer's input d_l frames ago -> ``amp`` (V, 1), ``dist`` (V, K), ``dev`` (V,)
  cents, ``noise`` (V, N) band gains, and ``cur`` (V, L, C) each layer's input now.

The decoder step keeps no state: the caller owns :class:`DecoderRing` (every voice's past layer
inputs, one ring per layer) and passes it through :meth:`TimbreEngine.step`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livegen import fileio
from livegen.core import hnsynth
from livegen.errors import ModelFileError

FORMAT_VERSION = 2
KINDS = {"encoder": "livegen.timbre.encoder", "decoder_step": "livegen.timbre.decoder_step"}
OLD_KINDS = {"livegen.wavenet.encoder", "livegen.wavenet.conditioning", "livegen.wavenet.decoder_step"}


def read_metadata(session, path: Path, kind: str) -> dict:
    meta = session.get_modelmeta().custom_metadata_map
    got = meta.get("kind")
    if got in OLD_KINDS:
        raise ModelFileError(f"{path}: a timbre model of the old sample-level WaveNet kind ({got}, "
                             "livegen 0.1); this livegen plays the harmonic-plus-noise model "
                             "(format 2): use the shipped model or re-train and export yours")
    if got != KINDS[kind]:
        raise ModelFileError(f"{path}: not a livegen {kind} model (its kind is "
                             f"{got if got else 'not set'!r}, expected {KINDS[kind]!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(f"{path}: format version {meta.get('format_version')!r}; this livegen "
                             f"reads version {FORMAT_VERSION}: re-export it with python -m export.timbre")
    try:
        return json.loads(meta["dims"])
    except (KeyError, ValueError) as err:
        raise ModelFileError(f"{path}: its metadata has no readable dims") from err


@dataclass
class DecoderRing:
    """Every voice's past layer inputs: one ring of d_l rows per layer (V, sum d, C), and each
    voice's frame count. Owned by the thread that renders."""

    rows: np.ndarray  # (V, sum of dilations, C) float32
    frame: np.ndarray  # (V,) int64 frames stepped since the voice's note-on

    def reset(self, slots) -> None:
        self.rows[slots] = 0.0
        self.frame[slots] = 0


@dataclass
class TimbreEngine:
    folder: Path
    dims: dict
    encoder: object
    decoder: object
    presets: dict[str, np.ndarray]
    calibration: dict = field(default_factory=dict)  # preset name -> hnsynth.Calibration

    @classmethod
    def load(cls, folder: str | Path, provider: str = "auto", threads: int = 1) -> "TimbreEngine":
        from livegen.engine.ort import open_session
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelFileError(f"timbre model folder {str(folder)!r} does not exist "
                                 "(models.timbre in config.toml)")
        sessions, dims = {}, None
        for kind in KINDS:
            path = folder / f"{kind}.onnx"
            sessions[kind] = open_session(path, provider, threads)
            d = read_metadata(sessions[kind], path, kind)
            if dims is not None and d != dims:
                raise ModelFileError(f"{path}: its dims differ from the other files in {folder}: "
                                     "they come from different exports")
            dims = d
        presets = load_presets(folder / "presets.json", dims["z_dim"]) \
            if (folder / "presets.json").exists() else {}
        calibration = load_calibration(folder / CALIBRATION_FILE) if (folder / CALIBRATION_FILE).exists() else {}
        return cls(folder, dims, sessions["encoder"], sessions["decoder_step"], presets, calibration)

    def calibration_of(self, name: str) -> hnsynth.Calibration:
        """A preset's calibration (``calibration.json`` beside the model; flat if it has none)."""
        return self.calibration.get(name) or hnsynth.Calibration.flat()

    @property
    def synth_dims(self) -> hnsynth.SynthDims:
        d = self.dims
        return hnsynth.SynthDims(d["frame_s"], d["n_harmonics"], d["noise_bands"], d["max_band_hz"],
                                 d["max_dev_cents"])

    @property
    def sample_rate(self) -> int:
        """The rate the model was trained at (it renders at any rate)."""
        return int(self.dims["sample_rate"])

    # -- the decoder ----------------------------------------------------------------------
    @property
    def dilations(self) -> np.ndarray:
        return np.asarray(self.dims["dilations"], np.int64)

    def new_ring(self, voices: int) -> DecoderRing:
        return DecoderRing(np.zeros((voices, int(self.dilations.sum()), self.dims["channels"]), np.float32),
                           np.zeros(voices, np.int64))

    def step(self, ring: DecoderRing, voices: np.ndarray, cond: np.ndarray):
        """One frame of the voices ``voices`` (J,): cond (J, Z + note features) ->
        (amp (J, 1), dist (J, K), dev (J,), noise (J, N)); advances their rings."""
        dil = self.dilations
        offsets = np.concatenate([[0], np.cumsum(dil)[:-1]])
        rows = offsets + ring.frame[voices, None] % dil  # (J, L): input d_l frames ago, then now
        vi = np.asarray(voices)[:, None]
        past = ring.rows[vi, rows]  # (J, L, C)
        amp, dist, dev, noise, cur = self.decoder.run(None, {"cond": cond.astype(np.float32), "past": past})
        ring.rows[vi, rows] = cur
        ring.frame[voices] += 1
        return amp, dist, dev, noise

    def decoder_weights(self) -> dict[str, np.ndarray]:
        """The decoder's parameters (``decoder.npz``, torch names) for the native kernel."""
        return load_decoder_weights(self.folder / WEIGHTS_FILE, self.dims, KINDS["decoder_step"], FORMAT_VERSION)

    # -- the encoder ----------------------------------------------------------------------
    def encode(self, mel: np.ndarray) -> np.ndarray:
        """mel (B, enc_frames, n_mels) -> z (B, Z)."""
        return self.encoder.run(None, {"mel": mel.astype(np.float32)})[0]


CALIBRATION_FILE = "calibration.json"


def load_calibration(path: Path) -> dict:
    """calibration.json: {"name": {"harmonic_db": [...], "noise_db": [...]}}, one number per
    band of ``hnsynth.EQ_BANDS_HZ``, each finite and within +-EQ_MAX_DB."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a readable calibration file ({err})") from err
    n = len(hnsynth.EQ_BANDS_HZ)
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: must be a JSON object of preset name -> "
                             '{"harmonic_db": [...], "noise_db": [...]}')
    out = {}
    for name, entry in data.items():
        try:
            h, nz = entry["harmonic_db"], entry["noise_db"]
            h, nz = tuple(float(x) for x in h), tuple(float(x) for x in nz)
        except (TypeError, KeyError, ValueError) as err:
            raise ModelFileError(f"{path}: {name!r} needs harmonic_db and noise_db, {n} numbers each") from err
        if len(h) != n or len(nz) != n or not all(math.isfinite(x) and abs(x) <= hnsynth.EQ_MAX_DB for x in h + nz):
            raise ModelFileError(f"{path}: {name!r} needs harmonic_db and noise_db of {n} finite numbers "
                                 f"within +-{hnsynth.EQ_MAX_DB:g} dB each")
        out[name] = hnsynth.Calibration(h, nz)
    return out


def load_presets(path: Path, z_dim: int | None, allow_empty: bool = False) -> dict[str, np.ndarray]:
    """presets.json: {"name": [z values...]}; each must have ``z_dim`` finite numbers
    (None: the model is not known here, so all presets must just have the same length)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise ModelFileError(f"no presets file {path}") from err
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a readable presets file ({err})") from err
    numbers = f"{z_dim} numbers" if z_dim is not None else "numbers"
    if not isinstance(data, dict) or not (data or allow_empty):
        raise ModelFileError(f"{path}: presets must be a JSON object of name -> list of {numbers}")
    presets = {}
    for name, z in data.items():
        try:
            z = np.asarray(z, dtype=np.float32) if isinstance(z, list) else None
        except (TypeError, ValueError):
            z = None
        ok = z is not None and z.ndim == 1 and z.size > 0 and bool(np.all(np.isfinite(z)))
        if ok and z_dim is None:
            z_dim = z.size  # the first preset sets the length for the others
        if not ok or z.shape != (z_dim,):
            numbers = f"{z_dim} finite numbers" if z_dim else "finite numbers"
            raise ModelFileError(f"{path}: preset {name!r} must be a list of {numbers}")
        presets[name] = z
    return presets


def add_preset(path: Path, name: str, z: np.ndarray) -> None:
    """Add (or replace) one preset in a presets file, creating it if need be. The file is read,
    changed and replaced under a lock, so that encodes writing one file at once keep every
    preset."""
    path = Path(path)
    with fileio.locked(path):
        presets = load_presets(path, len(z), allow_empty=True) if path.exists() else {}
        presets[name] = np.asarray(z, np.float32)
        save_presets(path, presets)


def save_presets(path: Path, presets: dict) -> None:
    """Write presets.json atomically (name -> z, 6 decimals)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.write_text(path, json.dumps({k: [round(float(v), 6) for v in z] for k, z in presets.items()},
                                       indent=1) + "\n")


# ------------------------------------------------------------------------------------------
# the decoder's weights for the native kernel

WEIGHTS_FILE = "decoder.npz"  # written by the export script beside the ONNX files


def save_decoder_weights(path: Path, state: dict[str, np.ndarray], dims: dict, meta: dict[str, str]) -> None:
    """decoder.npz: the decoder's parameters (torch names, float32) and the export's metadata."""
    arrays = {k: np.asarray(v, np.float32) for k, v in state.items()}
    arrays.update({f"meta.{k}": np.asarray(v) for k, v in meta.items()})
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_decoder_weights(path: Path, dims: dict, kind: str, format_version: int) -> dict[str, np.ndarray]:
    """The decoder's parameters from decoder.npz, checked against the model's dims."""
    if not path.exists():
        raise ModelFileError(f"{path}: missing: the native synth reads the decoder's weights from it; "
                             "re-export the model with python -m export.timbre")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a readable weights file ({err})") from err
    got = str(data.get("meta.kind", ""))
    if got != kind or str(data.get("meta.format_version", "")) != str(format_version):
        raise ModelFileError(f"{path}: not a livegen decoder weights file of format {format_version} "
                             f"(kind {got!r}); re-export the model with python -m export.timbre")
    if json.loads(str(data["meta.dims"])) != dims:
        raise ModelFileError(f"{path}: its dims differ from the ONNX files beside it: they come from "
                             "different exports")
    state = {k: v for k, v in data.items() if not k.startswith("meta.")}
    L = len(dims["dilations"])
    layers = ["inp", "cond", "skip", "h1", "h2"] + [f"gate.{l}" for l in range(L)] + [f"res.{l}" for l in range(L - 1)]
    for name in layers:
        for part in ("weight", "bias"):
            if f"{name}.{part}" not in state:
                raise ModelFileError(f"{path}: has no {name}.{part}")
    return state

"""The timbre model's files: three ONNX graphs and the presets, checked on load.

A model folder (``models.wavenet`` in config.toml) holds ``encoder.onnx``,
``conditioning.onnx``, ``decoder_step.onnx`` (written by ``python -m export.wavenet``)
and ``presets.json`` (timbre name -> z). Each ONNX file says what it is in its
metadata; a file of another kind or format version is refused, naming the file.

The decoder step keeps no state: per voice, the caller owns a ring buffer of every
layer's past inputs (sum of dilations rows of R), gathers ``past`` before a step
(:meth:`WaveNetFiles.gather_past`) and writes ``cur`` after it (:meth:`write_cur`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen import fileio
from livegen.core import dsp
from livegen.errors import ModelFileError

FORMAT_VERSION = 1
KINDS = {"encoder": "livegen.wavenet.encoder", "conditioning": "livegen.wavenet.conditioning",
         "decoder_step": "livegen.wavenet.decoder_step"}


def read_metadata(session, path: Path, kind: str) -> dict:
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("kind") != KINDS[kind]:
        raise ModelFileError(f"{path}: not a livegen {kind} model (its kind is "
                             f"{meta.get('kind', 'not set')!r}, expected {KINDS[kind]!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(f"{path}: format version {meta.get('format_version')!r}; this livegen "
                             f"reads version {FORMAT_VERSION}: re-export it with python -m export.wavenet")
    try:
        return json.loads(meta["dims"])
    except (KeyError, ValueError) as err:
        raise ModelFileError(f"{path}: its metadata has no readable dims") from err


@dataclass
class WaveNetFiles:
    folder: Path
    dims: dict
    encoder: object
    conditioning: object
    decoder: object
    presets: dict[str, np.ndarray]

    @classmethod
    def load(cls, folder: str | Path, provider: str = "auto") -> "WaveNetFiles":
        from livegen.engine.ort import open_session
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelFileError(f"timbre model folder {str(folder)!r} does not exist "
                                 "(models.wavenet in config.toml)")
        sessions, dims = {}, None
        for kind in KINDS:
            path = folder / f"{kind}.onnx"
            sessions[kind] = open_session(path, provider)
            d = read_metadata(sessions[kind], path, kind)
            if dims is not None and d != dims:
                raise ModelFileError(f"{path}: its dims differ from the other files in {folder}: "
                                     "they come from different exports")
            dims = d
        presets = load_presets(folder / "presets.json", dims["z_dim"]) \
            if (folder / "presets.json").exists() else {}
        files = cls(folder, dims, sessions["encoder"], sessions["conditioning"],
                    sessions["decoder_step"], presets)
        return files

    # -- the decoder's ring buffer ------------------------------------------------------
    @property
    def dilations(self) -> np.ndarray:
        return np.asarray(self.dims["dilations"], np.int64)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.dilations)[:-1]])

    def new_history(self, voices: int) -> np.ndarray:
        return np.zeros((voices, int(self.dilations.sum()), self.dims["residual"]), np.float32)

    def _rows(self, t) -> np.ndarray:
        t = np.asarray(t, np.int64)
        return self.offsets + (t[..., None] % self.dilations)  # (L,) or (V, L)

    def gather_past(self, ring: np.ndarray, t) -> np.ndarray:
        """Each layer's input d_l steps before step ``t`` (int, or (V,) per voice): (V, L, R)."""
        rows = self._rows(t)
        if rows.ndim == 1:
            return ring[:, rows]
        return np.take_along_axis(ring, rows[:, :, None], axis=1)

    def write_cur(self, ring: np.ndarray, t, cur: np.ndarray) -> None:
        rows = self._rows(t)
        if rows.ndim == 1:
            ring[:, rows] = cur
        else:
            np.put_along_axis(ring, rows[:, :, None], cur, axis=1)

    def kernel_weights(self):
        """The decoder's weights, read from decoder_step.onnx, in the compiled kernel's layout."""
        import onnx
        from onnx import numpy_helper

        from livegen.engine.kernel import DecoderWeights
        path = self.folder / "decoder_step.onnx"
        try:
            init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
        except Exception as err:  # onnx raises DecodeError and others for a damaged file
            raise ModelFileError(f"{path}: cannot read its weights ({type(err).__name__})") from err
        d = self.dims
        R, G, L = d["residual"], d["gate"], len(d["dilations"])
        try:
            w_in, gate = init["w_in"], [init[f"gate.{l}"] for l in range(L)]
            res = [init[f"res.{l}"] for l in range(L - 1)] + [np.zeros((G, R), np.float32)]
            w_skip = init["w_skip"]
            q = np.arange(d["n_classes"])
            return DecoderWeights(
                dilations=np.asarray(d["dilations"]),
                emb=dsp.mu_law_to_unit(q, d["n_classes"] - 1)[:, None] * w_in[0] + init["b_in"],
                w_exc_in=w_in[1:], w_past=np.stack([g[:R] for g in gate]),
                w_cur=np.stack([g[R:2 * R] for g in gate]), w_exc=np.stack([g[2 * R:] for g in gate]),
                w_res=np.stack(res), w_skip=w_skip.reshape(L, G, -1), b_skip=init["b_skip"],
                w_h1=init["w_h1"], b_h1=init["b_h1"], w_out=init["w_h2"], b_out=init["b_h2"],
                frame=d["frame"])
        except (KeyError, ValueError) as err:
            raise ModelFileError(f"{path}: its weights are not those of a livegen decoder step "
                                 f"({err})") from err


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


def save_presets(path: Path, presets: dict) -> None:
    """Write presets.json atomically (name -> z, 6 decimals)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.write_text(path, json.dumps({k: [round(float(v), 6) for v in z] for k, z in presets.items()},
                                       indent=1) + "\n")

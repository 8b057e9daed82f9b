"""The phrase LSTM on ONNX Runtime: one token in, logits and the new state out.

The model file is the single-step graph written by ``export/lstm.py``, with
its fixed names:

- inputs ``token`` (int64, (1,)), ``controls`` (float32, (1, C); only in a model
  trained with controls, livegen.core.controls), ``h_in`` and ``c_in`` (float32,
  (layers, 1, hidden));
- outputs ``logits`` ((1, vocab_size)), ``h_out`` and ``c_out``;
- metadata ``kind`` (:data:`KIND`), ``format_version``
  (:data:`FORMAT_VERSION`), ``dims``, ``vocab`` (must equal
  :data:`livegen.core.tokens.VOCAB_SPEC`) and ``controls`` (their names, which
  must be :data:`livegen.core.controls.NAMES`), as JSON.

Any other file is refused with one :class:`ModelFileError` naming the file and
what is wrong. The state is explicit (:meth:`LstmRuntime.initial_state`,
``step(token, state, controls) -> (logits, state)``), so the generator thread can prime incrementally, keep snapshots (to mutate a
response) and never share the runtime: one thread owns it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen.core import controls as ctl
from livegen.core import tokens as tk
from livegen.engine.ort import open_session
from livegen.errors import EngineError, ModelFileError

log = logging.getLogger("livegen.lstm")

class LstmStepError(EngineError):
    """ONNX Runtime failed to run a step (what the generator thread recovers from)."""


def _ort_errors() -> tuple[type[BaseException], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(getattr(state, n) for n in ("Fail", "InvalidArgument", "RuntimeException", "EPFail")
                 if hasattr(state, n))


# the step graph's format, which export/lstm.py writes
KIND = "livegen.lstm"
FORMAT_VERSION = 2  # 2: the controls input and metadata
OUTPUTS = ("logits", "h_out", "c_out")


def input_names(controls: bool) -> tuple[str, ...]:
    """The step graph's inputs; ``controls`` only in a model that has them."""
    return ("token", *(("controls",) if controls else ()), "h_in", "c_in")


@dataclass(frozen=True)
class LstmInfo:
    path: str
    kind: str
    format_version: int
    dims: dict
    controls: tuple[str, ...]  # names of the control inputs; () for a model without them


class LstmRuntime:
    """One ONNX Runtime session over the single-step graph. Owned by one thread."""

    def __init__(self, path: str | Path, provider: str = "auto", threads: int = 1):
        path = Path(path)
        if not path.is_file():
            checkpoint = path.with_name("model.pt")
            if checkpoint.is_file():
                raise ModelFileError(
                    f"LSTM model {str(path)!r} does not exist: export it from the checkpoint next to it "
                    f"(python -m export.lstm {checkpoint} {path})")
            raise ModelFileError(
                f"LSTM model {str(path)!r} does not exist: train and export it (livegen train lstm, "
                "python -m export.lstm) or set models.lstm to an exported file")
        self.session = open_session(path, provider, threads)
        self.info = self._read_info(path)
        self.vocab_size = int(self.info.dims["vocab_size"])
        self.num_controls = len(self.info.controls)
        layers, hidden = int(self.info.dims["layers"]), int(self.info.dims["hidden"])
        self._state_shape = (layers, 1, hidden)
        self._token = np.zeros((1,), np.int64)
        self._controls = np.zeros((1, self.num_controls), np.float32)
        self._errors = _ort_errors()
        self._feeds = {"token": self._token}
        if self.num_controls:
            self._feeds["controls"] = self._controls
        self.steps = 0

    def _read_info(self, path: Path) -> LstmInfo:
        meta = self.session.get_modelmeta().custom_metadata_map
        how = "export it with this livegen's export/lstm.py"
        kind = meta.get("kind", "")
        if kind != KIND:
            raise ModelFileError(f"{path}: not a livegen LSTM step model (metadata kind {kind!r}; "
                                 f"expected {KIND!r}): {how}")
        try:
            version = int(meta.get("format_version", "-1"))
        except ValueError:
            version = -1
        if version != FORMAT_VERSION:
            raise ModelFileError(f"{path}: LSTM format_version {meta.get('format_version')!r}; this "
                                 f"livegen reads {FORMAT_VERSION}: {how}")
        missing = [k for k in ("dims", "vocab", "controls") if k not in meta]
        if missing:
            raise ModelFileError(f"{path}: LSTM metadata lacks {', '.join(missing)}: {how}")
        try:
            dims, vocab, controls = (json.loads(meta[k]) for k in ("dims", "vocab", "controls"))
        except json.JSONDecodeError as err:
            raise ModelFileError(f"{path}: LSTM metadata is not valid JSON ({err}): {how}") from err
        if vocab != json.loads(json.dumps(tk.VOCAB_SPEC)):
            raise ModelFileError(f"{path}: trained with another vocabulary than livegen.core.tokens "
                                 f"({vocab.get('scheme')!r} v{vocab.get('version')})")
        names = tuple(controls.get("names", ())) if isinstance(controls, dict) else None
        if names not in ((), ctl.NAMES) or not all(k in dims for k in ("vocab_size", "layers", "hidden")):
            raise ModelFileError(f"{path}: LSTM controls {names!r} or dims {dims!r} are not what this livegen "
                                 f"runs (controls {ctl.NAMES}): {how}")
        want_in = input_names(bool(names))
        got_in = tuple(a.name for a in self.session.get_inputs())
        got_out = tuple(o.name for o in self.session.get_outputs())
        if got_in != want_in or got_out != OUTPUTS:
            raise ModelFileError(f"{path}: LSTM graph has inputs {got_in} and outputs {got_out}; expected "
                                 f"{want_in} and {OUTPUTS}: {how}")
        return LstmInfo(str(path), kind, version, dims, names)

    def initial_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Zeros for h and c (a fresh phrase)."""
        return np.zeros(self._state_shape, np.float32), np.zeros(self._state_shape, np.float32)

    def step(self, token: int, state: tuple[np.ndarray, np.ndarray],
             controls: np.ndarray | None = None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(V,) float32 logits after ``token`` given with ``controls`` (the (C,) vector of
        livegen.core.controls; ignored by a model without them), and the new state.
        Generator thread only."""
        self._token[0] = token
        if self.num_controls:
            if controls is None:
                raise ValueError(f"{Path(self.info.path).name} takes {self.num_controls} controls with every token")
            self._controls[0] = controls
        feeds = self._feeds
        feeds["h_in"], feeds["c_in"] = state
        try:
            logits, h, c = self.session.run(OUTPUTS, feeds)
        except self._errors as err:
            raise LstmStepError(f"{Path(self.info.path).name}: ONNX Runtime failed a step: {err}") from err
        self.steps += 1
        return logits.reshape(-1)[: self.vocab_size], (h, c)

    def stepper(self, controls: np.ndarray | None):
        """``step(token, state)`` with these controls: the step function of livegen.core.sampling."""
        return lambda token, state: self.step(token, state, controls)

    def describe(self) -> str:
        d = self.info.dims
        size = ", ".join(f"{k} {d[k]}" for k in ("layers", "hidden", "embed") if k in d)
        return f"{Path(self.info.path).name} ({size or 'dims not recorded'})"

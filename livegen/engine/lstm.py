"""The phrase LSTM on ONNX Runtime: one token in, logits and the new state out.

The model file is the single-step graph written by ``export/lstm.py``:

- inputs: the token (int64, shape (1,) or (1, 1)) and the recurrent state
  (float32 tensors: per layer ``h`` and ``c``, or the layers stacked);
- outputs: the logits over the vocabulary (any shape holding ``vocab_size``
  values), then the new state, one output per state input;
- metadata: ``kind`` (one of :data:`KINDS`), ``format_version``
  (:data:`FORMAT_VERSION`), ``dims`` and ``vocab`` (JSON; ``vocab`` must equal
  :data:`livegen.core.tokens.VOCAB_SPEC`).

A file of another kind, version or vocabulary is refused with a
:class:`ModelFileError` naming the file. The state is explicit
(:meth:`LstmRuntime.initial_state`, ``step(token, state) -> (logits, state)``),
so the generator thread can prime incrementally, keep snapshots (to mutate a
response) and never share the runtime: one thread owns it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen.core import tokens as tk
from livegen.engine.ort import open_session
from livegen.errors import ModelFileError

log = logging.getLogger("livegen.lstm")

KINDS = ("livegen.lstm",)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LstmInfo:
    path: str
    kind: str
    format_version: int
    dims: dict
    token_input: str
    state_inputs: tuple[str, ...]
    logits_output: str
    state_outputs: tuple[str, ...]


def _onnx_dtype(type_str: str) -> np.dtype:
    return {"tensor(int64)": np.dtype(np.int64), "tensor(int32)": np.dtype(np.int32),
            "tensor(float)": np.dtype(np.float32)}.get(type_str, np.dtype(np.float32))


def _shape(arg) -> tuple[int, ...]:
    """A declared shape with symbolic dimensions (batch, sequence) taken as 1."""
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in arg.shape)


def _match_outputs(state_inputs: list[str], outputs: list[str]) -> list[str]:
    """The output carrying each state input's new value: by name where it tells, else in order."""
    matched = []
    left = list(outputs)
    for name in state_inputs:
        candidates = [name.replace("_in", "_out"), name.replace("in", "out"), f"{name}_out",
                      f"new_{name}", f"{name}_new", name.replace("_in", "_next")]
        hit = next((c for c in candidates if c in left and c != name), None)
        matched.append(hit)
        if hit:
            left.remove(hit)
    for i, hit in enumerate(matched):
        if hit is None:
            matched[i] = left.pop(0)
    return matched


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
        self.vocab_size = int(self.info.dims.get("vocab_size", tk.VOCAB_SIZE))
        inputs = {a.name: a for a in self.session.get_inputs()}
        tok = inputs[self.info.token_input]
        self._token_dtype = _onnx_dtype(tok.type)
        self._token_shape = _shape(tok)
        self._state_shapes = [(_shape(inputs[n]), _onnx_dtype(inputs[n].type)) for n in self.info.state_inputs]
        self._outputs = [self.info.logits_output, *self.info.state_outputs]
        self._token = np.zeros(self._token_shape, self._token_dtype)
        self.steps = 0

    def _read_info(self, path: Path) -> LstmInfo:
        meta = self.session.get_modelmeta().custom_metadata_map
        kind = meta.get("kind", "")
        if kind not in KINDS:
            raise ModelFileError(f"{path}: not a livegen LSTM step model (metadata kind {kind!r}; "
                                 f"expected {KINDS[0]!r}): export it with export/lstm.py")
        try:
            version = int(meta.get("format_version", "-1"))
        except ValueError:
            version = -1
        if version != FORMAT_VERSION:
            raise ModelFileError(f"{path}: LSTM format_version {meta.get('format_version')!r}; this "
                                 f"livegen reads {FORMAT_VERSION}: re-export it with this livegen's export/lstm.py")
        try:
            dims = json.loads(meta.get("dims", "{}"))
            vocab = json.loads(meta["vocab"]) if "vocab" in meta else None
        except (json.JSONDecodeError, TypeError) as err:
            raise ModelFileError(f"{path}: LSTM metadata is not valid JSON ({err})") from err
        if vocab is not None and vocab != json.loads(json.dumps(tk.VOCAB_SPEC)):
            raise ModelFileError(f"{path}: trained with another vocabulary than livegen.core.tokens "
                                 f"({vocab.get('scheme')!r} v{vocab.get('version')})")
        ins = self.session.get_inputs()
        tokens = [a.name for a in ins if a.type in ("tensor(int64)", "tensor(int32)")]
        if len(tokens) != 1:
            raise ModelFileError(f"{path}: expected one integer token input, found {len(tokens)}")
        states = [a.name for a in ins if a.name != tokens[0]]
        outs = [o.name for o in self.session.get_outputs()]
        if len(outs) != len(states) + 1:
            raise ModelFileError(f"{path}: {len(states)} state inputs but {len(outs) - 1} state outputs")
        logits = next((o for o in outs if o.startswith("logits")), outs[0])
        rest = [o for o in outs if o != logits]
        return LstmInfo(str(path), kind, version, dims, tokens[0], tuple(states), logits,
                        tuple(_match_outputs(states, rest)))

    def initial_state(self) -> tuple[np.ndarray, ...]:
        """Zeros for every state input (a fresh phrase)."""
        return tuple(np.zeros(shape, dtype) for shape, dtype in self._state_shapes)

    def step(self, token: int, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """(V,) float32 logits after ``token``, and the new state. Generator thread only."""
        self._token.fill(token)
        feeds = {self.info.token_input: self._token}
        for name, value in zip(self.info.state_inputs, state):
            feeds[name] = value
        out = self.session.run(self._outputs, feeds)
        self.steps += 1
        return out[0].reshape(-1)[: self.vocab_size], tuple(out[1:])

    def describe(self) -> str:
        d = self.info.dims
        size = ", ".join(f"{k} {d[k]}" for k in ("layers", "hidden", "embed") if k in d)
        return f"{Path(self.info.path).name} ({size or 'dims not recorded'})"

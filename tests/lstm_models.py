"""Tiny phrase-LSTM step models for the daemon's tests and benchmarks.

``step_model`` uses export/lstm.py (torch) when both are present, so the tests
run what ships; otherwise it writes the same single-step graph with the onnx
helper (random weights, no torch), with the metadata livegen.engine.lstm reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from livegen.core import tokens as tk
from livegen.engine.lstm import FORMAT_VERSION, KIND


def numpy_step_model(path: Path, *, embed: int = 16, hidden: int = 32, layers: int = 2, seed: int = 0,
                     kind: str = KIND, version: int = FORMAT_VERSION, controls: int = 4,
                     metadata: dict | None = None, logit_bias: np.ndarray | None = None) -> Path:
    """Write a random single-step LSTM with export/lstm.py's names (token, controls,
    h_in, c_in -> logits, h_out, c_out) with onnx.helper. ``metadata`` replaces
    entries of the metadata (a value None leaves that key out); ``logit_bias`` (V,) is
    added to the logits (to make a random model play notes, say)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from livegen.core import controls as ctl

    rng = np.random.default_rng(seed)
    V = tk.VOCAB_SIZE
    inits, nodes = [], []

    def const(name, array, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    const("embed", rng.normal(0, 1, (V, embed)))
    inputs = [helper.make_tensor_value_info("token", TensorProto.INT64, [1])]
    if controls:
        inputs.append(helper.make_tensor_value_info("controls", TensorProto.FLOAT, [1, controls]))
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [layers, 1, hidden]) for n in ("h_in", "c_in")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, V])]
    outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [layers, 1, hidden]) for n in ("h_out", "c_out")]
    nodes.append(helper.make_node("Gather", ["embed", "token"], ["e0"], axis=0))  # (1, E)
    x, width = "e0", embed
    if controls:
        nodes.append(helper.make_node("Concat", ["e0", "controls"], ["x0"], axis=1))
        x, width = "x0", embed + controls
    const("zero_axis", [0], np.int64)
    for i in range(layers):
        const(f"idx{i}", i, np.int64)
        nodes += [helper.make_node("Gather", ["h_in", f"idx{i}"], [f"h{i}_in"], axis=0),
                  helper.make_node("Gather", ["c_in", f"idx{i}"], [f"c{i}_in"], axis=0)]
        scale = 1 / np.sqrt(hidden)
        const(f"wx{i}", rng.uniform(-scale, scale, (width, 4 * hidden)))
        const(f"wh{i}", rng.uniform(-scale, scale, (hidden, 4 * hidden)))
        const(f"b{i}", rng.uniform(-scale, scale, (4 * hidden,)))
        nodes += [
            helper.make_node("MatMul", [x, f"wx{i}"], [f"gx{i}"]),
            helper.make_node("MatMul", [f"h{i}_in", f"wh{i}"], [f"gh{i}"]),
            helper.make_node("Add", [f"gx{i}", f"gh{i}"], [f"gs{i}"]),
            helper.make_node("Add", [f"gs{i}", f"b{i}"], [f"g{i}"]),
            helper.make_node("Split", [f"g{i}"], [f"gi{i}", f"gf{i}", f"gg{i}", f"go{i}"], axis=1,
                             num_outputs=4),
            helper.make_node("Sigmoid", [f"gi{i}"], [f"si{i}"]),
            helper.make_node("Sigmoid", [f"gf{i}"], [f"sf{i}"]),
            helper.make_node("Tanh", [f"gg{i}"], [f"tg{i}"]),
            helper.make_node("Sigmoid", [f"go{i}"], [f"so{i}"]),
            helper.make_node("Mul", [f"sf{i}", f"c{i}_in"], [f"fc{i}"]),
            helper.make_node("Mul", [f"si{i}", f"tg{i}"], [f"ig{i}"]),
            helper.make_node("Add", [f"fc{i}", f"ig{i}"], [f"c{i}_out"]),
            helper.make_node("Tanh", [f"c{i}_out"], [f"tc{i}"]),
            helper.make_node("Mul", [f"so{i}", f"tc{i}"], [f"h{i}_out"]),
            helper.make_node("Unsqueeze", [f"h{i}_out", "zero_axis"], [f"h{i}_st"]),
            helper.make_node("Unsqueeze", [f"c{i}_out", "zero_axis"], [f"c{i}_st"]),
        ]
        x, width = f"h{i}_out", hidden
    nodes += [helper.make_node("Concat", [f"h{i}_st" for i in range(layers)], ["h_out"], axis=0),
              helper.make_node("Concat", [f"c{i}_st" for i in range(layers)], ["c_out"], axis=0)]
    const("wo", rng.normal(0, 2 / np.sqrt(hidden), (hidden, V)))
    const("bo", np.zeros(V) if logit_bias is None else logit_bias)
    nodes += [helper.make_node("MatMul", [x, "wo"], ["lo"]), helper.make_node("Add", ["lo", "bo"], ["logits"])]
    graph = helper.make_graph(nodes, "phrase_lstm_step", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    dims = {"vocab_size": V, "embed": embed, "hidden": hidden, "layers": layers, "dropout": 0.0,
            "controls": controls}
    meta = {"kind": kind, "format_version": str(version), "dims": json.dumps(dims),
            "vocab": json.dumps(tk.VOCAB_SPEC),
            "controls": json.dumps({"names": list(ctl.NAMES) if controls else []})}
    meta.update(metadata or {})
    for key, value in meta.items():
        if value is not None:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def step_model(path: Path, *, embed: int = 16, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A small random step model: through export/lstm.py (what ships) when torch and the
    export are importable, else written by :func:`numpy_step_model`."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # no [train] extra; a broken first-party import still fails
        return numpy_step_model(path, embed=embed, hidden=hidden, layers=layers, seed=seed)
    from dataclasses import asdict

    import torch

    from export.lstm import export
    from livegen.core.controls import NUM_CONTROLS
    from livegen.train.lstm.model import PhraseLSTM
    from livegen.train.lstm.settings import ModelDims

    torch.manual_seed(seed)

    dims = ModelDims(embed=embed, hidden=hidden, layers=layers, dropout=0.0, controls=NUM_CONTROLS)
    model = PhraseLSTM(dims).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    export(model, path, {"dims": asdict(dims), "vocab": tk.VOCAB_SPEC})
    return path


def jam_model(folder: Path) -> Path:
    """The LSTM a jam through real ports plays: the shipped one where there is one (a random
    test LSTM sometimes answers a phrase with two bars of rests, and then there is no note to
    time), else a random step model written into ``folder``; skipped without torch or onnx."""
    import pytest

    from livegen import config
    cfg = config.Config()
    shipped = cfg.path(cfg.models.lstm)
    if shipped.exists():
        return shipped
    try:
        return step_model(folder / "lstm.onnx", embed=32, hidden=64, layers=2)
    except ImportError:
        pytest.skip("needs torch or onnx to build a test LSTM")


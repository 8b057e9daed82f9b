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


def numpy_step_model(path: Path, *, embed: int = 16, hidden: int = 32, layers: int = 2, seed: int = 0,
                     kind: str = "livegen.lstm", version: int = 1) -> Path:
    """Write a random single-step LSTM (per-layer h, c inputs) with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    V = tk.VOCAB_SIZE
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    const("embed", rng.normal(0, 1, (V, embed)))
    inputs = [helper.make_tensor_value_info("token", TensorProto.INT64, [1])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, V])]
    nodes.append(helper.make_node("Gather", ["embed", "token"], ["x0"], axis=0))  # (1, E)
    x, width = "x0", embed
    for i in range(layers):
        for s in ("h", "c"):
            inputs.append(helper.make_tensor_value_info(f"{s}{i}_in", TensorProto.FLOAT, [1, hidden]))
            outputs.append(helper.make_tensor_value_info(f"{s}{i}_out", TensorProto.FLOAT, [1, hidden]))
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
        ]
        x, width = f"h{i}_out", hidden
    const("wo", rng.normal(0, 2 / np.sqrt(hidden), (hidden, V)))
    const("bo", np.zeros(V))
    nodes += [helper.make_node("MatMul", [x, "wo"], ["lo"]), helper.make_node("Add", ["lo", "bo"], ["logits"])]
    graph = helper.make_graph(nodes, "phrase_lstm_step", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    dims = {"vocab_size": V, "embed": embed, "hidden": hidden, "layers": layers, "dropout": 0.0}
    for key, value in (("kind", kind), ("format_version", str(version)), ("dims", json.dumps(dims)),
                       ("vocab", json.dumps(tk.VOCAB_SPEC))):
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
    try:
        import torch
        from export.lstm import export
        from livegen.train.lstm.model import PhraseLSTM
        from livegen.train.lstm.settings import ModelDims
    except ImportError:
        return numpy_step_model(path, embed=embed, hidden=hidden, layers=layers, seed=seed)
    from dataclasses import asdict
    torch.manual_seed(seed)
    dims = ModelDims(embed=embed, hidden=hidden, layers=layers, dropout=0.0)
    model = PhraseLSTM(dims).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    export(model, path, {"dims": asdict(dims), "vocab": tk.VOCAB_SPEC})
    return path

"""The compiled decoder kernel (kernel.c): built on first use, loaded with ctypes.

The kernel is compiled with the machine's own C compiler (``cc``, or ``$CC``) into
the cache folder, once per source and flags; ``-march=native`` is safe because it is
built where it runs. Where no compiler exists, :func:`load` raises ``DeviceError``
and the ONNX Runtime engine is used instead.

:class:`DecoderWeights` holds the decoder in the kernel's layout (input-major
matrices, float32); :class:`KernelDecoder` renders blocks for many voices with
explicit state, splitting the voices over threads (ctypes releases the GIL).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from livegen.errors import DeviceError

log = logging.getLogger("livegen.engine")

SOURCE = Path(__file__).with_name("kernel.c")
FLAGS = ["-O3", "-ffast-math", "-fPIC", "-march=native"]
_lock = threading.Lock()
_libs: dict = {}  # shape -> loaded library


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "livegen" / "kernel"


def build(shape: dict | None = None, force: bool = False) -> Path:
    """Compile kernel.c (once per source, flags and shape); returns the shared library's path.

    ``shape`` (R, G, S, H, E, Q) builds a library for that model shape only: with constant
    sizes the compiler keeps the sums in registers, which measured 1.6x faster here.
    """
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise DeviceError("no C compiler (cc) to build the decoder kernel; use synth.engine = 'onnx'")
    flags = list(FLAGS)
    if shape:
        flags += ["-DLG_FIXED"] + [f"-DLG_{k}={shape[k]}" for k in ("R", "G", "S", "H", "E", "Q")]
    source = SOURCE.read_bytes()
    tag = hashlib.sha256(source + " ".join([cc, *flags]).encode()).hexdigest()[:16]
    out = cache_dir() / f"kernel-{tag}.so"
    if out.exists() and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    obj = out.with_suffix(f".{os.getpid()}.o")
    # compile and link apart: linking with -ffast-math would add GCC's crtfastmath, which
    # switches the whole process (numpy included) to flush denormals to zero on load
    for cmd in ([cc, *flags, "-c", "-o", str(obj), str(SOURCE)],
                [cc, "-shared", "-o", str(tmp), str(obj), "-lm"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            obj.unlink(missing_ok=True)
            raise DeviceError(f"building the decoder kernel with {cc} failed:\n{proc.stderr.strip()[-2000:]}")
    obj.unlink(missing_ok=True)
    os.replace(tmp, out)  # atomic: a concurrent build never sees half a library
    log.debug("built %s", out)
    return out


class _Model(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in ("R", "G", "S", "H", "E", "L", "Q", "frame")] + [
        ("dil", ctypes.POINTER(ctypes.c_int32))] + [
        (name, ctypes.POINTER(ctypes.c_float)) for name in (
            "emb", "w_exc_in", "w_past", "w_cur", "w_exc", "w_res", "w_skip", "b_skip",
            "w_h1", "b_h1", "w_out", "b_out")]


def load(shape: dict | None = None):
    """The kernel library for ``shape`` (None: any shape), built if needed."""
    key = tuple(sorted(shape.items())) if shape else None
    with _lock:
        if key not in _libs:
            lib = ctypes.CDLL(str(build(shape)))
            f32, i32, i64 = (np.ctypeslib.ndpointer(t, flags="C_CONTIGUOUS")
                             for t in (np.float32, np.int32, np.int64))
            lib.lg_render.argtypes = [ctypes.POINTER(_Model), i32, ctypes.c_int32, ctypes.c_int32,
                                      ctypes.c_int32, f32, i64, i32, f32, f32, f32, f32, i32,
                                      ctypes.c_void_p]
            lib.lg_render.restype = None
            lib.lg_history_size.argtypes = [ctypes.POINTER(_Model)]
            lib.lg_history_size.restype = ctypes.c_int64
            _libs[key] = lib
    return _libs[key]


@dataclass
class DecoderWeights:
    """The decoder in the kernel's layout. Matrices are input-major: (inputs, outputs).

    ``w_exc_in`` and ``w_exc`` may be None (no excitation there). Per-note and per-frame
    conditioning is not here: it arrives as ``cond`` biases, (L, 2G) per frame.
    """

    dilations: np.ndarray  # (L,) int32
    emb: np.ndarray  # (Q, R) what the previous sample's class adds to the residual stream
    w_past: np.ndarray  # (L, R, 2G)
    w_cur: np.ndarray  # (L, R, 2G)
    w_res: np.ndarray  # (L, G, R)
    w_skip: np.ndarray  # (L, G, S)
    b_skip: np.ndarray  # (S,)
    w_h1: np.ndarray  # (S, H)
    b_h1: np.ndarray  # (H,)
    w_out: np.ndarray  # (H, Q)
    b_out: np.ndarray  # (Q,)
    w_exc_in: np.ndarray | None = None  # (E, R)
    w_exc: np.ndarray | None = None  # (L, E, 2G)
    frame: int = 64

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                dtype = np.int32 if f.name == "dilations" else np.float32
                setattr(self, f.name, np.ascontiguousarray(value, dtype=dtype))
        L, R, G2 = self.w_past.shape
        G, S, H, Q = G2 // 2, self.b_skip.shape[0], self.b_h1.shape[0], self.b_out.shape[0]
        E = 0 if self.w_exc is None else self.w_exc.shape[1]
        if self.w_exc_in is not None:
            E = self.w_exc_in.shape[0]
        expect = {"dilations": (L,), "emb": (Q, R), "w_cur": (L, R, G2), "w_res": (L, G, R),
                  "w_skip": (L, G, S), "w_h1": (S, H), "w_out": (H, Q), "w_exc_in": (E, R),
                  "w_exc": (L, E, G2)}
        for name, shape in expect.items():
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(f"decoder weight {name} has shape {value.shape}, expected {shape}")
        if max(R, G2, S, H, Q) > 1024:
            raise ValueError("the kernel handles at most 1024 channels and 1024 classes")
        self.dims = dict(R=R, G=G, S=S, H=H, E=E, L=L, Q=Q)

    @property
    def history_size(self) -> int:
        return int(self.dilations.sum()) * self.dims["R"]

    def macs_per_sample(self) -> int:
        d = self.dims
        per_layer = 2 * d["R"] * 2 * d["G"] + d["E"] * 2 * d["G"] * (self.w_exc is not None) \
            + d["G"] * (d["R"] + d["S"])
        return d["L"] * per_layer + d["S"] * d["H"] + d["H"] * d["Q"] \
            + d["E"] * d["R"] * (self.w_exc_in is not None)


@dataclass
class DecoderState:
    """Per-voice streaming state: the layer histories, the position and the last class."""

    hist: np.ndarray  # (V, history_size) float32
    pos: np.ndarray  # (V,) int64
    prev: np.ndarray  # (V,) int32

    @classmethod
    def zeros(cls, weights: DecoderWeights, voices: int, first_class: int) -> "DecoderState":
        return cls(np.zeros((voices, weights.history_size), np.float32), np.zeros(voices, np.int64),
                   np.full(voices, first_class, np.int32))

    def reset_voice(self, v: int, first_class: int) -> None:
        self.hist[v] = 0.0
        self.pos[v] = 0
        self.prev[v] = first_class


class KernelDecoder:
    """Renders blocks for V voices: ``render(state, cond, exc, u, temp) -> classes``.

    Voices are split over ``threads`` threads; each renders its voices for the whole
    block, so the threads meet once per block, not once per sample. Inside a thread the
    kernel steps up to four voices in lockstep so that each weight loaded serves them all.
    """

    def __init__(self, weights: DecoderWeights, threads: int = 2, fixed_shape: bool = True,
                 thread_init=None):
        self.weights = weights
        d = weights.dims
        self.lib = load({k: d[k] for k in ("R", "G", "S", "H", "E", "Q")} if fixed_shape else None)
        self._keep = weights  # the struct points into its arrays

        def ptr(a):
            return None if a is None else a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self.model = _Model(d["R"], d["G"], d["S"], d["H"], d["E"], d["L"], d["Q"], weights.frame,
                            weights.dilations.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                            ptr(weights.emb), ptr(weights.w_exc_in), ptr(weights.w_past),
                            ptr(weights.w_cur), ptr(weights.w_exc), ptr(weights.w_res),
                            ptr(weights.w_skip), ptr(weights.b_skip), ptr(weights.w_h1),
                            ptr(weights.b_h1), ptr(weights.w_out), ptr(weights.b_out))
        assert self.lib.lg_history_size(ctypes.byref(self.model)) == weights.history_size
        self.threads = max(1, threads)
        # thread_init runs in each worker thread first (the live synth raises their priority)
        self._pool = ThreadPoolExecutor(self.threads - 1, initializer=thread_init) \
            if self.threads > 1 else None

    def render(self, state: DecoderState, cond: np.ndarray, exc: np.ndarray, u: np.ndarray,
               temp: np.ndarray, logits: np.ndarray | None = None,
               voices: np.ndarray | None = None) -> np.ndarray:
        """One block for the voices ``voices`` (default: all of ``state``).

        Per voice j of the block: cond (J, N/frame, L, 2G) float32; exc (J, N, E);
        u (J, N) uniforms in [0, 1); temp (J,); logits, if given, (J, N, Q) receives every
        step's logits. Returns the drawn classes (J, N) int32 and advances those voices' state.
        """
        J, N = u.shape
        if voices is None:
            voices = np.arange(len(state.pos), dtype=np.int32)
        voices = np.ascontiguousarray(voices, np.int32)
        if len(voices) != J:
            raise ValueError(f"{len(voices)} voices but u has {J} rows")
        if N % self.weights.frame:
            raise ValueError(f"block of {N} samples is not a multiple of the frame {self.weights.frame}")
        out = np.empty((J, N), np.int32)
        if logits is not None:
            assert logits.shape == (J, N, self.weights.dims["Q"]) and logits.dtype == np.float32
        args = (N, state.hist, state.pos, state.prev, np.ascontiguousarray(cond, np.float32),
                np.ascontiguousarray(exc, np.float32), np.ascontiguousarray(u, np.float32),
                np.ascontiguousarray(temp, np.float32), out,
                None if logits is None else logits.ctypes.data)
        bounds = np.linspace(0, J, self.threads + 1).astype(int)
        jobs = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        model = ctypes.byref(self.model)
        futures = [self._pool.submit(self.lib.lg_render, model, voices, a, b, *args)
                   for a, b in jobs[1:]] if self._pool else []
        if jobs:
            self.lib.lg_render(model, voices, jobs[0][0], jobs[0][1], *args)
        for f in futures:
            f.result()
        return out

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()

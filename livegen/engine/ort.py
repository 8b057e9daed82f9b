"""ONNX Runtime sessions: the only place that picks an execution provider.

``provider = auto`` asks for CUDA where onnxruntime offers it and falls back to
the CPU. Which provider a session really got is read back with
``get_providers()`` and logged once per process, in one line; CUDA's own
complaints when no GPU is present go to the debug log, not the terminal.
"""

from __future__ import annotations

import logging
from pathlib import Path

from livegen.errors import ModelFileError
from livegen.io.quiet import captured_stderr

log = logging.getLogger("livegen.engine")
_reported: set[str] = set()


def available_providers() -> list[str]:
    import onnxruntime as ort
    return list(ort.get_available_providers())


def requested_providers(provider: str) -> list[str]:
    """The providers to ask for, most preferred first, for config value ``provider``."""
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    offered = available_providers()
    if provider == "cuda" and "CUDAExecutionProvider" not in offered:
        from livegen.errors import DeviceError
        raise DeviceError("models.provider = 'cuda' but this onnxruntime has no CUDA provider "
                          f"(it offers {', '.join(offered)}); install onnxruntime-gpu or use 'auto'")
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in offered]


def open_session(path: str | Path, provider: str = "auto", threads: int = 1):
    """An InferenceSession for ``path``; ModelFileError names the file if it cannot be loaded."""
    import onnxruntime as ort
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: no CUDA fallback chatter
    with captured_stderr() as noise:
        try:
            session = ort.InferenceSession(str(path), sess_options=opts,
                                           providers=requested_providers(provider))
        except Exception as err:  # onnxruntime raises its own non-exported exception types
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelFileError(f"{path}: not a loadable ONNX model ({first})") from err
    if noise and noise[0].strip():
        log.debug("onnxruntime: %s", noise[0].strip())
    got = session.get_providers()[0]
    if got not in _reported:
        _reported.add(got)
        fallback = " (no usable GPU: fell back to the CPU)" if (
            got == "CPUExecutionProvider" and provider != "cpu"
            and "CUDAExecutionProvider" in requested_providers(provider)) else ""
        log.info("ONNX Runtime runs on %s%s", got, fallback)
    return session

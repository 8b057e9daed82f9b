"""WAV files: read any PCM or float WAV as mono float32 (resampled on request), write 16-bit.

Only the standard library, numpy and soxr (the resampler): an installed livegen reads a user's
sound without scipy.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from livegen.errors import DataError
from livegen.fileio import atomic_path

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path: str | Path, target_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 audio in [-1, 1], rate). Resampled to ``target_rate`` if given.

    DataError names the file for a missing, unreadable or empty file, or an encoding that is
    not 8/16/24/32-bit PCM or 32/64-bit float."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such WAV file: {path}")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from err
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DataError(f"{path} is not a WAV file (no RIFF/WAVE header)")
    fmt, payload, pos = None, None, 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt " and len(body) >= 16:
            fmt = struct.unpack("<HHIIHH", body[:16]) + ((struct.unpack("<H", body[24:26])[0],)
                                                         if len(body) >= 26 else (None,))
        elif cid == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise DataError(f"{path}: a WAV file without {'a fmt' if fmt is None else 'a data'} chunk")
    tag, channels, rate, _, _, bits, sub = fmt
    if tag == _EXTENSIBLE:
        tag = sub
    width = bits // 8
    if (tag, bits) not in ((_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32), (_FLOAT, 64)):
        raise DataError(f"{path}: WAV encoding {tag} with {bits} bits is not supported "
                        "(use 8/16/24/32-bit PCM or 32/64-bit float)")
    if channels < 1 or rate < 1:
        raise DataError(f"{path}: its fmt chunk is damaged ({channels} channels, {rate} Hz)")
    n = len(payload) // (width * channels)
    raw = payload[:n * width * channels]
    if tag == _PCM and bits == 8:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and bits in (16, 32):
        x = np.frombuffer(raw, f"<i{width}").astype(np.float32) / float(2 ** (bits - 1))
    elif tag == _PCM and bits == 24:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    else:
        x = np.frombuffer(raw, f"<f{width}").astype(np.float32)
    x = x.reshape(-1, channels).mean(axis=1)
    if x.size == 0:
        raise DataError(f"{path} contains no audio")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: its samples are not all finite numbers")
    if target_rate is not None and rate != target_rate:
        import soxr
        x = soxr.resample(x, rate, target_rate).astype(np.float32)
        rate = target_rate
    return x, int(rate)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit mono WAV, written atomically (a crash leaves the old file or none)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())

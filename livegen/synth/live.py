"""The synth live: a render thread that keeps an audio stream's ring buffer filled.

Threads and what they own:

- any thread calls :meth:`LiveSynth.send` (appends to an inbox, nothing else);
- the render thread owns the :class:`~livegen.synth.synth.Synth`: it drains the inbox,
  renders a block whenever the ring runs low, resamples it to the device rate and
  writes it into the ring;
- PortAudio's callback (in :mod:`livegen.io.audio`) copies from the ring and counts
  underruns; nothing else.

The ring is kept shallow (one device period plus one block), so a note-on reaches the
DAC after at most about two periods and a block.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import numpy as np

from livegen.core.governor import LoadGovernor
from livegen.core.ring import AudioRing
from livegen.synth.synth import Synth

log = logging.getLogger("livegen.synth")


def raise_priority() -> str | None:
    """Real-time priority for the calling render thread; None if granted, else why not."""
    from livegen.realtime import RENDER_PRIORITY, make_realtime
    return make_realtime(RENDER_PRIORITY)


class Resampler:
    """Streaming resampling from the model's rate to the device's (soxr), or a pass-through."""

    def __init__(self, rate_in: int, rate_out: int):
        self.stream = None
        if rate_in != rate_out:
            import soxr
            self.stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray) -> np.ndarray:
        return block if self.stream is None else self.stream.resample_chunk(block)


class LiveSynth:
    def __init__(self, synth: Synth, audio_cfg, block: int = 256, realtime: bool = False):
        from livegen.io.audio import AudioOutput
        self.synth = synth
        self.block = block
        self.realtime = realtime
        self.realtime_refused: str | None = None
        self.inbox: collections.deque = collections.deque(maxlen=65536)
        self.ring = AudioRing(1 << 16)
        self.output = AudioOutput(audio_cfg, self.ring)
        self.rate = self.output.sample_rate
        synth.set_sample_rate(self.rate)  # the timbre model renders at the device's rate
        self.resample = Resampler(synth.sample_rate, self.rate)
        period = self.output.stream.blocksize or audio_cfg.block_size or 256
        self.target = period + int(np.ceil(block * self.rate / synth.sample_rate))
        self.load = 0.0  # render time / audio time, smoothed
        self.governor = LoadGovernor(len(synth.alloc.slots))
        self.latencies_ms: collections.deque = collections.deque(maxlen=256)  # note-on -> DAC
        self._capture: list[np.ndarray] | None = None  # blocks rendered while capturing
        self._capture_max = 600 * self.rate  # at most ten minutes are kept
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livegen-render", daemon=True)

    # -- any thread -----------------------------------------------------------------
    def send(self, msg: bytes, at_ns: int | None = None) -> None:
        """Hand a MIDI message to the synth (never blocks)."""
        self.inbox.append((bytes(msg), at_ns or time.monotonic_ns()))

    @property
    def underruns(self) -> int:
        return self.output.underruns

    @property
    def voices(self) -> int:
        return self.synth.active_voices

    def status(self) -> dict:
        """A snapshot for status displays (read from any thread; values may be a block old)."""
        lat = sorted(self.latencies_ms)
        return {"voices": self.voices, "load": round(self.load, 3), "underruns": self.underruns,
                "engine": self.synth.engine_name, "rate": self.rate, "audio_lost": self.output.lost,
                "audio_backend": self.output.backend,
                "voice_limit": self.governor.limit, "voices_shed": self.governor.shed,
                "note_latency_ms": round(lat[len(lat) // 2], 1) if lat else None}

    def start_capture(self) -> None:
        """Keep a copy of everything rendered from now on (at the device rate)."""
        self._capture = []

    def stop_capture(self) -> np.ndarray:
        """What was rendered since start_capture, as float32 mono at ``self.rate``."""
        blocks, self._capture = self._capture or [], None
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def start(self) -> None:
        # prime the ring with more silence than it keeps later: the first renders are slow
        # (first runs of ONNX Runtime and the kernel), and the extra drains in a few periods
        self.ring.write(np.zeros((self.target + 4 * self.block * self.rate // self.synth.sample_rate, 1),
                                 np.float32))
        self.output.start()
        self._thread.start()

    def _stop_rendering(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def close(self) -> None:
        self._stop_rendering()
        self.output.close()

    def abandon(self) -> None:
        """Stop rendering and let go of the audio stream whose JACK server went away
        (closing it could hang PortAudio; see :meth:`AudioOutput.abandon`)."""
        self._stop_rendering()
        self.output.abandon()

    # -- the render thread ----------------------------------------------------------
    def _run(self) -> None:
        if self.realtime:  # above ordinary processes, so a busy machine does not starve the audio
            self.realtime_refused = raise_priority()
        block_s = self.block / self.synth.sample_rate
        while not self._stop.is_set():
            now = time.monotonic_ns()
            while self.inbox:
                msg, at_ns = self.inbox.popleft()
                self.synth.handle(msg)
                if msg[0] & 0xF0 == 0x90 and len(msg) > 2 and msg[2]:
                    queued = self.ring.available() / self.rate + self.output.latency
                    self.latencies_ms.append((now - at_ns) / 1e6 + (queued + block_s) * 1e3)
            if self.ring.available() >= self.target:
                time.sleep(block_s / 8)
                continue
            t0 = time.perf_counter()
            audio = self.resample(self.synth.render(self.block))
            load = (time.perf_counter() - t0) / block_s
            self.load = 0.9 * self.load + 0.1 * load
            limit = self.governor.update(load, self.synth.active_voices)
            if limit != self.synth.alloc.limit:
                self.synth.set_limit(limit)
            if self.ring.write(audio[:, None]) < len(audio):
                log.debug("ring full: dropped rendered audio")
            capture = self._capture
            if capture is not None and len(capture) * len(audio) < self._capture_max:
                capture.append(audio.copy())

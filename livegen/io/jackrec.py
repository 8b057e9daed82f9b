"""Recording a JACK port from inside livegen (JACK-Client), for the demo and benchmarks.

The process callback runs on JACK's thread: it copies the period and stamps it with
``time.monotonic_ns()`` and JACK's frame counter at the period's first frame; nothing else.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from livegen.errors import DeviceError
from livegen.io.quiet import captured_stderr


class AudioRecorder:
    """Records one audio port; ``periods()`` returns [(monotonic_ns, samples), ...],
    ``framed()`` [(first frame, samples), ...] on JACK's frame clock."""

    def __init__(self, port: str, name: str = "livegen-rec", max_seconds: float = 600.0):
        try:
            import jack
        except (ImportError, OSError) as err:
            raise DeviceError(f"recording needs JACK-Client and libjack ({err})") from err
        with captured_stderr():
            try:
                self.client = jack.Client(name, no_start_server=True)
            except jack.JackError as err:
                raise DeviceError(f"cannot connect to a JACK server to record {port!r}: {err}") from err
        self.rate = self.client.samplerate
        self.inp = self.client.inports.register("in")
        self._periods: list[tuple[int, np.ndarray]] = []
        self._frames: list[int] = []
        self._max = int(max_seconds * self.rate / max(self.client.blocksize, 1))
        self._lock = threading.Lock()
        self.client.set_process_callback(self._process)
        self.client.activate()
        try:
            self.client.connect(port, self.inp)
        except jack.JackError as err:
            self.close()
            raise DeviceError(f"cannot connect {port!r} to the recorder: {err}") from err

    def _process(self, frames) -> None:  # JACK's thread
        if len(self._periods) < self._max:
            with self._lock:
                self._periods.append((time.monotonic_ns(), self.inp.get_array().copy()))
                self._frames.append(self.client.last_frame_time)

    def periods(self) -> list[tuple[int, np.ndarray]]:
        with self._lock:
            return list(self._periods)

    def framed(self) -> list[tuple[int, np.ndarray]]:
        with self._lock:
            return [(f, b) for f, (_, b) in zip(self._frames, self._periods)]

    def quiet_for(self, frames: float, threshold: float = 1e-3) -> bool:
        """The last ``frames`` recorded are all below ``threshold``."""
        with self._lock:
            blocks = [b for _, b in self._periods[-int(frames / max(self.client.blocksize, 1)) - 1:]]
        return bool(blocks) and max(float(np.abs(b).max()) for b in blocks) <= threshold

    def first_sound_frame(self, after_frame: int, threshold: float = 1e-3) -> int | None:
        """The frame of the first sample above ``threshold`` at or after ``after_frame``."""
        for frame, block in self.framed():
            if frame + len(block) <= after_frame:
                continue
            loud = np.flatnonzero(np.abs(block[max(0, after_frame - frame):]) > threshold)
            if len(loud):
                return max(frame, after_frame) + int(loud[0])
        return None

    def audio(self) -> np.ndarray:
        periods = self.periods()
        return np.concatenate([p for _, p in periods]) if periods else np.zeros(0, np.float32)

    def first_sound_after(self, t_ns: int, threshold: float = 1e-3) -> int | None:
        """The monotonic time (ns) of the first sample above ``threshold`` in periods after t_ns.

        A period's stamp is when JACK ran the cycle that produced it; the sample's own offset
        in the period is added, so the figure is good to a fraction of a period.
        """
        for stamp, block in self.periods():
            if stamp < t_ns:
                continue
            loud = np.flatnonzero(np.abs(block) > threshold)
            if len(loud):
                return stamp + int(loud[0] * 1e9 / self.rate)
        return None

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()

"""The timbre pad: a square whose four corners are presets; a point on it is their mix.

NSynth Super's idea. The corners are, in order, top-left, top-right, bottom-left and
bottom-right; x runs left to right and y bottom to top, both 0..1. The timbre at (x, y) is the
bilinear mix of the corners' codes (:func:`bilinear`). Each MIDI channel has its own point;
the pad moves one channel, or all of them (``target`` 0).

:class:`Pad` is an immutable snapshot, replaced whole by its one owner (the daemon's control
thread, where the pad's controllers arrive); other threads read the current object. The
commands below are what other threads (the control surface) post to that owner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def weights(x: float, y: float) -> np.ndarray:
    """The corners' weights (4,) at (x, y): bilinear, summing to 1; x and y clipped to 0..1."""
    x = min(max(float(x), 0.0), 1.0)
    y = min(max(float(y), 0.0), 1.0)
    return np.array([(1 - x) * y, x * y, (1 - x) * (1 - y), x * (1 - y)])


def bilinear(codes: np.ndarray, x: float, y: float) -> np.ndarray:
    """The code at (x, y) of the corners' codes (4, Z): (Z,) float32."""
    return (weights(x, y) @ np.asarray(codes, np.float64)).astype(np.float32)


@dataclass(frozen=True)
class Pad:
    """Where the pad is. ``xy[c]``: channel c's point (0-based), None until the pad or its
    controllers first move it (the channel keeps its preset until then)."""

    names: tuple[str, ...]  # the corners' presets, in CORNERS order
    codes: np.ndarray  # (4, Z) their codes
    target: int = 0  # 0: the pad moves every channel; 1..16: that channel only
    xy: tuple = (None,) * 16

    def point(self) -> tuple[float, float] | None:
        """The point of the pad's target (all channels: channel 1's)."""
        return self.xy[max(self.target, 1) - 1]

    def channels(self, channel: int | None = None) -> tuple[int, ...]:
        """The channels (0-based) a move acts on: all, the target, or ``channel`` (0-based,
        where a controller arrived) when the pad plays one channel at a time."""
        if self.target == 0:
            return tuple(range(16))
        return (self.target - 1 if channel is None else channel,)

    def moved(self, x: float | None, y: float | None, channel: int | None = None) -> "Pad":
        """The pad with one axis or both moved (None keeps it; an untouched axis starts at
        the middle) on :meth:`channels`."""
        xy = list(self.xy)
        for c in self.channels(channel):
            old = xy[c] or (0.5, 0.5)
            xy[c] = (old[0] if x is None else min(max(x, 0.0), 1.0),
                     old[1] if y is None else min(max(y, 0.0), 1.0))
        return replace(self, xy=tuple(xy))

    def code(self, channel: int) -> np.ndarray | None:
        point = self.xy[channel]
        return None if point is None else bilinear(self.codes, *point)


# -- commands posted to the pad's owner -------------------------------------------------------


@dataclass(frozen=True)
class PadMove:
    """Move the pad's target to (x, y), each 0..1 (None keeps that axis)."""

    x: float | None
    y: float | None


@dataclass(frozen=True)
class PadTarget:
    """Let the pad move every channel (0) or one (1..16)."""

    target: int


@dataclass(frozen=True)
class PadCorners:
    """New corner presets: four names and their codes (4, Z)."""

    names: tuple[str, ...]
    codes: np.ndarray


@dataclass(frozen=True)
class SetTimbre:
    """What the pad tells the synth (through its owner's inbox): ``channels`` (0-based) play
    code ``z`` from the next frame; sounding voices glide to it. ``label`` says what it is
    (the synth's status reports which timbre each channel plays)."""

    channels: tuple[int, ...]
    z: np.ndarray
    label: str = ""

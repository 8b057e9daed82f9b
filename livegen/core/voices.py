"""Voice allocation for the synth: which voice slot plays which note.

Pure bookkeeping, owned by the render thread. A note-on takes a free slot; when
none is free it steals one, the oldest released note first, else the oldest held
note; the engine fades a stolen voice out over a few milliseconds before the new
note starts, so stealing never clicks. A note-off releases the oldest sounding
voice of that (channel, pitch). A released voice is freed by the engine once its
output has decayed (:meth:`VoiceAllocator.free`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Slot:
    channel: int = -1
    pitch: int = -1
    velocity: int = 0
    started: int = 0  # sample count at note-on (the allocator's clock)
    released: int | None = None  # sample count at note-off, None while held
    active: bool = False


class VoiceAllocator:
    def __init__(self, voices: int):
        if voices < 1:
            raise ValueError(f"voices must be >= 1, got {voices}")
        self.slots = [Slot() for _ in range(voices)]
        self.limit = voices  # voices allowed to sound now (lowered when the CPU falls behind)
        self.stolen = 0

    def active(self) -> list[int]:
        return [i for i, s in enumerate(self.slots) if s.active]

    def note_on(self, channel: int, pitch: int, velocity: int, now: int) -> tuple[int, bool]:
        """(slot, stolen): the slot that plays the note, and whether a sounding note lost it."""
        free = [i for i, s in enumerate(self.slots) if not s.active]
        stolen = not free or len(self.slots) - len(free) >= self.limit  # at the limit: one gives way
        if stolen:
            slot = self.oldest()
            self.stolen += 1
        else:
            slot = free[0]
        self.slots[slot] = Slot(channel, pitch, velocity, now, None, True)
        return slot, stolen

    def note_off(self, channel: int, pitch: int, now: int) -> int | None:
        """Release the oldest held voice of (channel, pitch); its slot, or None if none is held."""
        held = [i for i, s in enumerate(self.slots)
                if s.active and s.released is None and s.channel == channel and s.pitch == pitch]
        if not held:
            return None
        slot = min(held, key=lambda i: self.slots[i].started)
        self.slots[slot].released = now
        return slot

    def release_all(self, now: int, channel: int | None = None) -> list[int]:
        """Release every held voice (of one channel, or all): All Notes Off, panic."""
        out = []
        for i, s in enumerate(self.slots):
            if s.active and s.released is None and (channel is None or s.channel == channel):
                s.released = now
                out.append(i)
        return out

    def oldest(self, among: list[int] | None = None) -> int | None:
        """The voice to give up first: the oldest released, else the oldest held; None if silent.

        ``among``: choose only from these slots (default: every sounding one)."""
        active = [i for i, s in enumerate(self.slots) if s.active and (among is None or i in among)]
        released = [i for i in active if self.slots[i].released is not None]
        if released:
            return min(released, key=lambda i: self.slots[i].released)
        return min(active, key=lambda i: self.slots[i].started) if active else None

    def free(self, slot: int) -> None:
        self.slots[slot] = Slot()

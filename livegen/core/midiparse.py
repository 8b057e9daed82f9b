"""A streaming MIDI byte parser for live input.

Bytes may arrive in any chunking: running status across packets, real-time
bytes (clock, start, stop) in the middle of another message, sysex of any
length, truncated messages, garbage. :meth:`MidiParser.feed` returns the
complete messages as ``bytes`` (running status expanded, so every message
starts with its status byte) and counts what it had to drop; it never raises.

Owned by the thread that reads the input port.
"""

from __future__ import annotations

from dataclasses import dataclass

# data bytes after a channel status (high nibble) or a system common status
CHANNEL_DATA = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
COMMON_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
REALTIME = frozenset((0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF))  # 0xF9, 0xFD are undefined


@dataclass
class ParseCounts:
    messages: int = 0
    garbage: int = 0  # bytes that belong to no message (stray data, undefined status)
    truncated: int = 0  # messages cut short by a new status byte
    sysex_dropped: int = 0  # sysex messages longer than the limit, dropped whole


class MidiParser:
    def __init__(self, max_sysex: int = 8192):
        self.max_sysex = max_sysex
        self.counts = ParseCounts()
        self._running = 0  # running status (channel messages only), 0 = none
        self._msg = bytearray()  # the message being assembled, status first
        self._need = 0  # data bytes still missing from _msg
        self._sysex: bytearray | None = None
        self._sysex_over = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for b in data:
            if b >= 0xF8:
                if b in REALTIME:
                    out.append(bytes((b,)))
                else:
                    self.counts.garbage += 1
            elif b == 0xF0:
                self._abandon()
                self._running = 0
                self._sysex, self._sysex_over = bytearray((b,)), False
            elif b == 0xF7:
                if self._sysex is None:
                    self.counts.garbage += 1
                    continue
                if self._sysex_over:
                    self.counts.sysex_dropped += 1
                else:
                    self._sysex.append(b)
                    out.append(bytes(self._sysex))
                self._sysex = None
            elif b >= 0x80:
                self._abandon()
                if b >= 0xF0:  # system common: cancels running status
                    self._running = 0
                    if b not in COMMON_DATA:
                        self.counts.garbage += 1
                        continue
                    need = COMMON_DATA[b]
                else:
                    self._running = b
                    need = CHANNEL_DATA[b & 0xF0]
                self._msg[:] = bytes((b,))
                self._need = need
                if need == 0:
                    out.append(bytes(self._msg))
                    self._msg.clear()
            elif self._sysex is not None:
                if len(self._sysex) >= self.max_sysex:
                    self._sysex_over = True
                else:
                    self._sysex.append(b)
            elif self._need:
                self._msg.append(b)
                self._need -= 1
                if self._need == 0:
                    out.append(bytes(self._msg))
                    self._msg.clear()
            elif self._running:  # running status: a new message with the last status
                self._msg[:] = bytes((self._running, b))
                self._need = CHANNEL_DATA[self._running & 0xF0] - 1
                if self._need == 0:
                    out.append(bytes(self._msg))
                    self._msg.clear()
            else:
                self.counts.garbage += 1
        self.counts.messages += len(out)
        return out

    def _abandon(self) -> None:
        """A status byte arrived: whatever was incomplete is truncated."""
        if self._need or self._sysex is not None:
            self.counts.truncated += 1
        self._msg.clear()
        self._need = 0
        self._sysex = None

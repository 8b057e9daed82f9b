"""A flood of MIDI through real JACK ports: the clock keeps following, phrases are still
answered, and a player that comes and goes leaves livegen running."""

from __future__ import annotations

import time

import pytest

from livegen import config
from livegen.core.notes import left_sounding
from livegen.daemon import Daemon
from livegen.io import midi
from livegen.io.midiclient import MidiRecorder, open_player
from tests.daemon_fakes import PatternModel, wait_for

pytestmark = pytest.mark.jack


def test_a_flood_through_jack_blocks_neither_the_clock_nor_the_answer(jack_server):
    cfg = config.from_dict({"midi": {"backend": "jack", "in_port": "lgflood:in", "out_port": "lgflood-out:out"},
                            "jam": {"tempo_bpm": 90.0, "silence_beats": 1.0, "response_bars": 1,
                                    "state_cc": -1, "thru": "midi", "safety_net": False}})
    backend, inp, out = midi.open_ports(cfg.midi)
    d = Daemon(cfg, inp, out, PatternModel())
    d.start()
    rec = MidiRecorder("jack", "lgflood-rec", "lgflood-out:out")
    player = open_player("jack", "lgflood-player", "lgflood:in")
    try:
        beat = 60 / 150  # the player's MIDI clock: 150 bpm, against livegen's own 90
        t0 = time.monotonic()
        sent = 0  # every message the player sends
        for tick in range(24 * 6):  # six beats of clock, with 60 aftertouch messages per tick
            due = t0 + tick * beat / 24
            while time.monotonic() < due:
                time.sleep(0.0005)
            # as a DAW's clock: each tick on its own frame (a period's quantisation, 16 ms here,
            # would be 4% of the tempo over the clock's 24-tick window)
            player.send(b"\xf8", round(due * 1e9) + player.lead_ns)
            for k in range(60):
                player.send(bytes((0xA0, 60, k)))
            sent += 61
            if tick == 24 * 4:
                player.send(b"\x90\x3c\x64")
                sent += 1
            if tick == 24 * 4 + 8:
                player.send(b"\x80\x3c\x00")
                player.send(b"\x90\x3e\x64")
                sent += 2
            if tick == 24 * 4 + 16:
                player.send(b"\x80\x3e\x00")
                sent += 1
        elapsed = time.monotonic() - t0
        assert wait_for(lambda: not inp.queue)
        assert abs(d.beat_clock.state.bpm - 150) < 3 and d.beat_clock.state.source == "midi"
        player.close()  # the player goes away: livegen keeps running
        player = None
        assert wait_for(lambda: d.generator.counts.responses == 1)
        assert wait_for(lambda: any(m[:2] == b"\x90\x48" for _, m in rec.snapshot()))
        assert d.control.is_alive() and d.sender.is_alive()
        handled = d.control.counts.messages
        print(f"flood: {sent} messages in {elapsed:.2f} s ({sent / elapsed:.0f}/s); livegen handled "
              f"{handled}, dropped {inp.dropped} (counted)")
        # every message that reached livegen was handled or counted as dropped, none lost unsaid,
        # and the flood was handled, not dropped: the clock (144 ticks) was followed above
        assert handled + inp.dropped == sent
        assert handled >= 0.9 * sent, "the bounded input dropped most of a flood it should handle"
    finally:
        d.stop()
        for port in (player, rec, inp, out):
            if port is not None:
                port.close()


def test_a_note_flood_through_jack_leaves_no_note_sounding(jack_server):
    """5,000 note-ons, each with its note-off, in about a second into livegen:in, passed through to
    livegen-out: whatever the bounded queues dropped (counted), every note-on that came out was ended."""
    cfg = config.from_dict({"midi": {"backend": "jack", "in_port": "lgnflood:in", "out_port": "lgnflood-out:out"},
                            # no MIDI loop here: nothing the flood repeats is taken for livegen's echo
                            "jam": {"state_cc": -1, "thru": "midi", "out_channel": 2, "safety_net": False,
                                    "loop_window_ms": 0.0}})
    backend, inp, out = midi.open_ports(cfg.midi)
    d = Daemon(cfg, inp, out, PatternModel())
    d.start()
    rec = MidiRecorder("jack", "lgnflood-rec", "lgnflood-out:out")
    player = open_player("jack", "lgnflood-player", "lgnflood:in")
    try:
        t0 = time.monotonic()
        for i in range(5000):
            p = 21 + i % 88
            player.send(bytes((0x90, p, 100)))
            player.send(bytes((0x80, p, 0)))
            if i % 10 == 9:
                time.sleep(max(0.0, t0 + (i + 1) / 5000 - time.monotonic()))
        sent = 10000
        assert wait_for(lambda: d.control.counts.messages + inp.dropped + inp.queue.merged >= sent)
        assert wait_for(lambda: not d.sender._now)

        def thru():
            return [(t, m) for t, m in rec.snapshot() if m[0] & 0x0F == 0 and m[0] & 0xF0 in (0x80, 0x90)]

        # every note-on that came out is ended; the flood's last note-off arrived
        assert wait_for(lambda: thru() and thru()[-1][1][0] & 0xF0 == 0x80 and not left_sounding(thru()))
        out_msgs = thru()
        ons = sum(m[0] & 0xF0 == 0x90 for _, m in out_msgs)
        folded = inp.queue.merged + d.sender._now.merged  # a note-off past a bound, merged with one waiting
        print(f"note flood: {sent} messages; livegen handled {d.control.counts.messages}, dropped "
              f"{inp.dropped} at the input, {d.sender.thru_dropped} at the sender, folded {folded}; {ons} "
              f"note-ons came out")
        assert d.control.counts.messages + inp.dropped + inp.queue.merged == sent
        assert len(out_msgs) + inp.dropped + d.sender.thru_dropped + folded == sent  # none lost unsaid
    finally:
        d.stop()
        for port in (player, rec, inp, out):
            if port is not None:
                port.close()

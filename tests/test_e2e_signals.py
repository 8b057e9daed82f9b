"""SIGTERM or SIGINT at any moment closes every note livegen sent, sets its state controller
to idle, and livegen exits 0.

`livegen run` in its own process on a private JACK server, a player port in the test
sending notes through JACK (passed through to livegen's output: ``jam.thru = both``),
a recorder on livegen's output port. The signal comes at a random moment inside each
stage of a jam: while the player holds a chord (passed-through notes sounding), around
the end of the phrase (the LSTM generating), and while the response plays (while its k-th
note, k at random, or another sounds: the test waits for that state, not for a time, so a
busy machine signals at the same moment of the jam). The moment comes from a seed, printed with the test's output (and in an assertion's message);
``LIVEGEN_SIGNAL_SEED=N`` replays it (JACK's timing is not replayed, the moment is).
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time

import pytest

from livegen.core.notes import left_sounding, note_on_off
from livegen.io.midiclient import MidiRecorder, open_player, wait_for_port
from tests.daemon_fakes import wait_for
from tests.test_e2e_jam import ROOT, Livegen, model  # noqa: F401 - model is a fixture

pytestmark = [pytest.mark.jack, pytest.mark.slow]
BEAT_S = 0.25  # 240 bpm
SEED = int(os.environ.get("LIVEGEN_SIGNAL_SEED") or time.time_ns() % 1_000_000)
RESPONSE_CHANNEL = 1  # the responses' (the player plays on 0)
STATE_CC = 85  # livegen's state controller: 0 idle, 64 listening, 127 responding
WAIT_S = 60.0  # a state that must come comes well within this, on a busy machine too


def ons(messages) -> int:
    return sum(1 for _, m in messages if (note_on_off(m) or ("",))[0] == "on")


@pytest.mark.parametrize("stage,sig", [("holding", signal.SIGTERM), ("phrase_end", signal.SIGINT),
                                       ("responding", signal.SIGTERM)])
def test_a_signal_at_any_moment_closes_every_note(jack_server, model, stage, sig):  # noqa: F811
    print(f"{stage}: seed {SEED} (LIVEGEN_SIGNAL_SEED={SEED} replays the moment)")
    seed = f"LIVEGEN_SIGNAL_SEED={SEED}"
    rng = random.Random(f"{stage}-{SEED}")
    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    lg = Livegen(env, f"models.lstm={model}", "audio.enabled=false", "midi.backend=jack",
                 "jam.tempo_bpm=240", "jam.beats_per_bar=2", "jam.silence_beats=1", "jam.response_bars=2",
                 "jam.thru=both", f"jam.out_channel={RESPONSE_CHANNEL + 1}", f"jam.state_cc={STATE_CC}", "jam.seed=5", "jam.temperature=1.0")
    recorder = player = None
    try:
        lg.wait_line(r"clock: beat 0 at monotonic", timeout=WAIT_S)
        wait_for_port("jack", "livegen-out:out", output=True, timeout=WAIT_S)
        recorder = MidiRecorder("jack", f"sig-rec-{stage}", "livegen-out:out")
        player = open_player("jack", f"sig-player-{stage}", "livegen:in")
        for p in (60, 64, 67):  # a chord, held
            player.send(bytes((0x90, p, 100)))
        assert wait_for(lambda: sum(left_sounding(recorder.snapshot()).values()) == 3), \
            "the held chord passed through to livegen's output"
        delay = None
        if stage == "holding":
            delay = rng.uniform(0.05, 0.4)
            time.sleep(delay)
        else:
            for p in (60, 64, 67):
                player.send(bytes((0x80, p, 0)))
            for p in (62, 65):
                player.send(bytes((0x90, p, 90)))
                time.sleep(0.1)
                player.send(bytes((0x80, p, 0)))
            if stage == "phrase_end":  # the phrase ends after a beat of silence
                delay = BEAT_S + rng.uniform(-0.05, 0.1)
                time.sleep(delay)
            else:
                # the moment: the k-th note of the response, while it (or another) sounds
                notes = int(lg.wait_line(r"response: (\d+) notes", timeout=WAIT_S).group(1))
                assert notes > 0, f"the response is all rests: no moment with notes sounding ({seed})"
                k = delay = rng.randint(1, notes)

                def kth_sounding() -> bool:
                    response = [(t, m) for t, m in recorder.snapshot() if m[0] & 0x0F == RESPONSE_CHANNEL]
                    return ons(response) >= k and bool(left_sounding(response))

                assert wait_for(kth_sounding), f"note {k} of {notes} of the response sounding ({seed})"
        sounding = left_sounding(recorder.snapshot())
        lg.proc.send_signal(sig)
        assert lg.proc.wait(WAIT_S) == 0, "\n".join(lg.lines)
        wait_for(lambda: not left_sounding(recorder.snapshot()))  # the note-offs livegen sent before it exited
        got = recorder.snapshot()
    finally:
        for port in (player, recorder):
            if port is not None:
                port.close()
        if lg.proc.poll() is None:
            lg.proc.kill()
            lg.proc.wait()
    moment = f"at the response's note {delay}" if stage == "responding" else f"{delay:.3f} s into the stage"
    print(f"{stage}: {sig.name} {moment}, {sum(sounding.values())} notes sounding")
    if stage in ("holding", "responding"):
        assert sounding, f"the test meant to signal while notes sound ({stage}; {seed})"
    assert any(note_on_off(m) for _, m in got), seed
    assert not left_sounding(got), f"{left_sounding(got)} ({seed})"
    assert any("every note closed" in line for line in lg.lines), seed
    # the DAW is told livegen is idle, whatever it was doing (it used to go on showing "responding")
    states = [m[2] for _, m in got if len(m) == 3 and m[0] & 0xF0 == 0xB0 and m[1] == STATE_CC]
    assert states and states[-1] == 0, (states, seed)
    if stage != "holding":
        assert 64 in states, (states, seed)  # it had been listening (and responding) before


def test_a_song_position_leap_mid_phrase_never_makes_a_phrase_longer_than_its_maximum(jack_server, model):  # noqa: F811
    """Seen in `livegen run`'s log after a burst of random bytes: "phrase: 2 notes, 3623.47 beats
    ... ended by max_length" (jam.max_phrase_beats = 32): a Song Position moved the running
    clock thousands of beats on while a phrase was open."""
    import re
    import threading

    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    lg = Livegen(env, f"models.lstm={model}", "audio.enabled=false", "midi.backend=jack", "jam.silence_beats=1",
                 "jam.max_phrase_beats=32", "jam.state_cc=-1", "jam.thru=none")
    player = None
    ticking = threading.Event()
    try:
        lg.wait_line(r"clock: beat 0 at monotonic")
        player = open_player("jack", "leap-player", "livegen:in")

        def clock() -> None:  # a DAW's transport at 120 bpm
            player.send(b"\xfa")
            t = time.monotonic()
            while not ticking.is_set():
                player.send(b"\xf8")
                t += 0.5 / 24
                time.sleep(max(0.0, t - time.monotonic()))

        ticker = threading.Thread(target=clock, daemon=True)
        ticker.start()
        time.sleep(1.0)  # the player's part: a beat or two of clock before the phrase
        # 3500 beats on (14000 sixteenths), the phrase's notes right after, before the next tick
        player.send(bytes((0xF2, 14000 & 0x7F, 14000 >> 7)) + bytes((0x90, 67, 100, 0x90, 69, 100)))
        time.sleep(0.3)
        player.send(bytes((0x80, 67, 0, 0x80, 69, 0)))
        line = lg.wait_line(r"phrase: (\d+) notes, ([\d.]+) beats .*ended by (\w+)")
    finally:
        ticking.set()
        if player is not None:
            player.close()
        lg.proc.send_signal(signal.SIGINT)
        lg.proc.wait(60)
    notes, beats, reason = int(line.group(1)), float(line.group(2)), line.group(3)
    print(f"phrase: {notes} notes, {beats} beats, ended by {reason}")
    assert beats <= 32.0, [ln for ln in lg.lines if re.search("phrase:", ln)]

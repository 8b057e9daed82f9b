"""End to end on a JACK dummy server: one-line phrases played into `livegen run` through real
ports are answered with one line, in the phrase's register (livegen issue 12).

`livegen run` runs in its own process with the default model and the default "follow the
phrase" controls and safety net; a player process sends each phrase as a DAW would and the
test records `livegen-out:out`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest

from livegen import config
from livegen.core import controls as ctl
from livegen.core import tokens as tk
from livegen.core.notes import left_sounding, note_on_off
from livegen.io.midiclient import MidiRecorder, wait_for_port
from tests.daemon_fakes import wait_for
from tests.lstm_models import step_model
from tests.test_e2e_jam import ROOT, Livegen

pytestmark = [pytest.mark.jack, pytest.mark.slow]

BPM = 120.0
PHRASES = {  # two bars of eighths each (tests/e2e_player.py plays them)
    "a high line around A5": [81, 83, 84, 86, 88, 86, 84, 83, 81, 79, 81, 83, 84, 83, 81, 81],
    "a bass line around G2": [43, 45, 47, 48, 50, 48, 47, 45, 43, 42, 43, 45, 47, 45, 43, 43],
    "a C major scale": [60, 62, 64, 65, 67, 69, 71, 72, 72, 71, 69, 67, 65, 64, 62, 60],
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    cfg = config.Config()
    shipped = cfg.path(cfg.models.lstm)
    if shipped.exists():
        return shipped
    return step_model(tmp_path_factory.mktemp("e2e") / "lstm.onnx", embed=32, hidden=64, layers=2)


def notes_of(messages, beat_ns: float) -> list[tk.Note]:
    msgs = []
    for t, m in messages:
        got = note_on_off(m)
        if got is not None:
            kind, channel, pitch = got
            msgs.append(tk.NoteMessage(t / beat_ns, kind == "on", pitch, m[2] if kind == "on" else 0, channel))
    return tk.notes_from_messages(msgs)


def test_one_line_phrases_get_one_line_answers_in_their_register(jack_server, model):
    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    lg = Livegen(env, f"models.lstm={model}", "audio.enabled=false", "midi.backend=jack",
                 f"jam.tempo_bpm={BPM}", "jam.silence_beats=1", "jam.response_bars=2", "jam.seed=5",
                 "jam.state_cc=-1", "jam.thru=none")
    beat_ns = 60e9 / BPM
    recorder = None
    report = []
    try:
        lg.wait_line(r"clock: beat 0 at monotonic (\d+) ns")
        wait_for_port("jack", "livegen-out:out", output=True)
        recorder = MidiRecorder("jack", "e2e-texture-recorder", "livegen-out:out")
        for name, pitches in PHRASES.items():
            n_lines = len(lg.lines)
            player = subprocess.run([sys.executable, "tests/e2e_player.py", "--bpm", str(BPM), "--phrase",
                                     ",".join(map(str, pitches))], cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=120)
            assert player.returncode == 0, player.stderr
            last_sent = json.loads(player.stdout.splitlines()[-1])["sent"][-1][0]
            notes = int(lg.wait_line(r"response: (\d+) notes", start=n_lines).group(1))

            def played_out() -> bool:  # the response's notes arrived and ended (a state, not a time)
                after = [(t, m) for t, m in recorder.snapshot() if t > last_sent]
                return len(notes_of(after, beat_ns)) >= notes and not left_sounding(after)

            assert wait_for(played_out), f"{name}: the response of {notes} notes did not play out"
            answer = notes_of([(t, m) for t, m in recorder.snapshot() if t > last_sent], beat_ns)
            phrase = [tk.Note(i * 0.5, i * 0.5 + 0.4, p, 100) for i, p in enumerate(pitches)]
            low, high = ctl.register_window(ctl.phrase_controls(phrase, 8))
            assert len(answer) >= 4, f"{name}: {answer}"
            sounding = max(sum(m.start <= n.start < m.end for m in answer) for n in answer)
            offset = statistics.median(n.pitch for n in answer) - statistics.median(pitches)
            report.append(f"{name}: {len(answer)} notes, at most {sounding} sounding, pitches "
                          f"{min(n.pitch for n in answer)}..{max(n.pitch for n in answer)} (window {low}..{high}), "
                          f"median offset {offset:+.1f}")
            assert sounding == 1, report[-1]
            assert all(low <= n.pitch <= high for n in answer), report[-1]
        assert not left_sounding(recorder.snapshot())
    finally:
        print("\n".join(report))
        if recorder is not None:
            recorder.close()
        lg.proc.terminate()
        lg.proc.wait(60)

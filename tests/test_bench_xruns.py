"""``livegen bench xruns --quick`` for real: a private JACK server, ``livegen run`` as its own
process, a chord and a flood through real ports. It checks what the report holds and that the
figures come from real counters, never their values against the speed goals (a benchmark's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_periods_and_phase_lengths():
    from livegen.commands.bench_xruns import chord_notes, parse_periods, phase_seconds
    from livegen.errors import ConfigError
    assert parse_periods("256,128") == [256, 128] and parse_periods("64") == [64]
    for bad in ("", "100", "256,x", "8", "16384"):
        with pytest.raises(ConfigError, match="--periods"):
            parse_periods(bad)
    assert phase_seconds(256, 0) == 30 and phase_seconds(128, 0) == 60 and phase_seconds(128, 7) == 7
    assert chord_notes(256, 0) == 16 and chord_notes(128, 0) == 8 and chord_notes(128, 12) == 12


@pytest.mark.jack
@pytest.mark.slow
def test_bench_xruns_quick_reports_every_phase_from_real_counters(tmp_path):
    if not (ROOT / "livegen" / "models" / "timbre" / "presets.json").is_file():
        pytest.skip("needs the shipped timbre model (livegen/models/timbre)")
    out = tmp_path / "xruns.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "livegen", "bench", "xruns", "--quick", "--json", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert "lscpu: family" in data["cpu"] and "lscpu: family" in proc.stdout
    [res] = data["results"]
    assert res["period"] == 256 and res["rate"] == 48000 and res["chord"] == 16
    rows = {r["phase"]: r for r in res["phases"]}
    assert list(rows) == ["baseline", "idle", "chord", "flood"]
    for r in rows.values():
        assert isinstance(r["xruns"], int) and isinstance(r["jackd_lines"], int) and r["seconds"] >= 4
    assert "underruns" not in rows["baseline"] and "input_dropped" not in rows["baseline"]  # no livegen
    assert "underruns" not in rows["idle"] and rows["idle"]["input_dropped"] == 0  # MIDI only, nothing played
    chord, flood = rows["chord"], rows["flood"]
    assert chord["voices_max"] > 0  # the synth's own count: the chord sounded
    assert 1 <= chord["voice_limit_min"] <= 16
    assert chord["synth_kernel"] and chord["audio_backend"]
    assert flood["flood_sent"] == 1000 and flood["voices_max"] > 0
    for r in (chord, flood):
        assert isinstance(r["underruns"], int) and r["underruns"] >= 0
    table = [line for line in proc.stdout.splitlines() if line.startswith("| 256 |")]
    assert [line.split("|")[2].strip() for line in table] == ["baseline", "idle", "chord", "flood"]

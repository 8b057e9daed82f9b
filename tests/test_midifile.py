"""MIDI files <-> notes: what is read, what is dropped and counted, and bad files."""

from __future__ import annotations

import struct
import subprocess
import sys

import mido
import pytest

from livegen.core import tokens as tk
from livegen.core.tokens import Note
from livegen.errors import DataError
from livegen.io.midifile import read_midi, read_notes, write_notes


def smf(tracks: list[bytes], ppq: int = 96, fmt: int = 1) -> bytes:
    """A standard MIDI file from raw track bodies (so running status is ours to write)."""
    out = b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), ppq)
    for body in tracks:
        out += b"MTrk" + struct.pack(">I", len(body)) + body
    return out


EOT = b"\x00\xff\x2f\x00"


def test_write_then_read_round_trips_notes_velocities_and_tempos(tmp_path):
    notes = [Note(0, 1, 60, 100), Note(0.5, 1.5, 64, 64), Note(1, 2, 60, 30), Note(7 / 3, 3, 67, 127)]
    path = tmp_path / "a.mid"
    write_notes(path, notes, tempos=[(0, 100), (2, 140)])
    content = read_midi(path)
    assert content.notes == notes
    assert content.tempos == [(0.0, 100.0), (2.0, 140.0)]


def test_a_file_on_the_grid_comes_back_through_tokens(tmp_path):
    notes = [Note(i / 2, i / 2 + 0.25, 48 + (i * 7) % 24, 20 + (i * 13) % 100) for i in range(40)]
    notes += [Note(4 + i / 3, 4 + (i + 1) / 3, 80, 90) for i in range(6)]
    path, back_path = tmp_path / "in.mid", tmp_path / "back.mid"
    write_notes(path, notes, ticks_per_beat=480)
    read, _ = read_notes(path)
    write_notes(back_path, tk.decode_tokens(tk.encode_notes(read)), ticks_per_beat=480)
    back, stats = read_notes(back_path)
    key = lambda n: (round(n.start * 24), round(n.end * 24), n.pitch)
    assert sorted(map(key, back)) == sorted(map(key, notes))
    assert sorted((key(n), n.velocity) for n in back) == sorted((key(n), tk.quantize_velocity(n.velocity)) for n in notes)
    assert stats.dropped() == 0


def test_running_status_and_zero_velocity_note_ons(tmp_path):
    body = (b"\x00\x90\x3c\x64"  # note-on C4
            b"\x00\x40\x50"  # running status: note-on E4
            b"\x60\x3c\x00"  # running status, velocity 0: C4 off after 96 ticks
            b"\x30\x40\x00"  # E4 off after 48 more
            b"\x00\x80\x43\x00"  # note-off of a silent pitch: orphan
            + EOT)
    path = tmp_path / "rs.mid"
    path.write_bytes(smf([body]))
    content = read_midi(path)
    assert [(n.start, n.end, n.pitch, n.velocity) for n in content.notes] == [(0.0, 1.0, 60, 100), (0.0, 1.5, 64, 80)]
    assert content.stats.orphan_note_offs == 1


def test_tracks_channels_tempo_changes_sysex_meta_and_drums(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=960),  # at beat 2
    ])
    a = mido.MidiTrack([
        mido.Message("sysex", data=[1, 2, 3], time=0),
        mido.Message("program_change", program=5, channel=0, time=0),
        mido.Message("note_on", note=60, velocity=90, channel=0, time=0),
        mido.Message("control_change", control=64, value=127, channel=0, time=240),
        mido.Message("note_off", note=60, velocity=0, channel=0, time=1680),  # beat 4, after the tempo change
    ])
    b = mido.MidiTrack([
        mido.Message("note_on", note=62, velocity=70, channel=3, time=480),
        mido.Message("note_on", note=36, velocity=100, channel=9, time=0),  # drums
        mido.Message("note_off", note=36, channel=9, time=120),
        mido.Message("note_on", note=62, velocity=0, channel=3, time=360),
        mido.Message("note_on", note=62, velocity=60, channel=3, time=0),
        mido.Message("note_on", note=62, velocity=50, channel=3, time=240),  # overlap of one pitch: retrigger
        mido.Message("note_off", note=62, channel=3, time=240),
    ])
    mid.tracks += [conductor, a, b]
    path = tmp_path / "multi.mid"
    mid.save(path)
    content = read_midi(path)
    assert [(n.start, n.end, n.pitch, n.velocity) for n in content.notes] == [
        (0.0, 4.0, 60, 90), (1.0, 2.0, 62, 70), (2.0, 2.5, 62, 60), (2.5, 3.0, 62, 50)]
    assert [b for b, _ in content.tempos] == [0.0, 2.0]
    assert [round(t) for _, t in content.tempos] == [90, 150]
    s = content.stats
    assert s.notes_retriggered == 1
    assert s.extra["drum_notes"] == 1 and s.extra["sysex"] == 1 and s.extra["control_change"] == 1
    assert s.extra["program_change"] == 1 and s.extra["meta"] >= 1
    with_drums = read_midi(path, drums=True)
    assert 36 in [n.pitch for n in with_drums.notes]


def test_a_note_never_switched_off_is_closed_at_the_end_and_counted(tmp_path):
    body = b"\x00\x90\x3c\x64" + b"\x83\x00\x90\x3e\x64" + b"\x60\x80\x3e\x00" + EOT  # C4 never ends
    path = tmp_path / "open.mid"
    path.write_bytes(smf([body]))
    content = read_midi(path)
    assert [(n.start, n.end, n.pitch) for n in content.notes] == [(0.0, 5.0, 60), (4.0, 5.0, 62)]
    assert content.stats.notes_unterminated == 1


@pytest.mark.parametrize("name, data, says", [
    ("garbage.mid", b"this is not a MIDI file at all" * 5, "not a readable MIDI file"),
    ("empty.mid", b"", "not a readable MIDI file"),
    ("truncated.mid", smf([b"\x00\x90\x3c\x64\x60\x80\x3c\x00" + EOT])[:-6], "truncated"),
    ("bad-data-byte.mid", smf([b"\x00\x90\x3c\xff" + EOT]), "not a readable MIDI file"),
    ("smpte.mid", smf([EOT])[:12] + struct.pack(">h", -(25 << 8) | 40) + smf([EOT])[14:], "SMPTE"),
])
def test_bad_files_raise_data_error_naming_the_file(tmp_path, name, data, says):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as err:
        read_midi(path)
    assert name in str(err.value) and says in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_midi(tmp_path / "nope.mid")


def test_the_cli_reports_a_bad_file_in_one_line_without_a_traceback(tmp_path):
    bad = tmp_path / "garbage.mid"
    bad.write_bytes(b"\x00\x01garbage")
    proc = subprocess.run([sys.executable, "-m", "livegen", "sample", "lstm", str(bad), str(tmp_path / "o.mid")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("livegen: error: ") and "garbage.mid" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unison_doublings_written_and_read_back_are_one_note(tmp_path):
    path = tmp_path / "unison.mid"
    write_notes(path, [Note(0, 1, 65, 80), Note(0, 2, 65, 80), Note(0, 1, 60, 80)])
    content = read_midi(path)
    assert [(n.start, n.end, n.pitch) for n in content.notes] == [(0.0, 1.0, 60), (0.0, 1.0, 65)]
    assert content.stats.notes_merged == 1 and content.stats.orphan_note_offs == 0

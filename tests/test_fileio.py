import pytest

from livegen import fileio


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]
    fileio.write_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_an_interrupted_midi_write_leaves_the_old_file(tmp_path, monkeypatch):
    import mido

    from livegen.core.tokens import Note
    from livegen.io.midifile import read_notes, write_notes

    target = tmp_path / "take.mid"
    write_notes(target, [Note(0.0, 1.0, 60, 100)])
    before = target.read_bytes()

    def half_then_fail(self, filename=None, file=None):
        with open(filename, "wb") as fh:
            fh.write(b"MThd\x00")
        raise KeyboardInterrupt

    monkeypatch.setattr(mido.MidiFile, "save", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_notes(target, [Note(0.0, 2.0, 62, 90)])
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["take.mid"]
    assert [n.pitch for n in read_notes(target)[0]] == [60]


def test_presets_round_trip_and_refuse_mixed_lengths(tmp_path):
    from livegen.engine.timbre import load_presets, save_presets
    from livegen.errors import ModelFileError

    path = tmp_path / "presets.json"
    save_presets(path, {"a": [0.5, -1.0, 2.0], "b": [1, 2, 3]})
    got = load_presets(path, None)
    assert list(got) == ["a", "b"] and got["a"].tolist() == [0.5, -1.0, 2.0]
    assert load_presets(path, 3)["b"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ModelFileError, match="list of 4 finite numbers"):
        load_presets(path, 4)
    path.write_text('{"a": [1, 2], "b": [1, 2, 3]}')
    with pytest.raises(ModelFileError, match=r"presets.json: preset 'b' must be a list of 2 finite"):
        load_presets(path, None)
    path.write_text("{}")
    assert load_presets(path, 16, allow_empty=True) == {}
    with pytest.raises(ModelFileError, match="name -> list of 16 numbers"):
        load_presets(path, 16)
    with pytest.raises(ModelFileError, match="no presets file"):
        load_presets(tmp_path / "missing.json", 16)

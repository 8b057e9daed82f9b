"""A tiny timbre model, committed (tests/data/timbre-tiny, about 50 KB): the synth's, render's
and the live synth's tests play it without torch.

It is ``export.timbre`` of ``make(SIZES["tiny"], seed=3)`` (tests/test_export_timbre.py) with
three presets. ``tests/test_synth.py`` checks, where torch is installed, that a fresh export
plays the same; after a change of the export's format, write it again:

    python -m tests.timbre_fixture
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "data" / "timbre-tiny"
SEED = 3
PRESETS = {"soft": [0.0] * 4, "bright": [0.8] * 4, "dark": [-0.8] * 4}


def export_fresh(out: Path) -> Path:
    """Export the fixture's model into ``out`` (needs torch: the [train] extra)."""
    from export import timbre as export_timbre
    from tests.test_export_timbre import SIZES, make

    out.mkdir(parents=True, exist_ok=True)
    export_timbre.export(make(SIZES["tiny"], seed=SEED), out)
    (out / "presets.json").write_text(json.dumps(PRESETS))
    return out


def copy_to(out: Path, presets: dict | None = None) -> Path:
    """A copy of the committed fixture in ``out`` (a test may give it presets of its own)."""
    shutil.copytree(FOLDER, out, dirs_exist_ok=True)
    if presets is not None:
        (out / "presets.json").write_text(json.dumps(presets))
    return out


if __name__ == "__main__":
    shutil.rmtree(FOLDER, ignore_errors=True)
    export_fresh(FOLDER)
    print(f"wrote {FOLDER}: {sorted(p.name for p in FOLDER.iterdir())}")

"""Notes of real music for the phrase model: the music21 corpus and MIDI folders.

A *piece* is one score (an abc or kern file may hold many). Its notes are four
parallel arrays in beats (a beat is a quarter note, as in MIDI's ticks per
beat): ``start``, ``end`` (float64), ``pitch``, ``velocity`` (int16). Pieces are
parsed once and cached as one ``.npz`` under the cache directory; the
vocabulary is applied later, so changing it does not mean reparsing.

music21 is imported inside functions only: importing it costs seconds.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livegen import fileio
from livegen.errors import DataError

#: Bump when the extraction changes, so old caches are rebuilt, not reused.
CACHE_VERSION = 2  # 2: abc files parsed tune by tune; essenFolksong by default
#: Corpus file kinds that hold notes (rntxt files are harmonic analyses).
CORPUS_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")
#: Velocity given to notes whose score carries no dynamics.
DEFAULT_VELOCITY = 80


@dataclass
class PieceNotes:
    """Notes of one piece, in beats; arrays share one length."""

    name: str
    start: np.ndarray  # (N,) float64 beats
    end: np.ndarray  # (N,) float64 beats
    pitch: np.ndarray  # (N,) int16 MIDI pitch 0..127
    velocity: np.ndarray  # (N,) int16 1..127


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/livegen`` or ``~/.cache/livegen``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "livegen"


def is_held_out(name: str, held_out_percent: int = 10) -> bool:
    """Fixed split by piece: a stable hash of the piece's name, never random."""
    return zlib.crc32(name.encode("utf-8")) % 100 < held_out_percent


# -- music21 -----------------------------------------------------------------


#: Collections (top-level folders of the music21 corpus) used by default:
#: chorales and polyphony (bach, palestrina, monteverdi, ...) beside one-line
#: folk tunes (essenFolksong, oneills1850, ryansMammoth, airdsAirs, miscFolk).
#: Left out by default because music21 takes 30-120 s per file to parse them on
#: 2 busy cores: the string quartets (beethoven, haydn, mozart) and trecento
#: (103 large files). ``collections=("all",)`` takes all.
DEFAULT_COLLECTIONS = ("airdsAirs", "bach", "ciconia", "cpebach", "essenFolksong", "handel", "johnson_j_r",
                       "josquin", "luca", "lusitano", "miscFolk", "monteverdi", "oneills1850", "palestrina",
                       "ryansMammoth", "schumann_clara", "schumann_robert", "weber")
#: Files of the corpus that are music21's own test material, not music.
SKIPPED_FILES = ("essenFolksong/test0.abc", "essenFolksong/test1.abc", "essenFolksong/testd.abc",
                 "essenFolksong/teste.abc")


def corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def corpus_paths(collections: tuple[str, ...] = DEFAULT_COLLECTIONS) -> list[Path]:
    """Files of the music21 core corpus that hold notes, in the given
    collections (``("all",)`` for every one), sorted."""
    from music21 import corpus

    root = corpus_root()
    paths = (p for p in corpus.getCorePaths()
             if p.suffix in CORPUS_SUFFIXES and p.relative_to(root).as_posix() not in SKIPPED_FILES)
    if "all" not in collections:
        paths = (p for p in paths if p.relative_to(root).parts[0] in collections)
    return sorted(paths)


def _score_notes(score, name: str) -> PieceNotes:
    """Flatten every part of a music21 score into notes (ties joined)."""
    starts, ends, pitches, vels = [], [], [], []
    for note in score.stripTies().flatten().notes:
        ql = float(note.duration.quarterLength)
        if ql <= 0:  # grace notes have no duration of their own
            continue
        t = float(note.offset)  # offset in the flattened score, in beats
        v = note.volume.velocity
        v = DEFAULT_VELOCITY if v is None else int(min(127, max(1, v)))
        for p in note.pitches:
            midi = int(round(p.ps))
            if 0 <= midi <= 127:
                starts.append(t)
                ends.append(t + ql)
                pitches.append(midi)
                vels.append(v)
    order = np.lexsort((np.asarray(pitches), np.asarray(starts)))
    return PieceNotes(
        name,
        np.asarray(starts, np.float64)[order],
        np.asarray(ends, np.float64)[order],
        np.asarray(pitches, np.int16)[order],
        np.asarray(vels, np.int16)[order],
    )


def abc_tunes(text: str) -> list[str]:
    """The tunes of an abc file (each from its ``X:`` line), each after the
    file's header (what comes before the first tune: defaults for all)."""
    parts = re.split(r"(?m)^(?=X:)", text)
    head = parts[0] if parts and not parts[0].startswith("X:") else ""
    return [head + t for t in parts if t.startswith("X:")]


def parse_corpus_file(path: Path, root: Path, skipped: list[str] | None = None) -> list[PieceNotes]:
    """All pieces in one corpus file. An abc file is parsed tune by tune (music21
    takes minutes for a large abc opus at once, and one bad tune would lose the
    file); a tune music21 cannot read is named in ``skipped``. Other files may
    hold an Opus: one piece per score."""
    from music21 import converter, corpus

    rel = path.relative_to(root).as_posix()
    if path.suffix == ".abc":
        pieces = []
        for i, tune in enumerate(abc_tunes(path.read_text(encoding="utf-8", errors="replace"))):
            try:
                score = converter.parse(tune, format="abc", forceSource=True)
            except Exception as err:  # music21 raises many kinds on a bad tune; the others still count
                if skipped is not None:
                    skipped.append(f"{rel}#{i}: {type(err).__name__}: {err}"[:200])
                continue
            scores = list(score.scores) if type(score).__name__ == "Opus" else [score]
            pieces += [_score_notes(s, f"music21:{rel}#{i}" + (f".{j}" if j else "")) for j, s in enumerate(scores)]
        return pieces
    obj = corpus.parse(str(path))
    scores = list(obj.scores) if type(obj).__name__ == "Opus" else [obj]
    return [_score_notes(s, f"music21:{rel}#{i}") for i, s in enumerate(scores)]


class _FileTimeout(BaseException):  # not an Exception: a tune's handler must not catch it
    pass


def _on_alarm(signum, frame):
    raise _FileTimeout()


def _parse_one(job: tuple[str, str, int]) -> tuple[str, list[PieceNotes] | str, float, list[str]]:
    """Worker: parse one corpus file within ``timeout`` seconds (SIGALRM); also
    returns the abc tunes of the file that were skipped."""
    import signal
    import warnings

    path, root, timeout = job
    t0 = time.monotonic()
    skipped: list[str] = []
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = [p for p in parse_corpus_file(Path(path), Path(root), skipped) if len(p.pitch)]
    except _FileTimeout:
        got = f"took longer than {timeout} s"
    except Exception as err:  # music21 raises many kinds; one bad file must not stop the build
        got = f"{type(err).__name__}: {err}"[:200]
    finally:
        signal.alarm(0)
    return path, got, time.monotonic() - t0, skipped


def _timeout(path: Path, per_file: int) -> int:
    """An abc file gets ``per_file`` seconds per 200 tunes (essenFolksong's hold up to 720)."""
    if path.suffix != ".abc":
        return per_file
    tunes = len(re.findall(rb"(?m)^X:", path.read_bytes()))
    return per_file * max(1, -(-tunes // 200))


def build_music21(limit: int | None = None, log=sys.stderr, workers: int = 2, file_timeout: int = 120,
                  collections: tuple[str, ...] = DEFAULT_COLLECTIONS,
                  file_cache: Path | None = None) -> list[PieceNotes]:
    """Parse the music21 corpus (the first ``limit`` files if given) in
    ``workers`` processes; a file that fails or takes longer than
    ``file_timeout`` seconds (per 200 tunes of an abc file) is reported and skipped. With ``file_cache``
    each parsed file is kept there, so an interrupted build resumes."""
    import hashlib

    paths = corpus_paths(collections)[:limit]
    root = corpus_root()
    results: dict[str, list[PieceNotes]] = {}
    cached = lambda p: file_cache / (hashlib.sha1(Path(p).relative_to(root).as_posix().encode()).hexdigest()[:20] + ".npz")
    if file_cache is not None:
        file_cache.mkdir(parents=True, exist_ok=True)
        for p in paths:
            if cached(p).exists():
                results[str(p)] = load_pieces(cached(p))
    jobs = [(str(p), str(root), _timeout(p, file_timeout)) for p in paths if str(p) not in results]
    print(f"music21 corpus: {len(paths)} files, {len(paths) - len(jobs)} parsed before", file=log, flush=True)
    failed = 0
    t0 = time.monotonic()
    if workers > 1:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(workers)
        it = pool.imap_unordered(_parse_one, jobs)
    else:
        pool, it = None, map(_parse_one, jobs)
    try:
        for i, (path, got, dt, tunes_skipped) in enumerate(it):
            for why in tunes_skipped:
                print(f"skipped tune {why}", file=log, flush=True)
            if isinstance(got, str):
                failed += 1
                print(f"skipped {path}: {got}", file=log, flush=True)
            else:
                results[path] = got
                if file_cache is not None:
                    save_pieces(cached(path), got)
            if dt > 20:
                print(f"slow: {path} took {dt:.0f} s", file=log, flush=True)
            if (i + 1) % 100 == 0:
                print(f"music21 corpus: {i + 1}/{len(paths)} files, {time.monotonic() - t0:.0f} s",
                      file=log, flush=True)
    finally:
        if pool is not None:
            pool.close()
    pieces = [p for path in paths if str(path) in results for p in results[str(path)]]  # corpus order
    print(f"music21 corpus: {len(pieces)} pieces from {len(paths)} files, {failed} files skipped, "
          f"{time.monotonic() - t0:.0f} s", file=log, flush=True)
    return pieces


# -- MIDI folders --------------------------------------------------------------


def build_midi_dir(midi_dir: Path, log=sys.stderr) -> list[PieceNotes]:
    """Every ``.mid``/``.midi`` file under ``midi_dir``; unreadable files are reported and skipped."""
    from livegen.io.midifile import read_notes

    midi_dir = Path(midi_dir)
    if not midi_dir.is_dir():
        raise DataError(f"--midi-dir {midi_dir}: not a directory")
    paths = sorted(p for p in midi_dir.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not paths:
        raise DataError(f"--midi-dir {midi_dir}: no .mid or .midi files found")
    pieces = []
    for path in paths:
        try:
            notes, _stats = read_notes(path)
        except DataError as err:
            print(f"skipped: {err}", file=log)
            continue
        if not notes:
            continue
        pieces.append(PieceNotes(
            f"midi:{path.relative_to(midi_dir).as_posix()}",
            np.array([n.start for n in notes], np.float64),
            np.array([n.end for n in notes], np.float64),
            np.array([n.pitch for n in notes], np.int16),
            np.array([n.velocity for n in notes], np.int16),
        ))
    if not pieces:
        raise DataError(f"--midi-dir {midi_dir}: none of {len(paths)} MIDI files held notes")
    return pieces


# -- cache ---------------------------------------------------------------------


def save_pieces(path: Path, pieces: list[PieceNotes]) -> None:
    """Write pieces as one npz (atomically: a half-written cache is never read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(p.pitch) for p in pieces], np.int64)
    with fileio.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            names=np.array(json.dumps([p.name for p in pieces])),
            lengths=lengths,
            start=np.concatenate([p.start for p in pieces]) if pieces else np.zeros(0),
            end=np.concatenate([p.end for p in pieces]) if pieces else np.zeros(0),
            pitch=np.concatenate([p.pitch for p in pieces]) if pieces else np.zeros(0, np.int16),
            velocity=np.concatenate([p.velocity for p in pieces]) if pieces else np.zeros(0, np.int16),
        )


def load_pieces(path: Path) -> list[PieceNotes]:
    try:
        with np.load(path) as z:
            names = json.loads(str(z["names"]))
            bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
            arrays = {k: z[k] for k in ("start", "end", "pitch", "velocity")}
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: not a livegen note cache ({err}); delete it to rebuild") from err
    return [
        PieceNotes(name, *(arrays[k][a:b] for k in ("start", "end", "pitch", "velocity")))
        for name, a, b in zip(names, bounds[:-1], bounds[1:])
    ]


def music21_cache_path(cache_dir: Path | None = None, limit: int | None = None,
                       collections: tuple[str, ...] = DEFAULT_COLLECTIONS) -> Path:
    import music21

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    which = "all" if "all" in collections else zlib.crc32(",".join(sorted(collections)).encode()) & 0xFFFFFF
    tag = f"music21-{music21.__version__}-v{CACHE_VERSION}-{which}" + (f"-first{limit}" if limit else "")
    return cache_dir / "lstm-data" / f"{tag}.npz"


def music21_pieces(cache_dir: Path | None = None, limit: int | None = None, log=sys.stderr,
                   collections: tuple[str, ...] = DEFAULT_COLLECTIONS) -> list[PieceNotes]:
    """The music21 corpus's pieces, from the cache if built before."""
    import music21

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    path = music21_cache_path(cache_dir, limit, collections)
    if path.exists():
        return load_pieces(path)
    file_cache = cache_dir / "lstm-data" / f"music21-{music21.__version__}-v{CACHE_VERSION}-files"
    pieces = build_music21(limit, log=log, collections=collections, file_cache=file_cache)
    save_pieces(path, pieces)
    print(f"cached {len(pieces)} pieces in {path}", file=log)
    return pieces


if __name__ == "__main__":  # python -m livegen.train.lstm.corpus [CACHE_DIR [COLLECTIONS]]: build the cache
    music21_pieces(Path(sys.argv[1]) if len(sys.argv) > 1 else None,
                   collections=tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else DEFAULT_COLLECTIONS)

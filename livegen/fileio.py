"""Writing files so that a crash or Ctrl-C never leaves a half-written one.

Everything is written to a temporary file in the same folder and moved over the target
with ``os.replace`` (atomic on POSIX and Windows): a reader sees the old file or the new
one, never a part.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from livegen.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; when the block ends without an exception,
    the temporary file replaces ``path``, otherwise it is removed."""
    path = Path(path)
    check_output(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path}: cannot write it ({err.strerror or err})") from err
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); give it what the old file had, else rw-r--r--
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        try:
            os.replace(tmp, path)
        except OSError as err:  # made a folder meanwhile
            raise OutputError(f"{path}: cannot write it ({err.strerror or err})") from err
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_output(path: str | os.PathLike) -> Path:
    """Raises :class:`OutputError` unless a file can be written at ``path``: its folder exists
    and takes new files, and ``path`` is not a folder. Commands call it on their output paths
    before the work starts, so a typo costs no render."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give the path of a file to write (such as "
                          f"{path / ('out' + (path.suffix or '.wav'))})")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{path}: cannot write it: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise OutputError(f"{path}: cannot write it: the folder {folder} does not exist (create it first)")
    _probe(folder, path)
    return path


def output_folder(path: str | os.PathLike) -> Path:
    """Makes the folder ``path`` (and its parents) that a command writes into, before its work,
    or raises :class:`OutputError`: a file is in the way, or the folder takes no new files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file; give a folder to write into")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{path}: cannot make that folder ({err.strerror or err}); "
                          f"choose a folder you can write to") from err
    _probe(path, path)
    return path


def _probe(folder: Path, path: Path) -> None:
    """A real write into ``folder``, as the command's own will be (permissions, ACLs, a
    read-only mount); ``path`` is what the message names."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".livegen-", suffix=".probe", dir=folder)
    except OSError as err:
        raise OutputError(f"{path}: cannot write into the folder {folder} ({err.strerror or err}); "
                          f"choose a folder you can write to") from err
    os.close(fd)
    os.unlink(probe)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Holds an exclusive lock on ``path`` for the block (a lock file beside it, ``.NAME.lock``,
    which stays), so that read-modify-write cycles of one file by several processes take
    turns. Blocks until the lock is free."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a+b") as f:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

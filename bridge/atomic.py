"""Atomic file writes: a crash mid-write leaves the old file whole.

The data goes to a temporary file in the same directory (so the final rename stays on
one file system), is flushed and fsynced, then renamed over the target with
``os.replace``; the directory is fsynced too so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomically", "atomic_writer"]


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary stream whose contents replace ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                     dir=target.parent)
    try:
        os.chmod(temporary, _mode_for(target))
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)


def _mode_for(target: Path) -> int:
    """Keep an existing file's mode; a new file gets the usual 0666 less the umask
    (mkstemp would leave it 0600)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not every platform opens directories
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: str | os.PathLike, data: bytes | str | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, text as UTF-8, or chunks of bytes) to ``path`` atomically."""
    with atomic_writer(path) as stream:
        if isinstance(data, str):
            stream.write(data.encode("utf-8"))
        elif isinstance(data, bytes | bytearray | memoryview):
            stream.write(data)
        else:
            for chunk in data:
                stream.write(chunk)

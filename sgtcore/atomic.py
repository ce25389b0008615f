"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Everything the toolkit writes (models, latents, projections, aligned faces, checkpoints) goes
through these two context managers, so an interrupt or a full disk never leaves half a file.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it is renamed to `final` (replacing it).

    The temporary name keeps `final`'s suffix, so writers that choose a format by suffix still work.
    On an exception the temporary file is removed and `final` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=final.suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        tmp.chmod(mode)  # mkstemp creates 0600; outputs are ordinary shareable files
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `final`; on success it replaces `final` whole.

    An older `final` is moved aside first and deleted only after the new one is in place. On an
    exception nothing is left behind and `final` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp"))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes 0700; results are ordinary shareable folders
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

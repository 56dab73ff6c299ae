"""Small file helpers shared by the storage modules."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, fsync: bool = False, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` all at once: write ``<path>.tmp`` (fsynced when ``fsync``),
    then rename it over ``path`` (and fsync the directory when ``sync_dir``, so the rename itself
    survives a power loss).  On failure the temporary file is removed (so a full disk does not
    keep a half-written one) and the OSError propagates; ``path`` is left as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if sync_dir:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise

"""``.prov/checkpoint``, the witness: the newest signed checkpoint, kept outside the database.

A database rolled back (an old ``registry.db`` copied over the live one, a restored backup)
or truncated behind prov's back no longer extends the witness: appends refuse to write on it
(the new entries would overwrite the evidence), and ``prov verify`` reports it. The file is
read with care: it must be a small regular file, so a symlink to ``/dev/zero`` or a FIFO makes
an error, not a hang.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from provenance.checkpoint import Checkpoint, SignedNote
from provenance.errors import ProvenanceError
from registry.errors import StorageError

__all__ = [
    "MAX_NOTE",
    "WitnessError",
    "read_note",
    "read_witness",
    "witnessed",
    "write_witness",
]

#: The file's name in ``.prov``.
NAME = "checkpoint"
#: A signed note is a few hundred bytes; anything past this is not one.
MAX_NOTE = 64 << 10

_lock = threading.Lock()  # the HTTP API appends from several threads


class WitnessError(StorageError):
    """The witness cannot be read as prov's checkpoint (exit 5)."""


def read_witness(prov_dir: Path) -> str | None:
    """The witness note's text; None when there is none.

    Raises:
        WitnessError: not a regular file (a symlink, a FIFO, a device), too large, unreadable.
    """
    try:
        return read_note(prov_dir / NAME, "the witness", follow=False)
    except FileNotFoundError:
        return None


def read_note(path: Path, what: str, follow: bool = True) -> str:
    """A signed note's text from a small regular file (``follow``: through a symlink).

    Raises:
        FileNotFoundError: there is no such file.
        WitnessError: not a regular file (a FIFO, a device), too large, unreadable.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise WitnessError(f"{what} {path} cannot be opened: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WitnessError(f"{what} {path} is not a regular file")
        data = os.read(fd, MAX_NOTE + 1)
    except OSError as e:
        raise WitnessError(f"{what} {path} cannot be read: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_NOTE:
        raise WitnessError(f"{what} {path} is larger than any checkpoint")
    return data.decode("utf-8", errors="replace")


def witnessed(prov_dir: Path) -> Checkpoint | None:
    """The checkpoint the witness holds (its signature is checked by ``prov verify``).

    Raises:
        WitnessError: unreadable, or not a checkpoint.
    """
    text = read_witness(prov_dir)
    if text is None:
        return None
    try:
        return SignedNote.parse(text).checkpoint
    except ProvenanceError as e:
        raise WitnessError(f"the witness {prov_dir / NAME} is not a checkpoint: {e}") from None


def write_witness(prov_dir: Path, size: int, note: str) -> None:
    """Replace the witness with ``note`` (of a tree of ``size``) unless it already holds a tree
    as large: atomic (a rename), so a crash leaves the old note or the new one.

    Raises:
        OSError: the new note could not be written (the old one stays).
    """
    path = prov_dir / NAME
    with _lock:
        try:
            old = witnessed(prov_dir)
        except WitnessError:
            old = None
        if old is not None and size <= old.size:
            return
        tmp = path.with_name(f"{NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(note)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

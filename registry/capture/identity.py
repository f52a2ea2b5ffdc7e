"""Who is acting: the ``user@host`` that goes into ``created_by`` of what this machine signs."""

from __future__ import annotations

import getpass
import os
import socket

__all__ = ["who"]


def who() -> str:
    """``user@host`` of this process (the numeric uid when the user has no name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"

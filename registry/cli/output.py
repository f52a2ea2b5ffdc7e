"""What commands print: JSON on stdout, rich tables and text, progress bars on stderr."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def console() -> Console:
    from rich.console import Console

    # Piped output is not cut to 80 columns: ids and digests must survive intact.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)


class DelayedProgress:
    """A byte-count progress callback that shows a rich bar on stderr after one second."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label, self.total = label, total
        self.start = time.monotonic()
        self.done = 0
        self._bar: Progress | None = None
        self._task: Any = None
        self._enabled = sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        if not self._enabled:
            return
        if self._bar is None:
            if time.monotonic() - self.start < 1.0:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        self._bar.update(self._task, completed=self.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

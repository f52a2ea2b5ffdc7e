"""Capturing where a run happens: the git commit, the environment, and runs themselves.

Functions take the open :class:`~registry.service.Registry` first; the registry exposes them
as methods.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from registry.capture import environment as env_capture
from registry.capture import git as git_capture
from registry.results import Registered
from registry.runs import Run
from registry.service.register import register_once

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["code", "environment", "run"]


def code(reg: Registry, repo: str | os.PathLike[str] = ".") -> Registered:
    """:meth:`Registry.code <registry.service.Registry.code>`."""
    return register_once(reg, "code", *git_capture.capture_code(repo))


def environment(
    reg: Registry, project: str | os.PathLike[str] | None = None, python: str | None = None
) -> Registered:
    """:meth:`Registry.environment <registry.service.Registry.environment>`."""
    where = git_capture.project_of(project)
    return register_once(reg, "environment", *env_capture.capture_environment(where, python))


def run(
    reg: Registry,
    name: str,
    params: Mapping[str, Any] | None = None,
    capture_code: bool = True,
    capture_environment: bool = True,
    command: str | None = None,
) -> Run:
    """:meth:`Registry.run <registry.service.Registry.run>`."""
    return Run(reg, name, params, capture_code, capture_environment, command)

"""What ``prov add`` accepts: the artifact kinds, the kind a path suggests, the arguments.

Shared by the local registry and the HTTP client (:mod:`registry.client`), so both check a
``prov add`` the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from provenance.records import ARTIFACT_KINDS, RELATIONS
from registry.errors import InputError
from registry.workspace.hashing import check_addable

__all__ = ["MODEL_SUFFIXES", "add_arguments", "artifact_kind", "guess_kind"]

#: Suffixes of model files (weights, serialized estimators, exported graphs).
MODEL_SUFFIXES = frozenset(
    {".onnx", ".pt", ".pth", ".ckpt", ".safetensors", ".gguf", ".h5", ".keras", ".pb", ".tflite"}
    | {".mlmodel", ".joblib", ".pkl", ".pickle", ".xgb", ".lgb", ".cbm"}
)


def artifact_kind(kind: str) -> str:
    """The kind of a ``prov add``: dataset or model.

    Raises:
        InputError: any other kind.
    """
    if kind not in ARTIFACT_KINDS:
        raise InputError(f"unknown kind {kind!r} for prov add (dataset or model)")
    return kind


def guess_kind(path: str | os.PathLike[str]) -> str:
    """``model`` for a model file (by suffix) or a path with "model" in its last part, else
    ``dataset``: the default kind of a new name in ``prov add``, ``prov run -o``, DVC imports."""
    p = Path(path)
    if p.suffix.lower() in MODEL_SUFFIXES or "model" in p.name.lower():
        return "model"
    return "dataset"


def add_arguments(
    path: str | os.PathLike[str],
    kind: str | None,
    links: Sequence[tuple[str, str]],
    resolve: Callable[[str], str],
) -> tuple[Path, list[dict[str, str]]]:
    """Check ``add``'s arguments (the local and the remote registry's): the path, the kind,
    each link's relation; returns the path and the links with their targets resolved.

    Raises:
        InputError: a missing path, a path inside a ``.prov`` directory, an unknown kind or
            relation.
        NotFoundError: a link target does not exist.
    """
    if kind is not None:
        artifact_kind(kind)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    check_addable(p)
    resolved = []
    for rel, ref in links:
        if rel not in RELATIONS:
            raise InputError(f"unknown link relation {rel!r} (one of {', '.join(RELATIONS)})")
        resolved.append({"rel": rel, "id": resolve(ref)})
    return p, resolved

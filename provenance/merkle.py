"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Pure functions over bytes. Proof *generation* is expressed over a ``range_hash(start, end)``
callback returning MTH(D[start:end]); the persistent log answers it from stored complete-subtree
hashes (:func:`subtree_blocks`), so a proof costs O(log n) reads. Verifiers follow RFC 9162
§2.1.3.2 and §2.1.4.2 to the letter and reject anything else: wrong length, wrong order, extra
or missing hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from provenance.errors import ProofError

__all__ = [
    "consistency_proof",
    "consistency_ranges",
    "fold_blocks",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "subtree_blocks",
    "verify_consistency",
    "verify_inclusion",
]

Hash = bytes
RangeHash = Callable[[int, int], Hash]


def leaf_hash(data: bytes) -> Hash:
    """SHA-256(0x00 || leaf input)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: Hash, right: Hash) -> Hash:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_blocks(start: int, end: int) -> list[tuple[int, int]]:
    """Decompose the range [start, end) into aligned complete subtrees, left to right.

    Returns ``(level, index)`` pairs: the subtree of ``2**level`` leaves starting at
    ``index * 2**level``. For the ranges that appear in RFC 9162 trees and proofs, MTH of the
    range is :func:`fold_blocks` of these subtrees' hashes.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    blocks = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        blocks.append((level, start >> level))
        start += 1 << level
    return blocks


def fold_blocks(hashes: Sequence[Hash]) -> Hash:
    """Combine subtree hashes, left to right, into MTH: ``H(b0, H(b1, H(b2, ...)))``."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_from_leaves(leaves: Sequence[Hash]) -> Hash:
    """MTH of leaf hashes, computed level by level (O(n), no recursion)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    # Reduce complete pairs level by level; an odd node at the end rises unchanged. This equals
    # RFC 6962's split-at-the-largest-power-of-two definition.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form the inclusion proof of leaf ``index`` (RFC 9162 PATH)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form the consistency proof (RFC 9162 SUBPROOF)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    out: list[tuple[int, int]] = []
    if old_size == new_size:
        return out
    m, start, end, complete = old_size, 0, new_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append((start, end))
            break
        k = _split(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
            m -= k
            complete = False
    out.reverse()
    return out


def inclusion_proof(index: int, size: int, range_hash: RangeHash) -> list[Hash]:
    """Inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return [range_hash(s, e) for s, e in inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, range_hash: RangeHash) -> list[Hash]:
    """Consistency proof between tree sizes ``old_size`` and ``new_size``."""
    return [range_hash(s, e) for s, e in consistency_ranges(old_size, new_size)]


def _check_hash(h: object, what: str) -> Hash:
    if not isinstance(h, bytes) or len(h) != 32:
        raise ProofError(f"{what} must be 32 bytes")
    return h


def verify_inclusion(leaf: Hash, index: int, size: int, proof: Sequence[Hash], root: Hash) -> None:
    """Verify an inclusion proof (RFC 9162 §2.1.3.2).

    Raises:
        ProofError: with what was expected and what was computed.
    """
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
        if sn == 0:
            raise ProofError(f"inclusion proof is too long: {len(proof)} hashes")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof is too short: {len(proof)} hashes")
    if r != root:
        raise ProofError(
            f"inclusion proof does not verify: expected root {root.hex()}, computed {r.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: Hash, new_root: Hash, proof: Sequence[Hash]
) -> None:
    """Verify a consistency proof (RFC 9162 §2.1.4.2).

    Raises:
        ProofError: with what was expected and what was computed.
    """
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof is too long: {len(proof)} hashes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof is too short: {len(proof)} hashes")
    if fr != old_root:
        raise ProofError(
            f"consistency proof does not reach the old root: expected {old_root.hex()}, "
            f"computed {fr.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof does not reach the new root: expected {new_root.hex()}, "
            f"computed {sr.hex()}"
        )
